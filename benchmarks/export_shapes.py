"""Generated Amplitude exports in several shapes, cached on disk, for the tap and target benchmarks.

One export shape hid a 25% slowdown of the tap (issue 23): the benchmarks now read exports of
several shapes, each named in their output:

- ``small``: about 0.6 KB a line: the identifiers, three timestamps, a few device columns, one
  small property object each;
- ``full``: about 1.6 KB a line: every column Amplitude's Export API documents (the tap's
  ``events`` schema), seven timestamps with six fraction digits (``2026-01-01 10:00:00.123456``,
  the form Amplitude sends), small event and user property objects;
- ``wide``: about 4 KB a line: the full column set with about 2.5 KB more of event and user
  properties (nested objects, lists, numbers, booleans).

Events are spread evenly over 24 hours from ``2026-01-01T00``; ``server_upload_time`` lies in its
hour, as the Export API groups by it. Each hour is one gzip file (level 1, as the emulator's);
zips are laid out for the two request patterns the benchmarks use, one 24-hour window
(``20260101T00-20260101T23.zip``, 24 entries) and 24 one-hour windows (one entry each), stored
(not deflated) as Amplitude's are. Everything is written once under
``benchmarks/.cache/exports/<shape>-<events>-v<DATA_VERSION>/`` and reused.

    python -m benchmarks.export_shapes --shape full --events 200000     # build (or reuse) one
"""

from __future__ import annotations

import argparse
import random
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

REPO_ROOT = Path(__file__).resolve().parent.parent  # (benchmarks.common needs psutil)
SHAPES = ("small", "full", "wide")
HOURS = 24
START = datetime(2026, 1, 1, tzinfo=UTC)
PROJECT_ID = 187520
GZIP_LEVEL = 1
CACHE = REPO_ROOT / "benchmarks" / ".cache" / "exports"
# Part of every cached file's name: a change to the generated data makes new files.
DATA_VERSION = 2

TIMESTAMP_FIELDS = (
    "event_time",
    "client_event_time",
    "client_upload_time",
    "server_received_time",
    "server_upload_time",
    "processed_time",
    "user_creation_time",
)
EVENT_TYPES = ("Page Viewed", "Add to Cart", "Checkout Started", "Order Completed", "Search")
COUNTRIES = ("United States", "Germany", "France", "Japan", "Brazil", "India", "Canada")
PLATFORMS = (("Web", "Chrome", "124"), ("iOS", "ios", "17.4"), ("Android", "android", "14"))


_EPOCH_US = int(START.timestamp()) * 1_000_000
_DAY_US = 86_400_000_000


