"""The training loop of one run: seeds, device, mixed precision, progress, NaN guard, outputs.

Writes into the run directory: history.csv (one row per epoch), steps.csv (one row per step),
recon_epoch_NNN.png, checkpoint.pt, per_image.csv, recon_fixed.pt and, last, metrics.json,
whose presence marks the run finished. Every file is written atomically.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torchvision.utils import make_grid, save_image
from tqdm.auto import tqdm

from lossbench import files
from lossbench.balance import dominance, gradient_norms
from lossbench.data import DeviceBatches
from lossbench.evaluate import EvalContext, evaluate, reconstruct
from lossbench.latent import latent_artifacts
from lossbench.losses import build_loss
from lossbench.losses.adversarial import critic_flags
from lossbench.metrics import METRICS
from lossbench.models import build_model


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def pick_device(name: str) -> torch.device:
    """``auto``: cuda, then mps, then cpu."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def train_run(config: dict, batches: DeviceBatches, ctx: EvalContext, run_dir: Path, device: torch.device,
              report: dict, progress_position: int = 1) -> dict:
    """Train one run and evaluate it; return what metrics.json holds."""
    run_dir.mkdir(parents=True, exist_ok=True)
    training = config["training"]
    test_x = ctx.data.test_x
    seed_everything(config["seed"])
    model = build_model(config["model"]["name"], tuple(test_x.shape[1:]), _params(config["model"])).to(device)
    loss = build_loss(config["condition"]["terms"], ctx.feature_network)
    loss.attach(model, tuple(test_x.shape[1:]), device)  # discriminators, built after the model: seeded too
    optim_cls = torch.optim.AdamW if training["optimizer"] == "adamw" else torch.optim.Adam
    optimizer = optim_cls(model.parameters(), lr=training["lr"])
    generator = torch.Generator().manual_seed(config["seed"])
    amp = bool(training["amp"]) and device.type == "cuda"
    fixed = test_x[: report["recon_images"]]
    columns = loss.columns

    bar = tqdm(total=training["epochs"] * len(batches), desc=_short(config), position=progress_position,
               leave=False, disable=None, unit="step", dynamic_ncols=True)
    step, train_seconds = 0, 0.0
    epoch_rows, step_frames, flags, critic_messages, epoch_recons = [], [], [], [], []
    probe = batches.x[: training["batch_size"]]  # a fixed training batch for the balance diagnostics
    failure = None
    model.train()
    for epoch in range(1, training["epochs"] + 1):
        started = time.perf_counter()
        table = train_epoch(model, loss, optimizer, batches, generator, step, amp, bar, epoch)
        train_seconds += time.perf_counter() - started
        step += len(table)
        steps = pd.DataFrame(table.numpy(), columns=columns)
        # numbered from 0, as the loss terms see them (kl's warmup, adversarial's start)
        steps.insert(0, "step", np.arange(step - len(steps), step))
        steps.insert(0, "epoch", epoch)
        failure = _first_non_finite(steps, columns)
        if failure:
            steps = steps[steps["step"] < failure["step"]]
        step_frames.append(steps)
        if failure:
            break
        norms = gradient_norms(model, loss, probe, step - 1)  # the weights of the epoch's last step
        for message in dominance(norms, epoch):
            if not flags:
                tqdm.write(f"warning: {_short(config)}: {message}", file=sys.stderr)
            flags.append(message)
        grads = {f"grad[{place}]:{name}": n[place] for name, n in norms.items() for place in ("decoder", "code")}
        epoch_rows.append({"epoch": epoch, "step": step, **steps[columns].mean().to_dict(),
                           "seconds": round(train_seconds, 4), **grads})
        epoch_recons.append(_save_recon_grid(model, fixed, device, run_dir / f"recon_epoch_{epoch:03d}.png"))
    bar.close()
    for message in critic_flags(epoch_rows, list(loss.critics)):
        tqdm.write(f"warning: {_short(config)}: {message}", file=sys.stderr)
        critic_messages.append(message)

    history = pd.DataFrame(epoch_rows) if epoch_rows else pd.DataFrame(columns=["epoch", "step", *columns, "seconds"])
    files.write_csv(run_dir / "history.csv", history)
    files.write_csv(run_dir / "steps.csv", pd.concat(step_frames, ignore_index=True))
    if epoch_recons:  # epochs × images × C × H × W, uint8: the progression figure
        files.torch_save(run_dir / "recon_epochs.pt", torch.stack(epoch_recons))
    result = {
        "run_id": config["run_id"],
        "status": "failed" if failure else "done",
        "reason": failure["reason"] if failure else None,
        "train_seconds": round(train_seconds, 3),
        "n_params": sum(p.numel() for p in model.parameters()),
        "steps": step,
        "device": str(device),
        "flags": flags[-3:] + critic_messages,  # the latest dominance messages (the log shows the first)
        "metrics": {},
    }
    if not failure:
        critics = {name: term.state_dict() for name, term in loss.critics.items()}
        files.torch_save(run_dir / "checkpoint.pt", {"model": model.state_dict(), "run_id": config["run_id"], "critics": critics})
        result.update(evaluate_run(model, ctx, config["seed"], report, run_dir))
        health = result.pop("health")
        result["flags"] += health
        for message in health:
            tqdm.write(f"warning: {_short(config)}: {message}", file=sys.stderr)
    files.write_json(run_dir / "metrics.json", result)
    return result


