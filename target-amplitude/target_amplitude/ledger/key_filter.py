"""Which keys a part of the ledger may hold, in memory: a key whose bit is clear is not there.

A daily run's keys are mostly new to a ledger holding the days before, and asking SQLite about
an absent key costs a B-tree search (about 3 us on a 300,000-key ledger, more as it grows); a
bit answers most of them for a fraction of that. One bit a key: bit `crc32(key) & (size - 1)`
(CRC-32 of its UTF-8: the same in every process, unlike Python's hash, so the filter can be
kept in the file). A set bit only says "may": a key whose bit another key set costs one read,
never a wrong answer. At 32 bits a key about 3% of absent keys are read; at 8, 12%.

Sizes are powers of two, so a filter can be doubled (each bit copied into both halves: a key's
bit at the larger size is one of the two copies) and halved (the halves ORed: its bit at the
smaller size is set) without the keys. Pure: the store (store.py) keeps one a scope, in the
file between runs.

In a run, a key whose bit is set is most often absent all the same: its bit was set by another
key, most of them added by the run itself (on a new ledger, all). So a run tells the keys it
adds apart (track_added): each gets a second bit, in memory only, from Python's own hash of the
string (another function than CRC-32, cached in the string object), and a key whose first bit
is set is read only when its second bit is set too, or when the filter the scope had as the run
opened it (`opened`) has its bit set. On a new ledger of 300,000 keys that leaves 1 read in 60 to
90 of those the first bit alone would make.
"""

from __future__ import annotations

import typing as t
from zlib import crc32

# In a run, a filter has at least this many bits (2 MiB): 1,000,000 new keys leave 6% set.
RUN_BITS = 1 << 24
# At most this many bits (32 MiB), whatever the number of keys: 100,000,000 keys leave about
# a third of the bits set, so two thirds of absent keys are still answered without a read.
MAX_BITS = 1 << 28
# A kept filter is halved down to this many bits (128 KiB) at least, while its halves stay
# sparse (at most FOLD_FILL of the bits set after halving).
MIN_BITS = 1 << 20
FOLD_FILL = 1 / 32
# Past this share of bits set a filter answers too few keys: it is made anew from the keys,
# BITS_PER_KEY bits a key.
FULL_FILL = 1 / 8
BITS_PER_KEY = 32
# The second bits of the keys a run adds (2 MiB).
ADDED_BITS = 1 << 24


def bits_for(keys: int) -> int:
    """The size for this many keys: BITS_PER_KEY a key, as a power of two in RUN_BITS..MAX_BITS."""
    size = RUN_BITS
    while size < keys * BITS_PER_KEY and size < MAX_BITS:
        size <<= 1
    return size


