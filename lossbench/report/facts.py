"""What the report knows of each metric and each loss term: the facts a study folder's manifest
recorded (``metric_facts``: columns, direction, kind, features, statistic, description, networks;
``term_facts``: each condition's terms with their role, weight and networks), so that a report
reads the folder alone. A metric or term registered in Python by the process that ran the study
is reported by any other process. A folder written before lossbench 0.4 recorded no facts; for it
(and for report functions called outside :func:`lossbench.report.build.build_report`) the registries' entries stand in:
this is the one report module that imports a registry (tests/test_architecture.py).

:func:`reading` sets the folder's facts for the duration of one report build, as
``files.figure_formats`` sets its formats: the report's many functions ask :func:`of`,
:func:`column` and :func:`terms_of` without every signature carrying the manifest."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from lossbench.core.errors import LossbenchError
from lossbench.store.columns import Column, index


@dataclass(frozen=True)
class MetricFacts:
    name: str
    columns: tuple[str, ...]
    higher_is_better: bool
    kind: str  # paired | distribution
    features: str | None
    statistic: str | None
    description: str
    networks: tuple[str, ...] | None = None  # pretrained networks it reads (lossbench.nets.weights.NETWORKS); None: not recorded


#: the facts of the folder being reported; None outside a report build
_FOLDER: ContextVar[dict[str, MetricFacts] | None] = ContextVar("lossbench_metric_facts", default=None)



def read(manifest: dict) -> dict[str, MetricFacts]:
    """metric -> its facts, for every metric the manifest lists: as recorded, else the registry's."""
    recorded = manifest.get("metric_facts")
    facts = {}
    for name in manifest.get("metrics") or {}:
        entry = recorded.get(name) if isinstance(recorded, dict) else None
        facts[name] = _recorded(name, entry) if isinstance(entry, dict) else None
        if facts[name] is None:  # not recorded (a folder of lossbench 0.3 or older), or not as written
            facts[name] = _registered(name)
    return {name: f for name, f in facts.items() if f is not None}


def _recorded(name: str, entry: dict) -> MetricFacts | None:
    try:
        return MetricFacts(name=name, columns=tuple(entry["columns"]), higher_is_better=bool(entry["higher_is_better"]),
                           kind=str(entry["kind"]), features=entry.get("features"), statistic=entry.get("statistic"),
                           description=str(entry.get("description", "")),
                           networks=tuple(entry["networks"]) if isinstance(entry.get("networks"), list) else None)
    except (TypeError, KeyError):
        return None


@contextlib.contextmanager
def reading(manifest: dict) -> Iterator[dict[str, MetricFacts]]:
    """The report of one folder: :func:`of` and :func:`column_metric` answer from its facts."""
    token = _FOLDER.set(read(manifest))
    terms = manifest.get("term_facts")
    term_token = _TERMS.set(terms if isinstance(terms, dict) else None)
    try:
        yield _FOLDER.get() or {}
    finally:
        _FOLDER.reset(token)
        _TERMS.reset(term_token)


#: the folder's loss-term facts (condition -> label -> facts); None outside a report build or for a
#: folder written before lossbench 0.4 recorded them
_TERMS: ContextVar[dict | None] = ContextVar("lossbench_term_facts", default=None)


def terms_of(config: dict) -> list[dict]:
    """A run's loss terms, in its config's order: each term's options with its facts (``role``,
    ``weight``, ``networks``, ``weights``, ``features``; lossbench.core.roles) merged in, as the
    manifest recorded them, else read off the registry's specs. The report asks a term's role,
    never its name."""
    condition = config.get("condition") or {}
    recorded = (_TERMS.get() or {}).get(condition.get("name")) or {}
    return [{**t, **(recorded.get(t.get("label", t.get("term"))) or _registered_term(t))}
            for t in condition.get("terms") or [] if isinstance(t, dict)]


def condition_terms(condition: str, terms: list | None) -> list[dict]:
    """The facts of a condition's terms: as recorded, else read off the study file's term dicts."""
    recorded = (_TERMS.get() or {}).get(condition)
    if isinstance(recorded, dict):
        return list(recorded.values())
    return [_registered_term(t) for t in terms or [] if isinstance(t, dict)]


def _registered_term(term: dict) -> dict:
    """A term's facts from this process's registry (a folder without recorded facts); a term it
    does not know (registered in Python by another process) has no role."""
    from lossbench.losses import term_specs

    try:
        return term_specs([term])[0].facts()
    except Exception:  # unknown here, or options of another version: report it without facts
        return {"term": term.get("term"), "role": None, "weight": term.get("weight", 1.0), "networks": [], "weights": [],
                "features": []}


def of(metric: str) -> MetricFacts:
    """The facts of ``metric`` (a metric's name, not a column's: see :func:`column_metric`)."""
    folder = _FOLDER.get()
    if folder is not None and metric in folder:
        return folder[metric]
    return _registered(metric)


def known() -> list[str]:
    """The metrics whose facts are at hand: the folder's while one is reported, else the registry's."""
    folder = _FOLDER.get()
    if folder is not None:
        return list(folder)
    from lossbench.metrics import METRICS

    return list(METRICS)


def column(name: str) -> Column | None:
    """What a column holds (lossbench.store.columns.Column), looked up among every column the known
    metrics can have; None for a column that is no metric's (rate, active_units, ...)."""
    return _index(tuple((m, of(m)) for m in known())).get(name)


@functools.lru_cache(maxsize=16)
def _index(facts: tuple[tuple[str, MetricFacts], ...]) -> dict[str, Column]:
    return index(dict(facts))


def column_metric(name: str) -> str:
    """The metric a column belongs to: 'fd-domain-samples' -> 'fd-domain', 'fd-judge-prior' ->
    'fd-judge', 'mse' -> 'mse'; a column that is no metric's names itself."""
    found = column(name)
    return found.metric if found is not None else name


def columns(metrics: list[str]) -> list[str]:
    """Every column of ``metrics``, in order."""
    return [c for m in metrics for c in of(m).columns]


def networks(metric: str) -> tuple[str, ...]:
    """The pretrained networks ``metric`` reads: as recorded, else (a folder without the facts,
    or outside a report) the registry's."""
    recorded = of(metric).networks
    if recorded is not None:
        return recorded
    from lossbench.metrics import METRICS

    return tuple(METRICS[metric].networks()) if metric in METRICS else ()


def higher_is_better(column: str) -> bool:
    return of(column_metric(column)).higher_is_better


def _registered(name: str) -> MetricFacts:
    from lossbench.metrics import METRICS

    entry = METRICS.get(name)
    if entry is None:
        raise LossbenchError(f"metric {name}: the study folder records no facts for it (written before lossbench 0.4) and "
                             f"this process has not registered it; register it (lossbench.register_metric) before "
                             f"reporting, or run the study again to record them")
    made = _recorded(name, entry.facts(name))
    if made is None:  # the registry's own facts always read
        raise RuntimeError(f"metric {name}: its facts do not read")
    return made
