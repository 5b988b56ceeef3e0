"""The ledger's hashes: of a mapped payload (what Amplitude was sent) and of an API key."""

from __future__ import annotations

import hashlib
import typing as t

import msgspec

# Canonical JSON: keys sorted at every level, no whitespace; the same payload always gives the
# same bytes, whatever the order the source's columns came in.
_CANONICAL = msgspec.json.Encoder(order="sorted")
DIGEST_SIZE = 16  # bytes: 128-bit BLAKE2b, collisions out of reach at any table size


def payload_digest(payload: t.Any) -> bytes:
    """BLAKE2b-128 of the payload's canonical JSON (the mapped payload sent to Amplitude)."""
    return hashlib.blake2b(_CANONICAL.encode(payload), digest_size=DIGEST_SIZE).digest()


def wire_digest(wires: t.Iterable[bytes]) -> bytes:
    """BLAKE2b-128 of the bytes sent for a row (its encoded payloads, in order).

    What an ingestion sink records: exactly what Amplitude received, with no second encoding
    (sorting keys costs a row more than hashing does). The same mapping of the same record gives
    the same bytes; a source that reorders its columns makes its rows "changed" once.
    """
    digest = hashlib.blake2b(digest_size=DIGEST_SIZE)
    for wire in wires:
        digest.update(wire)
    return digest.digest()


def key_fingerprint(api_key: str) -> str:
    """A project's name in the ledger: 16 hex digits of a keyed hash of its API key.

    The key itself is never stored; the fingerprint cannot be turned back into it.
    """
    return hashlib.blake2b(api_key.encode(), digest_size=8, person=b"amp-ledger-v1").hexdigest()
