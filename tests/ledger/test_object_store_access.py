"""A ledger_url this runner may not use: the run stops before anything is sent.

Against moto's S3 server with its authentication and IAM enforced (POST /moto-api/reset-auth,
the server-mode form of moto's `set_initial_no_auth_action_count`): credentials S3 does not
know, and IAM users whose policy denies all of s3 on the ledger's bucket, or only writing, or
only deleting. Each run exits 1 with an error naming ledger_url, the URL, the permissions needed
and how to run without the copy; the output holds no secret; Amplitude (the emulator) received
nothing; the bucket holds nothing; no local ledger was created.

gcp-storage-emulator cannot refuse access: it accepts any token and stores bucket IAM policies
without enforcing them (its handlers/buckets.py: "store/return only, not enforced"), so there
is no GCS run here; test_units.py checks that gcsfs's refusals are worded the same way.
"""

from __future__ import annotations

import contextlib
import json
import typing as t
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ledger.object_stores import ObjectStore, s3_server
from tests.ledger.test_runs import PLANS, USERS, _config, _customers
from tests.target.helpers import run_target

if t.TYPE_CHECKING:
    from amplitude_emulator import Emulator

BUCKET = "ledgers-locked"
OBJECTS = [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]
# IAM user -> the s3 actions denied on BUCKET (everything else allowed).
DENIED = {"no-s3": ["s3:*"], "no-write": ["s3:PutObject"], "no-delete": ["s3:DeleteObject"]}


@dataclass
class Credentials:
    key_id: str
    secret: str


@dataclass
class LockedS3:
    store: ObjectStore
    users: dict[str, Credentials]

    def admin(self, service: str) -> t.Any:
        import boto3  # noqa: PLC0415 (moto's dependency)

        env = self.store.env
        return boto3.client(
            service,
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )

    @contextlib.contextmanager
    def enforced(self) -> t.Iterator[None]:
        """moto checks every request's signature and IAM policy while inside."""
        self._auth(b"0")
        try:
            yield
        finally:
            self._auth(b"inf")

    def _auth(self, count: bytes) -> None:
        url = self.store.env["AWS_ENDPOINT_URL"] + "/moto-api/reset-auth"
        request = urllib.request.Request(url, data=count, headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request) as answer:
            assert json.loads(answer.read())["status"] == "ok"

    def keys(self) -> list[str]:
        listing = self.admin("s3").list_objects_v2(Bucket=BUCKET)
        return [o["Key"] for o in listing.get("Contents", [])]


@pytest.fixture(scope="module")
def locked_s3() -> t.Iterator[LockedS3]:
    with s3_server() as store:
        locked = LockedS3(store, {})
        locked.admin("s3").create_bucket(Bucket=BUCKET)
        iam = locked.admin("iam")
        for user, actions in DENIED.items():
            iam.create_user(UserName=user)
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                    {"Effect": "Deny", "Action": actions, "Resource": OBJECTS},
                ],
            }
            iam.put_user_policy(
                UserName=user, PolicyName="ledger", PolicyDocument=json.dumps(policy)
            )
            key = iam.create_access_key(UserName=user)["AccessKey"]
            locked.users[user] = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
        # Keys S3 does not know (a rotated or mistyped secret).
        locked.users["unknown"] = Credentials(
            "AKIAUNKNOWN000000000", "s3cret-nobody-knows-0123456789"
        )
        yield locked


@pytest.mark.parametrize(
    ("user", "refused"),
    [
        ("unknown", "read the lock object"),
        ("no-s3", "read the lock object"),
        ("no-write", "write the lock object"),
        ("no-delete", "delete objects"),
    ],
)
def test_a_bucket_without_access_stops_the_run_before_sending(
    clean_emulator: Emulator, tmp_path: Path, locked_s3: LockedS3, user: str, refused: str
) -> None:
    url = f"s3://{BUCKET}/{tmp_path.name}/ledger.sqlite"
    config = _config(clean_emulator, tmp_path, USERS, ledger_url=url)
    credentials = locked_s3.users[user]
    env = {
        **locked_s3.store.env,
        "AWS_ACCESS_KEY_ID": credentials.key_id,
        "AWS_SECRET_ACCESS_KEY": credentials.secret,
    }
    clean_emulator.reset_requests()
    with locked_s3.enforced():
        run = run_target(tmp_path, config, _customers(PLANS), env=env)
    assert run.returncode == 1, run.stderr[-3000:]
    assert f"LedgerError: ledger_url {url}: access denied: " in run.stderr
    assert f"may not {refused}" in run.stderr
    assert "Nothing was sent." in run.stderr
    # What to do: the permissions on the object and its lock object, or do without the copy.
    assert f"read, write and delete the ledger object {url} and its lock object {url}.lock" in (
        run.stderr
    )
    assert "s3:GetObject, s3:PutObject, s3:DeleteObject" in run.stderr
    assert "or unset ledger_url" in run.stderr
    assert "Traceback" not in run.stderr
    assert credentials.secret not in run.stderr + run.stdout
    assert clean_emulator.requests == []
    assert run.states == []
    assert locked_s3.keys() == []
    assert not (tmp_path / "ledger.sqlite").exists()
