"""Implementations named by ``"module:attribute"`` and imported on first use.

The registries (datasets, models, loss terms, metrics, feature networks) hold each entry's
schema and description themselves and name the code that does the work with :class:`Lazy`,
so reading a registry (``lossbench list``, validating a study file) imports neither torch nor
anything else heavy; the first call imports the module.
"""

from __future__ import annotations

import importlib


class Lazy:
    """A callable (function or class) named ``"package.module:attribute"``, imported on first use."""

    __slots__ = ("path", "_target")

    def __init__(self, path: str):
        module, _, attribute = path.partition(":")
        if not module or not attribute:
            raise ValueError(f"Lazy needs 'module:attribute' (got {path!r})")
        self.path = path
        self._target = None

    def resolve(self):
        if self._target is None:
            module, _, attribute = self.path.partition(":")
            target = importlib.import_module(module)
            for part in attribute.split("."):
                target = getattr(target, part)
            self._target = target
        return self._target

    def __call__(self, *args, **kwargs):
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Lazy({self.path!r})"


def resolved(obj):
    """``obj`` itself, or what a :class:`Lazy` names."""
    return obj.resolve() if isinstance(obj, Lazy) else obj


def lazy_exports(module: str, names: dict[str, str]):
    """A module ``__getattr__`` that imports ``names`` (attribute -> "module:attribute") on
    first access (PEP 562), for packages whose public names live in torch-importing modules."""

    def __getattr__(name: str):
        if name in names:
            return Lazy(names[name]).resolve()
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
