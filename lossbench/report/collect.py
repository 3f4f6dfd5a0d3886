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
                       train_seconds=result.get("train_seconds"), n_params=result.get("n_params"))
            row.update(result.get("metrics", {}))
        rows.append(row)
    return pd.DataFrame(rows)


def collect_history(out_dir: Path, manifest: dict, critics: bool = False) -> pd.DataFrame:
    """Per-epoch history of every run, long format: model, condition, seed, epoch, term, value.
    The loss terms; or with ``critics``, the discriminators' columns (``d_acc_real[adversarial]``...)."""
    frames = []
    for entry in manifest["runs"]:
        path = Path(out_dir) / "runs" / entry["run_id"] / "history.csv"
        if not path.is_file():
            continue
        h = pd.read_csv(path)
        critic = [c for c in h.columns if "[" in c and not c.startswith("grad[")]
        keep = critic if critics else [c for c in h.columns if c not in ("step", "seconds") and "[" not in c]
        h = h[["epoch"] + [c for c in keep if c != "epoch"]] if keep else h.iloc[0:0]
        if h.empty:
            continue
        long = h.melt(id_vars="epoch", var_name="term", value_name="value")
        frames.append(long.assign(model=entry["model"], condition=entry["condition"], seed=entry["seed"]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def run_config(out_dir: Path, run_id: str) -> dict:
    return yaml.safe_load((Path(out_dir) / "runs" / run_id / "config.yaml").read_text())
