"""Figures of a study, from stored runs: training curves, metric bars, reconstruction grid."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import torch  # noqa: E402

from lossbench.store import files  # noqa: E402
from lossbench.report.facts import column_metric, of  # noqa: E402
from lossbench.report.palette import HATCHES, condition_palette  # noqa: E402,F401
from lossbench.store.folders import RunFolder, StudyFolder


def training_curves(history: pd.DataFrame, path: Path, palette: dict | None = None) -> None:
    """One row per loss term, one column per model and split (training batches, validation
    split), one colour per condition; with more than 4 such panels, one row per model and one
    column per term instead, the split as the line style (a grid that wraps, not one long row); mean over the seeds still training at that epoch, with
    its 95% t-interval as a band (early-stopped runs end at different epochs)."""
    if history.empty:
        return
    sns.set_theme(style="whitegrid", font_scale=0.9)
    history = history.assign(panel=history["model"] + " · " + history["split"])
    terms = ["total"] + [t for t in dict.fromkeys(history["term"]) if t != "total"]
    # band: the range over the seeds (a t-interval from two or three seeds reached below zero)
    palette = palette or condition_palette(list(history["condition"]))
    wide = history["panel"].nunique() > 4  # e.g. 8 models × 2 splits: 16 panels side by side were 6830 px wide
    layout = (dict(row="model", col="term", style="split", col_order=terms, facet_kws={"sharey": "col", "margin_titles": True})
              if wide else
              dict(row="term", col="panel", style="condition", row_order=terms, facet_kws={"sharey": "row", "margin_titles": True}))
    # a term switched on at each seed's own plateau (start: plateau) begins at a different epoch in every seed: a
    # mean over the seeds running at each epoch would jump as each seed joins (a saw-tooth no seed has), so such a
    # condition is drawn seed by seed; the others as the mean with its band
    switched = switched_conditions(history)
    hue_order = [c for c in palette if c in set(history["condition"])]
    if set(switched) >= set(history["condition"]):  # every condition: every line a seed's
        grid = sns.relplot(data=history, x="epoch", y="value", hue="condition", palette=palette, hue_order=hue_order,
                           kind="line", units="seed", estimator=None, linewidth=0.8, height=2.3, aspect=1.6, **layout)
        switched_drawn: list[str] = []
    else:  # the others' values hidden from the mean (kept for the facets and the legend), their seeds drawn below
        averaged = history.assign(value=history["value"].where(~history["condition"].isin(switched)))
        grid = sns.relplot(data=averaged, x="epoch", y="value", hue="condition", palette=palette, hue_order=hue_order,
                           kind="line", errorbar=("pi", 100), height=2.3, aspect=1.6, **layout)
        switched_drawn = switched
    for (row, col), ax in grid.axes_dict.items() if switched_drawn else ():
        facet = {"term": row, "panel": col} if not wide else {"model": row, "term": col}
        part = history[history["condition"].isin(switched_drawn)]
        for key, value in facet.items():
            part = part[part[key] == value]
        for (condition, _seed, split), line in part.groupby(["condition", "seed", "split"], sort=False):
            line = line.sort_values("epoch")
            ax.plot(line["epoch"], line["value"], color=palette.get(condition), lw=0.8, alpha=0.75,
                    ls="--" if wide and split == "validation" else "-")
    grid.set_titles(row_template="{row_name}", col_template="{col_name}")
    grid.set_axis_labels("epoch", "per image, unweighted")
    for i, row in enumerate(grid.axes):
        for j, ax in enumerate(row):
            term = terms[j] if wide else terms[i]
            positive = bool((history.loc[history["term"] == term, "value"] > 0).all())
            if ax.get_ylabel():  # total is the weighted sum the optimiser sees; each term is its own, unweighted
                ax.set_ylabel("per image, weighted sum" if term == "total" else "per image, unweighted")
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=6, integer=True))
            if positive:
                ax.set_yscale("log")  # the converged tail is a few percent of the first epoch's loss
    sns.move_legend(grid, "upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(3, history["condition"].nunique()),
                    title=None, frameon=False)  # under the panels, not off to the side of a tall column
    grid.figure.suptitle("Loss per term on the training batches and on the validation split\n(total: the terms' weighted "
                         "sum; each term unweighted; validation total: the early-stopping monitor, without adversarial "
                         "terms; mean over seeds, band: range over seeds; log scale where a term is positive)"
                         + (("\nevery condition" if set(switched) >= set(history["condition"]) else f"\n{', '.join(switched)}")
                            + ": one thin line per seed (a term switched on at each seed's own plateau: no mean across seeds)"
                            if switched else ""), y=1.02 + 0.03 * bool(switched), fontsize=10)
    files.save_figure(path, grid.figure)


def switched_conditions(history: pd.DataFrame) -> list[str]:
    """Conditions with a loss term that starts at a different epoch in different seeds (switched on at each
    seed's plateau): averaging their curves over the seeds at each epoch mixes seeds before and after the switch."""
    if history.empty:
        return []
    first = (history.dropna(subset=["value"]).groupby(["model", "condition", "split", "term", "seed"])["epoch"].min()
             .groupby(["model", "condition", "split", "term"]).agg(["min", "max"]))
    late = first[(first["min"] != first["max"])]
    return list(dict.fromkeys(late.index.get_level_values("condition")))


def discriminator_curves(history: pd.DataFrame, path: Path) -> None:
    """Per adversarial condition: the discriminator's accuracy on real and on reconstructed
    images, its loss, and the term's effective weight (λ × weight when adaptive), per epoch.
    One line per run (seed): with a handful of seeds, a band would mostly show its own width."""
    if history.empty:
        return
    split = history["term"].str.extract(r"^(?P<quantity>[^\[]+)\[(?P<critic>.+)\]$")
    names = {"d_acc_real": "accuracy on real images", "d_acc_recon": "accuracy on reconstructions",
             "d_loss": "discriminator loss", "weight": "effective weight of the term"}
    series = history["model"] + " / " + history["condition"]
    if split["critic"].nunique() > 1:
        series = series + " / " + split["critic"]
    history = history.assign(quantity=split["quantity"].map(names).fillna(split["quantity"]), series=series)
    sns.set_theme(style="whitegrid", font_scale=0.9)
    # each seed its own marker and dash, so that seeds of one condition can be told apart
    history = history.assign(seed=history["seed"].map(lambda s: f"seed {s}"))
    grid = sns.relplot(data=history, x="epoch", y="value", col="quantity", col_wrap=2, hue="series", style="seed",
                       markers=True, dashes=True, estimator=None, kind="line", height=2.6, aspect=1.4, markersize=4,
                       col_order=[q for q in names.values() if q in set(history["quantity"])],
                       facet_kws={"sharey": False})
    grid.set_titles(col_template="{col_name}")
    grid.set_axis_labels("epoch", "epoch mean")
    for ax in grid.axes.flat:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        if ax.get_title().startswith("accuracy"):
            ax.set_ylim(-0.03, 1.03)
        if ax.get_title().startswith("effective"):
            ax.set_yscale("symlog", linthresh=0.1)  # λ spans orders of magnitude; 0 before start
    grid.figure.suptitle("Discriminators, one line per seed (accuracy: share of scores on the right side)", y=1.02)
    files.save_figure(path, grid.figure)


def legend_label(name: str, width: int = 28) -> str:
    """A name as a legend shows it: wrapped into lines of ``width`` characters when longer (seaborn
    widens a figure for its legend and fails outright when the legend is wider than the figure)."""
    import textwrap

    return name if len(name) <= width else textwrap.fill(name, width)


#: markers by condition (in the study's order): the points read in greyscale too
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*", "h", "<", ">", "p")


def metric_bars(runs: pd.DataFrame, metrics: list[str], path: Path, palette: dict | None = None) -> None:
    """metrics.png: one panel per metric; per model, each condition's mean over seeds with its 95%
    t-interval, and each seed as a dot. The axis spans the data, not zero: a bar from 0 made differences that
    the paired table decides (a PSNR of 19.7 against 19.9) invisible. ⚑: a run of that cell is flagged."""
    from lossbench.report.stats import mean_ci

    done = runs[runs["status"] == "done"]
    if done.empty:
        return
    metrics = [m for m in metrics if m in done and pd.to_numeric(done[m], errors="coerce").notna().any()]
    if not metrics:
        return
    flagged = _flagged(runs)  # (model, condition) cells: the ⚑ goes on that cell's point, not on the whole condition
    conditions = list(dict.fromkeys(runs["condition"]))
    palette = palette or condition_palette(conditions)
    models = list(dict.fromkeys(done["model"]))
    sns.set_theme(style="whitegrid", font_scale=0.9)
    columns = min(4, len(metrics))
    rows = -(-len(metrics) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.3 * columns, 2.9 * rows), squeeze=False)
    width = 0.8 / max(len(conditions), 1)
    for ax, metric in zip(axes.flat, metrics):
        for k, condition in enumerate(conditions):
            for i, model in enumerate(models):
                values = pd.to_numeric(done.loc[(done["model"] == model) & (done["condition"] == condition), metric],
                                       errors="coerce").dropna().to_numpy(dtype=float)
                if not len(values):
                    continue
                x = i - 0.4 + width * (k + 0.5)
                mean, half = mean_ci(values)
                ax.scatter(np.full(len(values), x), values, s=9, color="0.45", zorder=2, linewidths=0)
                ax.errorbar(x, mean, yerr=half if np.isfinite(half) else None, fmt=MARKERS[k % len(MARKERS)], ms=6,
                            color=palette.get(condition), capsize=3, zorder=3,
                            label=legend_label(condition) if (i == 0 and ax is axes.flat[0]) else None)
                if (model, condition) in flagged:
                    ax.annotate("⚑", (x, mean + (half if np.isfinite(half) else 0)), xytext=(0, 3),
                                textcoords="offset points", ha="center", va="bottom", fontsize=9, color="0.1")
        arrow = "↑ better" if of(column_metric(metric)).higher_is_better else "↓ better"
        ax.set_title(f"{metric} ({arrow})", fontsize=9.5)
        ax.set_xticks(range(len(models)), models, rotation=30 if len(models) > 1 else 0, ha="right" if len(models) > 1 else "center")
        ax.set_xlim(-0.6, len(models) - 0.4)
        ax.grid(axis="x", visible=False)
        ax.margins(y=0.12)
    for ax in axes.flat[len(metrics):]:
        ax.set_visible(False)
    fig.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(3, len(conditions)), frameon=False, fontsize=8)
    fig.suptitle("Test metrics: mean over seeds with its 95% t-interval (marker and bar), each seed (grey dot); the axis "
                 "spans the values, not zero\n(an interval from a few seeds can reach values the metric cannot take; the "
                 "seeds cannot. Decided differences: summary.md's paired table)"
                 + ("\n⚑ on a point: a run of that model and condition is flagged, see summary.md" if flagged else ""),
                 fontsize=9.5)
    fig.tight_layout(rect=(0, 0, 1, 0.93 if flagged else 0.95))
    files.save_figure(path, fig)


