"""Seeds side by side (``training.vectorize_seeds: true``): the K seeds of one model and condition
trained as one stacked model (torch.func.stack_module_state + functional_call + vmap).

Each seed keeps what its separate run has: its own initialisation (built under its seed, as
:class:`lossbench.train.RunTraining` builds it), its own batch order (its own generator), its own
Adam moments (Adam is elementwise, so one update over the stacked tensors is K independent ones;
the step count is shared, which is why a term that restores a seed's earlier weights cannot be
vectorised) and its own early stopping: a seed that has stopped keeps training in the stack, but
its bookkeeping ended at its own epoch and the weights it kept are that epoch's. After every epoch
each seed's weights are copied into its own :class:`~lossbench.train.run.RunTraining`, which does everything a separate
run does (history, NaN guard, diagnostics, validation, grids, stopping, checkpoint and training
record); each seed is then scored from its folder, as a separate run is.

Equal to K separate runs to float round-off: batched matrix products add in another order, and
training amplifies the difference over many steps (benchmarks/README.md), so a vectorised run
has its own run id. Not written: resume.pt (a group killed mid-way trains again from its first
epoch).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from lossbench.store.folders import RunFolder


def why_not(config: dict, terms: list | None = None) -> str | None:
    """Why this run's seeds cannot be trained side by side (a few words for the plan line), or None.
    ``terms``: the run's term specs where the study carries them (else read from the config)."""
    from lossbench.models import MODELS

    model = config["model"]
    if "target" in model:
        return f"model {model['label']} is a user's (target:)"
    entry = MODELS.get(model["name"])
    if entry is None or entry.variational:
        return f"{model['name']} draws its own noise in training (the seeds' noise would differ from their separate runs')"
    if config["training"].get("compile"):
        return "training.compile is on"
    from lossbench.losses import term_specs

    for spec in term_specs(terms or config["condition"]["terms"]):  # a condition has a term: none given, none carried
        label = spec.label or spec.term
        if spec.target:
            return f"{label} is a user's term (target:)"
        reason = spec.not_vectorised()
        if reason:
            return f"{label} {reason}"
    return None


def group_runs(runs) -> list[list]:
    """The runs in grid order, those of one model and condition that can be vectorised (and ask
    for it) joined in one group; every other run a group of its own."""
    groups: dict[tuple, list] = {}
    for run in runs:
        side_by_side = run.config["training"].get("vectorize_seeds") and why_not(run.config, run.terms) is None
        key = (run.model, run.condition) if side_by_side else (run.run_id,)
        groups.setdefault(key, []).append(run)
    return list(groups.values())


def plan_notes(runs) -> list[str]:
    """One line per model and condition of a study that asks for vectorize_seeds: trained side by side, or why not."""
    notes, seen = [], set()
    for run in runs:
        if not run.config["training"].get("vectorize_seeds") or (run.model, run.condition) in seen:
            continue
        seen.add((run.model, run.condition))
        seeds = [r.seed for r in runs if (r.model, r.condition) == (run.model, run.condition)]
        reason = why_not(run.config, run.terms)
        notes.append(f"vectorize_seeds: {run.model} / {run.condition}: " +
                     (f"seeds {', '.join(map(str, seeds))} trained side by side as one model" if reason is None
                      else f"seeds trained one by one: {reason}"))
    return notes


class StackedSeeds:
    """K models of one architecture (each built under its own seed) as one stacked model, one
    optimizer over the stacked tensors, and each seed's batch order from its own generator.
    :meth:`epoch` trains all K for one pass over the data."""

    def __init__(self, models: list[torch.nn.Module], loss, generators: list[torch.Generator], optimizer: str,
                 lr: float, impl: str, device: torch.device, amp: bool = False):
        from torch.func import functional_call, stack_module_state, vmap

        from lossbench.train import make_optimizer

        stacked, self.buffers = stack_module_state(models)  # copies: K x each parameter
        self.params = {name: p.detach().clone().requires_grad_() for name, p in stacked.items()}
        base = copy.deepcopy(models[0]).to("meta")  # the architecture; its weights come from ``params``
        self.optimizer = make_optimizer(optimizer, self.params.values(), lr, impl, device)
        self.generators, self.device, self.amp, self.k = generators, device, amp, len(models)

        def one_seed(p, b, x, index, step: int):
            return loss(functional_call(base, (p, b), (x,)), x, step, index)  # (total, each term's mean)

        self._forward = lambda step: vmap(lambda p, b, x, i: one_seed(p, b, x, i, step), randomness="error")

    def epoch(self, batches, step: int, bar=None) -> torch.Tensor:
        """One pass of every seed over ``batches`` from training step ``step``; returns the
        steps x K x (terms + total) table on the CPU (one sync per epoch)."""
        orders = torch.stack([batches.order(g) for g in self.generators])  # each seed's own permutation
        rows = []
        for start in range(0, batches.x.shape[0], batches.batch_size):
            index = orders[:, start : start + batches.batch_size]
            x = batches.x[index]  # K x B x C x H x W
            with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                totals, values = self._forward(step)(self.params, self.buffers, x, index)
            self.optimizer.zero_grad(set_to_none=True)
            totals.sum().backward()  # no parameter is shared: each seed's gradient is that of its own loss
            self.optimizer.step()
            rows.append(torch.cat([values, totals.detach().float()[:, None]], 1))
            step += 1
            if bar is not None:
                bar.update(1)
        return torch.stack(rows).float().cpu()

    @torch.no_grad()
    def copy_to(self, i: int, model: torch.nn.Module) -> None:
        """Seed ``i``'s current weights into its own model."""
        for name, p in model.named_parameters():
            p.copy_(self.params[name][i])


def train_group(configs: list[dict], batches, ctx, run_dirs: list[Path], device: torch.device, report: dict,
                progress_position: int = 1, trackers: list | None = None, terms: list | None = None) -> list[dict]:
    """Train the seeds of one model and condition (``configs``, differing only in seed) as one
    stacked model, up to each seed's checkpoint; return each run's training record."""
    from lossbench.train import RunTraining

    trackers = trackers or [None] * len(configs)
    runs = [RunTraining(c, batches, ctx, d, device, report, resumable=False, bar=False, tracker=t, terms=terms)
            for c, d, t in zip(configs, run_dirs, trackers)]
    for d in run_dirs:
        (d / RunFolder.RESUME).unlink(missing_ok=True)
    k, first = len(runs), runs[0]
    training = first.training
    # the condition's terms are pure functions of the batch (why_not): the first seed's serve all
    stack = StackedSeeds([r.model for r in runs], first.loss, [r.generator for r in runs], training["optimizer"],
                         training["lr"], training.get("optimizer_impl", "auto"), device, first.amp)
    live = list(range(k))  # seeds whose runs have not ended
    bar = tqdm(total=None, desc=f"{configs[0]['model']['label']}/{configs[0]['condition']['name']}/{k} seeds",
               position=progress_position, leave=False, disable=None, unit="step", dynamic_ncols=True)
    step = 0
    for epoch in range(1, first.max_epochs + 1):
        started = time.perf_counter()
        table = stack.epoch(batches, step, bar)
        step += len(table)
        seconds = (time.perf_counter() - started) / k  # each seed's share of the stacked epoch
        for i in live:
            stack.copy_to(i, runs[i].model)
        live = [i for i in live if not runs[i].end_epoch(epoch, table[:, i], seconds)]
        bar.set_postfix(epoch=epoch, running=f"{len(live)}/{k}", refresh=False)
        if not live:
            break
    bar.close()
    return [r.finish({"vectorised": {"seeds": [c["seed"] for c in configs]}}) for r in runs]
