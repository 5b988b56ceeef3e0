"""Keeps the settings tables of docs/settings.md equal to what the plugins say of themselves.

`python -m scripts.docs_sync` rewrites the tables between the page's markers from
`<plugin> --about --format=markdown`; tests/test_docs.py fails when they drift.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_PAGE = ROOT / "docs" / "settings.md"
PLUGINS = ("tap-amplitude", "target-amplitude")


def _executable(plugin: str) -> str:
    local = Path(sys.executable).with_name(plugin)
    return str(local) if local.exists() else (shutil.which(plugin) or plugin)


def settings_table(plugin: str) -> str:
    """The settings table of `<plugin> --about --format=markdown`, as printed."""
    about = subprocess.run(
        [_executable(plugin), "--about", "--format=markdown"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"^## Settings\n\n(.*?)(?:\n\n|\Z)", about, flags=re.S | re.M)
    if match is None:
        msg = f"{plugin} --about --format=markdown printed no '## Settings' table"
        raise RuntimeError(msg)
    return match.group(1).strip()


def _markers(plugin: str) -> tuple[str, str]:
    return f"<!-- {plugin} settings: start -->", f"<!-- {plugin} settings: end -->"


def page_table(plugin: str, text: str | None = None) -> str:
    """The table docs/settings.md holds for `plugin`, between its markers."""
    text = SETTINGS_PAGE.read_text() if text is None else text
    start, end = _markers(plugin)
    try:
        return text.split(start, 1)[1].split(end, 1)[0].strip()
    except IndexError as exc:
        msg = f"docs/settings.md lacks the markers {start!r} ... {end!r}"
        raise RuntimeError(msg) from exc


def write_settings_page() -> None:
    """Replace each plugin's table in docs/settings.md with the one its --about prints."""
    text = SETTINGS_PAGE.read_text()
    for plugin in PLUGINS:
        start, end = _markers(plugin)
        old = page_table(plugin, text)
        text = text.replace(f"{start}\n{old}\n{end}", f"{start}\n{settings_table(plugin)}\n{end}")
    SETTINGS_PAGE.write_text(text)


if __name__ == "__main__":
    write_settings_page()
