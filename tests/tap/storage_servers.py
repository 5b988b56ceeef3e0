"""Object-storage servers for the storage export source, from PyPI, started by the test run on
loopback: moto's S3 server mode (``moto[server]``'s ThreadedMotoServer) and
``gcp-storage-emulator`` (Google Cloud Storage's JSON API). The tap finds them as a user's tools
would: ``AWS_ENDPOINT_URL`` and ``STORAGE_EMULATOR_HOST``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from gcp_storage_emulator.server import create_server
from moto.server import ThreadedMotoServer


@dataclass(frozen=True)
class Store:
    """A running server: its scheme and the environment that points clients at it."""

    scheme: str
    env: dict[str, str]

    def new_url(self, prefix: str = "amplitude/export") -> str:
        """A URL in a new bucket (one per test: tests share a server)."""
        return f"{self.scheme}://amp-{uuid.uuid4().hex[:12]}/{prefix}"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[Store]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield Store(
            "s3",
            {
                "AWS_ENDPOINT_URL": f"http://{host}:{port}",
                "AWS_ACCESS_KEY_ID": "reader-key-id",
                "AWS_SECRET_ACCESS_KEY": "reader-secret-not-shown",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true",
            },
        )
    finally:
        server.stop()


@pytest.fixture(scope="module")
def gcs_server() -> Iterator[Store]:
    server = create_server("127.0.0.1", 0, in_memory=True)
    server.start()
    # gcp-storage-emulator has no public getter of the port it bound (port 0 = a free one).
    port = server._api._httpd.server_address[1]
    try:
        yield Store("gs", {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}"})
    finally:
        server.stop()


@pytest.fixture(params=["s3", "gs"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Store:
    """Each server in turn, its environment set for this test and the tap it starts."""
    server: Store = request.getfixturevalue("s3_server" if request.param == "s3" else "gcs_server")
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    return server
