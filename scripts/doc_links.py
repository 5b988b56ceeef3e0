"""Checks every link of the repository's Markdown files, offline.

A relative link must name a file or folder of the repository, and its `#anchor` a heading of the
Markdown file it points at, as GitHub renders it (GitHub's heading slugs, `-1`, `-2` for repeats).
Links to this repository on GitHub (`.../blob/main/<path>`, `.../tree/main/<path>`,
`raw.githubusercontent.com/.../main/<path>`, the repository's own `#anchor`) are checked the same
way against the checkout, wherever they appear (code blocks too): the package READMEs that PyPI
shows must use them, since PyPI cannot resolve a relative link. Other web links are not fetched.

`python -m scripts.doc_links` prints the broken links and exits 1 when there are any;
tests/test_doc_links.py runs the same check.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The repository as PyPI, Meltano Hub and the package READMEs name it (pyproject's Repository).
REPO_URL = "https://github.com/singer-amplitude/tap-target-amplitude"
_RAW_URL = "https://raw.githubusercontent.com/singer-amplitude/tap-target-amplitude/main/"

# Folders never scanned: environments, caches, build output, the demo's and Meltano's files.
_SKIP_DIRS = {"node_modules", "__pycache__", "build", "dist", "output", "plugins", "site"}
# Files that name repository URLs outside Markdown: checked for those URLs only.
URL_FILES = ("tap-amplitude/pyproject.toml", "target-amplitude/pyproject.toml", "hub/*.yml")

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")  # fences in list items are indented too
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_HTML_ANCHOR = re.compile(r"""<a\s+(?:[^>]*?\s)?(?:id|name)=["']([^"']+)["']""", re.I)
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# [text](target "title") and ![alt](target); the text may hold one level of brackets.
_INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)"
)
_REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*<?(\S+?)>?(?:\s|$)", re.M)
_REPO_LINK = re.compile(
    re.escape(REPO_URL) + r"(?:/(?:blob|tree)/main/[^\s)>\]\"'`]*)?(?:#[\w-]*)?(?![\w/.-])"
    r"|" + re.escape(_RAW_URL) + r"[^\s)>\]\"'`#]+"
)


@dataclass(frozen=True)
class BrokenLink:
    """A link that does not resolve: where it is and why."""

    file: str
    line: int
    target: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.target}: {self.reason}"


def slugify(heading: str) -> str:
    """GitHub's anchor for a heading's rendered text (github-slugger): lower case, every
    character but letters, digits, marks, `_`, `-` and spaces dropped, spaces to hyphens."""
    kept = []
    for char in heading.lower():
        category = unicodedata.category(char)
        if char in " -_" or category[0] in "LNM" or category == "Pc":
            kept.append(char)
    return "".join(kept).replace(" ", "-")


def _rendered(heading: str) -> str:
    """A heading's text as GitHub renders it: code spans, links, images and HTML tags unwrapped."""
    text = _CODE_SPAN.sub(lambda m: m.group(2).strip(), heading)
    text = re.sub(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    # Emphasis markers (`*x*`, `**x**`, `_x_` around words) are not part of the text.
    return re.sub(r"(?<![\w])[*_]{1,3}(?=\S)|(?<=\S)[*_]{1,3}(?![\w])", "", text)


def _lines_outside_code(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of the lines that are not inside a fenced code block."""
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = _FENCE.match(line)
        if fence is None:
            if match:
                fence = match.group(1)
                continue
            yield number, line
        elif match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
            fence = None


def anchors(text: str) -> set[str]:
    """Every `#anchor` a Markdown file has on GitHub: its headings' slugs and HTML ids."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in _lines_outside_code(text):
        found.update(_HTML_ANCHOR.findall(line))
        heading = _HEADING.match(line)
        if heading is None:
            continue
        slug = slugify(_rendered(heading.group(2)))
        unique = slug
        while unique in seen:
            seen[slug] += 1
            unique = f"{slug}-{seen[slug]}"
        seen[unique] = 0
        found.add(unique)
    return found


def links(text: str) -> Iterator[tuple[int, str]]:
    """(line number, target) of every inline link, image and reference definition outside code,
    and of every link to this repository on GitHub anywhere in the file."""
    # The prose, code blocks blanked (line numbers kept): a link's text may wrap over lines.
    kept = dict(_lines_outside_code(text))
    prose = "\n".join(
        _CODE_SPAN.sub("code", kept.get(number, ""))
        for number in range(1, len(text.splitlines()) + 1)
    )
    for match in _INLINE_LINK.finditer(prose):
        yield prose.count("\n", 0, match.start()) + 1, match.group(1)
    for match in _REFERENCE_DEF.finditer(prose):
        yield prose.count("\n", 0, match.start()) + 1, match.group(1)
    for number, line in enumerate(text.splitlines(), start=1):
        for match in _REPO_LINK.finditer(line):
            if not _is_prose_link(line, match.start()):
                yield number, match.group(0).rstrip(".,;:")


def _is_prose_link(line: str, start: int) -> bool:
    """Whether the URL at `start` is the target of an inline link (already yielded above)."""
    return line[:start].endswith(("](", "](<"))


def _repository_path(target: str) -> str | None:
    """`path#anchor` inside the repository for a GitHub or raw URL of it; None for other URLs."""
    if target.startswith(_RAW_URL):
        return target[len(_RAW_URL) :]
    if not target.startswith(REPO_URL):
        return None
    rest = target[len(REPO_URL) :]
    if rest in ("", "#readme"):
        return "README.md"
    if rest.startswith("#"):
        return "README.md" + rest
    match = re.fullmatch(r"/(?:blob|tree)/main/(.*)", rest)
    return match.group(1) if match else None


def check_link(
    source: Path, target: str, *, cache: dict[Path, set[str]], root: Path = ROOT
) -> str | None:
    """Why `target`, linked from `source` (a file of `root`), is broken; None when it resolves."""
    root = root.resolve()
    repository = _repository_path(target)
    if repository is not None:
        path_part, _, anchor = repository.partition("#")
        resolved = (root / path_part) if path_part else source
    elif re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
        return None  # another site, mailto:, ...: not fetched
    else:
        path_part, _, anchor = target.partition("#")
        path_part = path_part.split("?", 1)[0]
        if not path_part:
            resolved = source
        elif path_part.startswith("/"):
            resolved = root / path_part.lstrip("/")
        else:
            resolved = source.parent / path_part
    resolved = resolved.resolve()
    if not resolved.is_relative_to(root):
        return "points outside the repository"
    name = resolved.relative_to(root).as_posix()
    if not resolved.exists():
        return f"no such file or folder: {name}"
    if anchor and resolved.suffix.lower() == ".md":
        if resolved not in cache:
            cache[resolved] = anchors(resolved.read_text(encoding="utf-8"))
        if anchor not in cache[resolved]:
            return f"no heading with the anchor #{anchor} in {name}"
    return None


def markdown_files(root: Path = ROOT) -> list[Path]:
    """Every Markdown file of the repository (hidden folders and build output left out)."""
    root = root.resolve()
    found = []
    for path in sorted(root.rglob("*.md")):
        parts = path.relative_to(root).parts[:-1]
        if any(part.startswith(".") or part in _SKIP_DIRS for part in parts):
            continue
        found.append(path)
    return found


def url_files(root: Path = ROOT) -> list[Path]:
    """The other files whose repository URLs are checked (package metadata, Hub definitions)."""
    return sorted(path for pattern in URL_FILES for path in root.resolve().glob(pattern))


def broken_links(root: Path = ROOT) -> list[BrokenLink]:
    """Every broken link of the Markdown and URL files of the repository at `root`."""
    root = root.resolve()
    cache: dict[Path, set[str]] = {}
    broken = []
    for file in [*markdown_files(root), *url_files(root)]:
        text = file.read_text(encoding="utf-8")
        found = links(text) if file.suffix == ".md" else _url_links(text)
        for number, target in found:
            reason = check_link(file, target, cache=cache, root=root)
            if reason is not None:
                name = file.relative_to(root).as_posix()
                broken.append(BrokenLink(name, number, target, reason))
    return broken


def _url_links(text: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        for match in _REPO_LINK.finditer(line):
            yield number, match.group(0).rstrip(".,;:")


def linked_files(source: Path, root: Path = ROOT) -> set[Path]:
    """The files of the repository at `root` that `source` links to (resolved, no anchors)."""
    found = set()
    for _, target in links(source.read_text(encoding="utf-8")):
        repository = _repository_path(target)
        if repository is not None:
            path_part = repository.partition("#")[0]
            base = root
        elif re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            continue
        else:
            path_part = target.partition("#")[0].split("?", 1)[0]
            base = root if path_part.startswith("/") else source.parent
        if path_part:
            found.add((base / path_part.lstrip("/")).resolve())
    return found


def reachable_from(start: Path, root: Path = ROOT) -> set[Path]:
    """Every Markdown file reachable from `start` by following links between Markdown files."""
    seen = {start.resolve()}
    queue = [start.resolve()]
    while queue:
        for target in linked_files(queue.pop(), root):
            if target.suffix.lower() == ".md" and target.is_file() and target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def main() -> int:
    broken = broken_links()
    for link in broken:
        sys.stdout.write(f"{link}\n")
    files = len(markdown_files()) + len(url_files())
    sys.stderr.write(f"{len(broken)} broken link(s) in {files} files\n")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
