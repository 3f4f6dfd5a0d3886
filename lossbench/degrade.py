"""The calibration ladder's degradations (a leaf module: lossbench.evaluate and the blur measure
both read it, and neither imports the other)."""

from __future__ import annotations

import torch


def degrade(x: torch.Tensor, kind: str, amount: float, seed: int = 0) -> torch.Tensor:
    """One rung of the calibration ladder applied to images in [0, 1]."""
    if kind == "blur":
        from torchvision.transforms.functional import gaussian_blur

        size = 2 * int(torch.ceil(torch.tensor(3 * amount))) + 1
        return gaussian_blur(x, [size, size], [amount, amount])
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype)
    return (x + amount * noise).clamp(0, 1)


def rung_name(kind: str, amount: float) -> str:
    return f"{kind} {amount:g}"
