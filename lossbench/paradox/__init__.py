"""The one-pixel / six-pixel L2 paradox, reproduced on real digits and measured (``lossbench paradox``)."""

from lossbench.paradox.run import ParadoxSpec, run_paradox

__all__ = ["ParadoxSpec", "run_paradox"]
