"""What a number means, next to the number: paired differences with their interval and the
smallest effect the study could detect; which judgements are circular (the loss trained on the
judging network); and where each distribution metric sits on its calibration ladder.

All read stored results only (comparisons from per-run metrics, the manifest's calibration,
study.yaml's conditions).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lossbench.report.facts import column as column_of
from lossbench.report.facts import column_metric, condition_terms, known, networks, of
from lossbench.store.columns import DEFAULT_SCHEME, on_set
from lossbench.report.numbers import interval, md_row

CIRCULAR_MARK = "§"


def circular_cells(conditions: dict, columns: list[str]) -> dict[tuple[str, str], str]:
    """(condition, column) -> the network that one of the condition's terms trains against and the
    column's metric also reads: such a number is partly the loss scoring itself. Shared means the
    same trained network (the domain classifier, whose features ``fd-domain`` reads) or the same
    pretrained weights (LPIPS-alex's AlexNet for ``lpips``; the VGG16 that LPIPS-vgg and DISTS both
    read, for ``dists``). The terms' networks are their recorded facts (TermSpec.facts)."""
    out = {}
    for cname, terms in (conditions or {}).items():
        for term in condition_terms(cname, terms):
            trained_on, features = set(term.get("weights") or ()), set(term.get("features") or ())
            for network in term.get("networks") or ():
                for column in columns:
                    metric = column_metric(column)
                    if metric not in known():
                        continue
                    entry = of(metric)
                    shared = (entry.kind == "distribution" and entry.features in features) or bool(trained_on & set(networks(metric)))
                    if shared:
                        out[(cname, column)] = network
    return out


def circular_note(circular: dict) -> list[str]:
    if not circular:
        return []
    by_network: dict[tuple[str, str], list[str]] = {}
    for (condition, column), network in circular.items():
        by_network.setdefault((condition, network), []).append(column)
    lines = [f"{CIRCULAR_MARK} **Circular judgement**: the condition's perceptual term trains on the network that scores "
             "this column, so its value is partly the loss scoring itself; judge such a condition by a column without "
             f"{CIRCULAR_MARK} (the judge, `fd-judge`, is a network no loss term trains on)."]
    for (condition, network), cols in by_network.items():
        lines.append(f"- `{condition}`: its perceptual term uses `{network}`, which also scores {', '.join(f'`{c}`' for c in cols)}")
    return lines


def verdicts(table: pd.DataFrame, columns: list[str], flagged: set[tuple[str, str]] | None = None) -> list[dict]:
    """Per row of the paired table (a condition against the baseline, or against its control), the
    metrics it is decided better on, decided worse on (the interval excludes 0, in the metric's
    direction) and undecided on, exactly as :func:`differences_markdown` marks its cells (bold ✓,
    bold ✗, plain); a row with a flagged run gets no verdict (``flagged``: True, every list empty)."""
    flagged = flagged or set()
    if table.empty:
        return []
    shown = [c for c in columns if c in set(table["metric"])]
    out = []
    for (model, condition, against), group in table.groupby(["model", "condition", "baseline"], sort=False):
        by_metric = group.set_index("metric")
        row = {"model": model, "condition": condition, "against": against, "better": [], "worse": [], "undecided": [],
               "flagged": (model, condition) in flagged or (model, against) in flagged}
        for c in shown:
            if c not in by_metric.index or row["flagged"]:
                continue
            r = by_metric.loc[c]
            decided = bool(np.isfinite(r["ci_low"]) and (r["ci_low"] > 0 or r["ci_high"] < 0))
            row["better" if decided and r["direction"] == "better" else "worse" if decided else "undecided"].append(c)
        out.append(row)
    return out


