"""Pixel metrics: one value per image for N×C×H×W tensors in [0, 1]."""

from __future__ import annotations

import torch


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image."""
    return (x.double() - y.double()).square().flatten(1).mean(1)


def l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per image."""
    return (x.double() - y.double()).abs().flatten(1).mean(1)


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image in dB, 10·log10(range² / MSE); +inf for identical images.
    Studies report the mean of per-image PSNR (not the PSNR of the mean MSE)."""
    return 10.0 * torch.log10(data_range**2 / mse(x, y))
