"""Read the stored runs of a study folder into pandas, for tables and figures."""

from __future__ import annotations

from pathlib import Path

import json
import re

import pandas as pd
import yaml

from lossbench.store import stored
from lossbench.core.flags import Flag
from lossbench.core.errors import LossbenchError
from lossbench.store.folders import RunFolder, StudyFolder


def read_manifest(out_dir: Path) -> dict:
    """The study folder's manifest.json; a missing or damaged one is one line with the fix."""
    path = Path(out_dir) / StudyFolder.MANIFEST
    if not path.is_file():
        raise LossbenchError(f"{out_dir}: no manifest.json here; is this a folder written by 'lossbench run'?")
    fix = f"run the study again into this folder (lossbench run STUDY --out {out_dir}) to rewrite it; finished runs are kept"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise LossbenchError(f"{path}: cannot be read (truncated, or not JSON); {fix}") from None
    required = {"study": str, "runs": list, "metrics": dict, "dataset": dict, "device": dict}
    for key, kind in required.items():
        if not isinstance(manifest, dict) or not isinstance(manifest.get(key), kind):
            raise LossbenchError(f"{path}: {key}: missing or not a {kind.__name__}; {fix}")
    for i, entry in enumerate(manifest["runs"]):
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), t) for k, t in
                                                   (("run_id", str), ("model", str), ("condition", str), ("seed", int))):
            raise LossbenchError(f"{path}: runs[{i}]: not a run entry (run_id, model, condition, seed); {fix}")
        if not RUN_ID.fullmatch(entry["run_id"]):
            raise LossbenchError(f"{path}: runs[{i}].run_id: {entry['run_id']!r} is not a run id; {fix}")
    return manifest


#: run ids are hex digests (lossbench.study.spec); anything else could name a path outside the folder
RUN_ID = re.compile(r"[0-9a-f]{6,64}")


def collect_runs(out_dir: Path, manifest: dict) -> pd.DataFrame:
    """One row per run of the study's grid: config columns, status, every metric."""
    rows = []
    for entry in manifest["runs"]:
        run_dir = Path(out_dir) / StudyFolder.RUNS / entry["run_id"]
        row = {**entry, "status": "not run", "reason": "no metrics.json (not run yet, or interrupted)", "notes": [], "flags": []}
        if (run_dir / RunFolder.RESUME).is_file():
            row["reason"] = "interrupted mid-run; the next 'lossbench run' resumes it from its last finished epoch"
        result, wrong = stored.check(run_dir)
        if wrong is not None:  # out of every table and figure, with the file and the fix
            wrong = wrong.replace(stored.FOLDER, f"runs/{entry['run_id']}")
            row.update(status="damaged",
                       reason=f"{wrong}; {stored.fix_line(manifest.get('study_file'), Path(out_dir), entry['run_id'])}")
            rows.append(row)
            continue
        if (run_dir / RunFolder.CONFIG).is_file():
            row["notes"] = (run_config(out_dir, entry["run_id"]) or {}).get("notes", [])
        if result is not None:
            row.update(status=result["status"], reason=result.get("reason"), flags=[Flag.from_stored(f) for f in result.get("flags") or []],
                       train_seconds=result.get("train_seconds"), n_params=result.get("n_params"),
                       epochs=result.get("epochs"), evaluated_epoch=result.get("evaluated_epoch"), stopped=result.get("stopped"),
                       threads=result.get("threads"))
            row.update(result.get("metrics", {}))
            if result.get("vectorised"):
                row["side_by_side"] = True  # trained with its condition's other seeds as one stacked model
        rows.append(row)
    return pd.DataFrame(rows)


def fixed_inputs(out_dir: Path):
    """(the study's fixed test images, None), or (None, what is wrong with fixed_inputs.pt), or
    (None, None) without one. A damaged file costs the figures their row of inputs, never the report."""
    import torch

    path = Path(out_dir) / StudyFolder.FIXED_INPUTS
    if not path.is_file():
        return None, None
    try:
        images = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any reader's error on a damaged file: named, not raised
        return None, f"cannot be read ({type(exc).__name__})"
    if not (isinstance(images, torch.Tensor) and images.dtype == torch.uint8 and images.ndim == 4):
        return None, "not the study's test images (a uint8 N×C×H×W tensor)"
    return images, None


CRITIC_COLUMNS = ("weight", "d_loss", "d_acc_real", "d_acc_recon")


def collect_history(out_dir: Path, manifest: dict, critics: bool = False, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-epoch history of every run, long format: model, condition, seed, epoch, term, value,
    split. The loss terms, on the training batches (split ``train``, the epoch's mean) and on
    the validation split (``validation``, at the epoch's end; ``total`` there is the
    early-stopping monitor); or with ``critics``, the discriminators' columns
    (``d_acc_real[adversarial]``...)."""
    frames = []
    damaged = set(runs.loc[runs["status"] == "damaged", "run_id"]) if runs is not None else set()
    for entry in manifest["runs"]:
        path = Path(out_dir) / StudyFolder.RUNS / entry["run_id"] / RunFolder.HISTORY
        if not path.is_file() or entry["run_id"] in damaged:
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
    return yaml.safe_load((Path(out_dir) / StudyFolder.RUNS / run_id / RunFolder.CONFIG).read_text())
