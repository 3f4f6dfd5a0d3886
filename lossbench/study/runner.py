"""Execute a study: load data once, train each run of the grid that is not finished yet,
then build the report. A finished run (its metrics.json exists) is skipped on a rerun; if it
lacks a metric the study now asks for, that metric is computed from its checkpoint."""

from __future__ import annotations

import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from lossbench import __version__, files, stored
from lossbench.data import DeviceBatches, load_dataset
from lossbench.evaluate import EvalContext
from lossbench.metrics import METRICS
from lossbench.study.spec import Study
from lossbench.train import evaluate_run, load_model, pick_device, train_run
from lossbench.weights import cache_lock


def plan_lines(study: Study) -> list[str]:
    return [f"{r.run_id}  {r.model:<12} {r.condition:<16} seed {r.seed}" for r in study.runs]


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


def open_session(study: Study, out_dir: Path, device_name: str = "auto", strict: bool = False,
                 cache: str | None = None, weights: dict | None = None) -> Session:
    device = pick_device(device_name)
    data = load_dataset(study.spec.data)
    sets = [m for m in study.spec.metrics if METRICS[m].kind == "distribution"]
    for split, x in (("test", data.test_x), ("training", data.train_x)):
        if sets and len(x) < 2:
            from lossbench.errors import LossbenchError

            raise LossbenchError(f"{study.source}: data: the {split} split holds {len(x)} image; {sets[0]} compares sets "
                                 f"of at least 2 images (more data, a larger data.test_fraction, or drop {sets[0]})")
    report = study.spec.report.model_dump()
    # shared artefacts (domain classifiers, real statistics, converted weights) are built by
    # whoever comes first; concurrent workers wait for it instead of building them twice
    with cache_lock(cache):
        ctx = EvalContext(data, study.spec.metrics, device, cache=cache, weights=weights,
                          distribution_n=report["distribution_n"], strict=strict, batch_size=report["eval_batch_size"],
                          inception_n=report["inception_n"], calibrate=report["calibration"])
        skipped = unavailable_conditions(study, ctx, strict)
    batches = DeviceBatches(data.train_x, study.spec.training.batch_size, device)
    return Session(study, Path(out_dir), device, ctx, batches, report, skipped)


def run_one(session: Session, run, progress_position: int = 1) -> str:
    """Train and evaluate one run unless it is finished; return its outcome, a key of COUNTS."""
    run_dir = session.out_dir / "runs" / run.run_id
    done = run_dir / "metrics.json"
    result, wrong = stored.read_metrics(run_dir)
    if wrong is None and result is not None:
        wrong = stored.problem(run_dir, result)
    if wrong is not None:  # left as it is, out of the tables; --only ID --force trains it again
        tqdm.write(f"run {run.title}: damaged: {run_dir / wrong.split(':', 1)[0]}:{wrong.split(':', 1)[1]}; "
                   f"{stored.fix_line(session.study.source, session.out_dir, run.run_id)}", file=sys.stderr)
        return "damaged"
    if result is not None and result.get("status") != "skipped":
        _complete_metrics(run, run_dir, session.ctx, session.report)
        return "skipped (finished before)"
    files.write_yaml(run_dir / "config.yaml", {**run.config, "metrics": session.study.spec.metrics,
                                               "device": str(session.device)})
    if run.condition in session.skipped:  # retried on the next run, once the weights are there
        files.write_json(done, {"run_id": run.run_id, "status": "skipped", "reason": session.skipped[run.condition],
                                "metrics": {}})
        return "skipped (weights unavailable)"
    result = train_run(run.config, session.batches, session.ctx, run_dir, session.device, session.report,
                       progress_position=progress_position)
    if result["status"] != "done":
        tqdm.write(f"run {run.title} failed: {result['reason']} (the study goes on)", file=sys.stderr)
        return "failed"
    return "trained"


#: one session per study folder and set-up in a process: a worker that gets several runs of a
#: study builds its data and evaluation context once
_SESSIONS: dict[tuple, Session] = {}


