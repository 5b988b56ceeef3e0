"""Sinks of the user_mapping, deletion and cohort objects.

- user_mapping: each batch is sent as /usermap requests (<= 1500 mappings and 1 MB each, paced
  at 1500 mappings per 30 s) before the batch is done, so STATE follows acknowledgement.
- deletion: each batch is sent as requests of <= 100 ids, one request per second; the jobs
  Amplitude scheduled go to the summary, ids in `invalid_ids` to the rejected file.
- cohort: the stream's rows are the cohort (mirror). Ids are spooled to a temporary file as
  they are read (memory bounded) and uploaded when the stream ends (clean_up): the first 100,000
  with /api/3/cohorts/upload (replacing the cohort named by cohort_id, or by cohort_name when
  one such cohort exists), the rest with /api/3/cohorts/membership ADD. STATE is held until
  the upload is acknowledged.

dry_run: user mappings and deletions send nothing and count what would be sent; a cohort is
validated with Amplitude's own skip_save (one upload that saves nothing), membership updates
are not sent.
"""

from __future__ import annotations

import logging
import tempfile
import time
import typing as t

import msgspec
from typing_extensions import override

from target_amplitude.admin_client import (
    COHORT_LIST,
    COHORT_MEMBERSHIP,
    COHORT_UPLOAD,
    DELETIONS,
    USERMAP,
    AdminEndpoint,
    AdminResponse,
)
from target_amplitude.admin_delivery import AdminSender, SendFigures
from target_amplitude.admin_mapping import map_user_mapping, member_id
from target_amplitude.delivery import DeliveryError
from target_amplitude.ledger import Kind, payload_digest
from target_amplitude.mapping import ENCODER, RecordRejectedError
from target_amplitude.schema_check import compile_record_check
from target_amplitude.settings import SettingsError
from target_amplitude.sinks import EndpointSink, RunContext, resolve_mapping

if t.TYPE_CHECKING:
    from singer_sdk.target_base import Target

    from target_amplitude.ledger.session import Scope

LOGGER = logging.getLogger("target-amplitude")
# A cohort member's ledger hash: membership has no payload, only presence.
MEMBER = payload_digest("member")
INVALID_ID_REASON = (
    "Amplitude's User Privacy API listed this id in invalid_ids (no data for this user in the "
    "project): nothing was scheduled for deletion"
)
# The casing the server's message names: "ignore_invalid_id can only be 'True' or 'False'".
IGNORE_INVALID_ID = "True"
COHORT_SKIPPED_REASON = (
    "Amplitude skipped this id in the cohort (not found in the project: {answer})"
)


