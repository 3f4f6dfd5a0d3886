"""The radially averaged power spectrum of an image, and a distance between two images' spectra: how much of each
spatial frequency's energy one image has that the other lacks, whatever the phase. Blur removes the high
frequencies' energy, noise adds to it, and a translation, which moves phase only, leaves it (up to what enters and
leaves at the border). No network.

Per image: its luma (ITU-R 601-2 for RGB), minus its mean, times a separable Hann window (so that the patch's
border is not read as an edge), its 2-D power spectrum, averaged over rings of integer radius 1 .. side/2 (cycles per
image side). The distance of two images is the mean over rings of |log10 P_a - log10 P_b|, in decades of power.
"""

from __future__ import annotations

import torch

#: power below this (per pixel, for images in [0, 1]) counts as this: a flat image has a floor, not log10(0)
FLOOR = 1e-10


def radial_power(images: torch.Tensor) -> torch.Tensor:
    """N×C×H×W in [0, 1] (H = W) -> N × (side // 2) mean power per ring, radii 1 .. side // 2."""
    x = images.double()
    if x.shape[1] == 3:
        x = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    else:
        x = x[:, 0]
    side = x.shape[-1]
    if x.shape[-2] != side:
        raise ValueError(f"radial_power needs square images, got {tuple(x.shape[-2:])}")
    window = torch.hann_window(side, periodic=False, dtype=torch.float64)
    x = (x - x.mean((-2, -1), keepdim=True)) * window[:, None] * window[None, :]
    power = torch.fft.fft2(x).abs().square() / side ** 2
    f = torch.fft.fftfreq(side, d=1 / side, dtype=torch.float64)
    radius = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2).round().long()
    rings = []
    for r in range(1, side // 2 + 1):
        mask = radius == r
        rings.append(power[:, mask].mean(-1))
    return torch.stack(rings, dim=1)


def spectrum_distance(candidate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per image pair, the mean over rings of |log10 P_candidate - log10 P_reference| (0 for equal spectra)."""
    a = radial_power(candidate).clamp_min(FLOOR).log10()
    b = radial_power(reference).clamp_min(FLOOR).log10()
    return (a - b).abs().mean(1)


class RadialPowerFeatures:
    """The feature bank's extractor for ``spectral-gap``: per image, its radially averaged power spectrum
    (:func:`radial_power`), side // 2 rings."""

    name = "radially averaged power spectrum (luma, Hann window; no network)"

    def __init__(self, data):
        self.dim = int(data.test_x.shape[-1]) // 2
        self.provenance = {"network": "none: a Fourier transform of the pixels", "weights_sha256": "none",
                           "rings": f"radii 1 .. {self.dim} cycles per image side"}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return radial_power(x)


def spectral_gap(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Two sets' mean radially averaged power spectra compared: the mean over rings of |log10 of their ratio|, in
    decades (0: the same spectrum). Blur gives up high-frequency power and noise adds it; both move it."""
    a = real.double().mean(0).clamp_min(FLOOR).log10()
    b = fake.double().mean(0).clamp_min(FLOOR).log10()
    return float((a - b).abs().mean())
