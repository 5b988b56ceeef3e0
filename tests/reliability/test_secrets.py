"""api_key and secret_key never appear in stdout, stderr, the rejected file or any other file the
plugins write, under every kind of failure: auth, exhausted retries, corrupt exports, timeouts,
rejections, fatal 4xx, invalid settings.

The keys are distinctive and hold characters that change under URL and Basic-auth encoding, so
every form a leak could take is searched for.
"""

from __future__ import annotations

import base64
import typing as t
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from amplitude_emulator import Emulator, GeneratorSpec

from tests.tap.helpers import END, START, run_tap
from tests.tap.helpers import FAST_RETRIES as TAP_RETRIES
from tests.target.helpers import FAST_RETRIES, props, record, run_target, schema, state

pytestmark = pytest.mark.reliability

TAP_KEY = "TAPkey/5d2c+88ef=a1b2"
TAP_SECRET = "TAPsecret/0b9a+77cd=e3f4"
WRONG_SECRET = "WRONGsecret/6a6a+13ff=0000"
TARGET_KEY = "TGTkey/7f3e+91ab=c0de"
TARGET_SECRET = "TGTsecret/2e1d+55aa=beef"
EXPORT = "/api/2/export"
CONFIG_FILES = {"config.json"}  # the user's own config file holds the keys, by definition


def _forms(*secrets: str) -> list[str]:
    forms: list[str] = []
    for secret in secrets:
        forms += [secret, quote(secret, safe=""), quote(secret), secret.replace("/", "\\/")]
    basics = [
        base64.b64encode(f"{key}:{secret}".encode()).decode()
        for key, secret in (
            (TAP_KEY, TAP_SECRET),
            (TAP_KEY, WRONG_SECRET),
            (TARGET_KEY, TARGET_SECRET),
            (TARGET_KEY, WRONG_SECRET),
        )
    ]
    return [*forms, *basics]


NEEDLES = _forms(TAP_KEY, TAP_SECRET, WRONG_SECRET, TARGET_KEY, TARGET_SECRET)


def _assert_no_secret(tmp_path: Path, *outputs: str) -> None:
    texts = list(outputs)
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name not in CONFIG_FILES:
            texts.append(path.read_text(errors="replace"))
    for text in texts:
        for needle in NEEDLES:
            assert needle not in text, f"a secret ({needle[:6]}...) leaked"


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    emulator = Emulator()
    emulator.add_project(
        TAP_KEY,
        TAP_SECRET,
        region="standard",
        project_id=187530,
        spec=GeneratorSpec(seed=3, events=300, start="2026-01-01T00", hours=24, users=20),
    )
    emulator.add_project(TARGET_KEY, TARGET_SECRET, region="standard", project_id=187531)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(autouse=True)
def _clean(emu: Emulator) -> None:
    emu.reset(data=True)


TapCase = tuple[Callable[[Emulator], None], dict[str, t.Any], tuple[str, ...]]
TAP_CASES: dict[str, TapCase] = {
    "wrong-secret": (lambda e: None, {"secret_key": WRONG_SECRET}, ()),
    "wrong-region": (lambda e: None, {"data_region": "EU Residency Server", "api_url": "eu"}, ()),
    "5xx-exhausted": (lambda e: e.faults.statuses(EXPORT, [503] * 20), {}, ()),
    "429-retried-then-ok": (lambda e: e.faults.statuses(EXPORT, [429], retry_after=0.1), {}, ()),
    "corrupt-export-exhausted": (lambda e: e.faults.corrupt(EXPORT, times=20), {}, ()),
    "truncated-export-exhausted": (lambda e: e.faults.truncate(EXPORT, times=20), {}, ()),
    "dropped-exhausted": (lambda e: e.faults.drop(EXPORT, times=20), {}, ()),
    "timeout-exhausted": (
        lambda e: e.faults.slow(EXPORT, 1.3, times=2),
        {"export_timeout": 1, "export_prefetch_windows": 0},  # both slow answers on window 1
        (),
    ),
    "too-large-one-hour": (lambda e: e.faults.too_large(EXPORT, max_hours=0), {}, ()),
    "invalid-setting": (lambda e: None, {"data_region": "Mars"}, ()),
    "connection-test-wrong-secret": (lambda e: None, {"secret_key": WRONG_SECRET}, ("--test",)),
}


