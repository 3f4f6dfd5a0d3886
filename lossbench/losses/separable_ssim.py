"""SSIM and MS-SSIM for training: the same numbers as the metrics (lossbench.metrics.structural,
which call torchmetrics), at a fraction of the cost of a backward pass.

Written by hand because torchmetrics' SSIM is built for scoring, not for a loss inside every
step: it reflect-pads both images, runs one 11×11 2-D convolution over five stacked maps and,
for a cropped mean (scikit-image's convention), throws the padded border away again. Here the
Gaussian window is applied as two 1-D passes (1×11, then 11×1: 22 multiplies per pixel instead of
121) over the *valid* region only, which is exactly what the cropped mean keeps. Measured in
benchmarks/README.md; pinned in tests/test_structural.py to torchmetrics and scikit-image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lossbench.metrics.windows import KERNEL_SIZE, MS_SSIM_WEIGHTS, SIGMA

K1, K2 = 0.01, 0.03


def _window(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The normalised 1-D Gaussian (side 11, σ = 1.5) whose outer product is torchmetrics' window."""
    coords = torch.arange(KERNEL_SIZE, dtype=dtype, device=device) - (KERNEL_SIZE - 1) / 2
    g = torch.exp(-(coords**2) / (2 * SIGMA**2))
    return g / g.sum()


def _maps(x: torch.Tensor, y: torch.Tensor, data_range: float, pad: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The SSIM map and the contrast-structure map (cs) of N×C×H×W images, on the valid region,
    or with ``pad`` on the whole image reflect-padded by the window's half side (torchmetrics'
    full map). Variances are clamped at 0, as torchmetrics does."""
    channels = x.shape[1]
    half = (KERNEL_SIZE - 1) // 2
    if pad:
        x, y = (F.pad(t, (half, half, half, half), mode="reflect") for t in (x, y))
    g = _window(x.device, x.dtype)
    stack = torch.cat([x, y, x * x, y * y, x * y], 1)
    n = stack.shape[1]
    rows = F.conv2d(stack, g.view(1, 1, 1, KERNEL_SIZE).expand(n, 1, 1, KERNEL_SIZE), groups=n)
    filtered = F.conv2d(rows, g.view(1, 1, KERNEL_SIZE, 1).expand(n, 1, KERNEL_SIZE, 1), groups=n)
    mx, my, xx, yy, xy = filtered.split(channels, 1)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    mx2, my2, mxy = mx * mx, my * my, mx * my
    vx, vy = torch.clamp(xx - mx2, min=0.0), torch.clamp(yy - my2, min=0.0)
    upper, lower = 2 * (xy - mxy) + c2, vx + vy + c2
    cs = upper / lower
    return ((2 * mxy + c1) / (mx2 + my2 + c1)) * cs, cs


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """SSIM per image, averaged over the valid region and the channels, in float32: the value of
    :func:`lossbench.metrics.structural.ssim` (scikit-image's convention) to float32 round-off."""
    side = min(x.shape[-2:])
    if side <= KERNEL_SIZE - 1:
        raise ValueError(f"ssim needs images larger than {KERNEL_SIZE}x{KERNEL_SIZE} (got {tuple(x.shape[-2:])})")
    ssim_map, _ = _maps(x.float(), y.float(), data_range, pad=False)
    return ssim_map.flatten(1).mean(1)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, scales: int = len(MS_SSIM_WEIGHTS)) -> torch.Tensor:
    """MS-SSIM per image as torchmetrics computes it (``multiscale_structural_similarity_index_measure``,
    ``normalize=None``): at each of the first ``scales - 1`` scales the mean cs of the valid region,
    at the last the mean SSIM of the reflect-padded full map (torchmetrics' choice, kept so that the
    loss equals the metric), then 2×2 average pooling; the product of each raised to its weight
    (the standard five, renormalised when ``scales`` < 5)."""
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], dtype=torch.float64)
    betas = (weights / weights.sum()).tolist()
    x, y = x.float(), y.float()
    value = torch.ones(len(x), dtype=x.dtype, device=x.device)
    for k, beta in enumerate(betas):
        if k == len(betas) - 1:
            ssim_map, _ = _maps(x, y, data_range, pad=True)
            value = value * ssim_map.flatten(1).mean(1) ** beta
        else:
            _, cs = _maps(x, y, data_range, pad=False)
            value = value * cs.flatten(1).mean(1) ** beta
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return value
