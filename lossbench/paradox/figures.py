"""The paradox's figures: the faithful slide, the agreement chart, the equal-MSE gallery."""

from __future__ import annotations

import math
from pathlib import Path


import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

from lossbench.store import files  # noqa: E402
from lossbench.paradox.measure import HIGHER_IS_BETTER  # noqa: E402

FIGURE_TITLES = {"target": "Target (binarised at 0.5)", "stray": "1 pixel: stray, off the end",
                 "hole": "1 pixel: hole in the stroke", "extension (end)": "6 pixels: stroke longer at its end",
                 "extension (start)": "6 pixels: stroke longer at its start"}

ADDED, REMOVED = "#f28e2b", "#4e79a7"
# white background, dark stroke, an orange added pixel, a blue hole
_CMAP = ListedColormap(["white", "#333333", ADDED, REMOVED])

_SHOWN = [("pixels_changed", "pixels changed", "{:.0f}"), ("l1", "L1", "{:.0f}"), ("l2", "squared L2", "{:.0f}"),
          ("l2_norm", "L2 norm", "{:.3f}"), ("psnr", "PSNR (dB)", "{:.2f}"), ("ssim", "SSIM", "{:.4f}"),
          ("lpips", "LPIPS", "{:.4f}"), ("perceptual-domain", "domain distance", "{:.4f}"),
          ("judge-discriminator", "discriminator (realism)", "{:+.2f}"),
          ("judge-classifier", "classifier P(true class)", "{:.4f}")]


def _panel(target: np.ndarray, image: np.ndarray) -> np.ndarray:
    codes = image.astype(int)
    codes[(image == 1) & (target == 0)] = 2
    codes[(image == 0) & (target == 1)] = 3
    return codes


def _ranking_verdict(values: dict, metric: str, names: list[str]) -> str:
    """Which group (1-pixel or 6-pixel outputs) the metric rates better on average."""
    v = [float(x) for x in values[metric][1:]]
    one, six = np.mean(v[:2]), np.mean(v[2:])
    better_six = six > one if HIGHER_IS_BETTER[metric] else six < one
    return "6-pixel outputs" if better_six else "1-pixel outputs"


def paradox_figure(images, names, values: dict, measures, path: Path) -> None:
    target = images[0, 0].numpy()
    n = len(names)
    fig, axes = plt.subplots(1, n, figsize=(3.1 * n, 7.4))
    for i, (ax, name) in enumerate(zip(axes, names)):

        ax.imshow(_panel(target, images[i, 0].numpy()), cmap=_CMAP, vmin=0, vmax=3, interpolation="nearest")
        ax.set_xticks(np.arange(-0.5, 28, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, 28, 1), minor=True)
        ax.grid(which="minor", color="#dddddd", linewidth=0.4)
        ax.tick_params(which="both", bottom=False, left=False, labelbottom=False, labelleft=False)
        ax.set_title(FIGURE_TITLES[name], fontsize=10)
        text = []
        for key, label, fmt in _SHOWN:
            if key not in values:
                text.append(f"{label}: unavailable")
                continue
            v = float(values[key][i])
            text.append(f"{label}: {'∞' if math.isinf(v) else fmt.format(v)}")
        ax.text(0.0, -0.04, "\n".join(text), transform=ax.transAxes, va="top", ha="left", fontsize=8.2, family="monospace")
    verdicts = [f"{label} prefers the {_ranking_verdict(values, key, names)}"
                for key, label in (("l2", "L2"), ("ssim", "SSIM"), ("perceptual-domain", "domain distance"),
                                   ("judge-discriminator", "discriminator"), ("judge-classifier", "classifier"))
                if key in values]
    caption = ("Verdicts (mean of the two outputs of each kind): " + "; ".join(verdicts) + ".\n"
               "Orange: pixel added; blue: pixel removed. Binary images: each changed pixel differs by 1, so six "
               "changed pixels give L1 = 6, squared L2 = 6, L2 norm = sqrt(6) = 2.449 (one pixel: 1, 1, 1) - "
               "not the \"L2 loss 36\"\nof the write-up this project started from (36 = 6 squared, a quantity no "
               "standard loss computes). After H.-y. Lee, GAN Lecture 1 (2018), \"What do we miss?\".")
    if measures.unavailable:
        caption += "\nUnavailable: " + ", ".join(measures.unavailable) + " (weights not found; see report.md)."
    fig.text(0.01, 0.015, caption, fontsize=8.5, va="bottom", ha="left", wrap=True)
    fig.suptitle("One pixel wrong or six? What pixel losses, SSIM, a feature distance and two judges prefer",
                 fontsize=12.5)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.88, bottom=0.33, wspace=0.08)
    files.save_figure(path, fig)


