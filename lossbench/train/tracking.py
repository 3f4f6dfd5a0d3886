"""Experiment tracking: a study's ``logging: [csv, tensorboard, mlflow]``.

csv is lossbench's own files (history.csv, steps.csv, metrics.json), always written: the report
reads them. TensorBoard and MLflow receive the same numbers while a run trains, one tracked run
per lossbench run, grouped by study:

- per step: every loss term, the total and the discriminators' statistics (``step/<column>``;
  names as :func:`tag` writes them: ``val[l2]`` becomes ``val:l2``);
- per epoch: the epoch's means, the validation terms and the balance diagnostics
  (``epoch/<column>``, at the epoch number), and the fixed test images' reconstructions;
- at the end: the final metrics (``metric/<name>``) and the run's resolved configuration as
  hyperparameters.

TensorBoard writes event files under ``DIR/tensorboard/<model>__<condition>__s<seed>__<run_id>/``; MLflow writes to
$MLFLOW_TRACKING_URI if set, else to ``DIR/mlflow.db`` (SQLite; artifacts under
``DIR/mlflow-artifacts/``), in the experiment named after the study. Both are optional extras
(``pip install 'lossbench[tracking]'``); a study asking for one that is not installed is one line
at validation, before anything is written.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

#: what each sink needs importable (checked at validation)
NEEDS = {"tensorboard": ("tensorboard",), "mlflow": ("mlflow", "sqlalchemy", "alembic")}


def missing(sink: str) -> str | None:
    """The first package ``sink`` needs that is not installed, or None."""
    for name in NEEDS.get(sink, ()):
        if importlib.util.find_spec(name) is None:
            return name
    return None


def flat_config(config: dict) -> dict[str, str]:
    """A run's configuration as flat string parameters (nested keys joined by '.'), flattened as
    load_results flattens it into its config.* columns; lists as JSON."""
    from lossbench.store.results import _flatten

    flat: dict = {}
    _flatten("", config, flat)
    return {k: json.dumps(v, sort_keys=True) if isinstance(v, (list, tuple)) else str(v) for k, v in flat.items()}



def tensorboard_name(config: dict) -> str:
    """A run's folder under DIR/tensorboard/: readable in TensorBoard's run list (model, condition,
    seed) and unique (the run id last); characters a file name or TensorBoard's regex filter trips
    on become '_'."""
    import re

    model = config.get("model", {}).get("label") or config.get("model", {}).get("name", "model")
    condition = config.get("condition", {}).get("name", "condition")
    name = f"{model}__{condition}__s{config.get('seed', 0)}__{config['run_id']}"
    return re.sub(r"[^A-Za-z0-9_.+=,-]", "_", name)

class Tracker:
    """The sinks of one run. Each method is a no-op for a sink not asked for."""

    def __init__(self, sinks: Sequence[str], out_dir: Path, study: str, config: dict):  # noqa: D107
        self.sinks = [s for s in sinks if s != "csv"]
        self.out_dir, self.study, self.config = Path(out_dir), study, config
        self.run_id = config["run_id"]
        self._tb = None
        self._ml = None  # (client, mlflow run id)
        self.params = flat_config({k: v for k, v in config.items() if k not in ("run_id", "notes")})

    @property
    def active(self) -> bool:
        return bool(self.sinks)

    def _tensorboard(self):
        if self._tb is None and "tensorboard" in self.sinks:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(self.out_dir / "tensorboard" / tensorboard_name(self.config)))
        return self._tb

    def _mlflow(self):
        if self._ml is None and "mlflow" in self.sinks:
            from mlflow.tracking import MlflowClient

            from filelock import FileLock

            uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(self.out_dir / 'mlflow.db').resolve()}"
            # runs on Ray start side by side: one at a time creates the store's tables (a new SQLite
            # file), the study's experiment and its own tracked run; logging afterwards needs no lock
            with FileLock(str(self.out_dir / ".mlflow.lock"), timeout=600):
                client = MlflowClient(uri)
                experiment = client.get_experiment_by_name(self.study)
                experiment_id = experiment.experiment_id if experiment is not None else client.create_experiment(
                    self.study, artifact_location=(self.out_dir / "mlflow-artifacts").resolve().as_uri())
                model, condition, seed = self.config["model"]["label"], self.config["condition"]["name"], self.config["seed"]
                found = client.search_runs([experiment_id], f"tags.`lossbench.run_id` = '{self.run_id}'", max_results=1)
                if found:  # a run resumed after a kill goes on in its tracked run
                    run_id = found[0].info.run_id
                else:
                    run = client.create_run(experiment_id, run_name=f"{model}/{condition}/s{seed}",
                                            tags={"lossbench.run_id": self.run_id, "lossbench.study": self.study,
                                                  "model": model, "condition": condition, "seed": str(seed)})
                    run_id = run.info.run_id
                    from mlflow.entities import Param

                    client.log_batch(run_id, params=[Param(k, v[:6000]) for k, v in self.params.items()])
            self._ml = (client, run_id)
        return self._ml

    def epoch(self, epoch: int, steps, row: dict, recon=None, fixed=None) -> None:
        """One finished epoch: ``steps`` (its rows of steps.csv), ``row`` (its row of
        history.csv), ``recon`` (the fixed images' reconstructions, uint8) above ``fixed``."""
        if not self.active:
            return
        step_columns = [c for c in steps.columns if c not in ("epoch", "step")]
        epoch_values = {k: float(v) for k, v in row.items() if k not in ("epoch", "step") and _number(v)}
        grid = _grid(fixed, recon) if recon is not None and fixed is not None else None
        tb = self._tensorboard()
        if tb is not None:
            for c in step_columns:
                for s, v in zip(steps["step"].tolist(), steps[c].tolist()):
                    if _number(v):
                        tb.add_scalar(tag(f"step/{c}"), float(v), int(s))
            for k, v in epoch_values.items():
                tb.add_scalar(tag(f"epoch/{k}"), v, epoch)
            if grid is not None:
                tb.add_image("reconstructions", grid, epoch)
            tb.flush()
        ml = self._mlflow()
        if ml is not None:
            from mlflow.entities import Metric

            client, run_id = ml
            metrics = [Metric(tag(f"step/{c}"), float(v), 0, int(s)) for c in step_columns
                       for s, v in zip(steps["step"].tolist(), steps[c].tolist()) if _number(v)]
            metrics += [Metric(tag(f"epoch/{k}"), v, 0, epoch) for k, v in epoch_values.items()]
            for i in range(0, len(metrics), 1000):  # MLflow takes at most 1,000 metrics per batch
                client.log_batch(run_id, metrics=metrics[i : i + 1000])
            if grid is not None:
                client.log_image(run_id, grid.permute(1, 2, 0).numpy(), key="reconstructions", step=epoch)

    def finish(self, result: dict) -> None:
        """The run's end: its final metrics and status; closes the writers."""
        if not self.active:
            return
        metrics = {k: float(v) for k, v in (result.get("metrics") or {}).items() if _number(v)}
        tb = self._tensorboard()
        if tb is not None:
            for k, v in metrics.items():
                tb.add_scalar(tag(f"metric/{k}"), v, 0)
            tb.add_hparams(self.params, {tag(f"hparam/{k}"): v for k, v in metrics.items()}, run_name=".")
            tb.close()
        ml = self._mlflow()
        if ml is not None:
            from mlflow.entities import Metric

            client, run_id = ml
            if metrics:
                client.log_batch(run_id, metrics=[Metric(tag(f"metric/{k}"), v, 0, 0) for k, v in metrics.items()])
            client.set_terminated(run_id, "FINISHED" if result.get("status") == "done" else "FAILED")


def tag(name: str) -> str:
    """A column name as TensorBoard and MLflow take it (MLflow allows letters, digits and _ - . space
    : /): brackets become ':' (val[l2] -> val:l2, grad[decoder]:l2 -> grad:decoder:l2), other
    characters '_' (perceptual(domain) -> perceptual_domain_)."""
    import re

    return re.sub(r"[^A-Za-z0-9_\-. :/]", "_", name.replace("[", ":").replace("]", ""))


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _grid(fixed, recon):
    """Top row the fixed test images, bottom row their reconstructions: a C×H×W uint8 tensor."""
    import torch
    from torchvision.utils import make_grid

    images = torch.cat([(fixed.cpu() * 255).round().to(torch.uint8), recon.cpu()])
    return make_grid(images, nrow=len(fixed), padding=1, pad_value=128)
