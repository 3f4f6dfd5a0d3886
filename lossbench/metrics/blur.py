"""A blur measure that needs no network: how much of an image's spectral energy lies at high
spatial frequencies, read on a scale of real images blurred by a Gaussian of known σ.

Per image, the share of the (mean-removed) power spectrum at radial frequencies above
``CUTOFF`` (0.1) cycles per pixel (a Gaussian blur of σ multiplies the power at frequency f by
exp(-4π²σ²f²), so the share falls steadily with σ). For a set, the mean share is turned into
an *equivalent blur*: the σ (in pixels) at which the real test images, blurred by σ, have the
same mean share (interpolated on a grid of σ from 0 to 3 px). 0 reads "as sharp as the real
digits"; 1.0 reads "like the real digits blurred by σ = 1 px".

Outside the scale (issue 40 §5: "a flat image is never the sharpest") the value says so instead of
being clamped to an end of it:

- **flatter than the scale reaches** (``inf``): the set has less image structure than the real images
  blurred by the largest σ, measured by its mean-removed power (a constant or collapsed output has
  almost none: its share, a ratio of two near-zeros, read "sharp" before 0.5); or its share is below
  the scale's end. Lower is better, so such a set is never the best.
- **sharper than the real images** (``nan``): more of its power at high frequencies than the real
  images' (noise adds it): not a blur at all, so no reading; a cell that shows "–" there means that.

Values inside the scale are what they were before: committed results keep them.
"""

from __future__ import annotations

import math

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


def structure_power(x: torch.Tensor) -> torch.Tensor:
    """Per image: the mean squared deviation from its own mean (channels averaged first): its whole
    mean-removed spectral power per pixel, by Parseval. 0 for a constant image."""
    x = x.double().mean(dim=1)
    return (x - x.mean(dim=(-2, -1), keepdim=True)).square().mean(dim=(-2, -1))


class BlurScale:
    """The reference: mean high-frequency share of the real images blurred by each σ of SIGMAS, and their
    structure power (:func:`structure_power`) at the scale's end."""

    def __init__(self, real: torch.Tensor):
        real = real.double()
        self.shares = np.array([float(high_frequency_share(blurred(real, s)).mean()) for s in SIGMAS])
        self.floor_power = float(structure_power(blurred(real, SIGMAS[-1])).mean())

    def sigma(self, share: float, power: float | None = None) -> float:
        """The equivalent σ of a set with mean share ``share`` and mean structure power ``power``; ``inf`` when
        flatter than the scale reaches, ``nan`` when sharper than the real images (see the module docstring)."""
        shares, sigmas = self.shares, np.array(SIGMAS)
        if (power is not None and power < self.floor_power) or share <= shares[-1]:
            return math.inf
        if share > shares[0]:
            return math.nan
        # shares fall with σ: interpolate σ on the reversed (increasing) shares
        return float(np.interp(share, shares[::-1], sigmas[::-1]))


class SpectrumFeatures:
    """The bank's extractor for the blur measure: two features per image, its high-frequency share and its
    structure power."""

    name = f"high-frequency spectral share (> {CUTOFF} cycles/px) and structure power"
    dim = 2

    def __init__(self, data):
        self.scale = BlurScale(data.test_x)
        self.provenance = {
            "network": "none: a Fourier transform of the pixels",
            "weights_sha256": "none",
            "reference": (f"the {len(data.test_x)} real test images blurred by Gaussians of σ = 0 to {SIGMAS[-1]} px "
                          f"(mean share {self.scale.shares[0]:.4f} unblurred, {self.scale.shares[10]:.4f} at σ = 1 px)"),
        }

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([high_frequency_share(x), structure_power(x)], dim=1)


def equivalent_blur(fake_features: torch.Tensor, scale: BlurScale) -> float:
    means = fake_features.double().mean(0)
    return scale.sigma(float(means[0]), float(means[1]) if len(means) > 1 else None)
