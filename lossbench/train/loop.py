"""The training step of lossbench: seeding, the device, the optimizer and one epoch over
device-resident batches. :mod:`lossbench.train.run` calls it once per epoch of a run,
:mod:`lossbench.train.vectorised` for K stacked seeds, the paradox's judges for their own nets."""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch

from lossbench.core.environment import compute_threads  # noqa: F401  (lossbench.train.compute_threads, as before)
from lossbench.data import DeviceBatches


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


def make_optimizer(name: str, params, lr: float, impl: str = "auto", device: torch.device | None = None):
    """Adam or AdamW. ``impl``: fast (fused where the device has it, else foreach), auto (torch's
    default for the device), single (one parameter at a time), foreach (all parameters per
    operation) or fused (one kernel per step; CPU too since torch 2.4). The same update; float
    round-off differs between implementations."""
    cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    if impl == "fast":
        impl = "fused" if device is None or device.type in ("cpu", "cuda", "mps") else "foreach"
    # None: torch's default for the device
    foreach, fused = {"auto": (None, None), "single": (False, None), "foreach": (True, None), "fused": (None, True)}[impl]
    return cls(params, lr=lr, foreach=foreach, fused=fused)


def train_epoch(model, loss, optimizer, batches: DeviceBatches, generator: torch.Generator, step: int,
                amp: bool, bar=None, epoch: int = 0) -> torch.Tensor:
    """One pass over the training batches. Returns a steps × (terms + total) CPU table; the
    values stay on the device until the end of the epoch (one sync, not one per step)."""
    device = batches.x.device
    values = []
    every = max(1, len(batches) // 10)
    # per step, only what the step needs (issue 40 §4): no autocast context when amp is off, no critic step
    # and no concatenation with an empty row when the loss has no critic; the values are the same
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()
    critics = bool(loss.critics)
    for i, (index, x) in enumerate(batches.indexed_epoch(generator)):
        with autocast:
            out = model(x)
        total, terms = loss(out, x, step + i, index)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        if critics:  # alternate: then the discriminators learn from this step's reconstructions
            values.append(torch.cat([terms, total.detach().float()[None], loss.critic_step(out, x, step + i)]))
        else:
            values.append(torch.cat([terms, total.detach().float()[None]]))
        if bar is not None:
            bar.update(1)
            if (i + 1) % every == 0:
                bar.set_postfix(epoch=epoch, loss=f"{float(total.detach()):.4g}", refresh=False)
    return torch.stack(values).float().cpu()
