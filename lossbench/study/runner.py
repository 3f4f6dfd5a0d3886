"""Execute a study: load data once, train each run of the grid that is not finished yet,
then build the report. A finished run (its metrics.json exists) is skipped on a rerun; if it
lacks a metric the study now asks for, that metric is computed from its checkpoint."""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from lossbench import __version__, files
from lossbench.data import DeviceBatches, load_dataset
from lossbench.evaluate import EvalContext
from lossbench.metrics import METRICS
from lossbench.study.spec import Study
from lossbench.train import evaluate_run, load_model, pick_device, train_run


def plan_lines(study: Study) -> list[str]:
    return [f"{r.run_id}  {r.model:<12} {r.condition:<16} seed {r.seed}" for r in study.runs]


def run_study(study: Study, out_dir: Path, device_name: str = "auto", command: list[str] | None = None,
              strict: bool = False, cache: str | None = None, weights: dict | None = None) -> dict:
    """Train and evaluate every run; return this invocation's manifest (the one written keeps the
    previous invocation's timing and counts when this one trained nothing). Data, weights and metric set-up may
    raise LossbenchError, all before anything is written into ``out_dir``."""
    setup_started = time.perf_counter()
    device = pick_device(device_name)
    data = load_dataset(study.spec.data)
    report = study.spec.report.model_dump()
    ctx = EvalContext(data, study.spec.metrics, device, cache=cache, weights=weights,
                      distribution_n=report["distribution_n"], strict=strict, batch_size=report["eval_batch_size"],
                      inception_n=report["inception_n"], calibrate=report["calibration"])
    skipped = unavailable_conditions(study, ctx, strict)
    out_dir = Path(out_dir)
    runs_dir = out_dir / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    files.write_yaml(out_dir / "study.yaml", study.resolved)
    previous = files.read_json_or_none(out_dir / "manifest.json")
    manifest = build_manifest(study, data.identity, device, command, ctx)
    manifest["setup_seconds"] = round(time.perf_counter() - setup_started, 2)
    files.write_json(out_dir / "manifest.json", manifest)
    fixed = data.test_x[: study.spec.report.recon_images]
    files.torch_save(out_dir / "fixed_inputs.pt", (fixed * 255).round().to(torch.uint8))

    batches = DeviceBatches(data.train_x, study.spec.training.batch_size, device)
    metrics = study.spec.metrics
    started = time.perf_counter()
    counts = {"trained": 0, "skipped (finished before)": 0, "failed": 0, "skipped (weights unavailable)": 0}
    bar = tqdm(study.runs, desc=f"study {study.spec.name}", unit="run", position=0, disable=None, dynamic_ncols=True)
    for run in bar:
        run_dir = runs_dir / run.run_id
        done = run_dir / "metrics.json"
        if done.is_file() and files.read_json(done).get("status") != "skipped":
            counts["skipped (finished before)"] += 1
            _complete_metrics(run, run_dir, ctx, report)
            continue
        files.write_yaml(run_dir / "config.yaml", {**run.config, "metrics": metrics, "device": str(device)})
        if run.condition in skipped:  # retried on the next run, once the weights are there
            counts["skipped (weights unavailable)"] += 1
            files.write_json(done, {"run_id": run.run_id, "status": "skipped", "reason": skipped[run.condition], "metrics": {}})
            continue
        result = train_run(run.config, batches, ctx, run_dir, device, report)
        counts["trained"] += 1
        if result["status"] != "done":
            counts["failed"] += 1
            tqdm.write(f"run {run.title} failed: {result['reason']} (the study goes on)", file=sys.stderr)
    bar.close()

    manifest["study_seconds"] = round(time.perf_counter() - started, 2)
    manifest["counts"] = counts
    # nothing trained: the provenance stays that of the invocation that trained the runs
    files.write_json(out_dir / "manifest.json",
                     files.stable_provenance(previous, manifest, STUDY_VOLATILE, counts["trained"] == 0))
    from lossbench.report import build_report

    build_report(out_dir)
    return manifest


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
    files.write_json(run_dir / "metrics.json", result)


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
