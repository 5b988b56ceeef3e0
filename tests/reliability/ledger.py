"""The counts that prove nothing was lost: what went in, what came out, each exactly once."""

from __future__ import annotations

import json
import re
import typing as t
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Summary",
    "assert_each_exactly_once",
    "read_rejected_lines",
    "summary",
]

_SUMMARY = re.compile(
    r"Summary (?P<kind>stream|endpoint)=(?P<name>\S+) in=(?P<received>\d+) "
    r"accepted=(?P<accepted>\d+) rejected=(?P<rejected>\d+)"
)


def assert_each_exactly_once(got: t.Iterable[str], expected: t.Collection[str]) -> None:
    """Every expected id appears exactly once in ``got``; nothing else appears."""
    counts = Counter(got)
    missing = set(expected) - set(counts)
    extra = set(counts) - set(expected)
    repeated = sorted(k for k, n in counts.items() if n > 1)
    assert not missing, f"{len(missing)} lost, e.g. {sorted(missing)[:3]}"
    assert not extra, f"{len(extra)} unexpected, e.g. {sorted(extra)[:3]}"
    assert not repeated, f"{len(repeated)} more than once, e.g. {repeated[:3]}"


@dataclass(frozen=True)
class Summary:
    """One end-of-run summary line of target-amplitude (``Summary stream=... in=...``)."""

    received: int
    accepted: int
    rejected: int


def summary(stderr: str, name: str, kind: str = "stream") -> Summary:
    """The target's summary figures for one stream (or endpoint) from its log."""
    found = [m for m in _SUMMARY.finditer(stderr) if m["kind"] == kind and m["name"] == name]
    assert found, f"no summary line for {kind}={name} in the target's log:\n{stderr[-2000:]}"
    last = found[-1]
    return Summary(int(last["received"]), int(last["accepted"]), int(last["rejected"]))


def read_rejected_lines(path: Path) -> tuple[list[dict[str, t.Any]], int]:
    """The rejected file's records, and how many lines were not JSON (cut by a kill -9)."""
    if not path.exists():
        return [], 0
    parsed: list[dict[str, t.Any]] = []
    broken = 0
    for line in path.read_text().splitlines():
        try:
            parsed.append(json.loads(line))
        except ValueError:
            broken += 1
    return parsed, broken
