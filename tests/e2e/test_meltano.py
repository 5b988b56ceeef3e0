"""End-to-end through Meltano itself, as users run the plugins.

- `meltano run tap-amplitude target-jsonl` twice, with the state kept in Meltano's state backend:
  the second run is incremental (no event twice).
- `meltano run tap-postgres target-amplitude`: a warehouse model (PostgreSQL started here, from the
  distribution's server binaries) loaded into the emulator as user profiles, groups and events.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.postgres import WAREHOUSE_SQL, PostgresUnavailableError, local_postgres
from tests.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"

pytestmark = pytest.mark.e2e


def _meltano() -> str:
    if MELTANO.exists():
        return str(MELTANO)
    found = shutil.which("meltano")
    if found is None:
        pytest.skip("meltano is not installed: `make test` installs it into .venv-meltano")
    return found


def run_meltano(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [_meltano(), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, (
        f"meltano {' '.join(args)} exited {result.returncode}\n{result.stderr[-6000:]}"
    )
    return result


@pytest.fixture(scope="session")
def meltano_installed() -> None:
    """`meltano install` once per session (idempotent; the plugins' venvs live in .meltano/)."""
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    run_meltano(env, "install")


@pytest.fixture
def meltano_env(tmp_path: Path, emulator: Emulator, meltano_installed: None) -> dict[str, str]:
    """The `emulator` environment of meltano.yml, with a state backend of this test's own."""
    env = {
        **os.environ,
        "MELTANO_ENVIRONMENT": "emulator",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        "EMULATOR_URL": emulator.base_url,
        "DEMO_START_DATE": "2026-01-01T00:00:00Z",
        "DEMO_PG_PORT": "5432",
        "DEMO_PG_PASSWORD": "local-trust-auth",
        "TAP_AMPLITUDE_END_DATE": "2026-01-02T00:00:00Z",
        "TARGET_JSONL_DESTINATION_PATH": str(tmp_path / "output"),
        "TARGET_AMPLITUDE_REJECTED_RECORDS_PATH": str(tmp_path / "rejected.jsonl"),
    }
    (tmp_path / "output").mkdir()
    return env


def _jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_extract_all_streams_then_incremental_from_meltano_state(
    meltano_env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    project = emulator.project("key-std")
    expected_uuids = {e["uuid"] for e in project.export_events("2026-01-01T00", "2026-01-01T23")}
    assert expected_uuids, "the emulator fixture holds no events"

    run_meltano(meltano_env, "run", "tap-amplitude", "target-jsonl")
    output = tmp_path / "output"
    events = _jsonl(output / "events.jsonl")
    assert len(events) == len(expected_uuids)
    assert {e["uuid"] for e in events} == expected_uuids
    for stream in ("active_users", "average_session_length", "annotations", "cohorts"):
        assert _jsonl(output / f"{stream}.jsonl"), f"no {stream} records"
    assert _jsonl(output / "events_list.jsonl")

    state_id = "emulator:tap-amplitude-to-target-jsonl"
    state = json.loads(run_meltano(meltano_env, "state", "get", state_id).stdout)
    bookmark = state["singer_state"]["bookmarks"]["events"]
    assert bookmark["replication_key_value"].startswith("2026-01-02T00:00:00")

    emulator.reset_requests()
    run_meltano(meltano_env, "run", "tap-amplitude", "target-jsonl")
    assert len(_jsonl(output / "events.jsonl")) == len(expected_uuids), "events read twice"
    assert emulator.requests_to("/api/2/export") == [], "a finished window was requested again"


def test_warehouse_model_from_postgres_into_amplitude(
    meltano_env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    try:
        server = local_postgres()
        pg = server.__enter__()
    except PostgresUnavailableError as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        pg.load_file(WAREHOUSE_SQL)
        env = {**meltano_env, "DEMO_PG_PORT": str(pg.port)}
        run_meltano(env, "run", "tap-postgres", "target-amplitude")
        # A scheduled sync runs again: nothing may double (insert_id dedup, idempotent ops).
        run_meltano(env, "run", "tap-postgres", "target-amplitude")
    finally:
        server.__exit__(None, None, None)

    project = emulator.project("key-std")
    # 40 customers -> 40 user profiles with the model's columns as properties.
    users = {k: v for k, v in project.users.items() if k.startswith("customer-")}
    assert len(users) == 40
    first = users["customer-0001"]
    assert first["email"] == "user1@example.com"
    assert first["plan"] == "trial"
    assert first["signup_date"].startswith("2025-06-02")
    assert first["trial_end"].startswith("2026-12-02")
    assert first["tags"] == ["newsletter"]
    assert first["lifetime_value"] > 0
    assert project.user_groups["customer-0001"] == {"company": ["account-2"]} or (
        project.user_groups["customer-0001"] == {"company": "account-2"}
    )
    # 8 accounts -> 8 company groups.
    companies = {v: p for (t, v), p in project.groups.items() if t == "company"}
    assert len(companies) == 8
    assert companies["account-2"]["industry"] == "Fintech"
    assert companies["account-2"]["seats"] == 10
    # 200 orders -> 200 events; the one with user_id "n/a" is rejected with its reason.
    orders = [e for e in project.ingested if e.get("event_type") == "Order Completed"]
    assert len(orders) == 200
    # insert_id_field values are namespaced by the stream (tap-postgres: <schema>-<table>).
    stream = "analytics-amplitude_orders"
    assert {e["insert_id"] for e in orders} == {f"{stream}:order-{i}" for i in range(1, 201)}
    assert all(e["groups"].get("company", "").startswith("account-") for e in orders)
    rejected = _jsonl(tmp_path / "rejected.jsonl")
    assert [r["record"]["order_id"] for r in rejected] == ["order-bad-1"] * 2  # once per run
    assert "n/a" in rejected[0]["reason"]
