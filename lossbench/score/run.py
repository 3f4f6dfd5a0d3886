"""One run's scores from its folder alone: the checkpoint training left (``checkpoint.pt``), its
training record (``trained.json``, see :data:`lossbench.store.stored.TRAINED`) and the study's
evaluation context. Writes per_image.csv, recon_fixed.pt, recon_worst.pt, latent.pt and, last,
metrics.json, whose presence marks the run finished (nanoGPT's ``sample.py`` likewise needs
nothing but the checkpoint)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from lossbench.store import files, stored
from lossbench.core.errors import LossbenchError
from lossbench.score.evaluate import EvalContext, evaluate
from lossbench.core.flags import HEALTH, Flag
from lossbench.score.latent import codes, latent_artifacts
from lossbench.metrics import METRICS
from lossbench.models import build_run_model
from lossbench.models.ae import DATA_LOGIT, SATURATED_LOGIT
from lossbench.core.progress import run_label
from lossbench.store.folders import RunFolder


def trained_record(run_dir: Path) -> dict | None:
    """The training record of a run that trained but was not scored yet (killed between the two,
    or trained by a process that stopped there), or None: there is none, or it is damaged (then
    the run trains again)."""
    record = files.read_json_or_none(Path(run_dir) / stored.TRAINED)
    if not isinstance(record, dict) or record.get("status") not in ("done", "failed") or not isinstance(record.get("metrics"), dict):
        return None
    if record["status"] == "done" and not (Path(run_dir) / RunFolder.CHECKPOINT).is_file():
        return None
    return record


def score_run(run_dir: Path, config: dict, ctx: EvalContext, report: dict) -> dict:
    """metrics.json of a trained run: its training record, then (for a run that trained to the
    end) the metrics of the checkpoint's weights and its health flags. Returns what it wrote."""
    started = time.perf_counter()
    run_dir = Path(run_dir)
    record = trained_record(run_dir)
    if record is None:
        raise LossbenchError(f"{run_dir}: no training record ({stored.TRAINED}) with its checkpoint to score; "
                             f"{stored.fix_line(None, run_dir.parent.parent, run_dir.name)}")
    result = {k: v for k, v in record.items() if k != "run_seconds"}
    if result["status"] == "done":
        model = load_model(config, run_dir, tuple(ctx.data.test_x.shape[1:]), ctx.device)
        result.update(evaluate_run(model, ctx, config["seed"], report, run_dir, config["condition"]["terms"]))
        health = result.pop("health")
        result["flags"] = result["flags"] + [f.to_dict() for f in health]
        for flag in health:
            tqdm.write(f"warning: {run_label(config)}: {flag.message}", file=sys.stderr)
    # the run's whole time: its training (and set-up) and this scoring
    result["run_seconds"] = round(float(record.get("run_seconds") or 0.0) + time.perf_counter() - started, 3)
    files.write_json(run_dir / RunFolder.METRICS, stored.seal(run_dir, result))  # last: the run is finished
    (run_dir / stored.TRAINED).unlink(missing_ok=True)
    return result


def complete_metrics(config: dict, run_dir: Path, ctx: EvalContext, report: dict, recompute: bool = False) -> str:
    """A finished run lacking a metric the study now asks for (or every metric, with
    ``recompute``), or the stored codes and health flags of a newer lossbench (latent.pt), gets
    them from its checkpoint, if it has one. Returns what happened: "scored" (metrics.json
    rewritten), "complete" (nothing was missing), "no checkpoint" (something was missing and the
    run was shared without its checkpoint) or "not done" (a failed run has no scores)."""
    result = files.read_json(run_dir / RunFolder.METRICS)
    wanted = [c for m in ctx.metrics if ctx.computes(m) for c in METRICS[m].columns(m)]
    complete = (all(result.get("metrics", {}).get(c) is not None for c in wanted)
                and all((run_dir / name).is_file() for name in (RunFolder.LATENT, RunFolder.RECON_WORST)))
    if result.get("status") != "done":
        return "not done"
    if complete and not recompute:
        return "complete"
    if not (run_dir / RunFolder.CHECKPOINT).is_file():
        return "no checkpoint"
    model = load_model(config, run_dir, tuple(ctx.data.test_x.shape[1:]), ctx.device)
    from lossbench.core.environment import compute_threads

    with compute_threads(config["training"].get("threads", "process")):
        update = evaluate_run(model, ctx, config["seed"], report, run_dir, config["condition"]["terms"])
    before = result.get("metrics", {})
    # a number is replaced by a number, never by 'not computed' (a metric whose weights this machine lacks)
    result["metrics"] = {**before, **{c: v for c, v in update.pop("metrics").items() if v is not None or before.get(c) is None}}
    health = update.pop("health")
    result.update(update)
    result["unavailable"] = {m: why for m, why in update["unavailable"].items()  # but those whose stored values stay
                             if any(result["metrics"].get(c) is None for c in METRICS[m].columns(m))}
    kept = [f for f in map(Flag.from_stored, result.get("flags", [])) if f.kind not in HEALTH]
    result["flags"] = [f.to_dict() for f in kept + health]
    files.write_json(run_dir / RunFolder.METRICS, stored.seal(run_dir, result))
    return "scored"


