"""The documentation a user acts on matches what the plugins do."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from scripts.docs_sync import PLUGINS, ROOT, _executable, readme_table, settings_table

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
def test_readme_settings_table_matches_about(plugin: str) -> None:
    assert readme_table(plugin) == settings_table(plugin), (
        f"README's {plugin} settings table is out of date: run `python -m scripts.docs_sync`"
    )


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
