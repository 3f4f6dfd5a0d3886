"""Stored state that is damaged, one file at a time, in a finished study folder: ``report`` and
``run`` name the file and the fix in one line, leave the run out of every table with that reason,
and the rest of the study reports; ``--only ID --force`` repairs it."""

from __future__ import annotations

import json
import os
import shutil

import pandas as pd
import pytest


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path):
    path.write_bytes(b"\x00\xffgarbage" * 7)


def _other_run(path):
    result = json.loads(path.read_text())
    result["run_id"] = "0123456789ab"
    path.write_text(json.dumps(result))


def _no_metrics(path):
    result = json.loads(path.read_text())
    result.pop("metrics")
    path.write_text(json.dumps(result))


def _edit_value(path):
    """The same size, another number: only the digest notices."""
    text = path.read_text()
    i = next(i for i, c in enumerate(text) if c.isdigit() and i > text.index("\n"))
    path.write_text(text[:i] + str((int(text[i]) + 1) % 10) + text[i + 1 :])


def _edit_metric(path):
    """A number edited by hand (issue 31 §7: mse 123 was reported as it was)."""
    result = json.loads(path.read_text())
    result["metrics"]["mse"] = 123.0
    path.write_text(json.dumps(result, indent=2))


def _string_unsealed(path):
    """A string where a number belongs, in a result written before metrics.json sealed itself."""
    result = json.loads(path.read_text())
    result.pop("seal")
    result["metrics"]["mse"] = "abc"
    path.write_text(json.dumps(result, indent=2))


def _folder_is_file(path):
    shutil.rmtree(path)
    path.write_text("not a folder")


DAMAGE = [
    ("metrics.json", _truncate, "metrics.json: cannot be read"),
    ("metrics.json", _garbage, "metrics.json: cannot be read"),
    ("metrics.json", _other_run, "metrics.json: written for run '0123456789ab'"),
    ("metrics.json", _no_metrics, "metrics.json: a finished run without its metrics"),
    ("history.csv", _truncate, "history.csv:"),
    ("per_image.csv", _truncate, "per_image.csv:"),
    ("per_image.csv", _edit_value, "per_image.csv: its content changed"),
    ("config.yaml", _garbage, "config.yaml:"),
    ("checkpoint.pt", _truncate, "checkpoint.pt:"),
    ("history.csv", lambda p: p.unlink(), "history.csv: missing"),
    ("latent.pt", _garbage, "latent.pt:"),
    ("recon_fixed.pt", _truncate, "recon_fixed.pt:"),
    ("metrics.json", _edit_metric, "metrics.json: its content changed since it was written (its seal"),
    ("metrics.json", _string_unsealed, "metrics.json: metrics.mse is 'abc', not a number"),
    (".", _folder_is_file, ": a file, not a run's folder"),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, damage, expected", DAMAGE,
                         ids=[f"{n}-{d.__name__.strip('_')}" for n, d, _ in DAMAGE])
def test_a_damaged_run_is_named_left_out_and_repaired(finished, tmp_path, cli, name, damage, expected):
    study, original = finished
    out = tmp_path / "out"
    shutil.copytree(original, out)
    run_id = sorted(p.name for p in (out / "runs").iterdir())[0]
    damage(out / "runs" / run_id / name)

    code, _, err = cli("report", out)
    assert code == 0 and "Traceback" not in err, err
    named = [line for line in err.splitlines() if line.startswith("report: left out")]  # what it left out, on stderr
    assert len(named) == 1 and expected in named[0] and f"--only {run_id} --force" in named[0], err
    summary = pd.read_csv(out / "summary.csv")
    row = summary[summary["run_id"] == run_id].iloc[0]
    assert row["status"] == "damaged" and expected in row["reason"] and f"--only {run_id} --force" in row["reason"]
    assert summary["mse"].notna().sum() == len(summary) - 1  # the other runs still report
    md = (out / "summary.md").read_text()
    assert f"`{run_id}`" in md and "**damaged**" in md

    code, stdout, err = cli("run", study, "--out", out)
    assert code == 0 and "1 damaged" in stdout
    line = next(line for line in err.splitlines() if "damaged" in line)
    assert expected in line and str(out / "runs" / run_id / name.split(":")[0]) in line and "--force" in line

    code, stdout, _ = cli("run", study, "--out", out, "--only", run_id, "--force")
    assert code == 0 and "1 trained" in stdout
    assert pd.read_csv(out / "summary.csv")["status"].eq("done").all()


