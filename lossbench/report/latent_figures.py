"""Figures of what the models learned, from each run's stored recon_epochs.pt and latent.pt:
training progression, random codes, latent traversals (3-d codes), latent scatter.

Each figure shows one run per model: the first condition of the study and the lowest finished
seed (the title says which). Runs without the stored files (made before lossbench stored them)
are left out, never replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from lossbench.store import files
from lossbench.report.drawing import direct  # noqa: E402
from lossbench.store.columns import SAMPLES, SCHEMES, on_set  # noqa: E402
from lossbench.report.facts import known, of  # noqa: E402
from lossbench.report.figures import _originals, _tile  # noqa: E402
from lossbench.store.folders import RunFolder, StudyFolder




def file_part(label: str) -> str:
    """A model label as part of a file name: letters, digits, '_', '-' and '.' kept, anything else
    (a '/', a space) made '_', and no leading dot, so no label names a file outside figures/."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]", "_", label).lstrip(".") or "_"

#: a run flagged so is not drawn as its model's latent space while a healthy seed exists
COLLAPSED = ("collapsed-posterior", "collapsed-output")


def _representatives(runs: pd.DataFrame) -> list[pd.Series]:
    """Per model: its run of the first condition with the lowest finished seed that is not
    flagged collapsed (a collapsed code space says nothing about the model's); ``all_collapsed``
    is set when every seed is."""
    done = runs[runs["status"] == "done"].sort_values("seed")
    first = list(dict.fromkeys(runs["condition"]))[0] if not runs.empty else None
    out = []
    for model in dict.fromkeys(done["model"]):
        match = done[(done["model"] == model) & (done["condition"] == first)]
        if match.empty:
            continue
        healthy = [not any(getattr(f, "kind", None) in COLLAPSED for f in (flags if isinstance(flags, list) else []))
                   for flags in match["flags"]]
        pick = match[healthy].iloc[0].copy() if any(healthy) else match.iloc[0].copy()
        pick["all_collapsed"] = not any(healthy)
        out.append(pick)
    return out


def _load(out_dir: Path, run_id: str, name: str):
    path = Path(out_dir) / StudyFolder.RUNS / run_id / name
    return torch.load(path, weights_only=True) if path.is_file() else None


def chosen_epochs(stored: list[int], k: int = 6) -> list[int]:
    """Up to k of the stored epochs, the first and the last among them, the rest evenly spread."""
    picks = np.linspace(0, len(stored) - 1, min(k, len(stored)))
    return sorted({stored[int(round(i))] for i in picks})


