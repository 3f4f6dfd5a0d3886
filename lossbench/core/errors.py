"""The one exception type for errors a user can cause.

A study file, a path, a value, a missing dataset or weights file: each is raised as
``LossbenchError`` carrying one readable line. The CLI prints ``error: <line>`` on stderr
and exits with code 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class LossbenchError(Exception):
    """A user-caused problem, described in one line that names what to fix."""

    def __init__(self, message: str):
        # One line, always: a multi-line message would hide the fix below a scroll.
        super().__init__(" ".join(str(message).split("\n")))


class DiskFull(LossbenchError):
    """No space (or quota) left where lossbench writes. Every write is atomic (lossbench.store.files),
    so what is on disk is whole: finished runs are kept and an unfinished one resumes from its
    last saved epoch once there is room. A study stops at the first one instead of failing run
    after run."""

    def __init__(self, path: str):
        self.path = path
        super().__init__(f"no space left on the device holding {path}: free some space (or give --out / "
                         f"$LOSSBENCH_CACHE on another disk) and run the same command again; finished runs are kept "
                         f"and an unfinished one resumes from its last saved epoch")

    def __reduce__(self):  # raised in a worker process (--jobs, Ray): it crosses back to the driver as itself
        return DiskFull, (self.path,)


class DataNotFound(LossbenchError):
    """A dataset's files are not where the study looks for them. A study whose runs are all
    finished still rebuilds its report from its folder (lossbench.study.runner)."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a close match exists, else the list of valid names."""
    choices = sorted(choices)
    close = difflib.get_close_matches(str(name), choices, n=1, cutoff=0.5)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (choose from: {', '.join(choices)})"