@pytest.mark.parametrize("name", ["manifest.json", "study.yaml"])
def test_a_damaged_study_file_is_one_line_and_run_rewrites_it(finished, tmp_path, cli, name):
    study, original = finished
    out = tmp_path / "out"
    shutil.copytree(original, out)
    _truncate(out / name)
    code, _, err = cli("report", out)
    assert code == 2 and err.count("\n") == 1 and str(out / name) in err and "lossbench run" in err
    code, stdout, err = cli("run", study, "--out", out)
    assert code == 0 and "4 skipped (finished before)" in stdout, err
    assert cli("report", out)[0] == 0


def test_a_damaged_fixed_inputs_file_costs_the_figures_their_inputs_row_only(finished, tmp_path, cli):
    """Issue 31 §6: report with a damaged fixed_inputs.pt was a traceback."""
    study, original = finished
    out = tmp_path / "out"
    shutil.copytree(original, out)
    _truncate(out / "fixed_inputs.pt")
    code, _, err = cli("report", out)
    assert code == 0 and "Traceback" not in err and "not drawn" not in err, err
    assert err.count("\n") == 1 and f"{out / 'fixed_inputs.pt'}: cannot be read" in err and "lossbench run" in err
    assert (out / "figures" / "recon_grid.png").is_file() and (out / "report.html").is_file()
    assert cli("run", study, "--out", out)[0] == 0  # writes it again
    code, _, err = cli("report", out)
    assert code == 0 and err == ""


def test_a_planted_pickle_behind_a_matching_card_is_rebuilt_never_run(cli, write_study, tmp_path):
    """Issue 31 §6: a cached real-set features file replaced by a pickle whose payload would run,
    and its card rewritten to the new file's sha256. The file is refused (weights_only), the
    features are computed again, the numbers are the same, and the payload never runs."""
    import pickle

    from lossbench.nets.weights import sha256_of

    cache, ran = tmp_path / "cache", tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {ran}",))

    study = write_study({"seeds": [0], "metrics": ["mse", "fd-domain"]})
    env = {"LOSSBENCH_CACHE": str(cache)}
    assert cli("run", study, "--out", tmp_path / "a", env=env)[0] == 0
    stats = sorted((cache / "stats").glob("*.pt"))
    assert stats
    for path in stats:
        path.write_bytes(pickle.dumps(Payload()))
        card = json.loads(path.with_suffix(".json").read_text())
        card["sha256"] = sha256_of(path)
        path.with_suffix(".json").write_text(json.dumps(card))
    code, _, err = cli("run", study, "--out", tmp_path / "b", env=env)
    assert code == 0 and "Traceback" not in err, err
    assert not ran.exists()
    first, second = (pd.read_csv(tmp_path / d / "summary.csv").set_index("run_id")["fd-domain-recon"] for d in "ab")
    assert first.equals(second)


def test_a_checkpoint_of_another_run_is_not_used(finished, tmp_path):
    from lossbench.core.errors import LossbenchError
    from lossbench.score import load_model

    _, original = finished
    out = tmp_path / "out"
    shutil.copytree(original, out)
    first, second = sorted((out / "runs").iterdir())[:2]
    shutil.copy(second / "checkpoint.pt", first / "checkpoint.pt")
    config = __import__("yaml").safe_load((first / "config.yaml").read_text())
    with pytest.raises(LossbenchError, match=f"checkpoint.pt: cannot be used .*written for run '{second.name}'"):
        load_model(config, first, (1, 16, 16), "cpu")


