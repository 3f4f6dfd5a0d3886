"""Training: determinism from the seed on CPU, and the NaN guard."""

from __future__ import annotations

import json

import pandas as pd
import torch

from lossbench.losses import LOSS_TERMS, TermEntry
from lossbench.losses.base import PixelSpec, Term


def run_and_read(cli, study, out):
    code, _, err = cli("run", study, "--out", out, "--device", "cpu")
    assert code == 0, err
    return pd.read_csv(out / "summary.csv")


def test_same_seed_gives_identical_metrics_on_cpu(cli, write_study, tmp_path):
    study = write_study({"seeds": [0], "conditions": {"l2": [{"term": "l2"}]}})
    a = run_and_read(cli, study, tmp_path / "a")
    b = run_and_read(cli, study, tmp_path / "b")
    assert a["run_id"].tolist() == b["run_id"].tolist()
    for col in ("mse", "psnr", "ssim"):
        assert a[col].tolist() == b[col].tolist()
    ha = pd.read_csv(tmp_path / "a" / "runs" / a["run_id"][0] / "steps.csv")
    hb = pd.read_csv(tmp_path / "b" / "runs" / a["run_id"][0] / "steps.csv")
    pd.testing.assert_frame_equal(ha, hb)


def test_different_seeds_differ(cli, write_study, tmp_path):
    s = run_and_read(cli, write_study({"conditions": {"l2": [{"term": "l2"}]}}), tmp_path / "o")
    assert s["mse"].nunique() == 2


class _NaNAfter(Term):
    """A test term that turns NaN from step 3 on (a stand-in for a diverging loss)."""

    calls = 0

    def values(self, out, x):
        _NaNAfter.calls += 1
        v = (out["x_hat"] - x).square().flatten(1).sum(1)
        return v * float("nan") if _NaNAfter.calls > 3 else v


def test_nan_stops_the_run_marks_it_failed_and_the_study_goes_on(cli, write_study, tmp_path, monkeypatch):
    monkeypatch.setitem(LOSS_TERMS, "nan-after-3", TermEntry(_NaNAfter, PixelSpec, "test only"))
    _NaNAfter.calls = 0
    study = write_study({"seeds": [0], "training": {"epochs": 3, "batch_size": 16},
                         "conditions": {"bad": [{"term": "nan-after-3"}], "l2": [{"term": "l2"}]}})
    code, out, err = cli("run", study, "--out", tmp_path / "o", "--device", "cpu")
    assert code == 0
    assert "failed: non-finite loss at step 3 (epoch 1), term nan-after-3" in err
    summary = pd.read_csv(tmp_path / "o" / "summary.csv")
    bad = summary[summary["condition"] == "bad"].iloc[0]
    assert bad["status"] == "failed" and pd.isna(bad["mse"])
    assert summary[summary["condition"] == "l2"].iloc[0]["status"] == "done"
    run_dir = tmp_path / "o" / "runs" / bad["run_id"]
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "failed"
    assert not (run_dir / "checkpoint.pt").exists()
    assert pd.read_csv(run_dir / "steps.csv")["step"].max() == 2  # the finite steps (0, 1, 2) are kept
    md = (tmp_path / "o" / "summary.md").read_text()
    assert "## Runs not in the averages" in md and "**failed**" in md and "| bad | 0 (1 failed) |" in md


def test_checkpoint_loads_weights_only(cli, write_study, tmp_path):
    s = run_and_read(cli, write_study({"seeds": [0]}), tmp_path / "o")
    state = torch.load(tmp_path / "o" / "runs" / s["run_id"][0] / "checkpoint.pt", weights_only=True)
    assert "model" in state and all(isinstance(v, torch.Tensor) for v in state["model"].values())