def digest_markdown(table: pd.DataFrame, columns: list[str], circular: dict,
                    flagged: set[tuple[str, str]] | None = None) -> list[str]:
    """summary.md's (and report.html's) first lines: what the paired table decided, in words, one line per
    condition, read off :func:`verdicts` (the same numbers and rule as the table's bold cells)."""
    rows = verdicts(table, columns, flagged)
    if not rows:
        return []
    baseline = table["baseline"].iloc[0]
    models = {r["model"] for r in rows}
    n = int(table["n_seeds"].max())

    def named(cols: list[str], condition: str) -> str:
        return ", ".join(f"{c} {CIRCULAR_MARK}" if (condition, c) in circular else c for c in cols) or "none"

    lines = ["## In short", "",
             f"What the paired differences below decide, in words (generated from them: each condition against `{baseline}` "
             f"on the same seed, up to {n} seeds; *decided*: the 95% interval excludes 0, in the metric's direction; "
             f"*undecided*: the seeds cannot tell them apart, which is no evidence of no effect"
             + (f"; {CIRCULAR_MARK}: the condition's loss trains on the network behind that column" if circular else "")
             + ").", ""]
    for r in rows:
        who = (f"{r['model']} / " if len(models) > 1 else "") + f"`{r['condition']}`"
        if r["against"] != baseline:
            who += f" against its control `{r['against']}`"
        if r["flagged"]:
            lines.append(f"- {who}: ⚑ flagged (a run of it or of what it is compared with; see Flags): no verdict drawn")
            continue
        lines.append(f"- {who}: decided better on {named(r['better'], r['condition'])}; decided worse on "
                     f"{named(r['worse'], r['condition'])}; undecided on {named(r['undecided'], r['condition'])}")
    return lines + [""]


def differences_markdown(table: pd.DataFrame, columns: list[str], circular: dict,
                         flagged: set[tuple[str, str]] | None = None) -> list[str]:
    """The study's first table: per condition (rows) and metric (columns) the mean paired
    difference from the baseline on the same seed, its 95% t-interval and the seeds behind it;
    then the smallest difference the seeds could detect, per metric. ``flagged``: (model,
    condition) cells with a flagged run; a row whose cell or whose baseline cell is flagged carries
    ⚑ and no verdict (no bold, no ✓ or ✗): a collapsed model's "gain" is no gain."""
    flagged = flagged or set()
    if table.empty:
        return []
    baseline = table["baseline"].iloc[0]
    shown = [c for c in columns if c in set(table["metric"])]
    arrows = {c: "↑" if of(column_metric(c)).higher_is_better else "↓" for c in shown}
    controls = table[table["baseline"] != baseline]
    lines = [f"## Paired differences from `{baseline}` (same seed)", "",
             f"Each cell: mean over seeds of (condition − `{baseline}`) on the same seed, and its 95% t-interval"
             + (" (rows *vs control*: condition − its control, `report.controls`)" if not controls.empty else "") + ". "
             "**Bold**: the interval excludes 0 (✓ better, ✗ worse in the metric's direction, ↑ or ↓); otherwise the "
             "seeds cannot tell the condition from the baseline. ⚑: a run of the condition or of the one it is "
             "compared with is flagged (see Flags below): no verdict is drawn, whatever the interval. "
             "*n*: seeds in both. p-values (paired t over seeds; "
             "Wilcoxon over test images, which holds the trained models fixed; Holm-adjusted): `comparisons.csv`."
             + (f" {CIRCULAR_MARK}: circular judgement (below)." if circular else ""), "",
             md_row(["model", "condition", "n"] + [f"{c} {arrows[c]}" for c in shown]),
             "|---|---|---|" + "---|" * len(shown)]
    for (model, condition, against), group in table.groupby(["model", "condition", "baseline"], sort=False):
        by_metric = group.set_index("metric")
        suspect = (model, condition) in flagged or (model, against) in flagged
        cells = []
        for c in shown:
            if c not in by_metric.index:
                cells.append("–")
                continue
            r = by_metric.loc[c]
            text = interval(r["difference"], r["ci_low"], r["ci_high"])
            if suspect:
                text += " ⚑"
            elif np.isfinite(r["ci_low"]) and (r["ci_low"] > 0 or r["ci_high"] < 0):
                text = f"**{text}** {'✓' if r['direction'] == 'better' else '✗'}"
            if (condition, c) in circular:
                text += f" {CIRCULAR_MARK}"
            cells.append(text)
        n = int(group["n_seeds"].max())
        label = condition if against == baseline else f"{condition} *vs control* `{against}`"
        label += " ⚑" if (model, condition) in flagged else ""
        lines.append(md_row([model, label, n, *cells]))
    # the smallest effect the study could detect: per metric, from the pooled spread of the paired differences
    lines += ["", "**The smallest effect this study could detect** (a paired t-test over the seeds, two-sided α = 0.05, "
              "80% power; from the standard deviation of the paired differences pooled over the conditions). A true "
              "difference smaller than this is likely to go unseen: an interval that contains 0 is *no evidence of no "
              "effect* below it.", "",
              "| metric | seeds | SD of paired differences (pooled) | detectable difference | baseline mean |", "|---|---|---|---|---|"]
    from lossbench.report.analysis import detectable_effect

    for c in shown:
        rows = table[(table["metric"] == c) & (table["baseline"] == baseline)]
        sds, ns = rows["sd_difference"].to_numpy(dtype=float), rows["n_seeds"].to_numpy(dtype=int)
        ok = np.isfinite(sds) & (ns >= 2)
        if not ok.any():
            continue
        pooled = float(np.sqrt(np.sum((ns[ok] - 1) * sds[ok] ** 2) / np.sum(ns[ok] - 1)))
        n = int(np.median(ns[ok]))
        base = rows["baseline_mean"].dropna()
        lines.append(md_row([c, n, f"{pooled:.3g}", f"{detectable_effect(pooled, n):.3g}",
                             f"{base.iloc[0]:.4g}" if len(base) else "–"]))
    return lines + [""]


