"""What lossbench reads from the environment, in one place: the command line, the Python API and
study loading all read it here."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

DATA_ENV = "LOSSBENCH_DATA"
CACHE_ENV = "LOSSBENCH_CACHE"


@contextlib.contextmanager
def compute_threads(threads: int | str) -> Iterator[None]:
    """Compute with ``threads`` torch CPU threads (``training.threads``) and restore the process's
    count afterwards; 'process' leaves it as it is. Float round-off depends on the thread count, so
    fixing it per run makes a run the same bits in any process: serial, a --jobs worker, a Ray
    task, a resume. (Here, not in lossbench.train: --dry-run times steps without the training stack.)"""
    if threads == "process":
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def data_root() -> str | None:
    return os.environ.get(DATA_ENV) or None


def cache_dir() -> str | None:
    return os.environ.get(CACHE_ENV) or None
