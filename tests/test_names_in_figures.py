"""Names that broke the report after all the training (issue 31 §3): mathtext in a condition's
name, a name too long for seaborn's legend, a ``|`` in a Markdown table; and a figure that cannot
be drawn costs that figure only."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

NAMES = {"math": "$\\alpha_$", "long": "l2 with a rather long descriptive condition name", "pipe": "a|b",
         "dollar": "costs $5 | or $6"}


@pytest.fixture(scope="module")
def named(tmp_path_factory, lb_cache):
    """One tiny study whose conditions carry every hostile name, trained once."""
    import os

    import yaml

    from conftest import TINY
    from lossbench.cli import main

    folder = tmp_path_factory.mktemp("names")
    study = folder / "study.yaml"
    conditions = {NAMES["math"]: [{"term": "l2"}], NAMES["long"]: [{"term": "l1"}], NAMES["pipe"]: [{"term": "bce"}],
                  NAMES["dollar"]: [{"term": "l2", "label": "l2 $x"}]}
    study.write_text(yaml.safe_dump({**TINY, "seeds": [0, 1], "conditions": conditions, "metrics": ["mse"],
                                     "models": [{**TINY["models"][0], "label": "m$|"}]}, sort_keys=False))
    os.environ.pop("LOSSBENCH_DATA", None)
    assert main(["run", str(study), "--out", str(folder / "out")]) == 0
    return folder / "out"


def test_every_figure_is_drawn_with_the_names_as_written(named, cli):
    code, _, err = cli("report", named)
    assert code == 0 and "Traceback" not in err and "not drawn" not in err, err
    figures = {p.name for p in (named / "figures").glob("*.png")}
    assert {"training_curves.png", "metrics.png", "recon_grid.png", "gallery.png"} <= figures


def test_the_names_are_text_in_matplotlib():
    """The escaping itself: matplotlib reads an escaped name as plain text, with every $ shown."""
    import matplotlib.text

    from lossbench.report.drawing import plain

    for name in NAMES.values():
        text = matplotlib.text.Text(text=plain(name))
        shown, math = text._preprocess_math(text.get_text())
        assert not math and shown == name
    assert plain("no dollar") == "no dollar"  # committed names are drawn exactly as before


class _Rows(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def test_a_pipe_in_a_name_stays_in_its_cell(named):
    """Every row of every table in summary.md has as many cells as its header, and the names read whole."""
    from lossbench.report.html import _md

    page = _md((named / "summary.md").read_text(encoding="utf-8"))
    tables = page.split("<table>")[1:]
    assert len(tables) >= 3  # paired differences, the detectable effects, the means
    for table in tables:
        rows = _Rows()
        rows.feed(table.split("</table>")[0])
        assert len({len(r) for r in rows.rows}) == 1, [len(r) for r in rows.rows]
        cells = [c.strip() for r in rows.rows for c in r]
        if "condition" in cells:
            assert any(c.startswith("a|b") for c in cells) and any(c.startswith("m$|") for c in cells), cells


def test_a_figure_that_fails_is_named_and_the_rest_is_written(named, tmp_path, cli, monkeypatch):
    import shutil

    from lossbench.report import build

    out = tmp_path / "out"
    shutil.copytree(named, out)
    assert (out / "figures" / "metrics.png").exists()

    def broken(*args, **kwargs):
        raise RuntimeError("a plotting library's own error\nover two lines")

    monkeypatch.setattr(build, "metric_bars", broken)
    code, stdout, err = cli("report", out)
    assert code == 0 and "Traceback" not in err
    line = next(line for line in err.splitlines() if "not drawn" in line)
    assert line == ("report: figures/metrics.png not drawn (RuntimeError: a plotting library's own error over two lines); "
                    "the tables, report.html and the other figures are written")
    assert not (out / "figures" / "metrics.png").exists()  # not the earlier report's figure, with other numbers
    assert (out / "figures" / "training_curves.png").exists() and (out / "summary.md").exists()
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<strong>Not drawn</strong>" in page and "<code>metrics.png</code> (RuntimeError" in page
