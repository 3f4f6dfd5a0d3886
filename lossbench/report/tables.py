"""summary.csv and summary.md: one row per run, and mean ± 95% CI over seeds per cell."""

from __future__ import annotations

from dataclasses import replace

import math

import numpy as np
import pandas as pd

from lossbench.report.columns import best_rows
from lossbench.report.numbers import md_row
from lossbench.report.facts import column, column_metric, of
from lossbench.report.facts import columns as metric_columns
from lossbench.report.stats import mean_ci


def run_threads(runs: pd.DataFrame, manifest: dict) -> str:
    """The CPU threads the runs computed with, as each run recorded it (a Ray or --jobs worker
    may use fewer than the process that wrote this page); the process's own where runs predate that."""
    done = runs[runs["status"] == "done"] if "status" in runs else runs
    counts = pd.to_numeric(done["threads"], errors="coerce").dropna().astype(int).value_counts() if "threads" in done else None
    process = manifest.get("device", {}).get("threads")
    if counts is None or counts.empty:
        return f"{process} CPU threads (the process's; the runs did not record their own)"
    each = "; ".join(f"{n} run{'s' if n != 1 else ''} with {t} CPU thread{'s' if t != 1 else ''}"
                     for t, n in sorted(counts.items()))
    missing = len(done) - int(counts.sum())
    return each + (f"; {missing} not recorded" if missing else "") + f" (the process writing this page: {process})"


def summary_csv(runs: pd.DataFrame, manifest: dict) -> pd.DataFrame:
    """One row per run. A metric whose weights were unavailable reads 'unavailable' in its cells,
    and the reason stands in the row's 'unavailable' column."""
    metrics = list(manifest["metrics"])
    unavailable = manifest.get("unavailable", {})
    from lossbench.report.checks import EXTRA_COLUMNS, scheme_columns

    extra = [c for c in [*scheme_columns(metrics), *EXTRA_COLUMNS]
             if c in runs and pd.to_numeric(runs[c], errors="coerce").notna().any()]
    cols = ["run_id", "model", "condition", "seed", "status", "reason", *metric_columns(metrics), *extra,
            "epochs", "evaluated_epoch", "stopped", "train_seconds", "n_params"]
    table = runs.reindex(columns=cols).astype(object)
    for m in unavailable:
        for c in of(m).columns:
            table[c] = "unavailable"
    table["unavailable"] = "; ".join(f"{m}: {reason}" for m, reason in unavailable.items()) or None
    return table


