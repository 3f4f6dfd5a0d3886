"""lossbench: loss functions and image-quality metrics for generative autoencoders, measured."""

__version__ = "0.1.0"


from lossbench.registry import register_dataset, register_metric, register_model, register_term  # noqa: E402,F401


def register_features(kind, build, **options):
    """A feature network for distribution metrics (see lossbench.bank.register_features)."""
    from lossbench.bank import register_features as _register

    _register(kind, build, **options)


def load_results(directory):
    """A study folder as a pandas DataFrame, one row per run (see lossbench.results)."""
    from lossbench.results import load_results as _load

    return _load(directory)