def raw(us: int) -> str:
    """Amplitude's export form of ``us`` microseconds since the epoch:
    ``2026-01-01 10:00:00.123456`` (space, no zone, 6 digits)."""
    day, rest = divmod(us, _DAY_US)
    seconds, micro = divmod(rest, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{_date(day)} {hour:02d}:{minute:02d}:{second:02d}.{micro:06d}"


_DATES: dict[int, str] = {}


def _date(day: int) -> str:
    text = _DATES.get(day)
    if text is None:
        text = _DATES[day] = f"{datetime.fromtimestamp(day * 86_400, UTC):%Y-%m-%d}"
    return text


def _times(rng: random.Random, hour: int) -> dict[str, str]:
    randrange = rng.randrange
    upload = _EPOCH_US + hour * 3_600_000_000 + randrange(3_600_000_000)
    event = upload - randrange(50_000, 90_000_000)
    return {
        "event_time": raw(event),
        "client_event_time": raw(event + randrange(1000)),
        "client_upload_time": raw(upload - randrange(5000, 400_000)),
        "server_received_time": raw(upload - randrange(1000, 40_000)),
        "server_upload_time": raw(upload),
        "processed_time": raw(upload + randrange(100_000, 5_000_000)),
        "user_creation_time": raw(event - randrange(1, 400) * _DAY_US - 17_000_000),
    }


def _uuid(bits: int) -> str:
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-a{text[17:20]}-{text[20:]}"


def _ids(rng: random.Random) -> dict[str, Any]:
    user = rng.randrange(50_000)
    return {
        "uuid": _uuid(rng.getrandbits(128)),
        # A random UUID, as Amplitude's SDKs make one for each event (amplitude-analytics:
        # ContextPlugin.execute, ``event.insert_id = str(uuid.uuid4())``). Until DATA_VERSION 2
        # it was "ins-<hour>-<index>-<8 hex digits>", whose neighbouring events sort together:
        # SQLite recorded those in the sync ledger in a fifth of the time real ones take.
        "$insert_id": _uuid(rng.getrandbits(128)),
        "event_id": rng.randrange(1, 5000),
        "event_type": EVENT_TYPES[rng.randrange(len(EVENT_TYPES))],
        "user_id": f"user-{user:06d}",
        "device_id": f"device-{user:06d}-{user * 7919 % 100_000:05d}",
        "amplitude_id": 10_000_000_000 + user,
        "session_id": 1_767_225_600_000 + rng.randrange(86_400_000),
    }


def _small(rng: random.Random, hour: int, _index: int) -> dict[str, Any]:
    times = _times(rng, hour)
    platform, os_name, os_version = PLATFORMS[rng.randrange(3)]
    return {
        **_ids(rng),
        "event_time": times["event_time"],
        "client_event_time": times["client_event_time"],
        "server_upload_time": times["server_upload_time"],
        "platform": platform,
        "os_name": os_name,
        "os_version": os_version,
        "country": COUNTRIES[rng.randrange(len(COUNTRIES))],
        "language": "English",
        "ip_address": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
        "event_properties": {"page": f"/p/{rng.randrange(1000)}", "value": rng.randrange(100)},
        "user_properties": {"plan": "pro" if rng.random() < 0.3 else "free"},
    }


def _full(rng: random.Random, hour: int, _index: int) -> dict[str, Any]:
    ids = _ids(rng)
    platform, os_name, os_version = PLATFORMS[rng.randrange(3)]
    country = COUNTRIES[rng.randrange(len(COUNTRIES))]
    company = f"company-{rng.randrange(17):02d}"
    return {
        "uuid": ids["uuid"],
        "$insert_id": ids["$insert_id"],
        "$insert_key": None,
        "$schema": 12,
        "event_id": ids["event_id"],
        "event_type": ids["event_type"],
        "amplitude_event_type": None,
        "user_id": ids["user_id"],
        "device_id": ids["device_id"],
        "amplitude_id": ids["amplitude_id"],
        "app": PROJECT_ID,
        "session_id": ids["session_id"],
        **_times(rng, hour),
        "event_properties": {
            "page": f"/products/{rng.randrange(10_000)}",
            "price": round(rng.random() * 200, 2),
            "quantity": rng.randrange(1, 5),
        },
        "user_properties": {
            "plan": "pro" if rng.random() < 0.3 else "free",
            "age": rng.randrange(18, 80),
            "newsletter": rng.random() < 0.5,
        },
        "group_properties": {"company": {company: {"industry": "retail", "seats": 40}}},
        "groups": {"company": [company]},
        "global_user_properties": {},
        "data": {
            "path": "/batch",
            "user_properties_updated": rng.random() < 0.05,
            "group_first_event": {},
            "group_ids": {},
            "first_event": False,
        },
        "data_type": "event",
        "library": "amplitude-ts/2.11.1",
        "platform": platform,
        "os_name": os_name,
        "os_version": os_version,
        "device_brand": "Apple" if platform == "iOS" else "Google",
        "device_manufacturer": "Apple" if platform == "iOS" else "Google",
        "device_model": "iPhone 15" if platform == "iOS" else "Pixel 8",
        "device_family": "Apple iPhone" if platform == "iOS" else "Google Phone",
        "device_type": "Apple iPhone 15" if platform == "iOS" else "Google Pixel 8",
        "device_carrier": "Vodafone",
        "version_name": f"5.{rng.randrange(20)}.{rng.randrange(10)}",
        "start_version": "5.0.0",
        "ip_address": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
        "country": country,
        "region": "Bavaria",
        "city": "Munich",
        "dma": None,
        "language": "English",
        "location_lat": round(40 + rng.random() * 10, 6),
        "location_lng": round(rng.random() * 20, 6),
        "paying": None,
        "adid": None,
        "idfa": None,
        "amplitude_attribution_ids": None,
        "is_attribution_event": False,
        "sample_rate": None,
        "plan": {"branch": "main", "source": "web", "version": "3"},
        "partner_id": None,
        "source_id": None,
    }


POOL_SIZE = 4096  # variants of the wide properties: far more than deflate's 32 KB window holds


def _wide_properties(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    event: dict[str, Any] = {}
    for k in range(40):
        event[f"attribute_{k:02d}"] = (
            f"value-{rng.randrange(1_000_000):06d}" if k % 3 else rng.randrange(1_000_000)
        )
    event["items"] = [
        {"sku": f"SKU-{rng.randrange(100_000):05d}", "price": round(rng.random() * 90, 2),
         "tags": ["sale", "new"]}
        for _ in range(8)
    ]  # fmt: skip
    event["flags"] = {f"flag_{k}": rng.random() < 0.5 for k in range(12)}
    user = {f"trait_{k:02d}": f"segment-{rng.randrange(1000):03d}" for k in range(20)}
    return event, user


_POOL: list[tuple[dict[str, Any], dict[str, Any]]] = []


def _wide(rng: random.Random, hour: int, index: int) -> dict[str, Any]:
    if not _POOL:
        pool_rng = random.Random(4096)
        _POOL.extend(_wide_properties(pool_rng) for _ in range(POOL_SIZE))
    event = _full(rng, hour, index)
    more_event, more_user = _POOL[rng.randrange(POOL_SIZE)]
    event["event_properties"].update(more_event)
    event["user_properties"].update(more_user)
    return event


BUILDERS: dict[str, Callable[[random.Random, int, int], dict[str, Any]]] = {
    "small": _small,
    "full": _full,
    "wide": _wide,
}


@dataclass(frozen=True)
class Export:
    """One generated export on disk: zips per request pattern, the line count, the mean size."""

    shape: str
    events: int
    folder: Path

    def zip_for(self, start: str, end: str) -> Path:
        """The zip answering ``GET /api/2/export?start=<start>&end=<end>`` (``YYYYMMDDTHH``)."""
        return self.folder / f"{start}-{end}.zip"

    @property
    def line_bytes(self) -> int:
        """Mean uncompressed bytes a line (newline included)."""
        return int((self.folder / "line-bytes.txt").read_text())

    def hour_events(self, hour: int) -> int:
        return self.events // HOURS + (1 if hour < self.events % HOURS else 0)

    def records(self, hour: int) -> Iterator[dict[str, Any]]:
        """The events of one hour as the export holds them (for the target's input)."""
        rng = random.Random(_seed(self.shape, hour))
        build = BUILDERS[self.shape]
        for index in range(self.hour_events(hour)):
            yield build(rng, hour, index)


def _seed(shape: str, hour: int) -> int:
    return zlib.crc32(shape.encode()) * 1000 + hour


def hour_param(hour: int) -> str:
    return (START + timedelta(hours=hour)).strftime("%Y%m%dT%H")


def entry_name(hour: int) -> str:
    moment = START + timedelta(hours=hour)
    return f"{PROJECT_ID}/{PROJECT_ID}_{moment:%Y-%m-%d}_{moment.hour}#0.json.gz"


def folder(shape: str, events: int, cache: Path = CACHE) -> Path:
    """Where build() keeps an export of this shape and size."""
    return cache / f"{shape}-{events}-v{DATA_VERSION}"


def build(shape: str, events: int, *, cache: Path = CACHE) -> Export:
    """The export of ``events`` events of ``shape``, generated once (a few seconds a 100,000)."""
    if shape not in BUILDERS:
        raise ValueError(f"unknown shape {shape!r}; choose from {', '.join(SHAPES)}")
    export = Export(shape, events, folder(shape, events, cache))
    done = export.folder / "done"
    if done.exists():
        return export
    export.folder.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=2) as pool:  # the machine's two cores
        done_hours = list(pool.map(_write_hour, [(export, hour) for hour in range(HOURS)]))
    total_bytes = sum(size for size, _ in done_hours)
    gz_paths = [path for _, path in done_hours]
    day = export.zip_for(hour_param(0), hour_param(HOURS - 1))
    _write_zip(day, [(entry_name(h), gz_paths[h]) for h in range(HOURS)])
    for hour in range(HOURS):
        one = export.zip_for(hour_param(hour), hour_param(hour))
        _write_zip(one, [(entry_name(hour), gz_paths[hour])])
        gz_paths[hour].unlink()
    (export.folder / "line-bytes.txt").write_text(str(total_bytes // max(events, 1)))
    done.write_text("")
    return export


def _write_hour(job: tuple[Export, int]) -> tuple[int, Path]:
    """Write one hour's gzip file; its uncompressed size and path."""
    export, hour = job
    encode = msgspec.json.Encoder().encode
    lines = bytearray()
    for record in export.records(hour):
        lines += encode(record)
        lines += b"\n"
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # gzip container
    gz = export.folder / f"hour-{hour:02d}.json.gz"
    gz.write_bytes(compressor.compress(bytes(lines)) + compressor.flush())
    return len(lines), gz


def _write_zip(path: Path, entries: list[tuple[str, Path]]) -> None:
    partial = path.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(zipfile.ZipInfo(f"{PROJECT_ID}/", (2026, 1, 1, 0, 0, 0)), b"")
        for name, source in entries:
            archive.write(source, name)
    partial.rename(path)


def main() -> None:
    parser = argparse.ArgumentParser(description="build (or reuse) a generated export")
    parser.add_argument("--shape", choices=SHAPES, default="full")
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    export = build(args.shape, args.events)
    print(f"{export.folder}: {args.events:,} events, {export.line_bytes} bytes a line")


if __name__ == "__main__":
    main()
