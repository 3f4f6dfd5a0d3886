"""The SSIM window and the MS-SSIM scale arithmetic, without torch: the loss-term schemas and
the metric registry check image sizes with these at validation."""

from __future__ import annotations

KERNEL_SIZE = 11
SIGMA = 1.5

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

MS_SSIM_MIN_SIDE = 176  # torchmetrics' own limit for the five standard scales


def ms_ssim_scales(side: int) -> int:
    """How many scales torchmetrics' MS-SSIM accepts for a side (its own size check:
    side // max(1, scales - 1)² must exceed kernel_size - 1, and side >= 2^scales)."""
    for scales in range(len(MS_SSIM_WEIGHTS), 1, -1):
        if side // max(1, scales - 1) ** 2 > KERNEL_SIZE - 1 and side >= 2**scales:
            return scales
    return 0


def ms_ssim_label(side: int) -> str:
    scales = ms_ssim_scales(side)
    return f"REDUCED-SCALE MS-SSIM: {scales} of 5 scales at {side} px, weights renormalised; not comparable with standard MS-SSIM"
