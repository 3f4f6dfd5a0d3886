"""Progress bars for set-up that takes minutes (a classifier trained on first use, a judge, the
real set's statistics), drawn as training's are: tqdm.auto (a widget in a notebook, a bar on a
terminal, nothing when stderr is not a terminal or TQDM_DISABLE is set)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tqdm.auto import tqdm


def run_label(config: dict) -> str:
    """A run as its bars and log lines name it: model/condition/s<seed>."""
    return f"{config['model']['label']}/{config['condition']['name']}/s{config['seed']}"


@contextlib.contextmanager
def progress_line(desc: str, total: int | None = None, unit: str = "step") -> Iterator[tqdm]:
    """A bar for one set-up step; ``total`` None draws a counter with the elapsed time."""
    bar = tqdm(total=total, desc=desc, unit=unit, disable=None, leave=False, dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()
