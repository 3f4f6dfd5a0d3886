"""Metric columns: the one place that names them.

A score is a record (metric, image set, sampler, value, spread), as torch-fidelity keys its results
by constants. Scoring produces records and :func:`flat` writes them as metrics.json's columns; the
report looks a column up in :func:`index` (every column a study's metrics can have, generated from
the same records) and never parses a name back. The names are those of every stored run:
``mse`` (a paired metric), ``fd-judge-recon`` and ``fd-judge-samples`` (a distribution metric on
reconstructions and on samples from the default random-code scheme), ``fd-judge-prior`` (samples
from another scheme), ``kid-samples-std`` (KID's spread over its subsets)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

#: the image sets a distribution metric scores
RECON, SAMPLES = "recon", "samples"
SETS = (RECON, SAMPLES)

#: the random-code scheme behind every ``-samples`` column, the same for AE and VAE
DEFAULT_SCHEME = "gaussian"
SCHEMES = {
    "gaussian": "codes from a Gaussian fitted (mean, full covariance) to the training images' codes (VAE: posterior means)",
    "uniform": "AE: codes uniform in the bounding box of the training codes",
    "prior": "VAE: codes from its prior N(0, I)",
    "aggregate": "VAE: its aggregate posterior (a training image at random, then z ~ q(z|x))",
}
#: the schemes beside the default: their own columns, for Fréchet metrics only
OTHER_SCHEMES = tuple(s for s in SCHEMES if s != DEFAULT_SCHEME)

#: a run's columns that are no metric's: a VAE's rate and distortion, its active units, the output's saturation
EXTRA = ("rate", "distortion", "active_units", "mean_abs_logit")
EXTRA_HIGHER = frozenset({"active_units"})


@dataclass(frozen=True)
class Column:
    """What a column holds: a metric's mean over image pairs (``set`` None), or its value on an
    image set (``recon`` or ``samples``, the latter drawn by ``sampler``); ``spread``: the spread
    of that value over random subsets (KID), not the value."""

    metric: str
    set: str | None = None
    sampler: str | None = None
    spread: bool = False

    @property
    def name(self) -> str:
        if self.set is None:
            return self.metric
        part = self.set if self.set == RECON or self.sampler in (None, DEFAULT_SCHEME) else self.sampler
        return f"{self.metric}-{part}" + ("-std" if self.spread else "")


@dataclass(frozen=True)
class Score:
    """One number of a run: its column and its value (None: the metric was unavailable)."""

    column: Column
    value: float | None


def paired(metric: str) -> Column:
    return Column(metric)


def on_set(metric: str, which: str, sampler: str | None = None, spread: bool = False) -> Column:
    """A distribution metric's column on an image set; samples default to :data:`DEFAULT_SCHEME`."""
    if which not in SETS:
        raise ValueError(f"image set {which!r}: expected one of {SETS}")
    return Column(metric, which, (sampler or DEFAULT_SCHEME) if which == SAMPLES else None, spread)


def metric_columns(metric: str, kind: str) -> list[Column]:
    """The columns a metric always has (its facts' ``columns``): one for a paired metric, one per
    image set for a distribution metric."""
    return [on_set(metric, s) for s in SETS] if kind == "distribution" else [paired(metric)]


def scheme_columns(metric: str, statistic: str | None) -> list[Column]:
    """The columns of a Fréchet metric on the other random-code schemes (written where they apply)."""
    return [on_set(metric, SAMPLES, s) for s in OTHER_SCHEMES] if statistic == "fd" else []


def flat(scores: Iterable[Score]) -> dict[str, float | None]:
    """Records as metrics.json stores them: column name -> value, in the order produced."""
    return {s.column.name: s.value for s in scores}


class Described(Protocol):
    """What :func:`index` needs of a metric's facts (lossbench.report.facts.MetricFacts has it)."""

    @property
    def kind(self) -> str: ...

    @property
    def statistic(self) -> str | None: ...


def index(facts: Mapping[str, Described]) -> dict[str, Column]:
    """Every column the metrics described by ``facts`` (name -> an object with ``kind`` and
    ``statistic``) can have, by name: the report's look-up, generated, not parsed."""
    found: dict[str, Column] = {}
    for metric, f in facts.items():
        kind, statistic = f.kind, f.statistic
        for column in metric_columns(metric, kind) + scheme_columns(metric, statistic):
            found[column.name] = column
            if kind == "distribution":
                spread = Column(column.metric, column.set, column.sampler, spread=True)
                found[spread.name] = spread
    return found
