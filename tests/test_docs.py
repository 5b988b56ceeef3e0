"""The documentation a user acts on matches what the plugins do."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from scripts.docs_sync import PLUGINS, ROOT, _executable, page_table, settings_table

# Settings the SDK adds to every plugin; Meltano knows them from the declared capabilities.
SDK_SETTINGS = {
    "stream_maps",
    "stream_map_config",
    "faker_config",
    "flattening_enabled",
    "flattening_max_depth",
    "flattening_max_key_length",
    "flattening_separator",
    "batch_config",
    "load_method",
    "validate_records",
    "add_record_metadata",
    "batch_size_rows",
    "process_activate_version_messages",
}


@pytest.mark.parametrize("plugin", PLUGINS)
def test_settings_page_table_matches_about(plugin: str) -> None:
    assert page_table(plugin) == settings_table(plugin), (
        f"docs/settings.md's {plugin} table is out of date: run `python -m scripts.docs_sync`"
    )


def test_settings_tables_live_in_one_place() -> None:
    """Only docs/settings.md holds the generated tables; every other page links to it."""
    holders = [
        path.relative_to(ROOT).as_posix()
        for path in [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("*/README.md")]
        if "settings: start -->" in path.read_text()
    ]
    assert holders == ["docs/settings.md"]


README = ROOT / "README.md"


def test_readme_has_exactly_the_two_commands_for_a_fresh_machine() -> None:
    """`make demo` and `make test`, in one block, and no other make target to learn."""
    text = README.read_text()
    blocks = re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)
    commands = [
        [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]
        for block in blocks
    ]
    assert ["make demo", "make test"] in commands
    assert set(re.findall(r"\bmake [a-z-]+", text)) == {"make demo", "make test"}
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M)
    assert re.search(r"^test:", makefile, re.M)


def test_readme_is_a_landing_page() -> None:
    """The README stays short: install, configure, run, develop, and links to docs/ for the rest.
    A new topic gets a page under docs/ (linked from the README), not a README section."""
    lines = README.read_text().splitlines()
    assert len(lines) <= 260, f"README.md has {len(lines)} lines: move detail to docs/"
    text = "\n".join(lines)
    for dist in ("singer-tap-amplitude", "singer-target-amplitude"):
        assert f"install {dist}" in text, dist
    for plugin in PLUGINS:
        assert re.search(rf"--from-ref \S*hub/{plugin}\.yml", text), plugin


def _about(plugin: str) -> dict:
    out = subprocess.run(
        [_executable(plugin), "--about", "--format=json"], check=True, capture_output=True
    ).stdout
    return json.loads(out)


@pytest.mark.parametrize("plugin", PLUGINS)
def test_meltano_yml_declares_every_setting_with_secrets_sensitive(plugin: str) -> None:
    about = _about(plugin)
    properties = about["settings"]["properties"]
    project = yaml.safe_load(Path(ROOT / "meltano.yml").read_text())
    kind = "extractors" if plugin.startswith("tap-") else "loaders"
    (definition,) = [p for p in project["plugins"][kind] if p["name"] == plugin]
    declared = {s["name"]: s for s in definition["settings"]}

    own = {name for name in properties if name not in SDK_SETTINGS}
    assert set(declared) == own, "meltano.yml and --about disagree on the plugin's settings"
    for name, setting in declared.items():
        assert setting.get("description"), f"{plugin}.{name} has no description in meltano.yml"
        assert setting.get("label"), f"{plugin}.{name} has no label in meltano.yml"
        is_secret = bool(properties[name].get("secret"))
        assert bool(setting.get("sensitive")) == is_secret, f"{plugin}.{name}: sensitive flag"
    assert set(definition["capabilities"]) <= set(about["capabilities"])


# The packages whose modules CONTRIBUTING.md's module map lists, one line each.
MAPPED_PACKAGES = (
    "tap-amplitude/tap_amplitude",
    "target-amplitude/target_amplitude",
    "emulator/amplitude_emulator",
    "scripts",
)


def _module_map() -> set[str]:
    """The module paths CONTRIBUTING.md's module map names, rebuilt from its indentation."""
    text = (ROOT / "CONTRIBUTING.md").read_text()
    block = text.split("\n## Module map\n", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    stack: list[str] = []
    paths = set()
    for line in block.splitlines():
        name = line.split()[0]
        depth = (len(line) - len(line.lstrip(" "))) // 2
        stack[depth:] = [name.rstrip("/")]
        if name.endswith(".py"):
            paths.add("/".join(stack))
    return paths


def test_module_map_names_every_module_once() -> None:
    """A module added, renamed or removed shows in the map of CONTRIBUTING.md."""
    mapped = _module_map()
    actual = {
        path.relative_to(ROOT).as_posix()
        for package in MAPPED_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if path.name != "__init__.py" and "__pycache__" not in path.parts
    }
    missing, gone = sorted(actual - mapped), sorted(mapped - actual)
    assert not missing, f"modules missing from CONTRIBUTING.md's module map: {missing}"
    assert not gone, f"CONTRIBUTING.md's module map names modules that do not exist: {gone}"
