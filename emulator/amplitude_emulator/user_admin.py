"""User mapping (/usermap), the User Privacy API (deletions) and cohort upload/membership.

State per project (``Project.admin``) and the request rules, as pure as the HTTP layer allows:
each ``handle_*`` takes the parsed request and returns ``(status, body)``; server.py does the
routing, authentication and logging. Sources (emulator/README.md's table):
- usermap: amplitude.com/docs/apis/analytics/user-mapping (fields, 2000 per batch, 1 MB, 50
  per second over a 30-second window, "throttles all requests"; mapped user's events count
  under the global user, user properties are not merged); EU host from the Regions table.
- deletions: …/user-privacy (body, 100 ids per request, 1 request per second, ignore_invalid_id,
  the jobs and GET start_day/end_day, "within 30 days after receiving the request"); six-month
  window from the dev-center docs; the flag's values from the server's own message ("400
  ignore_invalid_id can only be 'True' or 'False'", Amplitude developer-docs issue #696).
- cohorts: …/behavioral-cohorts (Upload cohort: fields, skip_save, skip_invalid_ids, response
  cohortId + metadata; Update cohort membership: BY_ID/BY_NAME, ADD/REMOVE; 100,000 ids).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

USERMAP_MAX_MAPPINGS = 2000
USERMAP_MAX_BYTES = 1024 * 1024
USERMAP_WINDOW_SECONDS = 30.0
USERMAP_PER_WINDOW = 1500  # 50 per second over a 30-second window
DELETION_MAX_IDS = 100
DELETION_MIN_INTERVAL_SECONDS = 1.0
# The docs promise deletion "within 30 days after receiving the request" and name no day; the
# emulator schedules the job 10 days on (within those 30; the 2023 docs said "10-13 days").
DELETION_SCHEDULE_DAYS = 10
DELETION_WITHIN_DAYS = 30
# The only values the server takes for the flag, as strings: its message for anything else.
FLAG_VALUES = ("True", "False")
DELETION_MAX_RANGE_DAYS = 183  # "The largest permitted time range is six months."
DELETION_FREEZE_DAYS = 3  # "until three (3) days before the day the job scheduled run date"
COHORT_MAX_IDS = 100_000
INVALID_SAMPLE = 10
_TRUE = (True, "true", "True", "TRUE", 1, "1")


def _error(status: int, message: str, **metadata: Any) -> dict[str, Any]:
    """The Dashboard REST error shape these APIs share."""
    body: dict[str, Any] = {"http_code": status, "type": "invalid", "message": message}
    if metadata:
        body["metadata"] = metadata
    return {"error": body}


@dataclass
class DeletionJob:
    day: date
    requests: list[dict[str, Any]] = field(default_factory=list)  # amplitude_ids entries

    def body(self, today: date) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "status": job_status(self.day, today),
            "amplitude_ids": list(self.requests),
        }


def job_status(day: date, today: date) -> str:
    """staging until three days before the job's day, then submitted, done from its day on
    ("You can revoke requests in the batch until three (3) days before the day the job
    scheduled run date ... After the three (3) day period, the request's status changes to
    `submitted` ... After the job completes, its status changes to `done`", User Privacy API)."""
    if today >= day:
        return "done"
    return "submitted" if today >= day - timedelta(days=DELETION_FREEZE_DAYS) else "staging"


@dataclass
class AdminState:
    """What the three APIs stored for one project."""

    usermap: dict[str, str] = field(default_factory=dict)  # user_id -> global_user_id
    jobs: dict[date, DeletionJob] = field(default_factory=dict)
    cohorts: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> list shape
    members: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> {id: id_type}
    usermap_window: deque[tuple[float, int]] = field(default_factory=deque)
    last_deletion: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    cohort_counter: int = 0

    def deleted(self, today: date) -> tuple[frozenset[str], frozenset[int]]:
        """(user_ids, amplitude_ids) of jobs whose day has come: gone from exports."""
        users: set[str] = set()
        amp: set[int] = set()
        for job in self.jobs.values():
            if today >= job.day:
                for entry in job.requests:
                    amp.add(int(entry["amplitude_id"]))
                    if entry.get("user_id") is not None:
                        users.add(str(entry["user_id"]))
        return frozenset(users), frozenset(amp)

    def clear(self) -> None:
        self.usermap.clear()
        self.jobs.clear()
        self.cohorts.clear()
        self.members.clear()
        self.usermap_window.clear()
        self.last_deletion = None


class Lookup:
    """What the project knows of its users (injected by the store: ids it has seen)."""

    def __init__(
        self,
        amplitude_id_of_user: Any,
        known_amplitude_id: Any,
        user_of_amplitude_id: Any,
    ) -> None:
        self.amplitude_id_of_user = amplitude_id_of_user
        self.known_amplitude_id = known_amplitude_id
        self.user_of_amplitude_id = user_of_amplitude_id


# -- /usermap ----------------------------------------------------------------------------------


def handle_usermap(
    state: AdminState, mapping_text: str | None, body_size: int, now: float | None = None
) -> tuple[int, Any]:
    """Apply a /usermap request (form or query fields already parsed)."""
    if body_size > USERMAP_MAX_BYTES:
        return 413, {"code": 413, "error": "Payload too large"}
    try:
        parsed = json.loads(mapping_text or "")
    except ValueError:
        return 400, {"code": 400, "error": "mapping must be a JSON object or array"}
    items = parsed if isinstance(parsed, list) else [parsed]
    if not items or not all(isinstance(i, dict) for i in items):
        return 400, {"code": 400, "error": "mapping must be a JSON object or array of objects"}
    if len(items) > USERMAP_MAX_MAPPINGS:
        return 413, {"code": 413, "error": "Payload too large"}
    for index, item in enumerate(items):
        unmap = item.get("unmap") in _TRUE
        if not isinstance(item.get("user_id"), str) or not item["user_id"]:
            return 400, {"code": 400, "error": f"Invalid mapping at index {index}: user_id"}
        if not unmap and (
            not isinstance(item.get("global_user_id"), str) or not item["global_user_id"]
        ):
            return 400, {"code": 400, "error": f"Invalid mapping at index {index}: global_user_id"}
    now = time.monotonic() if now is None else now
    with state.lock:
        window = state.usermap_window
        while window and window[0][0] <= now - USERMAP_WINDOW_SECONDS:
            window.popleft()
        if sum(n for _, n in window) + len(items) > USERMAP_PER_WINDOW:
            return 429, {"code": 429, "error": "Too many requests: over 50 mappings per second"}
        window.append((now, len(items)))
        for item in items:
            if item.get("unmap") in _TRUE:
                state.usermap.pop(item["user_id"], None)
            else:
                state.usermap[item["user_id"]] = item["global_user_id"]
    return 200, "success"


# -- /api/2/deletions/users ---------------------------------------------------------------------


def handle_deletion(
    state: AdminState, body: Any, lookup: Lookup, today: date, now: float | None = None
) -> tuple[int, Any]:
    """POST /api/2/deletions/users."""
    if not isinstance(body, dict):
        return 400, _error(400, "The body must be a JSON object")
    amp_ids = body.get("amplitude_ids") or []
    user_ids = body.get("user_ids") or []
    requester = body.get("requester")
    if not isinstance(amp_ids, list) or not isinstance(user_ids, list):
        return 400, _error(400, "amplitude_ids and user_ids must be arrays")
    if not amp_ids and not user_ids:
        return 400, _error(400, "amplitude_ids or user_ids is required")
    if len(amp_ids) + len(user_ids) > DELETION_MAX_IDS:
        return 400, _error(400, "At most 100 amplitude_ids or user_ids per request")
    # Amplitude's own pages spell the flag ignore_invalid_id and ignore_invalid_ids; the server
    # takes only the strings 'True' and 'False' (a JSON true is refused with this message).
    for key in ("ignore_invalid_id", "ignore_invalid_ids"):
        if key in body and body[key] not in FLAG_VALUES:
            return 400, _error(400, f"{key} can only be 'True' or 'False'")
    ignore = any(body.get(k) == "True" for k in ("ignore_invalid_id", "ignore_invalid_ids"))
    now = time.monotonic() if now is None else now
    entries: list[dict[str, Any]] = []
    invalid: list[Any] = []
    for uid in user_ids:
        amp = lookup.amplitude_id_of_user(str(uid))
        if amp is None:
            invalid.append(uid)
        else:
            entries.append({"amplitude_id": amp, "user_id": str(uid)})
    for amp_id in amp_ids:
        try:
            known = lookup.known_amplitude_id(int(amp_id))
        except (TypeError, ValueError):
            known = False
        if not known:
            invalid.append(amp_id)
        else:
            entries.append(
                {"amplitude_id": int(amp_id), "user_id": lookup.user_of_amplitude_id(int(amp_id))}
            )
    with state.lock:
        if (
            state.last_deletion is not None
            and now - state.last_deletion < DELETION_MIN_INTERVAL_SECONDS
        ):
            return 429, _error(429, "Too many requests: 1 request per second")
        state.last_deletion = now
        if invalid and not ignore:
            return 400, _error(400, "Some users were not found in the project", invalid_ids=invalid)
        day = today + timedelta(days=DELETION_SCHEDULE_DAYS)
        job = state.jobs.setdefault(day, DeletionJob(day))
        for entry in entries:
            job.requests.append(
                {
                    "amplitude_id": entry["amplitude_id"],
                    "requester": requester,
                    "requested_on_day": today.isoformat(),
                    **({"user_id": entry["user_id"]} if entry["user_id"] is not None else {}),
                }
            )
        answer = job.body(today)
        answer["amplitude_ids"] = answer["amplitude_ids"][-len(entries) :] if entries else []
        answer["invalid_ids"] = invalid
    return 200, [answer]


def handle_deletion_jobs(state: AdminState, query: dict[str, str], today: date) -> tuple[int, Any]:
    """GET /api/2/deletions/users?start_day=&end_day= -> the jobs of days in the range."""
    try:
        start = date.fromisoformat(query.get("start_day", ""))
        end = date.fromisoformat(query.get("end_day", ""))
    except ValueError:
        return 400, _error(400, "start_day and end_day are required as YYYY-MM-DD")
    if end < start or (end - start).days > DELETION_MAX_RANGE_DAYS:
        return 400, _error(400, "The largest permitted time range is six months")
    with state.lock:
        jobs = [job.body(today) for day, job in sorted(state.jobs.items()) if start <= day <= end]
    return 200, jobs


# -- /api/3/cohorts/upload and /membership ------------------------------------------------------


def _split_ids(
    ids: list[Any], by_amplitude_id: bool, lookup: Lookup
) -> tuple[list[str], list[str]]:
    valid: list[str] = []
    invalid: list[str] = []
    for raw in ids:
        value = str(raw)
        if by_amplitude_id:
            ok = value.isdigit() and lookup.known_amplitude_id(int(value))
        else:
            ok = lookup.amplitude_id_of_user(value) is not None
        (valid if ok else invalid).append(value)
    return valid, invalid


def handle_cohort_upload(
    state: AdminState, body: Any, lookup: Lookup, project_id: int, now_s: int
) -> tuple[int, Any]:
    """POST /api/3/cohorts/upload."""
    if not isinstance(body, dict):
        return 400, _error(400, "The body must be a JSON object")
    for key in ("name", "app_id", "id_type", "ids", "owner", "published"):
        if key not in body:
            return 400, _error(400, f"Missing required field {key}")
    if body["app_id"] != project_id:
        return 400, _error(400, f"Invalid app_id {body['app_id']!r} for this API key")
    if body["id_type"] not in ("BY_AMP_ID", "BY_USER_ID"):
        return 400, _error(400, "id_type must be BY_AMP_ID or BY_USER_ID")
    ids = body["ids"]
    if not isinstance(ids, list):
        return 400, _error(400, "ids must be an array")
    if len(ids) > COHORT_MAX_IDS:
        return 400, _error(400, "At most 100,000 ids per request")
    existing = body.get("existing_cohort_id")
    with state.lock:
        if existing is not None and existing not in state.cohorts:
            return 400, _error(400, f"Unknown existing_cohort_id {existing!r}")
    id_type = "BY_ID" if body["id_type"] == "BY_AMP_ID" else "BY_NAME"
    valid, invalid = _split_ids(ids, id_type == "BY_ID", lookup)
    skip_invalid = body.get("skip_invalid_ids", True) in _TRUE
    if invalid and not skip_invalid:
        return 400, _error(400, "The upload has invalid ids", invalid_ids=invalid[:INVALID_SAMPLE])
    metadata = {
        "matched": len(valid),
        "totals": len(ids),
        "invalid_ids_sample": invalid[:INVALID_SAMPLE],
    }
    if body.get("skip_save") in _TRUE:
        return 200, {"cohortId": existing, "metadata": metadata}
    with state.lock:
        if existing is None:
            state.cohort_counter += 1
            cohort_id = f"up{project_id % 10000:04d}{state.cohort_counter:03d}"
        else:
            cohort_id = existing
        state.members[cohort_id] = dict.fromkeys(valid, id_type)
        previous = state.cohorts.get(cohort_id, {})
        state.cohorts[cohort_id] = {
            "appId": project_id,
            "archived": False,
            "definition": {},
            "description": previous.get("description"),
            "finished": True,
            "id": cohort_id,
            "name": body["name"],
            "owners": [body["owner"]],
            "viewers": [],
            "published": bool(body["published"] in _TRUE),
            "size": len(valid),
            "type": "manual_upload",
            "lastMod": now_s,
            "createdAt": previous.get("createdAt", now_s),
            "lastComputed": now_s,
            "hidden": False,
            "metadata": [],
            "view_count": 0,
            "popularity": 0,
            "last_viewed": None,
            "chart_id": None,
            "edit_id": None,
            "location_id": None,
            "is_predictive": False,
            "is_official_content": False,
            "shortcut_ids": [],
        }
    return 200, {"cohortId": cohort_id, "metadata": metadata}


def handle_cohort_membership(
    state: AdminState, body: Any, lookup: Lookup, now_s: int
) -> tuple[int, Any]:
    """POST /api/3/cohorts/membership: ADD/REMOVE ids BY_ID (amplitude id) or BY_NAME (user id)."""
    if not isinstance(body, dict):
        return 400, _error(400, "The body must be a JSON object")
    cohort_id = body.get("cohort_id")
    memberships = body.get("memberships")
    if not isinstance(memberships, list) or not memberships:
        return 400, _error(400, "Missing required field memberships")
    total = 0
    for item in memberships:
        if (
            not isinstance(item, dict)
            or item.get("id_type") not in ("BY_ID", "BY_NAME")
            or item.get("operation") not in ("ADD", "REMOVE")
            or not isinstance(item.get("ids"), list)
        ):
            return 400, _error(
                400, "Each membership needs ids, id_type BY_ID|BY_NAME, operation ADD|REMOVE"
            )
        total += len(item["ids"])
    if total > COHORT_MAX_IDS:
        return 400, _error(400, "At most 100,000 ids per request")
    skip_invalid = body.get("skip_invalid_ids", True) in _TRUE
    results = []
    with state.lock:
        if cohort_id not in state.cohorts:
            return 400, _error(400, f"Unknown cohort_id {cohort_id!r}")
        members = state.members.setdefault(str(cohort_id), {})
        planned = []
        for item in memberships:
            valid, invalid = _split_ids(item["ids"], item["id_type"] == "BY_ID", lookup)
            if invalid and not skip_invalid:
                return 400, {
                    "message": "Invalid ids",
                    "code": 400,
                    "metadata": {"cohort_id": cohort_id, "memberships_result": []},
                }
            planned.append((item, valid))
            results.append(
                {"skipped_ids": invalid, "id_type": item["id_type"], "operation": item["operation"]}
            )
        for item, valid in planned:
            for value in valid:
                if item["operation"] == "ADD":
                    members[value] = item["id_type"]
                else:
                    members.pop(value, None)
        cohort = state.cohorts[str(cohort_id)]
        cohort["size"] = len(members)
        cohort["lastMod"] = cohort["lastComputed"] = now_s
    return 200, {"cohort_id": cohort_id, "memberships_result": results}
