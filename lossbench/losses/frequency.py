"""Perceptual terms without a network, cheap enough for a CPU (issue 40 §3): the focal frequency loss
(Jiang, Dai, Wu & Loy, ICCV 2021) and the gradient magnitude similarity deviation (Xue, Zhang, Mou & Bovik,
IEEE TIP 2014). Each is a per-image value, like every term; both are held to the proofs of
lossbench.losses.proofs."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lossbench.losses.base import Term


class FocalFrequency(Term):
    """The focal frequency loss, per image: the squared distance between the images' 2-D spectra (orthonormal
    FFT), each frequency weighted by its own distance to the power α, normalised to [0, 1] per image and
    channel, and detached (the "focal" weight: hard frequencies count more). The spectra come from the
    authors' package (``focal_frequency_loss``); its loss is the *batch's* mean, so the mean is taken here
    per image, which is that loss averaged over the batch (tested to 1e-6)."""

    def values(self, out, x):
        from focal_frequency_loss import FocalFrequencyLoss

        ffl = FocalFrequencyLoss(alpha=self.spec.alpha, patch_factor=self.spec.patch_factor, log_matrix=self.spec.log_matrix)
        recon, real = ffl.tensor2freq(out["x_hat"].float()), ffl.tensor2freq(x.float())
        distance = (recon - real).square().sum(-1)  # |F(x_hat) − F(x)|² per frequency, shape N×P×C×H×W
        with torch.no_grad():  # the package's weight matrix, as loss_formulation makes it (batch_matrix: False)
            weight = distance.sqrt().pow(self.spec.alpha)
            if self.spec.log_matrix:
                weight = torch.log(weight + 1.0)
            weight = weight / weight.amax(dim=(-2, -1), keepdim=True)
            weight = torch.nan_to_num(weight, nan=0.0).clamp(0.0, 1.0)
        return (weight * distance).flatten(1).mean(1)


class GMSD(Term):
    """Gradient magnitude similarity deviation, per image: both images average-pooled by 2, their Prewitt
    gradient magnitudes m, the similarity (2 m₁m₂ + c)/(m₁² + m₂² + c) with c = 170/255², and its standard
    deviation over the image (0: identical gradients everywhere). RGB is read as its luma (YIQ's Y), as piq does.

    Not piq's function itself: its square roots (of the gradient magnitude, of the variance) have infinite
    slopes at 0, so its gradient is NaN at x_hat = x and on flat regions (found by the proofs). Here both
    roots take ε² = 1e-12 inside; values equal piq's ``gmsd`` to 1e-6 (tested)."""

    C = 170 / 255**2
    EPS2 = 1e-12

    def values(self, out, x):
        a, b = _luma(out["x_hat"].float()), _luma(x.float())
        pad = [0, max(a.shape[2] % 2, a.shape[3] % 2)] * 2
        a, b = (F.avg_pool2d(F.pad(t, pad), 2) for t in (a, b))
        prewitt = torch.tensor([[-1.0, 0.0, 1.0]] * 3, device=a.device) / 3
        kernels = torch.stack([prewitt, prewitt.T])[:, None]
        ma, mb = ((F.conv2d(t, kernels, padding=1).square().sum(1) + self.EPS2).sqrt() for t in (a, b))
        gms = (2 * ma * mb + self.C) / (ma.square() + mb.square() + self.C)
        return (gms.flatten(1).var(1, unbiased=False) + self.EPS2).sqrt()


def _luma(x: torch.Tensor) -> torch.Tensor:
    """Grey as it is; RGB as YIQ's Y (0.299 R + 0.587 G + 0.114 B, piq's rgb2yiq)."""
    if x.shape[1] == 3:
        return (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    return x


__all__ = ["FocalFrequency", "GMSD"]
