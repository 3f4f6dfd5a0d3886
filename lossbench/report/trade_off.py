"""The perception-distortion trade-off (after Blau & Michaeli, CVPR 2018, "The Perception-Distortion
Tradeoff", whose Fig. 1 and 6 sweep a GAN weight): where a study runs the same condition with one
adversarial term at several weights (a *sweep*: the conditions' terms equal but for that weight),
distortion (MSE) against perception measures along the weight, per model.

Writes trade_off.csv (per model and weight: mean and 95% seed interval of each measure),
trade_off_steps.csv (each step between neighbouring weights, paired by seed), trade_off_bound.csv
(MSE as a multiple of weight 0's, per weight, against the theory's bound of 2), trade_off.md (the
verdicts per model) and figures/trade_off.png, trade_off_samples.png, trade_off_bound.png and
sweep_grid.png.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

from lossbench.core.flags import longest_run
from lossbench.core.roles import CRITIC
from lossbench.report.facts import terms_of
from lossbench.store import files
from lossbench.report.drawing import direct
from lossbench.report.numbers import md_cell, md_row
from lossbench.store.collect import run_config
from lossbench.store.columns import DEFAULT_SCHEME, RECON, SAMPLES, on_set
from lossbench.report.stats import mean_ci
from lossbench.store.folders import RunFolder, StudyFolder

#: distortion, then the perception measures drawn against it (where the study has them)
DISTORTION = "mse"
PERCEPTION = ("fd-judge", "blur", "precision-judge", "recall-judge", "density-judge", "coverage-judge")
#: the measure the verdict reads; the others are reported beside it
VERDICT = "fd-judge"
#: the flag of a run whose reconstructions stopped depending on the input: no step to or from its
#: weight reads yes
COLLAPSED = "collapsed-output"
LOWER_IS_BETTER = {"fd-judge", "blur", "mse"}
#: at perfect perception (outputs distributed as the data) the lowest reachable MSE is at most
#: twice the lowest MSE without that constraint: Blau & Michaeli (CVPR 2018; an estimator that samples
#: the posterior reaches it), and for a fixed code (rate) exactly twice (Yan et al., ICML 2021). The optimal curve
#: falls from 1x at no perception constraint to at most 2x at perfect perception, so no point on
#: it lies beyond 2x.
BOUND = 2.0


def sweep_key(config: dict) -> tuple[str, float] | None:
    """(the condition's terms without the adversarial weight, that weight) when the condition has
    exactly one term that trains a critic (lossbench.core.roles.CRITIC); None otherwise."""
    terms = (config.get("condition") or {}).get("terms") or []
    roles = [t["role"] for t in terms_of(config)]
    critics = [t for t, role in zip(terms, roles) if role == CRITIC]
    if len(critics) != 1:
        return None
    rest = [{k: v for k, v in t.items() if not (role == CRITIC and k == "weight")} for t, role in zip(terms, roles)]
    return json.dumps(rest, sort_keys=True), float(critics[0].get("weight", 1.0))


def sweep_runs(out_dir: Path, runs: pd.DataFrame) -> pd.DataFrame:
    """The finished runs of the study's largest sweep (at least 3 weights), with a ``weight`` column."""
    done = runs[runs["status"] == "done"].copy()
    if done.empty:
        return done
    keys = [sweep_key(run_config(out_dir, r)) for r in done["run_id"]]
    done["family"] = [k[0] if k else None for k in keys]
    done["weight"] = [k[1] if k else math.nan for k in keys]
    done = done.dropna(subset=["family"])
    if done.empty:
        return done
    sizes = done.groupby("family")["weight"].nunique()
    best = sizes[sizes >= 3]
    if best.empty:
        return done.iloc[0:0]
    family = best.sort_values(ascending=False).index[0]
    return done[done["family"] == family].drop(columns="family")


def _columns(runs: pd.DataFrame, which: str) -> list[str]:
    named = [on_set(m, which).name for m in PERCEPTION]
    return [c for c in named if c in runs and pd.to_numeric(runs[c], errors="coerce").notna().any()]


def trade_off_table(sweep: pd.DataFrame) -> pd.DataFrame:
    cols = [DISTORTION] + _columns(sweep, RECON) + _columns(sweep, SAMPLES)
    rows = []
    for (model, weight), part in sweep.groupby(["model", "weight"], sort=False):
        flags = [f if isinstance(f, list) else [] for f in part.get("flags", [])]
        row = {"model": model, "weight": weight, "condition": part["condition"].iloc[0], "seeds": len(part),
               "flagged": sum(bool(f) for f in flags),
               # the collapse detector: outputs that stopped depending on the input (lossbench.score.run)
               "collapsed": sum(any(getattr(x, "kind", None) == COLLAPSED for x in f) for f in flags)}
        for c in cols:
            row[c], row[f"{c}_ci"] = mean_ci(pd.to_numeric(part[c], errors="coerce"))
        rows.append(row)
    order = {m: i for i, m in enumerate(dict.fromkeys(sweep["model"]))}
    table = pd.DataFrame(rows)
    return table.sort_values(["model", "weight"], key=lambda c: c.map(order) if c.name == "model" else c).reset_index(drop=True)


def paired_steps(sweep: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Each step from one weight to the next, per model and measure: the mean paired (same seed)
    difference and its 95% t-interval."""
    from scipy import stats

    rows = []
    for model in dict.fromkeys(sweep["model"]):
        part = sweep[sweep["model"] == model]
        weights = sorted(part["weight"].unique())
        for low, high in zip(weights, weights[1:]):
            a = part[part["weight"] == low].set_index("seed")
            b = part[part["weight"] == high].set_index("seed")
            seeds = a.index.intersection(b.index)
            for c in columns:
                d = (pd.to_numeric(b.loc[seeds, c], errors="coerce") - pd.to_numeric(a.loc[seeds, c], errors="coerce")).dropna()
                d = d.to_numpy(dtype=float)
                mean = float(d.mean()) if len(d) else math.nan
                half = float(stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))) if len(d) >= 2 else math.nan
                rows.append({"model": model, "from": low, "to": high, "metric": c, "difference": mean,
                             "ci_low": mean - half, "ci_high": mean + half, "n_seeds": len(d)})
    return pd.DataFrame(rows)


def _improves(metric: str, low: float, high: float) -> str:
    """'yes' when the interval lies on the better side of 0, 'worse' on the other, else 'unclear'."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "unclear"
    lower_better = any(metric.startswith(m) for m in LOWER_IS_BETTER)
    if (high < 0) if lower_better else (low > 0):
        return "yes"
    if (low > 0) if lower_better else (high < 0):
        return "worse"
    return "unclear"


def verdict_lines(table: pd.DataFrame, steps: pd.DataFrame, perception: str, configs: dict | None = None) -> list[str]:
    """Per model: does MSE rise and the perception measure improve at every step (paired intervals),
    where does it stop paying, and how large is the trade-off (weight 0 to the best weight); then
    whether the smallest code (``configs``: model label -> latent_dim) shows the largest one."""
    lines = [f"| model | MSE rises, step by step | {perception} improves, step by step | both, step by step (longest run) | "
             f"stops paying after | {perception}: weight 0 → best (change) | MSE: weight 0 → there (change) |",
             "|---|---|---|---|---|---|---|"]
    gains = {}
    for model in dict.fromkeys(table["model"]):
        part = table[table["model"] == model].reset_index(drop=True)
        st = steps[steps["model"] == model]
        # MSE rising is the measure getting worse: _improves reads it as 'worse'
        broken = set(part.loc[part["collapsed"] > 0, "weight"])
        rises = [(r["from"], r["to"], "collapsed" if {r["from"], r["to"]} & broken else
                  {"worse": "yes", "yes": "no"}.get(_improves(DISTORTION, r["ci_low"], r["ci_high"]), "unclear"))
                 for r in st[st["metric"] == DISTORTION].to_dict("records")]
        per = [(r["from"], r["to"], "collapsed" if {r["from"], r["to"]} & broken else
                _improves(perception, r["ci_low"], r["ci_high"]))
               for r in st[st["metric"] == perception].to_dict("records")]
        first = next((i for i, (_, _, state) in enumerate(per) if state != "yes"), None)
        stop_text = ("never (improves through the largest weight)" if first is None else
                     f"weight {per[first][0]:g} (the step to {per[first][1]:g}: {per[first][2]})")
        lower = any(perception.startswith(m) for m in LOWER_IS_BETTER)
        best = part[perception].idxmin() if lower else part[perception].idxmax()
        p0, pb = part.loc[0, perception], part.loc[best, perception]
        m0, mb = part.loc[0, DISTORTION], part.loc[best, DISTORTION]
        gains[model] = (pb - p0) / abs(p0) if p0 else math.nan
        lines.append(
            f"| {md_cell(model)} | {_steps(rises)} | {_steps(per)} | {_both(rises, per)} | {stop_text} | "
            f"{p0:.3g} → {pb:.3g} at weight {part.loc[best, 'weight']:g} ({100 * gains[model]:+.0f}%) | "
            f"{m0:.4g} → {mb:.4g} ({100 * (mb - m0) / m0:+.0f}%) |")
    sizes: dict[str, int] = {m: v for m in gains if isinstance(v := (configs or {}).get(m), int)}
    if len(gains) >= 2 and len(sizes) == len(gains):
        smallest = min(sizes, key=lambda m: sizes[m])
        largest = min(gains, key=lambda m: gains[m] if lower else -gains[m])  # the biggest relative improvement
        lines += ["", f"Largest relative improvement of {perception} from weight 0 to the best weight: {largest} "
                  f"({100 * gains[largest]:+.0f}%); the smallest code ({smallest}, {sizes[smallest]}-d) "
                  + ("shows the largest gain." if largest == smallest else "does **not** show the largest gain.")
                  + " Whether that gain cost MSE is the table's last column: a trade-off needs both."]
    return lines


def collapse_line(table: pd.DataFrame) -> str:
    """What the collapse detector found along the sweep (a step to or from a weight with a
    collapsed run reads 'collapsed', never yes)."""
    hit = table[table["collapsed"] > 0]
    total = int(table["seeds"].sum())
    if hit.empty:
        return (f"Collapse detector (`{COLLAPSED}`: reconstructions that stopped depending on the input): none of the "
                f"{total} runs of the sweep.")
    cells = ", ".join(f"{r['model']} at weight {r['weight']:g} ({r['collapsed']} of {r['seeds']})" for r in hit.to_dict("records"))
    return (f"Collapse detector (`{COLLAPSED}`: reconstructions that stopped depending on the input): "
            f"{int(hit['collapsed'].sum())} of the {total} runs of the sweep: {cells}. Steps to or from those weights "
            "read 'collapsed'.")


def bound_table(sweep: pd.DataFrame, table: pd.DataFrame, perception: str) -> pd.DataFrame:
    """Per model and weight: MSE as a multiple of weight 0's (the same schedule without the term:
    the lowest MSE this code reaches), the mean of the per-seed ratios with its 95% t-interval;
    ``most_realistic`` marks the weight with the best mean ``perception``."""
    rows = []
    lower = any(perception.startswith(m) for m in LOWER_IS_BETTER)
    for model in dict.fromkeys(table["model"]):
        part = table[table["model"] == model]
        runs = sweep[sweep["model"] == model]
        base = runs[runs["weight"] == part["weight"].min()].set_index("seed")[DISTORTION]
        best = part.loc[part[perception].idxmin() if lower else part[perception].idxmax(), "weight"]
        for weight in part["weight"]:
            here = runs[runs["weight"] == weight].set_index("seed")[DISTORTION]
            seeds = base.index.intersection(here.index)
            ratio = pd.to_numeric(here.loc[seeds]) / pd.to_numeric(base.loc[seeds])
            mean, half = mean_ci(ratio)
            rows.append({"model": model, "weight": weight, "mse_ratio": mean, "ci_low": mean - half, "ci_high": mean + half,
                         "n_seeds": len(seeds), "most_realistic": bool(weight == best)})
    return pd.DataFrame(rows)


def bound_lines(bound: pd.DataFrame, table: pd.DataFrame, perception: str, floor: float | None) -> list[str]:
    """The verdict against the theory, per model: at the most realistic weight, MSE as a multiple
    of weight 0's with its interval, read against 2, and how far that point still is from the real
    floor of ``perception``."""
    lines = [f"| model | most realistic weight (best {perception}) | {perception}: weight 0 → there"
             + (" (real floor)" if floor is not None else "") + " | share of the way to the real floor | "
             f"MSE there ÷ MSE at weight 0 (95% interval, paired by seed) | against the bound ({BOUND:g}×) |",
             "|---|---|---|---|---|---|"]
    for r in bound[bound["most_realistic"]].to_dict("records"):
        part = table[table["model"] == r["model"]]
        p0 = float(part.loc[part["weight"] == part["weight"].min(), perception].iloc[0])
        pb = float(part.loc[part["weight"] == r["weight"], perception].iloc[0])
        share = "–" if floor is None or p0 == floor else f"{100 * (p0 - pb) / (p0 - floor):.0f}%"
        if r["ci_high"] < BOUND:
            against = f"**below {BOUND:g}** (inside the bound)"
        elif r["ci_low"] > BOUND:
            against = f"**above {BOUND:g}**: more MSE than an optimal decoder needs even at perfect perception"
        else:
            against = f"the interval contains {BOUND:g}"
        lines.append(f"| {md_cell(r['model'])} | {r['weight']:g} | {p0:.3g} → {pb:.3g}"
                     + (f" ({floor:.3g})" if floor is not None else "") + f" | {share} | "
                     f"{r['mse_ratio']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}] | {against} |")
    lines += ["", f"The theory: at perfect perception (outputs distributed as the data) the lowest MSE is at most {BOUND:g}× "
              f"the lowest MSE (Blau & Michaeli, CVPR 2018), and for a fixed code exactly {BOUND:g}× (Yan et al., ICML "
              f"2021); the optimal curve between them never exceeds {BOUND:g}×. Weight 0 (the same schedule without the "
              "term) stands for the lowest MSE at this code. A point short of the real floor tests the bound one way "
              f"only: beyond {BOUND:g}× it pays more than the optimum would for perfect perception; below {BOUND:g}× it "
              f"agrees with the theory without reaching the regime where {BOUND:g}× is tight."]
    return lines


def _both(rises: list[tuple[float, float, str]], per: list[tuple[float, float, str]]) -> str:
    """The longest run of neighbouring steps along which MSE rises *and* perception improves
    (both intervals decided): 'weight a → b (k steps)', or 'none'."""
    run = longest_run([r[2] == "yes" and p[2] == "yes" for r, p in zip(rises, per)], True)
    if run is None:
        return "none"
    first, last = run
    return f"weight {rises[first][0]:g} → {rises[last][1]:g} ({last - first + 1} of {len(rises)} steps)"


def _steps(states: list[tuple[float, float, str]]) -> str:
    """'yes' when every step is; otherwise each step as 'a→b: state'."""
    if not states:
        return "–"
    if all(s == "yes" for _, _, s in states):
        return "yes, every step"
    return "**no**: " + ", ".join(f"{a:g}→{b:g} {s}" for a, b, s in states)


def trade_off_report(out_dir: Path, runs: pd.DataFrame, figures: Path, calibration: dict | None = None,
                     draw: Callable | None = None) -> tuple[list[Path], list[str]]:
    """The files written, and the verdict section for checks.md (both empty without a sweep).
    ``draw``: how each figure is drawn (:class:`lossbench.report.drawing.Drawing`; default: one
    that fails raises)."""
    draw = draw or direct
    sweep = sweep_runs(out_dir, runs)
    if sweep.empty:
        return [], []
    table = trade_off_table(sweep)
    recon, samples = _columns(sweep, RECON), _columns(sweep, SAMPLES)
    if DISTORTION not in sweep or not recon:
        return [], []
    steps = paired_steps(sweep, [DISTORTION] + recon + samples)
    files.write_csv(out_dir / "trade_off.csv", table)
    files.write_csv(out_dir / "trade_off_steps.csv", steps)
    written = [out_dir / "trade_off.md", out_dir / "trade_off.csv", out_dir / "trade_off_steps.csv"]
    others = _baselines(out_dir, runs, sweep)
    for which, cols, name in ((RECON, recon, "trade_off.png"), (SAMPLES, samples, "trade_off_samples.png")):
        if cols:
            draw(name, _figure, table, others, cols, which, calibration or {}, figures / name)
            written.append(figures / name)
    grid = draw("sweep_grid.png", _sweep_grid, out_dir, sweep, others, figures / "sweep_grid.png")
    if grid:
        written.append(grid)
    perception = on_set(VERDICT, RECON).name if on_set(VERDICT, RECON).name in recon else recon[0]
    sizes = {m: run_config(out_dir, sweep[sweep["model"] == m]["run_id"].iloc[0])["model"].get("latent_dim")
             for m in dict.fromkeys(sweep["model"])}
    n = int(table["seeds"].min())
    collapsed = collapse_line(table)
    lines = ["# The perception-distortion trade-off", "",
             "The adversarial term's weight swept with everything else fixed (weight 0: the same schedule without "
             f"the term). Each step between neighbouring weights is paired by seed ({n} seeds per cell at least); "
             "an interval on one side of 0 reads yes (or worse), one that straddles 0 unclear.", "",
             collapsed, "", "![trade-off](figures/trade_off.png)", "", "## Reconstructions", ""]
    verdicts = ["## The perception-distortion trade-off, per model (from trade_off.md)", "",
                f"Along the adversarial weight, paired by seed at each step ({n} seeds per cell at least); "
                "yes: the interval lies on that side of 0.", "", collapsed, "", "Reconstructions:", ""]
    on_recon = verdict_lines(table, steps, perception, sizes)
    verdicts += on_recon
    lines += on_recon
    if on_set(VERDICT, SAMPLES).name in samples:
        on_samples = verdict_lines(table, steps, on_set(VERDICT, SAMPLES).name, sizes)
        lines += ["", "## Samples (decoded draws from a Gaussian fitted to the training codes)", "",
                  "![trade-off, samples](figures/trade_off_samples.png)", ""] + on_samples
        verdicts += ["", "Samples:", ""] + on_samples
    floor = ((calibration or {}).get(VERDICT) or {}).get(SAMPLES, {}).get("real")
    bound = bound_table(sweep, table, perception)
    files.write_csv(out_dir / "trade_off_bound.csv", bound)
    written.append(out_dir / "trade_off_bound.csv")
    draw("trade_off_bound.png", _bound_figure, bound, table, perception, floor, figures / "trade_off_bound.png")
    written.append(figures / "trade_off_bound.png")
    against = bound_lines(bound, table, perception, floor)
    lines += ["", "## Against the theory: MSE at the most realistic point", "", "![against the bound](figures/trade_off_bound.png)",
              ""] + against
    verdicts += ["", "Against the theory (MSE at the most realistic point as a multiple of weight 0's):", ""] + against
    lines += ["", "## Every measure by weight (mean ± 95% seed interval; ⚑ k: k of the cell's runs are flagged, "
              "summary.md)", ""]
    shown = [DISTORTION] + recon + samples
    lines += ["| model | weight | " + " | ".join(shown) + " |", "|---|---|" + "---|" * len(shown)]
    for row in table.to_dict("records"):
        flag = f" ⚑ {row['flagged']}" if row.get("flagged") else ""
        lines.append(md_row([row["model"], f"{row['weight']:g}{flag}", *(_pm(row[c], row[f"{c}_ci"]) for c in shown)]))
    if grid:
        lines += ["", "![reconstructions and samples along the sweep](figures/sweep_grid.png)"]
    files.write_text(out_dir / "trade_off.md", "\n".join(lines) + "\n")
    return written, verdicts


def _pm(mean: float, half: float) -> str:
    if not math.isfinite(mean):
        return "–"
    return f"{mean:.4g} ± {half:.2g}" if math.isfinite(half) else f"{mean:.4g}"


def _baselines(out_dir: Path, runs: pd.DataFrame, sweep: pd.DataFrame) -> pd.DataFrame:
    """The other conditions of the sweep's models (e.g. L1, BCE, a recipe): drawn as single points."""
    done = runs[(runs["status"] == "done") & runs["model"].isin(set(sweep["model"]))
                & ~runs["condition"].isin(set(sweep["condition"]))]
    return done


def _figure(table: pd.DataFrame, others: pd.DataFrame, columns: list[str], which: str, calibration: dict, path: Path) -> None:
    """One panel per perception measure against MSE; one line per model through its weights
    (labelled), seed intervals as error bars in both directions, the model's other conditions as
    markers, and where calibrated the real-data floor and the blur ladder as horizontal lines."""
    from lossbench.report.figures import plt, sns

    sns.set_theme(style="whitegrid", font_scale=0.85)
    models = list(dict.fromkeys(table["model"]))
    palette = dict(zip(models, sns.color_palette("tab10", len(models))))
    markers = dict(zip(dict.fromkeys(others["condition"]), "sDP^vX*"))
    ncols = min(3, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 4.2 * nrows), squeeze=False)
    for ax in axes.flat[len(columns):]:
        ax.axis("off")
    for ax, col in zip(axes.flat, columns):
        for model in models:
            part = table[table["model"] == model]
            ax.errorbar(part[DISTORTION], part[col], xerr=part[f"{DISTORTION}_ci"], yerr=part[f"{col}_ci"], fmt="-o",
                        ms=4, lw=1.3, capsize=2, color=palette[model], label=f"{model}: L2 + adversarial")
            for r in part.to_dict("records"):
                ax.annotate(f"{r['weight']:g}", (r[DISTORTION], r[col]), fontsize=7,
                            xytext=(4, 3), textcoords="offset points", color=palette[model])
            for cond, marker in markers.items():
                sub = others[(others["model"] == model) & (others["condition"] == cond)]
                if sub.empty or col not in sub:
                    continue
                ax.plot(pd.to_numeric(sub[DISTORTION]).mean(), pd.to_numeric(sub[col]).mean(), marker, ms=7,
                        mfc="none", color=palette[model], label=f"{model}: {cond}")
        metric = next(m for m in PERCEPTION if on_set(m, which).name == col)
        cal = (calibration.get(metric) or {}).get(which) or {}
        for label, value in cal.items():
            if label == "real" or label.startswith("blur"):
                ax.axhline(value, ls=":" if label != "real" else "--", lw=0.9, color="0.35")
                ax.annotate("real floor" if label == "real" else label.replace("blur", "real, blur σ ="), (1.0, value),
                            xycoords=("axes fraction", "data"), fontsize=6.5, ha="right", va="bottom", color="0.3")
        ax.set_xlabel("distortion: MSE (reconstructions), log scale")
        ax.set_ylabel(col + (" (lower: more real-like)" if metric in LOWER_IS_BETTER else " (higher: more real-like)"))
        if metric in ("fd-judge",):
            ax.set_yscale("log")
        ax.set_xscale("log")  # the codes' MSEs lie a factor 4 apart; a broken run's far beyond
        import matplotlib.ticker as ticker

        ax.xaxis.set_major_locator(ticker.FixedLocator([0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.2, 0.5]))
        ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=7.5, frameon=False,
               bbox_to_anchor=(0.5, -0.02 - 0.025 * math.ceil(len(labels) / 4)))
    what = "reconstructions of the test split" if which == RECON else "samples (a Gaussian fitted to the training codes, decoded)"
    fig.suptitle(f"Perception against distortion along the adversarial weight (labels), {what}; mean ± 95% seed "
                 "interval; dashed: the real floor, dotted: real images blurred", fontsize=9.5)
    fig.tight_layout()
    files.save_figure(path, fig)


