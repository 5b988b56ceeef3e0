"""The sync ledger end to end: the target CLI run again and again into the emulator.

What a user sees: what the emulator received (requests, identifications), the summary line's
unchanged= figure, exit codes and errors. Each run here is a real subprocess sharing one
ledger file in the test's folder.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import typing as t
from pathlib import Path
from urllib.parse import parse_qs

from target_amplitude.ledger.store import LedgerStore

from tests.target.helpers import FAST_RETRIES, Run, props, record, run_target, schema, state
from tests.target.metrics import points, total

if t.TYPE_CHECKING:
    from amplitude_emulator import Emulator

USERS = {"customers": {"object": "user", "user_id_field": "id"}}
ORDERS = {
    "orders": {
        "object": "event",
        "event_type": "Order Completed",
        "user_id_field": "customer_id",
        "insert_id_field": "order_id",
    }
}


def _config(
    emulator: Emulator, tmp_path: Path, mappings: dict[str, t.Any], **extra: t.Any
) -> dict[str, t.Any]:
    return {
        "api_key": "key-std",
        "api_url": emulator.base_url,
        "stream_mappings": mappings,
        "ledger_path": str(tmp_path / "ledger.sqlite"),
        **FAST_RETRIES,
        **extra,
    }


def _customers(plans: dict[str, str]) -> list[str]:
    return [
        schema("customers", props("id", "plan"), ["id"]),
        *(record("customers", {"id": uid, "plan": plan}) for uid, plan in plans.items()),
        state({"bookmarks": {"customers": {"n": len(plans)}}}),
    ]


def _orders(ids: t.Iterable[int]) -> list[str]:
    return [
        schema("orders", props("order_id", "customer_id"), ["order_id"]),
        *(record("orders", {"order_id": f"o-{i}", "customer_id": f"customer-{i}"}) for i in ids),
        state({"bookmarks": {"orders": "done"}}),
    ]


def _identified(emulator: Emulator) -> list[dict[str, t.Any]]:
    out: list[dict[str, t.Any]] = []
    for req in emulator.requests_to("/identify"):
        form = parse_qs(req.body.decode())
        out.extend(json.loads(form["identification"][0]))
    return out


def _run(tmp_path: Path, config: dict[str, t.Any], lines: list[str], emulator: Emulator) -> Run:
    emulator.reset_requests()
    return run_target(tmp_path, config, lines)


def _ok(run: Run) -> Run:
    assert run.returncode == 0, run.stderr[-3000:]
    return run


PLANS = {f"customer-{i:03}": "free" for i in range(50)}


def test_unchanged_profiles_are_not_sent_again_changed_ones_are(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    config = _config(clean_emulator, tmp_path, USERS)
    first = _ok(_run(tmp_path, config, _customers(PLANS), clean_emulator))
    assert len(_identified(clean_emulator)) == 50
    assert "unchanged=" not in first.stderr

    second = _ok(_run(tmp_path, config, _customers(PLANS), clean_emulator))
    assert clean_emulator.requests_to("/identify") == []
    assert "Summary stream=customers in=50 accepted=0 rejected=0" in second.stderr
    assert "unchanged=50" in second.stderr
    assert second.states == [{"bookmarks": {"customers": {"n": 50}}}]
    found = points(second.stderr)
    assert total(found, "record_count", stream="customers", outcome="unchanged") == 50
    assert total(found, "record_count", stream="customers", outcome="accepted") == 0

    changed = {**PLANS, "customer-007": "pro", "customer-042": "team"}
    third = _ok(_run(tmp_path, config, _customers(changed), clean_emulator))
    sent = _identified(clean_emulator)
    assert sorted(i["user_id"] for i in sent) == ["customer-007", "customer-042"]
    assert "unchanged=48" in third.stderr
    assert clean_emulator.project("key-std").profile_for("customer-042", None)["plan"] == "team"


def test_events_are_created_once_ever(clean_emulator: Emulator, tmp_path: Path) -> None:
    config = _config(clean_emulator, tmp_path, ORDERS)
    _ok(_run(tmp_path, config, _orders(range(30)), clean_emulator))
    assert len(clean_emulator.requests_to("/batch")) >= 1
    again = _ok(_run(tmp_path, config, _orders(range(35)), clean_emulator))
    bodies = [json.loads(r.body) for r in clean_emulator.requests_to("/batch")]
    sent = sorted(e["insert_id"] for body in bodies for e in body["events"])
    assert sent == sorted(f"orders:o-{i}" for i in range(30, 35))
    assert "unchanged=30" in again.stderr


def test_sync_mode_all_and_full_resync_send_everything(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    config = _config(clean_emulator, tmp_path, USERS)
    _ok(_run(tmp_path, config, _customers(PLANS), clean_emulator))
    _ok(_run(tmp_path, {**config, "full_resync": True}, _customers(PLANS), clean_emulator))
    assert len(_identified(clean_emulator)) == 50
    # ... and full_resync refreshed the ledger: the next ordinary run sends nothing.
    _ok(_run(tmp_path, config, _customers(PLANS), clean_emulator))
    assert _identified(clean_emulator) == []
    every = {"customers": {**USERS["customers"], "sync_mode": "all"}}
    _ok(_run(tmp_path, {**config, "stream_mappings": every}, _customers(PLANS), clean_emulator))
    assert len(_identified(clean_emulator)) == 50


def test_dry_run_previews_new_changed_unchanged_and_writes_nothing(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    config = _config(clean_emulator, tmp_path, USERS)
    _ok(_run(tmp_path, config, _customers(PLANS), clean_emulator))
    ledger = tmp_path / "ledger.sqlite"
    before = ledger.read_bytes()
    preview = {**PLANS, "customer-001": "pro", "customer-new": "free"}
    dry = _ok(_run(tmp_path, {**config, "dry_run": True}, _customers(preview), clean_emulator))
    assert clean_emulator.requests == []
    assert "new=1 changed=1 unchanged=49 removed=0" in dry.stderr
    assert ledger.read_bytes() == before
    # A dry run on a project without a ledger creates none.
    other = tmp_path / "none"
    other.mkdir()
    fresh = {**config, "dry_run": True, "ledger_path": str(other / "ledger.sqlite")}
    dry = _ok(_run(tmp_path, fresh, _customers(PLANS), clean_emulator))
    assert "new=50 changed=0 unchanged=0" in dry.stderr
    assert not (other / "ledger.sqlite").exists()


def test_rows_are_recorded_only_once_acknowledged(clean_emulator: Emulator, tmp_path: Path) -> None:
    """A run that fails (Amplitude answers 500 past the retry deadline) records nothing it did
    not get acknowledged: the next run sends those rows."""
    config = _config(clean_emulator, tmp_path, USERS, retry_deadline_seconds=0.5)
    clean_emulator.faults.statuses("/identify", [500] * 1000)
    failed = _run(tmp_path, config, _customers(PLANS), clean_emulator)
    assert failed.returncode != 0
    assert failed.states == []
    clean_emulator.faults.clear()
    _ok(_run(tmp_path, config, _customers(PLANS), clean_emulator))
    assert len(_identified(clean_emulator)) == 50


# -- Bad input: each a clear error before anything is sent ---------------------------------


def test_a_second_run_on_a_locked_ledger_fails_fast(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    config = _config(clean_emulator, tmp_path, USERS)
    holder = LedgerStore(tmp_path / "ledger.sqlite")
    holder.lock("run-elsewhere")
    try:
        run = _run(tmp_path, config, _customers(PLANS), clean_emulator)
    finally:
        holder.close()
    assert run.returncode == 1
    assert "LedgerLockedError" in run.stderr
    assert f"{tmp_path / 'ledger.sqlite'} is in use by another run (run run-elsewhere" in run.stderr
    assert "Nothing was sent" in run.stderr
    assert clean_emulator.requests == []
    assert run.states == []


def test_a_corrupt_ledger_fails_fast_naming_the_file_and_the_way_out(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    ledger.write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    run = _run(
        tmp_path, _config(clean_emulator, tmp_path, USERS), _customers(PLANS), clean_emulator
    )
    assert run.returncode == 1
    assert f"The sync ledger {ledger} is unreadable" in run.stderr
    assert f"move {ledger} aside" in run.stderr
    assert clean_emulator.requests == []
    assert run.states == []


def test_mirror_on_events_is_a_config_error(clean_emulator: Emulator, tmp_path: Path) -> None:
    mappings = {"orders": {**ORDERS["orders"], "sync_mode": "mirror"}}
    run = _run(
        tmp_path, _config(clean_emulator, tmp_path, mappings), _orders(range(3)), clean_emulator
    )
    assert run.returncode == 1
    assert (
        "stream_mappings.orders.sync_mode: 'mirror' is not allowed for object: event" in run.stderr
    )
    assert clean_emulator.requests == []
    assert not (tmp_path / "ledger.sqlite").exists()


def test_the_ledger_stores_no_api_key(clean_emulator: Emulator, tmp_path: Path) -> None:
    _ok(_run(tmp_path, _config(clean_emulator, tmp_path, USERS), _customers(PLANS), clean_emulator))
    raw = (tmp_path / "ledger.sqlite").read_bytes()
    assert b"key-std" not in raw
    conn = sqlite3.connect(tmp_path / "ledger.sqlite")
    assert conn.execute("SELECT count(*) FROM entries").fetchone() == (50,)
    assert conn.execute("SELECT count(*) FROM run_lock").fetchone() == (0,)


# -- mirror: ACTIVATE_VERSION ---------------------------------------------------------------


def _activate(stream: str, version: int) -> str:
    return json.dumps({"type": "ACTIVATE_VERSION", "stream": stream, "version": version})


def test_mirror_unsets_the_properties_of_rows_gone_from_the_snapshot(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    mappings = {"customers": {**USERS["customers"], "sync_mode": "mirror"}}
    config = _config(clean_emulator, tmp_path, mappings)

    def snapshot(version: int, plans: dict[str, str]) -> list[str]:
        lines = _customers(plans)
        return [
            lines[0],
            _activate("customers", version),
            *lines[1:-1],
            _activate("customers", version),
            lines[-1],
        ]

    _ok(_run(tmp_path, config, snapshot(1, PLANS), clean_emulator))
    remaining = {k: v for k, v in PLANS.items() if k != "customer-013"}
    second = _ok(_run(tmp_path, config, snapshot(2, remaining), clean_emulator))
    sent = _identified(clean_emulator)
    assert sent == [{"user_id": "customer-013", "user_properties": {"$unset": {"plan": "-"}}}]
    assert "removed=1" in second.stderr
    assert "plan" not in clean_emulator.project("key-std").profile_for("customer-013", None)
    assert clean_emulator.project("key-std").profile_for("customer-012", None)["plan"] == "free"
    # Forgotten once acknowledged: a third identical snapshot sends nothing.
    _ok(_run(tmp_path, config, snapshot(3, remaining), clean_emulator))
    assert _identified(clean_emulator) == []


def test_a_full_table_replayed_on_day_8_stores_each_order_once(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    """Amplitude drops a repeated insert_id for 7 days only (the emulator too, by its clock):
    without the ledger the day-8 replay stores every order again; with it, none."""
    project = clean_emulator.project("key-std")
    with_ledger = _config(clean_emulator, tmp_path, ORDERS)
    every = {"orders": {**ORDERS["orders"], "sync_mode": "all"}}
    without = {**with_ledger, "stream_mappings": every, "ledger_path": str(tmp_path / "other")}
    try:
        _ok(_run(tmp_path, with_ledger, _orders(range(20)), clean_emulator))
        assert len(project.ingested) == 20
        clean_emulator.advance(dt.timedelta(days=8))
        _ok(_run(tmp_path, with_ledger, _orders(range(20)), clean_emulator))
        assert len(project.ingested) == 20  # each order once
        _ok(_run(tmp_path, without, _orders(range(20)), clean_emulator))
        assert len(project.ingested) == 40  # the duplicate the ledger removes
    finally:
        clean_emulator.clock = None


def test_user_mappings_are_sent_only_when_they_change(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    mappings = {
        "aliases": {
            "object": "user_mapping",
            "user_id_field": "user_id",
            "global_user_id_field": "global_id",
        }
    }
    config = _config(clean_emulator, tmp_path, mappings)

    def lines(globals_: dict[str, str]) -> list[str]:
        return [
            schema("aliases", props("user_id", "global_id")),
            *(record("aliases", {"user_id": u, "global_id": g}) for u, g in globals_.items()),
            state({"done": True}),
        ]

    aliases = {f"alias-{i:03d}": f"person-{i:03d}" for i in range(20)}
    _ok(_run(tmp_path, config, lines(aliases), clean_emulator))
    assert len(clean_emulator.requests_to("/usermap")) == 1
    again = _ok(_run(tmp_path, config, lines(aliases), clean_emulator))
    assert clean_emulator.requests_to("/usermap") == []
    assert "Summary stream=aliases in=20 accepted=0 rejected=0" in again.stderr
    assert "unchanged=20" in again.stderr
    moved = _ok(
        _run(tmp_path, config, lines({**aliases, "alias-005": "person-999"}), clean_emulator)
    )
    (request,) = clean_emulator.requests_to("/usermap")
    assert json.loads(parse_qs(request.body.decode())["mapping"][0]) == [
        {"user_id": "alias-005", "global_user_id": "person-999"}
    ]
    assert "unchanged=19" in moved.stderr
    assert clean_emulator.project("key-std").admin.usermap["alias-005"] == "person-999"


def _shaped_events(ids: t.Iterable[int]) -> list[str]:
    """An unmapped stream already shaped as Amplitude events (as a replay feeds it)."""
    return [
        schema("replayed", props("event_type", "user_id", "insert_id"), ["insert_id"]),
        *(
            record(
                "replayed", {"event_type": "Seen", "user_id": f"user-{i}", "insert_id": f"e-{i}"}
            )
            for i in ids
        ),
        state({"bookmarks": {"replayed": "done"}}),
    ]


def _sent_insert_ids(emulator: Emulator) -> list[str]:
    bodies = [json.loads(r.body) for r in emulator.requests_to("/batch")]
    return sorted(e["insert_id"] for body in bodies for e in body["events"])


def test_an_amplitude_shaped_stream_takes_its_sync_mode_from_object_event_alone(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    config = _config(clean_emulator, tmp_path, {})
    _ok(_run(tmp_path, config, _shaped_events(range(20)), clean_emulator))
    assert len(_sent_insert_ids(clean_emulator)) == 20
    again = _ok(_run(tmp_path, config, _shaped_events(range(20)), clean_emulator))
    assert _sent_insert_ids(clean_emulator) == []  # create_only, the default
    assert "unchanged=20" in again.stderr

    every = {"replayed": {"object": "event", "sync_mode": "all"}}
    _ok(
        _run(
            tmp_path,
            {**config, "stream_mappings": every},
            _shaped_events(range(20)),
            clean_emulator,
        )
    )
    assert _sent_insert_ids(clean_emulator) == sorted(f"e-{i}" for i in range(20))

    # The same entry on a stream that is not Amplitude-shaped: a clear error, nothing sent.
    orders = {"orders": {"object": "event", "sync_mode": "all"}}
    bad = _run(tmp_path, {**config, "stream_mappings": orders}, _orders(range(3)), clean_emulator)
    assert bad.returncode == 1
    assert "stream_mappings.orders has only 'object: event'" in bad.stderr
    assert "set event_type or event_type_field" in bad.stderr
    assert clean_emulator.requests_to("/batch") == []


def test_within_one_batch_a_repeated_key_is_decided_in_order(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    """The ledger decides a whole batch at once: rows keep their order's meaning."""
    config = _config(clean_emulator, tmp_path, USERS)
    _ok(
        _run(
            tmp_path,
            config,
            _customers({"customer-1": "free", "customer-2": "free"}),
            clean_emulator,
        )
    )
    lines = [
        schema("customers", props("id", "plan"), ["id"]),
        record("customers", {"id": "customer-1", "plan": "free"}),  # unchanged
        record("customers", {"id": "customer-2", "plan": "pro"}),  # changed
        record("customers", {"id": "customer-2", "plan": "pro"}),  # sent again: first not answered
        record("customers", {"id": "customer-3", "plan": "free"}),  # new
        record("customers", {"id": "customer-3", "plan": "free"}),  # sent again: first not answered
        state({"bookmarks": {"customers": "done"}}),
    ]
    run = _ok(_run(tmp_path, config, lines, clean_emulator))
    sent = [(i["user_id"], i["user_properties"]) for i in _identified(clean_emulator)]
    assert sorted(uid for uid, _ in sent) == [
        "customer-2",
        "customer-2",
        "customer-3",
        "customer-3",
    ]
    assert "in=5 accepted=4 rejected=0" in run.stderr
    assert "unchanged=1" in run.stderr
    last = _ok(_run(tmp_path, config, lines, clean_emulator))
    assert _identified(clean_emulator) == []
    assert "unchanged=5" in last.stderr


