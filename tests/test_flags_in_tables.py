"""Issue 32 §1: every table that shows a cell carries that cell's ⚑, and no ✓, bold or "best" goes
to a flagged cell or to a mean whose interval overlaps the runner-up's. On hand-made runs."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from lossbench.core.flags import Flag
from lossbench.report.numbers import clear_best, column_places, mean_pm

COLLAPSED = Flag.from_stored({"kind": "collapsed-output", "severity": "warning", "message": "collapsed output"})


def _runs(values: dict[tuple[str, str], list[float]], flagged: set[tuple[str, str]] = frozenset()) -> pd.DataFrame:
    rows = []
    for (model, condition), seeds in values.items():
        for seed, v in enumerate(seeds):
            rows.append({"run_id": f"{abs(hash((model, condition, seed))):012x}"[:12], "model": model, "condition": condition,
                         "seed": seed, "status": "done", "reason": None, "notes": [],
                         "flags": [COLLAPSED] if (model, condition) in flagged else [], "mse": v, "train_seconds": 1.0,
                         "evaluated_epoch": 5, "stopped": "early"})
    return pd.DataFrame(rows)


def test_clear_best_needs_an_unflagged_cell_clear_of_the_runner_up():
    assert clear_best([1.0, 2.0], [0.1, 0.1], higher_is_better=False, eligible=[True, True]) == 0
    assert clear_best([12.0, 20.0], [12.0, 1.0], higher_is_better=False, eligible=[True, True]) is None  # 12 ± 12
    assert clear_best([1.0, 2.0, 3.0], [0.1, 0.1, 0.1], higher_is_better=False, eligible=[False, True, True]) == 1
    assert clear_best([1.0, 2.0], [math.nan, 0.1], higher_is_better=False, eligible=[True, True]) is None  # one seed
    assert clear_best([1.0], [0.1], higher_is_better=False, eligible=[True]) is None  # nothing to be best against
    assert clear_best([5.0, 3.0], [0.5, 0.5], higher_is_better=True, eligible=[True, True]) == 0


def test_the_paired_table_gives_a_flagged_cell_no_verdict():
    """The case a new user met: vae-conv's l2+ssim, all runs collapsed, showed −0.3524 [...] ✓."""
    from lossbench.report.context import differences_markdown

    rows = []
    for model in ("ae-conv", "vae-conv"):
        rows.append({"model": model, "condition": "l2+ssim", "baseline": "l2", "metric": "mse", "difference": -0.3524,
                     "ci_low": -0.3582, "ci_high": -0.3466, "direction": "better", "n_seeds": 4, "sd_difference": 0.004,
                     "baseline_mean": 1.0})
    lines = differences_markdown(pd.DataFrame(rows), ["mse"], {}, flagged={("vae-conv", "l2+ssim")})
    clean = next(line for line in lines if line.startswith("| ae-conv"))
    collapsed = next(line for line in lines if line.startswith("| vae-conv"))
    assert "**" in clean and "✓" in clean and "⚑" not in clean
    assert "**" not in collapsed and "✓" not in collapsed and collapsed.count("⚑") == 2  # the row's label and its cell
    # a flagged baseline makes every comparison against it suspect
    lines = differences_markdown(pd.DataFrame(rows[:1]), ["mse"], {}, flagged={("ae-conv", "l2")})
    row = next(line for line in lines if line.startswith("| ae-conv"))
    assert "✓" not in row and "⚑" in row


def test_the_means_table_bolds_only_a_clear_unflagged_best():
    from lossbench.report.tables import summary_markdown

    manifest = {"study": "t", "metrics": {"mse": {}}, "dataset": {"name": "d", "n_train": 1, "n_test": 1, "shape": [1, 2, 2],
                                                                  "sha256": "0" * 64},
                "device": {"type": "cpu", "name": "x"}, "versions": {"lossbench": "0", "torch": "0", "torchvision": "0",
                                                                     "torchmetrics": "0", "python": "3"},
                "command": ["lossbench"], "study_file": "s.yaml", "created": "now"}
    # a collapsed model with the lowest mse is not "best"; the clear best among the rest is
    runs = _runs({("m", "collapsed"): [0.01, 0.011, 0.012], ("m", "good"): [0.10, 0.11, 0.12], ("m", "bad"): [0.5, 0.51, 0.52]},
                 flagged={("m", "collapsed")})
    text = summary_markdown(manifest, runs)
    table = [line for line in text.splitlines() if line.startswith("| m |")]
    assert [("**" in line) for line in table] == [False, True, False], table
    assert "collapsed ⚑" in table[0]
    # 12 ± 12 beside 20 ± 1: the seeds cannot rank them, so nothing is bold
    runs = _runs({("m", "wide"): [0.0, 12.0, 24.0], ("m", "narrow"): [19.5, 20.0, 20.5]})
    table = [line for line in summary_markdown(manifest, runs).splitlines() if line.startswith("| m |")]
    assert not any("**" in line for line in table), table


