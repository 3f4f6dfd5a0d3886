"""The calibration ladder's degradations (a leaf module: lossbench.score.evaluate and the blur measure
both read it, and neither imports the other)."""

from __future__ import annotations

import torch


def degrade(x: torch.Tensor, kind: str, amount: float, seed: int = 0) -> torch.Tensor:
    """One rung of the calibration ladder applied to images in [0, 1]."""
    if kind == "blur":
        return gaussian_blur(x, amount)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype)
    return (x + amount * noise).clamp(0, 1)


def rung_name(kind: str, amount: float) -> str:
    return f"{kind} {amount:g}"


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """torchvision's ``gaussian_blur`` (kernel of 2⌈3σ⌉ + 1 taps, reflected border), as two 1-d
    passes instead of one 2-d kernel. Written here because torchvision convolves with the full 2-d
    kernel: in float64 (the blur measure's scale) that took 0.9 s per rung of 1,000 digits and 30 s
    of every report; the separable form is the same sum regrouped (equal to 1e-12, tested)."""
    import torch.nn.functional as F

    half = int(torch.ceil(torch.tensor(3 * sigma)))
    taps = torch.linspace(-half, half, 2 * half + 1, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (taps / sigma).square())
    kernel = kernel / kernel.sum()
    shape = x.shape
    flat = x.reshape(-1, 1, *shape[-2:])
    flat = F.pad(flat, [half, half, half, half], mode="reflect")
    flat = F.conv2d(flat, kernel.view(1, 1, 1, -1))
    flat = F.conv2d(flat, kernel.view(1, 1, -1, 1))
    return flat.reshape(shape)
