"""hub/*.yml, the Meltano Hub definitions: what the plugins say of themselves, as the Hub wants."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scripts.hub_definitions import HUB_DIR, LISTINGS, about, render

# The Hub's rules for a plugin definition, restated from github.com/meltano/hub
# schemas/plugin_definitions/{extractors,loaders}.schema.json and schemas/common/*.schema.json
# (checked at 9d28b36, 2026-08-02).
REQUIRED = {"name", "namespace", "variant", "quality"}
COMMON_KEYS = {
    "name", "namespace", "variant", "label", "description", "logo_url", "pip_url", "executable",
    "repo", "docs", "python", "settings", "settings_group_validation", "commands", "capabilities",
    "hidden", "requires", "maintenance_status", "quality", "domain_url", "keywords", "definition",
    "next_steps", "settings_preamble", "usage", "prereq", "supported_python_versions", "log_parser",
}  # fmt: skip
ALLOWED_KEYS = {
    "extractors": COMMON_KEYS | {"metadata", "schema", "select"},
    "loaders": COMMON_KEYS | {"dialect", "target_schema"},
}
CAPABILITIES = {
    "extractors": {
        "properties", "catalog", "discover", "state", "about", "stream-maps", "schema-flattening",
        "activate-version", "batch", "test", "log-based", "structured-logging",
    },
    "loaders": {
        "about", "stream-maps", "activate-version", "batch", "soft-delete", "hard-delete",
        "datatype-failsafe", "schema-flattening", "target-schema", "validate-records",
        "structured-logging",
    },
}  # fmt: skip
SETTING_KEYS = {
    "name", "aliases", "label", "value", "placeholder", "kind", "description", "tooltip",
    "documentation", "env", "value_processor", "value_post_processor", "oauth", "options", "docs",
    "hidden", "sensitive",
}  # fmt: skip
KINDS = {
    "oauth", "hidden", "password", "date_iso8601", "file", "email", "integer", "options", "object",
    "array", "boolean", "string", "decimal",
}  # fmt: skip
MAINTENANCE_STATUS = {"active", "beta", "development", "inactive", "unknown"}
QUALITY = {"gold", "silver", "bronze", "unknown"}


def _committed(plugin: str) -> Path:
    return HUB_DIR / f"{plugin}.yml"


@pytest.mark.parametrize("plugin", sorted(LISTINGS))
def test_committed_hub_definition_is_the_generated_one(plugin: str) -> None:
    assert _committed(plugin).read_text() == render(plugin), (
        f"hub/{plugin}.yml is out of date: run `.venv/bin/python -m scripts.hub_definitions`"
    )


@pytest.mark.parametrize("plugin", sorted(LISTINGS))
def test_hub_definition_follows_the_hub_schema(plugin: str) -> None:
    plugin_type = LISTINGS[plugin].plugin_type
    definition = yaml.safe_load(_committed(plugin).read_text())

    assert set(definition) >= REQUIRED, REQUIRED - set(definition)
    assert set(definition) <= ALLOWED_KEYS[plugin_type], set(definition) - ALLOWED_KEYS[plugin_type]
    assert definition["name"] == plugin
    assert set(definition["capabilities"]) <= CAPABILITIES[plugin_type]
    assert definition["maintenance_status"] in MAINTENANCE_STATUS
    assert definition["quality"] in QUALITY
    assert all(v.startswith("3.") for v in definition["supported_python_versions"])
    names = [setting["name"] for setting in definition["settings"]]
    assert names == sorted(names), "the Hub keeps settings sorted by name"
    assert len(names) == len(set(names))
    for setting in definition["settings"]:
        assert set(setting) <= SETTING_KEYS, (setting["name"], set(setting) - SETTING_KEYS)
        assert setting["kind"] in KINDS, setting
        assert setting.get("label"), setting
        if setting["kind"] == "options":
            assert setting["options"], setting
            assert all(set(option) == {"label", "value"} for option in setting["options"])
    for group in definition.get("settings_group_validation", []):
        assert set(group) <= set(names), group


@pytest.mark.parametrize("plugin", sorted(LISTINGS))
def test_hub_definition_matches_about(plugin: str) -> None:
    """Every setting, secret, default and required setting of --about reaches the Hub."""
    about_json = about(LISTINGS[plugin].package)
    definition = yaml.safe_load(_committed(plugin).read_text())
    settings = {setting["name"]: setting for setting in definition["settings"]}
    properties = about_json["settings"]["properties"]

    assert sorted(definition["capabilities"]) == sorted(about_json["capabilities"])
    assert definition["settings_group_validation"] == [sorted(about_json["settings"]["required"])]
    for name, prop in properties.items():
        if prop.get("properties") and name != "stream_maps":
            assert any(key.startswith(f"{name}.") for key in settings), name
            continue
        setting = settings[name]
        if prop.get("secret"):
            assert setting["kind"] == "password", name
            assert setting["sensitive"] is True, name
        else:
            assert not setting.get("sensitive"), name
        if prop.get("default") is not None:
            assert setting["value"] == prop["default"], name
        if "enum" in prop:
            assert [o["value"] for o in setting["options"]] == [str(v) for v in prop["enum"]]
    assert definition["pip_url"].startswith("singer-")
    assert definition["executable"] == plugin
