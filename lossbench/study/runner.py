"""Execute a study: load data once, train each run of the grid that is not finished yet,
then build the report. A finished run (its metrics.json exists) is skipped on a rerun; if it
lacks a metric the study now asks for, that metric is computed from its checkpoint."""

from __future__ import annotations

import platform
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from lossbench.core.errors import DataNotFound
from lossbench.store import files, stored
from lossbench._version import __version__
from lossbench.study.plan import plan_lines, plan_notes, select_runs  # noqa: F401
from lossbench.store.collect import RUN_ID
from lossbench.study.spec import Study
from lossbench.study.units import COUNTS, Session, execute_run, open_session, run_group, run_one, score_only, unavailable_conditions  # noqa: F401
from lossbench.store.folders import RunFolder, StudyFolder

if TYPE_CHECKING:
    from lossbench.study.executors import ProcessPool, RayPool


def run_study(study: Study, out_dir: Path, device_name: str = "auto", command: list[str] | None = None,
              strict: bool = False, cache: str | None = None, weights: dict | None = None,
              only: list[str] | None = None, executor: str = "serial", ray_options: dict | None = None,
              data_root: str | None = None, wait: bool = False, force: bool = False, jobs: int = 1) -> dict:
    """Train and evaluate every run (or the runs ``only`` names); return this invocation's
    manifest (the one written keeps the previous invocation's timing and counts when this one
    trained nothing). Data, weights and metric set-up may raise LossbenchError, all before
    anything is written into ``out_dir``. ``executor``: serial (in this process) or ray (each run
    a task, :mod:`lossbench.study.executors`). The folder is locked while this runs (``wait``: wait for
    another holder instead of refusing). ``force``: the selected runs' stored results are deleted
    and they train again. ``jobs``: with the serial executor, how many runs train at once, each in
    a worker process of its own (lossbench.study.executors.ProcessPool); their numbers do not change."""
    setup_started = time.perf_counter()
    runs = select_runs(study, only)
    if executor == "ray" and study.spec.training.vectorize_seeds:
        from lossbench.core.errors import LossbenchError

        raise LossbenchError(f"{study.source}: training.vectorize_seeds: true trains a condition's seeds together in one "
                             f"process, and --executor ray makes each run a task of its own: drop one of the two")
    if not wait:
        files.check_unlocked(out_dir)  # a held folder is refused before minutes of set-up, not after
    _status(f"set-up: data, the metrics' networks and real-set statistics ({', '.join(study.spec.metrics)}); "
            "cached after the first time")
    try:
        session = open_session(study, out_dir, device_name, strict, cache, weights,
                               retrain={r.run_id for r in runs} if force else frozenset())
    except DataNotFound as missing:
        stored_manifest = finished_without_data(study, Path(out_dir), runs, force)
        if stored_manifest is None:
            raise
        print(f"note: {missing} -- every run of {study.spec.name} is finished in {out_dir}, so its report is rebuilt from "
              f"the folder alone (the real set's numbers are stored in manifest.json, its images in "
              f"{StudyFolder.FIXED_INPUTS}); to train or score anything new, get the data", file=sys.stderr)
        from lossbench.report import build_report

        with files.folder_lock(Path(out_dir), wait=wait):
            build_report(Path(out_dir), announce=False)
        # this invocation's counts, as a re-run that trains nothing reports them (the stored manifest keeps its own)
        return {**stored_manifest, "counts": {"skipped (finished before)": len(runs)}}
    for line in setup_notices(session.ctx):  # said before the runs, not minutes later in summary.md alone
        print(line, file=sys.stderr)
    pool: RayPool | ProcessPool | None = None
    if executor == "ray":
        from lossbench.study.executors import RayPool

        pool = RayPool(**(ray_options or {}))  # an unreachable cluster fails here, before anything is written
    elif jobs > 1:
        from lossbench.study.executors import ProcessPool

        pool = ProcessPool(jobs)
    out_dir = Path(out_dir)
    try:
        with files.folder_lock(out_dir, wait=wait):
            if force:
                for run in runs:
                    run_dir = out_dir / StudyFolder.RUNS / run.run_id
                    if run_dir.is_dir():
                        shutil.rmtree(run_dir, ignore_errors=True)
                    else:
                        run_dir.unlink(missing_ok=True)  # a file where the run's folder should be
            return _run_locked(study, session, runs, out_dir, pool, command, setup_started,
                               (device_name, cache, weights, data_root))
    finally:
        if pool is not None and hasattr(pool, "close"):
            pool.close()


