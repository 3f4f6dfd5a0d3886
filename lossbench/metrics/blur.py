"""A blur measure that needs no network: how much of an image's spectral energy lies at high
spatial frequencies, read on a scale of real images blurred by a Gaussian of known σ.

Per image, the share of the (mean-removed) power spectrum at radial frequencies above
``CUTOFF`` (0.1) cycles per pixel (a Gaussian blur of σ multiplies the power at frequency f by
exp(-4π²σ²f²), so the share falls steadily with σ). For a set, the mean share is turned into
an *equivalent blur*: the σ (in pixels) at which the real test images, blurred by σ, have the
same mean share (interpolated on a grid of σ from 0 to 3 px). 0 reads "as sharp as the real
digits"; 1.0 reads "like the real digits blurred by σ = 1 px". A set sharper than the real
one (noise adds high frequencies) also reads 0: the measure sees blur, not plausibility.
"""

from __future__ import annotations

import numpy as np
import torch

#: radial frequency (cycles per pixel; Nyquist is 0.5) above which energy counts as detail. At 0.25
#: the scale stops falling beyond σ ≈ 1.6 px (what is left there is the blur kernel's truncation
#: at 3σ, not the image); at 0.1 it falls through σ = 3 px on MNIST digits
CUTOFF = 0.1
#: the σ grid (pixels) of the reference scale
SIGMAS = tuple(round(0.1 * i, 2) for i in range(31))


def high_frequency_share(x: torch.Tensor, cutoff: float = CUTOFF) -> torch.Tensor:
    """Per image (N×C×H×W in [0, 1], channels averaged): spectral power above ``cutoff`` cycles
    per pixel over all power, the image's mean removed (a blank image gives 0)."""
    x = x.double().mean(dim=1)
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(x).abs().square()
    fy = torch.fft.fftfreq(x.shape[-2], dtype=torch.float64)
    fx = torch.fft.fftfreq(x.shape[-1], dtype=torch.float64)
    high = (fy[:, None].square() + fx[None, :].square()).sqrt() > cutoff
    total = power.sum(dim=(-2, -1))
    return torch.where(total > 0, (power * high).sum(dim=(-2, -1)) / total.clamp_min(1e-300), torch.zeros_like(total))


def blurred(x: torch.Tensor, sigma: float) -> torch.Tensor:
    from lossbench.nets.degrade import degrade

    return x if sigma == 0 else degrade(x, "blur", sigma)


class BlurScale:
    """The reference: mean high-frequency share of the real images blurred by each σ of SIGMAS."""

    def __init__(self, real: torch.Tensor):
        real = real.double()
        self.shares = np.array([float(high_frequency_share(blurred(real, s)).mean()) for s in SIGMAS])

    def sigma(self, share: float) -> float:
        """The equivalent σ of a set with mean share ``share`` (0 when at least as sharp as the real images)."""
        shares, sigmas = self.shares, np.array(SIGMAS)
        if share >= shares[0]:
            return 0.0
        if share <= shares[-1]:
            return float(sigmas[-1])  # blurrier than the scale reaches: reported at its end
        # shares fall with σ: interpolate σ on the reversed (increasing) shares
        return float(np.interp(share, shares[::-1], sigmas[::-1]))


class SpectrumFeatures:
    """The bank's extractor for the blur measure: one feature per image, its high-frequency share."""

    name = f"high-frequency spectral share (> {CUTOFF} cycles/px)"
    dim = 1

    def __init__(self, data):
        self.scale = BlurScale(data.test_x)
        self.provenance = {
            "network": "none: a Fourier transform of the pixels",
            "weights_sha256": "none",
            "reference": (f"the {len(data.test_x)} real test images blurred by Gaussians of σ = 0 to {SIGMAS[-1]} px "
                          f"(mean share {self.scale.shares[0]:.4f} unblurred, {self.scale.shares[10]:.4f} at σ = 1 px)"),
        }

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return high_frequency_share(x)[:, None]


def equivalent_blur(fake_features: torch.Tensor, scale: BlurScale) -> float:
    return scale.sigma(float(fake_features.double().mean()))
