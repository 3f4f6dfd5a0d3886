"""The training loop of one run: seeds, device, mixed precision, progress, NaN guard, outputs.

Writes into the run directory: history.csv (one row per epoch), steps.csv (one row per step),
recon_epoch_NNN.png (epochs 1, 2, 4, 8, ..., the evaluated one and the last), recon_epochs.pt
(the same epochs), checkpoint.pt (the evaluated epoch's weights) and, last, the training record
(``trained.json``). Training stops there: scoring (:mod:`lossbench.score`) reads that folder and
writes metrics.json; nothing here imports it. Every file is written atomically.
"""

from __future__ import annotations

import copy
import random
import sys
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from torchvision.utils import make_grid, save_image
from tqdm.auto import tqdm

from lossbench.store import files, stored
from lossbench.train.balance import dominance, gradient_norms
from lossbench.data import DeviceBatches
from lossbench.core.flags import Flag
from lossbench.losses import build_loss
from lossbench.losses.adversarial import critic_flags
from lossbench.models import build_run_model
from lossbench.models.ae import reconstruct
from lossbench.core.progress import run_label
from lossbench.train.loop import make_optimizer, seed_everything, train_epoch
from lossbench.train.stopping import RESUME, Stopping, config_digest, prefix_key, read_prefix, read_resume
from lossbench.store.folders import RunFolder


class TrainingContext(Protocol):
    """What training needs of the study's set-up: the data, the frozen network a perceptual term
    trains against, and the batch size of validation passes. The scoring context
    (lossbench.score.evaluate.EvalContext) is one; training does not import it."""

    data: Any
    batch_size: int

    def feature_network(self, name: str, layers: list[str] | None = None) -> torch.nn.Module: ...


def _get_rng(generator: torch.Generator, device: torch.device) -> dict:
    """Every random stream a run draws from: python, numpy, torch (CPU and CUDA) and the batch order."""
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # legacy: the MT19937 tuple
    return {"python": random.getstate(), "numpy": (kind, torch.as_tensor(np.asarray(keys, dtype=np.int64)), pos, has_gauss, cached),
            "torch": torch.get_rng_state(), "batches": generator.get_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def _set_rng(state: dict, generator: torch.Generator, device: torch.device) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    generator.set_state(state["batches"])
    if state["cuda"] is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


def train_run(config: dict, batches: DeviceBatches, ctx: TrainingContext, run_dir: Path, device: torch.device,
              report: dict, progress_position: int = 1, tracker=None, prefixes: Path | None = None,
              terms: list | None = None) -> dict:
    """Train one run up to its checkpoint; return its training record (:meth:`RunTraining.finish`).

    With ``training.early_stopping`` the run trains until its validation loss (every term but
    adversarial ones, at full weight) has not improved for ``patience`` epochs, and the best
    validation epoch's weights are evaluated. Terms with ``start: plateau`` switch on at that
    point instead: the best weights are restored, the terms start, and the stopping rule begins
    anew on the new total (or, with an adversarial term, ``adversarial_epochs`` more epochs, the
    last of which is evaluated).

    ``prefixes``: a folder where runs that differ only in the weights of their plateau-started
    terms share the first phase (see :func:`prefix_key`): the first to reach the plateau leaves its
    state there, the others start from it, bit for bit what training that phase again gives."""
    run = RunTraining(config, batches, ctx, run_dir, device, report, progress_position, tracker=tracker, prefixes=prefixes,
                      terms=terms)
    for epoch in range(run.first_epoch, run.max_epochs + 1):
        started = time.perf_counter()
        table = train_epoch(run.trained, run.loss, run.optimizer, batches, run.generator, run.step, run.amp,
                            run.bar, epoch)
        if run.end_epoch(epoch, table, time.perf_counter() - started):
            break
    return run.finish()


@dataclass
class EpochLog:
    """What a run has recorded so far: a row per epoch (history.csv), a frame per epoch of per-step
    values (steps.csv), the fixed images' reconstructions per epoch, its flags (loss balance; the
    critics' at the end), and the first non-finite step, if any."""

    rows: list[dict] = field(default_factory=list)
    steps: list[pd.DataFrame] = field(default_factory=list)
    recons: dict[int, torch.Tensor] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)
    critic_messages: list[Flag] = field(default_factory=list)
    failure: dict | None = None