class AdminSink(EndpointSink):
    """Shared: mapping check at SCHEMA, per-record rejects, kept records for the rejected file."""

    endpoint: AdminEndpoint = USERMAP

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        self._run: RunContext = target.run_context  # type: ignore[attr-defined]
        self.mapping = resolve_mapping(self._run.settings, stream_name, schema)
        self.check_allowed(stream_name)
        super().__init__(target, stream_name, schema, key_properties)
        self._keys = tuple(key_properties or ())
        self._check_schema = compile_record_check(schema) if self.validate_schema else None
        self._received = 0
        self._rejected_early = 0

    def check_allowed(self, stream_name: str) -> None:
        """Settings this object needs beyond the config-time rules (deletion: allow_deletions)."""

    @property
    def sender(self) -> AdminSender:
        sender = self._run.admin
        assert sender is not None
        return sender

    # Private SDK override (target.py's SDK_OVERRIDES): skip the per-field datetime parsing (as
    # AmplitudeSink does; guarded by tests/target/test_sdk_seams.py).
    @override
    def _validate_and_parse(self, record: dict) -> dict:
        return record

    def reject(self, record: t.Any, payload: t.Any, reason: str, endpoint: str) -> None:
        self._run.rejects.write(
            stream=self.stream_name,
            record=record,
            payload=payload,
            reason=reason,
            endpoint=endpoint,
            key_properties=self._keys,
        )

    def map_one(self, record: dict) -> t.Any:
        """The payload (or id) of one record."""
        raise NotImplementedError

    def keep(self, record: dict, payload: t.Any) -> None:
        """Store a mapped record until its batch is sent."""
        raise NotImplementedError

    @override
    def process_record(self, record: dict, context: dict) -> None:
        """Map and check one record; a bad record is written as rejected, never raised."""
        self._received += 1
        if self._check_schema is not None:
            mismatch = self._check_schema(record)
            if mismatch is not None:
                self.reject(
                    record,
                    None,
                    f"record does not match the stream's SCHEMA: {mismatch}",
                    self.endpoint.path,
                )
                self._rejected_early += 1
                return
        try:
            payload = self.map_one(record)
        except RecordRejectedError as exc:
            self.reject(record, None, str(exc), self.endpoint.path)
            self._rejected_early += 1
            return
        self.keep(record, payload)

    def refused(self, response: AdminResponse, hint: str) -> t.NoReturn:
        """A 4xx about the whole request: stop before STATE moves past these records."""
        if response.status in (401, 403):
            what = (
                f"refused the credentials (HTTP {response.status}). Check the api_key and "
                f"secret_key settings and data_region '{self._run.settings.data_region}' "
                "(keys work only in their own region)"
            )
        else:
            what = f"refused the request (HTTP {response.status} {response.text[:300]})"
        msg = (
            f"{self.endpoint.path}: Amplitude {what}. {hint} Nothing after the last emitted "
            "STATE was marked done."
        )
        raise DeliveryError(msg)

    def finish_batch(
        self,
        received: int,
        accepted: int,
        rejected: int,
        figures: SendFigures,
        *,
        would_send: int,
        started: float,
        **ledger_figures: int,
    ) -> None:
        run = self._run
        if figures.requests:
            run.metrics.batch_time(
                self.stream_name, self.endpoint.path, time.perf_counter() - started
            )
        run.metrics.requests(
            self.stream_name, self.endpoint.path, figures.requests, figures.retried
        )
        self.record_outcome(
            run,
            self.endpoint.name,
            received=received,
            accepted=accepted,
            rejected=rejected,
            retried=figures.retried,
            requests=figures.requests,
            would_send=would_send,
            **ledger_figures,
        )
        run.checkpoint.batch_answered(self.records, received, early=True)
        run.checkpoint.full_batch_done()  # sent and answered here, before process_batch returns