def recon_grid(out_dir: Path, runs: pd.DataFrame, path: Path) -> None:
    """For each model: the fixed test images on top, then each condition's reconstructions
    (the first finished seed)."""
    done = runs[runs["status"] == "done"].sort_values("seed")
    if done.empty:
        return
    models = list(dict.fromkeys(done["model"]))
    conditions = list(dict.fromkeys(runs["condition"]))
    originals = _originals(out_dir)
    flagged = _flagged(runs)
    tiles = []
    for model in models:
        rows, labels = [], []
        if originals is not None:
            rows.append(originals)
            labels.append("input")
        for c in conditions:
            match = done[(done["model"] == model) & (done["condition"] == c)]
            if match.empty:
                continue
            rows.append(torch.load(Path(out_dir) / StudyFolder.RUNS / match.iloc[0]["run_id"] / RunFolder.RECON_FIXED, weights_only=True))
            labels.append(c + (" ⚑" if (model, c) in flagged else ""))
        tiles.append((model, _tile(rows), labels, rows[0].shape[-2] + 1))
    fig, axes = _image_panels([tile for _, tile, _, _ in tiles])
    for ax, (model, tile, labels, side) in zip(axes, tiles):
        ax.imshow(tile, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_yticks([side * i + side / 2 for i in range(len(labels))], labels)
        ax.set_title(model, loc="left")
    fig.suptitle("Reconstructions of the same test images (the lowest finished seed)")
    files.save_figure(path, fig)


def _originals(out_dir: Path):
    from lossbench.store.collect import fixed_inputs

    return fixed_inputs(out_dir)[0]


def _tile(rows: list[torch.Tensor]) -> np.ndarray:
    """Rows of uint8 N×C×H×W images -> one H×W(×3) array with 1-pixel grey gaps."""
    n, c, h, w = rows[0].shape
    canvas = np.full((len(rows) * (h + 1), n * (w + 1), 3), 128, dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            arr = img.permute(1, 2, 0).numpy()
            canvas[i * (h + 1) : i * (h + 1) + h, j * (w + 1) : j * (w + 1) + w] = arr if c == 3 else np.repeat(arr, 3, axis=2)
    return canvas


def _representative(runs: pd.DataFrame) -> dict[tuple[str, str], pd.Series]:
    """Per model × condition, its lowest finished seed, in the order every table lists the cells (the
    study's: first appearance in ``runs``); a sort by seed alone reordered the conditions."""
    done = runs[runs["status"] == "done"].sort_values("seed", kind="stable")
    first = done.drop_duplicates(["model", "condition"]).set_index(["model", "condition"], drop=False)
    order = dict.fromkeys(zip(runs["model"], runs["condition"]))
    return {key: first.loc[key] for key in order if key in first.index}


def gallery(out_dir: Path, runs: pd.DataFrame, metric: str, flagged: set, path: Path, worst_path: Path) -> None:
    """gallery.png: the fixed test images under every condition (lowest finished seed), each
    tile with its own ``metric`` value; worst.png: per cell, the k test images it reconstructs
    worst by that metric (stored at evaluation as recon_worst.pt). ⚑ marks flagged cells."""
    reps = _representative(runs)
    if not reps:
        return
    arrow = "↑" if of(column_metric(metric)).higher_is_better else "↓"
    originals = _originals(out_dir)
    models = [m for m in dict.fromkeys(runs["model"]) if any(k[0] == m for k in reps)]  # the study's order
    conditions = [c for c in dict.fromkeys(runs["condition"]) if any(k[1] == c for k in reps)]
    panels = []
    for model in models:
        rows: list[torch.Tensor] = [originals] if originals is not None else []
        labels: list[str] = ["input"] if originals is not None else []
        scores: list[np.ndarray | None] = [None] if originals is not None else []
        for c in conditions:
            r = reps.get((model, c))
            if r is None:
                continue
            run_dir = Path(out_dir) / StudyFolder.RUNS / r["run_id"]
            recon = torch.load(run_dir / RunFolder.RECON_FIXED, weights_only=True)
            per_image = pd.read_csv(run_dir / RunFolder.PER_IMAGE) if (run_dir / RunFolder.PER_IMAGE).is_file() else None
            rows.append(recon)
            labels.append(c + (" ⚑" if (model, c) in flagged else ""))
            scores.append(per_image[metric].to_numpy()[: len(recon)] if per_image is not None and metric in per_image else None)
        if rows:
            panels.append((model, rows, labels, scores))
    if panels:
        fig, axes = _image_panels([_tile(rows) for _, rows, _, _ in panels])
        for ax, (model, rows, labels, scores) in zip(axes, panels):
            ax.imshow(_tile(rows), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            h, w = rows[0].shape[-2] + 1, rows[0].shape[-1] + 1
            for i, s in enumerate(scores):
                for j, v in enumerate(s if s is not None else ()):
                    ax.text(j * w + w - 2, i * h + h - 2, f"{v:.3g}", color="yellow", fontsize=5.5, ha="right", va="bottom")
            ax.set_yticks([h * i + h / 2 for i in range(len(labels))], labels)
            ax.set_title(f"{model} (each tile: its {metric} {arrow})", loc="left", fontsize=9)
        fig.suptitle("The same test images under every condition (lowest finished seed)")
        files.save_figure(path, fig)

    ordered = [(m, c) for m in models for c in conditions if (m, c) in reps]
    cells = [(key, torch.load(Path(out_dir) / StudyFolder.RUNS / reps[key]["run_id"] / RunFolder.RECON_WORST, weights_only=True))
             for key in ordered if (Path(out_dir) / StudyFolder.RUNS / reps[key]["run_id"] / RunFolder.RECON_WORST).is_file()]
    if not cells:
        return
    tiles = [_tile([worst["input"], worst["recon"]]) for _, worst in cells]
    fig, axes = _image_panels(tiles, caption=0.3)
    for ax, tile, ((model, c), worst) in zip(axes, tiles, cells):
        ax.imshow(tile, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        w = worst["input"].shape[-1] + 1
        h = worst["input"].shape[-2] + 1
        for j, (idx, v) in enumerate(zip(worst["indices"].tolist(), worst["values"].tolist())):
            # two short lines under each column: one line of both overlapped its neighbours
            ax.text(j * w + w / 2, 2 * h + 1, f"#{idx}\n{v:.3g}", fontsize=6, ha="center", va="top", linespacing=1.1)
        ax.set_yticks([h / 2, h * 1.5], ["input", "recon"])
        ax.set_title(f"{model} / {c}{' ⚑' if (model, c) in flagged else ''}: worst {len(worst['indices'])} test images "
                     f"by {worst['metric']} (#: test index)", loc="left", fontsize=8.5)
    fig.suptitle("The worst reconstructions of each condition (lowest finished seed)")
    files.save_figure(worst_path, fig)


def _image_panels(tiles: list[np.ndarray], width: float = 6.5, caption: float = 0.0):
    """A figure of one panel per image tile, each as tall as its tile needs at ``width`` inches
    (plus ``caption`` inches under it): a fixed height per row left blank bands."""
    heights = [width * t.shape[0] / t.shape[1] + 0.35 + caption for t in tiles]
    fig, axes = plt.subplots(len(tiles), 1, figsize=(width + 2.5, sum(heights) + 0.4), squeeze=False,
                             gridspec_kw={"height_ratios": heights}, layout="constrained")
    for ax in axes[:, 0]:
        ax.grid(False)
        ax.set_xticks([])
    return fig, list(axes[:, 0])


def _flagged(runs: pd.DataFrame) -> set[tuple[str, str]]:
    from lossbench.report.tables import flagged_cells

    return flagged_cells(runs)
