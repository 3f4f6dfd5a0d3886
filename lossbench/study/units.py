"""A run as a unit of work: what a process needs to train one run of a study folder
(:class:`Session`), training one (:func:`run_one`), and rebuilding all of it from the folder and
the caches in any process (:func:`execute_run`). The serial loop (:mod:`lossbench.study.runner`)
and the Ray tasks (:mod:`lossbench.study.executors`) both call these; neither imports the other's loop."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from lossbench.store import files, stored
from lossbench.core.errors import DataNotFound, LossbenchError
from lossbench.data import DeviceBatches, load_dataset
from lossbench.score.evaluate import EvalContext
from lossbench.study.held import check_sizes, held_metrics
from lossbench.metrics import METRICS
from lossbench.score import complete_metrics, score_run, trained_record
from lossbench.study.spec import Study
from lossbench.train import compute_threads, pick_device, train_run
from lossbench.nets.weights import cache_lock
from lossbench.store.folders import RunFolder, StudyFolder


@dataclass
class Session:
    """What every run of a study shares within one process: the data on its device, the
    evaluation context (feature networks, real-set statistics) and the conditions whose weights
    are missing. Built by the driver before any run, and again, from the caches, by a worker."""

    study: Study
    out_dir: Path
    device: torch.device
    ctx: EvalContext
    batches: DeviceBatches
    report: dict
    skipped: dict[str, str]
    #: conditions with a run still to train (:func:`held_metrics`); empty when every run has settled
    to_train: set[str] = field(default_factory=set)

    @property
    def nothing_to_compute(self) -> bool:
        """Every run settled and every metric stored: this invocation can only rebuild the report."""
        return not self.to_train and set(self.ctx.stored) == set(self.study.spec.metrics)

    @property
    def prefixes(self) -> Path:
        """Where runs that differ only in the weights of plateau-started terms share their first
        phase (lossbench.train.prefix_key); removed once every run of the study is finished."""
        return self.out_dir / PREFIXES


#: the study folder's shared first phases (lossbench.train.prefix_key)
PREFIXES = StudyFolder.PREFIXES


def open_session(study: Study, out_dir: Path, device_name: str = "auto", strict: bool = False,
                 cache: str | None = None, weights: dict | None = None, keep_stored: bool = True,
                 retrain: set[str] | frozenset[str] = frozenset()) -> Session:
    """``keep_stored``: metrics that every run of the folder holds are reported as stored, not
    prepared or computed again (:func:`held_metrics`); ``lossbench score --recompute`` passes False.
    ``retrain``: run ids that ``--force`` will delete and train again (their stored results count for nothing)."""
    device = pick_device(device_name)
    try:
        data = load_dataset(study.spec.data)
    except DataNotFound:
        raise
    except LossbenchError as exc:  # a value of the study's data section: named with its file
        if str(exc).startswith(str(study.source)):
            raise
        raise LossbenchError(f"{study.source}: {exc}") from None
    sets = [m for m in study.spec.metrics if METRICS[m].kind == "distribution"]
    for split, x in (("test", data.test_x), ("training", data.train_x)):
        if sets and len(x) < 2:
            raise LossbenchError(f"{study.source}: data: the {split} split holds {len(x)} image; {sets[0]} compares sets "
                                 f"of at least 2 images (more data, a larger data.test_fraction, or drop {sets[0]})")
    check_sizes(study, data)
    report = study.spec.report.model_dump()
    held, to_train = held_metrics(study, Path(out_dir), data.identity, report, retrain)
    # shared artefacts (domain classifiers, real statistics, converted weights) are built by
    # whoever comes first; concurrent workers wait for it instead of building them twice
    with cache_lock(cache), compute_threads(study.spec.training.threads):
        ctx = EvalContext(data, study.spec.metrics, device, cache=cache, weights=weights,
                          distribution_n=report["distribution_n"], strict=strict, batch_size=report["eval_batch_size"],
                          inception_n=report["inception_n"], calibrate=report["calibration"],
                          held=held if keep_stored else {m: h for m, h in held.items() if not h.everywhere})
        skipped = unavailable_conditions(study, ctx, strict, to_train)
    batches = DeviceBatches(data.train_x, study.spec.training.batch_size, device)
    return Session(study, Path(out_dir), device, ctx, batches, report, skipped, to_train)


def run_one(session: Session, run, progress_position: int = 1) -> str:
    """Train and score one run unless it is finished; return its outcome, a key of COUNTS."""
    return run_group(session, [run], progress_position)[0]


def run_group(session: Session, group: list, progress_position: int = 1) -> list[str]:
    """Train the runs of ``group`` that are not finished, then score them: train (one by one, or,
    for the seeds of one condition under ``training.vectorize_seeds``
    (:func:`lossbench.train.vectorised.group_runs`), side by side as one stacked model) writes each run's
    checkpoint and training record; score reads that folder and writes metrics.json. A run that
    trained before and was not scored (a kill between the two) is scored only. Returns each run's
    outcome, a key of COUNTS."""
    from lossbench.train.tracking import Tracker
    from lossbench.train.vectorised import train_group, why_not

    outcomes = {run.run_id: _settle(session, run) for run in group}
    unsettled = [run for run in group if outcomes[run.run_id] is None]
    trained_before = [run for run in unsettled if trained_record(session.out_dir / StudyFolder.RUNS / run.run_id) is not None]
    pending = [run for run in unsettled if run not in trained_before]
    spec = session.study.spec
    trackers = {r.run_id: Tracker(spec.logging, session.out_dir, spec.name, r.config) for r in pending}
    side_by_side = pending and pending[0].config["training"].get("vectorize_seeds") and why_not(pending[0].config, pending[0].terms) is None
    with compute_threads(spec.training.threads):
        if side_by_side:
            train_group([r.config for r in pending], session.batches, session.ctx,
                        [session.out_dir / StudyFolder.RUNS / r.run_id for r in pending], session.device, session.report,
                        progress_position=progress_position, trackers=[trackers[r.run_id] for r in pending],
                        terms=pending[0].terms or None)
        else:
            for r in pending:
                train_run(r.config, session.batches, session.ctx, session.out_dir / StudyFolder.RUNS / r.run_id, session.device,
                          session.report, progress_position=progress_position, tracker=trackers[r.run_id],
                          prefixes=session.prefixes, terms=r.terms or None)
        for run in trained_before + pending:  # train, then score: each from the run's folder
            result = score_run(session.out_dir / StudyFolder.RUNS / run.run_id, run.config, session.ctx, session.report)
            if run.run_id in trackers:
                trackers[run.run_id].finish(result)
            outcomes[run.run_id] = "trained"
            if result["status"] != "done":
                tqdm.write(f"run {run.title} failed: {result['reason']} (the study goes on)", file=sys.stderr)
                outcomes[run.run_id] = "failed"
    return [_settled(outcomes[run.run_id]) for run in group]


def _settled(outcome: str | None) -> str:
    if outcome is None:  # every pending run was given its outcome above
        raise RuntimeError("a run of the group has no outcome")
    return outcome


def _settle(session: Session, run) -> str | None:
    """The outcome of a run that needs no training (damaged, finished before, weights
    unavailable), or None: it trains (its config.yaml is written)."""
    run_dir = session.out_dir / StudyFolder.RUNS / run.run_id
    done = run_dir / RunFolder.METRICS
    result, wrong = stored.check(run_dir)
    if wrong is not None:  # left as it is, out of the tables; --only ID --force trains it again
        tqdm.write(f"run {run.title}: damaged: {stored.damage_line(run_dir, wrong, session.study.source, session.out_dir)}",
                   file=sys.stderr)
        return "damaged"
    if result is not None and result.get("status") != "skipped":
        if "files" in result and "seal" not in result:  # written by lossbench 0.3, intact: sealed now
            files.write_json(done, {**result, "seal": stored.self_digest(result)})
        complete_metrics(run.config, run_dir, session.ctx, session.report)
        return "skipped (finished before)"
    files.write_yaml(run_dir / RunFolder.CONFIG, {**run.config, "metrics": session.study.spec.metrics,
                                               "device": str(session.device)})
    if run.condition in session.skipped:  # retried on the next run, once the weights are there
        files.write_json(done, {"run_id": run.run_id, "status": "skipped", "reason": session.skipped[run.condition],
                                "metrics": {}})
        return "skipped (weights unavailable)"
    return None


#: one session per study folder and set-up in a process: a worker that gets several runs of a
#: study builds its data and evaluation context once
_SESSIONS: dict[tuple, Session] = {}


def execute_run(out_dir: str | Path, run_id: str, device: str = "auto", cache: str | None = None,
                weights: dict | None = None, data_root: str | None = None) -> str:
    """Train and evaluate the run ``run_id`` of the study folder ``out_dir``, rebuilding all it
    needs from the folder's ``study.yaml`` and the caches (any process, any machine that sees the
    folder). Returns the outcome: trained, failed, skipped (finished before) or skipped (weights
    unavailable)."""
    from lossbench.study.spec import load_study

    out_dir = Path(out_dir)
    key = (str(out_dir.resolve()), device, cache, data_root, tuple(sorted((weights or {}).items())))
    session = _SESSIONS.get(key)
    if session is None:
        study = load_study(out_dir / StudyFolder.STUDY, data_root=data_root, resolved=True)
        session = _SESSIONS[key] = open_session(study, out_dir, device, cache=cache, weights=weights)
    run = next((r for r in session.study.runs if r.run_id == run_id), None)
    if run is None:
        raise LossbenchError(f"{out_dir / 'study.yaml'}: no run {run_id} in this study (lossbench run STUDY --dry-run lists them)")
    return run_one(session, run, progress_position=0)


COUNTS = ("trained", "skipped (finished before)", "failed", "skipped (weights unavailable)", "damaged", "scored",
          "not trained", "no checkpoint")


def score_only(session: Session, run, recompute: bool = False) -> str:
    """``lossbench score`` for one run: a finished run gets the metrics it lacks (every metric,
    with ``recompute``) from its checkpoint; a run that trained and was never scored is scored; a
    run that never trained is left to ``lossbench run``. Nothing trains. Returns a key of COUNTS."""
    run_dir = session.out_dir / StudyFolder.RUNS / run.run_id
    result, wrong = stored.check(run_dir)
    if wrong is not None:
        tqdm.write(f"run {run.title}: damaged: {stored.damage_line(run_dir, wrong, session.study.source, session.out_dir)}",
                   file=sys.stderr)
        return "damaged"
    if result is not None and result.get("status") not in ("skipped", None):
        done = complete_metrics(run.config, run_dir, session.ctx, session.report, recompute)
        return {"scored": "scored", "no checkpoint": "no checkpoint"}.get(done, "skipped (finished before)")
    if trained_record(run_dir) is not None:
        with compute_threads(run.config["training"].get("threads", "process")):
            score_run(run_dir, run.config, session.ctx, session.report)
        return "scored"
    return "not trained"


def unavailable_conditions(study: Study, ctx, strict: bool, to_train: set[str] | None = None) -> dict[str, str]:
    """Conditions whose perceptual network cannot be had: condition -> reason. With --strict
    the first one is an error (raised before anything is written). ``to_train``: only these
    conditions have runs that will train (a finished condition needs no network)."""
    from lossbench.nets.weights import WeightsUnavailable

    skipped = {}
    for cname in study.spec.conditions:
        if to_train is not None and cname not in to_train:
            continue
        for j, spec in enumerate(study.spec.terms(cname)):
            for network, layers in spec.feature_networks():
                try:
                    ctx.feature_network(network, layers)
                except WeightsUnavailable as exc:
                    if strict:
                        raise LossbenchError(f"{study.source}: conditions.{cname}[{j}]: weights unavailable (--strict): {exc}") from None
                    skipped[cname] = f"conditions.{cname}[{j}] needs {network}: {exc}"
    return skipped
