"""The folder lock (issue 31 §2, §4): under a race of several processes at most one holds it, the
lock of a killed holder is free at once, and a full disk at the very start leaves no lock behind."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lossbench.store import files
from lossbench.core.errors import LossbenchError

CONTENDERS = 3
TRIALS = 100


def _contender(folder: str, start, wait: bool, results) -> None:
    """Wait for the start, take the lock, and while holding it make sure no one else is inside:
    an O_EXCL marker that a second holder could not create."""
    start.wait()
    try:
        with files.folder_lock(folder, wait=wait, poll=0.01):
            marker = Path(folder) / "inside"
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                results.put("overlap")
                return
            time.sleep(0.01)
            marker.unlink()
            results.put("held")
    except LossbenchError:
        results.put("refused")


def _race(tmp_path: Path, wait: bool) -> list[list[str]]:
    """TRIALS races of CONTENDERS forked processes released together on a folder whose lock names
    a dead holder (the case that 0.3 let two processes take over); each trial's outcomes."""
    context = multiprocessing.get_context("fork")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    outcomes = []
    for trial in range(TRIALS):
        folder = tmp_path / f"t{trial}"
        files.private_dir(folder)
        (folder / files.LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
        start, results = context.Event(), context.Queue()
        procs = [context.Process(target=_contender, args=(str(folder), start, wait, results)) for _ in range(CONTENDERS)]
        for p in procs:
            p.start()
        time.sleep(0.02)
        start.set()
        for p in procs:
            p.join(30)
        outcomes.append(sorted(results.get(timeout=5) for _ in procs))
        assert not (folder / files.LOCK_NAME).exists()  # the last holder removed it
    return outcomes


@pytest.mark.slow
def test_a_race_for_a_dead_holders_lock_has_one_winner(tmp_path):
    outcomes = _race(tmp_path, wait=False)
    assert all("overlap" not in o for o in outcomes), [o for o in outcomes if "overlap" in o]
    assert all(o.count("held") >= 1 for o in outcomes)  # someone always takes the dead holder's lock


@pytest.mark.slow
def test_contenders_that_wait_take_turns(tmp_path):
    outcomes = _race(tmp_path, wait=True)
    assert all(o == ["held"] * CONTENDERS for o in outcomes), [o for o in outcomes if o != ["held"] * CONTENDERS]


def test_a_killed_holders_lock_is_free_at_once(tmp_path):
    hold = ("import sys, time\nfrom lossbench.store import files\nwith files.folder_lock(sys.argv[1]):\n"
            "    print('held', flush=True)\n    time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    assert json.loads((tmp_path / files.LOCK_NAME).read_text())["pid"] == holder.pid
    with pytest.raises(LossbenchError, match=f"PID {holder.pid}"):
        files.check_unlocked(tmp_path)
    with pytest.raises(LossbenchError, match=f"PID {holder.pid}"), files.folder_lock(tmp_path):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (tmp_path / files.LOCK_NAME).exists()  # left behind by the kill, and free
    files.check_unlocked(tmp_path)
    with files.folder_lock(tmp_path):
        assert json.loads((tmp_path / files.LOCK_NAME).read_text())["pid"] == os.getpid()
    assert not (tmp_path / files.LOCK_NAME).exists()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_killed_holder_leaves_nothing_for_git_to_see(tmp_path):
    """Issue 39 §2: the lock lives in the folder's .lossbench/, which ignores itself, so a holder killed
    with SIGKILL (no clean-up runs) leaves a checkout whose `git status --untracked-files=all` is empty."""
    repo = tmp_path / "repo"
    folder = repo / "results" / "study"
    folder.mkdir(parents=True)
    (folder / "summary.md").write_text("committed\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "results"], cwd=repo, check=True)
    hold = ("import sys, time\nfrom lossbench.store import files\nwith files.folder_lock(sys.argv[1]):\n"
            "    print('held', flush=True)\n    time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(folder)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (folder / files.LOCK_NAME).exists()  # left behind, as a kill leaves it
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=repo, capture_output=True,
                            text=True, check=True).stdout
    assert status == "", status
    with files.folder_lock(folder):  # and free
        pass


def test_a_lock_named_by_another_machine_holds(tmp_path):
    """On a shared disk, the lock file of another host stands (a network file system's flock is not
    to be trusted); the line says how to clear it when that host is gone."""
    files.private_dir(tmp_path)
    (tmp_path / files.LOCK_NAME).write_text(json.dumps({"pid": 4242, "host": "elsewhere.example"}))
    for attempt in (lambda: files.check_unlocked(tmp_path), lambda: files.folder_lock(tmp_path).__enter__()):
        with pytest.raises(LossbenchError, match=r"on elsewhere\.example \(PID 4242\).*delete .*\.lossbench/lock"):
            attempt()


def test_a_full_disk_before_the_start_is_one_line_and_leaves_no_lock(tmp_path, write_study):
    """Issue 31 §4: the disk is full before anything is written; the lock's own write meets it."""
    from test_disk_full import _mount_tmpfs

    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "256k")
    try:
        with open(disk / "filler", "wb", buffering=0) as f:
            for size in (1 << 16, 1 << 12, 1):
                try:
                    while True:
                        f.write(b"\0" * size)
                except OSError:
                    pass
        out = disk / "out"
        out.mkdir()
        env = {**os.environ, "TQDM_DISABLE": "1"}
        env.pop("LOSSBENCH_DATA", None)
        done = subprocess.run([sys.executable, "-m", "lossbench", "run", str(write_study()), "--out", str(out)],
                              capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
        assert "no space left" in done.stderr and str(out) in done.stderr
        assert sorted(p.name for p in out.iterdir()) == []  # no 0-byte lock, nothing else
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


@pytest.mark.slow
def test_two_writers_with_wait_report_every_finished_run(tmp_path, write_study):
    """Issue 31 §5: seeds [0] and seeds [1] of one study into one folder, both with --wait, at once:
    whichever writes last, the report covers all four runs and says that it does."""
    import pandas as pd

    study, out = write_study(), tmp_path / "out"
    env = {**os.environ, "TQDM_DISABLE": "1"}
    env.pop("LOSSBENCH_DATA", None)
    procs = [subprocess.Popen([sys.executable, "-m", "lossbench", "run", str(study), "--out", str(out), "--wait",
                               "--set", f"seeds=[{seed}]"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for seed in (0, 1)]
    errs = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 4 and summary["status"].eq("done").all() and sorted(set(summary["seed"])) == [0, 1]
    assert sum("the report also covers 2 finished run(s)" in e for e in errs) == 1, errs  # the one that wrote last
    assert "Seeds: [0, 1]" in (out / "summary.md").read_text()
    import yaml

    assert yaml.safe_load((out / "study.yaml").read_text())["seeds"] == [0, 1]
    # a study of another condition into the same folder does not report the earlier one's runs
    other = write_study({"conditions": {"l1": [{"term": "l1"}]}}, name="other.yaml")
    done = subprocess.run([sys.executable, "-m", "lossbench", "run", str(other), "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "also covers" not in done.stderr, done.stderr
    assert set(pd.read_csv(out / "summary.csv")["condition"]) == {"l1"}