def finished_without_data(study: Study, out_dir: Path, runs, force: bool) -> dict | None:
    """The stored manifest when ``out_dir`` holds this very study (its study.yaml is the one this
    invocation would write) with every selected run finished and nothing to recompute: then its
    report rebuilds from the folder alone, without the data. Else None (the data is needed)."""
    manifest = files.read_json_or_none(out_dir / StudyFolder.MANIFEST)
    if force or not isinstance(manifest, dict) or manifest.get("study") != study.spec.name:
        return None
    try:
        same = (out_dir / StudyFolder.STUDY).read_text(encoding="utf-8") == files.yaml_text(study.resolved)
    except OSError:
        return None
    listed = {e.get("run_id") for e in manifest.get("runs", []) if isinstance(e, dict)}
    finished = all(r.run_id in listed and (out_dir / StudyFolder.RUNS / r.run_id / RunFolder.METRICS).is_file() for r in runs)
    return manifest if same and finished else None


def score_study(study: Study, out_dir: Path, device_name: str = "auto", command: list[str] | None = None,
                strict: bool = False, cache: str | None = None, weights: dict | None = None, recompute: bool = False,
                wait: bool = False) -> dict:
    """Score the finished runs of the study folder ``out_dir`` without training: each gets the
    metrics ``study`` asks for and it lacks (all of them again, with ``recompute``) from its
    checkpoint, then the report is rebuilt. Under the folder's lock, with its atomic writes, and
    resumable: a run scored before an interruption is complete and is not scored again. Returns
    the manifest, as :func:`run_study` does."""
    setup_started = time.perf_counter()
    if not wait:
        files.check_unlocked(out_dir)
    _status(f"set-up: data, the metrics' networks and real-set statistics ({', '.join(study.spec.metrics)}); "
            "cached after the first time")
    session = open_session(study, out_dir, device_name, strict, cache, weights, keep_stored=not recompute)
    for line in setup_notices(session.ctx):
        print(line, file=sys.stderr)
    with files.folder_lock(Path(out_dir), wait=wait):
        return _run_locked(study, session, study.runs, Path(out_dir), None, command, setup_started, (), recompute=recompute)


def _run_locked(study: Study, session: Session, runs, out_dir: Path, pool, command, setup_started: float,
                task_args: tuple, recompute: bool | None = None) -> dict:
    """The study's writes under its lock: study.yaml, the manifest, the runs, the report.
    ``recompute`` None: train and score (``run``); a bool: score only (``score``)."""
    (out_dir / StudyFolder.RUNS).mkdir(parents=True, exist_ok=True)
    previous = files.read_json_or_none(out_dir / StudyFolder.MANIFEST)
    earlier = earlier_runs(out_dir, previous, study)
    resolved = study.resolved
    if earlier:
        seeds = sorted({e["seed"] for e in earlier})
        resolved["seeds"] = sorted(set(resolved["seeds"]) | set(seeds))
        print(f"note: the report also covers {len(earlier)} finished run(s) of seed(s) {', '.join(map(str, seeds))} that an "
              f"earlier invocation wrote into {out_dir} (the same study but for the seeds); study.yaml lists every seed",
              file=sys.stderr)
    files.write_yaml(out_dir / StudyFolder.STUDY, resolved)
    manifest = build_manifest(study, session.ctx.data.identity, session.device, command, session.ctx, earlier)
    manifest["study_sha256"] = stored.sha256(out_dir / StudyFolder.STUDY)  # the report checks it is this one
    manifest["setup_seconds"] = round(time.perf_counter() - setup_started, 2)
    # a rebuild that will compute nothing writes the manifest it will end with: killed half-way, it leaves the
    # committed one as it was
    files.write_json(out_dir / StudyFolder.MANIFEST,
                     files.stable_provenance(previous, {**manifest, "study_seconds": 0.0, "counts": {}}, STUDY_VOLATILE,
                                             session.nothing_to_compute, recomputed=("calibration",)))
    fixed = session.ctx.data.test_x[: study.spec.report.recon_images]
    files.torch_save(out_dir / StudyFolder.FIXED_INPUTS, (fixed * 255).round().to(torch.uint8))

    started = time.perf_counter()
    if recompute is not None:
        bar = tqdm(total=len(runs), desc=f"score {study.spec.name}", unit="run", position=0, disable=None, dynamic_ncols=True)
        outcomes = []
        for run in runs:
            outcomes.append(score_only(session, run, recompute))
            bar.update(1)
        bar.close()
    elif pool is not None:
        outcomes = pool.run(session, runs, *task_args)
    else:
        from lossbench.train.vectorised import group_runs

        bar = tqdm(total=len(runs), desc=f"study {study.spec.name}", unit="run", position=0, disable=None, dynamic_ncols=True)
        outcomes = []
        for group in group_runs(runs):  # one run, or the seeds of a condition trained side by side
            outcomes += run_group(session, group)
            bar.update(len(group))
        bar.close()
    counts = {k: 0 for k in COUNTS}
    for outcome in outcomes:
        counts[outcome] += 1
    scored = counts["scored"]
    counts = {k: v for k, v in counts.items() if v or k not in SCORE_ONLY}  # run's manifests keep the counts they had

    if all((out_dir / StudyFolder.RUNS / r.run_id / RunFolder.METRICS).is_file() for r in study.runs):
        # every run that could start from a shared first phase has finished: the phases are not needed
        shutil.rmtree(session.prefixes, ignore_errors=True)
    manifest["study_seconds"] = round(time.perf_counter() - started, 2)
    manifest["counts"] = counts
    # nothing trained: the provenance stays that of the invocation that trained the runs
    files.write_json(out_dir / StudyFolder.MANIFEST,
                     files.stable_provenance(previous, manifest, STUDY_VOLATILE,
                                             counts["trained"] + counts["failed"] + scored == 0,
                                             recomputed=("calibration",)))
    from lossbench.report import build_report

    _status(f"report: tables, figures and report.html in {out_dir}")
    build_report(out_dir, announce=False)  # the runs left out were named as they were met
    return manifest


