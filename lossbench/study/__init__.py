"""Study files and their execution. Names are imported on first use: validating a study file
needs only the schema (lossbench.study.spec), not the training loop and its libraries."""

__all__ = ["Run", "Study", "execute_run", "load_study", "plan_lines", "run_study"]


def __getattr__(name: str):
    if name in ("Run", "Study", "load_study"):
        from lossbench.study import spec

        return getattr(spec, name)
    if name == "plan_lines":
        from lossbench.study.plan import plan_lines

        return plan_lines
    if name in ("execute_run", "run_study"):
        from lossbench.study import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'lossbench.study' has no attribute {name!r}")
