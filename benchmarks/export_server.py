"""A fast Export API for the tap benchmarks: pre-built zip files sent with ``sendfile``.

The emulator builds its export on request; here every answer is a file made beforehand by
:mod:`benchmarks.export_shapes`, so the server costs the tap (and the floor) nothing but the
loopback copy. ``GET /api/2/export?start=YYYYMMDDTHH&end=YYYYMMDDTHH`` answers 200 with the zip
of that window when it exists, 404 otherwise (the Export API's "no data"). Credentials are not
checked. Runs in its own process:

    python -m benchmarks.export_server --folder benchmarks/.cache/exports/full-200000 --url-file u
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

_HOUR = re.compile(r"[0-9]{8}T[0-9]{2}")


class ExportHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    folder: Path = Path()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        start, end = query.get("start", [""])[0], query.get("end", [""])[0]
        path = self.folder / f"{start}-{end}.zip"
        if url.path != "/api/2/export" or not (_HOUR.fullmatch(start) and _HOUR.fullmatch(end)):
            self._answer(400, b"bad request")
            return
        if not path.exists():
            self._answer(404, b"")
            return
        size = path.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.wfile.flush()
        with path.open("rb") as body:
            sent = 0
            while sent < size:
                sent += os.sendfile(self.connection.fileno(), body.fileno(), sent, size - sent)

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the benchmark's output is the table."""


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that closes its keep-alive connection is not an error worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--url-file", type=Path, required=True)
    args = parser.parse_args()
    handler = type("Handler", (ExportHandler,), {"folder": args.folder})
    server = QuietServer(("127.0.0.1", 0), handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    args.url_file.write_text(f"http://127.0.0.1:{server.server_address[1]}\n", encoding="utf-8")
    server.serve_forever()


if __name__ == "__main__":
    main()