def agreement_chart(agree: pd.DataFrame, path: Path, spec) -> None:
    kinds = [k for k in dict.fromkeys(agree["pair_kind"]) if not k.startswith("one-pixel")]
    metrics = list(dict.fromkeys(agree["metric"]))
    panels = [("extension", "against an extension (the paradox)"), ("thickening", "against a thickening (control)"),
              ("strays", "against six scattered strays (ink control)"), ("detached", "against a detached 2x3 block (ink control)")]
    fig, axes = plt.subplots(2, 2, figsize=(12, 2 * (0.42 * len(metrics) + 1.6)), sharey=True)
    colours = {"stray": "#e15759", "hole": "#4e79a7"}
    for ax, (six, title) in zip(axes.flat, panels):
        for j, one in enumerate(("stray", "hole")):
            kind = f"{one}-vs-{six}"
            if kind not in kinds:
                continue
            part = agree[agree["pair_kind"] == kind].set_index("metric").reindex(metrics)
            y = np.arange(len(metrics)) + (j - 0.5) * 0.38
            err = np.vstack([part["prefers_six_pixel"] - part["ci_low"], part["ci_high"] - part["prefers_six_pixel"]])
            ax.barh(y, part["prefers_six_pixel"], height=0.36, color=colours[one], xerr=err, capsize=2,
                    label=f"{one} (1 pixel) vs {six} (6 pixels)")
            # a bar of 0% has no width: a tick at its value and its number, so "never" is seen, not missed
            ax.plot(part["prefers_six_pixel"], y, "|", color=colours[one], ms=8, mew=2)
            for value, at in zip(part["prefers_six_pixel"], y):
                if np.isfinite(value) and value < 0.03:
                    ax.text(value + 0.015, at, f"{value:.0%}", va="center", fontsize=6.5, color=colours[one])
        ax.axvline(0.5, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xlim(-0.02, 1)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("share of pairs where the metric prefers the 6-pixel image")
        ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    for ax in axes[:, 0]:
        ax.set_yticks(np.arange(len(metrics)), metrics)
    axes[0, 0].invert_yaxis()
    n = int(agree[~agree["pair_kind"].str.startswith("one-pixel")]["n_pairs"].max())
    fig.suptitle(f"Which output does each metric prefer? {spec.per_class} test digits per class, seed {spec.seed} "
                 f"(up to {n} pairs per bar; bars: 95% intervals by bootstrap over digits)", fontsize=11)
    fig.tight_layout()
    files.save_figure(path, fig)


def controls_chart(controls: pd.DataFrame, path: Path, spec) -> None:
    """Per measure: the share of digits in which it prefers the extension over each ink-matched control."""
    metrics = list(dict.fromkeys(controls["metric"]))
    fig, ax = plt.subplots(figsize=(8.5, 0.45 * len(metrics) + 1.9))
    for j, (control, colour) in enumerate((("strays", "#59a14f"), ("detached", "#b07aa1"))):
        part = controls[controls["control"] == control].set_index("metric").reindex(metrics)
        y = np.arange(len(metrics)) + (j - 0.5) * 0.38
        err = np.vstack([part["prefers_extension"] - part["ci_low"], part["ci_high"] - part["prefers_extension"]])
        ax.barh(y, part["prefers_extension"], height=0.36, color=colour, xerr=err, capsize=2,
                label=f"extension preferred over {'six scattered strays' if control == 'strays' else 'a detached 2x3 block'}")
    for i, m in enumerate(metrics):
        if (controls[controls["metric"] == m]["ties"] == 1).all():
            ax.text(0.02, i, "tie in every pair (same six pixels changed)", va="center", fontsize=8, color="#555555")
    ax.axvline(0.5, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlim(0, 1)
    ax.set_yticks(np.arange(len(metrics)), [m + (" (whole-image judge)" if controls[controls["metric"] == m]["whole_image"].iloc[0]
                                                 else "") for m in metrics])
    ax.invert_yaxis()
    ax.set_xlabel("share of digits where the measure prefers the extension (same six pixels of ink)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1, frameon=False)
    ax.set_title(f"Does it see a continued stroke, or count ink? {spec.per_class} digits per class, seed {spec.seed}\n"
                 "(bars: 95% intervals by bootstrap over digits; a whole-image judge clears 0.5 on both)", fontsize=10)
    fig.tight_layout()
    files.save_figure(path, fig)


def equal_mse_figure(gallery: dict, originals: dict, table: pd.DataFrame, path: Path) -> None:
    rows = list(gallery)
    cols = 1 + len(gallery[rows[0]])
    fig, axes = plt.subplots(len(rows), cols, figsize=(2.1 * cols, 3.2 * len(rows)))
    for r, name in enumerate(rows):
        items = gallery[name]
        original = originals[name]
        axes[r, 0].imshow(original, cmap="gray", vmin=0, vmax=1)
        axes[r, 0].set_title(f"{name}: original", fontsize=8.5)
        for c, item in enumerate(items, start=1):
            row = table[(table["image"] == name) & (table["distortion"] == item["distortion"])].iloc[0]
            axes[r, c].imshow(item["image"], cmap="gray", vmin=0, vmax=1)
            extra = "" if math.isnan(row["lpips"]) else f"\nLPIPS {row['lpips']:.3f}"
            extra += "" if math.isnan(row["perceptual-domain"]) else f"\ndomain {row['perceptual-domain']:.3f}"
            short = "" if abs(row["mse_vs_target"] - 1) <= 0.05 else " (nearest reachable)"
            axes[r, c].set_title(f"{item['distortion']}\nMSE {item['mse']:.4f}{short}\nSSIM {row['ssim']:.3f}{extra}", fontsize=7.5)
        for ax in axes[r]:
            ax.axis("off")
    fig.suptitle("Same MSE, different images (after Wang & Bovik 2009); target MSE: a one-pixel translation's", fontsize=11)
    fig.tight_layout()
    files.save_figure(path, fig)

