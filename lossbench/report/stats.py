"""Interval arithmetic shared by the tables, the checks and the figures."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def mean_ci(values) -> tuple[float, float]:
    """Mean and the half-width of its 95% Student-t interval (nan for one value). NaNs (no reading) are left
    out; an infinite value is not: a cell with a run beyond a metric's scale (blur's ``inf``: flatter than the
    scale reaches) has an infinite mean and no interval, never the mean of its other runs."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if np.isinf(v).any():
        return (math.inf if (v == math.inf).any() else -math.inf), math.nan
    if len(v) == 0:
        return math.nan, math.nan
    if len(v) == 1:
        return float(v[0]), math.nan
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