class _ChunkedSink(AdminSink):
    """user_mapping and deletion: payloads kept per batch, sent in chunks of max_ids."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._payloads: list[t.Any] = []
        self._records: list[bytes] = []
        # The sync ledger (user_mapping): (payload index, key, hash) of the rows sent, and the
        # rows of the batch compared with it.
        self._ledger_rows: list[tuple[int, str, bytes]] = []
        self._kinds: dict[Kind, int] = {}
        self._unchanged = 0  # rows not sent: Amplitude has them

    @property
    @override
    def max_size(self) -> int:
        """Rows per batch (each batch ends acknowledged, before the next STATE)."""
        if self.batch_size_rows is not None:
            return self.batch_size_rows
        return self.endpoint.max_ids * 10

    def keep(self, record: dict, payload: t.Any) -> None:
        self._payloads.append(payload)
        self._records.append(ENCODER.encode(record))

    def chunks(self) -> list[list[int]]:
        """Indices of the batch's payloads per request."""
        step = self.endpoint.max_ids
        n = len(self._payloads)
        return [list(range(i, min(i + step, n))) for i in range(0, n, step)]

    def send_chunk(self, chunk: list[int], figures: SendFigures) -> list[tuple[int, str]]:
        """Send one request; returns (index, reason) of the records Amplitude refused."""
        raise NotImplementedError

    @override
    def process_batch(self, context: dict) -> None:
        """Send the batch (or count it under dry_run); done when every request is answered."""
        started = time.perf_counter()
        received, rejected_early = self._received, self._rejected_early
        self._received = self._rejected_early = 0
        self._run.checkpoint.records_handed_off(self.records, received)
        figures = SendFigures()
        kinds, self._kinds = self._kinds, {}
        ledger_rows, self._ledger_rows = self._ledger_rows, []
        unchanged, self._unchanged = self._unchanged, 0
        if self._run.settings.dry_run:
            would = len(self._payloads)
            self._payloads, self._records = [], []
            preview = (
                {
                    "new": kinds.get(Kind.NEW, 0),
                    "changed": kinds.get(Kind.CHANGED, 0),
                    "unchanged": kinds.get(Kind.UNCHANGED, 0),
                }
                if kinds
                else {}
            )
            self.finish_batch(
                received, 0, rejected_early, figures, would_send=would, started=started, **preview
            )
            return
        # Input order across objects: the event batches read before these records go first.
        self._run.checkpoint.complete_all()
        refused: list[tuple[int, str]] = []
        for chunk in self.chunks():
            refused.extend(self.send_chunk(chunk, figures))
        for index, reason in refused:
            self.reject(
                msgspec.Raw(self._records[index]), self._payloads[index], reason, self.endpoint.path
            )
        accepted = len(self._payloads) - len(refused)
        self._payloads, self._records = [], []
        self.acknowledged(ledger_rows, {index for index, _ in refused})
        self.finish_batch(
            received,
            accepted,
            rejected_early + len(refused),
            figures,
            would_send=0,
            started=started,
            **({"unchanged": unchanged} if unchanged else {}),
        )

    def acknowledged(self, rows: list[tuple[int, str, bytes]], refused: set[int]) -> None:
        """Record in the ledger the rows Amplitude acknowledged (sinks that use it)."""


class UserMappingSink(_ChunkedSink):
    """object: user_mapping -> POST /usermap."""

    endpoint = USERMAP

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        ledger = self._run.ledger
        self._scope = (
            ledger.scope(self.stream_name, "user_mapping", self.mapping.effective_sync_mode)
            if ledger is not None
            else None
        )

    def map_one(self, record: dict) -> t.Any:
        return map_user_mapping(self.mapping, record)

    def keep(self, record: dict, payload: t.Any) -> None:
        """sync_mode changed (the default): a mapping Amplitude already has is not sent."""
        scope = self._scope
        if scope is not None:
            key, digest = str(payload["user_id"]), payload_digest(payload)
            verdict = scope.classify(key, digest)
            self._kinds[verdict.kind] = self._kinds.get(verdict.kind, 0) + 1
            if not verdict.send:
                self._unchanged += 1
                return
            scope.sent(key)
            self._ledger_rows.append((len(self._payloads), key, digest))
        super().keep(record, payload)

    def acknowledged(self, rows: list[tuple[int, str, bytes]], refused: set[int]) -> None:
        """Every mapping of an answered request not refused is recorded."""
        if self._scope is not None and rows:
            self._scope.answered(
                [(key, digest, None) for index, key, digest in rows if index not in refused],
                [key for _, key, _ in rows],
            )

    def chunks(self) -> list[list[int]]:
        """At most max_ids mappings and 1 MB (with room for api_key and the form) per request."""
        limit = (self.endpoint.max_bytes or 1_000_000) - 4096
        out: list[list[int]] = []
        current: list[int] = []
        size = 0
        for index, payload in enumerate(self._payloads):
            item = len(ENCODER.encode(payload)) * 3 + 3  # form-encoded: at most 3x
            if current and (len(current) >= self.endpoint.max_ids or size + item > limit):
                out.append(current)
                current, size = [], 0
            current.append(index)
            size += item
        if current:
            out.append(current)
        return out

    def send_chunk(self, chunk: list[int], figures: SendFigures) -> list[tuple[int, str]]:
        mappings = [self._payloads[i] for i in chunk]
        response = self.sender.send(
            USERMAP, mappings, ids=len(mappings), stream=self.stream_name, figures=figures
        )
        if not 200 <= response.status < 300:
            self.refused(
                response,
                "The User Mapping API needs the Portfolio add-on; check api_key and api_url.",
            )
        return []