def test_the_latex_table_follows_the_same_rule_and_aligns_decimals():
    from lossbench.report.analysis import summary_tex
    from lossbench.report.tables import aggregate

    runs = _runs({("m", "a"): [0.0, 12.0, 24.0], ("m", "b"): [19.5, 20.0, 20.5], ("m", "c"): [100.0, 100.001, 100.002]})
    tex = summary_tex(aggregate(runs, ["mse"]), ["mse"], set(), "t")
    assert r"\textbf" not in tex
    cells = [line.split("&")[3].strip().rstrip("\\").strip() for line in tex.splitlines() if line.startswith("m &")]
    places = {len(c.split(" $\\pm$ ")[0].split(".")[1]) for c in cells}
    assert len(places) == 1, cells  # one number of decimals down the column
    assert column_places([30.0, 1.2, 0.0012]) == 4 and mean_pm(12.0, 12.0, places=2) == "12.00 ± 12.00"


def test_a_check_on_a_flagged_cell_is_not_a_verdict_in_bold():
    from lossbench.report.checks import checks_markdown, evaluate_checks

    runs = _runs({("m", "l1"): [0.1, 0.11, 0.12], ("m", "l2"): [0.5, 0.51, 0.52]}, flagged={("m", "l1")})
    check = {"claim": "l1 beats l2", "compare": "conditions", "metric": "mse", "better": "l1", "than": "l2"}
    table = evaluate_checks([check], runs)
    line = next(line for line in checks_markdown("t", table).splitlines() if "l1 beats l2" in line)
    assert line.startswith("| PASS ⚑ |"), line
    clean = evaluate_checks([check], _runs({("m", "l1"): [0.1, 0.11, 0.12], ("m", "l2"): [0.5, 0.51, 0.52]}))
    assert next(line for line in checks_markdown("t", clean).splitlines() if "l1 beats l2" in line).startswith("| **PASS** |")


@pytest.mark.parametrize("flagged", [True, False])
def test_the_trade_off_table_marks_flagged_weights(flagged):
    from lossbench.report.trade_off import trade_off_table

    sweep = pd.DataFrame([{"model": "m", "weight": w, "condition": f"w{w}", "mse": 0.1 + w, "flags": [COLLAPSED] if flagged and w == 3 else []}
                          for w in (0, 1, 3) for _ in range(2)])
    table = trade_off_table(sweep)
    assert table.set_index("weight")["flagged"].to_dict() == {0: 0, 1: 0, 3: 2 if flagged else 0}


def test_the_metric_bars_put_the_flag_on_the_flagged_cell_not_on_the_legend(tmp_path, monkeypatch):
    """Issue 32 §7: metrics.png put ⚑ on a whole condition in the legend when one model's cell of it
    was flagged. The ⚑ goes on that model's bar alone, once per metric panel; the legend names the
    conditions as they are."""
    from lossbench.store import files
    from lossbench.report.figures import metric_bars

    drawn = {}
    monkeypatch.setattr(files, "save_figure", lambda path, figure: drawn.setdefault("figure", figure))
    runs = _runs({("ae", "l2"): [1.0, 1.1], ("ae", "l1"): [2.0, 2.1], ("vae", "l2"): [1.5, 1.6], ("vae", "l1"): [2.5, 2.6]},
                 flagged={("vae", "l1")})
    runs["psnr"] = 30.0
    metric_bars(runs, ["mse", "psnr"], tmp_path / "metrics.png")
    figure = drawn["figure"]
    marks = [t for ax in figure.axes for t in ax.texts if t.get_text() == "⚑"]
    assert len(marks) == 2  # one bar (vae, l1) in each of the two panels
    legends = [t.get_text() for legend in figure.legends for t in legend.get_texts()]
    assert sorted(legends) == ["l1", "l2"]
    # and the flagged bar is vae's l1 bar: its x lies right of the panel's middle (vae is the second model)
    assert all(mark.xy[0] > 0.5 for mark in marks)