def aggregate(runs: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Per model × condition over the finished runs: n, and each metric's mean and CI."""
    done = runs[runs["status"] == "done"]
    rows = []
    for (model, condition), group in runs.groupby(["model", "condition"], sort=False):
        ok = done[(done["model"] == model) & (done["condition"] == condition)]
        not_done = group.loc[group["status"] != "done", "status"].value_counts()
        row = {"model": model, "condition": condition, "n": len(ok), "failed": int(not_done.sum()),
               "not_done": ", ".join(f"{v} {k}" for k, v in not_done.items())}
        for m in metric_columns(metrics) + ["train_seconds"]:
            values = pd.to_numeric(ok[m], errors="coerce") if m in ok else pd.Series(dtype=float)
            row[m], row[f"{m}_ci"] = mean_ci(values)
            row[f"{m}_n"] = int(np.isfinite(values.to_numpy(dtype=float)).sum())  # a cell's own n, if a run lacks it
        epochs = pd.to_numeric(ok.get("evaluated_epoch", pd.Series(dtype=float)), errors="coerce").dropna()
        row["epochs"] = (f"{epochs.mean():.0f}" + (f" ({epochs.min():.0f}–{epochs.max():.0f})" if epochs.nunique() > 1 else "")
                         if len(epochs) else "–")
        stopped = ok.get("stopped", pd.Series(dtype=object)).dropna()
        row["stopped"] = ", ".join(f"{v} {k}" for k, v in stopped.value_counts().items())
        rows.append(row)
    return pd.DataFrame(rows)


def _small_inception_n(manifest: dict) -> int | None:
    n = manifest.get("inception_n")
    return n if n is not None and n != manifest.get("distribution_n") else None


def _n_label(manifest: dict, column: str) -> str:
    """' (N=20)' on fid/kid columns when they use their own, smaller N; ' (28→32 px)' on a column
    whose images were resized for its network (LPIPS-alex on digits), so the approximation stands
    at the number."""
    import re

    n = _small_inception_n(manifest)
    entry = of(column_metric(column))
    label = f" (N={n})" if n and entry.kind == "distribution" and entry.features == "inception" else ""
    resize = re.search(r"(\d+)->(\d+) px", str(((manifest.get("metrics") or {}).get(column_metric(column)) or {}).get("resize", "")))
    return label + (f" ({resize.group(1)}→{resize.group(2)} px)" if resize else "")


def _inception_note(manifest: dict, metrics: list[str]) -> str:
    n = _small_inception_n(manifest)
    used = [m for m in metrics if of(m).kind == "distribution" and of(m).features == "inception"]
    if not n or not used:
        return ""
    return (f"; {', '.join(used)} with N = {n} per set only (Inception is slow on a CPU): a small-N estimate, "
            f"biased upward and far noisier than at N = {manifest.get('distribution_n')}; compare only within this table")


def flagged_cells(runs: pd.DataFrame) -> set[tuple[str, str]]:
    """(model, condition) cells with at least one flagged run."""
    return {(r.model, r.condition) for r in runs.itertuples() if isinstance(r.flags, list) and r.flags}


def summary_markdown(manifest: dict, runs: pd.DataFrame, comparisons: pd.DataFrame | None = None,
                     circular: dict | None = None) -> str:
    """summary.md: the paired differences from the baseline first (when the study has one), then
    the means, the distribution metrics on their calibration ladder, flags, notes, provenance."""
    from lossbench.report.context import (CIRCULAR_MARK, calibration_markdown, circular_note, differences_markdown,
                                         digest_markdown)

    metrics = list(manifest["metrics"])
    unavailable = manifest.get("unavailable", {})
    columns = metric_columns(metrics)
    agg = aggregate(runs, metrics)
    circular = circular or {}
    available = [c for c in columns if column_metric(c) not in unavailable]
    ds = manifest["dataset"]
    seeds = sorted(runs["seed"].unique().tolist())
    lines = [
        f"# {manifest['study']}: summary",
        "",
        f"Dataset `{ds['name']}`: {ds['n_train']} train / {ds['n_test']} test images of shape "
        f"{'×'.join(map(str, ds['shape']))} (sha256 `{ds['sha256'][:12]}`). "
        f"Device: {manifest['device']['type']} ({manifest['device']['name']}). Seeds: {seeds}.",
        "",
        f"Each cell: mean ± half-width of the 95% Student-t interval over the finished seeds (n), "
        f"paired metrics on all {ds['n_test']} test images"
        + (f"; distribution metrics (`-recon`: reconstructions, `-samples`: generated images, each against "
           f"the real test images) with N = {manifest['distribution_n']} per set" if any(of(m).kind == "distribution" for m in metrics) else "")
        + _inception_note(manifest, metrics)
        + ". ↑ higher is better, ↓ lower is better. **Bold**: the best mean in the column, among cells without ⚑, "
        "when its interval is clear of the runner-up's (else nothing is bolded: the seeds cannot rank them). "
        "⚑: a run of this cell is flagged (see Flags below); its numbers are in the mean. *epochs*: the evaluated "
        "epoch (mean, range over seeds; with early stopping the best validation epoch). *train s*: seconds in "
        "training steps per run (mean over seeds; validation, diagnostics and evaluation not counted)"
        + ("; for seeds trained side by side (training.vectorize_seeds) each seed's share of the stacked epochs"
           if "side_by_side" in runs and runs["side_by_side"].eq(True).any() else "") + "."
        + (f" {CIRCULAR_MARK}: circular judgement (see below)." if circular else ""),
        "",
    ]
    if comparisons is not None and not comparisons.empty:
        lines[4:4] = (digest_markdown(comparisons, available, circular, flagged_cells(runs))
                      + differences_markdown(comparisons, available, circular, flagged_cells(runs)) + ["## Means over seeds", ""])
    header = ["model", "condition", "n"] + [f"{c}{_n_label(manifest, c)} {'↑' if of(column_metric(c)).higher_is_better else '↓'}"
                                            for c in columns] + ["epochs", "train s"]
    lines += [md_row(header), "|" + "---|" * len(header)]
    flagged = flagged_cells(runs)
    best = best_rows(agg, available, flagged)  # a cell that shows no number is never bold
    for i, (_, r) in enumerate(agg.iterrows()):
        mark = " ⚑" if (r["model"], r["condition"]) in flagged else ""
        cells = [str(r["model"]), str(r["condition"]) + mark, f"{r['n']}" + (f" ({r['not_done']})" if r["failed"] else "")]
        for m in columns:
            text = "unavailable" if column_metric(m) in unavailable else _fmt(r[m], r[f"{m}_ci"])
            if column_metric(m) not in unavailable and r[f"{m}_n"] != r["n"]:
                text += f" (n={r[f'{m}_n']})"  # finished runs without this value (a metric added later)
            text = f"**{text}**" if best.get(m) == i and math.isfinite(r[m]) else text
            cells.append(text + (f" {CIRCULAR_MARK}" if (r["condition"], m) in circular else ""))
        cells += [r["epochs"], _fmt(r["train_seconds"], math.nan, digits=3)]
        lines.append(md_row(cells))
    lines += judge_lines(manifest, [m for m in metrics if m not in unavailable])
    if circular:
        lines += [""] + circular_note(circular)
    not_converged = runs[runs.get("stopped", pd.Series(dtype=object)) == "max_epochs"] if "stopped" in runs else runs.iloc[0:0]
    if not not_converged.empty:
        lines += ["", f"**{len(not_converged)} run(s) reached max_epochs before their validation loss stopped improving**: "
                  "not converged (listed under Flags)."]
    lines += [""] + calibration_markdown(manifest, agg, available, flagged)

    bad = runs[runs["status"] != "done"]
    if not bad.empty:
        lines += ["", "## Runs not in the averages", ""]
        lines += [f"- `{r.run_id}` {r.model} / {r.condition} / seed {r.seed}: **{r.status}**: {r.reason}" for r in bad.itertuples()]
    flagged_runs = [r for r in runs.itertuples() if isinstance(r.flags, list) and r.flags]
    if flagged_runs:
        lines += ["", "## Flags (runs still in the averages; read their numbers with the flag in mind)", "",
                  "Loss balance: a term's gradient more than 100x another's (the smaller barely trains). "
                  "Discriminator: it wins (accuracy >= 0.99 on real and reconstructed images) or collapses "
                  "(calls every image the same) for 3 or more epochs in a row. Collapsed posterior: no latent unit "
                  "carries more than 0.01 nats. Collapsed output: reconstructions barely depend on the input. "
                  "Saturated output: a sigmoid decoder's logits so large that terms training through the sigmoid "
                  "cannot move the pixels. Not converged: max_epochs reached while the validation loss improved.", ""]
        for r in flagged_runs:
            balance = [f.message for f in r.flags if f.kind == "loss-balance"]
            shown = ([f"loss balance, {balance[-1]}"] if balance else []) + [f.message for f in r.flags if f.kind != "loss-balance"]
            lines += [f"- `{r.run_id}` {r.model} / {r.condition} / seed {r.seed}: {f}" for f in shown]
    notes: dict[str, list[str]] = {}
    for r in runs.itertuples():
        for note in r.notes:
            notes.setdefault(note, []).append(f"{r.model} / {r.condition}")
    if notes:
        lines += ["", "## Notes on the runs", ""]
        lines += [f"- {note}: {', '.join(dict.fromkeys(where))}" for note, where in notes.items()]
    if unavailable:
        lines += ["", "## Unavailable metrics (not computed; never replaced by something else)", ""]
        lines += [f"- `{m}`: {reason}" for m, reason in unavailable.items()]
    lines += ["", "## Metrics: how each number was made", ""]
    for m, prov in manifest["metrics"].items():
        if prov.get("status") == "unavailable":
            continue
        details = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in prov.items() if k not in ("description", "warning") and v is not None)
        lines.append(f"- `{m}`: {prov.get('description', of(m).description)}. {details}."
                     + (f" **Warning: {prov['warning']}.**" if "warning" in prov else ""))
    sanity = {m: v for m, v in (manifest.get("calibration") or {}).items() if "value" in v}
    if sanity:
        lines += ["", "## Sanity floors (what the real data scores against itself)", ""]
        lines += [f"- `{m}` = {v['value']:.4g}: {v['what']}" for m, v in sanity.items()]
    spreads = [(c, spread) for c in runs.columns if (spread := column(c)) is not None and spread.spread]
    if spreads:
        lines += ["", "KID's spread over its random subsets (per run, stored as `<column>-std` in metrics.json), median "
                  "over runs: " + ", ".join(f"`{replace(s, spread=False).name}` {pd.to_numeric(runs[c], errors='coerce').median():.3g}"
                                             for c, s in spreads) + "."]
    lines += ["", "## Data", ""] + [f"- {note}" for note in ds.get("notes", [])]
    v = manifest["versions"]
    lines += ["", "## Provenance", "",
              f"- command: `{' '.join(manifest['command'])}` (study file `{manifest['study_file']}`, {manifest['created']})",
              f"- lossbench {v['lossbench']}, torch {v['torch']}, torchvision {v['torchvision']}, "
              f"torchmetrics {v['torchmetrics']}, Python {v['python']}; {run_threads(runs, manifest)}",
              (f"- last `lossbench run` that trained anything: {manifest['study_seconds']:.0f} s in the runs ("
               + ", ".join(f"{v} {k}" for k, v in manifest.get("counts", {}).items() if v) + ")"
               + (f", after {manifest['setup_seconds']:.0f} s of set-up (data, feature networks, real-set features)"
                  if "setup_seconds" in manifest else "; set-up and report not included"))
              if "study_seconds" in manifest else "- study wall time: not recorded (interrupted?)",
              "- per-run files, configurations and per-image metrics: `runs/<run_id>/`; everything here is rebuilt by `lossbench report`"]
    return "\n".join(lines) + "\n"


