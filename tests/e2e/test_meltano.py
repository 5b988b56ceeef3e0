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
from urllib.parse import parse_qs

import pytest
from amplitude_emulator import Emulator

from demo.postgres import PRIVACY_SQL, WAREHOUSE_SQL, PostgresUnavailableError, local_postgres

ROOT = Path(__file__).resolve().parents[2]
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"

# One worker runs them all, in turn: they share the repository's Meltano project (.meltano/).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("meltano")]


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
    # UV_COMPILE_BYTECODE: Meltano installs the plugins with `uv pip install`; compiled once
    # here, the plugins' many process starts in these tests cost half as much.
    env = {
        **os.environ,
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "UV_COMPILE_BYTECODE": "1",
    }
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
        "TARGET_AMPLITUDE_LEDGER_PATH": str(tmp_path / "ledger.sqlite"),
        "TARGET_AMPLITUDE__PRIVACY_LEDGER_PATH": str(tmp_path / "privacy-ledger.sqlite"),
    }
    (tmp_path / "output").mkdir()
    return env


def _sent(emulator: Emulator, path: str) -> list[dict]:
    """The identifications the emulator received at a form endpoint since its last reset."""
    out: list[dict] = []
    for request in emulator.requests_to(path):
        form = parse_qs(request.body.decode())
        out.extend(json.loads(form["identification"][0]))
    return out


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
        assert len(_sent(emulator, "/identify")) == 40
        # A scheduled sync runs again (views are read in full): the sync ledger sends nothing
        # Amplitude already has (issue 22).
        emulator.reset_requests()
        run_meltano(env, "run", "tap-postgres", "target-amplitude")
        for path in ("/identify", "/groupidentify", "/batch"):
            assert emulator.requests_to(path) == [], f"{path}: unchanged rows sent again"
        # One customer changes in the warehouse: exactly that profile is sent.
        pg.psql("UPDATE raw.customers SET plan = 'pro' WHERE id = 1")
        run_meltano(env, "run", "tap-postgres", "target-amplitude")
        assert [i["user_id"] for i in _sent(emulator, "/identify")] == ["customer-0001"]
        assert emulator.requests_to("/groupidentify") == []
        assert emulator.requests_to("/batch") == []
    finally:
        server.__exit__(None, None, None)

    project = emulator.project("key-std")
    # 40 customers -> 40 user profiles with the model's columns as properties.
    users = {k: v for k, v in project.users.items() if k.startswith("customer-")}
    assert len(users) == 40
    first = users["customer-0001"]
    assert first["email"] == "user1@example.com"
    assert first["plan"] == "pro"  # the third run's change
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
    assert [r["record"]["order_id"] for r in rejected] == ["order-bad-1"] * 3  # once per run
    assert "n/a" in rejected[0]["reason"]


