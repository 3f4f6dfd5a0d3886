"""Report analyses on hand-made cases: Kendall τ between metric rankings, the Pareto front,
Holm adjustment, paired comparisons, LaTeX escaping."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lossbench.report.analysis import holm, latex_escape, metric_agreement, pareto_front, summary_tex


def _agg(**columns):
    n = len(next(iter(columns.values())))
    data = {"model": ["m"] * n, "condition": [f"c{i}" for i in range(n)], "n": [2] * n}
    for name, values in columns.items():
        data[name] = values
        data[f"{name}_ci"] = [math.nan] * n
    return pd.DataFrame(data)


def test_kendall_tau_on_a_hand_made_ranking():
    # four cells; mse (lower better) and psnr (higher better) agree perfectly; ssim reverses psnr
    # except for one swapped pair: tau = (concordant - discordant) / 6 = (1 - 5) / 6
    agg = _agg(mse=[0.01, 0.02, 0.03, 0.04], psnr=[30.0, 25.0, 20.0, 15.0], ssim=[0.2, 0.1, 0.3, 0.4])
    tau = metric_agreement(agg, ["mse", "psnr", "ssim"])
    assert tau.loc["mse", "psnr"] == pytest.approx(1.0)
    assert tau.loc["mse", "mse"] == pytest.approx(1.0)
    # ssim (higher better) ranks c3 > c2 > c0 > c1; psnr ranks c0 > c1 > c2 > c3:
    # pairs (c0,c1) agree; the other five disagree
    assert tau.loc["psnr", "ssim"] == pytest.approx((1 - 5) / 6)
    assert tau.loc["ssim", "psnr"] == tau.loc["psnr", "ssim"]


def test_pareto_front_on_a_hand_made_set():
    points = [(1.0, 5.0), (2.0, 3.0), (3.0, 3.5), (4.0, 1.0), (2.5, 2.0), (5.0, 5.0), (1.0, 6.0), (math.nan, 0.0)]
    # (3, 3.5) is beaten by (2, 3) and (2.5, 2); (5, 5) by many; (1, 6) by (1, 5); nan is left out;
    # (2, 3) survives: nobody is <= 2 and <= 3 except itself
    assert pareto_front(points) == [0, 1, 4, 3]
    assert pareto_front([(1.0, 1.0), (1.0, 1.0)]) == [0, 1]  # equal points do not dominate each other


def test_holm_adjustment_by_hand():
    # sorted p: 0.01 (x3), 0.02 (x2), 0.04 (x1) -> 0.03, 0.04, 0.04 (monotone)
    assert holm([0.04, 0.01, 0.02, math.nan]) == pytest.approx([0.04, 0.03, 0.04, math.nan], nan_ok=True)
    assert holm([0.9, 0.5]) == pytest.approx([1.0, 1.0])


def test_latex_table_escapes_and_marks():
    agg = _agg(mse=[0.01, 0.02, 0.03])
    agg["mse_ci"] = 0.001
    agg.loc[0, "condition"] = "l2+perc_x"
    tex = summary_tex(agg, ["mse"], {("m", "c1")}, "my_study")
    # bold: the best unflagged cell, clear of the runner-up (c1 is flagged, so c2 is the runner-up)
    assert r"l2+perc\_x" in tex and r"\textbf{0.0100 $\pm$ 0.0010}" in tex and r"c1$^\dagger$" in tex
    assert r"my\_study" in tex and r"\toprule" in tex
    assert latex_escape("50%_&$") == r"50\%\_\&\$"


def test_detectable_effect_against_the_normal_approximation_and_by_simulation():
    from lossbench.report.analysis import detectable_effect

    # for many seeds the paired t-test tends to the z-test: delta = (z_0.975 + z_0.8) sd / sqrt(n)
    assert detectable_effect(2.0, 400) == pytest.approx((1.959964 + 0.841621) * 2.0 / 20, rel=0.01)
    # for few seeds, a simulation of the t-test at that effect rejects 80% of the time
    rng = np.random.default_rng(0)
    for n in (2, 5):
        d = rng.normal(detectable_effect(1.0, n), 1.0, size=(40000, n))
        t = d.mean(1) / (d.std(1, ddof=1) / np.sqrt(n))
        assert (np.abs(t) > stats.t.ppf(0.975, n - 1)).mean() == pytest.approx(0.8, abs=0.01)
    assert detectable_effect(1.0, 5) == pytest.approx(2 * detectable_effect(0.5, 5))
    assert np.isnan(detectable_effect(1.0, 1)) and detectable_effect(0.0, 5) == 0.0
