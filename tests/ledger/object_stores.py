"""Real object-store servers from PyPI, started by the test run on loopback.

- S3: moto's server mode (ThreadedMotoServer), reached through AWS_ENDPOINT_URL as any
  S3-compatible store is.
- GCS: gcp-storage-emulator, reached through STORAGE_EMULATOR_HOST as Google's own emulator is.
"""

from __future__ import annotations

import contextlib
import socket
import typing as t
from dataclasses import dataclass, field

import pytest

BUCKET = "ledgers"


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ObjectStore:
    """A running store: the URL scheme, the environment its clients need, a bucket."""

    scheme: str
    env: dict[str, str] = field(default_factory=dict)

    def url(self, key: str, bucket: str = BUCKET) -> str:
        return f"{self.scheme}://{bucket}/{key}"


@contextlib.contextmanager
def s3_server() -> t.Iterator[ObjectStore]:
    moto_server = pytest.importorskip("moto.server")
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    try:
        import boto3  # noqa: PLC0415 (moto's dependency; only to create the bucket)

        boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], **_aws(env)).create_bucket(
            Bucket=BUCKET
        )
        yield ObjectStore("s3", env)
    finally:
        server.stop()


def _aws(env: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "region_name": env["AWS_DEFAULT_REGION"],
    }


@contextlib.contextmanager
def gcs_server() -> t.Iterator[ObjectStore]:
    emulator = pytest.importorskip("gcp_storage_emulator.server")
    port = free_port()
    server = emulator.create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    try:
        yield ObjectStore("gs", {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}"})
    finally:
        server.stop()


SERVERS = {"s3": s3_server, "gcs": gcs_server}
