"""Is a stored run what it says it is? A run folder is *finished* when its ``metrics.json``
reads and every file it lists has the size and sha256 written there; anything else is
*damaged*, named with the file and the fix, and left out of tables while the rest of the
study reports.

The digests are of the bytes on disk (torch.save output is deterministic here, see
:func:`lossbench.store.files.torch_save`), so they are the same wherever the folder is copied.
Runs written before the digests existed (lossbench 0.1) are checked by reading each file the
report reads instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lossbench.store import files
from lossbench.store.folders import RunFolder

#: a run that trained and is not scored yet: training's record (everything metrics.json holds but
#: the scores), written after checkpoint.pt; scoring turns it into metrics.json and removes it
TRAINED = RunFolder.TRAINED

#: written beside the results but not part of them (the state of a run in progress, its training
#: record before scoring, temporaries)
UNSEALED = (RunFolder.METRICS, RunFolder.RESUME, TRAINED)

#: may be absent from a finished run: results are shared without checkpoints (.gitignore keeps
#: them out of results/); present, it must be the one written. Without it, a metric added to the
#: study later cannot be computed for that run.
OPTIONAL = (RunFolder.CHECKPOINT,)


sha256 = files.sha256_of


def seal(run_dir: Path, result: dict) -> dict:
    """``result`` with ``files``: size and sha256 of every file of the run folder (written just
    before metrics.json, which :func:`problem` checks them against), and ``seal``: the sha256 of
    the result itself (:func:`self_digest`), so that a number edited in metrics.json is noticed
    as an edited per_image.csv is."""
    listed = {}
    for path in sorted(Path(run_dir).iterdir()):
        if path.is_file() and path.name not in UNSEALED and not path.name.startswith("."):
            listed[path.name] = {"bytes": path.stat().st_size, "sha256": sha256(path)}
    sealed = {k: v for k, v in result.items() if k != "seal"}
    sealed["files"] = listed
    return {**sealed, "seal": self_digest(sealed)}


def self_digest(result: dict) -> str:
    """The sha256 of a result's content but its ``seal``, written canonically (sorted keys, no
    spaces): the same for the file as written and as read back, on any machine (JSON numbers
    read back to the same floats, whose shortest form is printed again)."""
    import hashlib

    blob = json.dumps({k: v for k, v in result.items() if k != "seal"}, sort_keys=True, separators=(",", ":"),
                      default=files.json_default)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


#: fields of metrics.json that tables add up: each a number (or null) where present
NUMERIC = ("train_seconds", "n_params", "steps", "epochs", "evaluated_epoch", "threads", "n_test", "n_distribution",
           "run_seconds")


def _number(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def read_metrics(run_dir: Path) -> tuple[dict | None, str | None]:
    """(metrics.json's content, None), or (None, what is wrong with it); (None, None) if absent.
    A result written before lossbench 0.4 has no ``seal`` and is read as it is (its numbers are
    still checked to be numbers)."""
    if Path(run_dir).exists() and not Path(run_dir).is_dir():
        return None, f"{FOLDER}: a file, not a run's folder"
    path = Path(run_dir) / RunFolder.METRICS
    if not path.is_file():
        return None, None
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, "metrics.json: cannot be read (truncated, or not JSON)"
    except OSError as exc:
        return None, f"metrics.json: cannot be read ({exc.strerror or exc})"
    if not isinstance(result, dict) or not isinstance(result.get("status"), str):
        return None, "metrics.json: not a run's result (no status)"
    if result.get("run_id") != Path(run_dir).name:
        return None, f"metrics.json: written for run {result.get('run_id')!r}, not this folder's"
    if result["status"] == "done" and not isinstance(result.get("metrics"), dict):
        return None, "metrics.json: a finished run without its metrics"
    if "seal" in result and result["seal"] != self_digest(result):
        return None, "metrics.json: its content changed since it was written (its seal, the sha256 of the rest, differs)"
    for key in NUMERIC:
        if not _number(result.get(key)):
            return None, f"metrics.json: {key} is {result[key]!r}, not a number"
    for key, value in (result.get("metrics") or {}).items():
        if not _number(value):
            return None, f"metrics.json: metrics.{key} is {value!r}, not a number"
    return result, None


def problem(run_dir: Path, result: dict) -> str | None:
    """What is wrong with a finished run's files, or None. ``result``: its metrics.json."""
    run_dir = Path(run_dir)
    if result.get("status") != "done":
        return None
    listed = result.get("files")
    if listed is None:
        return _legacy_problem(run_dir)
    for name, expected in listed.items():
        path = run_dir / name
        if not path.is_file():
            if name in OPTIONAL:
                continue
            return f"{name}: missing"
        if path.stat().st_size != expected.get("bytes"):
            return f"{name}: {path.stat().st_size} bytes where {expected.get('bytes')} were written (truncated or replaced)"
        if sha256(path) != expected.get("sha256"):
            return f"{name}: its content changed since it was written (sha256 differs)"
    return None


def _legacy_problem(run_dir: Path) -> str | None:
    """A run without digests: every file the report reads must read, and the checkpoint must be this run's."""
    import pandas as pd
    import torch
    import yaml

    for name in (RunFolder.CONFIG, RunFolder.HISTORY, RunFolder.PER_IMAGE, RunFolder.CHECKPOINT, RunFolder.RECON_FIXED, RunFolder.LATENT,
                 RunFolder.RECON_WORST, RunFolder.RECON_EPOCHS):
        path = run_dir / name
        if not path.is_file():
            if name in (RunFolder.CONFIG, RunFolder.HISTORY):
                return f"{name}: missing"
            continue
        try:
            if name.endswith(".csv"):
                pd.read_csv(path)
            elif name.endswith(".yaml"):
                if not isinstance(yaml.safe_load(path.read_text(encoding="utf-8")), dict):
                    return f"{name}: not a run configuration"
            else:
                stored = torch.load(path, map_location="cpu", weights_only=True)
                if name == RunFolder.CHECKPOINT and stored.get("run_id") != run_dir.name:
                    return f"{name}: written for run {stored.get('run_id')!r}, not this folder's"
        except Exception as exc:  # any reader's error on a damaged file: named, not raised
            return f"{name}: cannot be read ({type(exc).__name__})"
    return None


#: how :func:`read_metrics` names the run folder itself in what is wrong (``runs/<id>`` is a file)
FOLDER = "(the run's folder)"


def fix_line(study_file: str | None, out_dir: Path, run_id: str) -> str:
    study = study_file or "STUDY.yaml"
    return f"re-run it: lossbench run {study} --out {out_dir} --only {run_id} --force"


def check(run_dir: Path) -> tuple[dict | None, str | None]:
    """(metrics.json's content, what is wrong with the run or None). (None, None): not finished."""
    result, wrong = read_metrics(run_dir)
    if wrong is None and result is not None:
        wrong = problem(run_dir, result)
    return result, wrong


def damage_line(run_dir: Path, wrong: str, study_file: str | None, out_dir: Path) -> str:
    """``wrong`` (``file: problem``) with the file's full path and the fix."""
    name, what = wrong.split(":", 1)
    where = Path(run_dir) if name == FOLDER else Path(run_dir) / name
    return f"{where}:{what}; {fix_line(study_file, out_dir, Path(run_dir).name)}"


def damaged(run_dir: Path, study_file: str | None, out_dir: Path) -> str | None:
    """One line for a run folder whose stored result cannot be trusted, or None (finished and
    intact, or simply not finished)."""
    _, wrong = check(run_dir)
    return None if wrong is None else damage_line(run_dir, wrong, study_file, out_dir)


@dataclass(frozen=True)
class Held:
    """A metric's values as a study folder holds them: sealed in its runs' metrics.json, with the
    provenance (network, weights' sha256) and calibration that the folder's manifest recorded when
    they were computed. ``everywhere``: every run of the study holds them, so a rebuild computes
    nothing for this metric (only ``lossbench score --recompute`` replaces a stored number)."""

    provenance: dict
    calibration: dict | None
    everywhere: bool
