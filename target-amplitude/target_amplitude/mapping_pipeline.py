"""Records prepared in mapping workers (other processes) while the target takes earlier ones.

Preparing a record (prepare.py: decoding, the SCHEMA check, mapping, checks, encoding) is most
of the target's CPU per record. With ``mapping_workers`` > 0 and a stream taken by the target's
fast path, the reader hands that stream's RECORD lines here in chunks; a worker prepares chunk
k+1 while the target takes the outcomes of chunk k into its sink, in input order. While the
workers have SELF_PREPARE_BACKLOG chunks each still to prepare, the target prepares the next
chunk itself, exactly as a worker would (prepare_line), instead of waiting for them later: the
work is shared by however much CPU each side gets. Nothing else changes: every other message
waits until the records before it are taken (flush), so STATE, SCHEMA, ACTIVATE_VERSION and a
bad line see exactly what they would without a worker; a line a worker cannot take as it is
comes back SLOW and the target takes it on its own path.

Where it can (Linux, and no thread of the target running yet: the delivery threads start with
the first request) a worker is forked from the target after FORK_AFTER_RECORDS records on the
fast path: a few milliseconds, and it is ready at once with every module the target imported.
Elsewhere it is started as its own program, which costs about half a second of CPU (it imports
what the target imports), so none starts before a run has taken START_AFTER_RECORDS records;
lines keep going the target's own way until the worker says it is ready. A worker that dies or
answers nonsense is stopped with a warning, and the target takes its lines itself: slower,
never different.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
import typing as t

import msgspec

from target_amplitude.mapping_worker import (
    FRAME_DECODER,
    HEADER,
    LINES,
    OUTCOMES_DECODER,
    PLAN,
    READY,
    SLOW,
    WorkerStream,
    frame,
    prepare_line,
    serve_forked,
)
from target_amplitude.prepare import REJECT, ROW, Prepared, RowTuple
from target_amplitude.reader import line_decoder

if t.TYPE_CHECKING:
    from target_amplitude.sinks import AmplitudeSink

# Records taken on the fast path before a worker is started (a small run never pays for one):
# one started as its own program costs about half a second of CPU; a forked one a few ms.
START_AFTER_RECORDS = 5000
FORK_AFTER_RECORDS = 1000  # at most START_AFTER_RECORDS
# Fork workers where _can_fork() allows (tests: False starts them as their own program).
FORK = True
# How often (in records) the target looks whether a worker is ready: a system call each time.
READY_CHECK_EVERY = 256
# Wait for a worker to be ready instead of going on without it (tests: a deterministic run).
WAIT_FOR_READY = False
CHUNK_LINES = 1000  # lines per chunk, at most
CHUNK_BYTES = 1 << 20  # bytes of lines per chunk, about
# Chunks handed to each worker and not taken yet, at most: a worker keeps working while the
# target hands a batch off (a burst of its own work: requests, the ledger's inserts). With
# one, it waited for the target at every hand-off.
IN_FLIGHT_PER_WORKER = 4
# Chunks a worker has not answered yet (still to prepare) from which the target prepares the
# next chunk itself, as the worker would: it would wait for the worker otherwise.
SELF_PREPARE_BACKLOG = 2
IO_SIZE = 1 << 20
_PREFIXES = (b'{"type":"RECORD","stream":"', b'{"type": "RECORD", "stream": "')
_STOP_SECONDS = 5.0
_IOV_MAX = 64

logger = logging.getLogger("target-amplitude")


class WorkerGoneError(Exception):
    """A worker died, or answered something that is not a frame of its protocol."""


class _Worker:
    """One worker process and the two pipes to it (non-blocking: neither side can wait on a
    full pipe while the other waits on it)."""

    def __init__(self, *, fork: bool) -> None:
        """``fork``: forked from this process (mapping_worker.serve_forked), else started as
        its own program."""
        self._process: subprocess.Popen[bytes] | _ForkedWorker
        if fork:
            self._process = _ForkedWorker()
            self._write_fd, self._read_fd = self._process.write_fd, self._process.read_fd
        else:
            popen = subprocess.Popen(  # this interpreter, our own module
                [sys.executable, "-m", "target_amplitude.mapping_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,
            )
            assert popen.stdin is not None
            assert popen.stdout is not None
            self._process = popen
            self._write_fd = popen.stdin.fileno()
            self._read_fd = popen.stdout.fileno()
        self.pid = self._process.pid
        for fd in (self._write_fd, self._read_fd):
            os.set_blocking(fd, False)
            _enlarge_pipe(fd)
        self.outstanding = 0  # chunks sent and not answered yet
        self._out: list[memoryview] = []  # what is still to be written, in order
        self._in = bytearray()
        self.ready = False

    def send(self, *parts: bytes) -> None:
        self._out.extend(memoryview(part) for part in parts if part)
        self._pump(block=False)

    def poll_ready(self) -> bool:
        """Whether the worker has said it is ready (without waiting)."""
        if not self.ready:
            self._pump(block=False)
            body = self._next_frame()
            if body is not None:
                if _decode(FRAME_DECODER, body) != [READY]:
                    raise WorkerGoneError("its first frame was not READY")
                self.ready = True
        return self.ready

    def wait_ready(self) -> None:
        """Wait until the worker is ready."""
        while not self.poll_ready():
            self._pump(block=True)

    def receive(self) -> tuple[list[RowTuple], list[tuple[int, list[t.Any]]]]:
        """The next chunk's outcomes (waiting for them)."""
        while True:
            body = self._next_frame()
            if body is not None:
                self.outstanding -= 1
                return t.cast(
                    "tuple[list[RowTuple], list[tuple[int, list[t.Any]]]]",
                    _decode(OUTCOMES_DECODER, body),
                )
            self._pump(block=True)

    def unanswered(self) -> int:
        """Chunks sent it has not answered yet (their answers not even read from the pipe)."""
        if self.outstanding:
            self._pump(block=False)
        buffered, at, answered = self._in, 0, 0
        while len(buffered) - at >= HEADER.size:
            at += HEADER.size + HEADER.unpack_from(buffered, at)[0]
            if at > len(buffered):
                break
            answered += 1
        return self.outstanding - answered

    def _next_frame(self) -> memoryview | None:
        buffered = self._in
        if len(buffered) < HEADER.size:
            return None
        end = HEADER.size + HEADER.unpack_from(buffered)[0]
        if len(buffered) < end:
            return None
        body = memoryview(bytes(buffered[HEADER.size : end]))
        del buffered[:end]
        return body

    def _pump(self, *, block: bool) -> None:
        """Write what the pipe to the worker takes, read what the worker wrote; with `block`,
        wait until at least one of them moves."""
        while True:
            writing = [self._write_fd] if self._out else []
            try:
                readable, writable, _ = select.select(
                    [self._read_fd], writing, [], None if block else 0
                )
            except (OSError, ValueError) as exc:
                raise WorkerGoneError(str(exc)) from None
            if writable:
                self._write_some()
            if readable:
                try:
                    data = os.read(self._read_fd, IO_SIZE)
                except BlockingIOError:
                    data = None
                except OSError as exc:
                    raise WorkerGoneError(str(exc)) from None
                if data is not None:
                    if not data:
                        code = self._process.poll()
                        raise WorkerGoneError(f"it stopped (exit code {code})")
                    self._in += data
            if readable or writable or not block:
                return

    def _write_some(self) -> None:
        out = self._out
        try:
            written = os.writev(self._write_fd, out[:_IOV_MAX])
        except BlockingIOError:
            return
        except OSError as exc:  # BrokenPipeError: the worker is gone
            raise WorkerGoneError(str(exc)) from None
        done = 0
        for part in out:
            if written < len(part):
                out[done] = part[written:]
                break
            written -= len(part)
            done += 1
        del out[:done]

    def stop(self) -> None:
        """Close its input (it exits at end of input); kill it if it lingers, or at once if it
        never became ready (still starting: the run need not wait for that)."""
        self._out.clear()  # nothing more to write (its descriptor is closed next)
        if not self.ready:
            with contextlib.suppress(WorkerGoneError):
                self.poll_ready()
        process = self._process
        with contextlib.suppress(OSError):
            if isinstance(process, _ForkedWorker):
                os.close(self._write_fd)
            elif process.stdin is not None:
                process.stdin.close()
        if not self.ready:
            process.kill()
        try:
            process.wait(_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if isinstance(process, _ForkedWorker):
            os.close(self._read_fd)
        elif process.stdout is not None:
            process.stdout.close()


class _ForkedWorker:
    """A worker forked from this process, with what subprocess.Popen offers that _Worker uses."""

    def __init__(self) -> None:
        to_worker, self.write_fd = os.pipe()
        self.read_fd, from_worker = os.pipe()
        try:
            self.pid = os.fork()
        except OSError:
            for fd in (to_worker, self.write_fd, self.read_fd, from_worker):
                os.close(fd)
            raise
        if self.pid == 0:  # the worker: never returns
            serve_forked(to_worker, from_worker)
        os.close(to_worker)
        os.close(from_worker)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """Its exit code, if it has exited (reaped), else None."""
        if self.returncode is None:
            with contextlib.suppress(ChildProcessError):
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid == 0:
                    return None
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait until it exits (subprocess.TimeoutExpired after ``timeout`` seconds)."""
        if timeout is not None and self.poll() is None and not _exits_within(self.pid, timeout):
            raise subprocess.TimeoutExpired(f"mapping worker {self.pid}", timeout)
        if self.returncode is None:
            with contextlib.suppress(ChildProcessError):
                self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def _exits_within(pid: int, timeout: float) -> bool:
    """Whether child ``pid`` exits within ``timeout`` seconds (not reaped)."""
    try:
        pidfd = os.pidfd_open(pid)  # Linux 5.3+: readable once the process has exited
    except OSError:  # an older kernel: look every 10 ms
        deadline = time.monotonic() + timeout
        while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True
    try:
        return bool(select.select([pidfd], [], [], timeout)[0])
    finally:
        os.close(pidfd)


def _can_fork() -> bool:
    """Whether a worker can be forked from this process: Linux (elsewhere a forked process may
    not use some system libraries), no other thread running (a fork copies only this thread:
    a lock another one held would stay held), and FORK (tests: the other way)."""
    return FORK and sys.platform.startswith("linux") and threading.active_count() == 1


def _usable_cores() -> int:
    """CPU cores this process may run on (its affinity where the system tells it)."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        with contextlib.suppress(OSError):
            return len(affinity(0))
    return os.cpu_count() or 1


def _decode(decoder: msgspec.msgpack.Decoder[t.Any], body: memoryview) -> t.Any:
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as exc:  # ValidationError included
        raise WorkerGoneError(f"a frame not of its protocol ({exc})") from None


def _enlarge_pipe(fd: int) -> None:
    """A 1 MB pipe (64 KB by default on Linux): a chunk crosses in one write, not sixteen."""
    with contextlib.suppress(ImportError, OSError):
        import fcntl  # noqa: PLC0415 - POSIX only

        set_pipe_size = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
        if set_pipe_size is not None:
            fcntl.fcntl(fd, set_pipe_size, IO_SIZE)


class Route:
    """A stream whose RECORD lines the workers prepare, and the sink that takes them.
    ``open``: False once the route is closed (a SCHEMA, a broken worker, the end)."""

    __slots__ = ("here", "open", "plan_id", "sink")

    def __init__(self, sink: AmplitudeSink, plan_id: int, stream: str) -> None:
        self.sink = sink
        self.plan_id = plan_id
        self.open = True
        # The stream's plan as a worker has it, for the chunks the target prepares itself.
        self.here = WorkerStream(sink.plan, stream)


class _Chunk:
    """Consecutive input lines of one route, from line number ``first`` on."""

    __slots__ = ("first", "here", "lines", "route", "worker")

    def __init__(self, route: Route, worker: _Worker | None, first: int) -> None:
        self.route = route
        self.worker = worker
        self.first = first
        self.lines: list[bytes] = []
        self.here = False  # prepared by the target itself, as a worker would

    @property
    def numbers(self) -> range:
        """Each line's number in the input."""
        return range(self.first, self.first + len(self.lines))


TakeRow = t.Callable[[Route, Prepared, bytes, int], None]
TakeRows = t.Callable[[Route, list[RowTuple], list[bytes], t.Sequence[int]], None]
TakeLine = t.Callable[[bytes, int], object]


class MappingPipeline:
    """The reader's side of the mapping workers: routes, chunks in flight, outcomes taken."""

    def __init__(
        self, workers: int, take_row: TakeRow, take_rows: TakeRows, take_line: TakeLine
    ) -> None:
        """``take_row(route, outcome, line, number)``: the target takes a prepared record;
        ``take_rows(route, rows, lines, numbers)``: a chunk of ROW outcomes only, at once;
        ``take_line(line, number)``: the target takes a line itself (SLOW)."""
        self._wanted = workers
        self._take_row = take_row
        self._take_rows = take_rows
        self._take_line = take_line
        self._workers: list[_Worker] = []
        self._next_worker = 0
        self._routes: dict[bytes, Route] = {}
        self._plans: dict[str, tuple[AmplitudeSink, int]] = {}
        self._plan_count = 0
        self._pending: _Chunk | None = None
        self._pending_bytes = 0
        self._in_flight: collections.deque[_Chunk] = collections.deque()
        self._fast_records = 0
        self._broken = workers <= 0
        self._decode = line_decoder().decode

    # -- What the reader asks, per line -------------------------------------------------------

    def route_of(self, line: bytes) -> tuple[Route, bytes] | None:
        """The route of a RECORD line of a routed stream and the line's start up to the
        stream's name (a stream's next lines most often start the same: the reader tests that
        first, while the route is ``open``), else None (cheap: no decoding)."""
        routes = self._routes
        if not routes:
            return None
        for prefix in _PREFIXES:
            if line.startswith(prefix):
                start = len(prefix)
                end = line.find(b'"', start)
                route = routes.get(line[start:end])
                return None if route is None else (route, line[: end + 1])
        return None

    def add(self, route: Route, line: bytes, number: int) -> None:
        """A RECORD line of a routed stream, to be prepared and taken in its order."""
        pending = self._pending
        if (
            pending is None
            or pending.route is not route
            or pending.first + len(pending.lines) != number
        ):
            self._send_pending()
            pending = self._pending = _Chunk(route, self._pick_worker(), number)
        pending.lines.append(line)
        self._pending_bytes += len(line)
        if len(pending.lines) >= CHUNK_LINES or self._pending_bytes >= CHUNK_BYTES:
            self._send_pending()
            while len(self._in_flight) > IN_FLIGHT_PER_WORKER * len(self._workers):
                self._take_oldest()

    def flush(self) -> None:
        """Take every record handed here so far (before any other message is processed)."""
        self._send_pending()
        while self._in_flight:
            self._take_oldest()

    # -- What the target tells it ---------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Records handed here and not taken yet."""
        return self._pending is not None or bool(self._in_flight)

    def fast_record_taken(self, stream: str, sink: AmplitudeSink) -> None:
        """The target's fast path took a record of `stream` itself: route the stream once a
        worker is ready (looked at every READY_CHECK_EVERY records)."""
        count = self._fast_records = self._fast_records + 1
        if (
            count < min(FORK_AFTER_RECORDS, START_AFTER_RECORDS)
            or count % READY_CHECK_EVERY
            or self._broken
        ):
            return
        if not self._workers:
            fork = _can_fork()
            if not fork and count < START_AFTER_RECORDS:
                return
            self._start_workers(fork=fork)
            if not self._workers:
                return
        known = self._plans.get(stream)
        if known is None or known[0] is not sink:
            self._plans[stream] = (sink, self._send_plan(sink))
        if self._any_ready():
            self._open_routes()

    def schema_changed(self) -> None:
        """A SCHEMA: sinks may be replaced; streams are routed again once their new sink has
        taken a record."""
        self.flush()
        self._close_routes()
        self._plans.clear()

    def close(self) -> None:
        """Stop the workers (after flush)."""
        workers, self._workers = self._workers, []
        self._close_routes()
        for worker in workers:
            worker.stop()

    # -- Inside ---------------------------------------------------------------------------------

    def _start_workers(self, *, fork: bool) -> None:
        if os.name != "posix" or _usable_cores() < 2:  # select() on pipes: POSIX only
            logger.info(
                "No mapping worker: %s.",
                "one CPU core" if os.name == "posix" else "not a POSIX system",
            )
            self._break()
            return
        try:
            for _ in range(self._wanted):
                self._workers.append(_Worker(fork=fork))
            logger.info(
                "%d mapping worker(s) %s (process %s).",
                self._wanted,
                "forked from the target" if fork else "started as their own program",
                ", ".join(str(worker.pid) for worker in self._workers),
            )
        except OSError as exc:  # process creation refused (a sandbox)
            logger.warning(
                "No mapping worker could be started (%s): records are mapped in the target's "
                "own process (mapping_workers: 0 says so and skips this attempt).",
                exc,
            )
            self._break()

    def _send_plan(self, sink: AmplitudeSink) -> int:
        self._plan_count += 1
        plan_id = self._plan_count
        try:
            body = pickle.dumps(sink.plan)
        except (pickle.PicklingError, TypeError, AttributeError):
            return -1  # this stream stays on the target's own path
        data = frame([PLAN, plan_id, body, sink.stream_name])
        try:
            for worker in self._workers:
                worker.send(data)
        except WorkerGoneError as exc:
            self._fail(exc)
        return plan_id

    def _any_ready(self) -> bool:
        try:
            if WAIT_FOR_READY:
                for worker in self._workers:
                    worker.wait_ready()
            return any(worker.poll_ready() for worker in self._workers)
        except WorkerGoneError as exc:
            self._fail(exc)
            return False

    def _open_routes(self) -> None:
        for stream, (sink, plan_id) in self._plans.items():
            # A name JSON writes as it is (no escapes): a line's bytes then name it exactly.
            encoded = stream.encode()
            if plan_id < 0 or b'"' in encoded or b"\\" in encoded or encoded in self._routes:
                continue
            if any(byte < 0x20 for byte in encoded):
                continue
            self._routes[encoded] = Route(sink, plan_id, stream)
            logger.info(
                "%s: records prepared by %d mapping worker(s) from record %d on.",
                stream,
                len(self._workers),
                sink.records_read + 1,
            )

    def _pick_worker(self) -> _Worker | None:
        try:
            ready = [worker for worker in self._workers if worker.poll_ready()]
        except WorkerGoneError as exc:
            self._fail(exc)
            return None
        if not ready:
            return None  # broken: the chunk is taken by the target itself
        # The least busy, from the one after the last picked on (ties go round).
        self._next_worker = (self._next_worker + 1) % len(ready)
        order = ready[self._next_worker :] + ready[: self._next_worker]
        return min(order, key=lambda worker: worker.outstanding)

    def _send_pending(self) -> None:
        pending, self._pending = self._pending, None
        self._pending_bytes = 0
        if pending is None:
            return
        self._in_flight.append(pending)
        worker = pending.worker
        if self._broken or worker is None:
            return
        try:
            if worker.unanswered() >= SELF_PREPARE_BACKLOG:
                # The worker has enough to do: the target prepares this chunk itself, when its
                # turn comes (instead of waiting for the worker then).
                pending.worker, pending.here = None, True
                return
            raw = b"".join(pending.lines)
            meta = frame([LINES, pending.route.plan_id, len(pending.lines), len(raw)])
            worker.send(meta, raw)
            worker.outstanding += 1
        except WorkerGoneError as exc:
            self._fail(exc)

    def _take_oldest(self) -> None:
        chunk = self._in_flight.popleft()
        lines, numbers = chunk.lines, chunk.numbers
        answer = None
        if not self._broken and chunk.worker is not None:
            try:
                answer = chunk.worker.receive()
                if len(answer[0]) + len(answer[1]) != len(lines):
                    msg = f"{len(answer[0]) + len(answer[1])} outcomes for {len(lines)} lines"
                    raise WorkerGoneError(msg)
            except WorkerGoneError as exc:
                self._fail(exc)
                answer = None
        take_line = self._take_line
        if chunk.here:
            self._take_prepared_here(chunk)
            return
        if answer is None:
            for line, number in zip(lines, numbers, strict=True):
                take_line(line, number)
            return
        rows, others = answer
        route, take_row = chunk.route, self._take_row
        if not others:
            self._take_rows(route, rows, lines, numbers)
            return
        special = dict(others)
        next_row = iter(rows).__next__
        for index, (line, number) in enumerate(zip(lines, numbers, strict=True)):
            outcome = special.get(index)
            if outcome is None:
                take_row(route, next_row(), line, number)
            else:
                self._take_other(route, outcome, line, number)

    def _take_other(self, route: Route, outcome: Prepared, line: bytes, number: int) -> None:
        """An outcome other than a row (as prepare_line gives it) taken by the target."""
        if outcome[0] == SLOW:
            self._take_line(line, number)
        elif outcome[0] == REJECT and outcome[2] is not None:  # the payload as its JSON
            self._take_row(route, (REJECT, outcome[1], msgspec.Raw(outcome[2])), line, number)
        else:
            self._take_row(route, outcome, line, number)

    def _take_prepared_here(self, chunk: _Chunk) -> None:
        """A chunk prepared in this process, line by line as a worker does (prepare_line):
        the same outcomes, taken the same way."""
        route, lines = chunk.route, chunk.lines
        stream, decode = route.here, self._decode
        outcomes = [prepare_line(stream, line, decode) for line in lines]
        rows = [outcome for outcome in outcomes if outcome[0] == ROW]
        if len(rows) == len(outcomes):
            self._take_rows(route, t.cast("list[RowTuple]", rows), lines, chunk.numbers)
            return
        take_row = self._take_row
        for outcome, line, number in zip(outcomes, lines, chunk.numbers, strict=True):
            if outcome[0] == ROW:
                take_row(route, outcome, line, number)
            else:
                self._take_other(route, outcome, line, number)

    def _fail(self, exc: Exception) -> None:
        if self._broken:
            return
        logger.warning(
            "A mapping worker failed (%s): records are mapped in the target's own process from "
            "here on. Nothing is lost or sent twice; the run is only slower.",
            exc,
        )
        self._break()

    def _close_routes(self) -> None:
        for route in self._routes.values():
            route.open = False
        self._routes.clear()

    def _break(self) -> None:
        self._broken = True
        self._close_routes()
        self._plans.clear()
        workers, self._workers = self._workers, []
        for worker in workers:
            with contextlib.suppress(Exception):
                worker.stop()
