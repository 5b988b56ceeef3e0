"""The README's behaviours table: every behaviour names a source and tests that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "emulator" / "README.md"
PREFIXES = {"ET/": "tests/emulator_tests/", "CF": "tests/conformance/test_official_sdk.py"}


def _rows() -> list[list[str]]:
    text = README.read_text()
    table = text[text.index("| Behaviour | Source | Pinned by |") :]
    rows = []
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if not cells[0].startswith("**"):  # section headings have no source
            rows.append(cells)
    return rows


def _tests(cell: str) -> list[tuple[Path, str]]:
    """`ET/file.py::a, ::b, CF::c, tap/x.py::d` -> (file, test name) pairs."""
    found = []
    current: Path | None = None
    for ref in (part.strip() for part in cell.split(",")):
        if ref.startswith("CF::"):
            current, name = ROOT / PREFIXES["CF"], ref[4:]
        elif ref.startswith("::"):
            assert current is not None, ref
            name = ref[2:]
        else:
            path, _, name = ref.partition("::")
            path = path.replace("ET/", PREFIXES["ET/"])
            current = ROOT / (path if path.startswith("tests/") else f"tests/{path}")
        found.append((current, name.split()[0]))
    return found


def test_every_behaviour_has_a_source_and_existing_tests() -> None:
    rows = _rows()
    assert len(rows) > 30
    for behaviour, source, pinned in rows:
        assert source, behaviour
        for path, name in _tests(pinned):
            assert path.is_file(), (behaviour, path)
            assert re.search(rf"^def {re.escape(name)}\(", path.read_text(), re.M), (
                behaviour,
                path.name,
                name,
            )
