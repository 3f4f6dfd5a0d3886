"""What lossbench reads from the environment, in one place: the command line, the Python API and
study loading all read it here."""

from __future__ import annotations

import os

DATA_ENV = "LOSSBENCH_DATA"
CACHE_ENV = "LOSSBENCH_CACHE"


def data_root() -> str | None:
    return os.environ.get(DATA_ENV) or None


def cache_dir() -> str | None:
    return os.environ.get(CACHE_ENV) or None


def explicit_weights() -> dict[str, str]:
    """LOSSBENCH_WEIGHTS_<NAME> (e.g. LOSSBENCH_WEIGHTS_LPIPS_ALEX) -> an explicit file per network."""
    from lossbench.weights import NETWORKS

    found = {}
    for name in NETWORKS:
        value = os.environ.get("LOSSBENCH_WEIGHTS_" + name.upper().replace("-", "_"))
        if value:
            found[name] = value
    return found


