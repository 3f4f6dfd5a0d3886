"""Issue 29 §3: one producer of metric columns. Scores are records named in lossbench.store.columns;
the report looks a name up among the columns generated from a study's metric facts, never parsing it."""

from __future__ import annotations

import json

import pytest

from conftest import REPO
from lossbench.store import columns as col


def test_the_names_are_those_every_stored_run_has():
    assert col.paired("mse").name == "mse"
    assert col.on_set("fd-judge", col.RECON).name == "fd-judge-recon"
    assert col.on_set("fd-judge", col.SAMPLES).name == "fd-judge-samples"
    assert col.on_set("fd-judge", col.SAMPLES, col.DEFAULT_SCHEME).name == "fd-judge-samples"
    assert col.on_set("fd-judge", col.SAMPLES, "prior").name == "fd-judge-prior"
    assert col.on_set("kid", col.SAMPLES, spread=True).name == "kid-samples-std"
    with pytest.raises(ValueError):
        col.on_set("fd-judge", "test")


def test_every_committed_metric_column_is_found_by_lookup_not_by_its_name():
    """Every metric column in every committed run's metrics.json is in the index generated from its
    study's recorded facts, and maps back to a metric the study lists: a name the producer did not
    make would be missed here."""
    from lossbench.report.facts import read

    checked = 0
    for manifest_path in sorted((REPO / "results").glob("*/manifest.json")):
        manifest = json.loads(manifest_path.read_text())
        facts = read(manifest)
        index = col.index(facts)
        for metrics_path in sorted((manifest_path.parent / "runs").glob("*/metrics.json"))[:3]:
            stored = json.loads(metrics_path.read_text()).get("metrics") or {}
            for name in stored:
                if name in col.EXTRA:
                    continue
                assert name in index, f"{metrics_path.relative_to(REPO)}: {name}"
                assert index[name].metric in facts
                assert index[name].name == name
                checked += 1
    assert checked > 100


def test_a_metric_named_like_another_metrics_column_is_told_apart():
    """'fd-judge-prior' names fd-judge on prior samples; a metric registered as 'fd-judge-prior'
    itself would be a paired column of that name: the lookup answers from the facts, so a name with a
    scheme-like suffix is not cut at its last dash."""
    from types import SimpleNamespace

    facts = {"judge-recon-ish": SimpleNamespace(kind="paired", statistic=None),
             "fd-x": SimpleNamespace(kind="distribution", statistic="fd")}
    index = col.index(facts)
    assert index["judge-recon-ish"] == col.paired("judge-recon-ish")
    assert index["fd-x-uniform"] == col.on_set("fd-x", col.SAMPLES, "uniform")
    assert "judge-recon" not in index
