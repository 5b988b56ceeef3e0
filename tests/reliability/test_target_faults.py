"""The target's fault matrix: every failure of Amplitude's ingestion side, on every endpoint.

For each (endpoint, fault): the exit code, the fault seen to fire in the emulator's log, and the
count that must always hold: records in = stored in the emulator (deduplicated by insert_id for
events; profiles and groups for identify) + rejected (the rejected file), each record exactly
once, the rejected ones exactly those expected and each with its reason, and the summary line
saying the same, and the SDK METRIC lines (record_count, http_request_count,
http_request_duration, batch_processing_time, tagged by stream and endpoint) agreeing with it.
"""

from __future__ import annotations

import typing as t
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from amplitude_emulator import Emulator, Project

from tests.reliability.emulator_log import wait_for_requests
from tests.reliability.ledger import assert_each_exactly_once, summary
from tests.reliability.processes import LiveTarget
from tests.target.helpers import (
    FAST_RETRIES,
    props,
    record,
    run_target,
    schema,
    state,
    write_config,
)
from tests.target.metrics import assert_metrics_agree_with_summary

pytestmark = pytest.mark.reliability

ROWS = 120
HOT = "device-hot01"
DEVICES = (HOT, "device-cold1", "device-cold2", "device-cold3")
GIANT = "giant-0001"
BAD = "bad-00001"
SHORT = "abc"  # accepted by min_id_length=3, refused by /identify (min 5, no options there)
SMALL_LIMIT = 4000  # bytes per request for the 413 rows; one normal row is about 150


def _ids() -> list[str]:
    return [f"row-{i:04d}" for i in range(ROWS)]


@dataclass(frozen=True)
class Load:
    """One endpoint's input stream, the settings to route it, and how to read back what stored."""

    path: str
    stream: str
    config: dict[str, t.Any]
    schema_line: str
    to_record: Callable[[str, int], dict[str, t.Any]]  # (id, index) -> record
    stored_ids: Callable[[Project], list[str]]
    record_id: Callable[[dict[str, t.Any]], str]

    def lines(self, ids: t.Sequence[str], extra: t.Sequence[dict[str, t.Any]] = ()) -> list[str]:
        out = [self.schema_line]
        out += [record(self.stream, self.to_record(i, n)) for n, i in enumerate(ids)]
        out += [record(self.stream, r) for r in extra]
        return [*out, state({"done": self.stream})]


def _event(rid: str, n: int) -> dict[str, t.Any]:
    return {
        "event_type": "Tick",
        "device_id": DEVICES[n % len(DEVICES)],
        "insert_id": rid,
        "event_properties": {"n": n},
    }


EVENT_SCHEMA = schema(
    "ticks",
    {
        **props("event_type", "device_id", "insert_id"),
        "event_properties": {"type": ["object", "null"]},
        "user_properties": {"type": ["object", "null"]},
    },
    ["insert_id"],
)


def _events_load(endpoint: str, path: str) -> Load:
    return Load(
        path=path,
        stream="ticks",
        config={"events_endpoint": endpoint},
        schema_line=EVENT_SCHEMA,
        to_record=_event,
        stored_ids=lambda p: [e["insert_id"] for e in p.ingested],
        record_id=lambda r: r["insert_id"],
    )


LOADS: dict[str, Load] = {
    "batch": _events_load("batch", "/batch"),
    "httpapi": _events_load("httpapi", "/2/httpapi"),
    "identify": Load(
        path="/identify",
        stream="people",
        config={"stream_mappings": {"people": {"object": "user", "user_id_field": "id"}}},
        schema_line=schema("people", {**props("id", "plan"), "n": {"type": "integer"}}, ["id"]),
        to_record=lambda rid, n: {"id": f"user-{rid}", "plan": f"plan-{n}", "n": n},
        stored_ids=lambda p: [uid.removeprefix("user-") for uid in p.users],
        record_id=lambda r: str(r["id"]).removeprefix("user-"),
    ),
    "groupidentify": Load(
        path="/groupidentify",
        stream="accounts",
        config={
            "stream_mappings": {
                "accounts": {"object": "group", "group_type": "company", "group_value_field": "id"}
            }
        },
        schema_line=schema("accounts", {**props("id", "name"), "n": {"type": "integer"}}, ["id"]),
        to_record=lambda rid, n: {"id": rid, "name": f"Company {n}", "n": n},
        stored_ids=lambda p: [value for kind, value in p.groups if kind == "company"],
        record_id=lambda r: str(r["id"]),
    ),
}


