"""Keys recorded without a payload hash (create_only: mostly events' insert_ids), as sorted runs.

Such a key is written once and only ever asked whether it is there. Kept in the B-tree of
`entries`, each one was an insert into a random place of it (UUID insert_ids spread over the
whole tree), so every commit of a daily run rewrote most of a large ledger's pages. Kept here
instead, the keys the store writes at once are one sorted run, cut into blocks
(keys_per_block), one row a block: written in one pass, of the run's own size. Runs are merged
four of about one size at a time (merge_from), so a scope has a few, and a key is rewritten
about log4(keys in the scope / keys of a run) times in all. Reading a key reads one block of
each run (its key filter, in front, answers most keys before that).

Pure: the store (store.py) keeps the blocks in the file.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import typing as t

# A block is about a quarter of a page of the file (keys_per_block): four rows fill a page (a
# row of more than half a page would leave the rest of its page empty), and reading a key
# reads one block of each run. Less these bytes a row holds besides its keys (the row's header,
# its scope, run and last key).
BLOCKS_A_PAGE = 4
ROW_BYTES = 160
# Runs of about one size merged at a time (merge_from).
MERGE_FAN_IN = 4
# How a block's keys are kept: a NUL byte, then each key in UTF-8 followed by a NUL byte
# (split in C; a key is found by looking for NUL, the key, NUL: pattern). A NUL or an ESC in a
# key is kept as ESC and a letter (ESCAPED), so no key holds a NUL.
SEP = "\x00"
ESC = "\x01"
ESCAPED = ((ESC, ESC + "e"), (SEP, ESC + "0"))


def _escaped(key: str) -> str:
    for char, kept in ESCAPED:
        key = key.replace(char, kept)
    return key


def _unescaped(key: str) -> str:
    for char, kept in reversed(ESCAPED):
        key = key.replace(kept, char)
    return key


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def encode(keys: list[str]) -> bytes:
    """A block's keys (sorted, at least one) as kept in the file."""
    joined = SEP.join(keys)
    if ESC in joined or joined.count(SEP) != len(keys) - 1:
        joined = SEP.join(map(_escaped, keys))
    return _utf8(SEP + joined + SEP)


def decode(blob: bytes) -> list[str]:
    """A block's keys (encode)."""
    text = blob.decode("utf-8", "surrogatepass")
    if text[:1] != SEP or text[-1:] != SEP:
        msg = "a block of keys not as encode() keeps them"
        raise ValueError(msg)
    keys = text[1:-1].split(SEP)
    return [_unescaped(key) for key in keys] if ESC in text else keys


def pattern(key: str) -> bytes:
    """What a block holding the key holds: NUL, the key (escaped), NUL."""
    return _utf8(SEP + _escaped(key) + SEP)


def holds(blob: bytes, key: str) -> bool:
    """Whether a block as kept (encode) holds the key."""
    return pattern(key) in blob


def keys_per_block(sample: t.Sequence[str], page_bytes: int) -> int:
    """Keys a block, for keys of about the sample's length in a file of pages of page_bytes
    (BLOCKS_A_PAGE blocks a page; 16 KiB pages, UUIDs: 100)."""
    if not sample:
        return 1
    mean = len(_utf8(SEP.join(sample))) / len(sample) + 1
    return max(1, int((page_bytes // BLOCKS_A_PAGE - ROW_BYTES) / mean))


def blocks(keys: list[str], size: int) -> t.Iterator[list[str]]:
    """Sorted keys cut into blocks of `size`."""
    for start in range(0, len(keys), size):
        yield keys[start : start + size]


def merge_from(sizes: t.Sequence[int], new: int) -> int:
    """Where the runs to merge with a new run of `new` keys start, among a scope's runs of
    these sizes (oldest first): every run from there on is merged with it into one.

    Size-tiered, MERGE_FAN_IN runs at a time: the oldest run merged is the oldest that holds
    at most 1 / (MERGE_FAN_IN - 1) of the keys of the runs newer than it (the new one
    included), so runs of one size are merged once MERGE_FAN_IN of them are there, and each run
    left holds more than that share of the newer ones together. A key is rewritten about
    log4(keys / keys of a run) times, where merging every pair of equal runs (2-way) rewrote
    it log2 times, and a run holding the keys of the runs before (a kept ledger's) is merged
    when the new keys are three times as many, not as many."""
    start, newer = len(sizes), new
    for at in range(len(sizes) - 1, -1, -1):
        if sizes[at] * (MERGE_FAN_IN - 1) <= newer:
            start = at
        newer += sizes[at]
    return start


def merged(sources: t.Sequence[t.Iterator[list[str]]], size: int) -> t.Iterator[list[str]]:
    """The keys of several runs (each an iterator of sorted pieces: its blocks, or several
    blocks at a time), sorted and each once, in blocks of `size`. A few pieces at a time in
    memory: a step takes, of every run, its keys up to the smallest last key of the pieces in
    hand, which ends at least one of those pieces."""
    hand: list[tuple[list[str], t.Iterator[list[str]]]] = []
    at: list[int] = []
    for source in sources:
        first = next(source, None)
        if first:
            hand.append((first, source))
            at.append(0)
    out: list[str] = []
    while hand:
        bound = min(block[-1] for block, _ in hand)
        piece: list[str] = []
        for i, (block, _) in enumerate(hand):
            end = bisect.bisect_right(block, bound, at[i])
            piece += block[at[i] : end]
            at[i] = end
        if len(hand) > 1:  # one run's keys are sorted, each once
            piece.sort()  # a few sorted stretches: merged by timsort in about one pass
            # Each key once (no later step has a key <= bound): a key in two runs is rare, and
            # looking for neighbours that are equal costs a third of dropping them.
            if any(map(operator.eq, piece, itertools.islice(piece, 1, None))):
                piece = list(dict.fromkeys(piece))
        out += piece
        full = len(out) - len(out) % size
        for start in range(0, full, size):
            yield out[start : start + size]
        del out[:full]
        for i in range(len(hand) - 1, -1, -1):
            block, source = hand[i]
            if at[i] == len(block):
                following = next(source, None)
                if following:
                    hand[i] = (following, source)
                    at[i] = 0
                else:
                    del hand[i], at[i]
    if out:
        yield out