def test_erasure_table_and_cohort_model_from_postgres_into_amplitude(
    meltano_env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    """docs/mapping.md's privacy examples (deletion, cohort): erasures (incremental) and a cohort
    model (mirrored)."""
    try:
        server = local_postgres()
        pg = server.__enter__()
    except PostgresUnavailableError as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        pg.load_file(WAREHOUSE_SQL)
        pg.load_file(PRIVACY_SQL)
        env = {
            **meltano_env,
            "DEMO_PG_PORT": str(pg.port),
            "TARGET_AMPLITUDE__PRIVACY_REJECTED_RECORDS_PATH": str(tmp_path / "privacy.jsonl"),
        }
        # The customers exist in Amplitude first (the orders model sends their events).
        run_meltano(env, "run", "tap-postgres", "target-amplitude")
        emulator.reset_requests()
        run_meltano(env, "run", "tap-postgres--privacy", "target-amplitude--privacy")
        first = [r for r in emulator.requests_to("/api/2/deletions/users") if r.method == "POST"]
        # A scheduled sync again: erasures are incremental, the cohort is replaced in place.
        emulator.reset_requests()
        run_meltano(env, "run", "tap-postgres--privacy", "target-amplitude--privacy")
        second = [r for r in emulator.requests_to("/api/2/deletions/users") if r.method == "POST"]
    finally:
        server.__exit__(None, None, None)

    project = emulator.project("key-std")
    erased = {f"customer-{i:04d}" for i in range(31, 36)}
    assert [set(json.loads(r.body)["user_ids"]) for r in first] == [erased]
    assert json.loads(first[0].body)["requester"] == "privacy@example.com"
    scheduled = {e["user_id"] for job in project.admin.jobs.values() for e in job.requests}
    assert scheduled == erased
    # Incremental: at most the bookmark's own row is read again (replication key >= bookmark).
    again = {uid for r in second for uid in json.loads(r.body)["user_ids"]}
    assert again <= {"customer-0035"}
    vip = [c for c in project.cohorts() if c["name"] == "VIP customers"]
    assert len(vip) == 1  # the second sync replaced it, never added a second one
    assert vip[0]["owners"] == ["growth@example.com"]
    expected = {f"customer-{i:04d}" for i in range(1, 41) if i % 4 in (2, 3)}
    assert set(project.admin.members[vip[0]["id"]]) == expected
    assert _jsonl(tmp_path / "privacy.jsonl") == []


# -- the scale-out recipe of docs/scale.md ----------------------------------------------------

# Three backfill slices whose bounds are not whole hours (the tap rounds both bounds down, so no
# hour is read by two slices and none is skipped).
SLICES = {
    "a": ("2026-01-01T00:00:00Z", "2026-01-01T07:30:00Z"),
    "b": ("2026-01-01T07:30:00Z", "2026-01-01T16:45:00Z"),
    "c": ("2026-01-01T16:45:00Z", "2026-01-02T00:00:00Z"),
}


def _scale_out_project(tmp_path: Path) -> Path:
    """A project directory laid out as docs/scale.md's recipe says: the repository's meltano.yml
    plus one inherited extractor per slice. Its plugins' virtual environments are the ones
    `meltano install` built for the repository (same pip_url, so nothing is reinstalled)."""
    project = tmp_path / "project"
    (project / ".meltano").mkdir(parents=True)
    text = (ROOT / "meltano.yml").read_text().replace("${MELTANO_PROJECT_ROOT}", str(ROOT))
    slices = "".join(
        f"""  - name: tap-amplitude--backfill-{name}
    inherit_from: tap-amplitude
    config:
      start_date: '{start}'
      end_date: '{end}'
    select: [events.*]
"""
        for name, (start, end) in SLICES.items()
    )
    text = text.replace("  - name: tap-postgres\n", slices + "  - name: tap-postgres\n", 1)
    (project / "meltano.yml").write_text(text)
    for kind in ("extractors", "loaders"):
        (project / ".meltano" / kind).symlink_to(ROOT / ".meltano" / kind)
    return project


def test_scale_out_recipe_three_slices_at_once_from_one_project(
    meltano_env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    project = _scale_out_project(tmp_path)
    env = {
        **meltano_env,
        "MELTANO_STATE_BACKEND_URI": (tmp_path / "state").as_uri(),
        "MELTANO_PROJECT_ROOT": str(project),
    }
    env.pop("TAP_AMPLITUDE_END_DATE")
    # The recipe's one-time setup is `meltano install`, which also creates the system database
    # the jobs share; the plugins are installed already, so only the database is created here.
    run_meltano(env, "--cwd", str(project), "state", "list")
    expected = {
        e["uuid"]
        for e in emulator.project("key-std").export_events("2026-01-01T00", "2026-01-01T23")
    }
    jobs = {}
    for name in SLICES:  # started together, as an orchestrator's parallel tasks are
        output = tmp_path / f"output-{name}"
        output.mkdir()
        jobs[name] = subprocess.Popen(
            [_meltano(), "run", f"tap-amplitude--backfill-{name}", "target-jsonl"],
            cwd=project,
            env={**env, "TARGET_JSONL_DESTINATION_PATH": str(output)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    for name, job in jobs.items():
        _, stderr = job.communicate(timeout=600)
        assert job.returncode == 0, f"slice {name} failed:\n{stderr[-4000:]}"

    delivered = [
        e["uuid"] for name in SLICES for e in _jsonl(tmp_path / f"output-{name}" / "events.jsonl")
    ]
    assert len(delivered) == len(set(delivered)), "an event was delivered by two slices"
    assert set(delivered) == expected, "the slices together missed events"
    hours = [
        hour
        for r in emulator.requests_to("/api/2/export")
        for hour in range(int(r.query["start"][-2:]), int(r.query["end"][-2:]) + 1)
    ]  # every window lies within 2026-01-01
    assert sorted(hours) == list(range(24)), "an hour was read by two slices, or by none"

    for name, (_, end) in SLICES.items():
        state_id = f"emulator:tap-amplitude--backfill-{name}-to-target-jsonl"
        state = json.loads(
            run_meltano({**env}, "--cwd", str(project), "state", "get", state_id).stdout
        )
        bookmark = state["singer_state"]["bookmarks"]["events"]["replication_key_value"]
        assert bookmark[:13] == end[:13], (name, bookmark)  # the slice's end, rounded down

    emulator.reset_requests()
    run_meltano(
        {**env, "TARGET_JSONL_DESTINATION_PATH": str(tmp_path / "output-b")},
        "--cwd",
        str(project),
        "run",
        "tap-amplitude--backfill-b",
        "target-jsonl",
    )
    assert emulator.requests_to("/api/2/export") == [], "a finished slice requested an export"
