"""Issue 39 §6: the docs site as a reader meets it. Links to the benchmarks' README and to the notebook open
rendered pages (not raw Markdown or JSON), every figure of a page opens at full size on a click, and the command
line's synopsis names every option of `run`. Built with mkdocs as CI builds it (strict)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if shutil.which("mkdocs") is None and subprocess.run([sys.executable, "-c", "import mkdocs"]).returncode != 0:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]'; CI installs it)")
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_links_to_the_benchmarks_and_the_notebook_open_rendered_pages(site):
    speed = (site / "speed" / "index.html").read_text(encoding="utf-8")
    assert 'href="../repository/benchmarks/"' in speed
    benchmarks = (site / "repository" / "benchmarks" / "index.html").read_text(encoding="utf-8")
    first_heading = (REPO / "benchmarks" / "README.md").read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()
    assert f">{first_heading}<" in benchmarks.replace("\n", "") or first_heading in benchmarks
    assert "<table>" in benchmarks  # its tables rendered, not Markdown source
    start = (site / "getting-started" / "index.html").read_text(encoding="utf-8")
    assert 'href="../repository/examples/quickstart/"' in start
    notebook = (site / "repository" / "examples" / "quickstart" / "index.html").read_text(encoding="utf-8")
    assert 'class="language-python"' in notebook and 'href="../quickstart.ipynb"' in notebook
    assert (site / "repository" / "examples" / "quickstart.ipynb").is_file()  # the file itself, to download


def test_every_figure_of_a_page_opens_at_full_size(site):
    results = (site / "results" / "index.html").read_text(encoding="utf-8")
    images = re.findall(r'<img alt="[^"]*" src="([^"]+\.png)"', results)
    assert len(images) >= 5
    for src in images:
        assert f'<a href="{src}"><img' in results, src


def test_the_synopsis_names_every_option_of_run():
    from lossbench.cli import _parser

    synopsis = (REPO / "docs" / "cli.md").read_text(encoding="utf-8").split("```text", 1)[1].split("```", 1)[0]
    options = [o for a in _parser()._subparsers._group_actions[0].choices["run"]._actions for o in a.option_strings
               if o.startswith("--") and o != "--help"]
    assert options and [o for o in options if o not in synopsis] == []