def judge_lines(manifest: dict, metrics: list[str]) -> list[str]:
    """Under the means: each judge network's held-out accuracy and whether it shares images with
    the study, once per network (fd-judge, kid-judge, precision-judge... read one); then every
    metric's warning, where its numbers are read, not only in the provenance at the page's end."""
    lines, seen = [], set()
    for m in metrics:
        prov = manifest["metrics"].get(m) or {}
        if "held_out_accuracy" not in prov or "independent" not in prov:
            continue
        key = prov.get("weights_sha256")
        if key in seen:
            continue
        seen.add(key)
        users = [n for n in metrics if (manifest["metrics"].get(n) or {}).get("weights_sha256") == key]
        lines.append(f"- The network behind {', '.join(f'`{n}`' for n in users)}: held-out accuracy "
                     f"{float(prov['held_out_accuracy']):.3f}; independent of the study: {prov['independent']} "
                     f"(trained on {prov.get('trained_on', 'unrecorded images')}).")
    warned: dict[str, list[str]] = {}
    for m in metrics:
        warning = (manifest["metrics"].get(m) or {}).get("warning")
        if warning:
            warned.setdefault(warning, []).append(m)
    lines += [f"- ⚠ {', '.join(f'`{n}`' for n in names)}: **{warning}**." for warning, names in warned.items()]
    return [""] + lines if lines else []


def _fmt(mean: float, ci: float, digits: int = 4) -> str:
    from lossbench.report.numbers import mean_pm

    return mean_pm(mean, ci, digits)
