"""The perception-distortion report (lossbench.report.trade_off) on hand-made runs whose answer is
known: a sweep is found from the configurations alone, steps are paired by seed, and the verdict
says yes only where every paired interval lies on one side of 0."""

from __future__ import annotations

import numpy as np
import pytest
import pandas as pd
import yaml

from lossbench.report.trade_off import (bound_lines, bound_table, paired_steps, sweep_key, sweep_runs, trade_off_table,
                                       verdict_lines)


def _terms(weight):
    return [{"term": "l2", "label": "l2", "weight": 1.0},
            {"term": "adversarial", "label": "adversarial", "weight": weight, "start": "plateau", "adaptive": True}]


def _study(tmp_path, fd_by_weight: dict, mse_by_weight: dict, latent=2, model="z2", noise=0.0):
    rows = []
    rng = np.random.default_rng(0)
    for w in fd_by_weight:
        for seed in range(5):
            run_id = f"{model}-{w}-{seed}"
            (tmp_path / "runs" / run_id).mkdir(parents=True)
            config = {"model": {"name": "ae-conv", "label": model, "latent_dim": latent},
                      "condition": {"name": f"adv{w}", "terms": _terms(w)}, "seed": seed}
            (tmp_path / "runs" / run_id / "config.yaml").write_text(yaml.safe_dump(config))
            rows.append({"run_id": run_id, "model": model, "condition": f"adv{w}", "seed": seed, "status": "done",
                         "mse": mse_by_weight[w] + 1e-4 * seed, "fd-judge-recon": fd_by_weight[w] + seed + noise * rng.normal()})
    return rows


def test_a_sweep_is_the_conditions_that_differ_only_in_the_adversarial_weight(tmp_path):
    assert sweep_key({"condition": {"terms": _terms(0.3)}})[1] == 0.3
    assert sweep_key({"condition": {"terms": _terms(0.3)}})[0] == sweep_key({"condition": {"terms": _terms(3)}})[0]
    assert sweep_key({"condition": {"terms": [{"term": "l2", "weight": 1}]}}) is None
    rows = _study(tmp_path, {0: 10, 1: 5, 3: 2}, {0: 0.01, 1: 0.02, 3: 0.03})
    (tmp_path / "runs" / "l1").mkdir()
    (tmp_path / "runs" / "l1" / "config.yaml").write_text(yaml.safe_dump(
        {"model": {"label": "z2"}, "condition": {"name": "l1", "terms": [{"term": "l1", "weight": 1}]}, "seed": 0}))
    runs = pd.DataFrame(rows + [{"run_id": "l1", "model": "z2", "condition": "l1", "seed": 0, "status": "done", "mse": 0.5}])
    sweep = sweep_runs(tmp_path, runs)
    assert sorted(sweep["weight"].unique()) == [0, 1, 3] and "l1" not in set(sweep["condition"])
    table = trade_off_table(sweep)
    assert table["seeds"].tolist() == [5, 5, 5] and table["fd-judge-recon"].tolist() == [12, 7, 4]  # + mean seed 2


def test_the_verdict_reads_paired_steps(tmp_path):
    # z2: fd falls and MSE rises at every step by far more than the seed spread (a paired offset)
    rows = _study(tmp_path, {0: 20, 1: 10, 3: 5}, {0: 0.04, 1: 0.05, 3: 0.06}, latent=2, model="z2")
    # z16: fd improves only from 0 to 1, then gets worse; the changes are smaller relative to weight 0
    rows += _study(tmp_path, {0: 1.0, 1: 0.9, 3: 5.0}, {0: 0.012, 1: 0.013, 3: 0.05}, latent=16, model="z16")
    sweep = sweep_runs(tmp_path, pd.DataFrame(rows))
    steps = paired_steps(sweep, ["mse", "fd-judge-recon"])
    one = steps[(steps["model"] == "z2") & (steps["metric"] == "fd-judge-recon") & (steps["from"] == 0)].iloc[0]
    assert one["difference"] == -10 and one["ci_low"] == one["ci_high"] == -10  # identical offsets: no spread
    lines = verdict_lines(trade_off_table(sweep), steps, "fd-judge-recon", {"z2": 2, "z16": 16})
    z2 = next(line for line in lines if line.startswith("| z2 "))
    z16 = next(line for line in lines if line.startswith("| z16 "))
    assert "| yes, every step | yes, every step | weight 0 → 3 (2 of 2 steps) | never" in z2 and "22 → 7 at weight 3 (-68%)" in z2
    assert "1→3 worse" in z16 and "| weight 0 → 1 (1 of 2 steps) |" in z16
    assert "stops paying after | " not in z16 and "weight 1 (the step to 3: worse)" in z16
    assert "the smallest code (z2, 2-d) shows the largest gain." in lines[-1]


