"""The one-pixel / six-pixel L2 paradox, reproduced on real digits and measured (``lossbench paradox``)."""

__all__ = ["ParadoxSpec", "run_paradox"]


def __getattr__(name: str):
    if name == "ParadoxSpec":
        from lossbench.paradox.spec import ParadoxSpec

        return ParadoxSpec
    if name == "run_paradox":
        from lossbench.paradox.run import run_paradox

        return run_paradox
    raise AttributeError(f"module 'lossbench.paradox' has no attribute {name!r}")
