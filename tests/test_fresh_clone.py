"""Issue 21's promise, checked as a new user meets it: in a fresh clone, with an empty cache and no
$LOSSBENCH_DATA, the README's command for every committed study (and the paradox) finds the
committed runs, rebuilds every table and figure, and leaves `git status` clean. One test per study,
so that test processes (pytest -n) share them out; each process rebuilds its share in its own clone."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

STUDIES = sorted(p.name for p in (REPO / "studies").glob("*.yaml") if (REPO / "results" / p.stem).is_dir())


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory):
    """A clone of this checkout with an empty cache, no $LOSSBENCH_DATA, and the clone's own code on the
    path; one per test process (each xdist worker rebuilds its share of the studies in its own)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout to clone")
    root = tmp_path_factory.mktemp("fresh")
    clone = root / "clone"
    subprocess.run(["git", "clone", "--quiet", "--local", str(REPO), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("LOSSBENCH_DATA", "LOSSBENCH_CACHE")}
    env.update(PYTHONPATH=str(clone), LOSSBENCH_CACHE=str(root / "empty-cache"), MPLBACKEND="Agg")
    where = subprocess.run([sys.executable, "-c", "import lossbench; print(lossbench.__file__)"], cwd=clone, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(clone)), where  # the clone's code, not the installed checkout's
    return clone, env


def test_there_are_committed_studies_to_rebuild():
    assert STUDIES, "no committed study found"


@pytest.mark.slow
@pytest.mark.parametrize("study", STUDIES)
def test_every_committed_study_rebuilds_byte_identical_in_a_fresh_clone(fresh_clone, study):
    clone, env = fresh_clone
    done = subprocess.run([sys.executable, "-m", "lossbench", "run", f"studies/{study}", "--jobs", "2"], cwd=clone,
                          env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"{study}: {done.stderr[-2000:]}"
    assert not re.search(r"\b[1-9]\d* trained\b", done.stdout), f"{study} trained in a fresh clone: {done.stdout[-500:]}"
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True).stdout
    assert status == "", f"rebuilding {study} changed committed files:\n{status}"
