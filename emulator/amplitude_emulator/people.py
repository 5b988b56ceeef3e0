"""The people of one project: user and device profiles, groups, identities, and what an ingested
event captures of them (the profile it carries, its groups, its amplitude_id)."""

from __future__ import annotations

import threading
from typing import Any

from amplitude_emulator.event_store import PendingExport
from amplitude_emulator.generator import EventMeta
from amplitude_emulator.identity import Identities, assigned_device_id
from amplitude_emulator.ingest_validation import IDENTIFY_EVENT
from amplitude_emulator.labels import group_labels
from amplitude_emulator.normalise import is_revenue, language_name, revenue_properties
from amplitude_emulator.profiles import (
    GROUP_OPERATIONS,
    USER_OPERATIONS,
    apply_operations,
    normalise_operations,
)
from amplitude_emulator.user_admin import Lookup

_LABEL_FIELDS = ("city", "region", "dma", "platform", "os_name", "os_version", "device_model")


def _has_revenue_fields(event: dict[str, Any]) -> bool:
    properties = event.get("event_properties")
    return (
        "price" in event
        or "revenue" in event
        or (isinstance(properties, dict) and ("$price" in properties or "$revenue" in properties))
    )


class People:
    """Profiles (``users``, ``devices``: a device tied to a user shares its dict), ``groups``,
    ``user_groups`` and identities; guarded by the project's lock."""

    def __init__(self, lock: threading.RLock) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.devices: dict[str, dict[str, Any]] = {}
        self.groups: dict[tuple[str, str], dict[str, Any]] = {}
        self.user_groups: dict[str, dict[str, Any]] = {}
        self.identities = Identities()
        self._paying: set[str] = set()  # persons with a revenue event ("paying")
        self._start_versions: dict[str, str] = {}  # person -> first app_version seen
        self._lock = lock

    def profile_for(self, user_id: str | None, device_id: str | None) -> dict[str, Any]:
        """The live profile dict of a user/device; ties the device to the user when both given."""
        with self._lock:
            if user_id is not None:
                profile = self.users.setdefault(user_id, {})
                if device_id is not None:
                    anonymous = self.devices.get(device_id)
                    if anonymous is not None and anonymous is not profile:
                        for key, value in anonymous.items():
                            profile.setdefault(key, value)
                    self.devices[device_id] = profile
                return profile
            assert device_id is not None
            return self.devices.setdefault(device_id, {})

    def update(self, profile: dict[str, Any], operations: dict[str, Any]) -> None:
        updated = apply_operations(profile, operations)
        profile.clear()
        profile.update(updated)

    def identify(self, identifications: list[dict[str, Any]], now_ms: int = 0) -> None:
        """Apply validated /identify objects to the stored profiles."""
        with self._lock:
            for item in identifications:
                user_id, device_id = item.get("user_id"), item.get("device_id")
                if user_id is not None and device_id is not None:
                    self.identities.resolve(
                        user_id, device_id, now_ms
                    )  # "set the User ID for a Device ID"
                profile = self.profile_for(user_id, device_id)
                operations = normalise_operations(item.get("user_properties"), USER_OPERATIONS)
                self.update(profile, operations)
                groups = item.get("groups")
                if groups:
                    owner = user_id or device_id
                    assert owner is not None
                    self.user_groups.setdefault(owner, {}).update(groups)
                    profile.update(groups)

    def group_identify(self, identifications: list[dict[str, Any]]) -> None:
        """Apply validated /groupidentify objects to the stored groups."""
        with self._lock:
            for item in identifications:
                key = (item["group_type"], item["group_value"])
                props = self.groups.setdefault(key, {})
                self.update(
                    props, normalise_operations(item.get("group_properties"), GROUP_OPERATIONS)
                )

    def group_identify_event(self, event: dict[str, Any]) -> None:
        """A ``$groupidentify`` event: its ``group_properties`` operations applied to every
        group its ``groups`` names (it is not an exportable event of a user)."""
        operations = normalise_operations(event.get("group_properties"), USER_OPERATIONS)
        for group_type, values in (event.get("groups") or {}).items():
            for value in values if isinstance(values, list) else [values]:
                self.update(self.groups.setdefault((group_type, str(value)), {}), operations)

    def capture(
        self,
        event: dict[str, Any],
        now: int,
        now_raw: str,
        path: str,
        counter: int,
        usermap: dict[str, str],
    ) -> tuple[PendingExport, EventMeta]:
        """Apply the event to the people now; its export record is built later (``counter``: its
        number in the project, for its uuid; ``usermap``: /usermap's user -> global user).

        What depends on the project's state at ingest (the profile the event carries, groups,
        ids) is captured here; the export record is built when the hour is first exported.
        """
        user_id, device_id = event.get("user_id"), event.get("device_id")
        exported_device = device_id if device_id is not None else assigned_device_id(str(user_id))
        amplitude_id = self.identities.resolve(user_id, exported_device, now)
        person = self.identities.person(user_id, exported_device)
        global_user = usermap.get(str(user_id)) if user_id is not None else None
        if global_user is not None:
            # /usermap: the user's events join the global user's stream and counts; the user's
            # own properties stay on the user (not merged).
            amplitude_id = self.identities.resolve(global_user, None)
            person = global_user
        skip_sync = bool(event.get("$skip_user_properties_sync"))
        event_props = event.get("user_properties") or {}
        if skip_sync:
            carried = dict(normalise_operations(event_props).get("$set", {}))
            updated = False
        else:
            profile = self.profile_for(user_id, device_id)
            operations = normalise_operations(event_props)
            self.update(profile, operations)
            carried = dict(profile)
            updated = bool(operations)
        if event.get("event_type") == IDENTIFY_EVENT and event.get("groups"):
            # set_group: an identify's groups join the user to them durably (as /identify's)
            self.user_groups.setdefault(person, {}).update(event["groups"])
            if not skip_sync:
                profile.update(event["groups"])
                carried = dict(profile)
        groups: dict[str, Any] = dict(self.user_groups.get(person, {}))
        groups.update(event.get("groups") or {})
        group_properties: dict[str, Any] = {}
        for group_type, values in groups.items():
            for value in values if isinstance(values, list) else [values]:
                props = self.groups.get((group_type, str(value)))
                if props is not None:
                    group_properties.setdefault(group_type, {})[str(value)] = dict(props)
        event_ms = event.get("time")
        if event_ms is None:
            event_ms = now
        if event.get("app_version"):
            self._start_versions.setdefault(person, event["app_version"])
        if _has_revenue_fields(event) and is_revenue(revenue_properties(event)):
            self._paying.add(person)
        pending = PendingExport(
            event,
            carried,
            updated,
            groups,
            group_properties,
            now_raw,
            event_ms,
            now,
            counter,
            amplitude_id,
            path,
            exported_device,
        )
        session_id = event.get("session_id", -1)
        country = event.get("country") or carried.get("country")
        labels = group_labels(
            {
                **{key: event.get(key) for key in _LABEL_FIELDS},
                "country": country,
                "language": language_name(event.get("language")),
                "version_name": event.get("app_version"),
                "start_version": self._start_versions.get(person),
                "paying": True if person in self._paying else None,
            }
        )
        meta = EventMeta(
            person,
            event_ms,
            session_id if isinstance(session_id, int) else -1,
            event["event_type"],
            country,
            event.get("platform"),
            labels,
        )
        return pending, meta

    def paying(self) -> frozenset[str]:
        """The persons with a revenue event (Amplitude's "paying")."""
        with self._lock:
            return frozenset(self._paying)

    def lookup(self) -> Lookup:
        """What /api/2/deletions/users and the cohort APIs know of the project's users."""

        def of_user(user_id: str) -> int | None:
            with self._lock:
                return self.identities.of_user(user_id)

        def known(amplitude_id: int) -> bool:
            with self._lock:
                return self.identities.known(amplitude_id)

        def user_of(amplitude_id: int) -> str | None:
            with self._lock:
                return self.identities.user_of(amplitude_id)

        return Lookup(of_user, known, user_of)

    def clear(self) -> None:
        with self._lock:
            self.users.clear()
            self.devices.clear()
            self.groups.clear()
            self.user_groups.clear()
            self.identities.clear()
            self._paying.clear()
            self._start_versions.clear()
