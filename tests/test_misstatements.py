"""Issue 32 §7: smaller misstatements a new user met, each corrected."""

from __future__ import annotations

import json

import pandas as pd


def test_list_verbose_names_each_metrics_own_implementation(cli):
    code, out, _ = cli("list", "--verbose")
    assert code == 0
    lines = out.splitlines()

    def implementation(metric: str) -> str:
        i = next(i for i, line in enumerate(lines) if line.split()[:1] == [metric])
        return next(line for line in lines[i + 1:] if "implementation:" in line).split("implementation:", 1)[1].strip()

    assert implementation("mse") == "lossbench.metrics.pixel.mse"
    assert implementation("lpips") == "lossbench.metrics.lpips_net.LPIPSScorer"
    for metric in ("fd-judge", "kid-domain", "precision-judge", "fid"):
        assert "lossbench.metrics.pixel" not in implementation(metric), metric
    assert implementation("fd-judge").startswith("lossbench.metrics.frechet") and "'judge' features" in implementation("fd-judge")
    assert implementation("precision-judge").startswith("prdc.compute_prdc")


def test_the_sanity_floor_counts_the_images_it_used(cli, write_study, tmp_path):
    """The floor said "64 test images" whatever the split held (this one has 19)."""
    out = tmp_path / "out"
    assert cli("run", write_study({"seeds": [0]}), "--out", out)[0] == 0
    floor = json.loads((out / "manifest.json").read_text())["calibration"]["ssim"]
    assert floor["what"] == "ssim(x, x) on 19 test images"
    assert "ssim(x, x) on 19 test images" in (out / "summary.md").read_text()


def test_the_total_row_of_the_training_curves_is_called_weighted(monkeypatch, tmp_path):
    from lossbench.store import files
    from lossbench.report import figures

    captured = {}
    monkeypatch.setattr(files, "save_figure", lambda path, fig, dpi=120: captured.setdefault("fig", fig))
    history = pd.DataFrame([{"model": "m", "condition": "c", "seed": 0, "epoch": e, "term": t, "value": v, "split": s}
                            for e in (1, 2) for t, v in (("total", 3.0 / e), ("l2", 1.0 / e), ("kl", 2.0 / e))
                            for s in ("train", "validation")])
    figures.training_curves(history, tmp_path / "curves.png")
    labels = {ax.get_ylabel() for ax in captured["fig"].axes if ax.get_ylabel()}
    rows = [ax.get_ylabel() for ax in captured["fig"].axes if ax.get_ylabel()]
    assert rows[0] == "per image, weighted sum" and set(rows[1:]) == {"per image, unweighted"}, labels
    assert "weighted sum" in captured["fig"]._suptitle.get_text()


def test_a_kendall_heatmap_of_few_cells_says_what_it_cannot_show():
    from lossbench.report.analysis import few_cells_caveat

    assert "4 values" in few_cells_caveat(3) and "p = 0.33" in few_cells_caveat(3)
    assert "p = 0.083" in few_cells_caveat(4)
    assert few_cells_caveat(5) == ""  # from 5 cells a τ of ±1 is significant (p = 0.017)
