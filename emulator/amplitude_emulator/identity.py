"""Who an ingested event belongs to: Amplitude's identity resolution (one amplitude_id per
person), and the device_id Amplitude assigns to an event sent with a user_id only.

- An anonymous device_id that later comes with a user_id is merged into that user: from then
  on the device, the user and every event of either carry one amplitude_id, and the person
  counts once in new and active users (the device's earlier events included).
- A user_id first seen together with an anonymous device takes over that device's amplitude_id
  (the anonymous history becomes the user's).
- A device later seen with another user_id follows that user for device-only events; user_ids
  are never merged with each other.
- An event without a device_id gets one derived from its user_id ("If there is no Device ID
  available, the Device ID will be set to a randomly-generated hashed version of the user_id").
"""

from __future__ import annotations

import hashlib
import uuid

FIRST_INGESTED_AMPLITUDE_ID = 900_000_000_000


def assigned_device_id(user_id: str) -> str:
    """The device_id of a user_id-only event: a stable hash of the user_id, uuid-shaped."""
    digest = hashlib.sha256(user_id.encode("utf-8")).digest()[:16]
    return str(uuid.UUID(bytes=digest, version=4)).upper()


class Identities:
    """amplitude_ids of user_ids and device_ids, merged as Amplitude does (not thread-safe:
    the project holds its lock)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}  # "u:<user_id>" / "d:<device_id>" -> amplitude_id
        self._device_user: dict[str, str] = {}  # device_id -> the user_id it was last seen with
        self.merged: dict[str, str] = {}  # anonymous device_id -> the user_id it merged into
        # (amplitude_id, merged_amplitude_id, time in ms): an anonymous device's own id merged
        # into a user's existing one (the S3/GCS export's merged-id files, storage_export.py).
        self.merges: list[tuple[int, int, int]] = []
        self._count = 0

    def _new(self) -> int:
        self._count += 1
        return FIRST_INGESTED_AMPLITUDE_ID + self._count - 1

    def resolve(self, user_id: str | None, device_id: str | None, now_ms: int = 0) -> int:
        """The amplitude_id of an event (or identify) with these ids; records the tie (and,
        at ``now_ms``, a merge of two amplitude_ids)."""
        if user_id is None:
            assert device_id is not None
            key = f"d:{device_id}"
            if key not in self._ids:
                self._ids[key] = self._new()
            return self._ids[key]
        user_key = f"u:{user_id}"
        amplitude_id = self._ids.get(user_key)
        if device_id is not None:
            device_key = f"d:{device_id}"
            anonymous = device_id not in self._device_user
            device_amplitude_id = self._ids.get(device_key)
            if amplitude_id is None:
                if anonymous and device_amplitude_id is not None:
                    amplitude_id = device_amplitude_id
                else:
                    amplitude_id = self._new()
                self._ids[user_key] = amplitude_id
            if anonymous and device_amplitude_id is not None:
                self.merged[device_id] = user_id
                if device_amplitude_id != amplitude_id:
                    self.merges.append((amplitude_id, device_amplitude_id, now_ms))
            self._ids[device_key] = amplitude_id
            self._device_user[device_id] = user_id
        elif amplitude_id is None:
            amplitude_id = self._new()
            self._ids[user_key] = amplitude_id
        return amplitude_id

    def person(self, user_id: str | None, device_id: str | None) -> str:
        """The key a person is counted under: the user_id, else the user the device belongs
        to, else the device_id."""
        if user_id is not None:
            return user_id
        assert device_id is not None
        return self._device_user.get(device_id, device_id)

    def of_user(self, user_id: str) -> int | None:
        """The amplitude_id of a user_id seen so far (None: unknown to the project)."""
        return self._ids.get(f"u:{user_id}")

    def user_of(self, amplitude_id: int) -> str | None:
        """The user_id holding an amplitude_id (None: unknown, or a device only)."""
        for key, value in self._ids.items():
            if value == amplitude_id and key.startswith("u:"):
                return key[2:]
        return None

    def known(self, amplitude_id: int) -> bool:
        """True when some user or device has this amplitude_id."""
        return amplitude_id in self._ids.values()

    def clear(self) -> None:
        self._ids.clear()
        self._device_user.clear()
        self.merged.clear()
        self.merges.clear()
        self._count = 0
