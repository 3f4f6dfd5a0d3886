"""The feature bank: every frozen network that metrics and loss terms read, and the real-set
features they are compared with, in one place.

A bank resolves weights (``lossbench.nets.weights``), builds each feature extractor once (the
dataset's domain classifier, the independent judge, FID's Inception, and any registered with
:func:`register_features`), hands perceptual terms their frozen layers
(:meth:`FeatureBank.feature_network`), and computes features of real image sets once, cached on
disk under a content key (dataset digest, split, N, extractor, weights digest), so that any process
with the same data and cache, a Ray worker included, rebuilds the same bank without recomputing.

An *extractor* is a callable ``images (N×C×H×W in [0, 1]) -> features (N×D)`` with attributes
``name``, ``dim``, ``provenance`` (a dict holding ``weights_sha256`` or
``weights_content_sha256``) and, where perceptual terms read its layers, ``model``.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from lossbench.store import files
from lossbench.metrics.frechet import FeatureStats
from lossbench.nets.weights import cache_dir, load_cached, sha256_of


#: images the set-up's estimates time a network on
PROBE_IMAGES = 16
#: how the set-up lines name the real sets whose features are cached
SET_NAMES = {"test": "the test images, for the real statistics", "floor": "training images, for the real floor"}


@dataclass(frozen=True)
class FeatureSource:
    build: Callable[[FeatureBank], object]  # the bank -> an extractor
    expensive: bool = False  # its metrics use report.inception_n images per set instead of distribution_n
    weights: tuple[str, ...] = ()  # pretrained networks it needs (lossbench.nets.weights.NETWORKS), checked by --dry-run
    labels: bool = False  # trained on the dataset's class labels (the dataset must have them)


def _domain(bank: FeatureBank):
    from lossbench.metrics.domain import DomainFeatures

    return DomainFeatures(bank.data, cache=bank.cache, device=bank.device)


def _judge(bank: FeatureBank):
    from lossbench.metrics.judge import JudgeFeatures

    return JudgeFeatures(bank.data, cache=bank.cache, device=bank.device)


def _inception(bank: FeatureBank):
    from lossbench.metrics.inception import InceptionFeatures

    return InceptionFeatures(bank.resolve("inception-fid"), device=bank.device)


def _spectrum(bank: FeatureBank):
    from lossbench.metrics.blur import SpectrumFeatures

    return SpectrumFeatures(bank.data)


def _radial_power(bank: FeatureBank):
    from lossbench.metrics.spectrum import RadialPowerFeatures

    return RadialPowerFeatures(bank.data)


#: feature kinds a distribution metric may name (MetricEntry.features)
FEATURE_SOURCES: dict[str, FeatureSource] = {
    "domain": FeatureSource(_domain, labels=True),
    "judge": FeatureSource(_judge, labels=True),
    "inception": FeatureSource(_inception, expensive=True, weights=("inception-fid",)),  # 0.2 s per image on a 2-core CPU
    "spectrum": FeatureSource(_spectrum),  # no network: the blur measure's high-frequency share
    "radial-power": FeatureSource(_radial_power),  # no network: spectral-gap's radially averaged power spectrum
}


def register_features(kind: str, build: Callable[[FeatureBank], object], *, expensive: bool = False,
                      replace: bool = False) -> None:
    """A new feature network for distribution metrics: ``build(bank)`` returns an extractor (see
    the module docstring); then ``register_metric(name, features=kind, statistic="fd")`` scores
    with it. ``expensive``: its metrics use report.inception_n images per set."""
    from lossbench.core.errors import LossbenchError

    if kind in FEATURE_SOURCES and not replace:
        raise LossbenchError(f"register_features: '{kind}' is registered already; pass replace=True to replace it")
    FEATURE_SOURCES[kind] = FeatureSource(build, expensive)


class FeatureBank:
    """Extractors, frozen layers for perceptual terms and cached real-set features of one dataset
    on one device. ``n``: images per set for distribution metrics; ``n_expensive``: for those of
    expensive feature kinds (Inception)."""

    def __init__(self, data, device, cache=None, weights: dict | None = None, n: int | None = None,
                 n_expensive: int | None = None):
        self.data, self.device, self.cache, self.weights = data, torch.device(device), cache, weights or {}
        n_test = len(data.test_x)
        self.n = min(n or n_test, n_test)
        self.n_expensive = min(n_expensive or self.n, n_test)
        self.extractors: dict[str, object] = {}
        self.real: dict[str, tuple[torch.Tensor, FeatureStats]] = {}
        self._feature_nets: dict[tuple, torch.nn.Module] = {}
        self._per_image: dict[str, float] = {}

    def resolve(self, network: str):
        """A pretrained network's checked weights: on this machine, or downloaded on first use where there
        is internet (WeightsUnavailable when neither)."""
        from lossbench.nets.weights import resolve

        return resolve(network, self.weights.get(network), allow_download=True, cache=self.cache)

    def extractor(self, kind: str):
        if kind not in self.extractors:
            self.extractors[kind] = FEATURE_SOURCES[kind].build(self)
        return self.extractors[kind]

    def n_for(self, kind: str) -> int:
        """Images per set for the distribution metrics that read ``kind`` features."""
        return self.n_expensive if FEATURE_SOURCES[kind].expensive else self.n

    def real_key(self, kind: str) -> str:
        """The content key of the real test features: dataset digest, N, extractor, weights digest."""
        ex = self.extractor(kind)
        prov = ex.provenance
        weights_sha = prov.get("weights_content_sha256") or prov["weights_sha256"]
        blob = f"{self.data.identity['sha256']}|test|{self.n_for(kind)}|{ex.name}|{weights_sha}"
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def _cache_path(self, kind: str, tag: str):
        key = self.real_key(kind) if tag == "test" else f"{self.real_key(kind)}-{tag.replace(' ', '')}"
        return cache_dir(self.cache) / "stats" / f"{key}.pt"

    def is_cached(self, kind: str, tag: str) -> bool:
        """Whether the features :meth:`cached_features` would compute are in the cache already."""
        return self._cache_path(kind, tag).is_file()

    def seconds_per_image(self, kind: str) -> float:
        """``kind``'s network's time per image on this machine, timed once on a few test images (for
        the set-up lines' estimates; the features of the probe are thrown away)."""
        if kind not in self._per_image:
            probe = self.data.test_x[:PROBE_IMAGES]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.extractor(kind)(probe)  # warm-up: a shape's first call pays for the kernels' set-up
                started = time.perf_counter()
                self.extractor(kind)(probe)
            self._per_image[kind] = (time.perf_counter() - started) / max(len(probe), 1)
        return self._per_image[kind]

    def cached_features(self, kind: str, tag: str, images: Callable[[], torch.Tensor], announce: bool = True) -> torch.Tensor:
        """Features of a real image set (``images()`` makes it) through ``kind``'s network, cached on
        disk under the real statistics' key and ``tag`` (the test images; the floor set; a rung).
        ``announce``: a set computed here (not cached) is a set-up step with its line and estimate."""
        from lossbench.core.progress import timed_step

        ex = self.extractor(kind)
        path = self._cache_path(kind, tag)
        cached = load_cached(path, lambda x: isinstance(x, torch.Tensor) and x.ndim == 2 and x.is_floating_point())
        if cached is not None:
            return cached
        made = images()
        step = (timed_step(f"{ex.name}: features of {len(made):,} real images ({SET_NAMES.get(tag, tag)})",
                           self.seconds_per_image(kind) * len(made)) if announce else contextlib.nullcontext())
        with step, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            features = ex(made)
        files.torch_save(path, features)
        files.write_json(path.with_suffix(".json"), {"sha256": sha256_of(path), "dataset": self.data.identity["name"],
                                                     "dataset_sha256": self.data.identity["sha256"], "images": tag,
                                                     "n": len(features), "extractor": ex.name})
        return features

    def real_features(self, kind: str) -> tuple[torch.Tensor, FeatureStats]:
        """Features of the first N test images and their statistics, computed once and cached on disk."""
        if kind not in self.real:
            features = self.cached_features(kind, "test", lambda: self.data.test_x[: self.n_for(kind)])
            self.real[kind] = (features, FeatureStats(features.shape[1]).update(features))
        return self.real[kind]

    def floor_images(self, kind: str) -> torch.Tensor:
        """Real images that are not test images, as many as the metric's N (fewer only if the
        training split is smaller): the first N of the training split."""
        return self.data.train_x[: self.n_for(kind)]

    def features(self, kind: str, images: torch.Tensor) -> torch.Tensor:
        """Features of the first N images, for the distribution metrics that use ``kind``."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.extractor(kind)(images[: self.n_for(kind)])

    def feature_network(self, name: str, layers: list[str] | None = None) -> torch.nn.Module:
        """A frozen network for perceptual terms, from the same sources as the metrics; built
        once per bank. Raises WeightsUnavailable when its weights are missing."""
        from lossbench.metrics.features import FEATURE_NETS

        entry = FEATURE_NETS[name]
        chosen = tuple(layers or entry.default_layers)
        key = (name, chosen)
        if key not in self._feature_nets:
            if entry.build is None:
                raise ValueError(f"{name} gives a calibrated distance, not features a perceptual term can read")
            self._feature_nets[key] = entry.build(self, chosen).to(self.device)
        return self._feature_nets[key]


__all__ = ["FEATURE_SOURCES", "FeatureBank", "FeatureSource", "register_features"]
