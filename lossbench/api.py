"""The Python API: what ``lossbench run`` and ``lossbench paradox`` do, for notebooks and scripts.

    import lossbench
    results = lossbench.run_study("studies/ae_vs_vae.yaml", out="my_results/ae_vs_vae", overrides={"seeds": [0, 1]})
    study = lossbench.Study.from_dict({...})       # or Study.from_yaml(path, overrides=...)
    tables = lossbench.run_paradox(out="my_results/paradox")

A mistake a user can make (a study key, a path, a value, missing data or weights) raises
:class:`lossbench.LossbenchError`, whose message is the line the command line prints after
``error:``; nothing is written before the study validates. The environment is read as the command
line reads it: $LOSSBENCH_DATA (data root), $LOSSBENCH_CACHE (cache folder) and
$LOSSBENCH_WEIGHTS_<NAME> (a network's weights file).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lossbench.store import files
from lossbench.core.errors import LossbenchError

from lossbench.core.environment import CACHE_ENV, DATA_ENV, cache_dir, data_root  # noqa: F401
from lossbench.store.folders import StudyFolder



def explicit_weights() -> dict[str, str]:
    """LOSSBENCH_WEIGHTS_<NAME> -> an explicit weights file per network (read in lossbench.nets.weights,
    imported here only when called: loading a study needs no torch)."""
    from lossbench.nets import weights

    return weights.explicit_weights()

def check_cache() -> None:
    if cache_dir():
        files.check_folder(os.environ[CACHE_ENV], f"${CACHE_ENV}")


def check_device(name: str, flag: str = "--device") -> None:
    if name not in ("auto", "cpu", "cuda", "mps"):
        raise LossbenchError(f"{flag} {name}: not a device (auto, cpu, cuda or mps)")
    if name in ("auto", "cpu"):
        return
    import torch

    ok = {"cuda": torch.cuda.is_available(),
          "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}[name]
    if not ok:
        raise LossbenchError(f"{flag} {name}: not available on this machine (use {flag} auto or cpu)")


def as_study(study, overrides=None):
    """A :class:`lossbench.study.Study` from a path, a dict or a Study (overrides applied to the first two)."""
    from lossbench.study.spec import Study

    if isinstance(study, Study):
        if overrides:
            raise LossbenchError("overrides: give them to Study.from_yaml or Study.from_dict, not with a Study")
        return study
    if isinstance(study, Mapping):
        return Study.from_dict(study, overrides=overrides)
    if isinstance(study, (str, os.PathLike)):
        return Study.from_yaml(study, overrides=overrides)
    raise LossbenchError(f"study: expected a path to a study file, a dict or a Study (got {type(study).__name__})")


def execute(study, out: Path, device: str = "auto", command: list[str] | None = None, strict: bool = False,
            only: list[str] | None = None, executor: str = "serial", ray_options: dict | None = None,
            wait: bool = False, force: bool = False, out_flag: str = "--out", jobs: int | str = 1) -> dict:
    """Check the device, folders and cache, then run the study; return its manifest (the command
    line and :func:`run_study` both call this)."""
    from lossbench.study.runner import run_study as _run

    if executor not in ("serial", "ray"):
        raise LossbenchError(f"executor: {executor!r} is not one (serial or ray)")
    check_device(device)
    files.check_folder(out, out_flag)
    check_cache()
    jobs = resolve_jobs(jobs, study.spec.training.threads, executor)
    return _run(study, out, device, command=command, strict=strict, cache=cache_dir(), weights=explicit_weights(),
                only=only, executor=executor, ray_options=ray_options, data_root=data_root(), wait=wait, force=force,
                jobs=jobs)


def resolve_jobs(jobs: int | str, threads: int | str, executor: str = "serial") -> int:
    """``--jobs``: a number of runs at once (>= 1), or auto: as many as this machine's cores hold
    at training.threads each. Only with the serial executor (Ray places runs itself)."""
    if jobs == "auto":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return 1 if executor == "ray" else max(1, cores // (1 if threads == "process" else int(threads)))
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise LossbenchError(f"--jobs: must be a whole number >= 1 or auto (got {jobs!r})")
    if jobs > 1 and executor == "ray":
        raise LossbenchError("--jobs is for the serial executor; with --executor ray, Ray runs as many at once as "
                             "--cpus-per-run allows")
    return jobs


def run_study(study, out: str | Path | None = None, overrides=None, executor: str = "serial", device: str = "auto",
              only: list[str] | None = None, force: bool = False, strict: bool = False, wait: bool = False,
              ray_options: dict | None = None, jobs: int | str = 1):
    """Train and evaluate every run of ``study`` that is not finished, write the report, and
    return the results as a pandas DataFrame, one row per run (what :func:`lossbench.load_results`
    gives for the folder).

    ``study``: a study file's path, a dict with a study file's keys, or a :class:`Study`.
    ``out``: the study folder (default ``results/<name>``). ``overrides``: ``--set`` items, as
    'key=value' strings or a mapping {'training.lr': 1e-3, 'seeds': [0, 1]}. ``executor``: serial
    or ray (``ray_options``: address, cpus_per_run, gpus_per_run). ``only``/``force``: the run ids
    to train, and whether to train them again. ``jobs``: runs trained at once in worker processes
    (or "auto"); the numbers are the same. Raises LossbenchError for a user's mistake."""
    from lossbench.store.results import load_results

    study = as_study(study, overrides)
    out = Path(out) if out is not None else Path("results") / study.spec.name
    if force and not only:
        raise LossbenchError("force: needs only=[RUN_ID, ...] (it deletes those runs' results; to start a whole study "
                             "over, give a new out)")
    if executor == "ray":
        ray_options = {"cpus_per_run": 1.0, "gpus_per_run": 0.0, **(ray_options or {})}
    elif ray_options:
        raise LossbenchError("ray_options: needs executor='ray'")
    execute(study, out, device, command=["lossbench.run_study", str(study.source)], strict=strict, only=only,
            executor=executor, ray_options=ray_options, wait=wait, force=force, out_flag="out", jobs=jobs)
    return load_results(out)


