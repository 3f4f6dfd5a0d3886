"""What a study will do, without doing it: the grid's lines for --dry-run, the runs --only
selects, and how training.vectorize_seeds applies. Light: no training library is imported."""

from __future__ import annotations

from lossbench.study.spec import Study


def plan_lines(study: Study) -> list[str]:
    """One line per run; columns as wide as the longest model label and condition name."""
    wm = max((len(r.model) for r in study.runs), default=0)
    wc = max((len(r.condition) for r in study.runs), default=0)
    return [f"{r.run_id}  {r.model:<{wm}}  {r.condition:<{wc}}  seed {r.seed}" for r in study.runs]


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def plan_header(study: Study) -> str:
    """'name: N runs (models × conditions × seeds)', saying when condition_models trims the grid."""
    spec = study.spec
    grid = (f"{plural(len(spec.models), 'model')} × {plural(len(spec.conditions), 'condition')} × "
            f"{plural(len(spec.seeds), 'seed')}")
    if spec.condition_models:
        grid += "; " + ", ".join(f"{c} on {', '.join(m)} only" for c, m in spec.condition_models.items())
    return f"{spec.name}: {plural(len(study.runs), 'run')} ({grid})"


def plan_notes(study: Study) -> list[str]:
    """Lines after the plan: how training.vectorize_seeds applies to each condition."""
    from lossbench.train.vectorised import plan_notes as notes

    return notes(study.runs)


def select_runs(study: Study, only: list[str] | None):
    """The runs ``only`` names (``--only``, ids as --dry-run prints them), in grid order; all without it."""
    from lossbench.core.errors import LossbenchError

    if not only:
        return study.runs
    known = {r.run_id for r in study.runs}
    unknown = [i for i in only if i not in known]
    if unknown:
        raise LossbenchError(f"{study.source}: --only {unknown[0]}: no such run in this study "
                             f"(lossbench run {study.source} --dry-run lists the {len(known)} run ids)")
    return [r for r in study.runs if r.run_id in set(only)]


