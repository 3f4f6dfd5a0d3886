"""The columns a check (report.checks) may name, and their direction; light (no pandas), so the
study validator can check a file's checks before anything heavy is imported."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lossbench.report.facts import column_metric, known, of
from lossbench.store import columns as stored_columns

if TYPE_CHECKING:
    import pandas as pd


#: lower is better except where listed in HIGHER
EXTRA_COLUMNS = stored_columns.EXTRA
HIGHER = stored_columns.EXTRA_HIGHER


def scheme_columns(metrics: list[str]) -> list[str]:
    """The Fréchet metrics' columns for the random-code schemes beside the default (fd-judge-prior, ...)."""
    return [c.name for m in metrics if m in known() and of(m).kind == "distribution"
            for c in stored_columns.scheme_columns(m, of(m).statistic)]


def lower_is_better(column: str) -> bool:
    if column in EXTRA_COLUMNS:
        return column not in HIGHER
    return not of(column_metric(column)).higher_is_better


def known_column(column: str, metrics: list[str]) -> bool:
    if column in EXTRA_COLUMNS or column in scheme_columns(metrics):
        return True
    base = column_metric(column)
    return base in metrics and base in known() and column in of(base).columns


def best_rows(agg: pd.DataFrame, columns: list[str], flagged: set[tuple[str, str]]) -> dict[str, int]:
    """Per column, the row (position in ``agg``) whose mean is clearly best: not flagged, and its
    interval clear of the runner-up's (:func:`lossbench.report.numbers.clear_best`). A column
    where no cell is clearly best has no entry: nothing is bolded there."""
    from lossbench.report.numbers import clear_best

    eligible = [(m, c) not in flagged for m, c in zip(agg["model"], agg["condition"])] if not agg.empty else []
    out = {}
    for c in columns:
        if c not in agg:
            continue
        i = clear_best(agg[c].tolist(), agg[f"{c}_ci"].tolist(), of(column_metric(c)).higher_is_better, eligible)
        if i is not None:
            out[c] = i
    return out