@dataclass(frozen=True)
class Fault:
    """How to break the endpoint, extra input, and what must then be true."""

    inject: Callable[[Emulator, str], None]
    endpoints: tuple[str, ...]
    fired: Callable[[list[int]], bool]  # on the statuses the emulator logged
    extra: Callable[[Load], list[dict[str, t.Any]]] = lambda _: []
    rejected: Callable[[Load], set[str]] = lambda _: set()
    reason: str = ""
    config: dict[str, t.Any] = field(default_factory=dict)


ALL = tuple(LOADS)
EVENTS = ("batch", "httpapi")


def _giant(load: Load) -> list[dict[str, t.Any]]:
    row = load.to_record(GIANT, 0)
    field_name = {"ticks": "event_properties", "people": "plan", "accounts": "name"}[load.stream]
    pad = "x" * (SMALL_LIMIT + 500)
    row[field_name] = {"pad": pad} if load.stream == "ticks" else pad
    return [row]


def _partial_400(load: Load) -> list[dict[str, t.Any]]:
    if load.stream == "people":
        return [{"id": SHORT, "plan": "short", "n": -1}]
    row = _event(BAD, 1)
    row["user_properties"] = {"$set": {"a": 1}, "plain": 2}  # Amplitude refuses the mix
    return [row]


def _burst(code: int) -> Fault:
    """Three answers of this 5xx status in a row, on every endpoint."""
    return Fault(
        lambda emu, path: emu.faults.statuses(path, [code] * 3),
        ALL,
        lambda statuses: statuses.count(code) == 3,
    )


FAULTS: dict[str, Fault] = {
    "413-split": Fault(
        lambda emu, path: emu.faults.payload_limit(path, SMALL_LIMIT),
        ALL,
        lambda s: 413 in s,
        extra=_giant,
        rejected=lambda _: {GIANT},
        reason="413",
    ),
    "partial-400": Fault(
        lambda emu, path: None,
        (*EVENTS, "identify"),
        lambda s: 400 in s,
        extra=_partial_400,
        rejected=lambda load: {SHORT if load.stream == "people" else BAD},
        reason="400",
        config={"min_id_length": 3},
    ),
    "429-throttled-subset": Fault(
        lambda emu, path: emu.faults.throttle(path, devices={HOT}, times=2),
        EVENTS,
        lambda s: s.count(429) == 2,
    ),
    "429-daily-quota": Fault(
        lambda emu, path: emu.faults.throttle(path, daily_quota_devices={HOT}, times=1000),
        EVENTS,
        lambda s: 429 in s,
        rejected=lambda _: {i for n, i in enumerate(_ids()) if DEVICES[n % len(DEVICES)] == HOT},
        reason="daily event quota",
    ),
    "429-with-retry-after": Fault(
        lambda emu, path: emu.faults.statuses(path, [429, 429], retry_after=0.3),
        ALL,
        lambda s: s.count(429) == 2,
    ),
    "429-without-retry-after": Fault(
        lambda emu, path: emu.faults.statuses(path, [429, 429, 429]),
        ALL,
        lambda s: s.count(429) == 3,
    ),
    **{f"{code}-burst": _burst(code) for code in (500, 502, 503, 504)},
    "dropped-connections": Fault(
        lambda emu, path: emu.faults.drop(path, times=3),
        ALL,
        lambda s: s.count(0) == 3,
    ),
    "slow-past-read-timeout": Fault(
        lambda emu, path: emu.faults.slow(path, 0.9, times=2),
        ALL,
        lambda s: len(s) >= 3,
        config={"read_timeout_seconds": 0.3},
    ),
}

