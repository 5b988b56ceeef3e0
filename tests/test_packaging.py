"""What PyPI and an installer see of the two packages, and the CI's pinned actions."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from trove_classifiers import classifiers as valid_classifiers
from trove_classifiers import deprecated_classifiers

from scripts.hub_definitions import about

ROOT = Path(__file__).resolve().parent.parent
# (folder, import package, distribution on PyPI, console script = Meltano plugin name)
PACKAGES = [
    ("tap-amplitude", "tap_amplitude", "singer-tap-amplitude", "tap-amplitude"),
    ("target-amplitude", "target_amplitude", "singer-target-amplitude", "target-amplitude"),
]
# Console scripts per plugin: the plugin itself first, then its helpers.
ENTRY_POINTS = {
    "tap-amplitude": {"tap-amplitude": "tap_amplitude.tap:TapAmplitude.cli"},
    "target-amplitude": {
        "target-amplitude": "target_amplitude.target:TargetAmplitude.cli",
        # Turns a rejected-records file back into Singer input (issue 11).
        "target-amplitude-resend": "target_amplitude.resend:main",
    },
}


def _project(folder: str) -> dict:
    project: dict = tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["project"]
    return project


def _section(text: str, title: str) -> str:
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize(("folder", "package", "dist", "script"), PACKAGES)
def test_pypi_metadata(folder: str, package: str, dist: str, script: str) -> None:
    project = _project(folder)
    assert project["name"] == dist
    assert project["scripts"] == ENTRY_POINTS[script]
    classifiers = project["classifiers"]
    unknown = [c for c in classifiers if c not in valid_classifiers]
    assert not unknown, f"not trove classifiers (PyPI refuses the upload): {unknown}"
    assert not [c for c in classifiers if c in deprecated_classifiers]
    # PEP 639: the SPDX `license` expression replaces License :: classifiers (PyPI refuses both).
    assert project["license"] == "Apache-2.0"
    assert not [c for c in classifiers if c.startswith("License ::")]
    assert "Typing :: Typed" in classifiers
    assert any(c.startswith("Development Status ::") for c in classifiers)
    assert {"Homepage", "Documentation", "Repository", "Issues", "Changelog"} <= set(
        project["urls"]
    )
    assert "version" in project["dynamic"], "the version comes from git tags (hatch-vcs)"
    assert (ROOT / folder / package / "py.typed").exists()
    assert (ROOT / folder / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()


@pytest.mark.parametrize(("folder", "package", "dist", "script"), PACKAGES)
def test_about_reports_the_installed_distribution(
    folder: str, package: str, dist: str, script: str
) -> None:
    """`python -m <package>` runs the plugin, and --about names the distribution's version."""
    about_json = about(package)
    assert about_json["name"] == script
    assert about_json["version"] == metadata.version(dist)
    assert about_json["supported_python_versions"], "read from the distribution's classifiers"


@pytest.mark.parametrize(("folder", "package", "dist", "script"), PACKAGES)
def test_package_readme_stands_alone_on_pypi(
    folder: str, package: str, dist: str, script: str
) -> None:
    """PyPI shows the package README without the repository: no relative links, and the
    settings and capabilities it names are the plugin's own."""
    text = (ROOT / folder / "README.md").read_text()
    relative = re.findall(r"\]\((?!https?://|#)([^)]+)\)", text)
    assert not relative, f"{folder}/README.md links relative paths: {relative}"
    assert f"install {dist}" in text

    about_json = about(package)
    # Each bullet of the Settings section names settings before its first ": ".
    bullets = [" ".join(b.split()) for b in _section(text, "Settings").split("\n- ")[1:]]
    named = {n for b in bullets for n in re.findall(r"`([a-z][a-z0-9_]*)`", b.split(": ")[0])}
    assert named
    unknown = named - set(about_json["settings"]["properties"])
    assert not unknown, f"{folder}/README.md names settings --about does not have: {unknown}"
    capabilities = set(re.findall(r"`([a-z-]+)`", _section(text, "Capabilities")))
    assert capabilities, "the README lists the capabilities"
    extra = capabilities - set(about_json["capabilities"])
    assert not extra, f"{folder}/README.md names capabilities --about does not have: {extra}"


def test_ci_actions_are_pinned_by_commit_sha() -> None:
    uses = []
    for workflow in (ROOT / ".github" / "workflows").glob("*.yml"):
        uses += re.findall(r"^\s*-?\s*uses:\s*(\S+)(.*)$", workflow.read_text(), flags=re.M)
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action
        assert re.search(r"#\s*v\d", comment), f"{action}: name the version in a comment"