class KeyFilter:
    """One bit a key (see the module): no key added is ever reported absent."""

    __slots__ = ("_added", "_added_mask", "_bits", "_mask", "_opened")

    def __init__(self, size: int = RUN_BITS, bits: bytes | bytearray | None = None) -> None:
        if size < 8 or size & (size - 1):
            msg = f"a key filter's size must be a power of two of at least 8 bits, not {size}"
            raise ValueError(msg)
        if bits is not None and len(bits) * 8 != size:
            msg = f"a key filter of {size} bits from {len(bits)} bytes"
            raise ValueError(msg)
        self._bits = bytearray(bits) if bits is not None else bytearray(size // 8)
        self._mask = size - 1
        # track_added: the keys added since (their second bits), and the filter as it was then.
        self._added: bytearray | None = None
        self._added_mask = 0
        self._opened: KeyFilter | None = None

    @classmethod
    def of(cls, keys: t.Iterable[str], count: int) -> KeyFilter:
        """A filter for `count` keys, holding these."""
        made = cls(bits_for(count))
        made.add(keys)
        return made

    @classmethod
    def from_blob(cls, blob: bytes) -> KeyFilter:
        """A filter kept in the file (to_blob), doubled up to RUN_BITS for the run's new keys."""
        made = cls(len(blob) * 8, blob)
        while made.size < RUN_BITS:
            made.double()
        return made

    @property
    def size(self) -> int:
        """Bits."""
        return self._mask + 1

    def fill(self) -> float:
        """The share of bits set."""
        return int.from_bytes(self._bits, "little").bit_count() / self.size

    def copy(self) -> KeyFilter:
        """A filter holding the same keys (and not telling added ones apart)."""
        return KeyFilter(self.size, self._bits)

    def track_added(self, opened: KeyFilter | None) -> None:
        """From now on, tell the keys added apart from those held so far (see the module):
        `opened` holds those (None: there are none)."""
        self._opened = opened
        self._added = bytearray(ADDED_BITS // 8)
        self._added_mask = ADDED_BITS - 1

    def may_hold(self, keys: t.Iterable[str], before: list[str] | None = None) -> list[str]:
        """Those of the keys whose bit is set (and, with track_added, that either were added
        since or the filter held then may hold); the bits of every other key are set here,
        so that the caller, which will record those it sends, need not add them (add)
        afterwards. With track_added, those of them that were neither added nor asked about
        since (only the filter held then may hold them) are also appended to `before`."""
        bits, mask = self._bits, self._mask
        added, added_mask, opened = self._added, self._added_mask, self._opened
        maybe = []
        if added is None:  # a loop of its own: the tracked one checks no flag a key either
            for key in keys:
                h = crc32(key.encode("utf-8", "surrogatepass")) & mask
                at = h >> 3
                bit = 1 << (h & 7)
                byte = bits[at]
                if byte & bit:
                    maybe.append(key)
                else:
                    bits[at] = byte | bit
            return maybe
        for key in keys:
            crc = crc32(key.encode("utf-8", "surrogatepass"))
            h = crc & mask
            at = h >> 3
            bit = 1 << (h & 7)
            byte = bits[at]
            g = hash(key) & added_mask
            if byte & bit:
                second = added[g >> 3]
                if second & (1 << (g & 7)):
                    maybe.append(key)
                    continue
                added[g >> 3] = second | (1 << (g & 7))  # asked: the caller may record it
                if opened is not None and opened.holds_crc(crc):
                    maybe.append(key)
                    if before is not None:
                        before.append(key)
            else:
                bits[at] = byte | bit
                added[g >> 3] |= 1 << (g & 7)
        return maybe

    def holds_crc(self, crc: int) -> bool:
        """Whether the bit of a key whose CRC-32 is `crc` is set."""
        h = crc & self._mask
        return bool(self._bits[h >> 3] & (1 << (h & 7)))

    def add(self, keys: t.Iterable[str]) -> None:
        """Keys held from now on."""
        bits, mask = self._bits, self._mask
        added, added_mask = self._added, self._added_mask
        for key in keys:
            h = crc32(key.encode("utf-8", "surrogatepass")) & mask
            bits[h >> 3] |= 1 << (h & 7)
            if added is not None:
                g = hash(key) & added_mask
                added[g >> 3] |= 1 << (g & 7)

    def double(self) -> None:
        """Twice the bits, holding the same keys (each bit in both halves)."""
        self._bits = self._bits * 2
        self._mask = self._mask * 2 + 1

    def halve(self) -> None:
        """Half the bits, holding the same keys (the halves ORed)."""
        half = len(self._bits) // 2
        low = int.from_bytes(self._bits[:half], "little")
        high = int.from_bytes(self._bits[half:], "little")
        self._bits = bytearray((low | high).to_bytes(half, "little"))
        self._mask >>= 1

    def to_blob(self) -> bytes | None:
        """What to keep in the file: a copy halved while it stays sparse (FOLD_FILL); None when
        too many bits are set (FULL_FILL) and a larger one would answer more (the store makes
        it anew from the keys). At MAX_BITS it is kept however full."""
        fill = self.fill()
        if fill > FULL_FILL and self.size < MAX_BITS:
            return None
        kept = self.copy()
        while kept.size > MIN_BITS and fill * 2 <= FOLD_FILL:
            kept.halve()
            fill = kept.fill()
        return bytes(kept._bits)
