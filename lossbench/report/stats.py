"""Interval arithmetic shared by the tables, the checks and the figures."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def mean_ci(values) -> tuple[float, float]:
    """Mean and the half-width of its 95% Student-t interval (nan for one value)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return math.nan, math.nan
    if len(v) == 1:
        return float(v[0]), math.nan
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
