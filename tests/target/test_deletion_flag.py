"""The deletion request's ignore_invalid_id flag, as Amplitude's server takes it (issue 20).

The server refuses a JSON boolean with "400 ignore_invalid_id can only be 'True' or 'False'"
(Amplitude developer-docs issue #696; ../shared/amplitude-api.md §9): the target sends the string
'True', and a 400 naming the flag fails the run with a message quoting Amplitude's.
User Privacy API docs (content/collections/api/en/user-privacy.md): "Amplitude processes
deletion requests without undue delay, within 30 days after receiving the request".
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import pytest
from amplitude_emulator import user_admin

from tests.target.helpers import props, record, run_target, schema
from tests.target.test_admin_objects import MAPPINGS, _config, _seed_users

if t.TYPE_CHECKING:
    from amplitude_emulator import Emulator


def _erasures(*ids: str) -> list[str]:
    return [schema("erasures", props("user_id"))] + [
        record("erasures", {"user_id": uid}) for uid in ids
    ]


def test_the_flag_is_the_string_True_and_the_summary_says_within_30_days(
    emulator: Emulator, tmp_path: Path
) -> None:
    _seed_users(emulator, "gone", count=2)
    lines = _erasures("gone-0000", "gone-0001")
    run = run_target(tmp_path, _config(emulator, {"erasures": MAPPINGS["erasures"]}), lines)
    assert run.returncode == 0, run.stderr
    (post,) = [r for r in emulator.requests_to("/api/2/deletions/users") if r.method == "POST"]
    assert json.loads(post.body)["ignore_invalid_id"] == "True"
    summary = next(line for line in run.stderr.splitlines() if "Summary deletion_job" in line)
    assert "within 30 days" in summary


def test_a_400_naming_the_flag_fails_the_run_quoting_amplitude(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that took only 'False' (or another casing) refuses the request: the run stops
    with Amplitude's own words, before any STATE moves past the records."""
    monkeypatch.setattr(user_admin, "FLAG_VALUES", ("False",))
    _seed_users(emulator, "gone", count=2)
    lines = [*_erasures("gone-0000"), json.dumps({"type": "STATE", "value": {"n": 1}})]
    run = run_target(tmp_path, _config(emulator, {"erasures": MAPPINGS["erasures"]}), lines)
    assert run.returncode != 0
    assert "ignore_invalid_id can only be 'True' or 'False'" in run.stderr
    assert "Amplitude refused the flag ignore_invalid_id='True'" in run.stderr
    assert '"n": 1' not in run.stdout
    assert emulator.project("key-std").admin.jobs == {}