def execute_run(out_dir: str | Path, run_id: str, device: str = "auto", cache: str | None = None,
                weights: dict | None = None, data_root: str | None = None) -> str:
    """Train and evaluate the run ``run_id`` of the study folder ``out_dir``, rebuilding all it
    needs from the folder's ``study.yaml`` and the caches (any process, any machine that sees the
    folder). Returns the outcome: trained, failed, skipped (finished before) or skipped (weights
    unavailable)."""
    from lossbench.errors import LossbenchError
    from lossbench.study.spec import load_study

    out_dir = Path(out_dir)
    key = (str(out_dir.resolve()), device, cache, data_root, tuple(sorted((weights or {}).items())))
    session = _SESSIONS.get(key)
    if session is None:
        study = load_study(out_dir / "study.yaml", data_root=data_root, resolved=True)
        session = _SESSIONS[key] = open_session(study, out_dir, device, cache=cache, weights=weights)
    run = next((r for r in session.study.runs if r.run_id == run_id), None)
    if run is None:
        raise LossbenchError(f"{out_dir / 'study.yaml'}: no run {run_id} in this study (lossbench run STUDY --dry-run lists them)")
    return run_one(session, run, progress_position=0)


COUNTS = ("trained", "skipped (finished before)", "failed", "skipped (weights unavailable)", "damaged")


def run_study(study: Study, out_dir: Path, device_name: str = "auto", command: list[str] | None = None,
              strict: bool = False, cache: str | None = None, weights: dict | None = None,
              only: list[str] | None = None, executor: str = "serial", ray_options: dict | None = None,
              data_root: str | None = None, wait: bool = False, force: bool = False) -> dict:
    """Train and evaluate every run (or the runs ``only`` names); return this invocation's
    manifest (the one written keeps the previous invocation's timing and counts when this one
    trained nothing). Data, weights and metric set-up may raise LossbenchError, all before
    anything is written into ``out_dir``. ``executor``: serial (in this process) or ray (each run
    a task, :mod:`lossbench.executors`). The folder is locked while this runs (``wait``: wait for
    another holder instead of refusing). ``force``: the selected runs' stored results are deleted
    and they train again."""
    setup_started = time.perf_counter()
    runs = select_runs(study, only)
    session = open_session(study, out_dir, device_name, strict, cache, weights)
    pool = None
    if executor == "ray":
        from lossbench.executors import RayPool

        pool = RayPool(**(ray_options or {}))  # an unreachable cluster fails here, before anything is written
    out_dir = Path(out_dir)
    try:
        with files.folder_lock(out_dir, wait=wait):
            if force:
                for run in runs:
                    shutil.rmtree(out_dir / "runs" / run.run_id, ignore_errors=True)
            return _run_locked(study, session, runs, out_dir, pool, command, setup_started,
                               (device_name, cache, weights, data_root))
    finally:
        if pool is not None:
            pool.close()


def _run_locked(study: Study, session: Session, runs, out_dir: Path, pool, command, setup_started: float,
                task_args: tuple) -> dict:
    (out_dir / "runs").mkdir(parents=True, exist_ok=True)
    files.write_yaml(out_dir / "study.yaml", study.resolved)
    previous = files.read_json_or_none(out_dir / "manifest.json")
    manifest = build_manifest(study, session.ctx.data.identity, session.device, command, session.ctx)
    manifest["study_sha256"] = stored.sha256(out_dir / "study.yaml")  # the report checks it is this one
    manifest["setup_seconds"] = round(time.perf_counter() - setup_started, 2)
    files.write_json(out_dir / "manifest.json", manifest)
    fixed = session.ctx.data.test_x[: study.spec.report.recon_images]
    files.torch_save(out_dir / "fixed_inputs.pt", (fixed * 255).round().to(torch.uint8))

    started = time.perf_counter()
    if pool is not None:
        outcomes = pool.run(session, runs, *task_args)
    else:
        bar = tqdm(runs, desc=f"study {study.spec.name}", unit="run", position=0, disable=None, dynamic_ncols=True)
        outcomes = [run_one(session, run) for run in bar]
        bar.close()
    counts = {k: 0 for k in COUNTS}
    for outcome in outcomes:
        counts[outcome] += 1

    manifest["study_seconds"] = round(time.perf_counter() - started, 2)
    manifest["counts"] = counts
    # nothing trained: the provenance stays that of the invocation that trained the runs
    files.write_json(out_dir / "manifest.json",
                     files.stable_provenance(previous, manifest, STUDY_VOLATILE,
                                             counts["trained"] + counts["failed"] == 0))
    from lossbench.report import build_report

    build_report(out_dir)
    return manifest


