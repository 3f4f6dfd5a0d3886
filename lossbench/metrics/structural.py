"""SSIM (Wang, Bovik, Sheikh & Simoncelli 2004) with the scikit-image / MATLAB / piq convention."""

from __future__ import annotations

import torch

from lossbench.metrics.windows import KERNEL_SIZE, MS_SSIM_WEIGHTS, SIGMA, ms_ssim_label, ms_ssim_scales  # noqa: F401


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """SSIM per image: Gaussian window 11×11, σ = 1.5, K1 = 0.01, K2 = 0.03, population
    statistics, averaged over the *valid* region (pixels whose window lies inside the image)
    and over channels.

    torchmetrics computes the SSIM map on a reflect-padded image and averages the whole map,
    border included; on 28×28 digits that is about 0.2 below the scikit-image value (the
    black border region counts). We take torchmetrics' full map and crop the 5-pixel border
    before averaging, which reproduces
    ``skimage.metrics.structural_similarity(a, b, data_range=1, gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False)``. The filtering runs in float32: on MNIST it
    agrees with scikit-image's float64 to about 4e-7 (tested to 1e-5), and float64
    convolutions are about 15x slower on a CPU. The final average is taken in float64.
    """
    # imported here: torchmetrics takes seconds to import (torchvision, matplotlib, scipy), and the
    # study validator, `lossbench list` and every error line import this module's callers
    from torchmetrics.functional.image import structural_similarity_index_measure

    _, full = structural_similarity_index_measure(
        x.float(), y.float(), gaussian_kernel=True, sigma=SIGMA, kernel_size=KERNEL_SIZE,
        data_range=data_range, k1=0.01, k2=0.03, reduction="none", return_full_image=True,
    )
    pad = (KERNEL_SIZE - 1) // 2
    if full.shape[-1] <= 2 * pad or full.shape[-2] <= 2 * pad:
        raise ValueError(f"ssim needs images larger than {KERNEL_SIZE}x{KERNEL_SIZE} (got {tuple(x.shape[-2:])})")
    return full[..., pad:-pad, pad:-pad].double().flatten(1).mean(1)


# MS-SSIM (Wang, Simoncelli & Bovik 2003): five scales with these weights.
def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, reduced: bool = False) -> torch.Tensor:
    """MS-SSIM per image with torchmetrics (Gaussian 11×11, σ = 1.5, the standard five weights).

    Standard MS-SSIM needs at least 176 px per side in torchmetrics' implementation; smaller
    images raise ValueError. ``reduced=True`` uses as many of the first scales as the size
    allows, with their weights renormalised to sum to 1: a different, smaller-scale quantity
    that must be labelled as such wherever it appears (see :func:`ms_ssim_label`)."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    side = min(x.shape[-2:])
    scales = ms_ssim_scales(side)
    if not reduced and scales < len(MS_SSIM_WEIGHTS):
        raise ValueError(f"ms-ssim needs images of at least 176 px per side for its 5 scales (got {side})")
    if scales < 2:
        raise ValueError(f"ms-ssim-reduced needs images large enough for 2 scales (got {side} px)")
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], dtype=torch.float64)
    betas = tuple((weights / weights.sum()).tolist())
    return multiscale_structural_similarity_index_measure(
        x.float(), y.float(), gaussian_kernel=True, sigma=SIGMA, kernel_size=KERNEL_SIZE, data_range=data_range,
        k1=0.01, k2=0.03, betas=betas, normalize=None, reduction="none").double()


def ms_ssim_reduced(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The labelled reduced-scale MS-SSIM (:func:`ms_ssim` with ``reduced=True``)."""
    return ms_ssim(x, y, reduced=True)