class DeletionSink(_ChunkedSink):
    """object: deletion -> POST /api/2/deletions/users (100 ids, 1 request per second)."""

    endpoint = DELETIONS

    def check_allowed(self, stream_name: str) -> None:
        """Destructive: refused at the SCHEMA message unless allow_deletions is true."""
        if not self._run.settings.allow_deletions:
            msg = (
                f"Stream '{stream_name}' maps to object: deletion, which asks Amplitude to "
                "delete users and all their data (irreversible once the job runs). Set the "
                "allow_deletions setting to true to allow it; nothing was sent."
            )
            raise SettingsError(msg)

    def map_one(self, record: dict) -> t.Any:
        return member_id(self.mapping, record)

    def send_chunk(self, chunk: list[int], figures: SendFigures) -> list[tuple[int, str]]:
        ids = [self._payloads[i] for i in chunk]
        settings = self._run.settings
        by_amplitude_id = self.mapping.amplitude_id_field is not None
        body: dict[str, t.Any] = {
            ("amplitude_ids" if by_amplitude_id else "user_ids"): [int(i) for i in ids]
            if by_amplitude_id
            else ids,
            "requester": settings.deletion_requester,
            # The server's own answer to anything else: "400 ignore_invalid_id can only be
            # 'True' or 'False'" (a JSON true was refused so, Amplitude developer-docs issue
            # #696); the docs' parameter table spells the flag ignore_invalid_id.
            "ignore_invalid_id": IGNORE_INVALID_ID,
        }
        response = self.sender.send(
            DELETIONS, body, ids=len(ids), stream=self.stream_name, figures=figures
        )
        if response.status == 400 and "ignore_invalid_id" in response.text:
            self.refused(
                response,
                f"Amplitude refused the flag ignore_invalid_id={IGNORE_INVALID_ID!r} this target "
                "sends (quoted above); please report this to the target's maintainers.",
            )
        if not 200 <= response.status < 300:
            self.refused(response, "Check the deletion_requester setting and the ids' field.")
        jobs = response.body if isinstance(response.body, list) else [response.body]
        invalid: set[str] = set()
        for job in jobs:
            if not isinstance(job, dict):
                continue
            invalid.update(str(i) for i in job.get("invalid_ids") or ())
            scheduled = job.get("amplitude_ids") or []
            if job.get("day") is not None:
                self._run.stats.add_job(
                    str(job.get("day")), str(job.get("status")), len(scheduled), job.get("app")
                )
        return [(i, INVALID_ID_REASON) for i in chunk if self._payloads[i] in invalid]


