"""What a study folder already holds: the metrics whose stored values a rebuild reports as they are
(:func:`held_metrics`), and the sizes the data must give (:func:`check_sizes`). Light on purpose:
``--dry-run`` reads it without torch's heavy companions."""

from __future__ import annotations

from pathlib import Path

from lossbench.core.errors import LossbenchError
from lossbench.metrics import METRICS
from lossbench.store import files, stored
from lossbench.store.folders import StudyFolder
from lossbench.store.stored import Held
from lossbench.study.spec import Study


def check_sizes(study: Study, data) -> None:
    """report.distribution_n and inception_n must fit the test split: an N the data cannot give is one
    line (before anything is written), not a smaller N under the number asked for."""

    n_test = len(data.test_x)
    for key in ("distribution_n", "inception_n"):
        asked = getattr(study.spec.report, key)
        if asked is not None and asked > n_test:
            raise LossbenchError(f"{study.source}: report.{key}: {asked:,} images per set asked, but the test split holds "
                                 f"{n_test:,}; lower it, or leave report.{key} out to use the whole test split")


def held_metrics(study: Study, out_dir: Path, identity: dict, report: dict,
                 retrain: set[str] | frozenset[str] = frozenset()) -> tuple[dict[str, Held], set[str]]:
    """(metric -> :class:`Held`, the conditions with a run still to train). A metric is held when the
    folder's manifest recorded it as computed, on the same data and at the same N, and some finished
    run of the study holds its values (each run checked against its seal); ``everywhere`` when every
    run of the study has settled (finished or failed) and every finished one holds it. Such a metric
    needs no network here: a rebuild reports what is stored, whatever this machine has. ``retrain``: run ids
    about to be trained again (``--only ID --force``), whatever their folders hold now."""
    previous = files.read_json_or_none(out_dir / StudyFolder.MANIFEST)
    held: dict[str, Held] = {}
    results, to_train = [], set()
    for run in study.runs:
        result, wrong = stored.check(out_dir / StudyFolder.RUNS / run.run_id)
        if run.run_id in retrain or wrong is not None or result is None or result.get("status") not in ("done", "failed"):
            to_train.add(run.condition)
        elif result["status"] == "done":
            results.append(result.get("metrics") or {})
    n_test = identity["n_test"]
    n = min(report["distribution_n"] or n_test, n_test)  # as the feature bank sets them
    if (not isinstance(previous, dict) or previous.get("study") != study.spec.name or not results
            or (previous.get("dataset") or {}).get("sha256") != identity.get("sha256")
            or (previous.get("distribution_n"), previous.get("inception_n")) != (n, min(report["inception_n"] or n, n_test))):
        return held, to_train
    recorded, calibration = previous.get("metrics") or {}, previous.get("calibration") or {}
    for m in study.spec.metrics:
        prov = recorded.get(m)
        if not isinstance(prov, dict) or prov.get("status") == "unavailable" or m in (previous.get("unavailable") or {}):
            continue
        columns = METRICS[m].columns(m)
        holding = [all(r.get(c) is not None for c in columns) for r in results]
        if any(holding):
            held[m] = Held({k: v for k, v in prov.items() if k != "not_recomputed"}, calibration.get(m),
                           everywhere=all(holding) and not to_train)
    return held, to_train