def evaluate_run(model, ctx: EvalContext, seed: int, report: dict, run_dir: Path, terms: list[dict] | None = None) -> dict:
    """Metrics; per-image values and the fixed reconstructions for reports. ``terms`` (the
    condition's) decide whether a saturated sigmoid output is a problem (see health_flags)."""
    train_codes = codes(model, ctx.data.train_x, ctx.batch_size, ctx.device)  # once, for every sampler
    values, per_image, how, recon = evaluate(model, ctx, seed, train_codes)
    per_image = _with_stored_columns(per_image, run_dir / RunFolder.PER_IMAGE, ctx)
    files.write_csv(run_dir / RunFolder.PER_IMAGE, per_image.reset_index())
    fixed = recon[: report["recon_images"]]
    files.torch_save(run_dir / RunFolder.RECON_FIXED, (fixed * 255).round().to(torch.uint8))
    scored = next((c for c in per_image.columns), None)  # the study's first paired metric
    if scored is not None:
        values_ = per_image[scored].to_numpy()
        order = values_.argsort()
        worst = order[: report["recon_images"]] if METRICS[scored].higher_is_better else order[::-1][: report["recon_images"]]
        worst = torch.as_tensor(worst.copy())
        files.torch_save(run_dir / RunFolder.RECON_WORST, {
            "metric": scored, "indices": worst, "values": torch.as_tensor(values_[worst.numpy()]),
            "input": (ctx.data.test_x[worst].cpu() * 255).round().to(torch.uint8),
            "recon": (recon[worst] * 255).round().to(torch.uint8)})
    kept, extra = latent_artifacts(model, ctx, seed, train_codes)
    files.torch_save(run_dir / RunFolder.LATENT, kept)
    values.update(extra)  # distribution metrics of each random-code scheme; a VAE's rate and active units
    if model.output == "sigmoid":
        values["mean_abs_logit"] = mean_abs_output(model, ctx.data.test_x, ctx.batch_size, ctx.device)
    return {"health": health_flags(recon, ctx.data.test_x, values, terms), "metrics": values,
            "n_test": int(len(ctx.data.test_x)), "n_distribution": ctx.n,
            "samples": how, "unavailable": dict(ctx.unavailable)}


def _with_stored_columns(per_image: pd.DataFrame, path: Path, ctx: EvalContext) -> pd.DataFrame:
    """The per-image table as computed now, with the columns of the paired metrics this process did not compute
    (stored in every run: :attr:`EvalContext.stored`) taken from the run's table as written, in the study's order
    of metrics: a metric added later must not drop the stored metrics' per-image values (nor change which one
    picks the worst reconstructions)."""
    if not path.is_file():
        return per_image
    before = pd.read_csv(path, index_col="image")
    stored = [m for m in ctx.metrics if m in ctx.stored and m in before.columns and m not in per_image.columns]
    if not stored or len(before) != len(per_image):
        return per_image
    merged = per_image.copy()
    for m in stored:
        merged[m] = before[m].to_numpy()
    return merged[[m for m in ctx.metrics if m in merged.columns]]


def health_flags(recon: torch.Tensor, test_x: torch.Tensor, extra: dict, terms: list | None = None) -> list[Flag]:
    """Unhealthy-run flags: a collapsed posterior (no active latent unit), a saturated sigmoid
    output (mean |logit| beyond SATURATED_LOGIT, when a term trains through the sigmoid rather
    than reading the logits as bce does: :attr:`lossbench.losses.TermSpec.through_output`), and a
    collapsed output (reconstructions that barely depend on the input: their pixel spread across
    images under a tenth of the test images')."""
    flags = []
    if extra.get("active_units") == 0:
        flags.append(Flag("collapsed-posterior", "collapsed posterior: no active latent unit (every dimension's KL <= 0.01 nats)"))
    logit = extra.get("mean_abs_logit")
    from lossbench.losses import term_specs

    through = [spec.label or spec.term for spec in term_specs(terms or []) if spec.through_output]
    if logit is not None and logit > SATURATED_LOGIT and through:
        flags.append(Flag("saturated-output", f"saturated output: mean |logit| {logit:.1f} on the test images, where 8-bit data needs at most "
                     f"{DATA_LOGIT:.1f}; the sigmoid's slope there is below 1e-8, so {', '.join(through)} no longer moves "
                     f"those pixels (the run may still reconstruct well). A property of output: sigmoid, not of the loss: "
                     f"compare output: linear"))
    spread, real = float(recon.std(0).mean()), float(test_x.cpu().std(0).mean())
    if spread < 0.1 * real:
        flags.append(Flag("collapsed-output", f"collapsed output: reconstructions barely depend on the input (pixel spread "
                          f"across images {spread:.3f} vs {real:.3f} in the test images)"))
    return flags


@torch.no_grad()
def mean_abs_output(model, x: torch.Tensor, batch_size: int, device) -> float:
    """Mean |decoder output| over images (the logits of a sigmoid output), eval mode."""
    was = model.training
    model.eval()
    total = sum(float(model.decode(model.encode(x[i : i + batch_size].to(device))["z"]).abs().sum())
                for i in range(0, len(x), batch_size))
    model.train(was)
    return total / x.numel()


def load_model(config: dict, run_dir: Path, shape: tuple[int, int, int], device: torch.device) -> torch.nn.Module:
    """The run's evaluated weights from its checkpoint.pt, in eval mode; a checkpoint that cannot
    be used (truncated, another run's, another model's) is one line, not a traceback."""
    model = build_run_model(config["model"], shape)
    path = Path(run_dir) / RunFolder.CHECKPOINT
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("run_id") != Path(run_dir).name:
            raise ValueError(f"written for run {state.get('run_id')!r}")
        model.load_state_dict(state["model"])
    except Exception as exc:  # truncated, garbage, another run's or another model's: one line, not a traceback
        raise LossbenchError(f"{path}: cannot be used ({_last(exc)}); "
                             f"{stored.fix_line(None, Path(run_dir).parent.parent, Path(run_dir).name)}") from None
    return model.to(device).eval()


def _last(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:160]}" if lines else type(exc).__name__