def select_runs(study: Study, only: list[str] | None):
    """The runs ``only`` names (``--only``, ids as --dry-run prints them), in grid order; all without it."""
    from lossbench.errors import LossbenchError

    if not only:
        return study.runs
    known = {r.run_id for r in study.runs}
    unknown = [i for i in only if i not in known]
    if unknown:
        raise LossbenchError(f"{study.source}: --only {unknown[0]}: no such run in this study "
                             f"(lossbench run {study.source} --dry-run lists the {len(known)} run ids)")
    return [r for r in study.runs if r.run_id in set(only)]


def unavailable_conditions(study: Study, ctx, strict: bool) -> dict[str, str]:
    """Conditions whose perceptual network cannot be had: condition -> reason. With --strict
    the first one is an error (raised before anything is written)."""
    from lossbench.errors import LossbenchError
    from lossbench.weights import WeightsUnavailable

    skipped = {}
    for cname, terms in study.spec.conditions.items():
        for j, term in enumerate(terms):
            if term.get("term") != "perceptual":
                continue
            try:
                ctx.feature_network(term.get("network", "domain"), term.get("layers"))
            except WeightsUnavailable as exc:
                if strict:
                    raise LossbenchError(f"{study.source}: conditions.{cname}[{j}]: weights unavailable (--strict): {exc}") from None
                skipped[cname] = f"conditions.{cname}[{j}] needs {term.get('network')}: {exc}"
    return skipped


def _complete_metrics(run, run_dir: Path, ctx, report) -> None:
    """A finished run lacking a metric the study now asks for, or the stored codes and health
    flags of a newer lossbench (latent.pt), gets them from its checkpoint, if it has one."""
    result = files.read_json(run_dir / "metrics.json")
    wanted = [c for m in ctx.metrics if m not in ctx.unavailable for c in METRICS[m].columns(m)]
    complete = (all(result.get("metrics", {}).get(c) is not None for c in wanted)
                and all((run_dir / name).is_file() for name in ("latent.pt", "recon_worst.pt")))
    if result.get("status") != "done" or complete or not (run_dir / "checkpoint.pt").is_file():
        return
    model = load_model(run.config, run_dir, tuple(ctx.data.test_x.shape[1:]), ctx.device)
    update = evaluate_run(model, ctx, run.config["seed"], report, run_dir, run.config["condition"]["terms"])
    result["metrics"] = {**result.get("metrics", {}), **update.pop("metrics")}
    health = update.pop("health")
    result.update(update)
    result["flags"] = [f for f in result.get("flags", []) if not f.startswith(("collapsed", "saturated"))] + health
    files.write_json(run_dir / "metrics.json", stored.seal(run_dir, result))


#: what describes an invocation rather than the results; kept from the previous manifest when a
#: re-run trains nothing
STUDY_VOLATILE = ("command", "created", "versions", "device", "setup_seconds", "study_seconds", "counts")


def build_manifest(study: Study, identity: dict, device: torch.device, command: list[str] | None, ctx) -> dict:
    import torchmetrics
    import torchvision

    return {
        "study": study.spec.name,
        "study_file": study.source,
        "command": command if command is not None else sys.argv,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": {
            "lossbench": __version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "torchmetrics": torchmetrics.__version__,
        },
        "device": {"type": device.type, "name": _device_name(device), "platform": platform.platform(),
                   "threads": torch.get_num_threads()},
        "dataset": identity,
        "metrics": ctx.provenance,
        "unavailable": ctx.unavailable,
        "distribution_n": ctx.n,
        "inception_n": ctx.n_inception,
        "calibration": ctx.calibration(),
        "runs": [{"run_id": r.run_id, "model": r.model, "condition": r.condition, "seed": r.seed} for r in study.runs],
    }


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()
