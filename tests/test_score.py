"""Issue 29 §2 and §5: training stops at the checkpoint and scoring is a stage of its own;
``lossbench score DIR`` adds or recomputes metrics on finished runs without training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import TINY

#: files training writes: scoring must leave every one of them as it was
TRAINING_FILES = ("checkpoint.pt", "history.csv", "steps.csv", "recon_epochs.pt", "config.yaml")


def _copy(finished, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(finished[1], out)
    return out


def _bytes(out: Path, names=TRAINING_FILES) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted((out / "runs").rglob("*")) if p.name in names}


def _metrics(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text())["metrics"] for p in sorted((out / "runs").glob("*/metrics.json"))}


def test_score_adds_a_metric_to_finished_runs_without_training(finished, tmp_path, cli):
    out = _copy(finished, tmp_path)
    before, metrics_before = _bytes(out), _metrics(out)
    code, stdout, err = cli("score", out, "--metrics", "l1")
    assert code == 0, err
    assert "4 scored" in stdout and "trained" not in stdout.split("(")[0], stdout
    assert _bytes(out) == before  # checkpoints, histories and steps untouched: nothing trained
    after = _metrics(out)
    for run_id, old in metrics_before.items():
        assert {k: after[run_id][k] for k in old} == old  # every column it had, the same numbers
        assert isinstance(after[run_id]["l1"], float) and 0 < after[run_id]["l1"] < 1
    summary = pd.read_csv(out / "summary.csv")
    assert "l1" in summary.columns and summary["l1"].notna().all()
    assert "l1" in yaml.safe_load((out / "study.yaml").read_text())["metrics"]
    assert "| l1" in (out / "summary.md").read_text(encoding="utf-8")
    # resumable and idempotent: a second call finds every run complete and rewrites no run
    runs_before = {str(p): p.read_bytes() for p in sorted((out / "runs").rglob("*")) if p.is_file()}
    code, stdout, err = cli("score", out)
    assert code == 0 and "4 skipped (finished before)" in stdout, stdout + err
    assert {str(p): p.read_bytes() for p in sorted((out / "runs").rglob("*")) if p.is_file()} == runs_before


def test_score_recompute_gives_the_same_numbers(finished, tmp_path, cli):
    out = _copy(finished, tmp_path)
    before = _metrics(out)
    code, stdout, err = cli("score", out, "--recompute")
    assert code == 0 and "4 scored" in stdout, stdout + err
    assert _metrics(out) == before  # a run's scores are a function of its folder


def test_runs_shared_without_checkpoints_keep_what_they_have_and_say_so(finished, tmp_path, cli):
    out = _copy(finished, tmp_path)
    for checkpoint in (out / "runs").glob("*/checkpoint.pt"):
        checkpoint.unlink()
    code, stdout, err = cli("score", out, "--metrics", "l1")
    assert code == 0, err
    assert "4 no checkpoint" in stdout and "no checkpoint: 4 finished run(s) were shared without checkpoint.pt" in stdout
    assert all("l1" not in m for m in _metrics(out).values())


@pytest.mark.parametrize("args, expected", [
    (["--metrics", "lpipz"], "--metrics: 'lpipz' is not a metric (did you mean 'lpips'?)"),
    (["--device", "cuda"], None),
])
def test_score_refuses_bad_input_in_one_line_and_writes_nothing(finished, tmp_path, cli, args, expected):
    import torch

    if expected is None:
        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
        expected = "--device cuda: not available on this machine"
    out = _copy(finished, tmp_path)
    before = {str(p): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    code, _, err = cli("score", out, *args)
    assert code == 2 and err.count("\n") == 1 and expected in err, err
    assert {str(p): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before


def test_score_names_a_folder_that_is_not_a_study(tmp_path, cli):
    code, _, err = cli("score", tmp_path / "missing")
    assert code == 2 and "folder not found" in err
    (tmp_path / "empty").mkdir()
    code, _, err = cli("score", tmp_path / "empty")
    assert code == 2 and err.count("\n") == 1 and "no study.yaml" in err and "lossbench run STUDY" in err
    assert list((tmp_path / "empty").iterdir()) == []


def test_score_study_from_python(finished, tmp_path):
    import lossbench

    out = _copy(finished, tmp_path)
    results = lossbench.score_study(out, metrics=["l1"])
    assert len(results) == 4 and results["l1"].notna().all()


@pytest.mark.slow
def test_a_run_killed_between_training_and_scoring_is_scored_not_trained_again(tmp_path, lb_cache):
    """The training record (trained.json) is the stage boundary: a kill right after it leaves a
    trained run that the next ``run`` scores from its checkpoint, bit-identical to an
    uninterrupted run, without training it again."""
    from test_kill_writes import _cli

    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({**TINY, "seeds": [0], "conditions": {"l2": [{"term": "l2"}]}}, sort_keys=False))
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert _cli("run", study, "--out", whole, cache=lb_cache).returncode == 0
    killed = _cli("run", study, "--out", cut, cache=lb_cache, KILL_AFTER="trained.json")
    assert killed.returncode == -9, killed.stderr[-2000:]
    (run_dir,) = (cut / "runs").iterdir()
    assert (run_dir / "trained.json").is_file() and not (run_dir / "metrics.json").exists()
    trained_bytes = _bytes(cut, ("checkpoint.pt", "steps.csv"))
    again = _cli("run", study, "--out", cut, cache=lb_cache)
    assert again.returncode == 0, again.stderr[-2000:]
    assert _bytes(cut, ("checkpoint.pt", "steps.csv")) == trained_bytes  # scored, not trained again
    assert not (run_dir / "trained.json").exists()
    drop = ("train_seconds", "run_seconds", "files", "seal")
    reference = json.loads(next((whole / "runs").glob("*/metrics.json")).read_text())
    result = json.loads((run_dir / "metrics.json").read_text())
    assert {k: v for k, v in result.items() if k not in drop} == {k: v for k, v in reference.items() if k not in drop}


def test_a_metric_registered_in_python_is_reported_by_a_fresh_process(cli, write_study, tmp_path, monkeypatch):
    """Issue 29 §1: the report reads the folder, not the registry. A study run with a metric that
    was registered in Python is reported by a new process that never registered it, and the
    numbers and directions are those the folder recorded."""
    import os
    import subprocess
    import sys

    import lossbench
    from conftest import REPO
    from lossbench.metrics import METRICS

    lossbench.register_metric("max-error", lambda a, b: (a - b).abs().flatten(1).amax(1), higher_is_better=False,
                              description="largest pixel error")
    try:
        out = tmp_path / "out"
        code, _, err = cli("run", write_study({"seeds": [0], "metrics": ["mse", "max-error"]}), "--out", out)
        assert code == 0, err
    finally:
        METRICS.pop("max-error", None)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["metric_facts"]["max-error"] == {"columns": ["max-error"], "higher_is_better": False, "kind": "paired",
                                                     "features": None, "statistic": None, "description": "largest pixel error",
                                                     "networks": []}
    written = (out / "summary.md").read_text(encoding="utf-8")
    (out / "summary.md").unlink()
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    fresh = subprocess.run([sys.executable, "-m", "lossbench", "report", str(out)], capture_output=True, text=True, env=env,
                           timeout=300)
    assert fresh.returncode == 0 and "Traceback" not in fresh.stderr, fresh.stderr[-2000:]
    assert (out / "summary.md").read_text(encoding="utf-8") == written and "max-error ↓" in written

    # a folder written before the facts were recorded reports from the registry, and without the
    # metric registered it is one line naming the metric and the fix, not a KeyError traceback
    manifest.pop("metric_facts")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    old = subprocess.run([sys.executable, "-m", "lossbench", "report", str(out)], capture_output=True, text=True, env=env,
                         timeout=300)
    assert old.returncode == 2 and old.stderr.count("\n") == 1, old.stderr[-2000:]
    assert "metric max-error: the study folder records no facts for it" in old.stderr and "register_metric" in old.stderr


def test_a_folder_without_recorded_facts_reports_from_the_registry(finished, tmp_path, cli):
    """Folders of lossbench 0.3 and older recorded no metric facts: their built-in metrics report as before."""
    out = _copy(finished, tmp_path)
    written = (out / "summary.md").read_text(encoding="utf-8")
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest.pop("metric_facts")) == {"mse", "psnr", "ssim"}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    code, _, err = cli("report", out)
    assert code == 0, err
    assert (out / "summary.md").read_text(encoding="utf-8") == written
