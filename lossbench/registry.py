"""Extending lossbench from outside the package: your own loss terms, models, paired metrics and
datasets, registered by name, or named in a study file by a dotted ``target:`` path.

In Python (before ``lossbench.run_study`` / ``load_study``)::

    import lossbench
    lossbench.register_term("huber", Huber, HuberSpec, "Huber loss per image")

In a study file, the class is imported and registered when the study is validated (in every
process that loads the study, Ray workers included)::

    models:
      - {name: my-ae, target: mypkg.models.MyAutoencoder, latent_dim: 4}
    conditions:
      huber: [{term: huber, target: mypkg.losses.Huber, delta: 0.1}]

What the classes must provide:

* a **loss term** subclasses :class:`lossbench.losses.Term`; its options schema is the class
  attribute ``Spec`` (a subclass of :class:`lossbench.losses.TermSpec`, a pydantic model);
  ``values(out, x)`` returns one value per image. Training state (a network it trains) is saved
  through ``state_dict()`` / ``load_state_dict()``.
* a **model** is an ``nn.Module`` built as ``cls(shape, params)`` (shape ``(C, H, W)``, params
  an instance of its class attribute ``Params``, a subclass of
  :class:`lossbench.models.OutputParams`). The protocol every lossbench model follows, and
  balance.py, latent.py, adversarial.py and evaluate.py rely on:

  - ``forward(x)`` returns a dict with ``x_hat`` (images in [0, 1] for evaluation),
    ``decoded`` (the decoder's raw output: logits under a sigmoid output), ``z`` (the code);
    a variational model adds ``mu`` and ``logvar``;
  - ``encode(x)`` returns that dict's code part (``z``; and ``mu``, ``logvar``), ``decode(z)``
    the raw decoder output for codes ``z``;
  - attributes ``latent_dim`` (int), ``output`` ("sigmoid" or "linear"), ``last_layer`` (the
    decoder's last ``nn.Module`` with a ``weight``: the adaptive adversarial weight reads it);
  - class attribute ``variational`` (bool); optionally ``init_output(channel_means)``, called
    before training with the training images' mean per channel.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from lossbench.core.errors import LossbenchError


def _check_name(name: str, registry: dict, kind: str, replace: bool) -> None:
    if not isinstance(name, str) or not name:
        raise LossbenchError(f"register_{kind}: the name must be a non-empty string (got {name!r})")
    if name in registry and not replace:
        raise LossbenchError(f"register_{kind}: '{name}' is registered already; pass replace=True to replace it")


def register_term(name: str, cls, spec=None, description: str = "", *, variational_only: bool = False,
                  min_side: int = 0, needs_probabilities: bool = False, replace: bool = False) -> None:
    """Make ``term: name`` usable in a condition. ``spec`` (default ``cls.Spec``, else
    TermSpec) is the pydantic schema of its options."""
    from lossbench.losses import LOSS_TERMS, Term, TermEntry, TermSpec

    _check_name(name, LOSS_TERMS, "term", replace)
    spec = spec or getattr(cls, "Spec", TermSpec)
    if not (isinstance(cls, type) and issubclass(cls, Term)):
        raise LossbenchError(f"register_term: {_name(cls)} is not a subclass of lossbench.losses.Term")
    if not (isinstance(spec, type) and issubclass(spec, TermSpec)):
        raise LossbenchError(f"register_term: the options schema of '{name}' must subclass lossbench.losses.TermSpec")
    LOSS_TERMS[name] = TermEntry(cls, spec, description or (cls.__doc__ or name).strip().splitlines()[0],
                                 variational_only, min_side, needs_probabilities)


def register_model(name: str, build: Callable, params=None, description: str = "", *, variational: bool | None = None,
                   replace: bool = False) -> None:
    """Make ``models: [{name: ...}]`` usable. ``build(shape, params)`` returns the model (a class
    following the protocol above works as its own builder); ``params`` (default ``build.Params``,
    else OutputParams) is the pydantic schema of its options."""
    from lossbench.models import MODELS, ModelEntry, OutputParams

    _check_name(name, MODELS, "model", replace)
    params = params or getattr(build, "Params", OutputParams)
    if not callable(build):
        raise LossbenchError(f"register_model: {_name(build)} is not callable")
    if not (isinstance(params, type) and issubclass(params, OutputParams)):
        raise LossbenchError(f"register_model: the options schema of '{name}' must subclass lossbench.models.OutputParams")
    if variational is None:
        variational = bool(getattr(build, "variational", False))
    MODELS[name] = ModelEntry(build, params, variational, description or (build.__doc__ or name).strip().splitlines()[0])


def register_metric(name: str, fn: Callable | None = None, higher_is_better: bool = False, description: str = "", *,
                    features: str | None = None, statistic: str = "fd", replace: bool = False) -> None:
    """A paired metric: ``fn(x_hat, x)`` on N×C×H×W tensors in [0, 1] returns N values (one per
    image). Or, with ``features`` (a feature kind of the bank: domain, judge, inception, or one
    given to :func:`lossbench.nets.bank.register_features`), a distribution metric: ``statistic`` fd
    (Fréchet distance), kid, or precision, recall, density, coverage (k-NN manifolds),
    reported as <name>-recon and <name>-samples with its real floor and
    calibration ladder, like fd-domain."""
    from lossbench.nets.bank import FEATURE_SOURCES
    from lossbench.metrics import METRICS, MetricEntry

    _check_name(name, METRICS, "metric", replace)
    if features is not None:
        if features not in FEATURE_SOURCES:
            raise LossbenchError(f"register_metric: features '{features}' is not a feature kind (known: "
                                 f"{', '.join(FEATURE_SOURCES)}); register it first with register_features")
        allowed = ("fd", "kid", "precision", "recall", "density", "coverage")  # blur needs the spectrum's scale
        if statistic not in allowed:
            raise LossbenchError(f"register_metric: statistic must be one of {', '.join(allowed)} (got {statistic!r})")
        METRICS[name] = MetricEntry(bool(higher_is_better), description or name, kind="distribution",
                                    features=features, statistic=statistic)
        return
    if not callable(fn):
        raise LossbenchError(f"register_metric: {_name(fn)} is not callable")
    METRICS[name] = MetricEntry(bool(higher_is_better), description or name, fn=fn)


def register_dataset(name: str, load: Callable, description: str = "", *, side: int | None = None,
                     replace: bool = False) -> None:
    """A dataset: ``load(spec)`` (the study's ``data:`` section) returns ``(images, labels)``:
    uint8 N×H×W×C and int N (or None); lossbench splits it by data.seed and data.test_fraction.
    ``side``: the image side, if known before loading (checked against terms that need one)."""
    import numpy as np

    from lossbench.data.registry import DATASETS, DatasetEntry, _Raw

    _check_name(name, DATASETS, "dataset", replace)

    def wrapped(spec, root):
        images, labels = load(spec)
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] not in (1, 3):
            raise LossbenchError(f"data: dataset '{name}' returned {images.dtype} images of shape {images.shape}; "
                                 f"expected uint8 N×H×W×C with C 1 or 3")
        return _Raw(images, None if labels is None else np.asarray(labels, dtype=np.int64),
                    notes=[f"{len(images)} images from the registered dataset '{name}'"])

    DATASETS[name] = DatasetEntry(wrapped, description or name, _name(load), side=lambda spec: side or 0)


def resolve_target(path: str, where: str, source: str, kind: str):
    """Import ``package.module.Name`` (or ``package.module:Name``); one LossbenchError line if it
    does not import or is not a class of ``kind`` (term or model)."""
    from torch import nn

    from lossbench.losses import Term

    if not isinstance(path, str) or not path.replace(":", ".").replace("_", "a").replace(".", "").isalnum() \
            or ("." not in path and ":" not in path):
        raise LossbenchError(f"{source}: {where}.target: expected a dotted path package.module.Class (got {path!r})")
    module_name, _, attr = path.replace(":", ".").rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a user's module may raise anything on import
        raise LossbenchError(f"{source}: {where}.target: cannot import {module_name} ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}); is its package installed or on PYTHONPATH?") from None
    obj = getattr(module, attr, None)
    if obj is None:
        raise LossbenchError(f"{source}: {where}.target: {module_name} has no '{attr}'")
    base = {"term": Term, "model": nn.Module}[kind]
    if not (isinstance(obj, type) and issubclass(obj, base)) or (kind == "model" and issubclass(obj, Term)):
        what = "a subclass of lossbench.losses.Term" if kind == "term" else "an nn.Module class following the model protocol"
        raise LossbenchError(f"{source}: {where}.target: {path} is not {what} (see lossbench.registry)")
    return obj


def _name(obj) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


__all__ = ["register_dataset", "register_metric", "register_model", "register_term", "resolve_target"]
