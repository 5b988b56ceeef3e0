"""Meltano Hub plugin definitions (hub/<plugin>.yml), generated from each plugin's `--about`.

    .venv/bin/python -m scripts.hub_definitions           # rewrite hub/*.yml
    .venv/bin/python -m scripts.hub_definitions --check   # exit 1 when a file is out of date

The settings, capabilities, required settings, description and Python versions come from
`python -m <package> --about --format=json`; the distribution name and URLs from the package's
pyproject.toml; only what the Hub needs beyond those (label, logo, keywords, status) is written
here. The format is the Hub's `_data/meltano/<extractors|loaders>/<name>/<variant>.yml`, as its
`schemas/plugin_definitions/*.schema.json` (github.com/meltano/hub) define it; the rules are
restated in tests/test_hub_definitions.py. A Hub listing is a pull request adding these files.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

ROOT = Path(__file__).resolve().parent.parent
HUB_DIR = ROOT / "hub"

# The SDK's stream_maps setting is one object on the Hub, not one setting per nested key.
_NOT_FLATTENED = frozenset({"stream_maps"})
# JSON schema type -> Meltano setting kind (strings are refined below: secrets, dates, enums).
_KINDS = {
    "string": "string",
    "integer": "integer",
    "number": "decimal",
    "boolean": "boolean",
    "array": "array",
    "object": "object",
}
_ACRONYMS = {"api": "API", "url": "URL", "id": "ID", "eu": "EU", "gc": "GC"}


@dataclass(frozen=True)
class Listing:
    """What the Hub shows beyond what the plugin says of itself."""

    directory: str  # the package folder in this repository
    package: str  # the import package: `python -m <package> --about`
    plugin_type: str  # the Hub's folder: extractors or loaders
    label: str
    logo_url: str
    domain_url: str
    keywords: tuple[str, ...]
    maintenance_status: str = "active"
    # Assigned by the Hub's maintainers; an SDK-based community variant starts at silver.
    quality: str = "silver"


LISTINGS = {
    "tap-amplitude": Listing(
        directory="tap-amplitude",
        package="tap_amplitude",
        plugin_type="extractors",
        label="Amplitude",
        logo_url="/assets/logos/extractors/amplitude.png",
        domain_url="https://amplitude.com/",
        keywords=("api", "meltano_sdk", "product_analytics"),
    ),
    "target-amplitude": Listing(
        directory="target-amplitude",
        package="target_amplitude",
        plugin_type="loaders",
        label="Amplitude",
        # The Hub holds Amplitude's logo once, under extractors.
        logo_url="/assets/logos/extractors/amplitude.png",
        domain_url="https://amplitude.com/",
        keywords=("api", "meltano_sdk", "product_analytics", "reverse_etl"),
    ),
}


def about(package: str) -> dict[str, Any]:
    """`python -m <package> --about --format=json`, parsed."""
    out = subprocess.run(
        [sys.executable, "-m", package, "--about", "--format=json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def label_of(name: str) -> str:
    """`retry_deadline_seconds` -> `Retry Deadline Seconds`, `api_url` -> `API URL`."""
    words = name.replace(".", " ").replace("_", " ").split()
    return " ".join(_ACRONYMS.get(word, word.capitalize()) for word in words)


def _types(prop: dict[str, Any]) -> list[str]:
    """The non-null JSON types a property accepts (from `type`, `oneOf` or `anyOf`)."""
    declared = prop.get("type")
    if declared is None:
        alternatives = prop.get("oneOf") or prop.get("anyOf") or []
        found: list[str] = []
        for alternative in alternatives:
            if isinstance(alternative, dict):
                found.extend(t for t in _types(alternative) if t not in found)
        return found
    declared_list = [declared] if isinstance(declared, str) else list(declared)
    return [t for t in declared_list if t != "null"]


def _kind(prop: dict[str, Any]) -> str:
    types = _types(prop)
    if prop.get("secret"):
        return "password"
    if "enum" in prop:
        return "options"
    if types == ["string"] and prop.get("format") in ("date-time", "date"):
        return "date_iso8601"
    if len(types) == 1:
        return _KINDS.get(types[0], "string")
    return "array" if "array" in types else "string"


def _leaves(properties: dict[str, Any], prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    """(dotted name, schema) of every setting: nested objects with properties are flattened."""
    leaves: list[tuple[str, dict[str, Any]]] = []
    for key, prop in properties.items():
        name = f"{prefix}{key}"
        nested = prop.get("properties")
        if nested and "object" in _types(prop) and name not in _NOT_FLATTENED:
            leaves.extend(_leaves(nested, prefix=f"{name}."))
        else:
            leaves.append((name, prop))
    return leaves


def hub_setting(name: str, prop: dict[str, Any]) -> dict[str, Any]:
    """One entry of the Hub's `settings` list from the setting's JSON schema."""
    kind = _kind(prop)
    setting: dict[str, Any] = {
        "name": name,
        "label": prop.get("title") or label_of(name),
        "kind": kind,
    }
    if prop.get("description"):
        setting["description"] = " ".join(str(prop["description"]).split())
    if kind == "options":
        values = [str(value) for value in prop["enum"] if value is not None]
        setting["options"] = [{"label": value, "value": value} for value in values]
    if prop.get("default") is not None:
        setting["value"] = prop["default"]
    if kind == "password":
        setting["sensitive"] = True
    return setting


def definition(plugin: str, listing: Listing, about_json: dict[str, Any]) -> dict[str, Any]:
    """The Hub definition of `plugin` from its --about and its pyproject.toml."""
    project = tomllib.loads((ROOT / listing.directory / "pyproject.toml").read_text())["project"]
    urls = project["urls"]
    variant = urlparse(urls["Repository"]).path.strip("/").split("/")[0].lower()
    schema = about_json["settings"]
    capabilities = sorted(about_json["capabilities"])
    result: dict[str, Any] = {
        "name": plugin,
        "namespace": plugin.replace("-", "_"),
        "variant": variant,
        "label": listing.label,
        "description": about_json["description"],
        "logo_url": listing.logo_url,
        "pip_url": project["name"],
        "executable": plugin,
        "repo": urls["Repository"],
        "docs": urls["Documentation"],
        "domain_url": listing.domain_url,
        "keywords": list(listing.keywords),
        "maintenance_status": listing.maintenance_status,
        "quality": listing.quality,
        "capabilities": capabilities,
        # Sorted by name, as the Hub's formatter (hub-utils yaml_lint) keeps them.
        "settings": sorted(
            (hub_setting(name, prop) for name, prop in _leaves(schema["properties"])),
            key=lambda setting: str(setting["name"]),
        ),
    }
    if schema.get("required"):
        result["settings_group_validation"] = [sorted(schema["required"])]
    if about_json.get("supported_python_versions"):
        result["supported_python_versions"] = about_json["supported_python_versions"]
    if "structured-logging" in capabilities:
        result["log_parser"] = "singer-sdk"
    return result


def render(plugin: str) -> str:
    """The YAML text of hub/<plugin>.yml."""
    listing = LISTINGS[plugin]
    data = definition(plugin, listing, about(listing.package))
    header = (
        f"# Meltano Hub definition of {plugin}: _data/meltano/{listing.plugin_type}/{plugin}/"
        f"{data['variant']}.yml\n# Generated by `python -m scripts.hub_definitions` from "
        f"`{plugin} --about`; do not edit.\n"
    )
    return header + yaml.safe_dump(data, sort_keys=True, allow_unicode=True, width=10_000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="compare instead of writing; exit 1 on a difference"
    )
    args = parser.parse_args(argv)
    stale = []
    for plugin in LISTINGS:
        path = HUB_DIR / f"{plugin}.yml"
        text = render(plugin)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.relative_to(ROOT))
        else:
            HUB_DIR.mkdir(exist_ok=True)
            path.write_text(text)
    if stale:
        names = ", ".join(str(p) for p in stale)
        sys.stderr.write(f"{names} out of date: run `python -m scripts.hub_definitions`\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