def progression(out_dir: Path, runs: pd.DataFrame, figures: Path) -> list[Path]:
    written = []
    originals = _originals(out_dir)
    for r in _representatives(runs):
        stored = _load(out_dir, r["run_id"], RunFolder.RECON_EPOCHS)
        if stored is None:
            continue
        if isinstance(stored, torch.Tensor):  # lossbench 0.1: every epoch, in order
            stored = {"epochs": torch.arange(1, len(stored) + 1), "images": stored}
        by_epoch = dict(zip(stored["epochs"].tolist(), stored["images"]))
        epochs = chosen_epochs(list(by_epoch))
        evaluated = r.get("evaluated_epoch")
        rows = ([originals] if originals is not None else []) + [by_epoch[e] for e in epochs]
        labels = (["input"] if originals is not None else []) + [
            f"epoch {e}" + (" (evaluated)" if evaluated is not None and e == evaluated else "") for e in epochs]
        fig, ax = plt.subplots(figsize=(8, 0.85 * len(rows) + 0.8))
        ax.grid(False)
        ax.imshow(_tile(rows), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        side = rows[0].shape[-2] + 1
        ax.set_yticks([side * i + side / 2 for i in range(len(labels))], labels)
        ax.set_xticks([])
        ax.set_title(f"{r['model']}: the same test images reconstructed during training ({r['condition']}, seed {r['seed']})",
                     fontsize=10)
        path = figures / f"progression_{file_part(r['model'])}.png"
        fig.tight_layout()
        files.save_figure(path, fig)
        written.append(path)
    return written


def random_codes(out_dir: Path, runs: pd.DataFrame, path: Path) -> Path | None:
    """Each model's decoded random codes under every scheme it has, each panel scored by the
    study's first Fréchet metric (its -samples column for the default scheme)."""
    import textwrap

    reps = [(r, _load(out_dir, r["run_id"], RunFolder.LATENT)) for r in _representatives(runs)]
    reps = [(r, lat) for r, lat in reps if lat is not None]
    if not reps:
        return None
    scored = next((m for m in known() if of(m).statistic == "fd" and (c := on_set(m, SAMPLES).name) in runs
                   and pd.to_numeric(runs[c], errors="coerce").notna().any()), None)
    width = max(len(lat["random"]) for _, lat in reps)
    fig, axes = plt.subplots(len(reps), width, figsize=(4.4 * width, 2.0 * len(reps) + 0.6), squeeze=False)
    for i, (r, lat) in enumerate(reps):
        for ax in axes[i]:
            ax.axis("off")
        for j, scheme in enumerate(s for s in SCHEMES if s in lat["random"]):
            ax = axes[i, j]
            images = lat["random"][scheme][:16]
            ax.grid(False)
            ax.imshow(_tile([images[:8], images[8:16]]), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            fd = r.get(on_set(scored, SAMPLES, scheme).name) if scored else None
            score = f"\n{scored} {fd:.3g} (this run)" if isinstance(fd, float) and not np.isnan(fd) else ""
            ax.set_title(textwrap.fill(f"{r['model']}: {SCHEMES[scheme]}", 60) + score, fontsize=8)
    fig.suptitle("Decoded random codes (first condition, lowest seed"
                 + (f"; {scored} of each scheme, N as in the summary)" if scored else ")"), fontsize=10)
    fig.tight_layout()
    files.save_figure(path, fig)
    return path


def traversals(out_dir: Path, runs: pd.DataFrame, figures: Path) -> list[Path]:
    written = []
    for r in _representatives(runs):
        lat = _load(out_dir, r["run_id"], RunFolder.LATENT)
        if lat is None or "traversal" not in lat:
            continue
        grids = lat["traversal"]
        fig, axes = plt.subplots(1, len(grids), figsize=(4.2 * len(grids), 4.6), squeeze=False)
        for ax, g in zip(axes[0], grids):
            images = g["images"]
            steps = int(round(len(images) ** 0.5))
            ax.grid(False)
            ax.imshow(_tile([images[i * steps : (i + 1) * steps] for i in range(steps)]), cmap="gray", vmin=0, vmax=255,
                      interpolation="nearest")
            ax.set_title(f"z{g['fixed_dim'] + 1} = {g['fixed_value']:.2f} (its {g['quantile']:.0%} quantile)", fontsize=9)
            ax.set_xlabel("z3: 1st to 99th percentile of the data")
            ax.set_ylabel("z2: 1st to 99th percentile")
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(f"{r['model']}: one code coordinate fixed, the other two swept ({r['condition']}, seed {r['seed']}"
                     + ("; every seed of this cell is flagged collapsed" if r.get("all_collapsed") else "") + ")",
                     fontsize=10)
        fig.tight_layout()
        path = figures / f"latent_traversal_{file_part(r['model'])}.png"
        files.save_figure(path, fig)
        written.append(path)
    return written


def latent_scatter(out_dir: Path, runs: pd.DataFrame, path: Path) -> Path | None:
    """Test codes of every model with a code of at most 3 dimensions, projected on their first
    two principal components, coloured by class."""
    reps = []
    for r in _representatives(runs):
        lat = _load(out_dir, r["run_id"], RunFolder.LATENT)
        if lat is not None and lat.get("labels") is not None and lat["mu"].shape[1] <= 3:
            reps.append((r, lat))
    if not reps:
        return None
    fig, axes = plt.subplots(1, len(reps), figsize=(4.2 * len(reps), 4.2), squeeze=False)
    for ax, (r, lat) in zip(axes[0], reps):
        mu = lat["mu"].double()
        centred = mu - mu.mean(0)
        _, s, vt = torch.linalg.svd(centred, full_matrices=False)
        xy = (centred @ vt[:2].T).numpy()
        share = float((s[:2] ** 2).sum() / (s**2).sum())
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=lat["labels"].numpy(), cmap="tab10", s=4, alpha=0.7, vmin=-0.5, vmax=9.5)
        ax.set_title(f"{r['model']} ({mu.shape[1]}-d code; PCA keeps {share:.0%})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(sc, ax=axes[0].tolist(), ticks=range(10), label="class", shrink=0.8)
    fig.suptitle("Test codes (posterior means for VAEs), first two principal components", fontsize=10)
    files.save_figure(path, fig)
    return path


def latent_figures(out_dir: Path, runs: pd.DataFrame, figures: Path, draw: Callable | None = None) -> list[Path]:
    """The latent-space figures; ``draw``: how each is drawn (lossbench.report.drawing.Drawing;
    default: directly)."""
    draw = draw or direct
    written = draw("progression_*.png", progression, out_dir, runs, figures) or []
    written += [p for p in (draw("random_codes.png", random_codes, out_dir, runs, figures / "random_codes.png"),
                            draw("latent_scatter.png", latent_scatter, out_dir, runs, figures / "latent_scatter.png")) if p]
    written += draw("latent_traversal_*.png", traversals, out_dir, runs, figures) or []
    return written
