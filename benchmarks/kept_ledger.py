"""A sync ledger as a daily run finds it: holding the keys of the days before.

bench_target's ``ledger-kept`` contender runs the working tree's target on a copy of one: every
row of its input is still new, but every lookup now searches a full ledger (a ledger that was
empty when the run began is asked only about the keys the run recorded itself) and every insert
lands in a large B-tree. The ledger is made through the target's own ledger API, from the config
the contender runs with, so its part of the ledger (project, region, stream, object) is the one
the target opens.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from target_amplitude.ledger import Ledger, LedgerConfig
from target_amplitude.settings import target_settings

# Keys recorded at a time (as the target writes them: sorted runs of at most FLUSH_ROWS).
CHUNK = 50_000
# The kept keys' seed (the inputs' insert_ids come from export_shapes' own seeds): other days'
# events, the same for every size and shape.
SEED = 23


@dataclass(frozen=True)
class KeptLedger:
    """A kept ledger's file and the streams it holds keys for."""

    path: Path
    streams: tuple[str, ...]

    def copy_to(self, dest: Path) -> None:
        """A run's ledger: a copy (the run records into it)."""
        shutil.copyfile(self.path, dest)

    def check_used(self, copy: Path) -> None:
        """After a run on a copy: the run recorded into the kept parts, not into parts of its
        own (a part the kept ledger does not hold is empty: the run would have measured an
        empty ledger). The copy is removed."""
        uri = f"{copy.resolve().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            parts = db.execute("SELECT count(*) FROM scopes").fetchone()[0]
        _remove_ledger(copy)
        if parts != len(self.streams):
            msg = (
                f"the run on a copy of {self.path} opened {parts} part(s) of the ledger where "
                f"the kept one has {len(self.streams)}: its config or input (project, region, "
                f"a stream other than {', '.join(self.streams)}, or not mapped to events) is "
                "not what the kept ledger was made for"
            )
            raise RuntimeError(msg)

    def remove(self) -> None:
        """The kept ledger removed."""
        _remove_ledger(self.path)


def _remove_ledger(path: Path) -> None:
    """A ledger file and the lock file a run leaves beside it."""
    for each in (path, path.with_name(path.name + ".lock")):
        each.unlink(missing_ok=True)


def make_kept_ledger(
    config_path: Path, dest: Path, streams: Sequence[str], keys: int
) -> KeptLedger:
    """A new ledger at ``dest`` (a file there is replaced) holding ``keys`` random UUID
    insert_ids for each stream's events (create_only, events' default), for the project and
    region of the config at config_path."""
    settings = target_settings(json.loads(config_path.read_text(encoding="utf-8")))
    _remove_ledger(dest)
    ledger = Ledger(
        LedgerConfig(path=dest, url=None, api_key=settings.api_key, region=settings.data_region)
    )
    try:
        for stream in streams:
            scope = ledger.scope(stream, "event", "create_only")
            if scope is None:  # only under dry_run, which this config does not set
                msg = f"no ledger scope for {stream}"
                raise RuntimeError(msg)
            rng = random.Random(f"{SEED}:{stream}")
            for start in range(0, keys, CHUNK):
                count = min(CHUNK, keys - start)
                scope.acknowledged(
                    [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]
                )
            ledger.checkpoint()
    finally:
        ledger.close()
    return KeptLedger(dest, tuple(streams))
