"""What a run's code space looks like, stored beside its metrics for the report's figures.

``latent.pt`` (small; committed with results) holds, for the held-out split: the codes (the
VAE's posterior means), the labels, the KL of each latent dimension (VAEs), decoded random
codes under every scheme that applies, and for 3-d codes the traversal grids of the seed
study: one coordinate fixed, the other two swept over the range the data occupies.

Random codes ("what does a random code decode to?"), every draw seeded. Comparing an AE with a
VAE needs the *same* sampler for both, so the default scheme, behind every ``-samples`` column,
is ex post for both models: a Gaussian fitted (mean, full covariance) to the codes of the
training images (a VAE's posterior means). Beside it: for an AE, codes uniform in the training
codes' bounding box; for a VAE, its prior N(0, I) and its aggregate posterior (a training image
at random, then z ~ q(z|x)). Holes in the aggregate posterior, where the prior puts mass, are the
usual reason prior samples look worse than ex-post ones (Ghosh et al. 2020, "From variational
to deterministic autoencoders").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from lossbench.store.columns import DEFAULT_SCHEME, SAMPLES, SCHEMES, on_set  # noqa: F401  (SCHEMES: lossbench.score.latent.SCHEMES, as before)


N_RANDOM = 32  # decoded random codes stored per scheme
TRAVERSAL_STEPS = 10  # grid side
TRAVERSAL_QUANTILES = (0.1, 0.5, 0.9)  # values of the fixed coordinate: quantiles of the data's codes
RANGE_QUANTILES = (0.01, 0.99)  # the swept coordinates cover this range of the data's codes
ACTIVE_NATS = 0.01  # a latent unit is active when its mean KL exceeds this (Burda et al. 2016 use a variance test)


@torch.no_grad()
def codes(model, x: torch.Tensor, batch_size: int, device) -> dict[str, torch.Tensor]:
    """Posterior means (``mu``; ``z`` for an AE) and, for a VAE, log-variances, on the CPU."""
    was = model.training
    model.eval()
    parts = [model.encode(x[i : i + batch_size].to(device)) for i in range(0, len(x), batch_size)]
    model.train(was)
    out = {"mu": torch.cat([p.get("mu", p["z"]).float().cpu() for p in parts])}
    if "logvar" in parts[0]:
        out["logvar"] = torch.cat([p["logvar"].float().cpu() for p in parts])
    return out


if TYPE_CHECKING:  # the evaluation context calls into this module; a type only, not an import cycle
    from lossbench.score.evaluate import EvalContext


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Mean over images of KL(N(mu, exp(logvar)) || N(0, 1)) for each latent dimension, nats."""
    return (0.5 * (mu.square() + logvar.exp() - 1 - logvar)).mean(0)


@torch.no_grad()
def decode(model, z: torch.Tensor, batch_size: int, device) -> torch.Tensor:
    was = model.training
    model.eval()
    out = torch.cat([model.to_image(model.decode(z[i : i + batch_size].float().to(device))).float().cpu()
                     for i in range(0, len(z), batch_size)])
    model.train(was)
    return out




def random_codes(model, train_codes: dict[str, torch.Tensor], n: int, seed: int) -> dict[str, torch.Tensor]:
    """scheme -> n codes (float64): gaussian, then prior and aggregate for a VAE, uniform for an AE; ``train_codes``
    as :func:`codes` returns them for the training images. The default scheme's draws come
    first from the seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    c = train_codes["mu"].double()
    d = c.shape[1]
    mean, cov = c.mean(0), torch.cov(c.T).reshape(d, d)
    chol = torch.linalg.cholesky(cov + 1e-6 * torch.eye(d, dtype=torch.float64))
    out = {"gaussian": mean + torch.randn(n, d, generator=gen, dtype=torch.float64) @ chol.T}
    if getattr(model, "variational", False):
        out["prior"] = torch.randn(n, d, generator=gen, dtype=torch.float64)
        pick = torch.randint(0, len(c), (n,), generator=gen)
        std = torch.exp(0.5 * train_codes["logvar"].double()[pick])
        out["aggregate"] = c[pick] + std * torch.randn(n, d, generator=gen, dtype=torch.float64)
    else:
        low, high = c.min(0).values, c.max(0).values
        out["uniform"] = low + torch.rand(n, d, generator=gen, dtype=torch.float64) * (high - low)
    return out


def traversal_grid(data_codes: torch.Tensor, fixed_dim: int, fixed_value: float, steps: int = TRAVERSAL_STEPS) -> torch.Tensor:
    """steps × steps codes: ``fixed_dim`` held at ``fixed_value``, the other two swept from the
    1st to the 99th percentile of the data's codes. Row i varies the first free coordinate."""
    free = [k for k in range(data_codes.shape[1]) if k != fixed_dim]
    lo = torch.quantile(data_codes[:, free].double(), RANGE_QUANTILES[0], dim=0)
    hi = torch.quantile(data_codes[:, free].double(), RANGE_QUANTILES[1], dim=0)
    a = torch.linspace(float(lo[0]), float(hi[0]), steps, dtype=torch.float64)
    b = torch.linspace(float(lo[1]), float(hi[1]), steps, dtype=torch.float64)
    grid = torch.zeros(steps, steps, data_codes.shape[1], dtype=torch.float64)
    grid[..., fixed_dim] = fixed_value
    grid[..., free[0]] = a[:, None]
    grid[..., free[1]] = b[None, :]
    return grid.reshape(steps * steps, -1)