def _status(line: str) -> None:
    """What the study is doing between progress bars, on a terminal (like the bars themselves)."""
    if sys.stderr.isatty():
        tqdm.write(line, file=sys.stderr)


#: outcomes only ``lossbench score`` has (listed in a manifest's counts when they happened)
SCORE_ONLY = ("scored", "not trained", "no checkpoint")

#: what describes an invocation rather than the results; kept from the previous manifest when a
#: re-run trains nothing
STUDY_VOLATILE = ("command", "created", "versions", "device", "setup_seconds", "study_seconds", "counts")


def setup_notices(ctx) -> list[str]:
    """What the user must know before the runs: sizes the data could not give, metrics that will
    not be computed, and each metric's warning (a judge that shares the study's images, one whose
    held-out accuracy is low, a rank-deficient covariance), once per warning."""
    lines = [f"warning: {c}" for c in ctx.data.clamped]
    lines += [f"warning: {m} unavailable, not computed: {reason}" for m, reason in ctx.missing.items()]
    lines += [f"warning: {m} cannot be computed here, so the runs trained now get no value of it; the finished runs keep "
              f"their stored values: {reason}" for m, reason in ctx.unavailable.items() if m in ctx.kept]
    if ctx.stored:
        hashes = [f"{m} {prov['weights_sha256'][:12]}…" for m, prov in ((m, ctx.provenance[m]) for m in ctx.stored)
                  if isinstance(prov.get("weights_sha256"), str) and len(prov["weights_sha256"]) == 64]
        lines.append(f"note: every run holds {', '.join(ctx.stored)}: reported as stored (sealed in each run's metrics.json), "
                     f"with the provenance the folder recorded when they were computed"
                     + (f" (weights sha256: {', '.join(hashes)})" if hashes else "")
                     + "; nothing is recomputed, so no network or weights are needed (lossbench score DIR --recompute "
                       "computes them again)")
    warned: dict[str, list[str]] = {}
    for m, prov in ctx.provenance.items():
        if isinstance(prov, dict) and prov.get("warning"):
            warned.setdefault(prov["warning"], []).append(m)
    lines += [f"warning: {', '.join(names)}: {w}" for w, names in warned.items()]
    return lines


def closing_notes(out_dir: Path, manifest: dict) -> list[str]:
    """The lines under ``run``'s closing line: unavailable metrics, flagged runs by kind, sizes
    clamped to what the data has, and metric warnings, each pointing at summary.md."""
    from lossbench.store import stored
    from lossbench.core.flags import Flag

    lines = []
    counts = manifest.get("counts") or {}
    if counts.get("no checkpoint"):
        lines.append(f"  no checkpoint: {counts['no checkpoint']} finished run(s) were shared without checkpoint.pt, so the "
                     f"metrics they lack stay empty (lossbench run STUDY --out {out_dir} --only RUN_ID --force trains one again)")
    if counts.get("not trained"):
        lines.append(f"  not trained: {counts['not trained']} run(s) of the study never trained; lossbench run trains them")
    if manifest.get("unavailable"):
        lines.append("  unavailable (not computed, never replaced): " + "; ".join(
            f"{m} ({reason})" for m, reason in manifest["unavailable"].items()))
    kinds: dict[str, int] = {}
    flagged = 0
    for entry in manifest.get("runs", []):
        result, wrong = stored.read_metrics(out_dir / StudyFolder.RUNS / entry["run_id"])
        if result is None or wrong is not None or not result.get("flags"):
            continue
        flagged += 1
        for kind in dict.fromkeys(Flag.from_stored(f).kind for f in result["flags"]):  # 0.1 stored the message alone
            kinds[kind] = kinds.get(kind, 0) + 1
    if flagged:
        lines.append(f"  flagged: {flagged} of {len(manifest.get('runs', []))} runs (" + ", ".join(
            f"{k} {v}" for k, v in kinds.items()) + "); their numbers are in the means, marked ⚑ (summary.md, Flags)")
    lines += [f"  clamped: {c}" for c in manifest.get("clamped", [])]
    warned = dict.fromkeys(p["warning"] for p in manifest.get("metrics", {}).values() if isinstance(p, dict) and p.get("warning"))
    lines += [f"  warning: {w}" for w in warned]
    return lines