def score_study(folder: str | Path, metrics: list[str] | None = None, recompute: bool = False, device: str = "auto",
                strict: bool = False, wait: bool = False):
    """Add metrics to (or, with ``recompute``, compute again every metric of) the finished runs
    of a study folder, from their checkpoints and without training, then rebuild the report;
    return the results as :func:`run_study` does. ``metrics``: names to add to the study's list
    (``lossbench list`` names them). Runs shared without checkpoints keep what they have."""
    from lossbench.store.results import load_results

    score_folder(Path(folder), metrics, recompute, device, strict, wait, command=["lossbench.score_study", str(folder)])
    return load_results(folder)


def score_folder(folder: Path, metrics: list[str] | None, recompute: bool, device: str, strict: bool, wait: bool,
                 command: list[str]) -> tuple[Any, dict]:
    """(the study as scored, its manifest): the study folder's own study.yaml with ``metrics``
    added, checked at the door (the command line and :func:`score_study` both call this)."""
    import json

    from lossbench.core.errors import did_you_mean
    from lossbench.metrics import METRICS
    from lossbench.study.runner import score_study as _score
    from lossbench.study.source import read_study_file
    from lossbench.study.spec import Study, load_study

    source = folder / StudyFolder.STUDY
    if not folder.is_dir():
        raise LossbenchError(f"{folder}: folder not found")
    if not source.is_file():
        raise LossbenchError(f"{folder}: no study.yaml, so not a folder written by 'lossbench run' "
                             f"(lossbench run STUDY --out {folder} trains and scores one)")
    for name in metrics or []:
        if name not in METRICS:
            raise LossbenchError(f"--metrics: {name!r} is not a metric{did_you_mean(name, METRICS)}")
    check_device(device)
    check_cache()
    overrides = []
    if metrics:
        raw = read_study_file(source)
        current = raw.get("metrics") if isinstance(raw, dict) else None
        names = [*(current if isinstance(current, list) else []), *metrics]
        overrides = [f"metrics={json.dumps(list(dict.fromkeys(names)))}"]
    study = load_study(source, overrides, data_root=data_root(), resolved=True)
    previous = files.read_json_or_none(folder / StudyFolder.MANIFEST)
    if isinstance(previous, dict) and isinstance(previous.get("study_file"), str):  # named as the runs were trained
        study = Study(study.spec, previous["study_file"], study.runs)
    return study, _score(study, folder, device, command=command, strict=strict, cache=cache_dir(),
                         weights=explicit_weights(), recompute=recompute, wait=wait)


def run_paradox(out: str | Path = "pixel_paradox", device: str = "auto", **options: Any) -> dict:
    """The one-pixel / six-pixel paradox (``lossbench paradox``): measure, write the folder
    ``out`` (report.md, figures, tables) and return its tables as pandas DataFrames by name
    (values, variants, agreement, judge_controls, equal_mse). ``options``: digit, per_class,
    seed, dataset (:class:`lossbench.paradox.ParadoxSpec`)."""
    import pandas as pd
    from pydantic import ValidationError

    from lossbench.paradox import ParadoxSpec
    from lossbench.paradox import run_paradox as _run
    from lossbench.train import pick_device

    try:
        spec = ParadoxSpec(**options)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise LossbenchError(f"run_paradox: {'.'.join(map(str, err['loc']))}: {err['msg']} (got {err['input']!r})") from None
    out = Path(out)
    check_device(device)
    files.check_folder(out, "out")
    files.check_unlocked(out)
    check_cache()
    _run(spec, out, cache=cache_dir(), device=pick_device(device), data_root=data_root(),
         command=["lossbench.run_paradox"], weights=explicit_weights())
    names = {"values": "paradox_values.csv", "variants": "variants.csv", "agreement": "agreement.csv",
             "judge_controls": "judge_controls.csv", "equal_mse": "equal_mse.csv"}
    return {name: pd.read_csv(out / file) for name, file in names.items()}
