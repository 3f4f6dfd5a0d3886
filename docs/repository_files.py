"""mkdocs hook: the pages link to the repository's own files (committed results, study files, the
benchmarks) as ``../results/...``, which is right where the Markdown is read (GitHub, an editor) and
outside mkdocs' docs folder. This hook copies each file a page links to into the site under
``repository/``, and points the link there, so ``mkdocs build --strict`` still fails on a link to a
file that does not exist. A Markdown file outside the docs (``benchmarks/README.md``) and a notebook
(``examples/*.ipynb``) become pages of the site, rendered (a notebook's cells as Markdown and code),
with the file itself beside them to download; other files are served as they are."""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"(\]\()\.\./([^)\s#]+)((?:#[^)\s]*)?\))")


class RepositoryFile(File):
    """A repository file served as it is (a Markdown file too: it is the study's, not a page)."""

    def is_documentation_page(self) -> bool:
        return False


def _targets(docs: Path) -> set[str]:
    found = set()
    for page in docs.glob("*.md"):
        for match in LINK.finditer(page.read_text(encoding="utf-8")):
            found.add(match.group(2).rstrip("/"))
    return found


README_LINK = re.compile(r"(\]\()(?!https?:|#|mailto:)([^)\s]+\))")


def home_page() -> str:
    """The README is the home page: its links to docs/ become links between pages, its links to the
    repository's files go through ``../`` like every page's."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return README_LINK.sub(lambda m: m.group(1) + (m.group(2)[len("docs/"):] if m.group(2).startswith("docs/")
                                                 else "../" + m.group(2)), text)


def rendered_page(target: str) -> str | None:
    """Where a repository file a page links to is rendered as a page of its own (None: served as it is). The
    benchmarks' README and the notebooks are read as pages; a study's summary.md stays the study's file, its
    links to its figures relative to it."""
    if target.endswith(".md") and target.startswith("benchmarks/"):
        return f"repository/{target}"
    if target.endswith(".ipynb"):
        return f"repository/{target[: -len('.ipynb')]}.md"
    return None


def notebook_markdown(path: Path) -> str:
    """A notebook as a page: its Markdown cells as they are, its code cells as Python blocks, their text
    outputs as text blocks (read as JSON: nbformat is the notebook extra's, not the docs')."""
    import json

    notebook = json.loads(path.read_text(encoding="utf-8"))
    parts = [f"*The notebook `{path.relative_to(ROOT).as_posix()}`, rendered; "
             f"[download it]({path.name}) to run it (`pip install -e \".[notebook]\"`).*"]
    for cell in notebook.get("cells", []):
        source = "".join(cell.get("source", []))
        if cell.get("cell_type") == "markdown":
            parts.append(source)
        elif cell.get("cell_type") == "code":
            parts.append(f"```python\n{source}\n```")
            for output in cell.get("outputs", []):
                text = "".join(output.get("text", []) or output.get("data", {}).get("text/plain", []))
                if text:
                    parts.append(f"```text\n{text}\n```")
    return "\n\n".join(parts) + "\n"


def on_files(files: Files, config) -> Files:
    files.append(File.generated(config, "index.md", content=home_page()))
    targets = _targets(Path(config["docs_dir"])) | {m.group(2).rstrip("/") for m in LINK.finditer(home_page())}
    for target in sorted(targets):
        path = ROOT / target
        if not path.is_file():  # a missing one stays a broken link, which --strict reports
            continue
        page = rendered_page(target)
        if page is not None:
            content = notebook_markdown(path) if target.endswith(".ipynb") else path.read_text(encoding="utf-8")
            files.append(File.generated(config, page, content=content))
        if target.endswith(".ipynb"):  # the notebook itself too, to download beside its page
            files.append(File.generated(config, f"repository/{target}", abs_src_path=str(path)))
        elif page is None:
            files.append(RepositoryFile(target, str(ROOT), config["site_dir"], config["use_directory_urls"],
                                        dest_uri=f"repository/{target}"))
    return files


def on_page_markdown(markdown: str, page, config, files: Files) -> str:
    def relink(match: re.Match) -> str:
        target = match.group(2).rstrip("/")
        rendered = rendered_page(target)
        if rendered is not None and files.get_file_from_path(rendered) is not None:
            return f"{match.group(1)}{rendered}{match.group(3)}"
        if files.get_file_from_path(target) is None:
            return match.group(0)
        return f"{match.group(1)}{target}{match.group(3)}"

    return IMAGE.sub(lambda m: f"[{m.group(0)}]({m.group(2)})", LINK.sub(relink, markdown))


#: a figure on its own line: on the site it links to itself, so a click shows it at full size (a page's column
#: draws a wide figure too small to read)
IMAGE = re.compile(r"^!\[([^\]]*)\]\(([^)\s]+)\)", flags=re.M)
