"""Image-quality metrics and their registry.

The public functions take N×C×H×W tensors in [0, 1] and return one value per image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from lossbench.metrics.pixel import l1, mse, psnr
from lossbench.metrics.ssim import ssim


@dataclass(frozen=True)
class MetricEntry:
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    higher_is_better: bool
    description: str
    kind: str = "paired"  # compares each reconstruction with its own input


METRICS: dict[str, MetricEntry] = {
    "mse": MetricEntry(mse, False, "mean squared error per image, pixels in [0, 1]"),
    "l1": MetricEntry(l1, False, "mean absolute error per image, pixels in [0, 1]"),
    "psnr": MetricEntry(psnr, True, "mean of per-image PSNR in dB, data range 1"),
    "ssim": MetricEntry(ssim, True, "SSIM, Gaussian 11x11 sigma 1.5, valid region (scikit-image convention)"),
}

__all__ = ["METRICS", "l1", "mse", "psnr", "ssim"]
