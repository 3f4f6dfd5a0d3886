"""Proofs that a loss term computes what its name says (issue 40 §2), for every term of
:data:`lossbench.losses.LOSS_TERMS` and every feature network of :data:`lossbench.metrics.features.FEATURE_NETS`.

The complaint users of the peer tools raise most is silent wrongness: weights that fail to load and give
random values, a NaN gradient when a metric becomes a loss, a wrong input range, numbers that depend on the
batch. Each function here returns the failures it finds, one line each, naming the term (an empty list: the
term holds); ``tests/test_proofs.py`` runs them over the registries in the fast suite, so a term or network
added to a registry is covered by adding it, and a user can call them on a term of their own:
``prove_term(Case("my-term", {"term": "my-term"}))``.

For each term:

- its value equals an **independent reference** where one exists (torch's own losses, numpy formulas,
  scikit-image's SSIM, torchmetrics' MS-SSIM, scipy's convolution, cosine similarity for the feature distance,
  the adversarial losses' formulas) and its **stated minimum at x̂ = x** (0 for a distance; the binary entropy
  of x for bce; none for an adversarial term, whose value depends on its critic);
- its **gradients are finite** at x̂ = x, at constant images, at all-0 and all-1 images and at the range's
  edges (x̂ = 0 against x = 1 and back), and **non-zero** where the value can still decrease;
- **targets outside [0, 1], or of a channel count its network cannot read, are refused** in one line
  (:meth:`lossbench.losses.base.Term.check_images`), never silently rescaled;
- its per-image values **do not depend on the batch**: not on its size, not on its order.

For each feature network, each named layer yields a tensor of its documented shape
(:attr:`lossbench.metrics.features.FeatureNetEntry.shapes`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

#: relative and absolute tolerance of a value against its reference (float32 arithmetic against float64 references)
RTOL, ATOL = 1e-4, 1e-5


@dataclass
class Case:
    """A term to prove: its name in :data:`LOSS_TERMS`, the spec it is built with, the images it is proved on,
    its independent reference ``(out, x) -> per-image values`` (None: no independent implementation exists here,
    said in ``why_no_reference``) and its stated minimum at x̂ = x ``x -> per-image values`` (None: it has none)."""

    name: str
    spec: dict
    shape: tuple[int, int, int] = (1, 28, 28)
    reference: Callable | None = None
    minimum: Callable | None = None
    why_no_reference: str = ""
    batch: int = 6
    skip: str = ""  # why this case cannot be proved on this machine (missing weights)
    extra: dict = field(default_factory=dict)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().cpu().numpy()


def _per_image(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a.reshape(len(a), -1).sum(1))


def _zero(x: torch.Tensor) -> torch.Tensor:
    return torch.zeros(len(x), dtype=torch.float64)


def _skimage_ssim(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    from skimage.metrics import structural_similarity

    values = []
    for a, b in zip(_np(x_hat), _np(x)):
        values.append(np.mean([structural_similarity(a[c], b[c], data_range=1.0, gaussian_weights=True, sigma=1.5,
                                                     use_sample_covariance=False) for c in range(a.shape[0])]))
    return torch.tensor(values, dtype=torch.float64)


def _torchmetrics_ms_ssim(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as ms

    return ms(x_hat.double(), x.double(), data_range=1.0, reduction="none").double()


def _gaussian_l1(x_hat: torch.Tensor, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """scipy's 'valid' convolution of |x̂ − x| with a normalised 11×11 Gaussian, averaged per image."""
    from scipy.signal import convolve2d

    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * sigma**2))
    window = np.outer(g / g.sum(), g / g.sum())
    d = np.abs(_np(x_hat) - _np(x))
    return torch.tensor([np.mean([convolve2d(img[c], window, mode="valid").mean() for c in range(img.shape[0])])
                         for img in d], dtype=torch.float64)


def _ffl_reference(out, x, **options) -> torch.Tensor:
    """The authors' package (focal_frequency_loss) on each image alone: its batch mean is then that image's value."""
    from focal_frequency_loss import FocalFrequencyLoss

    ffl = FocalFrequencyLoss(**options)
    with torch.no_grad():
        return torch.stack([ffl(out["x_hat"][i : i + 1].float(), x[i : i + 1].float()) for i in range(len(x))]).double()