MATRIX = [(f, e) for f, fault in FAULTS.items() for e in fault.endpoints]


@pytest.fixture
def emu(clean_emulator: Emulator) -> Emulator:
    """The module's empty emulator (tests/conftest.py), nothing stored, no fault set."""
    return clean_emulator


def _config(emu: Emulator, load: Load, **extra: t.Any) -> dict[str, t.Any]:
    return {
        "api_key": "key-std",
        "api_url": emu.base_url,
        "max_concurrent_requests": 2,
        **FAST_RETRIES,
        **load.config,
        **extra,
    }


@pytest.mark.parametrize(("fault_name", "endpoint"), MATRIX)
def test_in_equals_stored_plus_rejected(
    emu: Emulator, tmp_path: Path, fault_name: str, endpoint: str
) -> None:
    fault, load = FAULTS[fault_name], LOADS[endpoint]
    extra = fault.extra(load)
    fault.inject(emu, load.path)
    run = run_target(tmp_path, _config(emu, load, **fault.config), load.lines(_ids(), extra))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr

    if fault_name == "slow-past-read-timeout":  # the timed-out requests are still being served
        wait_for_requests(emu, load.path, 2, matching=lambda r: r.duration >= 0.85)
    log = emu.requests_to(load.path)
    assert fault.fired([r.status for r in log]), [r.status for r in log]

    everything = [*_ids(), *(load.record_id(r) for r in extra)]
    stored = load.stored_ids(emu.project("key-std"))
    rejected = [load.record_id(r["record"]) for r in run.rejected]
    assert_each_exactly_once([*stored, *rejected], everything)  # in = stored + rejected
    assert set(rejected) == fault.rejected(load)
    assert all(fault.reason in r["reason"] for r in run.rejected)
    assert all(r["stream"] == load.stream and r["endpoint"] == load.path for r in run.rejected)
    figures = summary(run.stderr, load.stream)
    assert (figures.received, figures.accepted, figures.rejected) == (
        len(everything),
        len(stored),
        len(rejected),
    )
    assert run.states == [{"done": load.stream}]
    # The SDK METRIC lines say the same, and each POST the emulator saw has its duration point.
    assert_metrics_agree_with_summary(run.stderr, load.stream, load.path, posts=len(log))

    if fault_name == "429-with-retry-after":  # Retry-After: 0.3 honoured over the 50 ms default
        for refused in (r for r in log if r.status == 429):
            resent = next(r for r in log if r.body == refused.body and r.started > refused.started)
            assert resent.started - refused.finished >= 0.28
    if fault_name == "429-throttled-subset":  # only the hot device was held back, in order
        hot = [
            e["event_properties"]["n"]
            for e in emu.project("key-std").ingested
            if e["device_id"] == HOT
        ]
        assert hot == sorted(hot)
        assert emu.project("key-std").ingested[0]["device_id"] != HOT
    if load.stream == "people":
        users = emu.project("key-std").users
        assert all(users[f"user-{i}"]["plan"] == f"plan-{n}" for n, i in enumerate(_ids()))


