"""DIR/report.html: the study's report as one self-contained web page (no network: figures and
gallery tiles are embedded as data URIs, the script that sorts tables is inline).

The page is summary.md (paired differences first, then the means, calibration ladders, flags,
runs not in the averages, provenance) rendered by the ``markdown`` package, followed by checks.md
and rate_distortion.md where the study has them, every figure, and a gallery of the fixed test
images under each condition whose tiles show their per-image score on hover. Tables sort by a
click on a column's header. A print style keeps figures whole on a page.
"""

from __future__ import annotations

import base64
import html
import re
import io
from pathlib import Path

import pandas as pd
from markdown.treeprocessors import Treeprocessor

from lossbench.store import files
from lossbench.store.folders import RunFolder, StudyFolder

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; padding: 1.5em;
       color: #1b1b1b; }
p, ul, ol, h1, h2, h3, .question { max-width: 1180px; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
/* tables use the window: cells wrap (an interval breaks at its spaces), so every column of a study's tables
   shows; only a table wider than the window at its narrowest scrolls inside itself. Print shrinks the type
   and turns the page */
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.84em; display: block; overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #d6d6d6; padding: 0.25em 0.45em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; cursor: pointer; } th:hover { background: #e6e6e6; }
th.sorted-asc::after { content: " \\25B2"; } th.sorted-desc::after { content: " \\25BC"; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
.gallery td { padding: 0; border: none; } .gallery img { width: 56px; height: 56px; image-rendering: pixelated; }
.gallery th { cursor: default; background: none; border: none; text-align: right; padding-right: 0.6em; white-space: nowrap; }
.question { background: #f6f8fa; border-left: 4px solid #4a7ab5; padding: 0.6em 1em; }
@page { size: landscape; margin: 1cm; }
@media print { body { max-width: none; font-size: 10px; padding: 0; } table { font-size: 7.5px; }
               figure, tr { page-break-inside: avoid; } th { cursor: auto; } }
"""

SORT_SCRIPT = """
document.querySelectorAll("table:not(.gallery)").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.title = "sort by this column";
    th.addEventListener("click", function () {
      var body = table.tBodies[0]; if (!body) return;
      var asc = !th.classList.contains("sorted-asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
      th.classList.add(asc ? "sorted-asc" : "sorted-desc");
      var key = function (row) {
        var text = (row.cells[col] ? row.cells[col].textContent : "").trim();
        var num = parseFloat(text.replace(/[*\\u2212]/g, function (c) { return c === "\\u2212" ? "-" : ""; }));
        return isNaN(num) ? text.toLowerCase() : num;
      };
      Array.from(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x !== typeof y) { x = String(x); y = String(y); }
        return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
      }).forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _md(text: str) -> str:
    import markdown

    # Python-Markdown starts a list only after a blank line; lossbench's pages put "- item" right
    # under their paragraph, so a blank line is added there
    lines, out = text.splitlines(), list[str]()
    for line in lines:
        if line.startswith("- ") and out and out[-1].strip() and not out[-1].startswith(("- ", "  ")):
            out.append("")
        out.append(line)
    # A shared report never runs a stranger's markup: study, model and condition names reach these
    # pages verbatim, and Python-Markdown passes raw HTML through (it has no safe mode since 3.0).
    # Without its raw-HTML block and inline rules, "<script>" or "<lossbench cache>" stays text
    # (escaped on output); links with a script-running scheme are neutralised.
    md = markdown.Markdown(extensions=["tables"])
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    md.treeprocessors.register(_SafeLinks(md), "lossbench-safe-links", -100)  # last: after every link is made and unescaped
    return md.convert("\n".join(out))


#: the schemes a link or image of a report may use (an allow-list, as OWASP's XSS cheat sheet
#: advises): everything else (javascript:, vbscript:, data:text/html, file:, ...) becomes "#"
SAFE_SCHEMES = {"href": ("http", "https", "mailto"), "src": ("http", "https")}
SAFE_DATA = ("data:image/png;", "data:image/jpeg;", "data:image/gif;")


def safe_url(value: str, attribute: str = "href") -> bool:
    """Whether a browser following ``value`` (an attribute as written in the page) runs no script.

    Judged on what the browser will see, not on the text: character references are decoded first
    (``javascript&#58;``, ``&#106;avascript:``, with or without the semicolon), then the characters
    a URL parser drops are removed (tab, newline, carriage return anywhere; controls and spaces at
    either end, WHATWG URL standard), then the scheme must be on the allow-list. A value without a
    scheme (``runs/<id>/``, ``#fig-x``, ``?q``) is relative, and stays."""
    decoded = html.unescape(value)
    decoded = re.sub(r"[\t\n\r]", "", decoded).strip("".join(map(chr, range(0x21))))
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", decoded)
    if scheme is None:
        # no scheme before the first "/", "?" or "#": relative. A ":" later on is part of the path
        return not re.match(r"[^/?#]*:", decoded)
    name = scheme.group(1).lower()
    if name == "data":
        return attribute == "src" and decoded.lower().startswith(SAFE_DATA)
    return name in SAFE_SCHEMES.get(attribute, ())


class _SafeLinks(Treeprocessor):
    """Every ``href`` and ``src`` that :func:`safe_url` refuses becomes ``#`` (the link's text
    stays, as text a reader can see)."""

    def run(self, root):
        for element in root.iter():
            for attribute in ("href", "src"):
                value = element.get(attribute)
                if value is not None and not safe_url(value, attribute):
                    element.set(attribute, "#")
        return None


def _png_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _tile_uri(image) -> str:
    """One uint8 C×H×W image as an embedded PNG."""
    from PIL import Image

    array = image.permute(1, 2, 0).numpy()
    pil = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    return _png_uri(buffer.getvalue())


def _gallery(out_dir: Path, runs: pd.DataFrame, metric: str | None) -> str:
    """The fixed test images, then each model × condition's reconstructions (lowest finished
    seed); each tile's title (shown on hover) is its per-image score."""
    import torch

    from lossbench.report.figures import _representative

    from lossbench.store.collect import fixed_inputs

    reps = _representative(runs)  # the lowest finished seed of each cell, as gallery.png shows
    inputs, _ = fixed_inputs(out_dir)
    if not reps:
        return ""
    rows = [] if inputs is None else ["<tr><th>input</th>" + "".join(
        f'<td><img alt="test image {j}" src="{_tile_uri(img)}"></td>' for j, img in enumerate(inputs)) + "</tr>"]
    for (model, condition), rep in reps.items():
        run_dir = out_dir / StudyFolder.RUNS / rep["run_id"]
        if not (run_dir / RunFolder.RECON_FIXED).is_file():
            continue
        recon = torch.load(run_dir / RunFolder.RECON_FIXED, weights_only=True)
        scores = None
        if metric and (run_dir / RunFolder.PER_IMAGE).is_file():
            per_image = pd.read_csv(run_dir / RunFolder.PER_IMAGE)
            scores = per_image[metric].to_numpy()[: len(recon)] if metric in per_image else None
        cells = []
        for j, img in enumerate(recon):
            tip = f"{metric} {scores[j]:.4g}" if scores is not None else "no per-image score"
            cells.append(f'<td><img alt="{html.escape(condition)} reconstruction {j}" title="{html.escape(tip)}" '
                         f'src="{_tile_uri(img)}"></td>')
        label = html.escape(f"{model} / {condition} (seed {rep['seed']})")
        rows.append(f"<tr><th>{label}</th>{''.join(cells)}</tr>")
    hint = f" Hover over a tile for its {html.escape(metric)}." if metric else ""
    return (f'<h2 id="gallery">Reconstruction gallery</h2><p>The same test images under every condition.{hint}</p>'
            f'<table class="gallery">{"".join(rows)}</table>')


def content_policy() -> str:
    """The page's Content-Security-Policy, a second wall behind :func:`safe_url` and the escaping:
    no network at all, images only from the page itself, styles inline, and no script but the
    sorting script (by its sha256). A javascript: link or an inline event handler that slipped
    through would not run."""
    import hashlib

    digest = base64.b64encode(hashlib.sha256(SORT_SCRIPT.encode("utf-8")).digest()).decode("ascii")
    return (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; "
            "base-uri 'none'; form-action 'none'")


def build_html(out_dir: Path, runs: pd.DataFrame, spec: dict, figures: list[Path], metric: str | None,
               not_drawn: dict[str, str] | None = None) -> Path:
    """Write DIR/report.html from the Markdown pages and figures the report just wrote;
    ``not_drawn``: figures that failed (name -> why), listed where the figures are."""
    out_dir = Path(out_dir)
    name = spec.get("name") or out_dir.name
    parts = [f"<h1>{html.escape(name)}: report</h1>"]
    if spec.get("description"):
        parts.append(f'<p class="question"><strong>The question.</strong> {html.escape(spec["description"])}</p>')
    summary = (out_dir / StudyFolder.SUMMARY_MD).read_text(encoding="utf-8")
    summary = "\n".join(summary.splitlines()[1:])  # its own title: the page has one
    parts.append(_md(summary))
    for page in ("checks.md", "rate_distortion.md"):
        if (out_dir / page).is_file():
            text = (out_dir / page).read_text(encoding="utf-8").replace("](figures/", "](#fig-")
            parts.append(_md("#" + text if text.startswith("# ") else text))
    parts.append('<h2 id="figures">Figures</h2>')
    if not_drawn:
        parts.append("<p><strong>Not drawn</strong> (the numbers are in the tables above): " + "; ".join(
            f"<code>{html.escape(name)}</code> ({html.escape(why)})" for name, why in not_drawn.items()) + "</p>")
    for path in figures:
        mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
        parts.append(f'<figure id="fig-{path.name}"><img alt="{html.escape(path.stem)}" '
                     f'src="{_png_uri(path.read_bytes(), mime)}"><figcaption>{html.escape(path.name)}</figcaption></figure>')
    parts.append(_gallery(out_dir, runs, metric))
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{content_policy()}\">"
            f"<title>{html.escape(name)}: lossbench report</title><style>{STYLE}</style></head><body>"
            + "\n".join(parts) + f"<script>{SORT_SCRIPT}</script></body></html>\n")
    path = out_dir / StudyFolder.REPORT_HTML
    files.write_text(path, page)
    return path
