"""Image-quality metrics and their registry.

Paired metrics compare each reconstruction with its own input (one value per image).
Distribution metrics compare a set of images with the real test set through a feature network,
and are reported twice: ``<name>-recon`` (reconstructions of the test split) and
``<name>-samples`` (decoded codes drawn from a Gaussian fitted to the training images' codes, a
VAE's posterior means: the same sampler for an AE and a VAE; see lossbench.latent for the others).

The public functions take N×C×H×W tensors in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from lossbench.metrics.frechet import FeatureStats, fd_from_features, frechet_distance
from lossbench.metrics.frechet import kid as kid_from_features
from lossbench.metrics.pixel import l1, mse, psnr
from lossbench.metrics.ssim import ms_ssim, ssim


@dataclass(frozen=True)
class MetricEntry:
    higher_is_better: bool
    description: str
    kind: str = "paired"  # or "distribution"
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None  # paired metrics with no network
    features: str | None = None  # distribution metrics: "domain", "judge" or "inception"
    statistic: str | None = None  # distribution metrics: "fd" or "kid"

    def columns(self, name: str) -> list[str]:
        return [f"{name}-recon", f"{name}-samples"] if self.kind == "distribution" else [name]


METRICS: dict[str, MetricEntry] = {
    "mse": MetricEntry(False, "mean squared error per image, pixels in [0, 1]", fn=mse),
    "l1": MetricEntry(False, "mean absolute error per image, pixels in [0, 1]", fn=l1),
    "psnr": MetricEntry(True, "mean of per-image PSNR in dB, data range 1", fn=psnr),
    "ssim": MetricEntry(True, "SSIM, Gaussian 11x11 sigma 1.5, valid region (scikit-image convention)", fn=ssim),
    "ms-ssim": MetricEntry(True, "MS-SSIM, 5 scales (torchmetrics); needs images of at least 176 px per side",
                           fn=ms_ssim),
    "ms-ssim-reduced": MetricEntry(True, "REDUCED-SCALE MS-SSIM: as many of the 5 scales as the image size allows, "
                                   "weights renormalised; not comparable with standard MS-SSIM",
                                   fn=lambda x, y: ms_ssim(x, y, reduced=True)),
    "lpips": MetricEntry(False, "LPIPS v0.1, AlexNet backbone with calibrated heads (needs torchvision's AlexNet weights)"),
    "fd-domain": MetricEntry(False, "Fréchet distance in the dataset classifier's 128-d features (trained once, cached)",
                             kind="distribution", features="domain", statistic="fd"),
    "kid-domain": MetricEntry(False, "KID (unbiased, cubic polynomial kernel) in the dataset classifier's features",
                              kind="distribution", features="domain", statistic="kid"),
    "fd-judge": MetricEntry(False, "Fréchet distance in the 128-d features of the judge, a network no loss term trains on "
                            "(MNIST digits: trained on the official MNIST test split, shipped with lossbench)",
                            kind="distribution", features="judge", statistic="fd"),
    "kid-judge": MetricEntry(False, "KID (unbiased, cubic polynomial kernel) in the judge's features",
                             kind="distribution", features="judge", statistic="kid"),
    "fid": MetricEntry(False, "FID: Fréchet distance of Inception-v3 pool3 features (TF-compatible pipeline)",
                       kind="distribution", features="inception", statistic="fd"),
    "kid": MetricEntry(False, "KID (unbiased, cubic polynomial kernel) of Inception-v3 pool3 features",
                       kind="distribution", features="inception", statistic="kid"),
}


def metric_columns(names: list[str]) -> list[str]:
    return [c for n in names for c in METRICS[n].columns(n)]


#: random-code schemes beside the default one (lossbench.latent): extra columns of Fréchet metrics
SCHEME_SUFFIXES = ("uniform", "prior", "aggregate")


def column_metric(column: str) -> str:
    """'fd-domain-samples' -> 'fd-domain'; 'fd-judge-prior' -> 'fd-judge'."""
    for suffix in ("-recon", "-samples", *(f"-{s}" for s in SCHEME_SUFFIXES)):
        if column.endswith(suffix) and column[: -len(suffix)] in METRICS:
            return column[: -len(suffix)]
    return column


def lpips(x: torch.Tensor, y: torch.Tensor, net: str = "alex") -> torch.Tensor:
    """LPIPS per image (needs the backbone's ImageNet weights; see ``lossbench weights status``)."""
    from lossbench.metrics.lpips import LPIPSDistance

    with torch.no_grad():
        return LPIPSDistance(net)(x, y)


def fid(x: torch.Tensor, y: torch.Tensor) -> float:
    """FID between two image sets (Inception pool3, TF-compatible pipeline, float64 statistics)."""
    from lossbench.metrics.inception import InceptionFeatures

    features = InceptionFeatures()
    return fd_from_features(features(x), features(y))


def kid(x: torch.Tensor, y: torch.Tensor, subsets: int = 100, subset_size: int | None = None) -> tuple[float, float]:
    """KID (mean, std over subsets) between two image sets with Inception pool3 features; the
    subset size defaults to min(1000, half the smaller set), so the subsets differ."""
    from lossbench.metrics.frechet import kid_subset_size
    from lossbench.metrics.inception import InceptionFeatures

    features = InceptionFeatures()
    size = subset_size or kid_subset_size(min(len(x), len(y)))
    return kid_from_features(features(x), features(y), subsets, size)


#: Domains the public fd_domain() knows, and the dataset its classifier is trained on.
DOMAIN_SOURCES = {"mnist": "mnist-5k"}


def fd_domain(x: torch.Tensor, y: torch.Tensor, dataset: str = "mnist", cache=None) -> float:
    """Fréchet distance in the features of the classifier trained on ``dataset``'s training split
    (trained on first use and cached). ``dataset``: a lossbench dataset name, or ``"mnist"``,
    whose classifier is trained on the embedded MNIST digits (mnist-5k, no download)."""
    dataset = DOMAIN_SOURCES.get(dataset, dataset)
    from lossbench.data import load_dataset
    from lossbench.data.registry import DataSpec
    from lossbench.metrics.domain import DomainFeatures

    features = DomainFeatures(load_dataset(DataSpec(name=dataset)), cache=cache)
    return fd_from_features(features(x), features(y))


__all__ = ["METRICS", "FeatureStats", "fd_domain", "fd_from_features", "fid", "frechet_distance", "kid", "l1",
           "lpips", "metric_columns", "ms_ssim", "mse", "psnr", "ssim"]
