"""Deterministic, realistic export data.

Nothing is held per event: the events of one hour are regenerated on demand from
``(seed, hour)``, so a project of a million events costs a few kilobytes until it is served.
Each event is produced as a ready JSON line (the per-user part is serialised once) plus a small
:class:`EventMeta` that the dashboard figures are computed from.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from amplitude_emulator.labels import group_labels
from amplitude_emulator.timefmt import MS_PER_DAY, MS_PER_HOUR, parse_start, raw_timestamp

DEFAULT_COUNTRIES = ("United States", "Germany", "France", "United Kingdom", "Brazil", "Japan")
DEFAULT_EVENT_TYPES = ("Page View", "Add to Cart", "Checkout", "Sign Up", "Search")

_CITIES: dict[str, tuple[str, str, float, float]] = {
    "United States": ("San Francisco", "California", 37.77, -122.42),
    "Germany": ("Berlin", "Land Berlin", 52.52, 13.40),
    "France": ("Paris", "Ile-de-France", 48.86, 2.35),
    "United Kingdom": ("London", "England", 51.51, -0.13),
    "Brazil": ("Sao Paulo", "Sao Paulo", -23.55, -46.63),
    "Japan": ("Tokyo", "Tokyo", 35.68, 139.69),
    "Canada": ("Toronto", "Ontario", 43.65, -79.38),
}
_LANGUAGES = {"Germany": "German", "France": "French", "Brazil": "Portuguese", "Japan": "Japanese"}
_DEVICES = (
    (
        "iOS",
        "ios",
        "17.2",
        "Apple",
        "Apple",
        "iPhone 15",
        "Apple iPhone",
        "Apple iPhone",
        "Verizon",
    ),
    (
        "Android",
        "android",
        "14",
        "samsung",
        "samsung",
        "SM-S918B",
        "Samsung Galaxy",
        "Android",
        "T-Mobile",
    ),
    ("Web", "Chrome", "120", None, None, None, "Windows", None, None),
    ("Web", "Safari", "17.1", None, None, None, "Mac OS X", None, None),
)
_LIBRARIES = {
    "iOS": "amplitude-swift/1.4.0",
    "Android": "amplitude-kotlin/1.12.2",
    "Web": "amplitude-ts/2.4.1",
}
_PLANS = ("free", "starter", "pro", "enterprise")
_INTERESTS = ("sports", "music", "travel", "cooking", "tech", "art")
SESSION_MS = 1_800_000


@dataclass(frozen=True)
class GeneratorSpec:
    """What to generate: the same spec always yields byte-identical data."""

    seed: int = 7
    events: int = 5000
    start: str = "2026-01-01T00"
    hours: int = 48
    users: int = 200
    countries: Sequence[str] = field(default=DEFAULT_COUNTRIES)
    event_types: Sequence[str] = field(default=DEFAULT_EVENT_TYPES)
    late_fraction: float = 0.05
    anonymous_fraction: float = 0.1

    def __post_init__(self) -> None:
        if self.events < 0 or self.hours < 1 or self.users < 1:
            raise ValueError("GeneratorSpec needs events >= 0, hours >= 1 and users >= 1")
        if not self.countries or not self.event_types:
            raise ValueError("GeneratorSpec needs at least one country and one event type")
        if not 0.0 <= self.late_fraction <= 1.0:
            raise ValueError("GeneratorSpec.late_fraction must be between 0 and 1")
        parse_start(self.start)  # validates the format early


class EventMeta(NamedTuple):
    """What the dashboard figures need of one event."""

    user_key: str  # user_id, or the device_id of an anonymous user
    event_time_ms: int
    session_id: int
    event_type: str
    country: str | None
    platform: str | None
    labels: Mapping[str, str] | None = None  # group-by property -> label (dashboard.label_of)


@dataclass(frozen=True)
class _User:
    index: int
    user_id: str | None
    device_id: str
    country: str
    platform: str
    fragment: str  # the per-user JSON members, serialised once
    labels: Mapping[str, str]  # the dashboard group-by labels of this user

    @property
    def key(self) -> str:
        return self.user_id or self.device_id


def _hour_counts(spec: GeneratorSpec) -> list[int]:
    """Split ``spec.events`` over the hours with a daily rhythm; sums exactly to events."""
    rng = random.Random(spec.seed * 7919 + 1)
    start_hour = parse_start(spec.start)
    weights = []
    for offset in range(spec.hours):
        hour_of_day = (start_hour + offset) % 24
        rhythm = 1.0 + 0.6 * math.sin((hour_of_day - 9) / 24 * 2 * math.pi)
        weights.append(rhythm * rng.uniform(0.7, 1.3))
    total = sum(weights)
    exact = [spec.events * weight / total for weight in weights]
    counts = [int(value) for value in exact]
    remainder = spec.events - sum(counts)
    order = sorted(range(spec.hours), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in order[:remainder]:
        counts[i] += 1
    return counts


def _make_user(spec: GeneratorSpec, project_id: int, index: int, start_ms: int) -> _User:
    rng = random.Random(f"{spec.seed}:user:{index}")
    anonymous = rng.random() < spec.anonymous_fraction
    user_id = None if anonymous else f"user-{index:05d}"
    device_id = str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()
    country = spec.countries[rng.randrange(len(spec.countries))]
    city, region, lat, lng = _CITIES.get(country, (None, None, 0.0, 0.0))
    platform, os_name, os_version, brand, maker, model, family, dtype, carrier = _DEVICES[
        rng.randrange(len(_DEVICES))
    ]
    created_ms = start_ms - rng.randrange(1, 400) * MS_PER_DAY + rng.randrange(MS_PER_DAY)
    version = f"{rng.randint(3, 5)}.{rng.randint(0, 12)}.{rng.randint(0, 9)}"
    user_properties: dict[str, Any] = {
        "plan": _PLANS[rng.randrange(len(_PLANS))],
        "signup_source": rng.choice(["organic", "ads", "referral", None]),
        "age": rng.choice([None, rng.randint(18, 80)]),
        "interests": rng.sample(_INTERESTS, rng.randint(0, 3)),
        "preferences": {"newsletter": rng.random() < 0.5, "theme": rng.choice(["dark", "light"])},
        "lifetime_value": round(rng.uniform(0, 500), 2),
    }
    members: dict[str, Any] = {
        "user_id": user_id,
        "device_id": device_id,
        "amplitude_id": 100_000_000_000 + project_id % 1000 * 1_000_000 + index,
        "app": project_id,
        "user_creation_time": raw_timestamp(created_ms, 6 if index % 5 else 0),
        "user_properties": user_properties,
        "library": _LIBRARIES[platform],
        "platform": platform,
        "os_name": os_name,
        "os_version": os_version,
        "device_brand": brand,
        "device_manufacturer": maker,
        "device_model": model,
        "device_family": family,
        "device_type": dtype,
        "device_carrier": carrier,
        "version_name": version if platform != "Web" else None,
        "start_version": version if platform != "Web" and rng.random() < 0.5 else None,
        "ip_address": ".".join(str(rng.randint(1, 220)) for _ in range(4)),
        "country": country,
        "region": region,
        "city": city,
        "dma": "San Francisco-Oakland-San Jose, CA" if country == "United States" else None,
        "language": _LANGUAGES.get(country, "English"),
        "location_lat": round(lat + rng.uniform(-0.2, 0.2), 4) if rng.random() < 0.7 else None,
        "location_lng": round(lng + rng.uniform(-0.2, 0.2), 4) if rng.random() < 0.7 else None,
        "paying": rng.choice([None, True, False]),
        "adid": str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if platform == "Android"
        else None,
        "idfa": str(uuid.UUID(int=rng.getrandbits(128), version=4)) if platform == "iOS" else None,
    }
    fragment = json.dumps(members, separators=(", ", ": "))[1:-1]
    return _User(index, user_id, device_id, country, platform, fragment, group_labels(members))


def _below(rng: random.Random, n: int) -> int:
    """A fast ``randrange(n)`` (deterministic for a seed; not uniform to the last bit)."""
    return int(rng.random() * n)


def _between(rng: random.Random, low: int, high: int) -> int:
    return low + int(rng.random() * (high - low + 1))


def _pick(rng: random.Random, options: Sequence[Any]) -> Any:
    return options[int(rng.random() * len(options))]


def _event_properties(rng: random.Random, type_index: int, event_type: str) -> dict[str, Any]:
    props: dict[str, Any] = {
        "page": {"path": f"/products/{_between(rng, 1, 500)}", "title": f"{event_type} page"},
        "referrer": _pick(rng, [None, "https://www.google.com/", "https://news.example.com/a"]),
        "tags": rng.sample(_INTERESTS, _between(rng, 0, 2)),
    }
    kind = type_index % 4
    if kind == 1:
        props["cart"] = {
            "value": round(rng.uniform(5, 300), 2),
            "currency": _pick(rng, ["USD", "EUR"]),
            "items": [
                {
                    "sku": f"SKU-{_between(rng, 100, 999)}",
                    "qty": _between(rng, 1, 3),
                    "price": round(rng.uniform(1, 99), 2),
                }
                for _ in range(_between(rng, 1, 3))
            ],
        }
    elif kind == 2:
        props["experiment"] = {
            "id": f"exp-{_between(rng, 1, 9)}",
            "variant": _pick(rng, ["A", "B", None]),
        }
        props["duration_ms"] = _between(rng, 10, 90_000)
    elif kind == 3:
        props["query"] = _pick(rng, ["shoes", "red dress", "", None])
        props["results"] = _between(rng, 0, 120)
    props["is_first"] = rng.random() < 0.1
    return props


class GeneratedData:
    """The generated part of one project's data, regenerated per hour on demand."""

    def __init__(self, spec: GeneratorSpec, project_id: int) -> None:
        self.spec = spec
        self.project_id = project_id
        self.start_hour = parse_start(spec.start)
        self.counts = _hour_counts(spec)
        start_ms = self.start_hour * MS_PER_HOUR
        self.users = [_make_user(spec, project_id, i, start_ms) for i in range(spec.users)]

    @property
    def total(self) -> int:
        return self.spec.events

    def count_in(self, hour: int) -> int:
        offset = hour - self.start_hour
        if 0 <= offset < len(self.counts):
            return self.counts[offset]
        return 0

    def hours_with_data(self) -> list[int]:
        return [self.start_hour + i for i, count in enumerate(self.counts) if count]

    def generate_hour(self, hour: int) -> tuple[list[str], list[EventMeta]]:
        """The JSON lines (export order: by server_upload_time) and metadata of one hour."""
        count = self.count_in(hour)
        if not count:
            return [], []
        spec = self.spec
        rng = random.Random(spec.seed * 1_000_003 + hour)
        hour_ms = hour * MS_PER_HOUR
        uploads = sorted(_below(rng, MS_PER_HOUR) for _ in range(count))
        users = self.users
        event_types = spec.event_types
        late_fraction = spec.late_fraction
        lines: list[str] = []
        metas: list[EventMeta] = []
        dumps = json.dumps
        for position, upload_offset in enumerate(uploads):
            user = users[_below(rng, len(users))]
            upload_ms = hour_ms + upload_offset
            if rng.random() < late_fraction:
                event_ms = upload_ms - _between(rng, 1, 6) * MS_PER_DAY - _below(rng, MS_PER_DAY)
            else:
                event_ms = upload_ms - _between(rng, 50, 90_000)
            type_index = _below(rng, len(event_types))
            event_type = event_types[type_index]
            phase = user.index * 7919 % SESSION_MS
            session_id = (
                -1 if rng.random() < 0.05 else (event_ms - phase) // SESSION_MS * SESSION_MS + phase
            )
            precision = rng.random()
            client_upload_ms = upload_ms - _between(rng, 5, 400)
            groups: dict[str, Any] = {}
            group_properties: dict[str, Any] = {}
            if rng.random() < 0.3:
                company = f"company-{user.index % 17:02d}"
                groups = {"company": [company]}
                group_properties = {
                    "company": {company: {"industry": "retail", "seats": user.index % 17 * 10}}
                }
            attribution: str | None = None
            if rng.random() < 0.02:
                # A string, as the Export API docs type it (the draws of an earlier version,
                # which sometimes made a list, are kept so the rest of the data is unchanged).
                first, second = f"attr-{_below(rng, 10**6)}", f"attr-{_below(rng, 10**6)}"
                attribution = _pick(rng, [first, second])
            event_ts = raw_timestamp(event_ms)
            event: dict[str, Any] = {
                "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "$insert_id": None
                if rng.random() < 0.1
                else f"ins-{hour}-{position}-{rng.getrandbits(32):08x}",
                "$insert_key": None,
                "$schema": 12 if rng.random() < 0.5 else None,
                "event_id": _between(rng, 1, 5000),
                "event_type": event_type,
                "amplitude_event_type": None,
                "session_id": session_id,
                "event_time": event_ts if precision > 0.03 else raw_timestamp(event_ms, 0),
                "client_event_time": event_ts,
                "client_upload_time": raw_timestamp(
                    client_upload_ms // 1000 * 1000 if precision < 0.1 else client_upload_ms,
                    0 if precision < 0.1 else 6,
                ),
                "server_received_time": raw_timestamp(upload_ms - _between(rng, 1, 40)),
                "server_upload_time": raw_timestamp(upload_ms),
                "processed_time": raw_timestamp(
                    upload_ms + _between(rng, 100, 5000), 3 if precision > 0.8 else 6
                ),
                "event_properties": _event_properties(rng, type_index, event_type),
                "group_properties": group_properties,
                "groups": groups,
                "global_user_properties": {},
                "data": {
                    "path": "/batch" if user.platform == "Web" else "/2/httpapi",
                    "user_properties_updated": rng.random() < 0.05,
                    "group_first_event": {},
                    "group_ids": {},
                    "first_event": rng.random() < 0.01,
                },
                "data_type": "event",
                "amplitude_attribution_ids": attribution,
                "is_attribution_event": attribution is not None,
                "sample_rate": None,
                "plan": {"branch": "main", "source": "web", "version": "3"}
                if rng.random() < 0.2
                else {},
                "partner_id": None,
                "source_id": None,
            }
            lines.append(f"{dumps(event, separators=(', ', ': '))[:-1]}, {user.fragment}}}")
            metas.append(
                EventMeta(
                    user.key,
                    event_ms,
                    session_id,
                    event_type,
                    user.country,
                    user.platform,
                    user.labels,
                )
            )
        return lines, metas

    def annotations(self) -> list[dict[str, Any]]:
        """A few chart annotations spread over the generated window (v3 shape)."""
        rng = random.Random(f"{self.spec.seed}:annotations")
        labels = (
            "Release 4.2",
            "Black Friday campaign",
            "Tracking plan v3",
            "Outage",
            "Pricing change",
        )
        categories = ({"id": 45678, "name": "Releases"}, {"id": 45679, "name": "Marketing"}, None)
        span = max(1, len(self.counts) // 24 + 1)
        result = []
        for i, label in enumerate(labels[: 2 + self.spec.seed % 3 + 1]):
            day_ms = (self.start_hour * MS_PER_HOUR // MS_PER_DAY + i % span) * MS_PER_DAY
            start_ms = day_ms + rng.randrange(24) * MS_PER_HOUR
            result.append(
                {
                    "id": 160_000 + self.spec.seed * 100 + i,
                    "start_ms": start_ms,
                    "end_ms": start_ms + MS_PER_DAY if i % 3 == 2 else None,
                    "label": label,
                    "details": None if i % 2 else f"{label}: deployed to all users",
                    "category": categories[i % len(categories)],
                    "chart_id": f"ch{rng.randrange(10**5):05d}" if i % 4 == 3 else None,
                }
            )
        return result

    def cohorts(self, start_ms: int) -> list[dict[str, Any]]:
        """A few behavioural cohorts in the /api/3/cohorts shape."""
        rng = random.Random(f"{self.spec.seed}:cohorts")
        names = ("Power users", "Churn risk", "Checkout in 7 days", "New in Germany")
        result = []
        for i, name in enumerate(names[: 2 + self.spec.seed % 3]):
            created_s = start_ms // 1000 - rng.randrange(1, 90) * 86_400
            result.append(
                {
                    "appId": self.project_id,
                    "archived": i == 3,
                    "definition": {
                        "version": 3,
                        "countGroup": {"name": "User", "is_computed": False},
                        "cohortType": "UNIQUES",
                        "andClauses": [
                            {
                                "negated": i == 1,
                                "orClauses": [
                                    {
                                        "type": "event",
                                        "time_type": "rolling",
                                        "time_value": 7 + i,
                                        "offset": 0,
                                        "interval": 1,
                                        "type_value": self.spec.event_types[
                                            i % len(self.spec.event_types)
                                        ],
                                        "operator": ">=",
                                        "value": i + 1,
                                        "group_by": [],
                                    }
                                ],
                            }
                        ],
                        "referenceFrameTimeParams": {},
                    },
                    "description": None if i == 2 else f"{name} (generated)",
                    "finished": True,
                    "id": f"{rng.getrandbits(32):08x}"[:7],
                    "name": name,
                    "owners": [f"owner{i}@example.com"],
                    "viewers": [] if i % 2 else ["analyst@example.com"],
                    "published": i != 1,
                    "size": rng.randint(1, max(1, self.spec.users)),
                    "type": "redshift",
                    "lastMod": created_s + 3600 * (i + 1),
                    "createdAt": created_s,
                    "lastComputed": created_s + 7200 * (i + 1),
                    "hidden": False,
                    "metadata": ["cohort_v2"] if i % 2 else [],
                    "view_count": rng.randint(0, 50),
                    "popularity": rng.randint(0, 10),
                    "last_viewed": created_s + 86_400,
                    "chart_id": None,
                    "edit_id": None,
                    "location_id": None,
                    "is_predictive": i == 2,
                    "is_official_content": i == 0,
                    "shortcut_ids": [],
                }
            )
        return result
