"""Rate against distortion for VAEs (after Alemi et al. 2018, "Fixing a broken ELBO"): each
run's rate (KL from the posterior to the prior, nats per image, on the test split) and
distortion (Bernoulli negative log-likelihood of the test images decoded from their posterior
means, nats per image), with the KL weight β read from the run's configuration.

Writes figures/rate_distortion.png, figures/active_units.png and rate_distortion.md, which
states per model whether rate falls and distortion rises monotonically with β.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path


import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from lossbench.core.roles import RATE
from lossbench.report.facts import terms_of
from lossbench.store import files
from lossbench.report.drawing import direct
from lossbench.report.numbers import md_cell  # noqa: E402
from lossbench.store.collect import run_config  # noqa: E402


def beta_of(config: dict) -> float | None:
    weights = [t.get("weight", 1.0) for t in terms_of(config) if t["role"] == RATE]
    return float(weights[0]) if weights else None


def rate_table(out_dir: Path, runs: pd.DataFrame) -> pd.DataFrame:
    done = runs[(runs["status"] == "done")]
    if "rate" not in done or "distortion" not in done:
        return pd.DataFrame()
    done = done[pd.to_numeric(done["rate"], errors="coerce").notna()].copy()
    if done.empty:
        return pd.DataFrame()
    done["beta"] = [beta_of(run_config(out_dir, r)) for r in done["run_id"]]
    cols = ["model", "condition", "seed", "beta", "rate", "distortion", "active_units"]
    table = done[cols].dropna(subset=["beta"])
    order = {m: i for i, m in enumerate(dict.fromkeys(runs["model"]))}  # the study's model order
    out = table.groupby(["model", "beta"], sort=False).agg(
        condition=("condition", "first"), rate=("rate", "mean"), distortion=("distortion", "mean"),
        active_units=("active_units", "mean"), seeds=("seed", "count")).reset_index()
    return out.sort_values(["model", "beta"], key=lambda c: c.map(order) if c.name == "model" else c).reset_index(drop=True)


def monotone(values: list[float], rising: bool) -> bool:
    pairs = zip(values, values[1:])
    return all(b > a for a, b in pairs) if rising else all(b < a for a, b in pairs)


def rate_distortion_report(out_dir: Path, runs: pd.DataFrame, figures: Path, draw: Callable | None = None) -> list[Path]:
    """rate_distortion.md/.csv and its two figures, for a study with 3 or more β values (else nothing);
    ``draw``: how each figure is drawn (lossbench.report.drawing.Drawing; default: directly)."""
    draw = draw or direct
    table = rate_table(out_dir, runs)
    if table.empty or table["beta"].nunique() < 3:
        return []
    files.write_csv(out_dir / "rate_distortion.csv", table)
    sns.set_theme(style="whitegrid", font_scale=0.9)
    models = list(dict.fromkeys(table["model"]))
    palette = dict(zip(models, sns.color_palette("tab10" if len(models) <= 10 else "husl", len(models))))
    draw("rate_distortion.png", _lines, table, models, palette, "rate", "distortion", figures / "rate_distortion.png", annotate=True,
           labels=("rate: KL(q(z|x) || p(z)), nats per image", "distortion: -log p(x|z = mean), nats per image"),
           title="Rate against distortion; labels: β (KL weight)")
    draw("active_units.png", _lines, table, models, palette, "beta", "active_units", figures / "active_units.png", log_x=True,
           labels=("β (KL weight), log scale", "active latent units (KL > 0.01 nats)"), title="Active units against β")

    lines = ["# Rate and distortion against β", "",
             "Rate: KL from each test image's posterior to the prior, nats (mean over images and seeds). Distortion: "
             "Bernoulli negative log-likelihood of the test image decoded from its posterior mean, nats. Active "
             "units: latent dimensions whose mean KL exceeds 0.01 nats.", "",
             "![rate against distortion](figures/rate_distortion.png)", "",
             "| model | rate falls as β rises | distortion rises as β rises | rate (nats) by β | distortion (nats) by β | active units by β |",
             "|---|---|---|---|---|---|"]
    for model in models:
        part = table[table["model"] == model]
        rate_ok = monotone(part["rate"].tolist(), rising=False)
        dist_ok = monotone(part["distortion"].tolist(), rising=True)
        lines.append(f"| {md_cell(model)} | {'yes' if rate_ok else '**no**'} | {'yes' if dist_ok else '**no**'} | "
                     + ", ".join(f"{b:g}: {v:.1f}" for b, v in zip(part["beta"], part["rate"])) + " | "
                     + ", ".join(f"{b:g}: {v:.1f}" for b, v in zip(part["beta"], part["distortion"])) + " | "
                     + ", ".join(f"{b:g}: {v:.0f}" if math.isfinite(v) else f"{b:g}: –" for b, v in zip(part["beta"], part["active_units"]))
                     + " |")
    n_ok = sum(monotone(table[table["model"] == m]["rate"].tolist(), False) and
               monotone(table[table["model"] == m]["distortion"].tolist(), True) for m in models)
    lines += ["", f"Both monotone for {n_ok} of {len(models)} models. A **no** is a measurement: neighbouring β values "
              "whose distortions differ by less than the seed-to-seed spread can cross (the study has "
              f"{int(table['seeds'].max())} seed(s) per cell), and training stops where its validation loss flattens."]
    files.write_text(out_dir / "rate_distortion.md", "\n".join(lines) + "\n")
    return [out_dir / "rate_distortion.md", figures / "rate_distortion.png", figures / "active_units.png"]


def _lines(table, models, palette, x, y, path, labels, title, annotate=False, log_x=False) -> None:
    """One line per model through its β points."""
    fig, ax = plt.subplots(figsize=(8, 5.0))
    for model in models:
        part = table[table["model"] == model]
        ax.plot(part[x], part[y], "-o", color=palette[model], label=model, ms=4)
        if annotate:
            for r in part.itertuples():
                ax.annotate(f"{r.beta:g}", (getattr(r, x), getattr(r, y)), fontsize=6.5, xytext=(3, 3),
                            textcoords="offset points")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7.5, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    files.save_figure(path, fig)
