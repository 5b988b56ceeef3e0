"""Every link of the repository's Markdown resolves, and every page is reachable from the README."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from scripts.doc_links import (
    REPO_URL,
    ROOT,
    anchors,
    broken_links,
    markdown_files,
    reachable_from,
)

# The pages a reader must be able to reach from the README (docs/ is globbed: a new page counts).
PAGES = [
    "CONTRIBUTING.md",
    "tap-amplitude/README.md",
    "target-amplitude/README.md",
    "emulator/README.md",
    "benchmarks/README.md",
]


def test_no_broken_link_in_any_markdown_file() -> None:
    broken = broken_links()
    assert not broken, "broken links:\n" + "\n".join(str(link) for link in broken)


def test_the_check_covers_every_documentation_file() -> None:
    checked = {path.relative_to(ROOT).as_posix() for path in markdown_files()}
    docs = {path.relative_to(ROOT).as_posix() for path in ROOT.glob("docs/*.md")}
    assert len(docs) >= 8, docs
    assert {"README.md", *PAGES, *docs} <= checked


def test_every_page_is_reachable_from_the_readme() -> None:
    reachable = {path.relative_to(ROOT).as_posix() for path in reachable_from(ROOT / "README.md")}
    docs = {path.relative_to(ROOT).as_posix() for path in ROOT.glob("docs/*.md")}
    unreachable = ({*PAGES} | docs) - reachable
    assert not unreachable, f"pages no link leads to from README.md: {sorted(unreachable)}"


@pytest.mark.parametrize("folder", ["tap-amplitude", "target-amplitude"])
def test_package_urls_name_the_checked_repository(folder: str) -> None:
    """The link check maps GitHub links of REPO_URL to the checkout: it must be the repository
    the packages name, or their links would go unchecked."""
    urls = tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["project"]["urls"]
    assert urls["Repository"] == REPO_URL


# -- the checker itself, on a repository made up for the test ----------------------------------


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Why don't I see a property in Amplitude?", "why-dont-i-see-a-property-in-amplitude"),
        ("Top-level keys (`fields`)", "top-level-keys-fields"),
        ("insert_id: why re-runs never duplicate", "insert_id-why-re-runs-never-duplicate"),
        ("`$identify` and `$groupidentify` events", "identify-and-groupidentify-events"),
        ("Try it on the emulator: `make demo`", "try-it-on-the-emulator-make-demo"),
        ("Café & crème", "café--crème"),
    ],
)
def test_slugs_follow_github(heading: str, slug: str) -> None:
    assert anchors(f"# {heading}\n") == {slug}


def test_repeated_headings_and_code_blocks() -> None:
    text = '## Usage\n\n```sh\n# not a heading\n```\n\n## Usage\n\n<a id="custom"></a>\n'
    assert anchors(text) == {"usage", "usage-1", "custom"}


def _repo(tmp_path: Path, page: str) -> Path:
    (tmp_path / "docs").mkdir()
    readme = "# Project\n\n## Install\n\nSee [the guide](docs/guide.md).\n"
    (tmp_path / "README.md").write_text(readme)
    (tmp_path / "docs" / "guide.md").write_text(page)
    return tmp_path


def _reasons(root: Path) -> list[str]:
    return [f"{link.file}:{link.line}: {link.reason}" for link in broken_links(root)]


def test_a_good_page_passes(tmp_path: Path) -> None:
    page = (
        "# Guide\n\n## Step one\n\nBack to [install](../README.md#install), on to\n"
        "[step\none](#step-one), [the repo](https://github.com/singer-amplitude/"
        "tap-target-amplitude/blob/main/docs/guide.md#guide), [elsewhere](https://example.com/x).\n"
        "\n```md\n[inside code](missing.md)\n```\n"
    )
    assert _reasons(_repo(tmp_path, page)) == []


@pytest.mark.parametrize(
    ("link", "reason"),
    [
        ("[gone](missing.md)", "no such file or folder: docs/missing.md"),
        ("[old section](../README.md#usage)", "no heading with the anchor #usage in README.md"),
        ("[here](#nowhere)", "no heading with the anchor #nowhere in docs/guide.md"),
        ("[up](../../outside.md)", "points outside the repository"),
        ("[ref]: ./nothing/here.md", "no such file or folder: docs/nothing/here.md"),
        (
            "`--from-ref https://raw.githubusercontent.com/singer-amplitude/tap-target-amplitude/"
            "main/hub/x.yml`",
            "no such file or folder: hub/x.yml",
        ),
        (
            "[pypi](https://github.com/singer-amplitude/tap-target-amplitude/blob/main/docs/"
            "guide.md#missing)",
            "no heading with the anchor #missing in docs/guide.md",
        ),
    ],
)
def test_a_broken_link_is_reported_with_its_place(tmp_path: Path, link: str, reason: str) -> None:
    root = _repo(tmp_path, f"# Guide\n\nText.\n\n{link}\n")
    assert _reasons(root) == [f"docs/guide.md:5: {reason}"]


def test_an_unlinked_page_is_not_reachable(tmp_path: Path) -> None:
    root = _repo(tmp_path, "# Guide\n")
    (root / "docs" / "orphan.md").write_text("# Orphan\n")
    reachable = {path.name for path in reachable_from(root / "README.md", root)}
    assert reachable == {"README.md", "guide.md"}
