"""Read the stored runs of a study folder into pandas, for tables and figures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from lossbench import files
from lossbench.errors import LossbenchError


def read_manifest(out_dir: Path) -> dict:
    path = Path(out_dir) / "manifest.json"
    if not path.is_file():
        raise LossbenchError(f"{out_dir}: no manifest.json here; is this a folder written by 'lossbench run'?")
    return files.read_json(path)


def collect_runs(out_dir: Path, manifest: dict) -> pd.DataFrame:
    """One row per run of the study's grid: config columns, status, every metric."""
    rows = []
    for entry in manifest["runs"]:
        run_dir = Path(out_dir) / "runs" / entry["run_id"]
        row = {**entry, "status": "not run", "reason": "no metrics.json (not run yet, or interrupted)", "notes": [], "flags": []}
        if (run_dir / "config.yaml").is_file():
            row["notes"] = run_config(out_dir, entry["run_id"]).get("notes", [])
        if (run_dir / "metrics.json").is_file():
            result = files.read_json(run_dir / "metrics.json")
            row.update(status=result["status"], reason=result.get("reason"), flags=result.get("flags", []),
                       train_seconds=result.get("train_seconds"), n_params=result.get("n_params"),
                       epochs=result.get("epochs"), evaluated_epoch=result.get("evaluated_epoch"), stopped=result.get("stopped"))
            row.update(result.get("metrics", {}))
        rows.append(row)
    return pd.DataFrame(rows)


CRITIC_COLUMNS = ("weight", "d_loss", "d_acc_real", "d_acc_recon")


def collect_history(out_dir: Path, manifest: dict, critics: bool = False) -> pd.DataFrame:
    """Per-epoch history of every run, long format: model, condition, seed, epoch, term, value,
    split. The loss terms, on the training batches (split ``train``, the epoch's mean) and on
    the validation split (``validation``, at the epoch's end; ``total`` there is the
    early-stopping monitor); or with ``critics``, the discriminators' columns
    (``d_acc_real[adversarial]``...)."""
    frames = []
    for entry in manifest["runs"]:
        path = Path(out_dir) / "runs" / entry["run_id"] / "history.csv"
        if not path.is_file():
            continue
        h = pd.read_csv(path)
        if critics:
            parts = [(h[["epoch"] + [c for c in h.columns if c.split("[")[0] in CRITIC_COLUMNS and "[" in c]], "train")]
        else:
            train = [c for c in h.columns if c not in ("epoch", "step", "seconds", "phase") and "[" not in c]
            val = [c for c in h.columns if c.startswith("val[")]
            parts = [(h[["epoch"] + train], "train"),
                     (h[["epoch"] + val].rename(columns=lambda c: c[4:-1] if c.startswith("val[") else c), "validation")]
        for part, split in parts:
            if part.shape[1] < 2 or part.empty:
                continue
            long = part.melt(id_vars="epoch", var_name="term", value_name="value").dropna(subset=["value"])
            frames.append(long.assign(model=entry["model"], condition=entry["condition"], seed=entry["seed"], split=split))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def run_config(out_dir: Path, run_id: str) -> dict:
    return yaml.safe_load((Path(out_dir) / "runs" / run_id / "config.yaml").read_text())
