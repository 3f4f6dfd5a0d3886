"""SIGKILL while a folder is being written (a real kill at a known point, no hook in lossbench):
during `report` (its tables, report.html, a figure), during the report phase of `run`, and during
a group of seeds trained side by side. The next command repairs the folder: no half-written file
is left, nothing is left out, and what it writes is what an uninterrupted command writes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import TINY
from lossbench.store import files

#: runs the CLI; with KILL_WRITING=NAME (a file name, or a suffix such as .png) the process
#: SIGKILLs itself inside the atomic write of the first such file, after its bytes went into the
#: temporary file and before it replaces the old one: what a kill mid-write leaves. With
#: KILL_AFTER=NAME it dies right after the first such file is in place instead.
DRIVER = """
import contextlib, os, signal, sys
from pathlib import Path
import lossbench.store.files as files
during, after = os.environ.get("KILL_WRITING", ""), os.environ.get("KILL_AFTER", "")
def hit(path, target):
    return bool(target) and (path.name == target or (target.startswith(".") and path.suffix == target))
atomic = files.atomic_path
@contextlib.contextmanager
def atomic_path(path):
    path = Path(path)
    with atomic(path) as tmp:
        yield tmp
        if hit(path, during):
            os.kill(os.getpid(), signal.SIGKILL)
    if hit(path, after):
        os.kill(os.getpid(), signal.SIGKILL)
files.atomic_path = atomic_path
from lossbench.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _cli(*args, cache: Path, **kill: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LOSSBENCH_CACHE": str(cache), "TQDM_DISABLE": "1", "MPLBACKEND": "Agg", **kill}
    env.pop("LOSSBENCH_DATA", None)
    return subprocess.run([sys.executable, "-c", DRIVER, *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=600, cwd=Path(__file__).parent)


def _files(out: Path) -> dict[str, bytes]:
    """Every file of the folder but report.html (it embeds the others) and the lock."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "report.html" and ".lossbench" not in p.parts}


def _leftovers(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if ".tmp" in p.name or p == out / files.LOCK_NAME]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, lb_cache):
    """A finished tiny study and the files of an uninterrupted `report` of it."""
    folder = tmp_path_factory.mktemp("kill-writes")
    study = folder / "study.yaml"
    study.write_text(yaml.safe_dump(TINY, sort_keys=False))
    out = folder / "out"
    done = _cli("run", study, "--out", out, cache=lb_cache)
    assert done.returncode == 0, done.stderr[-3000:]
    again = _cli("report", out, cache=lb_cache)
    assert again.returncode == 0, again.stderr[-3000:]
    reference = _files(out)
    assert any(name.endswith(".png") for name in reference) and "summary.md" in reference
    return study, out, reference


@pytest.mark.slow
@pytest.mark.parametrize("command, target", [("report", "summary.md"), ("report", "report.html"), ("report", ".png"),
                                             ("run", "summary.md")])
def test_a_kill_while_the_report_is_written_is_repaired_by_the_next_command(finished, tmp_path, lb_cache, command,
                                                                             target):
    study, original, reference = finished
    out = tmp_path / "out"
    shutil.copytree(original, out)
    # a rebuild writes only the files whose bytes change (issue 39): the target is altered first, so it is rewritten
    report_files = [p for p in out.rglob("*") if p.is_file() and "runs" not in p.relative_to(out).parts]  # not a run's
    for path in (p for p in report_files if p.name == target or (target.startswith(".") and p.suffix == target)):
        path.write_bytes(path.read_bytes() + b"\n")
    args = ("report", out) if command == "report" else ("run", study, "--out", out)
    killed = _cli(*args, cache=lb_cache, KILL_WRITING=target)
    assert killed.returncode == -9, killed.stderr[-3000:]  # SIGKILL, mid-write
    assert _leftovers(out), "the kill left no temporary file: it did not happen mid-write"
    repaired = _cli(*args, cache=lb_cache)
    assert repaired.returncode == 0, repaired.stderr[-3000:]
    assert not _leftovers(out)
    assert _files(out) == reference
    assert (out / "report.html").read_text(encoding="utf-8").rstrip().endswith("</html>")


#: three seeds of one condition trained side by side, for 4 epochs
VECTORISED = {**TINY, "seeds": [0, 1, 2], "conditions": {"l2": [{"term": "l2"}]},
              "training": {"epochs": 4, "batch_size": 32, "vectorize_seeds": True}}


def _metrics(out: Path) -> dict[int, dict]:
    found = {}
    for run in (out / "runs").iterdir():
        if (run / "metrics.json").is_file():
            config = yaml.safe_load((run / "config.yaml").read_text())
            found[config["seed"]] = json.loads((run / "metrics.json").read_text())
    return found


@pytest.mark.slow
@pytest.mark.parametrize("kill", [{"KILL_WRITING": "recon_epoch_002.png"}, {"KILL_AFTER": "metrics.json"}],
                         ids=["mid-training", "between-the-seeds-results"])
def test_a_kill_during_a_group_of_seeds_side_by_side_is_repaired_by_the_next_run(tmp_path, lb_cache, kill):
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(VECTORISED, sort_keys=False))
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    done = _cli("run", study, "--out", whole, cache=lb_cache)
    assert done.returncode == 0, done.stderr[-3000:]
    reference = _metrics(whole)
    assert sorted(reference) == [0, 1, 2] and all(m["vectorised"] == {"seeds": [0, 1, 2]} for m in reference.values())

    killed = _cli("run", study, "--out", cut, cache=lb_cache, **kill)
    assert killed.returncode == -9, killed.stderr[-3000:]
    before = _metrics(cut)
    repaired = _cli("run", study, "--out", cut, cache=lb_cache)
    assert repaired.returncode == 0, repaired.stderr[-3000:]
    assert not _leftovers(cut)
    after = _metrics(cut)
    assert sorted(after) == [0, 1, 2]
    assert (cut / "summary.md").is_file()
    drop = ("train_seconds", "run_seconds", "files", "seal")  # the seal is a digest of the timings too
    for seed, result in after.items():
        if seed in before:  # finished before the kill: kept as it was
            assert result == before[seed]
        elif not before:  # killed mid-training: the group trains again from its first epoch, bit-identical
            assert {k: v for k, v in result.items() if k not in drop} == \
                   {k: v for k, v in reference[seed].items() if k not in drop}, seed
        else:  # the seeds left had trained and waited for their scores: scored from their checkpoints, bit-identical
            assert {k: v for k, v in result.items() if k not in drop} == \
                   {k: v for k, v in reference[seed].items() if k not in drop}, seed
    if "KILL_AFTER" in kill:
        assert len(before) == 1, "the kill fell after the group's first result: the test checks nothing partial"
