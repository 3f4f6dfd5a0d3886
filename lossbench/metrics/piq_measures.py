"""Full-reference measures without a network, from piq (Kastryulin et al., "PyTorch Image Quality", 2022):
each a paired metric, one value per image, images in [0, 1]. piq validates each against its authors' code.

Which are also loss terms (lossbench.losses.frequency): GMSD, whose step costs about an L2 step's and whose
gradient lossbench makes finite. Which stay metrics, and why (``lossbench list --verbose`` says it):
HaarPSI and MDSI compute with non-finite gradients at x̂ = x or on flat images in piq's implementation (the
proofs of lossbench.losses.proofs find them), FSIM costs more than 5× an L2 step
(``benchmarks/term_cost.py``)."""

from __future__ import annotations

import torch


def _rgb(x: torch.Tensor) -> torch.Tensor:
    """Grey repeated to RGB, for the measures that read colour (MDSI): the conversion is this function's."""
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


@torch.no_grad()
def gmsd(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    import piq

    return piq.gmsd(x_hat.clamp(0, 1).float(), x.float(), data_range=1.0, reduction="none")


@torch.no_grad()
def haarpsi(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    import piq

    return piq.haarpsi(x_hat.clamp(0, 1).float(), x.float(), data_range=1.0, reduction="none")


@torch.no_grad()
def mdsi(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    import piq

    return piq.mdsi(_rgb(x_hat.clamp(0, 1).float()), _rgb(x.float()), data_range=1.0, reduction="none")


@torch.no_grad()
def fsim(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    import piq

    return piq.fsim(x_hat.clamp(0, 1).float(), x.float(), data_range=1.0, reduction="none", chromatic=x.shape[1] == 3)
