"""Tables and figures, rebuilt from a study folder's stored runs alone (no training).

``build_report`` lives in :mod:`lossbench.report.build`; it is imported on first use, so that a
module that needs one helper of this package (the study validator reads report.checks' column
names) does not load seaborn and every figure.
"""

__all__ = ["build_report"]


def __getattr__(name: str):
    if name == "build_report":
        from lossbench.report.build import build_report

        return build_report
    raise AttributeError(f"module 'lossbench.report' has no attribute {name!r}")
