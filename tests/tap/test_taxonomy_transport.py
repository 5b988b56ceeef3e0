"""The taxonomy's per-type parameters travel as Amplitude documents them, and answers are checked.

Taxonomy API docs ("Get event properties", content/collections/api/en/taxonomy.md in
amplitude/amplitude-docs): ``curl --location --request GET '.../api/2/taxonomy/event-property'
--header 'Content-Type: application/x-www-form-urlencoded'
--data-urlencode 'event_type=EVENT_NAME'`` and "If `event_type` isn't present, Amplitude returns
all shared event properties". The tap sends the form body and the query parameter; the emulator
can be told to read only one of them (or neither: a server ignoring the parameter answers the
shared properties).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import pytest
from tap_amplitude.streams.taxonomy import ScopeIgnoredError, check_scoped_items

from tests.tap.helpers import KEY, base_config, make_emulator, run_tap

STREAM = {"taxonomy_event_properties"}


def _expected(emu: object) -> set[tuple[str, str]]:
    plan = emu.project(KEY).taxonomy()  # type: ignore[attr-defined]
    current = [e["event_type"] for e in plan.event_types if not e["_hidden"] and not e["_deleted"]]
    return {("", "source")} | {(name, prop) for name in current for prop in ("item_id", "price")}


@pytest.mark.parametrize("reads", [{"body"}, {"query"}], ids=["body-only", "query-only"])
def test_a_server_reading_only_the_body_or_only_the_query_gets_the_event_type(
    reads: set[str], tmp_path: Path
) -> None:
    """Fails if the event type travels only in the query string (body-only server) or only in
    the body (query-only server)."""
    emu = make_emulator(events=100)
    try:
        emu.project(KEY).taxonomy_reads = frozenset(reads)
        run = run_tap(tmp_path, base_config(emu), streams=STREAM)
        assert run.returncode == 0, run.stderr[-2000:]
        got = {
            (r["event_type"], r["event_property"]) for r in run.records("taxonomy_event_properties")
        }
        assert got == _expected(emu)
        scoped = [
            r
            for r in emu.requests_to("/api/2/taxonomy/event-property")
            if r.query.get("event_type")
        ]
        assert scoped
        for request in scoped:
            content_type = {k.lower(): v for k, v in request.headers.items()}["content-type"]
            assert content_type.startswith("application/x-www-form-urlencoded")
            assert parse_qs(request.body.decode()) == {"event_type": [request.query["event_type"]]}
            assert request.method == "GET"
    finally:
        emu.stop()


def test_an_answer_without_the_requested_event_type_fails_the_stream(tmp_path: Path) -> None:
    """A server that ignores the parameter answers the shared properties to every request: the
    stream fails naming the event type, and nothing is filed under that event type."""
    emu = make_emulator(events=100)
    try:
        emu.project(KEY).taxonomy_reads = frozenset()
        run = run_tap(tmp_path, base_config(emu), streams=STREAM)
        assert run.returncode == 1
        assert "ignored the event_type parameter" in run.stderr
        first = next(
            e["event_type"]
            for e in emu.project(KEY).taxonomy().event_types
            if not e["_hidden"] and not e["_deleted"]
        )
        assert repr(first) in run.stderr
        assert {r["event_type"] for r in run.records("taxonomy_event_properties")} <= {""}
    finally:
        emu.stop()


def test_check_scoped_items_accepts_only_items_of_the_requested_type() -> None:
    items = [{"event_type": "Signup", "event_property": "plan"}]
    assert check_scoped_items(items, "event_type", "Signup", "s") == items
    assert check_scoped_items([], "event_type", "Signup", "s") == []
    for wrong in ({"event_property": "source"}, {"event_type": None}, {"event_type": "Other"}):
        with pytest.raises(ScopeIgnoredError, match=r"'Signup'.*ignored the event_type"):
            check_scoped_items([*items, wrong], "event_type", "Signup", "s")