def cell_key(config: dict) -> str:
    """What a run computes but for its seed: runs with equal keys are seeds of one cell."""
    from lossbench.study.spec import run_hash

    return run_hash({**{k: config[k] for k in ("model", "condition", "data", "training")}, "seed": None})


def earlier_runs(out_dir: Path, previous, study: Study) -> list[dict]:
    """Finished runs that the folder's manifest lists and this study's grid lacks only by seed: two
    invocations with ``--wait`` (seeds [0] and seeds [1]) into one folder report all four runs,
    whichever writes last. A run of another condition, model, data or training is left out, as
    before (an edited study file into an old folder reports what it now asks for)."""
    import yaml

    if not isinstance(previous, dict) or previous.get("study") != study.spec.name or not isinstance(previous.get("runs"), list):
        return []
    current = {r.run_id for r in study.runs}
    cells = {cell_key(r.config) for r in study.runs}
    kept = []
    for entry in previous["runs"]:
        run_id = entry.get("run_id") if isinstance(entry, dict) else None
        if not isinstance(run_id, str) or run_id in current or not RUN_ID.fullmatch(run_id):
            continue
        run_dir = out_dir / StudyFolder.RUNS / run_id
        if not (run_dir / RunFolder.METRICS).is_file():
            continue
        try:
            config = yaml.safe_load((run_dir / RunFolder.CONFIG).read_text(encoding="utf-8"))
            same = cell_key(config) in cells and config.get("seed") == entry.get("seed")
        except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError, KeyError, TypeError):
            continue  # a damaged earlier run is not this study's to report
        if same:
            kept.append({k: entry[k] for k in ("run_id", "model", "condition", "seed")})
    return kept


def build_manifest(study: Study, identity: dict, device: torch.device, command: list[str] | None, ctx,
                   earlier: list[dict] | None = None) -> dict:
    """The study folder's manifest; ``earlier``: finished runs of other seeds already in the folder
    (:func:`earlier_runs`), listed with this study's runs, in the grid's order and by seed."""
    import torchmetrics
    import torchvision

    from lossbench.metrics import METRICS

    runs: list[dict] = [{"run_id": r.run_id, "model": r.model, "condition": r.condition, "seed": r.seed} for r in study.runs]
    order: dict[tuple[str, str], int] = {}
    for r in study.runs:
        order.setdefault((r.model, r.condition), len(order))
    if earlier:  # else the grid's own order, as before
        runs = sorted(runs + list(earlier), key=lambda e: (order.get((e["model"], e["condition"]), len(order)), e["seed"]))

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
        # what a report needs to know of each metric, so that it reads no registry
        "metric_facts": {m: {**METRICS[m].facts(m), "networks": METRICS[m].networks()} for m in study.spec.metrics},
        # and of each condition's loss terms (by label: a VAE's added kl included), read off their specs
        "term_facts": term_facts(study),
        "unavailable": ctx.missing,  # metrics no run holds (those some runs hold are reported as stored)
        **({"clamped": ctx.data.clamped} if ctx.data.clamped else {}),
        "distribution_n": ctx.n,
        "inception_n": ctx.n_inception,
        "calibration": ctx.calibration(),
        "runs": runs,
    }


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def term_facts(study: Study) -> dict[str, dict[str, dict]]:
    """condition -> term label -> the term's facts (:meth:`lossbench.losses.TermSpec.facts`: name,
    role, weight, the networks it trains against), over every model the condition runs on."""
    facts: dict[str, dict[str, dict]] = {}
    for run in study.runs:
        for spec in run.terms:
            facts.setdefault(run.condition, {}).setdefault(spec.label or spec.term, spec.facts())
    return facts