def train_epoch(model, loss, optimizer, batches: DeviceBatches, generator: torch.Generator, step: int,
                amp: bool, bar=None, epoch: int = 0) -> torch.Tensor:
    """One pass over the training batches. Returns a steps × (terms + total) CPU table; the
    values stay on the device until the end of the epoch (one sync, not one per step)."""
    device = batches.x.device
    values = []
    every = max(1, len(batches) // 10)
    for i, x in enumerate(batches.epoch(generator)):
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            out = model(x)
        total, terms = loss(out, x, step + i)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        # alternate: then the discriminators (if any) learn from this step's reconstructions
        critics = loss.critic_step(out, x, step + i)
        values.append(torch.cat([terms, total.detach().float()[None], critics]))
        if bar is not None:
            bar.update(1)
            if (i + 1) % every == 0:
                bar.set_postfix(epoch=epoch, loss=f"{float(total.detach()):.4g}", refresh=False)
    return torch.stack(values).float().cpu()


def evaluate_run(model, ctx: EvalContext, seed: int, report: dict, run_dir: Path) -> dict:
    """Metrics; per-image values and the fixed reconstructions for reports."""
    values, per_image, how, recon = evaluate(model, ctx, seed)
    files.write_csv(run_dir / "per_image.csv", per_image.reset_index())
    fixed = recon[: report["recon_images"]]
    files.torch_save(run_dir / "recon_fixed.pt", (fixed * 255).round().to(torch.uint8))
    scored = next((c for c in per_image.columns), None)  # the study's first paired metric
    if scored is not None:
        values_ = per_image[scored].to_numpy()
        order = values_.argsort()
        worst = order[: report["recon_images"]] if METRICS[scored].higher_is_better else order[::-1][: report["recon_images"]]
        worst = torch.as_tensor(worst.copy())
        files.torch_save(run_dir / "recon_worst.pt", {
            "metric": scored, "indices": worst, "values": torch.as_tensor(values_[worst.numpy()]),
            "input": (ctx.data.test_x[worst].cpu() * 255).round().to(torch.uint8),
            "recon": (recon[worst] * 255).round().to(torch.uint8)})
    stored, extra = latent_artifacts(model, ctx, seed)
    files.torch_save(run_dir / "latent.pt", stored)
    values.update(extra)  # fd-domain of each random-code scheme; a VAE's rate and active units
    return {"health": health_flags(recon, ctx.data.test_x, extra), "metrics": values, "n_test": int(len(ctx.data.test_x)), "n_distribution": ctx.n,
            "samples": how, "unavailable": dict(ctx.unavailable)}


def health_flags(recon: torch.Tensor, test_x: torch.Tensor, extra: dict) -> list[str]:
    """Unhealthy-run flags: a collapsed posterior (no active latent unit) and a collapsed output
    (reconstructions that barely depend on the input: their pixel spread across images under a
    tenth of the test images')."""
    flags = []
    if extra.get("active_units") == 0:
        flags.append("collapsed posterior: no active latent unit (every dimension's KL <= 0.01 nats)")
    spread, real = float(recon.std(0).mean()), float(test_x.cpu().std(0).mean())
    if spread < 0.1 * real:
        flags.append(f"collapsed output: reconstructions barely depend on the input (pixel spread across images "
                     f"{spread:.3f} vs {real:.3f} in the test images)")
    return flags


def load_model(config: dict, run_dir: Path, shape: tuple[int, int, int], device: torch.device) -> torch.nn.Module:
    model = build_model(config["model"]["name"], shape, _params(config["model"]))
    state = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    return model.to(device).eval()


def _params(model_cfg: dict) -> dict:
    return {k: v for k, v in model_cfg.items() if k not in ("name", "label")}


def _short(config: dict) -> str:
    return f"{config['model']['label']}/{config['condition']['name']}/s{config['seed']}"


def _first_non_finite(steps: pd.DataFrame, columns: list[str]) -> dict | None:
    bad = ~np.isfinite(steps[columns].to_numpy())
    if not bad.any():
        return None
    row = int(np.argmax(bad.any(axis=1)))
    terms = [c for c, b in zip(columns, bad[row]) if b and c != "total"] or ["total"]
    s = int(steps["step"].iloc[row])
    return {"step": s, "reason": f"non-finite loss at step {s} (epoch {int(steps['epoch'].iloc[row])}), term {', '.join(terms)}"}


@torch.no_grad()
def _save_recon_grid(model, fixed: torch.Tensor, device, path: Path) -> torch.Tensor:
    """Top row: the fixed test images; bottom row: their reconstructions at this epoch."""
    recon = reconstruct(model, fixed, len(fixed), device)
    grid = make_grid(torch.cat([fixed.cpu(), recon]), nrow=len(fixed), padding=1, pad_value=0.5)
    with files.atomic_path(path) as tmp:
        save_image(grid, tmp)
    return (recon * 255).round().to(torch.uint8)