class CohortSink(AdminSink):
    """object: cohort -> the stream's rows become the cohort's members when the stream ends."""

    endpoint = COHORT_UPLOAD
    _spool: t.IO[bytes]
    _members: int
    _scope: Scope | None

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._uploaded = False
        # Another sink of this stream takes over (its SCHEMA changed): it uploads, not this one.
        self._superseded = False
        self._run.checkpoint.uploads_pending.add(self.stream_name)
        previous = self._run.cohorts.get(self.stream_name)
        self._run.cohorts[self.stream_name] = self
        if previous is not None and not previous._uploaded:
            # The stream's SCHEMA changed mid-stream (the SDK makes a new sink then): the cohort
            # is still the whole stream, so the members read so far are this sink's too.
            self.logger.info(
                "%s: the SCHEMA changed; the %d member(s) read so far stay in the cohort.",
                self.stream_name,
                previous._members,
            )
            previous._superseded = True
            self._spool, self._members, self._scope = (
                previous._spool,
                previous._members,
                previous._scope,
            )
            return
        # id \t record JSON, one line per member: memory stays bounded for any cohort size.
        self._spool = tempfile.TemporaryFile(prefix="target-amplitude-cohort-")  # noqa: SIM115
        self._members = 0
        # The sync ledger (sync_mode mirror, the default): once it knows the cohort and its
        # members, a run sends only ADD/REMOVE deltas; the first run uploads the cohort whole.
        ledger = self._run.ledger
        self._scope = (
            ledger.scope(self.stream_name, "cohort", self.mapping.effective_sync_mode)
            if ledger is not None
            else None
        )

    def map_one(self, record: dict) -> t.Any:
        return member_id(self.mapping, record)

    def keep(self, record: dict, payload: t.Any) -> None:
        self._spool.write(payload.encode() + b"\t" + ENCODER.encode(record) + b"\n")
        self._members += 1

    @override
    def process_batch(self, context: dict) -> None:
        """Rows only spooled here; counted, uploaded at the end of the stream."""
        self._spool.flush()
        self._run.stats.add(
            self.stream_name,
            self.endpoint.name,
            received=self._received,
            rejected=self._rejected_early,
        )
        self._run.metrics.count(self.stream_name, self.endpoint.path, rejected=self._rejected_early)
        self._run.rejects.flush()
        # Done as far as STATE goes: the pending upload holds every STATE until it is sent.
        self._run.checkpoint.records_kept(self.records, self._received)
        self._received = self._rejected_early = 0

    def _ids(self) -> t.Iterator[list[str]]:
        self._spool.seek(0)
        chunk: list[str] = []
        for line in self._spool:
            chunk.append(line.split(b"\t", 1)[0].decode())
            if len(chunk) >= COHORT_UPLOAD.max_ids:
                yield chunk
                chunk = []
        if chunk or not self._members:
            yield chunk

    def _existing_cohort(self, figures: SendFigures) -> str | None:
        """cohort_id, else the one cohort named cohort_name (a mirror replaces, never adds)."""
        if self.mapping.cohort_id is not None:
            return self.mapping.cohort_id
        response = self.sender.send(
            COHORT_LIST, None, ids=0, stream=self.stream_name, figures=figures
        )
        if response.status != 200 or not isinstance(response.body, dict):
            self.refused(response, "Check secret_key and that the project has cohorts.")
        same = [
            c.get("id")
            for c in response.body.get("cohorts") or []
            if isinstance(c, dict)
            and c.get("name") == self.mapping.cohort_name
            and not c.get("archived")
        ]
        if len(same) > 1:
            msg = (
                f"stream_mappings.{self.stream_name}.cohort_name: {len(same)} cohorts are named "
                f"{self.mapping.cohort_name!r} ({', '.join(map(str, same))}); set cohort_id to "
                "the one to replace. Nothing was sent."
            )
            raise SettingsError(msg)
        return str(same[0]) if same else None

    @override
    def clean_up(self) -> None:
        """Upload the cohort (the stream has ended), then release the spool; a superseded sink
        leaves both to the sink that took over."""
        if self._superseded:
            super().clean_up()
            return
        try:
            if not self._uploaded:
                self._upload()
                self._uploaded = True
                self._run.checkpoint.uploads_pending.discard(self.stream_name)
        finally:
            self._spool.close()
            super().clean_up()

    def _delta_cohort(self) -> str | None:
        """The cohort's id when the ledger knows its members (deltas can be sent)."""
        scope = self._scope
        if scope is None or scope.full_resync:
            return None
        recorded = scope.target()
        if recorded is None:
            return None
        if self.mapping.cohort_id is not None and self.mapping.cohort_id != recorded:
            return None  # another cohort now: uploaded whole
        return recorded

    def _upload(self) -> None:
        # The event batches read before the stream ended go first.
        self._run.checkpoint.complete_all()
        started = time.perf_counter()
        self._spool.flush()
        delta_of = self._delta_cohort()
        if delta_of is not None:
            self._send_deltas(delta_of, started)
            return
        settings = self._run.settings
        figures = SendFigures()
        by_amplitude_id = self.mapping.amplitude_id_field is not None
        existing = self._existing_cohort(figures)
        skipped: set[str] = set()
        matched_note = ""
        # Amplitude named only a sample of the ids it skipped: the ledger cannot tell which
        # members it holds, so it records none (the next run uploads whole again).
        uncertain = False
        cohort_id: str | None = existing
        sent = 0
        for index, ids in enumerate(self._ids()):
            if index == 0:
                body: dict[str, t.Any] = {
                    "name": self.mapping.cohort_name or self.stream_name,
                    "app_id": settings.project_id,
                    "id_type": "BY_AMP_ID" if by_amplitude_id else "BY_USER_ID",
                    "ids": ids,
                    "owner": self.mapping.cohort_owner,
                    "published": True,
                    "skip_invalid_ids": True,
                }
                if existing is not None:
                    body["existing_cohort_id"] = existing
                if settings.dry_run:
                    body["skip_save"] = True
                response = self.sender.send(
                    COHORT_UPLOAD, body, ids=len(ids), stream=self.stream_name, figures=figures
                )
                if response.status != 200 or not isinstance(response.body, dict):
                    self.refused(response, "Check project_id, cohort_owner and cohort_id.")
                # Amplitude's docs answer cohortId since 2024, cohort_id before: read both.
                answered = response.body.get("cohortId") or response.body.get("cohort_id")
                cohort_id = str(answered) if answered is not None else existing
                meta = response.body.get("metadata") or {}
                if isinstance(meta, dict):
                    skipped.update(str(i) for i in meta.get("invalid_ids_sample") or ())
                    if meta.get("matched") is not None:
                        matched_note = f" matched={meta.get('matched')}/{meta.get('totals')}"
                        unmatched = int(meta.get("totals") or 0) - int(meta.get("matched") or 0)
                        if unmatched > len(meta.get("invalid_ids_sample") or ()):
                            uncertain = True
                            LOGGER.warning(
                                "Cohort of stream %s: Amplitude matched %s of %s ids and names "
                                "only a sample of the others in the rejected file.",
                                self.stream_name,
                                meta.get("matched"),
                                meta.get("totals"),
                            )
                sent += len(ids)
                if settings.dry_run:
                    break
                continue
            if cohort_id is None:
                msg = f"{COHORT_UPLOAD.path}: Amplitude answered without a cohort id: stopping."
                raise DeliveryError(msg)
            # The membership API names its id types BY_ID (amplitude id) and BY_NAME (user id).
            body = {
                "cohort_id": cohort_id,
                "memberships": [
                    {
                        "ids": ids,
                        "id_type": "BY_ID" if by_amplitude_id else "BY_NAME",
                        "operation": "ADD",
                    }
                ],
                "skip_invalid_ids": True,
            }
            response = self.sender.send(
                COHORT_MEMBERSHIP, body, ids=len(ids), stream=self.stream_name, figures=figures
            )
            if response.status != 200 or not isinstance(response.body, dict):
                self.refused(response, "Check cohort_id and secret_key.")
            for result in response.body.get("memberships_result") or []:
                if isinstance(result, dict):
                    skipped.update(str(i) for i in result.get("skipped_ids") or ())
            sent += len(ids)
        rejected = self._reject_skipped(skipped)
        would = self._members if settings.dry_run else 0
        accepted = 0 if settings.dry_run else self._members - rejected
        if self._scope is not None and not settings.dry_run and not uncertain:
            self._record_whole(cohort_id, skipped)
        self.finish_batch(0, accepted, rejected, figures, would_send=would, started=started)
        self._run.stats.note(
            f"Cohort stream={self.stream_name} cohort_id={cohort_id} members={self._members}"
            f"{matched_note}" + (" (dry_run: skip_save, nothing saved)" if settings.dry_run else "")
        )

    def _record_whole(self, cohort_id: str | None, skipped: set[str]) -> None:
        """After a whole upload: the ledger holds exactly the members Amplitude took."""
        scope = self._scope
        assert scope is not None
        scope.new_snapshot()
        for ids in self._ids():
            kept = [i for i in ids if i not in skipped]
            scope.seen(kept)
            scope.answered([(i, MEMBER, None) for i in kept], ())
        scope.forget([key for key, _, _ in scope.vanished()])
        scope.set_target(cohort_id)

    def _send_deltas(self, cohort_id: str, started: float) -> None:
        """ADD the members the ledger lacks, REMOVE those gone; each recorded once answered."""
        scope = self._scope
        assert scope is not None
        settings = self._run.settings
        figures = SendFigures()
        scope.new_snapshot()
        adds: list[str] = []
        for ids in self._ids():
            scope.seen(ids)
            known = scope.previous_many(ids)
            adds.extend(member for member in ids if member not in known)
        removes = [key for key, _, _ in scope.vanished()]
        skipped: set[str] = set()
        id_type = "BY_ID" if self.mapping.amplitude_id_field is not None else "BY_NAME"
        step = COHORT_MEMBERSHIP.max_ids
        if not settings.dry_run:
            for operation, members in (("ADD", adds), ("REMOVE", removes)):
                for at in range(0, len(members), step):
                    chunk = members[at : at + step]
                    body = {
                        "cohort_id": cohort_id,
                        "memberships": [{"ids": chunk, "id_type": id_type, "operation": operation}],
                        "skip_invalid_ids": True,
                    }
                    response = self.sender.send(
                        COHORT_MEMBERSHIP,
                        body,
                        ids=len(chunk),
                        stream=self.stream_name,
                        figures=figures,
                    )
                    if response.status != 200 or not isinstance(response.body, dict):
                        self.refused(response, "Check cohort_id and secret_key (or full_resync).")
                    refused: set[str] = set()
                    for result in response.body.get("memberships_result") or []:
                        if isinstance(result, dict):
                            refused.update(str(i) for i in result.get("skipped_ids") or ())
                    if operation == "ADD":
                        skipped |= refused
                        scope.answered(
                            [(i, MEMBER, None) for i in chunk if i not in refused], chunk
                        )
                    else:
                        scope.forget(chunk)
        rejected = self._reject_skipped(skipped)
        added = 0 if settings.dry_run else len(adds) - rejected
        unchanged = self._members - len(adds)
        preview = (
            {"new": len(adds), "changed": 0, "unchanged": unchanged, "removed": len(removes)}
            if settings.dry_run
            else {"unchanged": unchanged, "removed": len(removes)}
        )
        self.finish_batch(
            0,
            added,
            rejected,
            figures,
            would_send=len(adds) + len(removes) if settings.dry_run else 0,
            started=started,
            **preview,
        )
        self._run.stats.note(
            f"Cohort stream={self.stream_name} cohort_id={cohort_id} members={self._members} "
            f"added={len(adds)} removed={len(removes)} (deltas from the sync ledger)"
            + (" (dry_run: nothing sent)" if settings.dry_run else "")
        )

    def _reject_skipped(self, skipped: set[str]) -> int:
        if not skipped:
            return 0
        count = 0
        self._spool.seek(0)
        for line in self._spool:
            member, _, record = line.rstrip(b"\n").partition(b"\t")
            if member.decode() in skipped:
                self.reject(
                    msgspec.Raw(record),
                    member.decode(),
                    COHORT_SKIPPED_REASON.format(answer="invalid_ids_sample / skipped_ids"),
                    self.endpoint.path,
                )
                count += 1
        return count


ADMIN_SINKS: dict[str, type[AdminSink]] = {
    "user_mapping": UserMappingSink,
    "deletion": DeletionSink,
    "cohort": CohortSink,
}
