"""Networks that score committed results ship inside the package (``lossbench/shipped/``), each
with a card (JSON: recipe, what it was trained on, held-out accuracy, the content sha256 of its
weights), so that every machine scores with the same weights: a network trained on first use
comes out with other weights on another CPU or torch version, and the numbers it scores with it.

A shipped network is used when the study's dataset is the one it was trained on (the dataset's
sha256 on the card); any other dataset trains the same recipe on first use and caches it, and
provenance says which of the two happened.
"""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from lossbench.store import files
from lossbench.nets.weights import content_sha256, sha256_of

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "shipped"


def shipped_path(name: str) -> Path:
    return SHIPPED_DIR / f"{name}.pt"


def load_shipped(name: str, dataset_sha256: str) -> tuple[dict, dict] | None:
    """(state dict, card) of the shipped network ``name`` when it was trained on the dataset with
    this sha256 and its weights match its card; else None (the caller trains on first use)."""
    from lossbench.core.errors import LossbenchError

    path = shipped_path(name)
    card = files.read_json_or_none(path.with_suffix(".json")) if path.is_file() else None
    if not isinstance(card, dict) or card.get("dataset_sha256") != dataset_sha256:
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if content_sha256(state) != card.get("content_sha256"):
        raise LossbenchError(f"{path}: does not match its card (content sha256); reinstall lossbench or rebuild it with "
                             f"{card.get('rebuild', 'its module')}")
    return state, card


def write_shipped(name: str, state: dict, card: dict) -> dict:
    """Write a network and its card into lossbench/shipped/ (what ``--ship`` of a builder calls)."""
    path = shipped_path(name)
    state = {k: v.detach().cpu() for k, v in state.items()}
    files.torch_save(path, state)
    card = {"name": name, **card, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "machine": platform.machine(), "content_sha256": content_sha256(state), "sha256": sha256_of(path)}
    files.write_json(path.with_suffix(".json"), card)
    return card


def shipped_label(path: Path) -> str:
    """How results name a shipped file: relative to the package, the same on every machine."""
    return f"lossbench/shipped/{path.name}"