def _bound_figure(bound: pd.DataFrame, table: pd.DataFrame, perception: str, floor: float | None, path: Path) -> None:
    """Blau & Michaeli's picture: perception against distortion, both normalised per model so the
    codes share one axis: MSE as a multiple of weight 0's (x; the theory's bound at perfect
    perception is the vertical line at 2) and the perception measure's distance from the real floor
    as a share of weight 0's distance (y; 0 is perfect perception)."""
    from lossbench.report.figures import plt, sns

    sns.set_theme(style="whitegrid", font_scale=0.85)
    models = list(dict.fromkeys(bound["model"]))
    palette = dict(zip(models, sns.color_palette("tab10", len(models))))
    ground = floor if floor is not None else 0.0
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for model in models:
        b = bound[bound["model"] == model].reset_index(drop=True)
        part = table[table["model"] == model].set_index("weight").loc[b["weight"]]
        scale = float(part[perception].iloc[0]) - ground
        y = (part[perception].to_numpy() - ground) / scale
        yerr = part[f"{perception}_ci"].to_numpy() / abs(scale)
        xerr = [(b["mse_ratio"] - b["ci_low"]).to_numpy(), (b["ci_high"] - b["mse_ratio"]).to_numpy()]
        ax.errorbar(b["mse_ratio"], y, xerr=xerr, yerr=yerr, fmt="-o", ms=4, lw=1.3, capsize=2, color=palette[model],
                    label=model)
        for xi, yi, w, best in zip(b["mse_ratio"], y, b["weight"], b["most_realistic"]):
            ax.annotate(f"{w:g}", (xi, yi), fontsize=7, xytext=(4, 3), textcoords="offset points", color=palette[model])
            if best:  # the most realistic point: the one the verdict reads against the bound
                ax.plot([xi], [yi], "*", ms=13, mfc="none", color=palette[model])
    ax.plot([], [], "*", ms=10, mfc="none", color="0.3", label="most realistic weight")
    ax.axvline(BOUND, ls="--", lw=1.0, color="0.25")
    ax.annotate("bound at perfect perception:\n2× the lowest MSE\n(Blau & Michaeli 2018;\nYan et al. 2021)", (BOUND, 0.04),
                xycoords=("data", "axes fraction"), fontsize=7, ha="right", va="bottom", color="0.25", xytext=(-4, 0),
                textcoords="offset points")
    ax.axhline(0.0, ls=":", lw=1.0, color="0.35")
    ax.annotate("perfect perception: the real floor" if floor is not None else "0", (0.0, 0.0),
                xycoords=("axes fraction", "data"), fontsize=7, ha="left", va="bottom", color="0.3", xytext=(4, 2),
                textcoords="offset points")
    right = max(BOUND * 1.1, float(bound["ci_high"].max()) * 1.05)
    ax.set_xlim(0.95, right)
    ax.set_xlabel("distortion: MSE ÷ MSE at weight 0 (mean of per-seed ratios ± 95% interval)")
    ax.set_ylabel(f"perception: {perception} above the real floor,\nas a share of weight 0's (0: perfect)")
    ax.legend(fontsize=7.5, frameon=False, loc="upper center")
    ax.set_title("The adversarial weight's curve against the theory's bound (labels: weights)", fontsize=9.5)
    fig.tight_layout()
    files.save_figure(path, fig)


