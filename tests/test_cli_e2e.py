"""A tiny study end to end through the CLI: every output file, rerun skipping, report rebuild."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import yaml

RUN_FILES = {"config.yaml", "history.csv", "steps.csv", "metrics.json", "checkpoint.pt", "per_image.csv",
             "recon_fixed.pt", "recon_worst.pt", "recon_epochs.pt", "latent.pt", "recon_epoch_001.png", "recon_epoch_002.png"}


def check_study_folder(out, n_runs, metrics, extra=()):
    assert {p.name for p in out.iterdir()} >= {"runs", "summary.csv", "summary.md", "manifest.json", "study.yaml", "figures"}
    assert {p.name for p in (out / "figures").iterdir()} >= {"training_curves.png", "metrics.png", "recon_grid.png",
                                                             "gallery.png", "worst.png", "random_codes.png"}
    assert (out / "summary.tex").read_text().count("\\midrule") == 1
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == n_runs and (summary["status"] == "done").all()
    assert list(summary.columns) == ["run_id", "model", "condition", "seed", "status", "reason", *metrics, *extra,
                                     "epochs", "evaluated_epoch", "stopped", "train_seconds", "n_params", "unavailable"]
    assert (summary["epochs"] == 2).all() and (summary["stopped"] == "epochs").all()
    for run_id in summary["run_id"]:
        run = out / "runs" / run_id
        assert {p.name for p in run.iterdir()} == RUN_FILES
        config = yaml.safe_load((run / "config.yaml").read_text())
        assert config["run_id"] == run_id and config["metrics"] == metrics
        history = pd.read_csv(run / "history.csv")
        assert list(history["epoch"]) == [1, 2] and "total" in history and history["seconds"].is_monotonic_increasing
        assert len(pd.read_csv(run / "per_image.csv")) == json.loads((run / "metrics.json").read_text())["n_test"]
    assert not list(out.rglob(".*.tmp*")), "a temporary file was left behind"
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["versions"]) == {"lossbench", "python", "torch", "torchvision", "torchmetrics"}
    assert {"name", "source", "n_train", "n_test", "sha256", "notes"} <= set(manifest["dataset"])
    assert manifest["command"][:2] == ["lossbench", "run"]
    md = (out / "summary.md").read_text()
    assert "mse ↓" in md and "psnr ↑" in md and "**" in md
    return summary


def test_tiny_synthetic_study_end_to_end(cli, write_study, tmp_path):
    study = write_study({"training": {"epochs": 2, "batch_size": 32}})
    out = tmp_path / "out"
    code, stdout, err = cli("run", study, "--out", out)
    assert code == 0, err
    assert "4 trained" in stdout
    summary = check_study_folder(out, 4, ["mse", "psnr", "ssim"], extra=["mean_abs_logit"])  # bce: a sigmoid output

    # a rerun skips every finished run and leaves every file byte-identical (committed results stay put)
    before_bytes = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    code, stdout, _ = cli("run", study, "--out", out)
    assert code == 0 and "4 skipped (finished before)" in stdout and "trained" not in stdout
    after_bytes = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert sorted(after_bytes) == sorted(before_bytes)
    assert [str(k) for k in before_bytes if after_bytes[k] != before_bytes[k]] == []
    # --dry-run marks them
    _, stdout, _ = cli("run", study, "--out", out, "--dry-run")
    assert stdout.count("[finished: will be skipped]") == 4

    # the report is rebuilt from stored runs alone
    before = sorted(p.name for p in (out / "figures").iterdir())
    for p in [out / "summary.csv", out / "summary.md", *(out / "figures").iterdir()]:
        p.unlink()
    code, stdout, _ = cli("report", out)
    assert code == 0 and "summary.md" in stdout
    assert pd.read_csv(out / "summary.csv")["mse"].tolist() == summary["mse"].tolist()
    assert sorted(p.name for p in (out / "figures").iterdir()) == before


def test_metric_added_later_is_computed_from_the_checkpoint(cli, write_study, tmp_path):
    study = write_study({"seeds": [0], "metrics": ["mse"]})
    out = tmp_path / "out"
    assert cli("run", study, "--out", out)[0] == 0
    code, stdout, _ = cli("run", study, "--out", out, "--set", "metrics=[mse, ssim]")
    assert code == 0 and "skipped" in stdout
    summary = pd.read_csv(out / "summary.csv")
    assert summary["ssim"].notna().all()


def test_real_mnist_from_the_shared_test_split(cli, write_study, tmp_path, shared_data_root):
    study = write_study({
        "data": {"name": "mnist", "train_size": 256, "test_size": 64},
        "models": [{"name": "vae-conv", "channels": [8, 16], "latent_dim": 4}],
        "training": {"epochs": 2, "batch_size": 64},
        "metrics": ["mse", "l1", "psnr", "ssim"],
    })
    out = tmp_path / "out"
    code, _, err = cli("run", study, "--out", out, env={"LOSSBENCH_DATA": str(shared_data_root)})
    assert code == 0, err
    check_study_folder(out, 4, ["mse", "l1", "psnr", "ssim"], extra=["rate", "distortion", "active_units", "mean_abs_logit"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dataset"]["n_test"] == 64
    assert any("only the official test split" in n for n in manifest["dataset"]["notes"])
    config = yaml.safe_load(next((out / "runs").glob("*/config.yaml")).read_text())
    assert [t["term"] for t in config["condition"]["terms"]][-1] == "kl"
    md = (out / "summary.md").read_text()
    assert "kl (weight 1) added" in md and "## Provenance" in md and "only the official test split" in md


def test_list_prints_every_registry(cli):
    code, out, _ = cli("list")
    assert code == 0
    for name in ("mnist-5k", "imagefolder", "ae-mlp", "vae-conv", "bce", "kl", "ssim", "psnr", "perceptual", "mix",
                 "fd-domain", "lpips-alex", "domain"):
        assert f"  {name} " in out


def test_python_dash_m_entry_point(tmp_path):
    result = subprocess.run([sys.executable, "-m", "lossbench", "run", str(tmp_path / "x.yaml")], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip().endswith("study file not found")


def test_list_verbose_shows_every_option_and_default(cli):
    """Issue 22 #11: the keys a study may set, with their defaults, without reading the source."""
    code, out, _ = cli("list", "--verbose")
    assert code == 0
    assert "latent_dim: int = 3  (code size" in out
    assert "loss: one of hinge|non-saturating|least-squares|wasserstein = 'hinge'" in out
    assert "penalty: one of none|r1|gradient-penalty = 'none'" in out and "spectral_norm: bool = False" in out
    assert "adaptive: bool = False" in out and "validation_fraction: float = 0.1" in out
    assert "columns: precision-judge-recon, precision-judge-samples" in out
    code, short, _ = cli("list")
    assert "adaptive: bool" not in short and "--verbose" in short