@pytest.mark.parametrize("endpoint", ["batch", "identify"])
def test_retry_deadline_exhausted_mid_run_then_resumed_from_the_last_state(
    emu: Emulator, tmp_path: Path, endpoint: str
) -> None:
    """Amplitude goes down after the first half was delivered: exit 1 with a clear message,
    STATE never past what was stored; the rerun from that STATE completes, nothing twice."""
    load = LOADS[endpoint]
    ids = _ids()
    first, second = ids[: ROWS // 2], ids[ROWS // 2 :]
    records = [load.to_record(i, n) for n, i in enumerate(ids)]
    half_lines = [load.schema_line, *(record(load.stream, r) for r in records[: ROWS // 2])]
    config = _config(emu, load, batch_size_rows=20, retry_deadline_seconds=0.5)
    live = LiveTarget(write_config(tmp_path, config), tmp_path / "stderr.log")
    live.send([*half_lines, state({"next": ROWS // 2})])
    assert live.read_state() == {"next": ROWS // 2}  # first half acknowledged
    assert sorted(load.stored_ids(emu.project("key-std"))) == sorted(first)

    emu.faults.statuses(load.path, [503] * 10_000)
    live.send([*(record(load.stream, r) for r in records[ROWS // 2 :]), state({"next": ROWS})])
    code, later_states, stderr = live.finish()
    assert code == 1
    assert later_states == []  # nothing claimed past what Amplitude acknowledged
    assert "retry_deadline_seconds" in stderr
    assert "Traceback" not in stderr

    emu.faults.clear()
    resumed = run_target(
        tmp_path,
        _config(emu, load),
        [
            load.schema_line,
            *(record(load.stream, r) for r in records[ROWS // 2 :]),
            state({"next": ROWS}),
        ],
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.states == [{"next": ROWS}]
    assert_each_exactly_once(load.stored_ids(emu.project("key-std")), [*first, *second])
    assert resumed.rejected == []


# Fatal answers: exit 1 at once with the setting to check, no loop, no STATE, no secret.
@dataclass(frozen=True)
class Fatal:
    """A whole-run failure: how to cause it and the words the error must contain."""

    inject: Callable[[Emulator, str], None]
    needle: str
    config: Callable[[Emulator], dict[str, t.Any]] = lambda _: {}


FATALS: dict[str, Fatal] = {
    "403-firewall": Fatal(lambda emu, path: emu.faults.statuses(path, [403]), "403"),
    "wrong-region-key": Fatal(
        lambda emu, path: None, "data_region", lambda emu: {"api_url": emu.url("eu")}
    ),
}


@pytest.mark.parametrize(("fatal_name", "endpoint"), [(f, e) for f in FATALS for e in ALL])
def test_fatal_answers_stop_at_once_naming_the_fix(
    emu: Emulator, tmp_path: Path, fatal_name: str, endpoint: str
) -> None:
    fatal, load = FATALS[fatal_name], LOADS[endpoint]
    fatal.inject(emu, load.path)
    config = _config(emu, load, max_concurrent_requests=1, **fatal.config(emu))
    run = run_target(tmp_path, config, load.lines(_ids()[:3]))
    assert run.returncode == 1
    assert fatal.needle in run.stderr
    assert "Traceback" not in run.stderr
    assert "key-std" not in run.stderr + run.stdout
    assert run.states == []
    assert len(emu.requests_to(load.path)) == 1  # not retried, not bisected


def test_after_a_413_split_later_requests_are_full_size_again(
    emu: Emulator, tmp_path: Path
) -> None:
    """A split applies to the refused request only: the next one starts at 2000 events."""
    load = LOADS["batch"]
    ids = [f"row-{i:04d}" for i in range(4000)]  # two batches of 2000
    emu.faults.payload_limit(load.path, 100_000)  # 2000 events are about 240 kB
    config = _config(emu, load, max_concurrent_requests=1)
    run = run_target(tmp_path, config, load.lines(ids))
    assert run.returncode == 0, run.stderr[-3000:]
    assert_each_exactly_once(load.stored_ids(emu.project("key-std")), ids)
    sizes = [(r.status, len(r.body)) for r in emu.requests_to(load.path)]
    first, *_ = sizes
    assert first[0] == 413
    later = sizes[sizes.index(next(s for s in sizes if s[0] == 200)) :]
    assert any(status == 413 and size >= first[1] * 0.9 for status, size in later), sizes