def equivalent(value: float, ladder: dict, floor: float, kind: str = "blur") -> str:
    """Where ``value`` sits on the ladder's ``kind`` rungs, read as the degradation of real images
    that scores the same: '≈ blur σ 0.62' by linear interpolation between rungs (the floor is
    amount 0), '> blur σ 1' beyond the last rung, '≤ real' at or below the floor."""
    rungs = sorted((float(k.split()[1]), v) for k, v in ladder.items() if k.split()[0] == kind)
    if not rungs or not np.isfinite(value):
        return ""
    points = [(0.0, floor)] + rungs
    if any(b[1] <= a[1] for a, b in zip(points, points[1:])):
        return ""  # the metric does not grow with the degradation here: no reading
    if value <= floor:
        return "≤ real"
    for (a0, v0), (a1, v1) in zip(points, points[1:]):
        if value <= v1:
            return f"≈ {kind} {a0 + (value - v0) / (v1 - v0) * (a1 - a0):.2g}"
    return f"> {kind} {points[-1][0]:g}"


def _rung(value: float, metric: str) -> str:
    """A ladder value or a cell's mean as the table shows it; off the metric's scale, in words (blur: ``inf``
    is flatter than the scale reaches, ``nan`` sharper than the real images)."""
    if math.isfinite(value):
        return f"{value:.4g}"
    blur = metric in known() and of(metric).statistic == "blur"
    if math.isinf(value):
        return "∞ (flatter than the scale)" if blur else "∞"
    return "sharper than real" if blur else "–"


def calibration_markdown(manifest: dict, agg: pd.DataFrame, columns: list[str],
                         flagged: set[tuple[str, str]] | None = None) -> list[str]:
    """The ladder of each distribution metric, then every cell's distribution columns read on it
    (a cell with a flagged run carries ⚑); then the same for paired distances (LPIPS, DISTS)."""
    flagged = flagged or set()
    return (_distribution_ladder(manifest, agg, columns, flagged)
            + paired_ladder_markdown(manifest, agg, columns, flagged))


