"""Metrics after training: paired metrics on reconstructions of the held-out split, and
distribution metrics on reconstructions and on samples, each against the real test set.

An :class:`EvalContext` is built once per study: it holds the feature networks, the real test
set's features (cached on disk, keyed by dataset identity, N, extractor and weights hash), the
metrics that are unavailable with their reasons, the provenance of every metric, and each
distribution metric's calibration: its real floor at the same N and a ladder of known
degradations (see :meth:`EvalContext.calibration`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import pandas as pd
import torch

from lossbench.store.stored import Held
from lossbench.store.columns import RECON, SAMPLES, Score, flat, metric_columns, on_set, paired
from lossbench.nets.degrade import degrade, rung_name  # noqa: F401  (the calibration ladder; also read by metrics.blur)
from lossbench.nets.bank import PROBE_IMAGES, FeatureBank
from lossbench.core.progress import timed_step
from lossbench.core.errors import LossbenchError
from lossbench.score.latent import sample_images
from lossbench.metrics import METRICS, STATISTIC_TEXT
from lossbench.metrics.frechet import FeatureStats, frechet_distance, kid, kid_subset_size
from lossbench.models.ae import reconstruct
from lossbench.nets.weights import WeightsUnavailable

KID_SUBSETS = 100
#: the calibration ladder: known degradations of real images, so that a distance reads as "about as
#: far as real digits blurred by sigma 0.8". Blur: Gaussian, sigma in pixels; noise: additive
#: Gaussian, clipped to [0, 1], seeded.
LADDER = (("blur", 0.5), ("blur", 0.75), ("blur", 1.0), ("noise", 0.1), ("noise", 0.2))
#: test images a paired distance (LPIPS, DISTS) is read on, per rung of PAIRED_LADDER
PAIRED_LADDER_N = 1000
#: a paired distance's rungs: LADDER and coarser blurs, where autoencoders' reconstructions land
#: (a 2-d code's L2 reconstructions read as real digits blurred by 1.2 px on the blur measure)
PAIRED_LADDER = LADDER + (("blur", 1.5), ("blur", 2.0), ("blur", 3.0))


class EvalContext:
    def __init__(self, data, metrics: list[str], device, cache=None, weights: dict | None = None,
                 distribution_n: int | None = None, strict: bool = False, batch_size: int = 500,
                 inception_n: int | None = None, calibrate: bool = True, held: dict[str, Held] | None = None):
        self.data, self.metrics, self.device = data, metrics, torch.device(device)
        self.cache, self.weights, self.batch_size = cache, weights or {}, batch_size
        self.unavailable: dict[str, str] = {}
        self.provenance: dict[str, dict] = {}
        #: metrics whose stored values every run of the folder holds: not prepared in this process (no
        #: network, no weights, no real-set statistics); their provenance and calibration are the ones the
        #: folder's manifest recorded when they were computed (see :class:`Held`)
        self.stored: dict[str, Held] = {}
        #: metrics that cannot be computed here but that some runs hold: those values stay and are reported
        self.kept: dict[str, Held] = {}
        # paired metric -> its scorer (lossbench.metrics.MetricEntry.prepare); None for a distribution metric
        self.scorers: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None] = {}
        self.calibrate = calibrate
        # networks, weights and real-set features, shared with the loss terms (lossbench.nets.bank);
        # Inception costs about 35 ms per image on a 2-core CPU: its metrics may use a smaller N
        self.bank = FeatureBank(data, self.device, cache, self.weights, distribution_n, inception_n)
        self.n, self.n_inception = self.bank.n, self.bank.n_expensive
        for name in metrics:
            found = (held or {}).get(name)
            if found is not None and found.everywhere:
                self.stored[name] = found
                self.provenance[name] = found.provenance
                continue
            try:
                self._prepare(name)
            except WeightsUnavailable as exc:
                if strict:
                    raise LossbenchError(f"metrics: {name} unavailable (--strict): {exc}") from None
                self.unavailable[name] = str(exc)
                if found is not None:  # the runs that hold it keep their numbers; the new ones get none
                    self.kept[name] = found
                    self.provenance[name] = {**found.provenance, "not_recomputed": str(exc)}
                else:
                    self.provenance[name] = {"status": "unavailable", "reason": str(exc)}

    @property
    def missing(self) -> dict[str, str]:
        """The metrics no run has a value of, because they cannot be computed here: the report's
        'unavailable' (a metric that some runs hold stays in the tables, :attr:`kept`)."""
        return {m: why for m, why in self.unavailable.items() if m not in self.kept}

    def computes(self, name: str) -> bool:
        """Whether this process scores ``name`` (neither stored in every run nor unavailable)."""
        return name not in self.stored and name not in self.unavailable

    # ------------------------------------------------------------ set-up
    def _prepare(self, name: str) -> None:
        """The metric prepares itself (lossbench.metrics.MetricEntry.prepare); a distribution metric
        also gets its real statistics now, before any run, and their provenance."""
        entry = METRICS[name]
        side = min(self.data.test_x.shape[-2:])
        prov, self.scorers[name] = entry.prepare(name, self.bank, side)
        if entry.kind == "distribution":
            extractor = self.bank.extractor(entry.feature_kind)
            self.bank.real_features(entry.feature_kind)  # computed (or read from the cache) now, before any run
            n = self.n_for(entry.feature_kind)
            prov |= extractor.provenance | {
                "implementation": STATISTICS[entry.statistic_name][1] if entry.statistic != "kid" else (
                    f"lossbench.metrics.frechet.kid ({KID_SUBSETS} random subsets of {kid_subset_size(n)} of the {n} per "
                    f"set; the spread over subsets is stored per run as <column>-std)"),
                "n_real": n, "n_generated": n,
                "real_statistics_key": self.bank.real_key(entry.feature_kind),
            }
            if entry.statistic == "fd" and n < extractor.dim:
                small = (f"N = {n} is below the feature dimension {extractor.dim}: the covariance is "
                         f"rank-deficient and the value is biased upward; compare only at equal N")
                prov["warning"] = "; ".join(w for w in (prov.get("warning"), small) if w)
        self.provenance[name] = prov

    # what the bank holds, under the names the rest of lossbench and the tests use
    @property
    def extractors(self) -> dict:
        return self.bank.extractors

    @property
    def real(self) -> dict:
        return self.bank.real

    def _extractor(self, kind: str):
        return self.bank.extractor(kind)

    def n_for(self, kind: str) -> int:
        return self.bank.n_for(kind)

    def _cached_features(self, kind: str, tag: str, images) -> torch.Tensor:
        return self.bank.cached_features(kind, tag, images)

    def _real(self, kind: str):
        return self.bank.real_features(kind)

    def floor_images(self, kind: str) -> torch.Tensor:
        return self.bank.floor_images(kind)

    def feature_network(self, name: str, layers: list[str] | None = None) -> torch.nn.Module:
        return self.bank.feature_network(name, layers)

    # ------------------------------------------------------------ per run
    def paired(self, name: str, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        scorer = self.scorers[name]
        if scorer is None:
            raise TypeError(f"{name} is a distribution metric: it scores image sets, not pairs")
        return scorer(recon, target)

    def features(self, kind: str, images: torch.Tensor) -> torch.Tensor:
        """Features of the first N images, for the distribution metrics that use ``kind``."""
        return self.bank.features(kind, images)

    def distribution(self, name: str, fake: torch.Tensor) -> float:
        """A distribution metric from the features of the generated set (see :meth:`features`)."""
        return self.distribution_with_spread(name, fake)[0]

    def distribution_with_spread(self, name: str, fake: torch.Tensor) -> tuple[float, float | None]:
        """(value, KID's standard deviation over its subsets, or None for a Fréchet distance)."""
        entry = METRICS[name]
        real_features, real_stats = self._real(entry.feature_kind)
        return _score(entry.statistic_name, real_features, real_stats, fake, self._extractor(entry.feature_kind))

    def calibration(self) -> dict:
        """Every distribution metric in context, each at the N its columns use, against the real
        test images: ``samples``: N real *training* images (the real floor at equal N: what a
        perfect generator would score), then those images degraded by each rung of LADDER;
        ``recon``: the N test images themselves degraded by each rung (a perfect reconstruction
        scores 0). Cached with the real statistics. Also SSIM(x, x) and LPIPS(x, x)."""
        out = {}
        x = self.data.test_x
        for name in self.metrics:
            found = self.stored.get(name) or self.kept.get(name)
            if found is not None:  # as recorded when the stored values were computed
                if found.calibration is not None:
                    out[name] = found.calibration
                continue
            if name in self.unavailable:
                continue
            entry = METRICS[name]
            if entry.kind == "distribution":
                n = self.n_for(entry.feature_kind)
                floor = self.floor_images(entry.feature_kind)
                samples = {"real": self._real_set_score(name, "floor", floor)}
                recon = {}
                if self.calibrate:
                    with self._ladder_step(name, entry.feature_kind, len(floor), n):
                        for rung, amount in LADDER:
                            label = rung_name(rung, amount)
                            samples[label] = self._real_set_score(name, f"floor-{label}", floor, rung, amount, announce=False)
                            recon[label] = self._real_set_score(name, f"test-{label}", x[:n], rung, amount, announce=False)
                out[name] = {"n": n, "n_floor": len(floor), "samples": samples, "recon": recon,
                             "what": (f"against the first {n} real test images: samples, {len(floor)} real training images "
                                      f"(the real floor at equal N) and those images degraded; recon, the test images "
                                      f"themselves degraded (a perfect reconstruction scores 0)")}
            elif entry.self_check:
                value = float(self.paired(name, x[:64], x[:64]).mean())
                out[name] = {"value": value, "what": f"{name}(x, x) on {len(x[:64])} test images"}
                if entry.ladder and self.calibrate:
                    # a paired distance on the same ladder: the test images degraded, against themselves,
                    # so that "lpips 0.12" reads as "like real digits blurred by σ"
                    n = min(len(x), PAIRED_LADDER_N)
                    self.paired(name, x[:PROBE_IMAGES], x[:PROBE_IMAGES])  # warm-up
                    started = time.perf_counter()
                    self.paired(name, x[:PROBE_IMAGES], x[:PROBE_IMAGES])
                    per_image = (time.perf_counter() - started) / len(x[:PROBE_IMAGES])
                    with timed_step(f"{name}: calibration ladder ({len(PAIRED_LADDER)} degradations of {n:,} test images)",
                                    per_image * n * len(PAIRED_LADDER), cached=False):
                        out[name] |= {"n": n, "recon": {rung_name(rung, amount): float(self.paired(name, degrade(x[:n], rung, amount),
                                                                                                   x[:n]).mean())
                                                        for rung, amount in PAIRED_LADDER}}
        return out

    def _ladder_step(self, name: str, kind: str, n_floor: int, n: int):
        """One set-up line for a distribution metric's ladder, with its estimate, when some of its sets
        are not cached yet (their features are then computed: each rung of the floor set and of the test set)."""
        tags = [f"{which}-{rung_name(rung, amount)}" for rung, amount in LADDER for which in ("floor", "test")]
        missing = [t for t in tags if not self.bank.is_cached(kind, t)]
        if not missing:
            return contextlib.nullcontext()
        images = sum(n_floor if t.startswith("floor") else n for t in missing)
        return timed_step(f"{name}: calibration ladder ({len(missing)} degraded real sets, {images:,} images through "
                          f"{self._extractor(kind).name})", self.bank.seconds_per_image(kind) * images)


    def _real_set_score(self, name: str, tag: str, images: torch.Tensor, rung: str | None = None, amount: float = 0.0,
                        announce: bool = True) -> float:
        """A distribution metric of real ``images`` (degraded by a ladder rung, if given) against the
        real test images; their features cached under ``tag``."""
        entry = METRICS[name]
        real_features, real_stats = self._real(entry.feature_kind)
        make = (lambda: images) if rung is None else (lambda: degrade(images, rung, amount))
        features = self.bank.cached_features(entry.feature_kind, tag, make, announce=announce)
        return _score(entry.statistic_name, real_features, real_stats, features, self._extractor(entry.feature_kind))[0]


def _fd(real_features, real_stats, fake, extractor) -> tuple[float, float | None]:
    stats = FeatureStats(fake.shape[1]).update(fake)
    return frechet_distance(real_stats.mean, real_stats.cov, stats.mean, stats.cov), None


def _kid(real_features, real_stats, fake, extractor) -> tuple[float, float | None]:
    return kid(real_features, fake, KID_SUBSETS, kid_subset_size(min(len(real_features), len(fake))))


def _manifold(which: str):
    def score(real_features, real_stats, fake, extractor) -> tuple[float, float | None]:
        from lossbench.metrics.manifold import prdc

        return prdc(real_features, fake)[which], None
    return score


def _blur(real_features, real_stats, fake, extractor) -> tuple[float, float | None]:
    from lossbench.metrics.blur import equivalent_blur

    return equivalent_blur(fake, extractor.scale), None


def _spectral_gap(real_features, real_stats, fake, extractor) -> tuple[float, float | None]:
    from lossbench.metrics.spectrum import spectral_gap

    return spectral_gap(real_features, fake), None


#: what a distribution metric computes from the real and generated features (MetricEntry.statistic):
#: (real features, their statistics, generated features, the extractor) -> (value, spread or None),
#: and how its provenance names the implementation
STATISTICS: dict[str, tuple] = {
    "fd": (_fd, STATISTIC_TEXT["fd"]),
    "kid": (_kid, STATISTIC_TEXT["kid"]),
    **{name: (_manifold(name), STATISTIC_TEXT[name]) for name in ("precision", "recall", "density", "coverage")},
    "blur": (_blur, STATISTIC_TEXT["blur"]),
    "spectral-gap": (_spectral_gap, STATISTIC_TEXT["spectral-gap"]),
}


def _score(statistic: str, real_features: torch.Tensor, real_stats: FeatureStats, fake: torch.Tensor,
           extractor=None) -> tuple[float, float | None]:
    return STATISTICS[statistic][0](real_features, real_stats, fake, extractor)


def evaluate(model, ctx: EvalContext, seed: int, train_codes: dict):
    """Every requested metric for one trained model: (column -> value, per-image table, how
    samples were made, the reconstructions). Each image set goes through each feature network
    once, however many metrics read its features (fid and kid share Inception's)."""
    recon = reconstruct(model, ctx.data.test_x, ctx.batch_size, ctx.device)
    target = ctx.data.test_x.cpu()
    per_image = pd.DataFrame(index=pd.RangeIndex(len(target), name="image"))
    scores: list[Score] = []
    samples, how = None, None
    features: dict[tuple[str, str], torch.Tensor] = {}
    for name in ctx.metrics:
        entry = METRICS[name]
        if name in ctx.stored:  # every run holds it: nothing to compute, nothing to replace
            continue
        if name in ctx.unavailable:
            scores += [Score(c, None) for c in metric_columns(name, entry.kind)]
            continue
        if entry.kind == "paired":
            per_image[name] = ctx.paired(name, recon, target).numpy()
            scores.append(Score(paired(name), float(per_image[name].mean())))
        else:
            if samples is None:
                n = max(ctx.n_for(METRICS[m].feature_kind) for m in ctx.metrics if METRICS[m].kind == "distribution")
                samples, how = sample_images(model, train_codes, n, seed, ctx.batch_size, ctx.device)
            for which, images in ((RECON, recon), (SAMPLES, samples)):
                key = (entry.feature_kind, which)
                if key not in features:
                    features[key] = ctx.features(entry.feature_kind, images)
                value, spread = ctx.distribution_with_spread(name, features[key])
                scores.append(Score(on_set(name, which), value))
                if spread is not None:  # KID's spread over its subsets
                    scores.append(Score(on_set(name, which, spread=True), spread))
    return flat(scores), per_image, how, recon


def _weights_for(name: str, explicit: dict, cache=None):
    from lossbench.nets.weights import resolve

    return resolve(name, explicit.get(name), allow_download=True, cache=cache)  # downloaded on first use, with internet
