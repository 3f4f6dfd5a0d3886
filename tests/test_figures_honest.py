"""Issue 39 §6: figures that mislead in small ways, each checked on the figure object the report draws (each test
fails on the figure code before the fix): metric panels that start at 0 without intervals, a 'Pareto front' through
means whose intervals overlap, adversarial curves averaged across seeds that switch on at different epochs, and a
gallery ordered unlike the tables."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from lossbench.report.facts import reading  # noqa: E402

FACTS = {m: {"columns": [m], "higher_is_better": m == "psnr", "kind": "paired", "features": None, "statistic": None,
             "description": m} for m in ("mse", "psnr", "fd-judge-recon")}
MANIFEST = {"metrics": {m: {} for m in FACTS}, "metric_facts": FACTS}


@pytest.fixture
def drawn(monkeypatch):
    """The figures the report saves, kept as objects instead of files."""
    from lossbench.store import files

    figures = []
    monkeypatch.setattr(files, "save_figure", lambda path, fig, dpi=120: figures.append(fig))
    return figures


def _runs(values: dict[str, list[float]], metric: str = "psnr") -> pd.DataFrame:
    rows = [{"run_id": f"{c}{s}", "model": "ae", "condition": c, "seed": s, "status": "done", metric: v, "flags": []}
            for c, vs in values.items() for s, v in enumerate(vs)]
    return pd.DataFrame(rows)


def test_metric_panels_show_intervals_and_span_the_values_not_zero(drawn, tmp_path):
    from matplotlib.container import ErrorbarContainer

    from lossbench.report.figures import metric_bars

    runs = _runs({"l2": [19.6, 19.7, 19.8, 19.65, 19.75], "bce": [19.85, 19.9, 19.88, 19.86, 19.92]})
    with reading(MANIFEST):
        metric_bars(runs, ["psnr"], tmp_path / "metrics.png")
    ax = drawn[0].axes[0]
    assert ax.get_ylim()[0] > 19, ax.get_ylim()  # a bar from 0 squeezed 19.7 against 19.9 into one height
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 2 and all(c.has_yerr for c in bars)  # each condition's mean with its interval


def test_no_cell_is_called_dominated_by_means_whose_intervals_overlap(drawn, tmp_path):
    from lossbench.report.analysis import distortion_perception

    agg = pd.DataFrame([{"model": "ae", "condition": "a", "mse": 0.0128, "mse_ci": 0.0005, "fd-judge-recon": 0.49,
                         "fd-judge-recon_ci": 0.12},
                        {"model": "ae", "condition": "b", "mse": 0.0126, "mse_ci": 0.0005, "fd-judge-recon": 0.45,
                         "fd-judge-recon_ci": 0.10}])
    with reading(MANIFEST):
        distortion_perception(agg, "mse", "fd-judge-recon", set(), tmp_path / "dp.png")
    from matplotlib.container import ErrorbarContainer

    ax = drawn[0].axes[0]
    faces = [c.lines[0].get_markerfacecolor() for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(faces) == 2 and all(f != "white" for f in faces), faces  # b's means are better, its intervals are not apart
    assert not any("Pareto front" in (line.get_label() or "") for line in ax.lines)


def test_curves_of_a_term_switched_on_at_each_seeds_plateau_are_drawn_seed_by_seed(drawn, tmp_path):
    from lossbench.report.figures import training_curves
    from lossbench.report.palette import condition_palette

    rows = []
    for seed, start in ((0, 4), (1, 7)):
        for epoch in range(1, 11):
            rows.append({"model": "ae", "condition": "l2+adv", "seed": seed, "epoch": epoch, "term": "l2", "value": 10.0 / epoch,
                         "split": "train"})
            if epoch >= start:
                rows.append({"model": "ae", "condition": "l2+adv", "seed": seed, "epoch": epoch, "term": "adversarial",
                             "value": 1.0 - 0.05 * (epoch - start), "split": "train"})
            rows.append({"model": "ae", "condition": "l2", "seed": seed, "epoch": epoch, "term": "l2", "value": 9.0 / epoch,
                         "split": "train"})  # a condition with no late term: still its mean and band
    history = pd.DataFrame(rows)
    colour = condition_palette(["l2+adv", "l2"])["l2+adv"]
    training_curves(history, tmp_path / "curves.png")
    adversarial = next(ax for ax in drawn[0].axes if "adversarial" in [t.get_text() for t in ax.texts])
    mine = [line for line in adversarial.lines if np.allclose(matplotlib.colors.to_rgb(line.get_color()), colour)
            and len(line.get_xdata()) > 1]
    assert len(mine) == 2, len(mine)  # one line per seed; a mean would jump at epoch 7 where seed 1 joins
    assert sorted(min(line.get_xdata()) for line in mine) == [4, 7]


def test_the_gallery_lists_the_cells_in_the_tables_order():
    from lossbench.report.figures import _representative
    from lossbench.report.tables import aggregate

    conditions = ["l2", "bce", "l1", "ssim", "lpips", "adv"]
    rows = [{"run_id": f"{c}{s}", "model": "ae", "condition": c, "seed": s, "status": "done", "mse": 0.1, "flags": []}
            for s in (3, 1, 0, 2, 4) for c in conditions]  # seeds in the folder's order, not sorted
    runs = pd.DataFrame(rows)
    with reading(MANIFEST):
        table = list(zip(aggregate(runs, ["mse"])["model"], aggregate(runs, ["mse"])["condition"]))
    reps = _representative(runs)
    assert list(reps) == table and all(r["seed"] == 0 for r in reps.values())
