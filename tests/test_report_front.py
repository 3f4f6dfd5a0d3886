"""Issue 39 §4: the report's first screen. summary.md (and report.html, rendered from it) opens with a
digest in words, generated from the paired table and tested against it cell by cell; the tables use the
window instead of scrolling their columns out of sight."""

from __future__ import annotations

import re
import shutil

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    """The committed main study, its report rebuilt from the stored runs into a copy."""
    from lossbench.report import build_report

    out = tmp_path_factory.mktemp("front") / "l2_vs_perceptual"
    shutil.copytree(REPO / "results" / "l2_vs_perceptual", out)
    build_report(out, announce=False)
    return out


def _cells(summary: str) -> dict[str, dict[str, str]]:
    """The paired table of summary.md: row label -> column -> what its cell says (better, worse, undecided)."""
    lines = summary.split("## Paired differences from", 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| model | condition | n |"))
    header = [h.strip().rsplit(" ", 1)[0] for h in lines[start].strip("|").split("|")]
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        label = cells[1].replace("*vs control*", "against its control")
        rows[label] = {h: ("better" if c.startswith("**") and "✓" in c else "worse" if c.startswith("**") and "✗" in c
                           else "undecided") for h, c in zip(header[3:], cells[3:])}
    return rows


def _digest(summary: str) -> dict[str, dict[str, str]]:
    """The digest's lines: row label -> column -> the list it names the column in."""
    block = summary.split("## In short", 1)[1].split("\n## ", 1)[0]
    out = {}
    for line in block.splitlines():
        m = re.match(r"- `(.+?)`(?: against its control `(.+?)`)?: decided better on (.*); decided worse on (.*); "
                     r"undecided on (.*)$", line)
        if not m:
            continue
        label = m.group(1) + (f" against its control `{m.group(2)}`" if m.group(2) else "")
        out[label] = {}
        for verdict, names in zip(("better", "worse", "undecided"), m.group(3, 4, 5)):
            for name in names.split(", "):
                if name != "none":
                    out[label][name.removesuffix(" §")] = verdict
    return out


def test_the_digest_says_in_words_what_every_cell_of_the_paired_table_decides(rebuilt):
    summary = (rebuilt / "summary.md").read_text(encoding="utf-8")
    assert summary.index("## In short") < summary.index("## Paired differences from")
    table, digest = _cells(summary), _digest(summary)
    assert len(table) == 6 and table.keys() == digest.keys(), (table.keys(), digest.keys())
    for label, cells in table.items():
        assert digest[label] == cells, label
    # the study's headline, as the digest states it
    lpips = digest["l2+perceptual(lpips-alex)"]
    assert lpips["lpips"] == "better" and lpips["mse"] == "worse" and lpips["fd-judge-recon"] == "worse"


def test_a_flagged_row_gets_no_verdict_in_the_digest():
    import pandas as pd

    from lossbench.report.context import digest_markdown
    from lossbench.report.facts import reading

    table = pd.DataFrame([{"model": "m", "condition": c, "baseline": "l2", "metric": "mse", "difference": d,
                           "ci_low": d - 0.1, "ci_high": d + 0.1, "direction": "better" if d < 0 else "worse", "n_seeds": 5}
                          for c, d in (("a", -1.0), ("b", 1.0), ("c", 0.0))])
    manifest = {"metrics": {"mse": {}}, "metric_facts": {"mse": {"columns": ["mse"], "higher_is_better": False,
                                                                   "kind": "paired", "features": None, "statistic": None,
                                                                   "description": "mse"}}}
    with reading(manifest):
        lines = digest_markdown(table, ["mse"], {}, flagged={("m", "b")})
    text = "\n".join(lines)
    assert "- `a`: decided better on mse; decided worse on none; undecided on none" in text
    assert "- `b`: ⚑ flagged" in text and "no verdict" in text
    assert "- `c`: decided better on none; decided worse on none; undecided on mse" in text


def test_every_column_of_every_table_shows_in_a_1400_px_window_and_in_print(rebuilt, tmp_path):
    """Issue 39 §4: the paired-differences table (14 columns, the judge's among them) and every other table of
    the main study's report.html lie inside a 1400-px window, with no column scrolled out of sight; the print
    style turns the page, and a printed PDF holds the judge's column's name."""
    import subprocess

    from test_html import _harness

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium package)")
    page = (rebuilt / "report.html").read_text(encoding="utf-8")
    probe = ("var out = []; document.querySelectorAll('table:not(.gallery)').forEach(function (t, i) {"
             " var r = t.getBoundingClientRect();"
             " if (r.right > window.innerWidth + 1 || t.scrollWidth > t.clientWidth + 1) out.push(i + ':' + Math.round(r.right)); });"
             " document.title = 'tables ' + document.querySelectorAll('table:not(.gallery)').length + ' overflowing ' + out.join(',')"
             " + ' page ' + document.documentElement.scrollWidth + ' of ' + document.documentElement.clientWidth;")
    copy = tmp_path / "probe.html"
    copy.write_text(_harness(page, probe), encoding="utf-8")
    flags = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,900"]
    dom = subprocess.run(flags + ["--dump-dom", copy.as_uri()], capture_output=True, text=True, timeout=120, check=True).stdout
    found = re.search(r"<title>tables (\d+) overflowing ([^ ]*) page (\d+) of (\d+)</title>", dom)
    assert found, dom[:500]
    tables, overflowing, width, visible = int(found.group(1)), found.group(2), int(found.group(3)), int(found.group(4))
    assert tables >= 6 and overflowing == "" and width <= visible, found.group(0)
    pdf = tmp_path / "report.pdf"
    subprocess.run(flags + [f"--print-to-pdf={pdf}", "--no-pdf-header-footer", (rebuilt / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert pdf.read_bytes().startswith(b"%PDF")
