"""training.vectorize_seeds: the seeds of a condition trained side by side as one stacked model
give what their separate runs give, to float round-off (issue 12 §4)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lossbench.study import load_study

STUDY = {
    "seeds": [0, 1, 2],
    "data": {"name": "synthetic", "n": 240, "size": 16, "validation_fraction": 0.25},
    "models": [{"name": "ae-conv", "channels": [4, 8], "latent_dim": 4}],
    "conditions": {"l2": [{"term": "l2"}],
                   "bce+perceptual": [{"term": "bce"}, {"term": "perceptual", "network": "domain", "weight": 10}]},
    # each seed stops at its own epoch (patience 1): a seed that stopped must not take the others' epochs
    "training": {"batch_size": 32, "lr": 3e-3, "optimizer_impl": "fused",
                 "early_stopping": {"patience": 1, "min_delta": 0.02, "max_epochs": 5}},
    "metrics": ["mse", "ssim"],
}


def _runs(out: Path) -> dict[tuple[str, int], Path]:
    runs = {}
    for d in (out / "runs").iterdir():
        config = yaml.safe_load((d / "config.yaml").read_text())
        runs[(config["condition"]["name"], config["seed"])] = d
    return runs


def test_seeds_side_by_side_equal_their_separate_runs(cli, write_study, tmp_path, lb_cache):
    study = write_study(STUDY)
    env = {"LOSSBENCH_CACHE": str(lb_cache)}
    code, _, err = cli("run", study, "--out", tmp_path / "separate", env=env)
    assert code == 0, err
    code, out, err = cli("run", study, "--out", tmp_path / "stacked", "--set", "training.vectorize_seeds=true", env=env)
    assert code == 0, err
    assert "6 trained" in out
    separate, stacked = _runs(tmp_path / "separate"), _runs(tmp_path / "stacked")
    assert separate.keys() == stacked.keys() and len(separate) == 6
    assert not set(p.name for p in separate.values()) & set(p.name for p in stacked.values())  # its own run ids
    stops = set()
    for key, a in separate.items():
        b = stacked[key]
        ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
        assert mb["vectorised"] == {"seeds": [0, 1, 2]} and "vectorised" not in ma
        assert (ma["epochs"], ma["evaluated_epoch"], ma["stopped"]) == (mb["epochs"], mb["evaluated_epoch"], mb["stopped"]), key
        stops.add(ma["epochs"])
        sa, sb = (pd.read_csv(d / "steps.csv") for d in (a, b))
        assert len(sa) == len(sb) and (sa["step"] == sb["step"]).all()
        # every step's loss: each seed saw its own batches in its own order with its own weights
        assert ((sa["total"] - sb["total"]).abs() <= 1e-4 * sa["total"].abs()).all(), key
        ha, hb = (pd.read_csv(d / "history.csv") for d in (a, b))
        assert ((ha["val[total]"] - hb["val[total]"]).abs() <= 1e-4 * ha["val[total]"].abs()).all(), key
        for metric in ("mse", "ssim"):
            assert mb["metrics"][metric] == pytest.approx(ma["metrics"][metric], rel=1e-3), (key, metric)
        assert (b / "checkpoint.pt").is_file() and not (b / "resume.pt").exists()
    assert len(stops) > 1, "the seeds all stopped at one epoch: the test does not check per-seed stopping"
    assert "each seed's share of the stacked epochs" in (tmp_path / "stacked" / "summary.md").read_text()
    assert "stacked epochs" not in (tmp_path / "separate" / "summary.md").read_text()


def test_plan_says_which_conditions_are_trained_side_by_side(cli, write_study, tmp_path):
    study = write_study({**STUDY, "models": [{"name": "ae-mlp", "hidden": [8], "latent_dim": 2},
                                             {"name": "vae-mlp", "hidden": [8], "latent_dim": 2}],
                         "conditions": {"l2": [{"term": "l2"}],
                                        "l2+adversarial": [{"term": "l2"}, {"term": "adversarial", "start": "plateau"}]},
                         "training": {**STUDY["training"], "vectorize_seeds": True}})
    code, out, err = cli("run", study, "--out", tmp_path / "o", "--dry-run")
    assert code == 0, err
    notes = [line for line in out.splitlines() if line.startswith("vectorize_seeds:")]
    assert notes[0] == "vectorize_seeds: ae-mlp / l2: seeds 0, 1, 2 trained side by side as one model"
    assert "ae-mlp / l2+adversarial: seeds trained one by one: adversarial trains a discriminator of its own per seed" in notes[1]
    assert "vae-mlp / l2: seeds trained one by one: vae-mlp draws its own noise" in notes[2]
    assert len(notes) == 4


def test_vectorize_seeds_changes_run_ids_only_when_on(write_study):
    off = load_study(write_study(STUDY))
    explicit = load_study(write_study({**STUDY, "training": {**STUDY["training"], "vectorize_seeds": False}}, name="b.yaml"))
    on = load_study(write_study({**STUDY, "training": {**STUDY["training"], "vectorize_seeds": True}}, name="c.yaml"))
    assert [r.run_id for r in off.runs] == [r.run_id for r in explicit.runs]
    assert not {r.run_id for r in off.runs} & {r.run_id for r in on.runs}


def test_with_ray_it_is_one_line(cli, write_study, tmp_path):
    study = write_study({**STUDY, "training": {**STUDY["training"], "vectorize_seeds": True}})
    code, _, err = cli("run", study, "--out", tmp_path / "o", "--executor", "ray")
    assert code == 2 and err.count("\n") == 1 and "training.vectorize_seeds" in err and "--executor ray" in err
    assert not (tmp_path / "o").exists()
