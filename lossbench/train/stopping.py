"""When a run stops and where it goes on: early stopping on the validation loss, the resume file of
a run killed mid-way, and the first phase that runs differing only in plateau-started weights share."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm
from lossbench.store.folders import RunFolder


#: the per-epoch state of a run in progress (removed once the run is finished)
RESUME = RunFolder.RESUME


class Stopping:
    """Early stopping on a validation loss: the best value so far, how many epochs since it
    improved by more than ``min_delta`` (relative), and the weights of its epoch."""

    def __init__(self, patience: int, min_delta: float):
        self.patience, self.min_delta = patience, min_delta
        self.reset()

    def reset(self) -> None:
        self.best: float = math.inf
        self.best_epoch: int | None = None
        self.wait = 0
        self.state: dict | None = None  # the best epoch's snapshot (model and optimizer state)

    @property
    def best_state(self) -> dict:
        """The best epoch's snapshot; an error before any epoch was recorded."""
        if self.state is None:
            raise RuntimeError("early stopping has recorded no epoch yet")
        return self.state

    def update(self, value: float, epoch: int, snapshot) -> bool:
        """Record an epoch's validation loss; keep ``snapshot()`` if it is the new best."""
        if value < self.best - self.min_delta * abs(self.best) or self.best_epoch is None:
            self.best, self.best_epoch, self.wait, self.state = value, epoch, 0, snapshot()
            return True
        self.wait += 1
        return False

    @property
    def exhausted(self) -> bool:
        return self.wait >= self.patience

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait, "state": self.state}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch, self.wait, self.state = state["best"], state["best_epoch"], state["wait"], state["state"]


def read_resume(path: Path, config: dict) -> dict | None:
    """The saved state of a run killed mid-way, if it belongs to this run and this configuration;
    a damaged file or one of another configuration is reported, removed, and the run starts over."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if saved.get("run_id") != config["run_id"] or saved.get("config") != config_digest(config):
            why = "it was written for another configuration of this run"
        else:
            return saved
    except Exception as exc:  # truncated, garbage, or a format of another version
        why = f"it cannot be read ({type(exc).__name__})"
    tqdm.write(f"warning: {path}: {why}; the run starts over", file=sys.stderr)
    path.unlink()
    return None


def prefix_key(config: dict) -> str:
    """What a run's first phase (before its ``start: plateau`` terms switch on) depends on: the
    whole configuration but the weights of those terms (and the run's id, study and condition
    name). Before the plateau such a term is not computed, its weight is 0 and its discriminator
    is built (seeded) but does not train, so runs equal but for those weights train the same
    first phase bit for bit (tested); a weight sweep trains it once."""
    import hashlib
    import json

    terms = [{k: v for k, v in t.items() if not (k == "weight" and t.get("start") == "plateau")}
             for t in config["condition"]["terms"]]
    data = {k: v for k, v in config["data"].items() if k not in ("root", "download")}
    blob = {"model": config["model"], "terms": terms, "data": data, "training": config["training"], "seed": config["seed"],
            "format": 1}
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_prefix(path: Path, key: str) -> dict | None:
    """A shared first phase (see :func:`prefix_key`), or None when there is none or it cannot be
    used (then the run trains its first phase itself)."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # truncated or of another version: train the phase again
        return None
    return saved if saved.get("prefix") == key else None


def config_digest(config: dict) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]