def test_noise_larger_than_the_step_reads_unclear(tmp_path):
    rows = _study(tmp_path, {0: 10, 1: 9.9, 3: 9.8}, {0: 0.04, 1: 0.04, 3: 0.04}, noise=5.0)
    sweep = sweep_runs(tmp_path, pd.DataFrame(rows))
    lines = verdict_lines(trade_off_table(sweep), paired_steps(sweep, ["mse", "fd-judge-recon"]), "fd-judge-recon")
    assert "0→1 unclear" in lines[2] and "yes, every step" not in lines[2].split("|")[3]
    assert lines[2].split("|")[4].strip() == "none"


def test_the_bound_reads_per_seed_mse_ratios_at_the_most_realistic_weight(tmp_path):
    from scipy import stats

    # z2: weight 3 is the most realistic (fd 5 against 20 at weight 0), at 1.5x weight 0's MSE per seed
    rows = _study(tmp_path, {0: 20, 1: 10, 3: 5}, {0: 0.04, 1: 0.05, 3: 0.06}, model="z2")
    sweep = sweep_runs(tmp_path, pd.DataFrame(rows))
    table = trade_off_table(sweep)
    bound = bound_table(sweep, table, "fd-judge-recon")
    best = bound[bound["most_realistic"]].iloc[0]
    assert best["weight"] == 3 and best["n_seeds"] == 5
    ratios = np.array([(0.06 + 1e-4 * s) / (0.04 + 1e-4 * s) for s in range(5)])  # _study adds 1e-4 per seed
    half = stats.t.ppf(0.975, 4) * ratios.std(ddof=1) / np.sqrt(5)
    assert best["mse_ratio"] == pytest.approx(ratios.mean()) and best["ci_high"] == pytest.approx(ratios.mean() + half)
    assert bound[bound["weight"] == 0]["mse_ratio"].iloc[0] == pytest.approx(1.0)
    # the verdict: below 2; fd 22 -> 7 (means over seeds) against a floor of 2 closes 15/20 = 75% of the way
    line = next(x for x in bound_lines(bound, table, "fd-judge-recon", 2.0) if x.startswith("| z2 "))
    assert "| 3 |" in line and "22 → 7 (2)" in line and "| 75% |" in line and "**below 2**" in line


def test_a_point_beyond_twice_the_mse_is_called_above_the_bound(tmp_path):
    rows = _study(tmp_path, {0: 20, 1: 10, 3: 5}, {0: 0.02, 1: 0.03, 3: 0.07}, model="z2")
    sweep = sweep_runs(tmp_path, pd.DataFrame(rows))
    table = trade_off_table(sweep)
    line = next(x for x in bound_lines(bound_table(sweep, table, "fd-judge-recon"), table, "fd-judge-recon", None)
                if x.startswith("| z2 "))
    assert "**above 2**" in line and "| – |" in line  # no floor: no share of the way


def test_the_report_writes_the_bound_section_figure_and_csv(tmp_path):
    from lossbench.report.trade_off import trade_off_report

    rows = _study(tmp_path, {0: 20, 1: 10, 3: 5}, {0: 0.04, 1: 0.05, 3: 0.06}, model="z2")
    calibration = {"fd-judge": {"samples": {"real": 2.0}}}
    written, verdicts = trade_off_report(tmp_path, pd.DataFrame(rows), tmp_path / "figures", calibration)
    assert (tmp_path / "figures" / "trade_off_bound.png").stat().st_size > 10_000
    bound = pd.read_csv(tmp_path / "trade_off_bound.csv")
    assert bound["most_realistic"].tolist() == [False, False, True]
    text = (tmp_path / "trade_off.md").read_text()
    assert "## Against the theory" in text and "figures/trade_off_bound.png" in text
    assert any("| z2 | 3 |" in line for line in verdicts)  # checks.md gets the same verdict


def test_a_collapsed_run_makes_its_steps_read_collapsed_never_yes(tmp_path):
    from lossbench.core.flags import Flag
    from lossbench.report.trade_off import collapse_line

    rows = _study(tmp_path, {0: 20, 1: 10, 3: 5}, {0: 0.04, 1: 0.05, 3: 0.06}, model="z2")
    for row in rows:
        row["flags"] = []
    broken = next(r for r in rows if r["condition"] == "adv3")
    broken["flags"] = [Flag("collapsed-output", "collapsed output: reconstructions barely depend on the input")]
    sweep = sweep_runs(tmp_path, pd.DataFrame(rows))
    table = trade_off_table(sweep)
    assert table["collapsed"].tolist() == [0, 0, 1]
    steps = paired_steps(sweep, ["mse", "fd-judge-recon"])
    line = next(x for x in verdict_lines(table, steps, "fd-judge-recon") if x.startswith("| z2 "))
    assert "0→1 yes, 1→3 collapsed" in line and "yes, every step" not in line
    assert "1 of the 15 runs" in collapse_line(table) and "z2 at weight 3 (1 of 5)" in collapse_line(table)
    for row in rows:
        row["flags"] = []
    assert "none of the 15 runs" in collapse_line(trade_off_table(sweep_runs(tmp_path, pd.DataFrame(rows))))