def _piq(name: str, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """piq's function of that name, per image (its own implementation, validated by piq against the authors')."""
    import piq

    with torch.no_grad():
        return getattr(piq, name)(x_hat.detach().float(), x.float(), data_range=1.0, reduction="none").double()


def _feature_reference(network) -> Callable:
    """The perceptual distance from cosine similarity: per layer and position, |â − b̂|² = 2 − 2 cos(a, b) for
    two non-zero vectors, 1 when one of them is zero, 0 when both are; averaged over positions, then layers."""

    def reference(out, x):
        with torch.no_grad():
            per_layer = []
            for a, b in zip(network(out["x_hat"].double().float()), network(x.float())):
                a, b = a.double(), b.double()
                cos = F.cosine_similarity(a, b, dim=1, eps=1e-300)
                za, zb = a.norm(dim=1) == 0, b.norm(dim=1) == 0
                d = torch.where(za & zb, 0.0, torch.where(za | zb, 1.0, 2 - 2 * cos))
                per_layer.append(d.flatten(1).mean(1))
            return torch.stack(per_layer).mean(0)

    return reference


def _adversarial_reference(kind: str) -> Callable:
    """The generator's loss on the critic's patch scores, as the papers write it, averaged over patches:
    hinge and Wasserstein −D (Lim & Ye 2017; Arjovsky et al. 2017), non-saturating −log σ(D) (Goodfellow et
    al. 2014), least squares (D − 1)² (Mao et al. 2017)."""

    def reference(out, x, term):
        d = term._attached()[0]
        with torch.no_grad():
            s = _np(d(out["x_hat"].float()))
        per = {"hinge": -s, "wasserstein": -s, "non-saturating": np.log1p(np.exp(-s)), "least-squares": (s - 1) ** 2}[kind]
        return torch.from_numpy(per.mean(1))

    return reference


def cases() -> list[Case]:
    """One case per registered term at its defaults, and the variants whose arithmetic differs (lp with
    p < 1, every adversarial loss, mix on images large enough for MS-SSIM)."""
    from lossbench.losses import LOSS_TERMS
    from lossbench.metrics.windows import MS_SSIM_MIN_SIDE

    side = MS_SSIM_MIN_SIDE
    out = [
        Case("l1", {"term": "l1"}, reference=lambda o, x: _per_image(np.abs(_np(o["x_hat"]) - _np(x))), minimum=_zero),
        Case("l2", {"term": "l2"}, reference=lambda o, x: F.mse_loss(o["x_hat"].double(), x.double(), reduction="none")
             .flatten(1).sum(1), minimum=_zero),
        Case("l2 (mean)", {"term": "l2", "reduction": "mean"},
             reference=lambda o, x: F.mse_loss(o["x_hat"].double(), x.double(), reduction="none").flatten(1).mean(1),
             minimum=_zero),
        Case("lp (p=3)", {"term": "lp", "p": 3.0}, reference=lambda o, x: _per_image(np.abs(_np(o["x_hat"]) - _np(x)) ** 3),
             minimum=_zero),
        Case("lp (p=0.5)", {"term": "lp", "p": 0.5},
             reference=lambda o, x: _per_image(np.abs(_np(o["x_hat"]) - _np(x)) ** 0.5), minimum=_zero),
        Case("bce", {"term": "bce"},
             reference=lambda o, x: _per_image(np.logaddexp(0, _np(o["logits"])) - _np(x) * _np(o["logits"])),
             minimum=lambda x: _per_image(-(xs := np.clip(_np(x), 1e-12, 1 - 1e-12)) * np.log(xs)
                                          - (1 - xs) * np.log(1 - xs))),
        Case("kl", {"term": "kl"}, reference=lambda o, x: torch.from_numpy(
            0.5 * (_np(o["mu"]) ** 2 + np.exp(_np(o["logvar"])) - 1 - _np(o["logvar"])).sum(1)), minimum=_zero),
        Case("ssim", {"term": "ssim"}, reference=lambda o, x: 1 - _skimage_ssim(o["x_hat"], x), minimum=_zero),
        Case("ms-ssim", {"term": "ms-ssim"}, shape=(1, side, side), batch=3,
             reference=lambda o, x: 1 - _torchmetrics_ms_ssim(o["x_hat"], x), minimum=_zero),
        Case("mix", {"term": "mix"}, reference=lambda o, x: 0.84 * (1 - _skimage_ssim(o["x_hat"], x))
             + 0.16 * _gaussian_l1(o["x_hat"], x, 1.5), minimum=_zero),
        Case("mix (ms-ssim)", {"term": "mix"}, shape=(1, side, side), batch=3,
             reference=lambda o, x: 0.84 * (1 - _torchmetrics_ms_ssim(o["x_hat"], x)) + 0.16 * _gaussian_l1(o["x_hat"], x, 1.5),
             minimum=_zero),
        Case("focal-frequency", {"term": "focal-frequency"}, reference=_ffl_reference, minimum=_zero),
        Case("focal-frequency (patches, log)", {"term": "focal-frequency", "patch_factor": 2, "log_matrix": True},
             reference=lambda o, x: _ffl_reference(o, x, patch_factor=2, log_matrix=True), minimum=_zero),
        Case("gmsd", {"term": "gmsd"}, reference=lambda o, x: _piq("gmsd", o["x_hat"], x), minimum=_zero),
        Case("gmsd (RGB)", {"term": "gmsd"}, shape=(3, 28, 28), reference=lambda o, x: _piq("gmsd", o["x_hat"], x),
             minimum=_zero),
        Case("perceptual (domain)", {"term": "perceptual", "network": "domain"}, minimum=_zero),
        Case("perceptual (domain, fc)", {"term": "perceptual", "network": "domain", "layers": ["fc"]}, minimum=_zero),
    ]
    from lossbench.metrics.features import FEATURE_NETS

    for network, entry in FEATURE_NETS.items():  # the calibrated distances, with their pretrained weights where present
        if entry.distance:
            out.append(Case(f"perceptual ({network})", {"term": "perceptual", "network": network}, shape=(1, 32, 32),
                            batch=4, minimum=_zero, why_no_reference="pinned to its published values in tests/test_lpips.py and "
                            "tests/test_lpips_offline.py"))
    for kind in ("hinge", "non-saturating", "least-squares", "wasserstein"):
        spec = {"term": "adversarial", "loss": kind, **({"spectral_norm": True} if kind == "wasserstein" else {})}
        out.append(Case(f"adversarial ({kind})", spec, reference=_adversarial_reference(kind)))
    named = {c.spec["term"] for c in out}
    for name in LOSS_TERMS:  # a term registered later (a user's) is proved at its defaults, with no reference
        if name not in named:
            out.append(Case(name, {"term": name}, why_no_reference="no independent reference is known to lossbench"))
    return out


def _build(case: Case, networks):
    from lossbench.losses import LOSS_TERMS
    from lossbench.losses.base import Term

    entry = LOSS_TERMS[case.spec["term"]]
    spec = entry.spec(**case.spec).resolve(case.shape[-1])  # as a run builds it: the defaults for these images filled in
    cls: type[Term] = entry.cls
    term: Any = cls.from_spec(spec, networks)  # Any: a critic's attach and started_at are not Term's
    if hasattr(term, "attach"):  # a critic: its discriminator, built for this image shape
        from torch import nn

        class Probe(nn.Module):  # the one layer an adaptive weight reads
            def __init__(self):
                super().__init__()
                self.last_layer = nn.Conv2d(1, 1, 1)

        term.attach(Probe(), case.shape, "cpu")
        term.started_at = 0
    return term.eval()  # the critic's spectral norm too: no power iteration between two calls


def _out(x_hat: torch.Tensor, prior: bool = False) -> dict[str, torch.Tensor]:
    """A model's output dict around ``x_hat``: logits (for bce, x̂ = σ(logits)), and a posterior (for kl) that is a
    function of each image alone (so a batch's order or size cannot change it), or, with ``prior``, the prior itself."""
    eps = 1e-6
    logits = torch.logit(x_hat.detach().clamp(eps, 1 - eps)).requires_grad_(x_hat.requires_grad)
    flat = x_hat.detach().flatten(1)
    mu = (2 * flat[:, :3] - 1) * (0 if prior else 1)
    logvar = (0.6 * flat[:, 3:6] - 0.3) * (0 if prior else 1)
    mu, logvar = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    return {"x_hat": x_hat, "decoded": x_hat, "logits": logits, "z": mu, "mu": mu, "logvar": logvar}


def _values(term, out, x) -> torch.Tensor:
    return term.values(out, x)


def default_networks(name: str, layers):
    """Feature networks for proofs: the domain classifier's architecture with untrained weights (the proofs are
    of arithmetic, not of a training run); other networks are left to their own tests."""
    from lossbench.metrics.domain import DomainNet
    from lossbench.metrics.feature_layers import DomainLayers
    from lossbench.metrics.features import FEATURE_NETS

    entry = FEATURE_NETS[name]
    if entry.distance:  # LPIPS, DISTS: their pretrained weights (WeightsUnavailable where this machine has none)
        from lossbench.nets.bank import FeatureBank

        class Images:  # a bank that only resolves weights reads no data
            test_x = torch.zeros(1, 1, 32, 32)

        return resolved_build(entry)(FeatureBank(Images(), "cpu"), None)
    if name != "domain":
        raise LookupError(f"no proof network for {name}")
    torch.manual_seed(0)
    return DomainLayers(DomainNet(1, (28, 28), 10), list(layers))


def resolved_build(entry):
    from lossbench.core.lazy import resolved

    return resolved(entry.build)


def prove_term(case: Case, networks=default_networks) -> list[str]:
    """Every proof of the module docstring for one term; the failures, one line each, named ``case.name``."""
    from lossbench.core.errors import LossbenchError

    if case.skip:
        return []
    failures: list[str] = []
    term = _build(case, networks)
    g = torch.Generator().manual_seed(1)
    n, shape = case.batch, case.shape
    x = torch.rand(n, *shape, generator=g)
    x_hat = (x + 0.2 * torch.randn(n, *shape, generator=g)).clamp(0, 1)
    name = case.name
    # 1. the value against the reference; the minimum at x_hat = x
    out = _out(x_hat)
    got = _values(term, out, x).double()
    if got.shape != (n,):
        failures.append(f"{name}: gives values of shape {tuple(got.shape)}, not one per image ({n})")
        return failures
    if case.reference is not None:
        args = (out, x, term) if case.spec["term"] == "adversarial" else (out, x)
        ref = case.reference(*args).double()
        if not torch.allclose(got, ref, rtol=RTOL, atol=ATOL):
            failures.append(f"{name}: differs from its independent reference by up to {float((got - ref).abs().max()):.2e}")
    if case.minimum is not None:  # at x_hat = x (kl, which does not read x_hat: at the prior)
        at_x = _values(term, _out(x.clone(), prior=case.spec["term"] == "kl"), x).double()
        expected = case.minimum(x).double()
        if not torch.allclose(at_x, expected, rtol=RTOL, atol=1e-4):
            failures.append(f"{name}: at x_hat = x gives {float(at_x.max()):.3g}, not its stated minimum {float(expected.max()):.3g}")
    # 2. finite gradients where arithmetic breaks first; non-zero where the value can still decrease
    half = torch.full((n, *shape), 0.5)
    places = {"x_hat = x": (x, x), "constant images": (half, half), "all 0": (torch.zeros_like(x), torch.zeros_like(x)),
              "all 1": (torch.ones_like(x), torch.ones_like(x)), "x_hat 0 against x 1": (torch.zeros_like(x), torch.ones_like(x)),
              "x_hat 1 against x 0": (torch.ones_like(x), torch.zeros_like(x))}
    for where, (a, b) in places.items():
        a = a.clone().requires_grad_(True)
        o = _out(a)
        value = _values(term, o, b).sum()
        inputs = [t for t in (o["x_hat"], o["logits"], o["mu"], o["logvar"]) if t.requires_grad]
        grads = torch.autograd.grad(value, inputs, allow_unused=True)
        if not torch.isfinite(value) or any(gr is not None and not torch.isfinite(gr).all() for gr in grads):
            failures.append(f"{name}: a non-finite value or gradient at {where}")
    a = x_hat.clone().requires_grad_(True)
    o = _out(a)
    value = _values(term, o, x).sum()
    reads = "logits" if case.spec["term"] == "bce" else "mu" if case.spec["term"] == "kl" else "x_hat"
    (grad,) = torch.autograd.grad(value, [o[reads]], allow_unused=True)
    if grad is None or not bool((grad.flatten(1).abs().sum(1) > 0).all()):
        failures.append(f"{name}: no gradient reaches {reads} for some image where the value can still decrease")
    # 3. targets it cannot read are refused in one line, never rescaled
    for bad, why in ((x * 2, "targets above 1"), (x - 1, "targets below 0")):
        try:
            term.check_images(bad)
            failures.append(f"{name}: accepts {why} (its documented range is [0, 1])")
        except LossbenchError as exc:
            if "\n" in str(exc):
                failures.append(f"{name}: refuses {why} in more than one line")
    # 4. one value per image, whatever the batch: its size and its order
    perm = torch.randperm(n, generator=g)
    full = _values(term, _out(x_hat), x).double()
    shuffled = _values(term, _out(x_hat[perm]), x[perm]).double()
    part = _values(term, _out(x_hat[:2]), x[:2]).double()
    if not (torch.allclose(full[perm], shuffled, rtol=1e-5, atol=1e-6) and torch.allclose(full[:2], part, rtol=1e-5, atol=1e-6)):
        failures.append(f"{name}: an image's value depends on the batch it is in (its size or its order)")
    return failures


def prove_feature_network(name: str, build: Callable | None = None) -> list[str]:
    """Each named layer of feature network ``name`` yields a tensor of its documented shape
    (``FeatureNetEntry.shapes(channels, side)``), on the network's architecture (``build(layers)``, default:
    :func:`default_networks`)."""
    from lossbench.metrics.features import FEATURE_NETS

    entry = FEATURE_NETS[name]
    if not entry.layers:
        return []
    if entry.shapes is None:
        return [f"{name}: its layers have no documented shapes (FeatureNetEntry.shapes)"]
    build = build or (lambda layers: default_networks(name, layers))
    failures = []
    side = 28
    x = torch.rand(2, 1, side, side)
    documented = entry.shapes(1, side)
    for layer in entry.layers:
        got = [tuple(t.shape[1:]) for t in build([layer])(x)]
        if got != [documented.get(layer)]:
            failures.append(f"{name}: layer {layer} yields {got}, documented {documented.get(layer)}")
    return failures