@dataclass
class Phase:
    """Where the run is in its schedule: phase 1, or 2 once its plateau-started terms switched on
    (at ``started_epoch``; ``plateau``: what happened there), why it stopped, and whether the loop
    ended before max_epochs (converged, failed, or its adversarial epochs done)."""

    number: int = 1
    started_epoch: int = 0
    plateau: dict = field(default_factory=dict)
    stopped: str = "epochs"  # epochs (fixed count) | converged | max_epochs | adversarial_epochs
    ended: bool = False


@dataclass
class Saving:
    """Where a run's state goes after each epoch: resume.pt (when ``resumable``), and the shared first
    phase (``prefix``) for runs that differ only in the weights of plateau-started terms; the first
    phase this run took from another's, if it did."""

    resumable: bool
    resume: Path
    prefix: Path | None
    shared_phase: dict | None = None


class RunTraining:
    """One run's state from its first epoch to its checkpoint: the seeded model, loss and
    optimizer, and the bookkeeping after each epoch (history, NaN guard, balance diagnostics,
    validation, reconstruction grids, early stopping and the plateau schedule, resume.pt).
    :func:`train_run` drives it one run at a time; :mod:`lossbench.train.vectorised` drives several
    seeds' instances from one stacked model."""

    def __init__(self, config: dict, batches: DeviceBatches, ctx: TrainingContext, run_dir: Path, device: torch.device,
                 report: dict, progress_position: int = 1, resumable: bool = True, bar: bool = True, tracker=None,
                 prefixes: Path | None = None, terms: list | None = None):
        self.run_started = time.perf_counter()
        run_dir.mkdir(parents=True, exist_ok=True)
        self.config, self.ctx, self.run_dir, self.device = config, ctx, run_dir, device
        self.training = training = config["training"]
        data = ctx.data
        shape = tuple(data.test_x.shape[1:])
        seed_everything(config["seed"])
        self.model = model = build_run_model(config["model"], shape, channel_means=data.train_x.mean((0, 2, 3))).to(device)
        # the study's term specs where it carries them (else the config's terms, read once here)
        self.loss = loss = build_loss(terms or config["condition"]["terms"], ctx.feature_network)
        loss.attach(model, shape, device)  # discriminators, built after the model: seeded too
        self.optimizer = make_optimizer(training["optimizer"], model.parameters(), training["lr"],
                                        training.get("optimizer_impl", "auto"), device)
        self.generator = torch.Generator().manual_seed(config["seed"])
        self.amp = bool(training["amp"]) and device.type == "cuda"
        self.fixed = data.test_x[: report["recon_images"]]
        self.val_x = data.val_x.to(device) if data.val_x is not None else None
        loss.prepare({"train": batches.x, "val": self.val_x})  # targets that depend on the images only (perceptual), once per run
        self.columns = loss.columns
        # the compiled forward shares the model's parameters; state, evaluation and diagnostics use the model itself
        self.trained = torch.compile(model) if training.get("compile") else model
        self.stopping_spec = stopping_spec = training.get("early_stopping")
        self.stopping = Stopping(stopping_spec["patience"], stopping_spec["min_delta"]) if stopping_spec else None
        self.max_epochs = stopping_spec["max_epochs"] if stopping_spec else training["epochs"]
        self.critic_plateau = any(name in loss.critics for name in loss.plateau_terms)
        self.step, self.train_seconds, self.first_epoch = 0, 0.0, 1
        self.log = EpochLog()
        self.phase = Phase()
        self.tracker = tracker  # TensorBoard / MLflow (lossbench.train.tracking), or None
        key = prefix_key(config) if resumable and prefixes is not None and loss.plateau_terms else None
        self.saving = Saving(resumable, run_dir / RESUME, Path(prefixes) / f"{key}.pt" if key and prefixes is not None else None)
        saved = read_resume(self.saving.resume, config) if resumable else None
        if saved is None and self.saving.prefix is not None and key is not None:
            saved = read_prefix(self.saving.prefix, key)
            if saved is not None:
                self.saving.shared_phase = {"from_run": saved["run_id"], "epochs": saved["epoch"], "key": key}
        elif saved is not None and saved.get("shared_phase"):
            self.saving.shared_phase = saved["shared_phase"]
        if saved is not None:  # a run killed mid-way goes on from its last finished epoch
            self._restore(saved)
        self.bar = tqdm(total=None if self.stopping else self.max_epochs * len(batches), initial=0 if self.stopping else self.step,
                        desc=run_label(config), position=progress_position,
                        leave=False, disable=None, unit="step", dynamic_ncols=True) if bar else None
        self.probe = batches.x[: training["batch_size"]]  # a fixed training batch for the balance diagnostics
        self.probe_index = torch.arange(len(self.probe), device=self.probe.device)
        model.train()

    def _restore(self, saved: dict) -> None:
        """Go on from a saved epoch (resume.pt, or a shared first phase): weights, optimizer, terms,
        every random stream, the log so far and the schedule."""
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.loss.load_state_dict(saved["loss"])
        _set_rng(saved["rng"], self.generator, self.device)
        self.step, self.train_seconds, self.first_epoch = saved["step"], saved["train_seconds"], saved["epoch"] + 1
        self.log = EpochLog(rows=saved["epoch_rows"], recons=saved["epoch_recons"],
                            flags=[Flag.from_stored(f) for f in saved["flags"]],
                            steps=[pd.DataFrame({c: v.numpy() for c, v in saved["steps"].items()})])
        self.phase = Phase(number=saved["phase"], started_epoch=saved["phase_epoch"], plateau=saved["schedule"])
        if self.stopping is not None:
            self.stopping.load_state_dict(saved["stopping"])
        if self.saving.shared_phase and saved.get("prefix"):
            said = (f"starts after epoch {saved['epoch']} from the first phase of run {self.saving.shared_phase['from_run']} "
                    f"(it differs only in the weights of its plateau-started terms)")
        else:
            said = f"resumed after epoch {saved['epoch']} from {self.saving.resume.name}"
        tqdm.write(f"{run_label(self.config)}: {said}", file=sys.stderr)

    def snapshot(self) -> dict:
        return {"model": copy.deepcopy(self.model.state_dict()), "optimizer": copy.deepcopy(self.optimizer.state_dict())}

    def checkpoint(self, epoch: int, prefix: bool = False) -> None:
        """Everything the rest of the run depends on, after a finished epoch (atomic: a kill leaves
        the previous epoch's file). ``prefix``: the first phase ended in this epoch; the same state
        also goes to the shared prefix, for the runs that differ only in plateau terms' weights."""
        frame = pd.concat(self.log.steps, ignore_index=True)
        self.log.steps[:] = [frame]  # joined once; the next checkpoint adds one epoch to it
        stopping = self.stopping
        state = {
            "run_id": self.config["run_id"], "config": config_digest(self.config), "epoch": epoch, "step": self.step,
            "train_seconds": self.train_seconds, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "loss": self.loss.state_dict(), "rng": _get_rng(self.generator, self.device),
            "stopping": stopping.state_dict() if stopping is not None else None,
            "epoch_rows": self.log.rows, "flags": [f.to_dict() for f in self.log.flags], "epoch_recons": self.log.recons,
            "steps": {c: torch.from_numpy(frame[c].to_numpy().copy()) for c in frame.columns},  # each column keeps its dtype
            "phase": self.phase.number, "phase_epoch": self.phase.started_epoch, "schedule": self.phase.plateau,
            "shared_phase": self.saving.shared_phase}
        files.torch_save(self.saving.resume, state)
        if prefix and self.saving.prefix is not None and self.saving.shared_phase is None:
            files.torch_save(self.saving.prefix, {**state, "config": None, "prefix": prefix_key(self.config)})

    def end_epoch(self, epoch: int, table: torch.Tensor, seconds: float) -> bool:
        """Record a trained epoch (its steps x columns table, its training seconds) with the
        model holding the epoch's last weights; return True when the run ends here."""
        ended = self._end_epoch(epoch, table, seconds)
        self.phase.ended = self.phase.ended or ended
        return ended

    def _end_epoch(self, epoch: int, table: torch.Tensor, seconds: float) -> bool:
        model, loss, config, columns, stopping = self.model, self.loss, self.config, self.columns, self.stopping
        self.train_seconds += seconds
        self.step += len(table)
        step = self.step
        steps = pd.DataFrame(table.numpy(), columns=columns)
        # numbered from 0, as the loss terms see them (kl's warmup, adversarial's start)
        steps.insert(0, "step", np.arange(step - len(steps), step))
        steps.insert(0, "epoch", epoch)
        self.log.failure = failure = _first_non_finite(steps, loss)
        if failure:
            steps = steps[steps["step"] < failure["step"]]
        self.log.steps.append(steps)
        if failure:
            return True
        norms = gradient_norms(model, loss, self.probe, step - 1, self.probe_index)  # the weights of the epoch's last step
        for message in dominance(norms, epoch):
            if not self.log.flags:
                tqdm.write(f"warning: {run_label(config)}: {message}", file=sys.stderr)
            self.log.flags.append(Flag("loss-balance", message))
        grads = {f"grad[{place}]:{name}": n[place] for name, n in norms.items() for place in ("decoder", "code")}
        val = loss.validation(model, self.val_x, step - 1, self.ctx.batch_size) if self.val_x is not None else {}
        self.log.rows.append({"epoch": epoch, "step": step, "phase": self.phase.number, **steps[columns].mean().to_dict(),
                                **{f"val[{'total' if k == 'monitor' else k}]": v for k, v in val.items()},
                                "seconds": round(self.train_seconds, 4), **grads})
        self.log.recons[epoch] = _recon_grid(model, self.fixed, self.device, self.run_dir, epoch, write=_shown(epoch))
        if self.tracker is not None:
            self.tracker.epoch(epoch, steps, self.log.rows[-1], self.log.recons[epoch], self.fixed)
        if stopping is not None:
            stopping.update(val["monitor"], epoch, self.snapshot)
            if self.bar is not None:
                self.bar.set_postfix(epoch=epoch, val=f"{val['monitor']:.4g}", best=stopping.best_epoch, refresh=False)
            if self.phase.number == 2 and self.critic_plateau:
                if epoch - self.phase.started_epoch >= self.stopping_spec["adversarial_epochs"]:
                    self.phase.stopped, stopping.state, stopping.best_epoch = "adversarial_epochs", self.snapshot(), epoch
                    return True
            elif stopping.exhausted:
                if not (self.phase.number == 1 and loss.plateau_terms):
                    self.phase.stopped = "converged"
                    return True
                # the plateau: back to the best weights, switch the waiting terms on, stop anew later
                model.load_state_dict(stopping.best_state["model"])
                self.optimizer.load_state_dict(stopping.best_state["optimizer"])
                names = loss.start_plateau_terms(step)
                self.phase.plateau = {"plateau_epoch": epoch, "restored_epoch": stopping.best_epoch, "started": names, "start_step": step}
                self.phase.number, self.phase.started_epoch = 2, epoch
                stopping.reset()
        if self.saving.resumable:
            self.checkpoint(epoch, prefix=self.phase.number == 2 and self.phase.started_epoch == epoch)
        return False

    def finish(self, extra: dict | None = None) -> dict:
        """After the last epoch: history, steps, the evaluated weights (checkpoint.pt) and, last,
        the training record (``trained.json``: what metrics.json will hold but the scores), which
        it returns. ``extra``: more keys for the record."""
        model, loss, config, stopping, run_dir = self.model, self.loss, self.config, self.stopping, self.run_dir
        failure, epoch_rows, epoch_recons = self.log.failure, self.log.rows, self.log.recons
        if not self.phase.ended and stopping is not None:
            self.phase.stopped = "max_epochs"
            if self.phase.number == 2 and self.critic_plateau:  # the last epoch is evaluated after an adversarial start
                stopping.state, stopping.best_epoch = self.snapshot(), len(epoch_rows)
            waiting = [n for n in loss.plateau_terms if loss.terms[n].started_at is None]
            self.log.flags.append(Flag("not-converged", f"not converged: max_epochs ({self.max_epochs}) reached while the validation "
                                   f"loss still improved" + (f"; {', '.join(waiting)} never switched on" if waiting else "")))
        if self.bar is not None:
            self.bar.close()
        for flag in critic_flags(epoch_rows, list(loss.critics)):
            tqdm.write(f"warning: {run_label(config)}: {flag.message}", file=sys.stderr)
            self.log.critic_messages.append(flag)

        history = pd.DataFrame(epoch_rows) if epoch_rows else pd.DataFrame(columns=["epoch", "step", "phase", *self.columns, "seconds"])
        files.write_csv(run_dir / RunFolder.HISTORY, history)
        files.write_csv(run_dir / RunFolder.STEPS, pd.concat(self.log.steps, ignore_index=True))
        evaluated = len(epoch_rows)
        if stopping is not None and stopping.state is not None and not failure:
            model.load_state_dict(stopping.state["model"])  # the weights of the epoch that is evaluated
            if stopping.best_epoch is not None:
                evaluated = stopping.best_epoch
        if epoch_recons:  # the progression figure: epochs 1, 2, 4, ..., the evaluated one and the last, uint8
            kept = sorted({e for e in epoch_recons if _shown(e)} | {evaluated, max(epoch_recons)} & set(epoch_recons))
            for e in kept:
                if not _shown(e):
                    _write_grid(self.fixed, epoch_recons[e], run_dir / RunFolder.recon_epoch_png(e))
            files.torch_save(run_dir / RunFolder.RECON_EPOCHS, {"epochs": torch.tensor(kept),
                                                            "images": torch.stack([epoch_recons[e] for e in kept])})
        result = {
            "run_id": config["run_id"],
            "status": "failed" if failure else "done",
            "reason": failure["reason"] if failure else None,
            "train_seconds": round(self.train_seconds, 3),
            "n_params": sum(p.numel() for p in model.parameters()),
            "steps": self.step,
            "epochs": len(epoch_rows),
            "evaluated_epoch": evaluated,
            "stopped": self.phase.stopped,  # epochs (fixed count) | converged | max_epochs | adversarial_epochs
            "schedule": self.phase.plateau,
            "device": str(self.device),
            "threads": torch.get_num_threads(),  # float round-off differs between thread counts
            "flags": [f.to_dict() for f in self.log.flags[-3:] + self.log.critic_messages],  # the latest dominance messages (the log shows the first)
            **({"shared_phase": {k: v for k, v in self.saving.shared_phase.items() if k != "key"}} if self.saving.shared_phase else {}),
            **(extra or {}),
            "metrics": {},
        }
        if not failure:
            files.torch_save(run_dir / RunFolder.CHECKPOINT, {"model": model.state_dict(), "run_id": config["run_id"],
                                                         "loss": loss.state_dict(), "epoch": evaluated})
        result["run_seconds"] = round(time.perf_counter() - self.run_started, 3)  # scoring adds its own
        files.write_json(run_dir / stored.TRAINED, result)  # last: the run is trained, and waits for its scores
        self.saving.resume.unlink(missing_ok=True)  # its mid-run state is no longer needed
        return result


