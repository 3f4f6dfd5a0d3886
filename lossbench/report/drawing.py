"""Each figure of a report drawn on its own: a figure that cannot be drawn costs that figure only.

A name a study chooses (a condition, a model label) can break a plotting library in ways no
table meets: a seaborn legend wider than its figure, a label that matplotlib reads as math. The
report is the product of all the training before it, so such a failure is one line on stderr
naming the figure and the reason; the tables, report.html and every other figure are written.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


class Drawing:
    """``drawing(name, draw, *args)`` calls ``draw(*args)``; if it raises, the figure ``name``
    (a file name under ``figures``, or a glob for a group of them) is named on stderr and in
    :attr:`failed`, its files from an earlier report are removed (they would show other
    numbers), and None is returned."""

    def __init__(self, figures: Path):
        self.figures = Path(figures)
        self.failed: dict[str, str] = {}

    def __call__(self, name: str, draw: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        import matplotlib.pyplot as plt

        try:
            return draw(*plain(args), **plain(kwargs))
        except Exception as exc:  # any plotting library's error: named, never the end of the report
            plt.close("all")
            text = " ".join(str(exc).split())
            why = f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
            self.failed[name] = why
            stem = Path(name).stem
            for stale in self.figures.glob(f"{stem}.*"):
                if stale.suffix in (".png", ".pdf", ".svg"):
                    stale.unlink()
            print(f"report: figures/{name} not drawn ({why}); the tables, report.html and the other figures are written",
                  file=sys.stderr)
            return None


def plain(value: Any) -> Any:
    """``value`` with every ``$`` in its strings escaped, so that matplotlib draws a name as written:
    a condition named ``$\\alpha_$`` is text, not (broken) mathtext. matplotlib shows ``\\$`` as
    ``$`` in a text with no unescaped pair, so a name without ``$`` (every committed one) is drawn
    exactly as before. The names reach a figure as data: the string cells of a DataFrame (model,
    condition, a term's label), the keys of a palette, the members of sets, lists and tuples.
    matplotlib's own labels (log-scale ticks such as ``$\\mathdefault{10^{1}}$``) stay math: a
    global ``text.parse_math: False`` printed them as source. Column names and paths stay as
    they are (they index the data)."""
    import pandas as pd

    if isinstance(value, str):
        return value.replace("$", r"\$") if "$" in value else value
    if isinstance(value, pd.DataFrame):
        text = [c for c in value.columns if not pd.api.types.is_numeric_dtype(value[c]) and value[c].map(_has_dollar).any()]
        return value.assign(**{c: value[c].map(plain) for c in text}) if text else value
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return type(value)(plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    return value


def _has_dollar(value: Any) -> bool:
    return isinstance(value, str) and "$" in value


def direct(name: str, draw: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A figure drawn where a failure may raise (a figure function called on its own)."""
    return draw(*args, **kwargs)
