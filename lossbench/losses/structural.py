"""Structural terms. Unlike the pixel terms they are per-image *means* (1 − SSIM lies in [0, 2]),
so their weights live on another scale than a pixel sum's: a study that mixes them says so
with its weights."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lossbench.losses.base import Term
from lossbench.losses.separable_ssim import ms_ssim, ssim
from lossbench.losses.specs import MixSpec  # noqa: F401
from lossbench.metrics.structural import KERNEL_SIZE, MS_SSIM_WEIGHTS, ms_ssim_scales
from lossbench.metrics.windows import MS_SSIM_MIN_SIDE  # noqa: F401


class SSIMLoss(Term):
    """1 − SSIM per image (Gaussian 11×11, σ = 1.5, valid region): the metric's value
    (lossbench.metrics.structural) by separable convolutions (lossbench.losses.separable_ssim)."""

    def values(self, out, x):
        return 1.0 - ssim(out["x_hat"], x)


class MSSSIMLoss(Term):
    """1 − MS-SSIM per image (five scales; images of at least 176 px per side), as torchmetrics
    computes it, by separable convolutions (lossbench.losses.separable_ssim)."""

    def values(self, out, x):
        side = min(x.shape[-2:])
        if ms_ssim_scales(side) < len(MS_SSIM_WEIGHTS):
            raise ValueError(f"ms-ssim needs images of at least {MS_SSIM_MIN_SIDE} px per side for its 5 scales (got {side})")
        return 1.0 - ms_ssim(out["x_hat"], x)


class Mix(Term):
    """Zhao, Gallo, Frosio & Kautz (2017), "Loss functions for image restoration with neural
    networks": α·(1 − MS-SSIM) + (1 − α)·G_σ ⊗ |x̂ − x|, the L1 error weighted by a Gaussian
    window and averaged over the valid region, per image. On images too small for MS-SSIM the
    structural part is SSIM, and the resolved label (``mix(ssim)``) says so."""

    def values(self, out, x):
        x_hat = out["x_hat"]
        kind = self.spec.structural
        if kind == "auto":
            kind = "ms-ssim" if ms_ssim_scales(min(x.shape[-2:])) == len(MS_SSIM_WEIGHTS) else "ssim"
        structural = 1.0 - (ms_ssim(x_hat, x) if kind == "ms-ssim" else ssim(x_hat, x))
        return self.spec.alpha * structural + (1 - self.spec.alpha) * gaussian_weighted_l1(x_hat, x, self.spec.sigma)


def gaussian_weighted_l1(x_hat: torch.Tensor, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Per image: the mean over the valid region of |x̂ − x| filtered by a normalised Gaussian
    window (side KERNEL_SIZE), channels averaged."""
    coords = torch.arange(KERNEL_SIZE, dtype=torch.float32, device=x.device) - (KERNEL_SIZE - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = (g / g.sum())
    window = (g[:, None] * g[None, :]).expand(x.shape[1], 1, KERNEL_SIZE, KERNEL_SIZE)
    weighted = F.conv2d((x_hat - x).abs().float(), window, groups=x.shape[1])
    return weighted.flatten(1).mean(1)
