"""What a study will do, without doing it: the grid's lines for --dry-run, the runs --only
selects, and how training.vectorize_seeds applies. Light: no training library is imported."""

from __future__ import annotations

from lossbench.study.spec import Study


def plan_lines(study: Study) -> list[str]:
    return [f"{r.run_id}  {r.model:<12} {r.condition:<16} seed {r.seed}" for r in study.runs]


def plan_notes(study: Study) -> list[str]:
    """Lines after the plan: how training.vectorize_seeds applies to each condition."""
    from lossbench.vectorised import plan_notes as notes

    return notes(study.runs)


def select_runs(study: Study, only: list[str] | None):
    """The runs ``only`` names (``--only``, ids as --dry-run prints them), in grid order; all without it."""
    from lossbench.errors import LossbenchError

    if not only:
        return study.runs
    known = {r.run_id for r in study.runs}
    unknown = [i for i in only if i not in known]
    if unknown:
        raise LossbenchError(f"{study.source}: --only {unknown[0]}: no such run in this study "
                             f"(lossbench run {study.source} --dry-run lists the {len(known)} run ids)")
    return [r for r in study.runs if r.run_id in set(only)]