@pytest.mark.parametrize("case", list(TAP_CASES))
def test_the_tap_never_shows_its_keys(emu: Emulator, tmp_path: Path, case: str) -> None:
    inject, overrides, args = TAP_CASES[case]
    inject(emu)
    url = emu.url("eu") if overrides.get("api_url") == "eu" else emu.url("standard")
    config = {
        "api_key": TAP_KEY,
        "secret_key": TAP_SECRET,
        "api_url": url,
        "start_date": START,
        "end_date": END,
        "request_time_range": 12,
        **TAP_RETRIES,
        "max_attempts": 2,
        **{k: v for k, v in overrides.items() if k != "api_url"},
    }
    streams = None if args else {"events", "events_list", "active_users"}
    run = run_tap(tmp_path, config, streams=streams, args=args)
    if case == "429-retried-then-ok":
        assert run.returncode == 0, run.stderr[-2000:]
    else:
        assert run.returncode == 1, run.stderr[-2000:]
    _assert_no_secret(tmp_path, run.stdout, run.stderr)


def _event_lines() -> list[str]:
    lines = [
        schema(
            "ticks",
            {**props("event_type", "device_id", "insert_id"), "user_properties": {}},
            ["insert_id"],
        ),
    ]
    for n in range(40):
        lines.append(
            record(
                "ticks",
                {
                    "event_type": "Tick",
                    "device_id": f"device-{n % 4:05d}",
                    "insert_id": f"tick-{n:04d}",
                },
            )
        )
    lines.append(
        record("ticks", {"event_type": "Tick", "device_id": "null", "insert_id": "refused"})
    )
    lines.append(
        record(
            "ticks",
            {
                "event_type": "Tick",
                "device_id": "device-00009",
                "insert_id": "mixed",
                "user_properties": {"$set": {"a": 1}, "plain": 2},
            },
        )
    )
    lines.append(
        record(
            "ticks",
            {"event_type": "Tick", "device_id": "device-00008", "insert_id": "x" * 6000},
        )
    )
    lines.append(schema("people", props("id", "plan"), ["id"]))
    lines += [record("people", {"id": f"user-{n:05d}", "plan": "p"}) for n in range(5)]
    lines.append(record("people", {"id": "abc", "plan": "short id"}))
    return [*lines, state({"s": 1})]


def _reject_all_kinds(emu: Emulator) -> None:
    emu.faults.payload_limit("/batch", 5000)
    emu.faults.throttle("/batch", daily_quota_devices={"device-00003"}, times=100)


TargetCase = tuple[Callable[[Emulator], None], dict[str, t.Any], int]
TARGET_CASES: dict[str, TargetCase] = {
    "wrong-region-key": (lambda e: None, {"api_url": "eu"}, 1),
    "5xx-exhausted": (
        lambda e: e.faults.statuses("/batch", [503] * 1000),
        {"retry_deadline_seconds": 0.3},
        1,
    ),
    "dropped-exhausted": (
        lambda e: e.faults.drop("/batch", times=1000),
        {"retry_deadline_seconds": 0.3},
        1,
    ),
    "timeouts-exhausted": (
        lambda e: e.faults.slow("/batch", 0.6, times=1000),
        {"read_timeout_seconds": 0.2, "retry_deadline_seconds": 0.5},
        1,
    ),
    "403-firewall": (lambda e: e.faults.statuses("/identify", [403]), {}, 1),
    "rejections-413-400-refused-quota": (
        _reject_all_kinds,
        {"min_id_length": 3, "fail_on_rejected": True},
        1,
    ),
    "throttled-then-ok": (
        lambda e: e.faults.throttle("/batch", devices={"device-00001"}, times=2),
        {},
        0,
    ),
    "invalid-setting": (lambda e: None, {"events_endpoint": "kafka"}, 1),
}


