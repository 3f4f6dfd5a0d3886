"""Every metric of the paradox on (variant, target) pairs, and the agreement statistics."""

from __future__ import annotations

import math

import pandas as pd
import torch
import numpy as np

from lossbench.metrics.structural import ssim
from lossbench.paradox.variants import INK_CONTROLS, ONE_PIXEL, SIX_PIXEL

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


#: a judge's score difference below this counts as a near tie (probabilities: under a thousandth)
NEAR_TIE = {"judge-classifier": 1e-3}
BOOTSTRAP = 4000


def prefers(metric: str, six: float, one: float) -> bool:
    """Does ``metric`` rate the six-pixel image strictly better than the one-pixel image?"""
    return six > one if HIGHER_IS_BETTER[metric] else six < one


def margin(metric: str, second, first):
    """How much better ``metric`` rates the second image than the first, in the metric's own units
    (positive: prefers the second)."""
    return np.subtract(second, first) if HIGHER_IS_BETTER[metric] else np.subtract(first, second)


def clustered_bootstrap(groups: list[np.ndarray], n: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean over all pairs when whole groups (one digit's pairs)
    are resampled with replacement: pairs of one digit share that digit, so they are not
    independent draws, and an interval that treats them as such (pooled Wilson) is too narrow.
    A resample's mean is its groups' summed values over their summed counts."""
    if not groups:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    sums = np.array([g.sum() for g in groups], dtype=float)
    counts = np.array([len(g) for g in groups], dtype=float)
    pick = rng.integers(0, len(groups), (n, len(groups)))
    means = sums[pick].sum(1) / counts[pick].sum(1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def _compare(metric: str, wide: pd.DataFrame, firsts: list[str], second: str, name: str, label: str, seed: int) -> dict:
    """Same-digit pairs (first kind, second kind): the share preferring the second (ties count as
    not preferring), its clustered-bootstrap interval, and the mean margin with its interval."""
    wins, margins = [], []
    for _, row in wide.iterrows():
        w, m = [], []
        for first in firsts:
            if first in row and second in row and pd.notna(row[first]) and pd.notna(row[second]):
                w.append(prefers(metric, row[second], row[first]))
                m.append(float(margin(metric, row[second], row[first])))
        if w:
            wins.append(np.array(w, dtype=float))
            margins.append(np.array(m))
    n_pairs = int(sum(len(w) for w in wins))
    share = float(np.concatenate(wins).mean()) if wins else math.nan
    low, high = clustered_bootstrap(wins, seed=seed)
    mean_margin = float(np.concatenate(margins).mean()) if margins else math.nan
    m_low, m_high = clustered_bootstrap(margins, seed=seed)
    tie = NEAR_TIE.get(metric)
    near = float((np.abs(np.concatenate(margins)) < tie).mean()) if tie and margins else math.nan
    ties = float((np.concatenate(margins) == 0).mean()) if margins else math.nan
    return {"metric": metric, "pair_kind": name, "n_pairs": n_pairs, label: share, "ci_low": low, "ci_high": high,
            "n_digits": len(wins), "margin": mean_margin, "margin_low": m_low, "margin_high": m_high, "ties": ties,
            "near_ties": near}


def agreement(values: pd.DataFrame, metrics: list[str], seed: int = 0) -> pd.DataFrame:
    """``values``: one row per (digit, kind) with a column per metric. For each metric and pair
    kind, the share of (one-pixel, six-pixel) pairs of the same digit in which the metric prefers
    the six-pixel image (ties count as not preferring), with a 95% interval by bootstrap over digits
    (clustered: a digit's pairs go together), the mean margin (six minus one, oriented so that
    positive prefers six, in the metric's units) with its interval, and the share of near ties
    where NEAR_TIE defines one. Pair kinds: each one-pixel kind against each six-pixel kind, and
    both one-pixel kinds pooled against each six-pixel kind (``one-pixel-vs-extension``, ...)."""
    rows = []
    for metric in metrics:
        wide = values.pivot(index="digit", columns="kind", values=metric)
        for six in SIX_PIXEL:
            for one in ONE_PIXEL:
                rows.append(_compare(metric, wide, [one], six, f"{one}-vs-{six}", "prefers_six_pixel", seed))
            rows.append(_compare(metric, wide, list(ONE_PIXEL), six, f"one-pixel-vs-{six}", "prefers_six_pixel", seed))
    return pd.DataFrame(rows, columns=["metric", "pair_kind", "n_pairs", "prefers_six_pixel", "ci_low", "ci_high",
                                       "n_digits", "margin", "margin_low", "margin_high", "ties", "near_ties"])


def judge_controls(values: pd.DataFrame, metrics: list[str], seed: int = 0) -> pd.DataFrame:
    """Ink-matched controls: for each metric, the share of digits in which it prefers the
    extension over six scattered strays and over a detached 2×3 block (all three add six pixels),
    with the clustered interval and the mean margin. ``whole_image``: the metric prefers the
    extension over both controls (each interval above one half): it does more than count ink."""
    rows = []
    for metric in metrics:
        wide = values.pivot(index="digit", columns="kind", values=metric)
        for control in INK_CONTROLS:
            rows.append(_compare(metric, wide, [control], "extension", f"{control}-vs-extension", "prefers_extension", seed))
    table = pd.DataFrame(rows).rename(columns={"pair_kind": "control"})
    table["control"] = table["control"].str.removesuffix("-vs-extension")
    table["whole_image"] = table.groupby("metric")["ci_low"].transform(lambda low: bool((low > 0.5).all()))
    return table
