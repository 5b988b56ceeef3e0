"""A null Amplitude ingest server: reads each request whole and answers Amplitude's 200 body.

Against the emulator every target contender was capped by the emulator's own request handling
(issue 23): the floor and the target both reached its ceiling. This server does the least an
ingest endpoint can: it reads the request (headers and the whole ``Content-Length`` body) and
answers ``POST /batch`` and ``POST /2/httpapi`` with the documented success body

    {"code": 200, "events_ingested": N, "payload_size_bytes": B, "server_upload_time": MS}

(Amplitude's HTTP V2 and Batch Event Upload pages, "200 OK: Successful real time event upload").
N is the number of ``"event_type"`` keys in the body (a byte count, no JSON parsing), so the
benchmark can check that every event arrived. ``GET /_null/stats`` answers the totals so far
(requests, events, bytes). One asyncio loop in its own process; no validation, no storage.

    python -m benchmarks.null_ingest --url-file url.txt
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path

INGEST_PATHS = (b"/batch", b"/2/httpapi")


class Totals:
    def __init__(self) -> None:
        self.requests = 0
        self.events = 0
        self.bytes = 0


def _response(status: str, body: bytes, *, close: bool = False) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{'Connection: close' + chr(13) + chr(10) if close else ''}"
        "\r\n"
    )
    return head.encode("ascii") + body


async def _serve(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, totals: Totals
) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head.split(b"\r\n")
            method, target, _ = lines[0].split(b" ", 2)
            length = 0
            chunked = False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
            body = await _read_chunked(reader) if chunked else await reader.readexactly(length)
            path = target.split(b"?", 1)[0].rstrip(b"/")
            if method == b"POST" and path.endswith(INGEST_PATHS):
                events = body.count(b'"event_type"')
                totals.requests += 1
                totals.events += events
                totals.bytes += len(body)
                answer = json.dumps(
                    {
                        "code": 200,
                        "events_ingested": events,
                        "payload_size_bytes": len(body),
                        "server_upload_time": int(time.time() * 1000),
                    }
                ).encode()
                writer.write(_response("200 OK", answer))
            elif method == b"GET" and path == b"/_null/stats":
                stats = {
                    "requests": totals.requests,
                    "events": totals.events,
                    "bytes": totals.bytes,
                }
                writer.write(_response("200 OK", json.dumps(stats).encode()))
            else:
                writer.write(_response("404 Not Found", b'{"code":404}'))
            await writer.drain()
    finally:
        writer.close()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def _main(url_file: Path) -> None:
    totals = Totals()
    server = await asyncio.start_server(
        lambda r, w: _serve(r, w, totals), "127.0.0.1", 0, limit=1 << 20
    )
    port = server.sockets[0].getsockname()[1]
    url_file.write_text(f"http://127.0.0.1:{port}\n", encoding="utf-8")
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url-file", type=Path, required=True)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(_main(args.url_file))


if __name__ == "__main__":
    main()
