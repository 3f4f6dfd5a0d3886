"""checks.md: a study's expectations, stated as checks on its own numbers.

A check (``report.checks`` in the study) says: on ``metric``, model ``better`` beats model
``than`` (for each condition, or the one named); ``than_metric`` compares against another
column of the second model (a VAE's prior samples against an AE's uniform codes). It passes when the mean over finished seeds is
better in the metric's direction; the table shows both means with their 95% t-intervals, the
seeds, and whether every seed agrees. A failed check is a measurement, shown as such.
"""

from __future__ import annotations

import math

import pandas as pd

from lossbench.core.roles import RATE
from lossbench.report.facts import terms_of
from lossbench.report.stats import mean_ci

#: columns that scoring adds beside the study's metrics (lossbench.score.latent, lossbench.score.run),
from lossbench.report.columns import EXTRA_COLUMNS, HIGHER, known_column, lower_is_better, scheme_columns  # noqa: E402,F401
from lossbench.store.folders import RunFolder, StudyFolder


def evaluate_checks(checks: list[dict], runs: pd.DataFrame) -> pd.DataFrame:
    done = runs[runs["status"] == "done"]
    rows = []
    for check in checks:
        # compare: models (the default): two models within each condition; conditions: two conditions within each model
        by_condition = check.get("compare", "models") == "models"
        fixed, varied = ("condition", "model") if by_condition else ("model", "condition")
        scope = [check[fixed]] if check.get(fixed) else list(dict.fromkeys(runs[fixed]))
        column = check["metric"]
        other = check.get("than_metric") or column
        for within in scope:
            a = done[(done[varied] == check["better"]) & (done[fixed] == within)]
            b = done[(done[varied] == check["than"]) & (done[fixed] == within)]
            condition = within if by_condition else f"model {within}"
            va = pd.to_numeric(a.get(column, pd.Series(dtype=float)), errors="coerce").dropna()
            vb = pd.to_numeric(b.get(other, pd.Series(dtype=float)), errors="coerce").dropna()
            flagged = any(isinstance(f, list) and f for f in pd.concat([a["flags"], b["flags"]])) if "flags" in done else False
            row = {"claim": check["claim"], "condition": condition, "metric": column, "than_metric": other,
                   "better": check["better"],
                   "than": check["than"], "n_better": len(va), "n_than": len(vb), "flagged": flagged}
            if va.empty or vb.empty:
                row.update(result="not measured", mean_better=math.nan, ci_better=math.nan, mean_than=math.nan,
                           ci_than=math.nan, seeds_agree="", difference=math.nan, difference_ci=math.nan)
                rows.append(row)
                continue
            (ma, ca), (mb, cb) = mean_ci(va), mean_ci(vb)
            lower = lower_is_better(column)
            passed = ma < mb if lower else ma > mb
            by_seed = pd.merge(a[["seed", column]].rename(columns={column: "a"}),
                               b[["seed", other]].rename(columns={other: "b"}), on="seed").dropna()
            wins = ((by_seed["a"] < by_seed["b"]) if lower else (by_seed["a"] > by_seed["b"])).astype(bool)
            # the paired difference over the seeds both models ran: what says whether the result is more than noise
            diff, half = mean_ci(pd.to_numeric(by_seed["a"]) - pd.to_numeric(by_seed["b"]))
            noise = not (math.isfinite(half) and abs(diff) > half)
            row.update(result=("PASS" if passed else "FAIL") + (" (within noise)" if noise else ""), mean_better=ma,
                       ci_better=ca, mean_than=mb, ci_than=cb, seeds_agree=f"{int(wins.sum())} of {len(wins)}",
                       difference=diff, difference_ci=half)
            rows.append(row)
    return pd.DataFrame(rows)


def beta_reached(out_dir, term: dict, run_id: str) -> float | None:
    """The KL weight in force at the run's evaluated epoch: β × min(1, steps / warmup), with the
    steps up to that epoch from metrics.json (steps per epoch are constant); None if unknown."""
    import json
    from pathlib import Path

    warmup = term.get("warmup") or 0
    if warmup <= 0:
        return float(term["weight"])
    try:
        result = json.loads((Path(out_dir) / StudyFolder.RUNS / run_id / RunFolder.METRICS).read_text(encoding="utf-8"))
        steps = result["steps"] * result["evaluated_epoch"] / result["epochs"]
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        return None
    return float(term["weight"]) * min(1.0, steps / warmup)


