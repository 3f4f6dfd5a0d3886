"""Every metric of the paradox on (variant, target) pairs, and the agreement statistics."""

from __future__ import annotations

import math

import pandas as pd
import torch
from scipy.stats import binomtest

from lossbench.metrics.ssim import ssim
from lossbench.paradox.variants import ONE_PIXEL, SIX_PIXEL

#: direction of every paradox metric: True if higher means closer to the target / better
HIGHER_IS_BETTER = {"l1": False, "l2": False, "l2_norm": False, "psnr": True, "ssim": True, "lpips": False,
                    "perceptual-domain": False, "judge-discriminator": True, "judge-classifier": True}
#: what each column is, for tables and captions
DESCRIPTIONS = {
    "pixels_changed": "pixels that differ from the target",
    "l1": "L1 distance, sum of |x - t|",
    "l2": "squared L2 distance, sum of (x - t)^2",
    "l2_norm": "L2 norm of x - t",
    "psnr": "PSNR in dB, data range 1, MSE over the 784 pixels",
    "ssim": "SSIM (Gaussian 11x11, sigma 1.5, valid region)",
    "lpips": "LPIPS v0.1 AlexNet (28 px upsampled to 32)",
    "perceptual-domain": "perceptual distance in the domain classifier (conv1, conv2, fc; unit-normalised)",
    "judge-discriminator": "realism logit of the lossbench discriminator (higher: more real)",
    "judge-classifier": "domain classifier's probability of the true class",
}


class Measures:
    """Callable: (variants, targets, labels) -> {metric: per-image tensor}. LPIPS joins when its
    weights are available; ``unavailable`` says why not otherwise."""

    def __init__(self, judges, perceptual, lpips_net=None, lpips_reason: str | None = None):
        self.judges, self.perceptual, self.lpips_net = judges, perceptual, lpips_net
        self.unavailable = {} if lpips_net is not None else {"lpips": lpips_reason or "weights unavailable"}

    @property
    def metrics(self) -> list[str]:
        # l2_norm orders pairs exactly as l2 does: shown in the figure, not repeated in agreement
        return [m for m in HIGHER_IS_BETTER if m not in self.unavailable and m != "l2_norm"]

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        x, t = x.float(), t.float()
        diff = (x - t).flatten(1)
        out = {"pixels_changed": (diff != 0).sum(1).double(),
               "l1": diff.abs().sum(1).double(),
               "l2": diff.square().sum(1).double()}
        out["l2_norm"] = out["l2"].sqrt()
        mse = out["l2"] / diff.shape[1]
        out["psnr"] = 10 * torch.log10(1.0 / mse)  # +inf for the target itself
        out["ssim"] = ssim(x, t).double()
        if self.lpips_net is not None:
            out["lpips"] = self.lpips_net(x, t).double().cpu()
        out["perceptual-domain"] = self.perceptual.values({"x_hat": x}, t).double().cpu()
        for name, value in self.judges.scores(x, labels).items():
            out[name] = value.double()
        return out


def prefers(metric: str, six: float, one: float) -> bool:
    """Does ``metric`` rate the six-pixel image strictly better than the one-pixel image?"""
    return six > one if HIGHER_IS_BETTER[metric] else six < one


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def agreement(values: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """``values``: one row per (digit, kind) with a column per metric. For each metric and pair
    kind, the share of (one-pixel, six-pixel) pairs of the same digit in which the metric prefers
    the six-pixel image (ties count as not preferring), with a 95% Wilson interval.
    Pair kinds: each one-pixel kind against each six-pixel kind, and both one-pixel kinds
    pooled against each six-pixel kind (``one-pixel-vs-extension``, ...)."""
    rows = []
    for metric in metrics:
        wide = values.pivot(index="digit", columns="kind", values=metric)
        for six in SIX_PIXEL:
            pooled = []
            for one in ONE_PIXEL:
                if one not in wide or six not in wide:
                    continue
                pair = wide[[one, six]].dropna()
                wins = [prefers(metric, s, o) for o, s in zip(pair[one], pair[six])]
                pooled += wins
                rows.append(_row(metric, f"{one}-vs-{six}", wins))
            rows.append(_row(metric, f"one-pixel-vs-{six}", pooled))
    return pd.DataFrame(rows, columns=["metric", "pair_kind", "n_pairs", "prefers_six_pixel", "ci_low", "ci_high"])


def _row(metric: str, kind: str, wins: list[bool]) -> dict:
    k, n = int(sum(wins)), len(wins)
    low, high = wilson(k, n)
    return {"metric": metric, "pair_kind": kind, "n_pairs": n, "prefers_six_pixel": k / n if n else math.nan,
            "ci_low": low, "ci_high": high}
