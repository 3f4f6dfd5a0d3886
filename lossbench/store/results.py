"""``load_results(DIR)``: a study folder as one pandas DataFrame, for notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lossbench.store.collect import collect_runs, read_manifest, run_config
from lossbench.store.folders import RunFolder, StudyFolder


def _flatten(prefix: str, value, out: dict) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        out[prefix] = json.dumps(value, sort_keys=True)  # e.g. a condition's terms: one readable cell
    else:
        out[prefix] = value


def load_results(directory: str | Path) -> pd.DataFrame:
    """One row per run of the study in ``directory`` (a folder written by ``lossbench run``):
    run_id, model, condition, seed, status, reason, flags, every metric (and the extra columns
    evaluation stores, e.g. fd-judge-uniform, fd-judge-prior, rate, active_units), train_seconds, n_params, and
    the run's resolved configuration flattened into ``config.*`` columns
    (``config.model.latent_dim``, ``config.training.epochs``, ``config.condition.terms``...)."""
    directory = Path(directory)
    runs = collect_runs(directory, read_manifest(directory))
    configs = []
    for run_id in runs["run_id"]:
        flat: dict = {}
        if (directory / StudyFolder.RUNS / run_id / RunFolder.CONFIG).is_file():
            config = run_config(directory, run_id)
            config.pop("run_id", None)
            _flatten("config", config, flat)
        configs.append(flat)
    return pd.concat([runs.reset_index(drop=True), pd.DataFrame(configs)], axis=1)
