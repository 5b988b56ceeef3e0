"""A Meltano user adds the plugins from their Hub definitions (hub/*.yml), as the READMEs say.

`meltano add --plugin-type <type> <name> --from-ref hub/<name>.yml` in a new project, then
`meltano config list --all <name>`: Meltano knows every setting, its default and the required ones.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def _run(cwd: Path, *args: str) -> str:
    local = ROOT / ".venv-meltano" / "bin" / "meltano"
    meltano = str(local) if local.exists() else shutil.which("meltano")
    if meltano is None:
        pytest.skip("meltano is not installed: `make test` installs it into .venv-meltano")
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "NO_COLOR": "1"}
    env.pop("MELTANO_ENVIRONMENT", None)
    result = subprocess.run(
        [meltano, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"meltano {' '.join(args)}\n{result.stderr[-4000:]}"
    return result.stdout + result.stderr


def test_meltano_adds_both_plugins_from_their_hub_definitions(tmp_path: Path) -> None:
    _run(tmp_path, "init", "--no-usage-stats", "project")
    project = tmp_path / "project"
    for plugin_type, name in (("extractor", "tap-amplitude"), ("loader", "target-amplitude")):
        hub_file = ROOT / "hub" / f"{name}.yml"
        out = _run(
            project, "add", "--plugin-type", plugin_type, name, "--from-ref", str(hub_file),
            "--no-install",
        )  # fmt: skip
        assert f"Added {plugin_type} '{name}'" in out

        hub = yaml.safe_load(hub_file.read_text())
        added = yaml.safe_load((project / "meltano.yml").read_text())["plugins"][f"{plugin_type}s"]
        (definition,) = [p for p in added if p["name"] == name]
        assert definition["pip_url"] == hub["pip_url"]
        assert definition["executable"] == name
        assert [s["name"] for s in definition["settings"]] == [s["name"] for s in hub["settings"]]

        listing = _run(project, "config", "list", "--all", name)
        required = ", ".join(hub["settings_group_validation"][0])
        assert f"Required settings: {required}" in listing
        for setting in hub["settings"]:
            line = next(ln for ln in listing.splitlines() if ln.startswith(f"{setting['name']} "))
            if "value" in setting:  # the default, as Meltano shows it
                assert f"current value: {setting['value']!r} (default)" in line, line