def _sweep_grid(out_dir: Path, sweep: pd.DataFrame, others: pd.DataFrame, path: Path) -> Path | None:
    """The smallest code's fixed reconstructions and decoded samples at each weight, then under its
    other conditions (L1, BCE, a recipe), each the lowest seed."""
    from lossbench.report.figures import _originals, _tile, plt

    configs = {m: run_config(out_dir, sweep[sweep["model"] == m]["run_id"].iloc[0]) for m in dict.fromkeys(sweep["model"])}
    model = min(configs, key=lambda m: configs[m]["model"].get("latent_dim", math.inf))
    part = sweep[sweep["model"] == model].sort_values(["weight", "seed"]).drop_duplicates("weight")
    rest = others[others["model"] == model].sort_values("seed").drop_duplicates("condition")
    recon_rows, sample_rows, labels = [], [], []
    originals = _originals(out_dir)
    rows = [(r["run_id"], f"L2 + adversarial × {r['weight']:g}") for r in part.to_dict("records")]
    rows += [(r["run_id"], r["condition"]) for r in rest.to_dict("records")]
    for run_id, label in rows:
        run_dir = Path(out_dir) / StudyFolder.RUNS / run_id
        if not (run_dir / RunFolder.RECON_FIXED).is_file():
            return None
        recon_rows.append(torch.load(run_dir / RunFolder.RECON_FIXED, weights_only=True))
        lat = torch.load(run_dir / RunFolder.LATENT, weights_only=True) if (run_dir / RunFolder.LATENT).is_file() else None
        if lat is not None and DEFAULT_SCHEME in lat.get("random", {}):
            sample_rows.append(lat["random"][DEFAULT_SCHEME][: recon_rows[-1].shape[0]])
        labels.append(label)
    if originals is not None:
        recon_rows.insert(0, originals[: recon_rows[0].shape[0]])
    panels = [("reconstructions", recon_rows, (["input"] if originals is not None else []) + labels)]
    if len(sample_rows) == len(labels):
        panels.append(("samples", sample_rows, labels))
    fig, axes = plt.subplots(1, len(panels), figsize=(0.42 * recon_rows[0].shape[0] * len(panels) + 2.0,
                                                      0.45 * len(recon_rows) + 1.0), squeeze=False)
    for ax, (title, images, names) in zip(axes[0], panels):
        tile = _tile(images)
        side = images[0].shape[-2] + 1
        ax.imshow(tile, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.grid(False)
        ax.set_xticks([])
        ax.set_yticks([side * i + side / 2 for i in range(len(names))], names, fontsize=8)
        ax.set_title(title, loc="left", fontsize=9)
    fig.suptitle(f"{model}: L2 + adversarial along the weight, then the other losses (lowest seed; samples: a "
                 "Gaussian fitted to the training codes, decoded)", fontsize=9.5)
    fig.tight_layout()
    files.save_figure(path, fig)
    return path


__all__ = ["trade_off_report", "sweep_runs", "trade_off_table", "paired_steps", "sweep_key"]