def paired_ladder_markdown(manifest: dict, agg: pd.DataFrame, columns: list[str], flagged: set[tuple[str, str]]) -> list[str]:
    """Paired distances (LPIPS, DISTS) on the calibration ladder: the test images blurred or noised,
    scored against themselves (0 is a perfect reconstruction); then each cell's mean read as the
    degradation that scores the same."""
    ladders = {m: c for m, c in (manifest.get("calibration") or {}).items()
               if "recon" in c and "samples" not in c and m in columns}
    if not ladders:
        return []
    rungs = sorted(dict.fromkeys(k for c in ladders.values() for k in c["recon"]),
                   key=lambda r: (r.split()[0] != "blur", float(r.split()[1])))  # the blurs, finest first, then the noises
    lines = ["## Perceptual distances in context", "",
             "What the test images score against themselves once degraded by a Gaussian blur of σ px or additive Gaussian "
             "noise of σ ([0, 1] units); a perfect reconstruction scores 0. A cell's mean reads as the degradation that "
             "scores the same. "
             + "; ".join(f"`{m}`: {(manifest['metrics'].get(m) or {}).get('resize', 'no resize')}" for m in ladders) + ".", "",
             md_row(["metric", "N", "real", *rungs]), "|---|---|---|" + "---|" * len(rungs)]
    for metric, c in ladders.items():
        lines.append(md_row([metric, c["n"], "0", *(f"{c['recon'][r]:.4g}" if r in c["recon"] else "–" for r in rungs)]))
    if not agg.empty:
        lines += ["", "Each cell's mean, read on the blur rungs:", "", md_row(["model", "condition", *ladders]),
                  "|---|---|" + "---|" * len(ladders)]
        for _, r in agg.iterrows():
            cells = []
            for metric, c in ladders.items():
                value = r.get(metric, math.nan)
                cells.append("–" if not np.isfinite(value) else
                             f"{value:.4g} ({equivalent(value, c['recon'], 0.0) or 'off the ladder'})")
            mark = " ⚑" if (r["model"], r["condition"]) in flagged else ""
            lines.append(md_row([r["model"], r["condition"] + mark, *cells]))
    return lines + [""]


def _distribution_ladder(manifest: dict, agg: pd.DataFrame, columns: list[str], flagged: set[tuple[str, str]]) -> list[str]:
    calibration = {m: c for m, c in (manifest.get("calibration") or {}).items() if "samples" in c}
    if not calibration:
        return []
    rungs = list(dict.fromkeys(k for c in calibration.values() for part in ("recon", "samples") for k in c[part] if k != "real"))
    lines = ["## Distribution metrics in context", "",
             "What real images score against the same real test images, at the same N as the table: *real* is the "
             "floor for `-samples` (N real training images, not test images: what a perfect generator would score at "
             "this N); the rungs degrade real images by a Gaussian blur of σ px or additive Gaussian noise of σ (in "
             "[0, 1] units). For `-recon` the rungs degrade the test images themselves (a perfect reconstruction "
             "scores 0). A model's distance reads as the degradation that scores the same.", "",
             md_row(["metric", "N", "real", *rungs]), "|---|---|---|" + "---|" * len(rungs)]
    for metric, c in calibration.items():
        for part in ("samples", "recon"):
            real = f"{c['samples']['real']:.4g}" if part == "samples" else "0"
            lines.append(md_row([on_set(metric, part).name, c["n"], real, *(_rung(c[part][r], metric) if r in c[part] else "–"
                                                                    for r in rungs)]))
    sets = {col: found.set for col in columns if column_metric(col) in calibration and (found := column_of(col)) is not None
            and found.set is not None and not found.spread and found.sampler in (None, DEFAULT_SCHEME)}
    dist = list(sets)
    if dist and not agg.empty:
        lines += ["", "Each cell's mean, read on the blur rungs (samples also as a multiple of the real floor):", "",
                  md_row(["model", "condition", *dist]), "|---|---|" + "---|" * len(dist)]
        for _, r in agg.iterrows():
            cells = []
            for col in dist:
                c = calibration[column_metric(col)]
                value = r.get(col, math.nan)
                if not np.isfinite(value):
                    cells.append(_rung(value, column_metric(col)))
                    continue
                part = sets[col]
                floor = c["samples"]["real"] if part == "samples" else 0.0
                ratio = f", {value / floor:.1f}× real" if part == "samples" and floor > 0 else ""
                cells.append(f"{value:.4g} ({equivalent(value, c[part], floor) or 'off the ladder'}{ratio})")
            lines.append(md_row([r["model"], r["condition"] + (" ⚑" if (r["model"], r["condition"]) in flagged else ""), *cells]))
    return lines + [""]
