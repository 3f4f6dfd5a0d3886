"""DIR/report.html (issue 13 §3): one self-contained page with every table and figure of the
study, checked as written and, where Chromium is installed, as a real browser renders it."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

CHECKS = [{"claim": "bce beats l2", "compare": "conditions", "metric": "mse", "better": "bce", "than": "l2"}]


def _run(study, out, cache):
    """Run a study file into ``out`` with ``cache`` as $LOSSBENCH_CACHE (restored after); return ``out``."""
    import os

    from lossbench.cli import main

    old = os.environ.get("LOSSBENCH_CACHE")
    os.environ["LOSSBENCH_CACHE"] = str(cache)
    try:
        assert main(["run", str(study), "--out", str(out)]) == 0
    finally:
        if old is None:
            os.environ.pop("LOSSBENCH_CACHE")
        else:
            os.environ["LOSSBENCH_CACHE"] = old
    return out


@pytest.fixture(scope="module")
def study_folder(tmp_path_factory, lb_cache):

    import yaml

    from conftest import TINY

    folder = tmp_path_factory.mktemp("html")
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump({**TINY, "seeds": [0, 1, 2], "description": "Does bce beat l2 on tiny images?",
                                    "report": {"recon_images": 4, "checks": CHECKS}}, sort_keys=False))
    return _run(path, folder / "o", lb_cache)


def _tables(markdown_text: str) -> int:
    """Markdown tables in a page: header rows followed by a |---| rule."""
    return len(re.findall(r"^\|[^\n]*\n\|[-|: ]+\|\s*$", markdown_text, flags=re.M))


def test_the_page_holds_every_table_and_figure_and_nothing_from_the_network(study_folder):
    page = (study_folder / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Does bce beat l2 on tiny images?" in page
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<link" not in page  # self-contained
    expected = _tables((study_folder / "summary.md").read_text()) + _tables((study_folder / "checks.md").read_text())
    assert page.count("<table>") == expected and expected >= 3
    figures = sorted(p.name for p in (study_folder / "figures").glob("*.png"))
    assert [m for m in re.findall(r'<figure id="fig-([^"]+)"', page)] == figures
    assert page.index("Paired differences") < page.index("Means over seeds")  # the paired table first
    tiles = re.findall(r'<img alt="[^"]*reconstruction \d+" title="([^"]+)"', page)
    assert len(tiles) == 2 * 4 and all(t.startswith("mse ") for t in tiles)  # 2 conditions x 4 images, scored


@pytest.fixture
def browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium package)")
    return found


def test_a_browser_renders_it(study_folder, tmp_path, browser):
    from PIL import Image, ImageStat

    url = (study_folder / "report.html").resolve().as_uri()
    flags = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,1600"]
    shot = tmp_path / "shot.png"
    subprocess.run(flags + [f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True)
    image = Image.open(shot).convert("L")
    assert image.size == (1280, 1600)
    low, high = image.getextrema()
    assert high - low > 100 and ImageStat.Stat(image).stddev[0] > 10  # text and tables, not a blank page
    dom = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True, timeout=120, check=True).stdout
    page = (study_folder / "report.html").read_text(encoding="utf-8")
    assert dom.count("<table") == page.count("<table") >= 3
    assert dom.count("<figure") == len(list((study_folder / "figures").glob("*.png")))
    sortable = page.count("<th>") - page.count("<tr><th>")  # every header but the gallery's row labels
    assert sortable > 0 and dom.count('<th title="sort by this column">') == sortable  # the sorting script ran


class _Tables(HTMLParser):
    """Each sortable table of a page (the gallery left out) as rows of cell texts, header first."""

    def __init__(self):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._skip = 0
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            gallery = "gallery" in (dict(attrs).get("class") or "")
            self._skip += gallery
            if not gallery and not self._skip:
                self.tables.append([])
        elif tag == "tr" and not self._skip and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th") and not self._skip and self.tables:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table" and self._skip:
            self._skip -= 1
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _tables_of(html: str) -> list[list[list[str]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def _harness(page: str, script: str) -> str:
    """A copy of the page with a test's own script before </body>. The page's Content-Security-
    Policy admits only its sorting script, so the copy leaves the policy out (the policy has a
    test of its own: test_the_content_policy_blocks_inline_script)."""
    page = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
    return page.replace("</body>", f"<script>{script}</script></body>")


def _number(text: str) -> float | None:
    match = re.match(r"\s*([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)", text.replace("\u2212", "-").replace("*", ""))
    return float(match.group(1)) if match else None


def test_a_click_on_a_header_sorts_its_table_in_the_browser(study_folder, tmp_path, browser):
    """A header click, made by a script added to a copy of the page, runs the page's own sort:
    the first click sorts the column ascending, the second descending, and every row moves whole."""
    page = (study_folder / "report.html").read_text(encoding="utf-8")
    tables = _tables_of(page)
    # the table and numeric column with the most distinct values, and not already in order
    candidates = []
    for t, rows in enumerate(tables):
        for c in range(len(rows[0])):
            values = [_number(r[c]) if c < len(r) else None for r in rows[1:]]
            if len(values) >= 3 and None not in values and values != sorted(values):
                candidates.append((len(set(values)), t, c))
    assert candidates, "no table of the tiny study has an unsorted numeric column of 3+ rows"
    _, t, c = max(candidates)
    before = tables[t][1:]
    flags = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1600"]
    for clicks, descending in ((1, False), (2, True)):
        clicker = (f'var th = document.querySelectorAll("table:not(.gallery)")[{t}].querySelectorAll("th")[{c}];'
                   f"for (var i = 0; i < {clicks}; i++) th.click();")
        copy = tmp_path / f"clicked{clicks}.html"
        copy.write_text(_harness(page, clicker), encoding="utf-8")
        dom = subprocess.run(flags + ["--dump-dom", copy.as_uri()], capture_output=True, text=True, timeout=120,
                             check=True).stdout
        after = _tables_of(dom)[t]
        assert after[0] == tables[t][0]  # the header stays on top
        values = [_number(r[c]) for r in after[1:]]
        assert values == sorted(values, reverse=descending), (clicks, values)
        assert sorted(after[1:]) == sorted(before) and after[1:] != before  # the same rows, moved whole
        assert ("sorted-desc" if descending else "sorted-asc") in dom


def test_it_fits_a_laptop_screen_and_prints(study_folder, tmp_path, browser):
    """At 1366 px wide the page scrolls only down (wide tables wrap their cells), and
    Chromium prints it to a PDF of whole pages with the report's text in it."""
    page = (study_folder / "report.html").read_text(encoding="utf-8")
    # a table as wide as a big study's (40 metric columns), styled by the page's own CSS
    wide = ("<table><thead><tr>" + "".join(f"<th>metric {k}</th>" for k in range(40)) + "</tr></thead><tbody><tr>"
            + "<td>0.123456 ± 0.000123</td>" * 40 + "</tr></tbody></table>")
    probe = ('document.body.insertAdjacentHTML("beforeend", ' + repr(wide) + '); document.title = "width " + '
             "document.documentElement.scrollWidth + \" of \" + document.documentElement.clientWidth;")
    copy = tmp_path / "probe.html"
    copy.write_text(_harness(page, probe), encoding="utf-8")
    flags = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1366,768"]
    dom = subprocess.run(flags + ["--dump-dom", copy.as_uri()], capture_output=True, text=True, timeout=120, check=True).stdout
    width, visible = map(int, re.search(r"<title>width (\d+) of (\d+)</title>", dom).groups())
    assert 1000 < visible <= 1366 and width <= visible, (width, visible)
    pdf = tmp_path / "report.pdf"
    subprocess.run(flags + [f"--print-to-pdf={pdf}", "--no-pdf-header-footer", (study_folder / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b", data)) >= 2


PAYLOAD = "<img src=x onerror=\"document.title='ran'\">"
#: script that sets the title to "ran", written without quotes (a Markdown link target ends at a space)
RAN = "void(document.title=String.fromCharCode(114,97,110))"
#: Markdown links whose target is a script once the browser decodes it (issue 31 §1): a character
#: reference for the colon or the first letter, with and without its semicolon, a tab inside the
#: scheme, a reference-style link, an image
LINKS = {"condition": f"[click](javascript&#58;{RAN})", "label": f"[m](&#106;avascript:{RAN})",
         "description": f"[d](&#x6A;avascript&colon;{RAN}) [e](&#106avascript:{RAN})",
         "claim": f"[k](java&#9;script:{RAN}) ![i](javascript:{RAN})",
         "metric": f"[q](vbscript:{RAN}) [s](data:text/html,<script>{RAN}</script>) [ok](runs/) [web](https://example.org/)"}


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory, lb_cache):
    """A study whose description, model label and condition name are markup that would run."""

    import yaml

    from conftest import TINY

    import lossbench
    from lossbench.metrics import METRICS

    folder = tmp_path_factory.mktemp("hostile")
    path = folder / "study.yaml"
    condition = f"l2{PAYLOAD} {LINKS['condition']}"
    study = {**TINY, "seeds": [0], "description": f"<script>document.title='ran'</script> {PAYLOAD} <lossbench cache> "
                                                   f"{LINKS['description']}",
             "models": [{**TINY["models"][0], "label": f"m{PAYLOAD} {LINKS['label']}"}],
             "conditions": {condition: [{"term": "l2"}], "bce": [{"term": "bce"}]},
             "metrics": [*TINY["metrics"], "hostile-metric"],
             "report": {"recon_images": 2, "checks": [{"claim": LINKS["claim"], "compare": "conditions", "metric": "mse",
                                                       "better": "bce", "than": condition}]}}
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    lossbench.register_metric("hostile-metric", lambda x_hat, x: (x_hat - x).abs().flatten(1).mean(1),
                              description=LINKS["metric"])
    try:
        return _run(path, folder / "o", lb_cache)
    finally:
        METRICS.pop("hostile-metric")


def test_names_and_descriptions_are_escaped_in_the_page(hostile_folder):
    """Issue 21 §5 / 22 #6: no name a study chooses becomes markup in report.html."""
    page = (hostile_folder / "report.html").read_text(encoding="utf-8")
    assert "<img src=x" not in page and "<script>document" not in page
    assert "&lt;lossbench cache&gt;" in page  # shown as text, not dropped as an unknown tag
    assert page.count("<script>") == 1  # the page's own table-sorting script only


def test_a_browser_runs_none_of_the_hostile_markup(hostile_folder, browser):
    url = (hostile_folder / "report.html").resolve().as_uri()
    flags = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=3000"]
    dom = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True, timeout=120, check=True).stdout
    title = re.search(r"<title>(.*?)</title>", dom, flags=re.S).group(1)
    assert "ran" not in title and title.endswith("lossbench report")
    assert "<lossbench cache>" not in dom and "&lt;lossbench cache&gt;" in dom


#: clicks every link of the page; a link to a script runs, any other is stopped before it leaves
#: the page; then the title lists the schemes the browser's own URL parser saw
CLICK_EVERY_LINK = """
var seen = [];
document.addEventListener("click", function (e) {
  var a = e.target.closest("a"); if (!a) return;
  var scheme = new URL(a.href, document.baseURI).protocol; seen.push(scheme);
  if (scheme !== "javascript:") e.preventDefault();
}, true);
var links = document.querySelectorAll("a"); links.forEach(function (a) { a.click(); });
setTimeout(function () { if (document.title !== "ran") document.title = "clicked " + links.length + ": " + seen.join(" "); }, 500);
"""


def _click_every_link(browser: str, page: str, tmp_path) -> str:
    copy = tmp_path / "clicks.html"
    copy.write_text(_harness(page, CLICK_EVERY_LINK), encoding="utf-8")
    flags = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000"]
    dom = subprocess.run(flags + ["--dump-dom", copy.as_uri()], capture_output=True, text=True, timeout=120, check=True).stdout
    return re.search(r"<title>(.*?)</title>", dom, flags=re.S).group(1)


def test_a_click_on_every_link_of_a_hostile_study_runs_nothing(hostile_folder, browser, tmp_path):
    """Issue 31 §1: names, a description, a check's claim and a registered metric's description
    that are Markdown links to script once the browser decodes them. Every link of the page is
    clicked in Chromium, with the page's Content-Security-Policy left out (the escaping alone is
    tested); the same clicks on a link the old filter let through do run it (the test can fail)."""
    page = (hostile_folder / "report.html").read_text(encoding="utf-8")
    for text in (">click</a>", ">m</a>", ">k</a>", ">q</a>", ">s</a>"):  # condition, label, claim, metric
        assert text in page  # each payload reached the page as a link, not as dropped text
    title = _click_every_link(browser, page, tmp_path)
    assert title.startswith("clicked ") and "javascript" not in title, title
    clicked = int(title.split()[1].rstrip(":"))
    assert clicked >= 10 and title.count("file:") + title.count("https:") == clicked, title  # all relative or https
    unsafe = page.replace("</body>", f'<a href="javascript&#58;{RAN}">old filter</a></body>')
    assert _click_every_link(browser, unsafe, tmp_path) == "ran"


def test_the_content_policy_blocks_inline_script(hostile_folder, browser, tmp_path):
    """The second wall: the page's policy runs its own sorting script and no other. An inline event
    handler and a script element added to the page do not run; without the policy they do."""
    page = (hostile_folder / "report.html").read_text(encoding="utf-8")
    injected = f"<img src=x onerror=\"{RAN}\"><script>document.body.dataset.ran = 1;</script></body>"
    flags = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=3000"]
    for policy in (True, False):
        text = page if policy else re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
        copy = tmp_path / f"policy{policy}.html"
        copy.write_text(text.replace("</body>", injected), encoding="utf-8")
        dom = subprocess.run(flags + ["--dump-dom", copy.as_uri()], capture_output=True, text=True, timeout=120,
                             check=True).stdout
        ran = re.search(r"<title>(.*?)</title>", dom, flags=re.S).group(1) == "ran" or 'data-ran="1"' in dom
        assert ran is not policy, policy
        assert 'title="sort by this column"' in dom  # the page's own script runs under the policy


@pytest.mark.parametrize("target", ["javascript&#58;x()", "&#106;avascript:x()", "&#106avascript:x()", "&#x6A;avascript:x()",
                                    "java&#9;script:x()", "java\tscript:x()", " JavaScript:x()", "vbscript:x()",
                                    "data:text/html,x", "javascript&colon;x()", "file:///etc/passwd"])
def test_a_link_is_judged_by_what_the_browser_decodes(target):
    from lossbench.report.html import _md

    assert 'href="#"' in _md(f"[a]({target})"), target


def test_reference_links_and_images_are_judged_too():
    from lossbench.report.html import _md

    page = _md("[r][x] ![i][y] [ok][z]\n\n[x]: JavaScript:x()\n[y]: javascript&#58;x()\n[z]: runs/abc/")
    assert page.count('href="#"') == 1 and 'src="#"' in page and 'href="runs/abc/"' in page


def test_markdown_links_with_a_script_scheme_are_neutralised():
    from lossbench.report.html import _md

    page = _md("[a](javascript:alert(1)) [b](runs/abc/) [c](https://example.org) <b>x</b>")
    assert 'href="#">a<' in page and 'href="runs/abc/"' in page and 'href="https://example.org"' in page
    assert "<b>" not in page and "&lt;b&gt;" in page
