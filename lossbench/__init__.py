"""lossbench: loss functions and image-quality metrics for generative autoencoders, measured.

The Python API (each imports what it needs when called, so ``import lossbench`` stays light):
``run_study``, ``run_paradox``, ``Study`` (``Study.from_yaml``, ``Study.from_dict``),
``load_results``, ``LossbenchError`` and the ``register_*`` functions for extensions.
"""

from __future__ import annotations

from lossbench._version import __version__  # noqa: E402,F401


from lossbench.core.errors import LossbenchError  # noqa: E402,F401
from lossbench.registry import register_dataset, register_metric, register_model, register_term  # noqa: E402,F401


def register_features(kind, build, **options):
    """A feature network for distribution metrics (see lossbench.nets.bank.register_features)."""
    from lossbench.nets.bank import register_features as _register

    _register(kind, build, **options)


def measure(reference, candidate, metrics=None, paired=None, device="cpu", **options):
    """Score ``candidate`` images against ``reference`` images (tensors N×C×H×W in [0, 1]) outside any study,
    with the study's implementations and provenance (see lossbench.score.images.measure)."""
    from lossbench.score.images import measure as _measure

    return _measure(reference, candidate, metrics, paired, device, **options)


def load_results(directory):
    """A study folder as a pandas DataFrame, one row per run (see lossbench.store.results)."""
    from lossbench.store.results import load_results as _load

    return _load(directory)


def run_study(study, out=None, overrides=None, executor="serial", device="auto", **options):
    """Run a study (a path, a dict or a Study) and return its results as a DataFrame (see lossbench.api.run_study)."""
    from lossbench.api import run_study as _run

    return _run(study, out, overrides, executor, device, **options)


def score_study(folder, metrics=None, recompute=False, device="auto", **options):
    """Add (or recompute) metrics on a study folder's finished runs without training; returns its
    results as a DataFrame (see lossbench.api.score_study)."""
    from lossbench.api import score_study as _score

    return _score(folder, metrics, recompute, device, **options)


def run_paradox(out="pixel_paradox", device="auto", **options):
    """The one-pixel / six-pixel paradox; returns its tables by name (see lossbench.api.run_paradox)."""
    from lossbench.api import run_paradox as _run

    return _run(out, device, **options)


def __getattr__(name: str):
    if name == "Study":  # the study model imports pydantic and the registries: only when asked for
        from lossbench.study.spec import Study

        return Study
    raise AttributeError(f"module 'lossbench' has no attribute {name!r}")