ACCOUNTS = {
    "accounts": {
        "object": "group",
        "group_type": "company",
        "group_value_field": "account_id",
        "sync_mode": "mirror",
    }
}


def _group_identified(emulator: Emulator) -> list[dict[str, t.Any]]:
    out: list[dict[str, t.Any]] = []
    for req in emulator.requests_to("/groupidentify"):
        form = parse_qs(req.body.decode())
        out.extend(json.loads(form["identification"][0]))
    return out


def test_mirror_unsets_the_properties_of_groups_gone_from_the_snapshot(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    """Group Identify's group_properties take `$unset` ("Remove a property", Amplitude's
    group-identify page): a group gone from a full snapshot has its mapped properties unset."""
    config = _config(clean_emulator, tmp_path, ACCOUNTS)
    accounts = {
        f"account-{i}": {"industry": "Fintech" if i % 2 else "Retail", "seats": i} for i in range(8)
    }

    def snapshot(version: int, rows: dict[str, dict[str, t.Any]]) -> list[str]:
        return [
            schema(
                "accounts", {**props("account_id", "industry"), **props("seats", kind="integer")}
            ),
            _activate("accounts", version),
            *(record("accounts", {"account_id": key, **row}) for key, row in rows.items()),
            _activate("accounts", version),
            state({"bookmarks": {"accounts": version}}),
        ]

    project = clean_emulator.project("key-std")
    _ok(_run(tmp_path, config, snapshot(1, accounts), clean_emulator))
    assert len(_group_identified(clean_emulator)) == 8
    assert project.groups[("company", "account-5")] == {"industry": "Fintech", "seats": 5}

    remaining = {k: v for k, v in accounts.items() if k != "account-5"}
    second = _ok(_run(tmp_path, config, snapshot(2, remaining), clean_emulator))
    assert _group_identified(clean_emulator) == [
        {
            "group_type": "company",
            "group_value": "account-5",
            "group_properties": {"$unset": {"industry": "-", "seats": "-"}},
        }
    ]
    assert "removed=1" in second.stderr
    assert "unchanged=7" in second.stderr
    assert second.states == [{"bookmarks": {"accounts": 2}}]
    assert project.groups[("company", "account-5")] == {}
    assert project.groups[("company", "account-4")] == {"industry": "Retail", "seats": 4}
    # Forgotten once acknowledged: the same snapshot again sends nothing; back again, it is new.
    _ok(_run(tmp_path, config, snapshot(3, remaining), clean_emulator))
    assert clean_emulator.requests_to("/groupidentify") == []
    _ok(_run(tmp_path, config, snapshot(4, accounts), clean_emulator))
    assert [g["group_value"] for g in _group_identified(clean_emulator)] == ["account-5"]
    assert project.groups[("company", "account-5")] == {"industry": "Fintech", "seats": 5}


def test_devices_are_keyed_by_device_id_changed_and_mirrored(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    """object: device (default `changed`, here `mirror`): a changed device is sent, a vanished
    one has its properties unset by device_id, the others are not sent."""
    mappings = {"phones": {"object": "device", "device_id_field": "id", "sync_mode": "mirror"}}
    config = _config(clean_emulator, tmp_path, mappings)

    def snapshot(version: int, models: dict[str, str]) -> list[str]:
        return [
            schema("phones", props("id", "model"), ["id"]),
            _activate("phones", version),
            *(record("phones", {"id": d, "model": m}) for d, m in models.items()),
            _activate("phones", version),
            state({"bookmarks": {"phones": version}}),
        ]

    phones = {f"device-{i}": "pixel" for i in range(10)}
    _ok(_run(tmp_path, config, snapshot(1, phones), clean_emulator))
    assert len(_identified(clean_emulator)) == 10
    changed = {k: v for k, v in phones.items() if k != "device-4"} | {"device-7": "iphone"}
    second = _ok(_run(tmp_path, config, snapshot(2, changed), clean_emulator))
    sent = sorted(_identified(clean_emulator), key=lambda i: i["device_id"])
    assert [i["device_id"] for i in sent] == ["device-4", "device-7"]
    assert sent[0] == {"device_id": "device-4", "user_properties": {"$unset": {"model": "-"}}}
    assert "user_id" not in sent[1]
    assert "unchanged=8" in second.stderr
    assert "removed=1" in second.stderr
    project = clean_emulator.project("key-std")
    assert "model" not in project.profile_for(None, "device-4")
    assert project.profile_for(None, "device-7")["model"] == "iphone"
    assert project.profile_for(None, "device-3")["model"] == "pixel"