def _beta(out_dir, term: dict, run_ids) -> str:
    """' (β = 4)', or with a warm-up the evaluated epochs did not finish, the β they reached."""
    reached = [beta_reached(out_dir, term, r) for r in run_ids]
    known = [b for b in reached if b is not None]
    if not known or min(known) >= term["weight"]:
        return f" (β = {term['weight']:g})"
    low, high = min(known), max(known)
    span = f"{low:.2g}" if f"{low:.2g}" == f"{high:.2g}" else f"{low:.2g}–{high:.2g}"
    return (f" (β = {term['weight']:g} ⚠ warm-up of {term['warmup']} steps unfinished: β reached {span} at the "
            f"evaluated epoch)")


def scope_lines(out_dir, runs: pd.DataFrame) -> list[str]:
    """What the checks were measured on, per model and condition: the loss terms with their
    weights (β for kl), the output, and the epochs evaluated and why training stopped."""
    from lossbench.store.collect import run_config

    done = runs[runs["status"] == "done"]
    lines = []
    for (model, condition), group in done.groupby(["model", "condition"], sort=False):
        config = run_config(out_dir, group["run_id"].iloc[0])
        terms = ", ".join(f"{t['label']}" + (_beta(out_dir, t, group["run_id"]) if t["role"] == RATE else
                                               (f" × {t['weight']:g}" if t["weight"] != 1 else ""))
                          for t in terms_of(config))
        epochs = pd.to_numeric(group.get("evaluated_epoch", pd.Series(dtype=float)), errors="coerce").dropna()
        stopped = group.get("stopped", pd.Series(dtype=object)).dropna().value_counts()
        when = (f"epochs evaluated {int(epochs.min())}–{int(epochs.max())}" if epochs.nunique() > 1
                else f"epoch {int(epochs.iloc[0])} evaluated") if len(epochs) else "epochs not recorded"
        lines.append(f"- {model} / {condition}: {terms}; output {config['model'].get('output', 'sigmoid')}; {when} "
                     f"({', '.join(f'{v} {k}' for k, v in stopped.items())}; {len(group)} seeds)")
    return lines


def checks_markdown(study_name: str, table: pd.DataFrame, scope: list[str] | None = None) -> str:
    from lossbench.report.numbers import md_row

    def cell(m, c):
        from lossbench.report.numbers import mean_pm

        return mean_pm(m, c)

    lines = [f"# {study_name}: checks", "",
             "Each check: on the metric, the first model (or condition, `compare: conditions`) should beat the second, "
             "within the condition (or model) of its row (mean over finished seeds, "
             "± half-width of the 95% t-interval; ↓ lower or ↑ higher is better). *Seeds agree*: in how many "
             "seeds the comparison goes the same way; *paired difference*: first minus second on the same seed, "
             "with its 95% t-interval. *(within noise)*: that interval contains 0, so the seeds cannot tell the two "
             "apart, whichever way the means fall. A FAIL is a measurement too. ⚑: a run of one of the two cells is "
             "flagged (summary.md, Flags): the result is not in bold, and is no verdict until the flag is understood.", "",
             *(["**Scope**: each result holds for what was run, and no further:", "", *scope, ""] if scope else []),
             "| result | claim | within | metric | better | value | than | value | seeds agree | paired difference |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.to_dict("records"):
        arrow = "↓" if lower_is_better(r["metric"]) else "↑"
        metric = r["metric"] if r["than_metric"] == r["metric"] else f"{r['metric']} vs {r['than_metric']}"
        result = f"{r['result']} ⚑" if r.get("flagged") else f"**{r['result']}**"  # no verdict in bold for a flagged run
        lines.append(md_row([result, r["claim"], r["condition"], f"{metric} {arrow}", r["better"],
                             cell(r["mean_better"], r["ci_better"]), r["than"], cell(r["mean_than"], r["ci_than"]),
                             r["seeds_agree"], cell(r["difference"], r["difference_ci"])]))
    passed = table["result"].str.startswith("PASS").sum()
    clear = (table["result"] == "PASS").sum() + (table["result"] == "FAIL").sum()
    lines += ["", f"{passed} of {len(table)} checks pass; {clear} of {len(table)} are decided beyond the seed-to-seed noise."]
    return "\n".join(lines) + "\n"
