"""Procedural grey shapes: a dataset that needs no file and no download, for tests."""

from __future__ import annotations

import numpy as np

SHAPES = ("square", "disc", "cross", "ring")


def shapes(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (uint8 N×size×size×1) of one white shape each on black, and its class."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    images = np.zeros((n, size, size, 1), dtype=np.uint8)
    labels = rng.integers(0, len(SHAPES), size=n)
    for i, label in enumerate(labels):
        r = rng.uniform(0.18, 0.32) * size
        cy, cx = rng.uniform(r + 1, size - r - 1, size=2)
        dy, dx = np.abs(yy - cy), np.abs(xx - cx)
        dist = np.hypot(yy - cy, xx - cx)
        if SHAPES[label] == "square":
            mask = (dy <= r * 0.8) & (dx <= r * 0.8)
        elif SHAPES[label] == "disc":
            mask = dist <= r
        elif SHAPES[label] == "cross":
            arm = max(1.0, r * 0.25)
            mask = ((dy <= arm) & (dx <= r)) | ((dx <= arm) & (dy <= r))
        else:
            mask = (dist <= r) & (dist >= r * 0.55)
        images[i, ..., 0] = np.where(mask, 255, 0)
    return images, labels.astype(np.int64)