def _first_non_finite(steps: pd.DataFrame, loss) -> dict | None:
    """The first step whose total, or an active term's value or critic column, is not finite
    (a term that has not started logs NaN: that is not a failure)."""
    owner = {c: (c[c.index("[") + 1 : -1] if "[" in c else c) for c in loss.columns}
    step_numbers = steps["step"].to_numpy()
    checked = np.stack([np.full(len(steps), True) if owner[c] == "total"
                        else np.array([loss.terms[owner[c]].active(int(s)) for s in step_numbers]) for c in loss.columns], 1)
    bad = ~np.isfinite(steps[loss.columns].to_numpy()) & checked
    if not bad.any():
        return None
    row = int(np.argmax(bad.any(axis=1)))
    terms = [c for c, b in zip(loss.columns, bad[row]) if b and c != "total"] or ["total"]
    s = int(steps["step"].iloc[row])
    return {"step": s, "reason": f"non-finite loss at step {s} (epoch {int(steps['epoch'].iloc[row])}), term {', '.join(terms)}"}


def _shown(epoch: int) -> bool:
    """Epochs whose reconstructions are kept as files during training: 1, 2, 4, 8, ... (a run of a
    hundred epochs keeps eight grids, not a hundred); the evaluated and the last join at the end."""
    return epoch & (epoch - 1) == 0


@torch.no_grad()
def _recon_grid(model, fixed: torch.Tensor, device, run_dir: Path, epoch: int, write: bool) -> torch.Tensor:
    """The fixed test images' reconstructions at this epoch (uint8), written as recon_epoch_NNN.png if ``write``."""
    recon = (reconstruct(model, fixed, len(fixed), device) * 255).round().to(torch.uint8)
    if write:
        _write_grid(fixed, recon, run_dir / RunFolder.recon_epoch_png(epoch))
    return recon


def _write_grid(fixed: torch.Tensor, recon: torch.Tensor, path: Path) -> None:
    """Top row: the fixed test images; bottom row: their reconstructions."""
    grid = make_grid(torch.cat([fixed.cpu(), recon.float() / 255]), nrow=len(fixed), padding=1, pad_value=0.5)
    with files.atomic_path(path) as tmp:
        save_image(grid, tmp)