@torch.no_grad()
def bernoulli_nll(model, mu: torch.Tensor, x: torch.Tensor, batch_size: int, device) -> float:
    """Mean over images of -log p(x | z = mu) under the decoder's Bernoulli pixels, nats per image."""
    total = 0.0
    for i in range(0, len(x), batch_size):
        logits = model.decode(mu[i : i + batch_size].to(device)).float()
        target = x[i : i + batch_size].to(device).float()
        total += float(F.binary_cross_entropy_with_logits(logits, target, reduction="sum"))
    return total / len(x)


def _uint8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def latent_artifacts(model, ctx: EvalContext, seed: int, train: dict[str, torch.Tensor]) -> tuple[dict, dict[str, float]]:
    """(what latent.pt holds, extra metric values). ``train``: :func:`codes` of the training
    images. The extra values: every Fréchet metric of the study (fd-domain, fd-judge, fid) for
    each random-code scheme other than the default (``fd-judge-uniform`` for an AE;
    ``-prior`` and ``-aggregate`` for a VAE; the default's is the ``-samples`` column), and a
    VAE's rate (total KL, nats), distortion (sigmoid output) and active units."""
    from lossbench.metrics import METRICS

    data, device, bs = ctx.data, ctx.device, ctx.batch_size
    test = codes(model, data.test_x, bs, device)
    out: dict = {"mu": test["mu"], "labels": data.test_y.clone() if data.test_y is not None else None}
    extra: dict[str, float] = {}
    if "logvar" in test:
        per_dim = kl_per_dim(test["mu"], test["logvar"])
        out["kl_per_dim"] = per_dim
        extra["rate"] = float(per_dim.sum())
        extra["active_units"] = int((per_dim > ACTIVE_NATS).sum())
        if model.output == "sigmoid":  # a Bernoulli decoder; a linear output defines no likelihood here
            extra["distortion"] = bernoulli_nll(model, test["mu"], data.test_x, bs, device)
    scored = [m for m in ctx.metrics if METRICS[m].kind == "distribution" and METRICS[m].statistic == "fd"
              and ctx.computes(m)]
    n = max([N_RANDOM] + [ctx.n_for(METRICS[m].feature_kind) for m in scored])
    schemes = random_codes(model, train, n, seed)
    decoded_random: dict[str, torch.Tensor] = {}
    out["random"] = decoded_random
    for scheme, z in schemes.items():
        # the default scheme's metrics are the -samples columns already: only its pictures here
        extra_scheme = scheme != DEFAULT_SCHEME and scored
        images = decode(model, z if extra_scheme else z[:N_RANDOM], bs, device)
        decoded_random[scheme] = _uint8(images[:N_RANDOM])
        if extra_scheme:
            features: dict[str, torch.Tensor] = {}
            for metric in scored:
                kind = METRICS[metric].feature_kind
                if kind not in features:
                    features[kind] = ctx.features(kind, images)
                extra[on_set(metric, SAMPLES, scheme).name] = ctx.distribution(metric, features[kind])
    if test["mu"].shape[1] == 3:
        # the seed study's figure: the first coordinate fixed at three values, the others swept
        grids = []
        values = torch.quantile(train["mu"][:, 0].double(), torch.tensor(TRAVERSAL_QUANTILES, dtype=torch.float64))
        for q, v in zip(TRAVERSAL_QUANTILES, values.tolist()):
            z = traversal_grid(train["mu"], 0, v)
            grids.append({"fixed_dim": 0, "fixed_value": v, "quantile": q, "images": _uint8(decode(model, z, bs, device))})
        out["traversal"] = grids
    return out, extra


@torch.no_grad()
def sample_images(model, train_codes: dict, n: int, seed: int, batch_size: int, device) -> tuple[torch.Tensor, str]:
    """``n`` generated images and how they were made: the same ex-post sampler for an AE and a
    VAE, decoded draws from a Gaussian fitted (mean, full covariance) to the codes of the
    training images (a VAE's posterior means); :data:`SCHEMES` names the other schemes."""
    z = random_codes(model, train_codes, n, seed)[DEFAULT_SCHEME]
    return decode(model, z, batch_size, device), SCHEMES[DEFAULT_SCHEME]