@pytest.mark.parametrize("case", list(TARGET_CASES))
def test_the_target_never_shows_its_key(emu: Emulator, tmp_path: Path, case: str) -> None:
    inject, overrides, expected_code = TARGET_CASES[case]
    inject(emu)
    url = emu.url("eu") if overrides.get("api_url") == "eu" else emu.base_url
    config = {
        "api_key": TARGET_KEY,
        "api_url": url,
        "stream_mappings": {"people": {"object": "user", "user_id_field": "id"}},
        **FAST_RETRIES,
        **{k: v for k, v in overrides.items() if k != "api_url"},
    }
    run = run_target(tmp_path, config, _event_lines())
    assert run.returncode == expected_code, run.stderr[-2000:]
    if case == "wrong-region-key":  # Amplitude echoes the key in its answer: redacted
        assert "Invalid API key" in run.stderr
    if case.startswith("rejections"):
        assert len(run.rejected) >= 4  # every kind of rejection happened and was written
    _assert_no_secret(tmp_path, run.stdout, run.stderr)


DELETIONS = "/api/2/deletions/users"
ADMIN_CASES: dict[str, TargetCase] = {
    "wrong-secret": (lambda e: None, {"secret_key": WRONG_SECRET}, 1),
    "wrong-region": (lambda e: None, {"api_url": "eu"}, 1),
    "deletions-5xx-exhausted": (
        lambda e: e.faults.statuses(DELETIONS, [503] * 1000),
        {"retry_deadline_seconds": 0.3},
        1,
    ),
    "usermap-dropped-exhausted": (
        lambda e: e.faults.drop("/usermap", times=1000),
        {"retry_deadline_seconds": 0.3},
        1,
    ),
    "throttled-then-ok": (
        lambda e: (
            e.faults.statuses("/usermap", [429], retry_after=0.1),
            e.faults.statuses(DELETIONS, [429, 500], retry_after=0.1),
            e.faults.statuses("/api/3/cohorts/upload", [502]),
        ),
        {},
        0,
    ),
    "cohort-refused": (lambda e: None, {"project_id": 999}, 1),
    "invalid-ids-rejected": (lambda e: None, {"fail_on_rejected": True}, 1),
    "dry-run": (lambda e: None, {"dry_run": True}, 0),
}


def _admin_lines() -> list[str]:
    return [
        schema("aliases", props("uid", "gid")),
        *(record("aliases", {"uid": f"a-{n}", "gid": f"g-{n}"}) for n in range(3)),
        schema("erasures", props("uid")),
        *(record("erasures", {"uid": uid}) for uid in ("known-1", "unknown-1")),
        schema("vip", props("uid")),
        *(record("vip", {"uid": uid}) for uid in ("known-1", "unknown-2")),
        state({"s": 1}),
    ]


@pytest.mark.parametrize("case", list(ADMIN_CASES))
def test_user_mappings_deletions_and_cohorts_never_show_the_keys(
    emu: Emulator, tmp_path: Path, case: str
) -> None:
    inject, overrides, expected_code = ADMIN_CASES[case]
    emu.project(TARGET_KEY).ingest([{"event_type": "e", "user_id": "known-1"}], "/batch")
    inject(emu)
    url = emu.url("eu") if overrides.get("api_url") == "eu" else emu.base_url
    config = {
        "api_key": TARGET_KEY,
        "secret_key": TARGET_SECRET,
        "api_url": url,
        "analytics_api_url": url,
        "project_id": 187531,
        "deletion_requester": "dpo@example.com",
        "allow_deletions": True,
        "stream_mappings": {
            "aliases": {
                "object": "user_mapping",
                "user_id_field": "uid",
                "global_user_id_field": "gid",
            },
            "erasures": {"object": "deletion", "user_id_field": "uid"},
            "vip": {
                "object": "cohort",
                "cohort_name": "VIP",
                "cohort_owner": "o@example.com",
                "user_id_field": "uid",
            },
        },
        **FAST_RETRIES,
        **{k: v for k, v in overrides.items() if k != "api_url"},
    }
    run = run_target(tmp_path, config, _admin_lines())
    assert run.returncode == expected_code, run.stderr[-2000:]
    if case in ("throttled-then-ok", "invalid-ids-rejected"):
        assert sorted(r["record"]["uid"] for r in run.rejected) == ["unknown-1", "unknown-2"]
    _assert_no_secret(tmp_path, run.stdout, run.stderr)
