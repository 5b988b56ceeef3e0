"""Read the SDK METRIC lines a target run logged, and hold them against its summary lines."""

from __future__ import annotations

import json
import re
import typing as t
from dataclasses import dataclass

_METRIC = re.compile(r"METRIC: (\{.*\})\s*$", re.M)
_SUMMARY = re.compile(
    r"Summary stream=(?P<name>\S+) in=(?P<received>\d+) accepted=(?P<accepted>\d+) "
    r"rejected=(?P<rejected>\d+) requests=(?P<requests>\d+) retried=(?P<retried>\d+)"
)


@dataclass(frozen=True)
class Point:
    """One METRIC line."""

    type: str
    metric: str
    value: float
    tags: dict[str, t.Any]


def points(stderr: str) -> list[Point]:
    """Every METRIC line of a run's log, in order."""
    out = []
    for match in _METRIC.finditer(stderr):
        data = json.loads(match.group(1))
        out.append(Point(data["type"], data["metric"], data["value"], data["tags"]))
    return out


def total(found: t.Iterable[Point], metric: str, **tags: t.Any) -> float:
    """The sum of a metric's values over the points carrying exactly these tag values.

    A tag given as None must be absent.
    """
    return sum(
        p.value
        for p in found
        if p.metric == metric and all(p.tags.get(k) == v for k, v in tags.items())
    )


def assert_metrics_agree_with_summary(
    stderr: str, stream: str, endpoint: str, *, posts: int | None = None
) -> None:
    """record_count/http_request_count METRIC sums == the stream's summary line figures.

    `posts`: the POSTs the server saw, each of which must have its http_request_duration point.
    """
    found = points(stderr)
    (line,) = [m for m in _SUMMARY.finditer(stderr) if m["name"] == stream]
    figures = {k: int(v) for k, v in line.groupdict().items() if k != "name"}
    tags = {"stream": stream, "endpoint": endpoint}
    got = {
        "received": total(found, "record_count", outcome=None, **tags),
        "accepted": total(found, "record_count", outcome="accepted", **tags),
        "rejected": total(found, "record_count", outcome="rejected", **tags),
        "requests": total(found, "http_request_count", outcome=None, **tags),
        "retried": total(found, "http_request_count", outcome="retried", **tags),
    }
    assert got == figures, (got, figures)
    timers = [
        p for p in found if p.metric == "http_request_duration" and p.tags.get("stream") == stream
    ]
    assert all(p.tags["endpoint"] == endpoint and p.value >= 0 for p in timers)
    # every request is one POST, each retry one more POST
    assert len(timers) == figures["requests"] + figures["retried"], (len(timers), figures)
    if posts is not None:
        assert len(timers) == posts
    batches = [
        p for p in found if p.metric == "batch_processing_time" and p.tags.get("stream") == stream
    ]
    if figures["requests"]:
        assert batches, "no batch_processing_time METRIC for a delivered stream"
        assert all(p.tags.get("endpoint") == endpoint and p.value > 0 for p in batches)