def test_force_needs_only(cli, write_study, tmp_path):
    code, _, err = cli("run", write_study(), "--out", tmp_path / "out", "--force")
    assert code == 2 and "--force needs --only" in err and not (tmp_path / "out").exists()


def test_weights_status_only_reads_and_names_a_damaged_card(cli, tmp_path):
    cache = tmp_path / "cache"
    (cache / "classifiers").mkdir(parents=True)
    card = cache / "classifiers" / "mnist-5k-0123456789abcdef-recipe1.json"
    card.write_text('{"sha256": "ab')  # truncated
    before = sorted(p.relative_to(cache) for p in cache.rglob("*"))
    code, out, err = cli("weights", "status", env={"LOSSBENCH_CACHE": str(cache)})
    assert code == 0 and "Traceback" not in err
    assert f"{card}: a damaged card" in out
    assert sorted(p.relative_to(cache) for p in cache.rglob("*")) == before  # nothing converted, nothing written


def test_a_damaged_cache_entry_is_rebuilt_not_loaded(cli, write_study, tmp_path):
    """A cached domain classifier whose card is garbage is trained again, to the same numbers."""
    cache = tmp_path / "cache"
    study = write_study({"seeds": [0], "metrics": ["mse", "fd-domain"]})
    env = {"LOSSBENCH_CACHE": str(cache)}
    assert cli("run", study, "--out", tmp_path / "a", env=env)[0] == 0
    for card in (cache / "classifiers").glob("*.json"):
        card.write_bytes(b"\xff\xfe not json")
    code, _, err = cli("run", study, "--out", tmp_path / "b", env=env)
    assert code == 0, err
    first, second = (pd.read_csv(tmp_path / d / "summary.csv").set_index("run_id")["fd-domain-recon"] for d in "ab")
    assert first.equals(second)


@pytest.mark.parametrize("sealed", [True, False], ids=["sealed", "written-by-0.1"])
def test_runs_shared_without_checkpoints_are_finished(finished, tmp_path, cli, sealed):
    """results/ is committed without checkpoint.pt (.gitignore): a fresh clone must find the runs finished."""
    study, original = finished
    out = tmp_path / "out"
    shutil.copytree(original, out)
    for run in (out / "runs").iterdir():
        (run / "checkpoint.pt").unlink()
        if not sealed:  # as lossbench 0.1 wrote them: no digests
            result = json.loads((run / "metrics.json").read_text())
            result.pop("files")
            result.pop("seal")  # 0.1 wrote neither
            (run / "metrics.json").write_text(json.dumps(result))
    code, stdout, err = cli("run", study, "--out", out)
    assert code == 0 and "4 skipped (finished before)" in stdout and "damaged" not in err, err
    assert pd.read_csv(out / "summary.csv")["status"].eq("done").all()


def test_a_finished_run_of_lossbench_0_3_is_sealed_by_the_next_run(finished, tmp_path, cli):
    """metrics.json without its seal (lossbench 0.3) is read as it is, sealed by the next run, and from
    then on an edited number in it is noticed."""
    study, original = finished
    out = tmp_path / "out"
    shutil.copytree(original, out)
    path = sorted((out / "runs").iterdir())[0] / "metrics.json"
    result = json.loads(path.read_text())
    result.pop("seal")
    path.write_text(json.dumps(result, indent=2) + "\n")
    code, stdout, err = cli("run", study, "--out", out)
    assert code == 0 and "4 skipped (finished before)" in stdout and "damaged" not in err, err
    sealed = json.loads(path.read_text())
    assert {k: v for k, v in sealed.items() if k != "seal"} == result and "seal" in sealed
    _edit_metric(path)
    code, _, err = cli("report", out)
    assert code == 0 and "metrics.json: its content changed since it was written" in err
