"""A run killed with SIGKILL resumes from its last finished epoch and ends bit-identical to a
run that was never interrupted (CPU, same threads)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import TINY

#: a VAE (the reparameterisation draws from torch's generator) whose adversarial term switches on
#: at the plateau: the checkpoint must carry the RNG streams, the early-stopping state, the
#: discriminator and its optimizer, and the phase
STUDY = {**TINY, "seeds": [3], "models": [{"name": "vae-mlp", "hidden": [32], "latent_dim": 2}],
         "conditions": {"gan": [{"term": "l2"}, {"term": "kl"},
                                {"term": "adversarial", "weight": 0.1, "start": "plateau", "layers": 1}]},
         "training": {"batch_size": 32, "early_stopping": {"patience": 1, "min_delta": 0.05, "max_epochs": 10,
                                                           "adversarial_epochs": 2}}}

#: runs the CLI; with KILL_AFTER_EPOCH=k the process SIGKILLs itself right after the per-epoch
#: checkpoint of epoch k is on disk (a real kill at a known point, no hook in lossbench)
DRIVER = """
import os, signal, sys
import lossbench.store.files as files
from lossbench.train import RESUME
kill = int(os.environ.get("KILL_AFTER_EPOCH", "0"))
save = files.torch_save
def torch_save(path, obj):
    save(path, obj)
    if path.name == RESUME and obj["epoch"] == kill:
        os.kill(os.getpid(), signal.SIGKILL)
files.torch_save = torch_save
from lossbench.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _cli(study: Path, out: Path, cache: Path, kill: int = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "LOSSBENCH_CACHE": str(cache), "KILL_AFTER_EPOCH": str(kill), "TQDM_DISABLE": "1"}
    env.pop("LOSSBENCH_DATA", None)
    return subprocess.run([sys.executable, "-c", DRIVER, "run", str(study), "--out", str(out), "--device", "cpu"],
                          env=env, capture_output=True, text=True, timeout=600, cwd=Path(__file__).parent)


def _run_dir(out: Path) -> Path:
    (run,) = (out / "runs").iterdir()
    return run


def _results(run: Path) -> dict:
    metrics = json.loads((run / "metrics.json").read_text())
    for timing in ("train_seconds", "run_seconds", "seal"):  # the seal is a digest of the timings too
        metrics.pop(timing)
    metrics["files"].pop("history.csv")  # its seconds column differs; the rest is compared below
    return {"metrics.json": metrics,
            "history.csv": pd.read_csv(run / "history.csv").drop(columns="seconds").to_csv(),
            **{name: (run / name).read_bytes() for name in ("steps.csv", "per_image.csv", "checkpoint.pt",
                                                            "recon_epochs.pt", "latent.pt")}}


@pytest.mark.slow
@pytest.mark.parametrize("kill", [1, 3])
def test_a_run_killed_mid_way_resumes_bit_identical(tmp_path, lb_cache, kill):
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(STUDY, sort_keys=False))
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    done = _cli(study, whole, lb_cache)
    assert done.returncode == 0, done.stderr
    reference = _results(_run_dir(whole))
    assert reference["metrics.json"]["schedule"]["started"] == ["adversarial"]  # the phase switch happened
    assert reference["metrics.json"]["epochs"] > kill

    killed = _cli(study, cut, lb_cache, kill=kill)
    assert killed.returncode == -9  # SIGKILL
    run = _run_dir(cut)
    assert (run / "resume.pt").is_file() and not (run / "metrics.json").exists()

    resumed = _cli(study, cut, lb_cache)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed after epoch {kill}" in resumed.stderr, resumed.stderr[-3000:]
    assert "another process" not in resumed.stderr  # the dead holder's folder lock was taken over
    assert _results(run) == reference
    assert not (run / "resume.pt").exists()  # removed once the run is finished


def test_a_damaged_resume_file_starts_the_run_over(tmp_path, lb_cache, cli, write_study):
    study, out = write_study(), tmp_path / "out"
    assert cli("run", study, "--out", out, env={"LOSSBENCH_CACHE": str(lb_cache)})[0] == 0
    reference = {p.parent.name: json.loads(p.read_text())["metrics"] for p in (out / "runs").glob("*/metrics.json")}
    run = sorted((out / "runs").iterdir())[0]
    (run / "metrics.json").unlink()
    (run / "resume.pt").write_bytes(b"PK\x03\x04 truncated")
    code, _, err = cli("run", study, "--out", out, env={"LOSSBENCH_CACHE": str(lb_cache)})
    assert code == 0
    assert f"{run / 'resume.pt'}: it cannot be read" in err and "the run starts over" in err
    assert json.loads((run / "metrics.json").read_text())["metrics"] == reference[run.name]
