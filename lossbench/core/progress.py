"""Progress for set-up that takes minutes (a classifier trained on first use, a judge, converted
weights, the real set's statistics and calibration ladders), drawn as training's are: tqdm.auto (a
widget in a notebook, a bar on a terminal, nothing when stderr is not a terminal or TQDM_DISABLE
is set); and, because a bar is all a terminal shows, one plain line per step on stderr wherever it
goes (a batch job, ``nohup``, a log file), with the step's estimate, so that a silent set-up is
never mistaken for a hang."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator

from tqdm.auto import tqdm


def run_label(config: dict) -> str:
    """A run as its bars and log lines name it: model/condition/s<seed>."""
    return f"{config['model']['label']}/{config['condition']['name']}/s{config['seed']}"


def say(line: str) -> None:
    """One line on stderr now (above any bar on a terminal; flushed in a batch job's log)."""
    if sys.stderr.isatty():
        tqdm.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr, flush=True)


def duration(seconds: float) -> str:
    """``4 s``, ``2.5 min``, ``1.3 h``: as set-up lines and --dry-run state estimates."""
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min" if seconds < 600 else f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class _Step:
    """A set-up step's bar and its lines: the estimate, said once (given, or measured on the first
    updates), then how long it took, said when that was long enough to matter."""

    MEASURE_AFTER_S = 1.0  # measured estimates: after this much of the step, or 5% of it, whichever comes first

    def __init__(self, what: str, total: int | None, unit: str, estimate: float | None, cached: bool = True):
        self.what, self.total, self.unit = what, total, unit
        self.once = "; once, then cached" if cached else ""
        self.started = time.perf_counter()
        self.done = 0
        self.estimated = estimate is not None
        self.bar = tqdm(total=total, desc=what, unit=unit, disable=None, leave=False, dynamic_ncols=True)
        if estimate is not None:
            say(f"set-up: {what}: about {duration(estimate)} (an estimate{self.once})")
        elif total is None:
            say(f"set-up: {what}" + (" (once, then cached)" if cached else ""))

    def update(self, n: int = 1) -> None:
        self.bar.update(n)
        self.done += n
        if self.estimated or not self.total:
            return
        elapsed = time.perf_counter() - self.started
        if elapsed >= self.MEASURE_AFTER_S or self.done >= 0.05 * self.total:
            self.estimated = True
            left = elapsed * (self.total - self.done) / self.done
            say(f"set-up: {self.what}: about {duration(elapsed + left)} (measured on the first {self.done} of {self.total} "
                f"{self.unit}s{self.once})")

    def close(self) -> None:
        self.bar.close()
        took = time.perf_counter() - self.started
        if took >= 5:
            say(f"set-up: {self.what}: done in {duration(took)}")


@contextlib.contextmanager
def progress_line(desc: str, total: int | None = None, unit: str = "step", estimate: float | None = None,
                  cached: bool = True) -> Iterator[_Step]:
    """A set-up step: a bar on a terminal, and its lines on stderr (see the module docstring).
    ``estimate`` (seconds), when the caller knows it; else, with a ``total``, it is measured on the
    step's first updates and said then. ``cached``: its result is kept for the next invocation."""
    step = _Step(desc, total, unit, estimate, cached)
    try:
        yield step
    finally:
        step.close()


@contextlib.contextmanager
def timed_step(desc: str, estimate: float | None, cached: bool = True) -> Iterator[None]:
    """A set-up step without units to count (a conversion, one pass of a network over a set)."""
    with progress_line(desc, None, "step", estimate, cached):
        yield
