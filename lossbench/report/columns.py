"""The columns a check (report.checks) may name, and their direction; light (no pandas), so the
study validator can check a file's checks before anything heavy is imported."""

from __future__ import annotations

from lossbench.metrics import METRICS, SCHEME_SUFFIXES, column_metric


#: lower is better except where listed in HIGHER
EXTRA_COLUMNS = ("rate", "distortion", "active_units", "mean_abs_logit")
HIGHER = {"active_units"}


def scheme_columns(metrics: list[str]) -> list[str]:
    """The Fréchet metrics' columns for the random-code schemes beside the default (fd-judge-prior, ...)."""
    return [f"{m}-{s}" for m in metrics if m in METRICS and METRICS[m].kind == "distribution" and METRICS[m].statistic == "fd"
            for s in SCHEME_SUFFIXES]


def lower_is_better(column: str) -> bool:
    if column in EXTRA_COLUMNS:
        return column not in HIGHER
    return not METRICS[column_metric(column)].higher_is_better


def known_column(column: str, metrics: list[str]) -> bool:
    if column in EXTRA_COLUMNS or column in scheme_columns(metrics):
        return True
    base = column_metric(column)
    return base in metrics and base in METRICS and column in METRICS[base].columns(base)
