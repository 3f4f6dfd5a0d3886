"""mkdocs hook: the pages link to the repository's own files (committed results, study files, the
benchmarks) as ``../results/...``, which is right where the Markdown is read (GitHub, an editor) and
outside mkdocs' docs folder. This hook copies each file a page links to into the site, unrendered,
under ``repository/``, and points the link there, so ``mkdocs build --strict`` still fails on a
link to a file that does not exist."""

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


def on_files(files: Files, config) -> Files:
    files.append(File.generated(config, "index.md", content=home_page()))
    targets = _targets(Path(config["docs_dir"])) | {m.group(2).rstrip("/") for m in LINK.finditer(home_page())}
    for target in sorted(targets):
        path = ROOT / target
        if path.is_file():  # a missing one stays a broken link, which --strict reports
            files.append(RepositoryFile(target, str(ROOT), config["site_dir"], config["use_directory_urls"],
                                        dest_uri=f"repository/{target}"))
    return files


def on_page_markdown(markdown: str, page, config, files: Files) -> str:
    def relink(match: re.Match) -> str:
        target = match.group(2).rstrip("/")
        if files.get_file_from_path(target) is None:
            return match.group(0)
        return f"{match.group(1)}{target}{match.group(3)}"

    return LINK.sub(relink, markdown)
