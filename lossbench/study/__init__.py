"""Study files and their execution."""

from lossbench.study.runner import execute_run, plan_lines, run_study
from lossbench.study.spec import Run, Study, load_study

__all__ = ["Run", "Study", "execute_run", "load_study", "plan_lines", "run_study"]
