"""Runs as units: --only, execute_run, the Ray executor, and the output folder's lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from lossbench.store import files


def _metrics(out):
    return {p.parent.name: json.loads(p.read_text())["metrics"] for p in sorted((out / "runs").glob("*/metrics.json"))}


def _run_ids(cli, study, out):
    _, stdout, _ = cli("run", study, "--out", out, "--dry-run")
    return [line.split()[0] for line in stdout.splitlines()[1:] if " seed " in line]  # not the closing notes


def test_only_trains_the_named_runs_and_the_rest_later(cli, write_study, tmp_path):
    study, out = write_study(), tmp_path / "out"
    ids = _run_ids(cli, study, out)
    code, stdout, err = cli("run", study, "--out", out, "--only", ids[1])
    assert code == 0, err
    assert "1 trained" in stdout and set(_metrics(out)) == {ids[1]}
    code, stdout, _ = cli("run", study, "--out", out)
    assert code == 0 and "3 trained, 1 skipped (finished before)" in stdout


def test_only_with_an_unknown_id_is_one_line_and_writes_nothing(cli, write_study, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = cli("run", write_study(), "--out", out, "--only", "0123456789ab")
    assert code == 2 and err.count("\n") == 1
    assert "--only 0123456789ab: no such run in this study" in err and "--dry-run" in err
    assert not out.exists()


#: a study that trains to convergence: its written study.yaml spells out training.epochs too,
#: which a study file may not set beside early_stopping (execute_run must still read it)
CONVERGED = {"training": {"batch_size": 32, "early_stopping": {"patience": 1, "max_epochs": 3}}}


@pytest.mark.parametrize("training", [{}, CONVERGED], ids=["epochs", "early-stopping"])
def test_execute_run_rebuilds_a_run_from_the_study_folder(cli, write_study, tmp_path, lb_cache, training):
    from lossbench.study import execute_run

    study, out = write_study(training), tmp_path / "out"
    assert cli("run", study, "--out", out)[0] == 0
    before = _metrics(out)
    run_id = sorted(before)[0]
    (out / "runs" / run_id / "metrics.json").unlink()
    assert execute_run(out, run_id, device="cpu", cache=str(lb_cache)) == "trained"
    assert _metrics(out)[run_id] == before[run_id]  # same process, same threads: bit for bit
    assert execute_run(out, run_id, device="cpu", cache=str(lb_cache)) == "skipped (finished before)"


@pytest.mark.parametrize("args, message", [
    (["--gpus-per-run", "0.5"], "--gpus-per-run needs --executor ray"),
    (["--address", "127.0.0.1:1"], "--address needs --executor ray"),
    (["--executor", "ray", "--address", "no-port"], "--address no-port: expected HOST:PORT"),
    (["--executor", "ray", "--address", "127.0.0.1:1"], "--address 127.0.0.1:1: cannot reach a Ray cluster there"),
    (["--executor", "dask"], "argument --executor: invalid choice: 'dask'"),
    (["--cpus-per-run", "two", "--executor", "ray"], "argument --cpus-per-run: invalid float value: 'two'"),
])
def test_bad_executor_options_are_one_line_and_write_nothing(cli, write_study, tmp_path, args, message):
    if "ray" in args:
        pytest.importorskip("ray")
    out = tmp_path / "out"
    code, _, err = cli("run", write_study(), "--out", out, *args)
    assert code == 2 and message in err and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.slow
def test_serial_jobs_and_ray_at_1_and_2_cpus_give_the_same_bits(cli, write_study, tmp_path, lb_cache):
    """training.threads (default 1) is part of each run's configuration: serially, with --jobs 2
    (two worker processes) and on a local Ray at 1 and at 2 CPUs per run, every run's numbers are
    equal bit for bit. With threads: process (lossbench 0.2's behaviour) they were not."""
    pytest.importorskip("ray")
    study = write_study(CONVERGED)
    env = {"LOSSBENCH_CACHE": str(lb_cache)}
    assert cli("run", study, "--out", tmp_path / "serial", env=env)[0] == 0
    serial = _metrics(tmp_path / "serial")
    assert len(serial) == 4
    code, stdout, err = cli("run", study, "--out", tmp_path / "jobs", "--jobs", "2", env=env)
    assert code == 0, err
    assert _metrics(tmp_path / "jobs") == serial
    for cpus in (1, 2):
        code, stdout, err = cli("run", study, "--out", tmp_path / f"ray{cpus}", "--executor", "ray", "--cpus-per-run",
                                str(cpus), env=env)
        assert code == 0, err
        assert "4 trained" in stdout and "failed" not in stdout
        assert _metrics(tmp_path / f"ray{cpus}") == serial
    assert (tmp_path / "ray2" / "summary.md").is_file() and not (tmp_path / "ray2" / files.LOCK_NAME).exists()
    # provenance says what each run computed with (issue 22 #3), not the writing process's threads
    assert "4 runs with 1 CPU thread (the process writing this page:" in (tmp_path / "ray2" / "summary.md").read_text()


def test_summary_states_the_threads_each_run_recorded():
    from lossbench.report.tables import run_threads

    runs = pd.DataFrame({"status": ["done", "done", "done", "failed"], "threads": [1, 2, None, 4]})
    assert run_threads(runs, {"device": {"threads": 8}}) == ("1 run with 1 CPU thread; 1 run with 2 CPU threads; "
                                                            "1 not recorded (the process writing this page: 8)")
    assert "the process's; the runs did not record" in run_threads(pd.DataFrame({"status": ["done"]}), {"device": {"threads": 2}})


def test_threads_is_part_of_the_run_id_and_checked(cli, write_study, tmp_path):
    one, two = _run_ids(cli, write_study(), tmp_path / "a"), _run_ids(cli, write_study({"training": {"epochs": 1, "threads": 2}}),
                                                                       tmp_path / "b")
    assert one and not set(one) & set(two)
    code, out, err = cli("run", write_study({"training": {"epochs": 1, "threads": 0}}), "--out", tmp_path / "c")
    assert code == 2 and "training.threads" in err and "1 to 1024" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()
    code, _, err = cli("run", write_study(), "--out", tmp_path / "d", "--jobs", "0")
    assert code == 2 and "--jobs" in err and not (tmp_path / "d").exists()


KILLER = """
import os, signal
from lossbench.losses import Term


class Boom(Term):
    \"\"\"A user's term whose first step kills the process it runs in.\"\"\"

    def values(self, out, x):
        os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.slow
def test_a_ray_worker_that_dies_fails_its_run_and_the_others_go_on(cli, write_study, tmp_path, lb_cache, monkeypatch):
    pytest.importorskip("ray")
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "lb_killer.py").write_text(KILLER)
    monkeypatch.syspath_prepend(str(tmp_path / "plugin"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "plugin"), os.environ.get("PYTHONPATH", "")]))
    study = write_study({"seeds": [0], "conditions": {"l2": [{"term": "l2"}],
                                                      "boom": [{"term": "boom", "target": "lb_killer.Boom"}]}})
    out, env = tmp_path / "out", {"LOSSBENCH_CACHE": str(lb_cache)}
    code, stdout, err = cli("run", study, "--out", out, "--executor", "ray", env=env)
    assert code == 0, err
    assert "1 trained" in stdout and "1 failed" in stdout
    assert "ae-mlp / boom / seed 0: failed (" in err and "the next 'lossbench run' retries it" in err
    summary = pd.read_csv(out / "summary.csv").set_index("condition")
    assert summary.loc["l2", "status"] == "done" and summary.loc["boom", "status"] == "not run"
    code, stdout, _ = cli("run", study, "--out", out, "--executor", "ray", env=env)
    assert code == 0 and "1 skipped (finished before)" in stdout and "1 failed" in stdout  # retried, and dies again


def test_a_live_holder_of_the_folder_lock_stops_a_second_run(cli, write_study, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    hold = ("import sys, time\nfrom lossbench.store import files\nwith files.folder_lock(sys.argv[1]):\n"
            "    print('held', flush=True)\n    time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = cli("run", write_study(), "--out", out)
        assert code == 2 and f"another lossbench process (PID {holder.pid}) is writing this folder" in err
        assert "--wait" in err
        assert sorted(p.name for p in out.iterdir()) == [".lossbench"]  # nothing written
        code, _, err = cli("report", out)
        assert code == 2 and f"PID {holder.pid}" in err
        code, _, err = cli("paradox", "--out", out, "--per-class", "1")
        assert code == 2 and f"PID {holder.pid}" in err and err.count("\n") == 1
        assert sorted(p.name for p in out.iterdir()) == [".lossbench"]
    finally:
        holder.kill()
        holder.wait()


def test_a_dead_holders_lock_is_taken_over_and_leftovers_removed(cli, write_study, tmp_path):
    import socket

    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    files.private_dir(out)
    (out / files.LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    leftover = out / "figures" / ".gallery.abc123.tmp.png"  # what a write killed midway leaves
    leftover.write_bytes(b"half a png")
    code, stdout, err = cli("run", write_study(), "--out", out)
    assert code == 0, err
    assert "4 trained" in stdout
    assert not leftover.exists() and not (out / files.LOCK_NAME).exists()


def test_the_closing_line_counts_the_whole_invocation(cli, write_study, tmp_path):
    """A re-run that trains nothing still takes seconds (set-up, report): the line says so."""
    import re
    import time

    study, out = write_study({"seeds": [0]}), tmp_path / "out"
    assert cli("run", study, "--out", out)[0] == 0
    started = time.perf_counter()
    code, stdout, _ = cli("run", study, "--out", out)
    took = time.perf_counter() - started
    match = re.search(r"2 skipped \(finished before\) in (\d+) s \(set-up, runs and report; the runs (\d+) s\)", stdout)
    assert code == 0 and match, stdout
    assert abs(int(match.group(1)) - took) <= 1 and int(match.group(2)) <= int(match.group(1))
