"""Metrics after training: paired metrics on reconstructions of the held-out split, and
distribution metrics on reconstructions and on samples, each against the real test set.

An :class:`EvalContext` is built once per study: it holds the feature networks, the real test
set's features (cached on disk, keyed by dataset identity, N, extractor and weights hash), the
metrics that are unavailable with their reasons, and the provenance of every metric.
"""

from __future__ import annotations

import hashlib
import warnings

import pandas as pd
import torch

from lossbench import files
from lossbench.errors import LossbenchError
from lossbench.metrics import METRICS
from lossbench.metrics.frechet import FeatureStats, frechet_distance, kid
from lossbench.metrics.ssim import ms_ssim_label, ms_ssim_scales
from lossbench.weights import WeightsUnavailable, cache_dir, sha256_of

KID_SUBSETS, KID_SUBSET_SIZE = 50, 1000


@torch.no_grad()
def reconstruct(model: torch.nn.Module, x: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """Reconstructions of ``x`` (eval mode: a VAE decodes its posterior mean), float32 on the CPU."""
    was_training = model.training
    model.eval()
    parts = [model(x[i : i + batch_size].to(device))["x_hat"].float().cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(parts)


@torch.no_grad()
def sample_images(model, train_x: torch.Tensor, n: int, seed: int, batch_size: int, device) -> tuple[torch.Tensor, str]:
    """``n`` generated images and how they were made. VAE: decoded draws from the prior N(0, I).
    AE: decoded draws from a Gaussian fitted (mean, full covariance) to the codes of the
    training images: the seed study's "random code"."""
    from lossbench.latent import codes, decode, default_scheme, random_codes

    variational = getattr(model, "variational", False)
    train_codes = None if variational else codes(model, train_x, batch_size, device)["mu"]
    z = random_codes(model, train_codes, n, seed)[default_scheme(model)]
    how = "VAE prior N(0, I)" if variational else "AE codes ~ Gaussian fitted to the training codes"
    return decode(model, z, batch_size, device), how


class EvalContext:
    def __init__(self, data, metrics: list[str], device, cache=None, weights: dict | None = None,
                 distribution_n: int | None = None, strict: bool = False, batch_size: int = 500,
                 inception_n: int | None = None):
        self.data, self.metrics, self.device = data, metrics, torch.device(device)
        self.cache, self.weights, self.batch_size = cache, weights or {}, batch_size
        self.unavailable: dict[str, str] = {}
        self.provenance: dict[str, dict] = {}
        self.extractors: dict[str, object] = {}
        self.real: dict[str, tuple[torch.Tensor, FeatureStats]] = {}
        self.lpips_net = None
        self._feature_nets: dict[tuple, torch.nn.Module] = {}
        n_test = len(data.test_x)
        self.n = min(distribution_n or n_test, n_test)
        # Inception costs 0.2 s per image on a 2-core CPU: its metrics may use a smaller N
        self.n_inception = min(inception_n or self.n, n_test)
        for name in metrics:
            try:
                self._prepare(name)
            except WeightsUnavailable as exc:
                if strict:
                    raise LossbenchError(f"metrics: {name} unavailable (--strict): {exc}") from None
                self.unavailable[name] = str(exc)
                self.provenance[name] = {"status": "unavailable", "reason": str(exc)}

    # ------------------------------------------------------------ set-up
    def _prepare(self, name: str) -> None:
        entry = METRICS[name]
        side = min(self.data.test_x.shape[-2:])
        prov = {"description": entry.description, "data_range": "[0, 1]"}
        if name == "ssim" and side <= 11:
            raise LossbenchError(f"metrics: ssim needs images larger than 11x11 (got {side})")
        if name == "ms-ssim" and ms_ssim_scales(side) < 5:
            raise LossbenchError(f"metrics: ms-ssim needs images of at least 176 px per side for its 5 scales "
                                 f"(this dataset's are {side} px); use ssim, or ms-ssim-reduced (a labelled reduced-scale variant)")
        if name == "ms-ssim-reduced":
            if ms_ssim_scales(side) < 2:
                raise LossbenchError(f"metrics: ms-ssim-reduced needs images large enough for 2 scales (got {side} px)")
            prov["label"] = ms_ssim_label(side)
        if name == "lpips":
            from lossbench.metrics.lpips import LPIPSDistance

            self.lpips_net = LPIPSDistance("alex", resolved=_weights_for("lpips-alex", self.weights)).to(self.device)
            prov |= self.lpips_net.provenance | {"resize": self.lpips_net.resize_note(side) or "none",
                                                 "implementation": f"lpips {_version('lpips')}"}
        elif entry.kind == "distribution":
            extractor = self._extractor(entry.features)
            self._real(entry.features)  # computed (or read from the cache) now, before any run
            prov |= extractor.provenance | {
                "implementation": "lossbench.metrics.frechet (float64; trace from eigenvalues of Σ1Σ2)"
                if entry.statistic == "fd" else f"lossbench.metrics.frechet.kid ({KID_SUBSETS} subsets of <= {KID_SUBSET_SIZE})",
                "n_real": self.n_for(entry.features), "n_generated": self.n_for(entry.features),
                "real_statistics_key": self._real_key(entry.features),
            }
            if entry.statistic == "fd" and self.n_for(entry.features) < extractor.dim:
                prov["warning"] = (f"N = {self.n_for(entry.features)} is below the feature dimension {extractor.dim}: the covariance is "
                                   f"rank-deficient and the value is biased upward; compare only at equal N")
        else:
            prov["implementation"] = {"ssim": "torchmetrics' SSIM map, cropped to the valid region",
                                      "ms-ssim": "torchmetrics MS-SSIM", "ms-ssim-reduced": "torchmetrics MS-SSIM, reduced scales"
                                      }.get(name, "lossbench.metrics.pixel")
        self.provenance[name] = prov

    def _extractor(self, kind: str):
        if kind not in self.extractors:
            if kind == "domain":
                from lossbench.metrics.domain import DomainFeatures

                self.extractors[kind] = DomainFeatures(self.data, cache=self.cache, device=self.device)
            else:
                from lossbench.metrics.inception import InceptionFeatures

                self.extractors[kind] = InceptionFeatures(_weights_for("inception-fid", self.weights, self.cache),
                                                          device=self.device)
        return self.extractors[kind]

    def n_for(self, kind: str) -> int:
        """Images per set for the distribution metrics that read ``kind`` features."""
        return self.n_inception if kind == "inception" else self.n

    def _real_key(self, kind: str) -> str:
        ex = self.extractors[kind]
        prov = ex.provenance
        weights_sha = prov.get("weights_content_sha256") or prov["weights_sha256"]
        blob = f"{self.data.identity['sha256']}|test|{self.n_for(kind)}|{ex.name}|{weights_sha}"
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def _real(self, kind: str):
        """Features of the first N test images, computed once and cached on disk."""
        if kind not in self.real:
            ex = self._extractor(kind)
            path = cache_dir(self.cache) / "stats" / f"{self._real_key(kind)}.pt"
            record = path.with_suffix(".json")
            features = None
            if path.is_file() and record.is_file() and files.read_json(record).get("sha256") == sha256_of(path):
                features = torch.load(path, weights_only=True)
            if features is None:
                features = ex(self.data.test_x[: self.n_for(kind)])
                files.torch_save(path, features)
                files.write_json(record, {"sha256": sha256_of(path), "dataset": self.data.identity["name"],
                                          "dataset_sha256": self.data.identity["sha256"], "split": "test",
                                          "n": self.n_for(kind), "extractor": ex.name})
            self.real[kind] = (features, FeatureStats(features.shape[1]).update(features))
        return self.real[kind]

    def feature_network(self, name: str, layers: list[str] | None = None) -> torch.nn.Module:
        """A frozen network for perceptual terms, from the same sources as the metrics; built
        once per study. Raises WeightsUnavailable when its weights are missing."""
        from lossbench.metrics.features import FEATURE_NETS, DomainLayers, InceptionLayers

        layers = tuple(layers or FEATURE_NETS[name].default_layers)
        key = (name, layers)
        if key not in self._feature_nets:
            if name == "domain":
                net = DomainLayers(self._extractor("domain").model, layers)
            elif name == "inception":
                net = InceptionLayers(self._extractor("inception").model, layers)
            else:
                from lossbench.metrics.lpips import LPIPSDistance

                net = LPIPSDistance(name.removeprefix("lpips-"), resolved=_weights_for(name, self.weights))
            self._feature_nets[key] = net.to(self.device)
        return self._feature_nets[key]

    # ------------------------------------------------------------ per run
    def paired(self, name: str, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if name == "lpips":
            with torch.no_grad():
                return torch.cat([self.lpips_net(recon[i : i + 100].to(self.device), target[i : i + 100].to(self.device)).double().cpu()
                                  for i in range(0, len(recon), 100)])
        return METRICS[name].fn(recon, target)

    def features(self, kind: str, images: torch.Tensor) -> torch.Tensor:
        """Features of the first N images, for the distribution metrics that use ``kind``."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._extractor(kind)(images[: self.n_for(kind)])

    def distribution(self, name: str, fake: torch.Tensor) -> float:
        """A distribution metric from the features of the generated set (see :meth:`features`)."""
        entry = METRICS[name]
        real_features, real_stats = self._real(entry.features)
        return _score(entry.statistic, real_features, real_stats, fake)

    def sanity_floors(self) -> dict:
        """What a perfect model would score: distribution metrics between two disjoint halves of
        the real test set, LPIPS(x, x) and SSIM(x, x)."""
        out = {}
        x = self.data.test_x
        for name in self.metrics:
            if name in self.unavailable:
                continue
            entry = METRICS[name]
            if entry.kind == "distribution":
                features, _ = self._real(entry.features)
                half = len(features) // 2
                a, b = features[:half], features[half : 2 * half]
                value = _score(entry.statistic, a, FeatureStats(a.shape[1]).update(a), b)
                n = self.n_for(entry.features)
                note = "" if half == n else (f"; the table uses N = {n}, and these estimates are biased "
                                             f"upward at smaller N, so the floor at N = {n} is lower still")
                out[name] = {"value": value, "what": f"two disjoint halves of the real test set ({half} vs {half}){note}"}
            elif name in ("lpips", "ssim"):
                value = float(self.paired(name, x[:64], x[:64]).mean())
                out[name] = {"value": value, "what": f"{name}(x, x) on 64 test images"}
        return out


def _score(statistic: str, real_features: torch.Tensor, real_stats: FeatureStats, fake: torch.Tensor) -> float:
    if statistic == "fd":
        stats = FeatureStats(fake.shape[1]).update(fake)
        return frechet_distance(real_stats.mean, real_stats.cov, stats.mean, stats.cov)
    return kid(real_features, fake, KID_SUBSETS, KID_SUBSET_SIZE)[0]


def evaluate(model, ctx: EvalContext, seed: int):
    """Every requested metric for one trained model: (column -> value, per-image table, how
    samples were made, the reconstructions). Each image set goes through each feature network
    once, however many metrics read its features (fid and kid share Inception's)."""
    recon = reconstruct(model, ctx.data.test_x, ctx.batch_size, ctx.device)
    target = ctx.data.test_x.cpu()
    per_image = pd.DataFrame(index=pd.RangeIndex(len(target), name="image"))
    values: dict[str, float | None] = {}
    samples, how = None, None
    features: dict[tuple[str, str], torch.Tensor] = {}
    for name in ctx.metrics:
        entry = METRICS[name]
        if name in ctx.unavailable:
            values.update({c: None for c in entry.columns(name)})
            continue
        if entry.kind == "paired":
            per_image[name] = ctx.paired(name, recon, target).numpy()
            values[name] = float(per_image[name].mean())
        else:
            if samples is None:
                n = max(ctx.n_for(METRICS[m].features) for m in ctx.metrics if METRICS[m].kind == "distribution")
                samples, how = sample_images(model, ctx.data.train_x, n, seed, ctx.batch_size, ctx.device)
            for which, images in (("recon", recon), ("samples", samples)):
                key = (entry.features, which)
                if key not in features:
                    features[key] = ctx.features(entry.features, images)
                values[f"{name}-{which}"] = ctx.distribution(name, features[key])
    return values, per_image, how, recon


def _weights_for(name: str, explicit: dict, cache=None):
    from lossbench.weights import resolve

    return resolve(name, explicit.get(name), allow_download=False, cache=cache)


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"
