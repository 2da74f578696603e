"""The state store: current findings and their history in Azure Table Storage.

Why Table Storage: it is in every storage account the Function App already needs, a resource's
rows fit in one partition, and a partition can be written atomically with optimistic
concurrency (ETags), which is what at-least-once, unordered Event Grid delivery requires.

Tables (``prefix`` defaults to ``phiguard``; names are ``<prefix>state``, ``<prefix>poison``,
``<prefix>events``):

``<prefix>state`` — one partition per resource, current state and history together.
    PartitionKey
        The normalized (lower-case) resource id with ``/`` written as ``|`` and every character
        outside ``[a-z0-9._()-]`` and printable non-ASCII written as ``!xxxx`` (its UTF-16
        code units in hex); so ``resourceGroups`` and ``resourcegroups`` share a partition and no key holds
        ``/ \\ # ?``, quotes or control characters. A key longer than 500 UTF-16 units (the
        service allows 1 KiB = 512) keeps its first 400 and gets ``~`` plus 32 hex digits of the
        SHA-256 of the normalized id (``~`` never occurs in an escaped id, so the two forms
        cannot collide). Every row stores the id as ARM spelled it (``resource_id``) and the
        normalized id (``resource_key``).
    RowKey ``marker`` — the resource: ``resource_type``, ``phi``, ``deleted``,
        ``last_read_at`` (when ARM was read for the newest recorded evaluation: the pipeline's
        freshness check, and the rule that older information never overwrites newer),
        ``last_recorded_at`` (wall clock of the last write), ``last_event_id`` /
        ``last_event_time`` (newest event seen), ``count_pass`` / ``count_fail`` /
        ``count_error`` / ``count_not_applicable`` / ``count_not_assessed`` (open rows by
        status) and ``version`` (+1 per record). Every write to the partition updates the
        marker with ``If-Match`` its ETag in the same transaction, so the marker's ETag is the
        partition's version.
    RowKey ``c~<check_id>`` — the current state of one check on the resource: ``status``,
        ``severity``, ``hipaa`` (JSON list), ``title``, ``reason``, ``evidence`` (JSON, at most
        32,000 UTF-16 units — the service's 64 KiB string limit — else long values are cut and
        the largest entries dropped, a ``…truncated`` entry says so and ``evidence_truncated``
        is true),
        ``phi``, ``first_failed_at`` (start of the current FAIL streak; absent unless FAIL),
        ``last_changed_at``, ``last_evaluated_at`` (the read time of the evaluation that last
        wrote the row) and the cause (``cause_kind``, ``cause_event_id``, ``cause_event_time``,
        ``cause_caller_appid``, ``cause_correlation_id``).
    RowKey ``h~<YYYYmmddTHHMMSSffffffZ>~<version, 10 digits>~<check_id>~<8 hex>`` — one status
        transition, append-only (inserted, never updated or deleted): ``from_status`` (absent
        on first sight), ``to_status``, ``reason``, ``severity``, ``at`` (the evaluation's read
        time), ``recorded_at`` and the cause. Keys sort by read time, then by the marker version
        that committed them (two workers may read at the same instant), so a partition range
        query returns a resource's history oldest first. No TTL, no clean-up: HIPAA documentation is kept at
        least six years (45 CFR 164.316(b)(2)).

``<prefix>poison`` — events that could not be processed: PartitionKey ``YYYYmmdd``, RowKey time
    plus a random suffix, the source, the error and the raw payload (UTF-8 text, else base64)
    split over ``raw_0``..``raw_14`` (≤ 480,000 units; longer payloads are cut and flagged,
    their full length and SHA-256 kept).

``<prefix>events`` — processed event ids, insert-only: PartitionKey = first two hex digits of
    the SHA-256 of the id (spreads load), RowKey = the escaped id. Event Grid retries for 24 h,
    so rows older than that may be purged by an operator; nothing here depends on them staying.
    The pipeline writes only the events the resource's marker cannot vouch for (newer than its
    ``last_read_at``); a redelivery of the others is coalesced by the marker.

Recording an evaluation (``record_evaluation``) reads the marker and the check rows (not the
history), then diffs:

* a finding whose status, severity, citations, title, reason, evidence, PHI flag or type differ
  from its row rewrites the row; a status change also inserts one history row;
* a row whose check is no longer in the evaluation (the check stopped applying: the type, PHI
  scope or catalog changed) becomes ``CLOSED`` with a transition; checks the engine listed as
  ``NOT_ASSESSED`` (a related document was missing, or the check could not see what it needs)
  is recorded as that status — an earlier PASS is no longer vouched for — except over a
  ``FAIL``, which stays open until a verdict sees the resource pass: unknown is not a pass;
* nothing else is written except the marker (``last_read_at`` moves forward: one entity write);
  re-recording the same read time with nothing new writes nothing at all.

``record_deleted`` turns every open row into ``RESOURCE_DELETED`` and marks the resource
deleted; a later evaluation (the resource re-created) reopens rows with transitions from
``RESOURCE_DELETED``. ``CLOSED`` and ``RESOURCE_DELETED`` rows are "inactive": ``current`` leaves
them out unless asked.

Concurrency: all writes for a resource go in one transaction (at most 100 operations: the
marker plus 99; a check row and its history row always share a transaction). Larger changes
are committed in several transactions, each carrying the marker with the ETag the previous one
returned. A 412 / 409 (another worker wrote first) makes the writer re-read the partition,
re-diff and retry, up to five times, then raise :class:`ConcurrentUpdateError` (transient: the
trigger redelivers). A partially committed multi-transaction change is consistent row by row
(each status change travels with its history row) and is completed by the retry or by the
next evaluation. If the stored ``last_read_at`` is newer than the evaluation's read time the
record is ``stale`` and nothing is written; an equal read time is not stale (redelivery of the
same read finishes an interrupted write and is otherwise a no-op).

Transient storage errors (connection failures, 5xx, throttling) propagate unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import (
    TableClient,
    TableEntity,
    TableServiceClient,
    TableTransactionError,
    UpdateMode,
)

from shared.http import tables_transport
from shared.kernel.changes import Cause
from shared.kernel.findings import Severity, Status
from shared.kernel.resource_id import ResourceIdError, normalize, parse

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.engine import Evaluation
    from shared.kernel.findings import Finding

PROCESSING_CHECK = "phiguard_processing"
"""The pseudo-check whose ERROR row says phiguard itself could not process a resource."""
_NEVER_READ = datetime(1970, 1, 1, tzinfo=UTC)

CLOSED = "CLOSED"
RESOURCE_DELETED = "RESOURCE_DELETED"
INACTIVE_STATUSES = frozenset({CLOSED, RESOURCE_DELETED})

MARKER_ROW = "marker"
_CHECK_FROM, _CHECK_TO = "c~", "c~~"
_HISTORY_FROM, _HISTORY_TO = "h~", "h~~"

_MAX_KEY_UNITS = 500  # service limit 1 KiB = 512 UTF-16 units (Azurite enforces 512)
_HASHED_KEY_HEAD = 400
_MAX_STRING_UNITS = 32_000  # service limit 64 KiB = 32,768 UTF-16 units
_MAX_TEXT_UNITS = 8_000  # title, reason, source: generous, far below the limit
_MAX_EVIDENCE_VALUE_UNITS = 4_000
_POISON_PARTS = 15  # 15 x 32,000 units x 2 bytes < 1 MiB entity limit
_TRANSACTION_LIMIT = 100  # service limit; Azurite drops the connection on 101
_MAX_ATTEMPTS = 5
_PREFETCH_SECONDS = 10.0  # how long rows read by marker(prefetch=True) may seed a record
_PRELOAD_SECONDS = 300.0  # the same for rows read by preload_group (the sweep)
_CONFLICT_CODES = frozenset(
    {"UpdateConditionNotSatisfied", "ConditionNotMet", "EntityAlreadyExists", "ResourceNotFound"}
)
_KEY_SAFE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._()-")
_COUNTED = (Status.PASS, Status.FAIL, Status.ERROR, Status.NOT_APPLICABLE, Status.NOT_ASSESSED)

Outcome = Literal["changed", "unchanged", "stale"]


class ConcurrentUpdateError(RuntimeError):
    """Other writers kept changing the resource's partition; retrying later will succeed."""


@dataclass(frozen=True)
class ResourceMarker:
    resource_id: str
    resource_type: str
    phi: bool
    deleted: bool
    last_read_at: datetime
    last_recorded_at: datetime
    last_event_id: str | None
    last_event_time: datetime | None
    counts: Mapping[str, int]  # open rows by status (PASS, FAIL, ERROR, NOT_APPLICABLE)
    version: int
    # Checks that turned FAIL and whose follow-up (fix or ACTION_REQUIRED) has not completed.
    actions_pending: tuple[str, ...] = ()
    actions_pending_since: datetime | None = None  # when the set last grew
    etag: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class StoredFinding:
    """A check's current state on a resource: the finding shape plus when and why.

    ``status`` is a :class:`~shared.kernel.findings.Status` value or ``CLOSED`` / ``RESOURCE_DELETED``.
    ``last_evaluated_at`` of an open row is the resource's ``last_read_at``: an evaluation that
    changes nothing only moves the marker, and it confirmed every open row.
    """

    resource_id: str
    resource_type: str
    check_id: str
    status: str
    severity: Severity
    hipaa: tuple[str, ...]
    title: str
    reason: str
    evidence: Mapping[str, Any]
    phi: bool
    evidence_truncated: bool
    first_failed_at: datetime | None
    last_changed_at: datetime
    last_evaluated_at: datetime
    cause: Cause

    @property
    def active(self) -> bool:
        return self.status not in INACTIVE_STATUSES

    def to_json(self) -> dict[str, Any]:
        """The finding JSON of DESIGN.md plus the state fields (ISO 8601 UTC times)."""
        return {
            "resource_id": self.resource_id,
            "resource_type": self.resource_type,
            "check_id": self.check_id,
            "status": self.status,
            "severity": self.severity.value,
            "hipaa": list(self.hipaa),
            "title": self.title,
            "reason": self.reason,
            "evidence": dict(self.evidence),
            "phi": self.phi,
            "evidence_truncated": self.evidence_truncated,
            "first_failed_at": _iso(self.first_failed_at),
            "last_changed_at": _iso(self.last_changed_at),
            "last_evaluated_at": _iso(self.last_evaluated_at),
            "cause": _cause_json(self.cause),
        }


@dataclass(frozen=True)
class Transition:
    """One status change of one check on one resource; ``from_status`` is None on first sight."""

    resource_id: str
    check_id: str
    from_status: str | None
    to_status: str
    severity: str
    reason: str
    at: datetime
    cause: Cause
    recorded_at: datetime


@dataclass(frozen=True)
class RecordOutcome:
    """What a record did. ``transitions`` are the status changes it committed (the pipeline acts
    on new FAILs and on PASS after FAIL); ``writes`` counts entity operations sent."""

    outcome: Outcome
    transitions: tuple[Transition, ...] = ()
    changed_checks: tuple[str, ...] = ()
    writes: int = 0
    transactions: int = 0
    attempts: int = 1
    actions_pending: tuple[str, ...] = ()  # the resource's, as stored by (or before) this record
    actions_pending_since: datetime | None = None
    marker_etag: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class PoisonRecord:
    source: str
    error: str
    raw: str  # the payload as text; base64 when ``raw_encoding`` says so
    raw_encoding: Literal["utf-8", "base64"]
    raw_length: int  # of the original payload (bytes for bytes, characters for str)
    raw_sha256: str  # of the original payload's bytes (UTF-8 for str)
    truncated: bool
    at: datetime
    recorded_at: datetime


class StateStore(Protocol):
    """Where evaluations become current state and history (see the module docstring)."""

    def record_evaluation(
        self,
        evaluation: Evaluation,
        *,
        read_at: datetime,
        cause: Cause,
        track_actions: bool = False,
    ) -> RecordOutcome: ...

    def clear_actions_pending(
        self, resource_id: str, done: Iterable[str], record: RecordOutcome | None = None
    ) -> None: ...

    def preload_group(self, group_id: str) -> int: ...

    def discard_preloaded(self) -> None: ...

    def record_deleted(self, resource_id: str, *, at: datetime, cause: Cause) -> RecordOutcome: ...

    def record_error(
        self, resource_id: str, *, stage: str, error: BaseException, cause: Cause
    ) -> RecordOutcome: ...

    def marker(self, resource_id: str, *, prefetch: bool = False) -> ResourceMarker | None: ...

    def current(
        self,
        resource_id: str | None = None,
        status: str | None = None,
        severity: str | None = None,
        hipaa: str | None = None,
        *,
        include_inactive: bool = False,
    ) -> list[StoredFinding]: ...

    def history(self, resource_id: str) -> list[Transition]: ...

    def record_poison(
        self, raw: str | bytes, error: str, source: str, at: datetime
    ) -> PoisonRecord: ...

    def poison(self) -> list[PoisonRecord]: ...

    def mark_event_processed(self, event_id: str, at: datetime) -> bool: ...

    def event_processed(self, event_id: str) -> bool: ...


class _Conflict(Exception):
    """Another writer changed the partition between our read and our write."""


Operation = tuple[str, dict[str, Any], dict[str, Any]]


@dataclass
class _Partition:
    marker: TableEntity | None
    checks: dict[str, TableEntity]


@dataclass
class _Plan:
    """The writes that bring a partition to the desired state."""

    marker: dict[str, Any] | None  # None: nothing to write at all
    units: list[list[Operation]]  # each unit commits in one transaction
    transitions: list[list[Transition]]  # per unit
    changed: list[str]  # check id per unit


class TableStateStore:
    """:class:`StateStore` over Azure Table Storage (the real service or Azurite)."""

    def __init__(
        self,
        service: TableServiceClient,
        prefix: str = "phiguard",
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not (prefix[:1].isascii() and prefix[:1].isalpha() and prefix.isalnum()):
            raise ValueError(
                f"table prefix must be letters and digits, starting with a letter: {prefix!r}"
            )
        if not prefix.isascii() or len(prefix) > 56:
            raise ValueError(f"table prefix must be ASCII and at most 56 characters: {prefix!r}")
        self.service = service
        self.prefix = prefix
        self.state_table = f"{prefix}state"
        self.poison_table = f"{prefix}poison"
        self.events_table = f"{prefix}events"
        self._state: TableClient = service.get_table_client(self.state_table)
        self._poison: TableClient = service.get_table_client(self.poison_table)
        self._events: TableClient = service.get_table_client(self.events_table)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._prefetched = threading.local()  # (pk, _Partition, monotonic time) per thread
        self._preloaded: dict[str, tuple[_Partition, float]] = {}  # by pk (preload_group)
        self._preloaded_groups: dict[str, float] = {}  # key prefix → when it was read
        self._preload_lock = threading.Lock()

    @classmethod
    def from_connection_string(
        cls, connection_string: str, prefix: str = "phiguard"
    ) -> TableStateStore:
        return cls(
            TableServiceClient.from_connection_string(
                connection_string, transport=tables_transport()
            ),
            prefix,
        )

    @classmethod
    def from_account_url(
        cls, account_url: str, credential: TokenCredential, prefix: str = "phiguard"
    ) -> TableStateStore:
        """For a managed identity: ``https://<account>.table.core.windows.net``; the identity needs
        the *Storage Table Data Contributor* role."""
        return cls(
            TableServiceClient(
                endpoint=account_url, credential=credential, transport=tables_transport()
            ),
            prefix,
        )

    def ensure_tables(self) -> None:
        """Creates the tables if missing; safe to call on every cold start."""
        for name in (self.state_table, self.poison_table, self.events_table):
            self.service.create_table_if_not_exists(name)

    # -- recording -------------------------------------------------------------------------

    def record_evaluation(
        self,
        evaluation: Evaluation,
        *,
        read_at: datetime,
        cause: Cause,
        track_actions: bool = False,
    ) -> RecordOutcome:
        """Records an evaluation. ``track_actions``: checks this record turns FAIL join the
        marker's ``actions_pending`` in the same transaction, so a crash before their follow-up
        leaves them there for a redelivery or the sweep (:meth:`clear_actions_pending` when
        done). A check that stops failing leaves the set whatever the cause."""
        read_at = _require_utc(read_at, "read_at")
        findings: dict[str, Finding] = {}
        for finding in evaluation.findings:
            if finding.check_id in findings:
                raise ValueError(f"duplicate finding for check {finding.check_id!r}")
            findings[finding.check_id] = finding
        not_assessed = {n.check_id for n in evaluation.not_assessed}

        def plan(part: _Partition, pk: str) -> _Plan:
            return self._plan_evaluation(
                part, pk, evaluation, findings, not_assessed, read_at, cause, track_actions
            )

        return self._record(evaluation.resource_id, read_at, plan)

    def record_deleted(self, resource_id: str, *, at: datetime, cause: Cause) -> RecordOutcome:
        at = _require_utc(at, "at")

        def plan(part: _Partition, pk: str) -> _Plan:
            return self._plan_deleted(part, pk, resource_id, at, cause)

        return self._record(resource_id, at, plan)

    def record_error(
        self, resource_id: str, *, stage: str, error: BaseException, cause: Cause
    ) -> RecordOutcome:
        """Records that processing the resource failed unexpectedly at ``stage``: one ERROR row
        (:data:`PROCESSING_CHECK`) naming the exception's type, never its text or stack (a
        message may quote resource data). The other rows keep their state, and the marker's
        ``last_read_at`` does not move, so the next event or sweep processes it again; the row
        closes once a later evaluation succeeds."""
        now = self._clock()
        kind = type(error).__name__

        def plan(part: _Partition, pk: str) -> _Plan:
            version = _next_version(part.marker)
            stored = part.marker
            stored_read = _dt(stored.get("last_read_at")) if stored else None
            rtype = str(stored.get("resource_type", "")) if stored else _type_of(resource_id)
            phi = bool(stored.get("phi", False)) if stored else False
            finding = _processing_finding(resource_id, rtype, phi, stage, kind)
            row = part.checks.get(PROCESSING_CHECK)
            entity = _check_entity(pk, resource_id, finding, row, now, cause)
            result = _Plan(None, [], [], [])
            final = {c: str(r["status"]) for c, r in part.checks.items()}
            final[PROCESSING_CHECK] = entity["status"]
            if row is None or not _same_content(row, entity):
                self._add_unit(result, pk, row, entity, now, cause, now, version)
            marker = _marker_entity(
                pk,
                resource_id,
                rtype,
                phi,
                deleted=bool(stored.get("deleted", False)) if stored else False,
                stored=stored,
                read_at=stored_read or _NEVER_READ,
                cause=Cause(cause.kind),
                now=now,
                final=final,
                pending=_pending(stored),
            )
            if result.units:
                result.marker = marker
            return result

        # Never stale: it records no read, so no newer read can supersede it.
        return self._record(resource_id, datetime.max.replace(tzinfo=UTC), plan)

    def _record(
        self, resource_id: str, read_at: datetime, planner: Callable[[_Partition, str], _Plan]
    ) -> RecordOutcome:
        pk = partition_key(resource_id)
        committed: list[Transition] = []
        changed: list[str] = []
        writes = transactions = attempt = 0
        prefetched = self._take_prefetched(pk)

        def result(
            outcome: Outcome, marker: Mapping[str, Any] | None, etag: str | None = None
        ) -> RecordOutcome:
            return RecordOutcome(
                outcome,
                tuple(committed),
                tuple(changed),
                writes,
                transactions,
                attempt,
                *_pending_state(marker),
                etag,
            )

        for attempt in range(1, _MAX_ATTEMPTS + 1):
            part = prefetched or self._load(pk)
            stored_read = _dt(part.marker.get("last_read_at")) if part.marker else None
            if stored_read is not None and stored_read > read_at:
                return result("changed" if writes else "stale", part.marker)
            plan = planner(part, pk)
            if prefetched is not None:
                prefetched = None
                if plan.marker is None:
                    # Nothing to write is decided on current rows only: the prefetched ones may
                    # be behind another writer's (writes would have caught it by ETag).
                    part = self._load(pk)
                    stored_read = _dt(part.marker.get("last_read_at")) if part.marker else None
                    if stored_read is not None and stored_read > read_at:
                        return result("changed" if writes else "stale", part.marker)
                    plan = planner(part, pk)
            if plan.marker is None:
                return result(
                    "changed" if writes else "unchanged",
                    part.marker,
                    part.marker.metadata["etag"] if part.marker is not None else None,
                )
            etag = part.marker.metadata["etag"] if part.marker is not None else None
            try:
                for _ops, unit_transitions, unit_changed, n, new_etag in self._commit(etag, plan):
                    etag = new_etag
                    committed.extend(unit_transitions)
                    changed.extend(unit_changed)
                    writes += n
                    transactions += 1
            except _Conflict:
                time.sleep(random.uniform(0, 0.005 * 2**attempt))  # noqa: S311 - jitter
                continue
            return result("changed" if plan.units or committed else "unchanged", plan.marker, etag)
        raise ConcurrentUpdateError(
            f"gave up recording {resource_id!r} after {_MAX_ATTEMPTS} attempts: other writers "
            "kept changing it"
        )

    def _commit(
        self, marker_etag: str | None, plan: _Plan
    ) -> Iterator[tuple[list[Operation], list[Transition], list[str], int, str]]:
        """Commits the plan in as few transactions as the limit allows, yielding each one (with
        the marker's new ETag)."""
        assert plan.marker is not None
        marker = plan.marker
        if not plan.units:
            try:
                if marker_etag is None:
                    written = self._state.create_entity(marker)
                else:
                    written = self._state.update_entity(
                        marker,
                        mode=UpdateMode.REPLACE,
                        etag=marker_etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
            except (ResourceModifiedError, ResourceExistsError, ResourceNotFoundError) as exc:
                if (
                    isinstance(exc, ResourceNotFoundError)
                    and _error_code(exc) != "ResourceNotFound"
                ):
                    raise
                raise _Conflict from exc
            yield [], [], [], 1, str(written.get("etag", ""))
            return
        etag = marker_etag
        for chunk in _chunks(plan, _TRANSACTION_LIMIT - 1):
            indices, ops = chunk
            marker_op: Operation
            if etag is None:
                marker_op = ("create", marker, {})
            else:
                marker_op = (
                    "update",
                    marker,
                    {
                        "mode": UpdateMode.REPLACE,
                        "etag": etag,
                        "match_condition": MatchConditions.IfNotModified,
                    },
                )
            batch = [marker_op, *ops]
            try:
                results = self._state.submit_transaction(batch)
            except TableTransactionError as exc:
                if exc.status_code in (409, 412) or _error_code(exc) in _CONFLICT_CODES:
                    raise _Conflict from exc
                raise
            etag = str(results[0]["etag"])
            yield (
                batch,
                [t for i in indices for t in plan.transitions[i]],
                [plan.changed[i] for i in indices],
                len(batch),
                etag,
            )

    def _load(self, pk: str) -> _Partition:
        rows = self._state.query_entities(
            # The SDK substitutes @names only in space-separated words: keep ")" apart.
            "PartitionKey eq @pk and (RowKey eq @marker or (RowKey ge @c0 and RowKey lt @c1 ) )",
            parameters={"pk": pk, "marker": MARKER_ROW, "c0": _CHECK_FROM, "c1": _CHECK_TO},
        )
        marker: TableEntity | None = None
        checks: dict[str, TableEntity] = {}
        for row in rows:
            if row["RowKey"] == MARKER_ROW:
                marker = row
            else:
                checks[str(row["check_id"])] = row
        return _Partition(marker, checks)

    def _plan_evaluation(
        self,
        part: _Partition,
        pk: str,
        evaluation: Evaluation,
        findings: Mapping[str, Finding],
        not_assessed: set[str],
        read_at: datetime,
        cause: Cause,
        track_actions: bool = False,
    ) -> _Plan:
        now = self._clock()
        version = _next_version(part.marker)
        plan = _Plan(None, [], [], [])
        final: dict[str, str] = {c: str(r["status"]) for c, r in part.checks.items()}
        for check_id in sorted(findings):
            finding = findings[check_id]
            row = part.checks.get(check_id)
            if (
                finding.status == Status.NOT_ASSESSED
                and row is not None
                and row["status"] == Status.FAIL.value
            ):
                continue  # a FAIL stays open until a verdict sees the resource pass
            entity = _check_entity(pk, evaluation.resource_id, finding, row, read_at, cause)
            final[check_id] = entity["status"]
            if row is not None and _same_content(row, entity):
                continue
            self._add_unit(plan, pk, row, entity, read_at, cause, now, version)
        for check_id, row in sorted(part.checks.items()):
            if check_id in findings or check_id in not_assessed:
                continue
            if row["status"] in INACTIVE_STATUSES:
                continue
            entity = _inactive_entity(
                row,
                CLOSED,
                "Processed without error again."
                if check_id == PROCESSING_CHECK
                else "The check no longer applies to this resource (its type, PHI scope or the "
                "catalog changed), so its last result is closed.",
                evaluation.resource_id,
                read_at,
                cause,
            )
            final[check_id] = CLOSED
            self._add_unit(plan, pk, row, entity, read_at, cause, now, version)

        stored = part.marker
        newly_failing = (
            {
                t.check_id
                for unit in plan.transitions
                for t in unit
                if t.to_status == Status.FAIL.value
            }
            if track_actions
            else set()
        )
        failing = {c for c, status in final.items() if status == Status.FAIL.value}
        marker = _marker_entity(
            pk,
            evaluation.resource_id,
            evaluation.resource_type,
            evaluation.phi,
            deleted=False,
            stored=stored,
            read_at=read_at,
            cause=cause,
            now=now,
            final=final,
            pending=tuple(sorted((set(_pending(stored)) | newly_failing) & failing)),
        )
        if plan.units or _marker_moves(stored, marker):
            plan.marker = marker
        return plan

    def _plan_deleted(
        self, part: _Partition, pk: str, resource_id: str, at: datetime, cause: Cause
    ) -> _Plan:
        now = self._clock()
        version = _next_version(part.marker)
        plan = _Plan(None, [], [], [])
        final: dict[str, str] = {c: str(r["status"]) for c, r in part.checks.items()}
        for check_id, row in sorted(part.checks.items()):
            if row["status"] in INACTIVE_STATUSES:
                continue
            entity = _inactive_entity(
                row, RESOURCE_DELETED, "The resource was deleted.", resource_id, at, cause
            )
            final[check_id] = RESOURCE_DELETED
            self._add_unit(plan, pk, row, entity, at, cause, now, version)
        stored = part.marker
        if stored is not None:
            rtype, phi = str(stored.get("resource_type", "")), bool(stored.get("phi", False))
        else:
            rtype, phi = _type_of(resource_id), False
        marker = _marker_entity(
            pk,
            resource_id,
            rtype,
            phi,
            deleted=True,
            stored=stored,
            read_at=at,
            cause=cause,
            now=now,
            final=final,
        )
        if plan.units or _marker_moves(stored, marker):
            plan.marker = marker
        return plan

    @staticmethod
    def _add_unit(
        plan: _Plan,
        pk: str,
        row: TableEntity | None,
        entity: dict[str, Any],
        at: datetime,
        cause: Cause,
        now: datetime,
        version: int,
    ) -> None:
        ops: list[Operation] = []
        if row is None:
            ops.append(("create", entity, {}))
        else:
            ops.append(
                (
                    "update",
                    entity,
                    {
                        "mode": UpdateMode.REPLACE,
                        "etag": row.metadata["etag"],
                        "match_condition": MatchConditions.IfNotModified,
                    },
                )
            )
        transitions: list[Transition] = []
        before = str(row["status"]) if row is not None else None
        if before != entity["status"]:
            transition = Transition(
                resource_id=entity["resource_id"],
                check_id=entity["check_id"],
                from_status=before,
                to_status=entity["status"],
                severity=entity["severity"],
                reason=entity["reason"],
                at=at,
                cause=cause,
                recorded_at=now,
            )
            history = _history_entity(pk, entity["resource_key"], transition, version)
            ops.append(("create", history, {}))
            transitions.append(transition)
        plan.units.append(ops)
        plan.transitions.append(transitions)
        plan.changed.append(entity["check_id"])

    def clear_actions_pending(
        self, resource_id: str, done: Iterable[str], record: RecordOutcome | None = None
    ) -> None:
        """Takes ``done`` out of the marker's ``actions_pending`` (a conditional merge of that one
        property; a concurrent writer's change is re-read and merged again). ``record``, the
        record that listed them, saves the first read when the marker has not moved since."""
        done = set(done)
        pk = partition_key(resource_id)
        known = (
            (record.actions_pending, str(record.marker_etag))
            if record is not None and record.marker_etag
            else None
        )
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            if known is not None:
                pending, etag = known
                known = None
            else:
                try:
                    row = self._state.get_entity(pk, MARKER_ROW)
                except ResourceNotFoundError:
                    return
                pending, etag = _pending(row), str(row.metadata["etag"])
            left = tuple(c for c in pending if c not in done)
            if left == pending:
                return
            try:
                self._state.update_entity(
                    {"PartitionKey": pk, "RowKey": MARKER_ROW, "actions_pending": ",".join(left)},
                    mode=UpdateMode.MERGE,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )
                return
            except (ResourceModifiedError, ResourceNotFoundError):
                time.sleep(random.uniform(0, 0.005 * 2**attempt))  # noqa: S311 - jitter
        raise ConcurrentUpdateError(
            f"gave up clearing pending actions of {resource_id!r} after {_MAX_ATTEMPTS} attempts"
        )

    # -- reading ---------------------------------------------------------------------------

    def marker(self, resource_id: str, *, prefetch: bool = False) -> ResourceMarker | None:
        """The resource's marker, None if it was never recorded.

        ``prefetch``: read the resource's current rows with it (one query instead of a point
        read) and keep them, for this thread and a few seconds, for the next record of the same
        resource, so checking freshness and then recording costs one storage read, not two. The
        kept rows are only a starting point: every write stays ETag-conditional (a conflict
        re-reads, as always), and a record that would write nothing re-reads first.
        """
        pk = partition_key(resource_id)
        if prefetch:
            part = self._load(pk)
            self._prefetched.value = (pk, part, time.monotonic())
            return _marker_from(part.marker) if part.marker is not None else None
        try:
            row = self._state.get_entity(pk, MARKER_ROW)
        except ResourceNotFoundError:
            return None
        return _marker_from(row)

    def preload_group(self, group_id: str) -> int:
        """Reads the current rows of every resource recorded in a resource group with one paged
        range query (its resources' partition keys share the group's prefix) and keeps them, each
        for the next record of that resource, by any thread, for a few minutes. The sweep's way to
        spare a query per resource; as with ``marker(prefetch=True)`` the rows only seed a record,
        whose writes stay ETag-conditional. Returns the number of resources read."""
        prefix = escape_key(normalize(group_id) + "/")
        rows = self._state.query_entities(
            "PartitionKey ge @p0 and PartitionKey lt @p1 and "
            "(RowKey eq @marker or (RowKey ge @c0 and RowKey lt @c1 ) )",
            parameters={
                "p0": prefix,
                "p1": prefix[:-1] + chr(ord(prefix[-1]) + 1),
                "marker": MARKER_ROW,
                "c0": _CHECK_FROM,
                "c1": _CHECK_TO,
            },
        )
        parts: dict[str, _Partition] = {}
        for row in rows:
            part = parts.setdefault(str(row["PartitionKey"]), _Partition(None, {}))
            if row["RowKey"] == MARKER_ROW:
                part.marker = row
            else:
                part.checks[str(row["check_id"])] = row
        now = time.monotonic()
        with self._preload_lock:
            for pk, part in parts.items():
                self._preloaded[pk] = (part, now)
            # A resource of the group with no rows read was not recorded yet.
            self._preloaded_groups[prefix] = now
        return len(parts)

    def discard_preloaded(self) -> None:
        """Drops rows preload_group kept that no record used (resources no longer listed)."""
        with self._preload_lock:
            self._preloaded.clear()
            self._preloaded_groups.clear()

    def _take_prefetched(self, pk: str) -> _Partition | None:
        if self._preloaded_groups:
            with self._preload_lock:
                preloaded = self._preloaded.pop(pk, None)
                if preloaded is None:
                    read_at = self._preloaded_groups.get(_group_prefix(pk))
                    if read_at is not None:
                        preloaded = (_Partition(None, {}), read_at)
            if preloaded is not None and time.monotonic() - preloaded[1] <= _PRELOAD_SECONDS:
                self._prefetched.value = None
                return preloaded[0]
        kept: tuple[str, _Partition, float] | None = getattr(self._prefetched, "value", None)
        self._prefetched.value = None
        if kept is None or kept[0] != pk or time.monotonic() - kept[2] > _PREFETCH_SECONDS:
            return None
        return kept[1]

    def current(
        self,
        resource_id: str | None = None,
        status: str | None = None,
        severity: str | None = None,
        hipaa: str | None = None,
        *,
        include_inactive: bool = False,
    ) -> list[StoredFinding]:
        """Current check states, filtered; ``hipaa`` matches a citation or a citation prefix
        (``164.312`` matches ``164.312(a)(1)``). Inactive rows appear only when asked for, by
        ``include_inactive`` or by ``status``."""
        params: dict[str, Any] = {"marker": MARKER_ROW, "c0": _CHECK_FROM, "c1": _CHECK_TO}
        rows = "RowKey ge @c0 and RowKey lt @c1"
        if status is not None:
            rows += " and status eq @status"
            params["status"] = str(status)
        elif not include_inactive:
            rows += " and status ne @closed and status ne @deleted"
            params.update(closed=CLOSED, deleted=RESOURCE_DELETED)
        if severity is not None:
            rows += " and severity eq @severity"
            params["severity"] = str(severity).upper()
        query = f"(RowKey eq @marker or ({rows} ) )"  # spaces: see _load
        if resource_id is not None:
            query = f"PartitionKey eq @pk and {query}"
            params["pk"] = partition_key(resource_id)
        markers: dict[str, TableEntity] = {}
        checks: list[TableEntity] = []
        for row in self._state.query_entities(query, parameters=params):
            if row["RowKey"] == MARKER_ROW:
                markers[str(row["PartitionKey"])] = row
            else:
                checks.append(row)
        wanted_key = normalize(resource_id) if resource_id is not None else None
        found: list[StoredFinding] = []
        for row in checks:
            if wanted_key is not None and row.get("resource_key") != wanted_key:
                continue
            item = _finding_from(row, markers.get(str(row["PartitionKey"])))
            if hipaa is not None and not any(_cites(c, hipaa) for c in item.hipaa):
                continue
            found.append(item)
        found.sort(key=lambda f: (normalize(f.resource_id), f.check_id))
        return found

    def history(self, resource_id: str) -> list[Transition]:
        rows = self._state.query_entities(
            "PartitionKey eq @pk and RowKey ge @h0 and RowKey lt @h1",
            parameters={"pk": partition_key(resource_id), "h0": _HISTORY_FROM, "h1": _HISTORY_TO},
        )
        key = normalize(resource_id)
        ordered = sorted(
            (r for r in rows if r.get("resource_key") == key), key=lambda r: r["RowKey"]
        )
        return [_transition_from(r) for r in ordered]

    # -- poison events and processed events ------------------------------------------------

    def record_poison(
        self, raw: str | bytes, error: str, source: str, at: datetime
    ) -> PoisonRecord:
        at = _require_utc(at, "at")
        if isinstance(raw, bytes):
            digest = hashlib.sha256(raw).hexdigest()
            length = len(raw)
            try:
                text, encoding = raw.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                text, encoding = base64.b64encode(raw).decode("ascii"), "base64"
        else:
            digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()
            length = len(raw)
            text, encoding = raw, "utf-8"
        parts = _split_units(text, _MAX_STRING_UNITS)
        truncated = len(parts) > _POISON_PARTS
        parts = parts[:_POISON_PARTS]
        record = PoisonRecord(
            source=_bound(source, _MAX_TEXT_UNITS)[0],
            error=_bound(error, _MAX_STRING_UNITS)[0],
            raw="".join(parts),
            raw_encoding="base64" if encoding == "base64" else "utf-8",
            raw_length=length,
            raw_sha256=digest,
            truncated=truncated,
            at=at,
            recorded_at=self._clock(),
        )
        entity: dict[str, Any] = {
            "PartitionKey": at.strftime("%Y%m%d"),
            "RowKey": f"{_stamp(at)}~{uuid.uuid4().hex[:12]}",
            "source": record.source,
            "error": record.error,
            "raw_encoding": record.raw_encoding,
            "raw_length": record.raw_length,
            "raw_sha256": record.raw_sha256,
            "raw_parts": len(parts),
            "truncated": truncated,
            "at": at,
            "recorded_at": record.recorded_at,
        }
        for i, part in enumerate(parts):
            entity[f"raw_{i}"] = part
        self._poison.create_entity(entity)
        return record

    def poison(self) -> list[PoisonRecord]:
        rows = sorted(self._poison.list_entities(), key=lambda r: (r["PartitionKey"], r["RowKey"]))
        records = []
        for row in rows:
            parts = int(row.get("raw_parts", 0))
            records.append(
                PoisonRecord(
                    source=str(row.get("source", "")),
                    error=str(row.get("error", "")),
                    raw="".join(str(row.get(f"raw_{i}", "")) for i in range(parts)),
                    raw_encoding="base64" if row.get("raw_encoding") == "base64" else "utf-8",
                    raw_length=int(row.get("raw_length", 0)),
                    raw_sha256=str(row.get("raw_sha256", "")),
                    truncated=bool(row.get("truncated", False)),
                    at=_req_dt(row.get("at")),
                    recorded_at=_req_dt(row.get("recorded_at")),
                )
            )
        return records

    def mark_event_processed(self, event_id: str, at: datetime) -> bool:
        """Records the event id; False when it was already recorded (a redelivery)."""
        pk, rk = _event_keys(event_id)
        entity = {
            "PartitionKey": pk,
            "RowKey": rk,
            "event_id": _bound(event_id, _MAX_TEXT_UNITS)[0],
            "processed_at": _require_utc(at, "at"),
        }
        try:
            self._events.create_entity(entity)
        except ResourceExistsError:
            return False
        return True

    def event_processed(self, event_id: str) -> bool:
        pk, rk = _event_keys(event_id)
        try:
            self._events.get_entity(pk, rk)
        except ResourceNotFoundError:
            return False
        return True


# -- keys ------------------------------------------------------------------------------------


def escape_key(text: str) -> str:
    """Text made safe for a PartitionKey/RowKey: ``/`` → ``|``, unsafe characters → ``!xxxx``."""
    out: list[str] = []
    for ch in text:
        if ch in _KEY_SAFE:
            out.append(ch)
        elif ch == "/":
            out.append("|")
        elif ord(ch) > 0x9F and ch.isprintable():
            out.append(ch)
        else:  # UTF-16 units, so every escape is exactly five characters
            units = ch.encode("utf-16-be", "surrogatepass")
            out.extend(f"!{int.from_bytes(units[i : i + 2]):04x}" for i in range(0, len(units), 2))
    return "".join(out)


def _group_prefix(pk: str) -> str:
    """The resource-group part of a resource's partition key (``preload_group``'s range), or
    "" for a resource outside any group."""
    parts = pk.split("|", 5)
    if len(parts) == 6 and parts[1] == "subscriptions" and parts[3] == "resourcegroups":
        return "|".join(parts[:5]) + "|"
    return ""


def partition_key(resource_id: str) -> str:
    """The partition of a resource: its normalized id, escaped, hashed when too long."""
    if not isinstance(resource_id, str) or not resource_id.strip():
        raise ValueError(f"resource id must be a non-empty string, got {resource_id!r}")
    key = normalize(resource_id)
    escaped = escape_key(key)
    if _utf16_len(escaped) <= _MAX_KEY_UNITS:
        return escaped
    head = escaped[:_HASHED_KEY_HEAD]
    while _utf16_len(head) > _HASHED_KEY_HEAD:
        head = head[:-1]
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{head}~{digest}"


def _event_keys(event_id: str) -> tuple[str, str]:
    digest = hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()
    escaped = escape_key(event_id)
    return digest[:2], escaped if _utf16_len(escaped) <= _MAX_KEY_UNITS else f"~{digest}"


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


# -- entities ----------------------------------------------------------------------------------

_CONTENT_FIELDS = (
    "resource_type",
    "status",
    "severity",
    "hipaa",
    "title",
    "reason",
    "evidence",
    "evidence_truncated",
    "phi",
)


def _check_entity(
    pk: str,
    resource_id: str,
    finding: Finding,
    row: TableEntity | None,
    read_at: datetime,
    cause: Cause,
) -> dict[str, Any]:
    status = finding.status.value
    evidence, truncated = evidence_json(finding.evidence)
    first_failed: datetime | None = None
    if status == Status.FAIL:
        was_failing = row is not None and row.get("status") == Status.FAIL
        first_failed = (_dt(row.get("first_failed_at")) if was_failing and row else None) or read_at
    return {
        "PartitionKey": pk,
        "RowKey": _CHECK_FROM + escape_key(finding.check_id),
        "kind": "check",
        "resource_id": resource_id,
        "resource_key": normalize(resource_id),
        "resource_type": finding.resource_type,
        "check_id": finding.check_id,
        "status": status,
        "severity": finding.severity.value,
        "hipaa": json.dumps(list(finding.hipaa)),
        "title": _bound(finding.title, _MAX_TEXT_UNITS)[0],
        "reason": _bound(finding.reason, _MAX_TEXT_UNITS)[0],
        "evidence": evidence,
        "evidence_truncated": truncated,
        "phi": finding.phi,
        "first_failed_at": first_failed,
        "last_changed_at": read_at,
        "last_evaluated_at": read_at,
        **_cause_props(cause),
    }


def _processing_finding(
    resource_id: str, resource_type: str, phi: bool, stage: str, kind: str
) -> Finding:
    from shared.kernel.findings import Finding

    return Finding(
        resource_id=resource_id,
        resource_type=resource_type,
        check_id=PROCESSING_CHECK,
        status=Status.ERROR,
        severity=Severity.HIGH,
        hipaa=(),
        title="phiguard could not process this resource",
        reason=(
            f"Processing failed while {stage} ({kind}); the other findings keep their last "
            "recorded state and the next event or sweep tries again."
        ),
        evidence={"stage": stage, "exception": kind},
        phi=phi,
    )


def _inactive_entity(
    row: TableEntity,
    status: str,
    reason: str,
    resource_id: str,
    at: datetime,
    cause: Cause,
) -> dict[str, Any]:
    entity = {k: v for k, v in row.items() if not k.startswith("cause_")}
    entity.update(
        resource_id=resource_id,
        status=status,
        reason=reason,
        first_failed_at=None,
        last_changed_at=at,
        last_evaluated_at=at,
        **_cause_props(cause),
    )
    return entity


def _same_content(row: Mapping[str, Any], entity: Mapping[str, Any]) -> bool:
    return all(row.get(name) == entity.get(name) for name in _CONTENT_FIELDS)


def _marker_entity(
    pk: str,
    resource_id: str,
    resource_type: str,
    phi: bool,
    *,
    deleted: bool,
    stored: TableEntity | None,
    read_at: datetime,
    cause: Cause,
    now: datetime,
    final: Mapping[str, str],
    pending: tuple[str, ...] = (),
) -> dict[str, Any]:
    event_id = stored.get("last_event_id") if stored else None
    event_time = _dt(stored.get("last_event_time")) if stored else None
    if cause.event_time is not None and (event_time is None or cause.event_time >= event_time):
        event_id, event_time = cause.event_id, _require_utc(cause.event_time, "cause.event_time")
    stored_read = _dt(stored.get("last_read_at")) if stored else None
    entity: dict[str, Any] = {
        "PartitionKey": pk,
        "RowKey": MARKER_ROW,
        "kind": "resource",
        "resource_id": resource_id,
        "resource_key": normalize(resource_id),
        "resource_type": resource_type,
        "phi": phi,
        "deleted": deleted,
        "last_read_at": max(read_at, stored_read) if stored_read else read_at,
        "last_recorded_at": now,
        "last_event_id": event_id,
        "last_event_time": event_time,
        "version": _next_version(stored),
        "actions_pending": ",".join(pending),
        "actions_pending_since": (
            now
            if set(pending) - set(_pending(stored))
            else (_dt(stored.get("actions_pending_since")) if stored and pending else None)
        ),
    }
    for status in _COUNTED:
        entity[f"count_{status.value.lower()}"] = sum(1 for s in final.values() if s == status)
    return entity


_MARKER_STATE = (
    "resource_type",
    "phi",
    "deleted",
    "last_read_at",
    "last_event_id",
    "last_event_time",
    "actions_pending",
    *(f"count_{s.value.lower()}" for s in _COUNTED),
)


def _marker_moves(stored: TableEntity | None, new: Mapping[str, Any]) -> bool:
    """Whether the marker must be written even though no check row changes."""
    if stored is None:
        return True
    return any(_norm(stored.get(name)) != _norm(new.get(name)) for name in _MARKER_STATE)


def _next_version(stored: TableEntity | None) -> int:
    return int(stored.get("version", 0)) + 1 if stored is not None else 1


def _history_entity(pk: str, resource_key: str, t: Transition, version: int) -> dict[str, Any]:
    # The marker version orders transitions recorded for the same read time (two workers that
    # read at the same instant): writes are serialized by the marker's ETag, so it grows.
    suffix = uuid.uuid4().hex[:8]
    return {
        "PartitionKey": pk,
        "RowKey": (
            f"{_HISTORY_FROM}{_stamp(t.at)}~{version:010d}~{escape_key(t.check_id)}~{suffix}"
        ),
        "kind": "transition",
        "resource_id": t.resource_id,
        "resource_key": resource_key,
        "check_id": t.check_id,
        "from_status": t.from_status,
        "to_status": t.to_status,
        "severity": t.severity,
        "reason": t.reason,
        "at": t.at,
        "recorded_at": t.recorded_at,
        **_cause_props(t.cause),
    }


def _cause_props(cause: Cause) -> dict[str, Any]:
    return {
        "cause_kind": cause.kind,
        "cause_event_id": cause.event_id,
        "cause_event_time": (
            _require_utc(cause.event_time, "cause.event_time") if cause.event_time else None
        ),
        "cause_caller_appid": cause.caller_appid,
        "cause_correlation_id": cause.correlation_id,
    }


def _cause_from(row: Mapping[str, Any]) -> Cause:
    return Cause(
        kind=str(row.get("cause_kind", "")),
        event_id=_opt_str(row.get("cause_event_id")),
        event_time=_dt(row.get("cause_event_time")),
        caller_appid=_opt_str(row.get("cause_caller_appid")),
        correlation_id=_opt_str(row.get("cause_correlation_id")),
    )


def _cause_json(cause: Cause) -> dict[str, Any]:
    return {
        "kind": cause.kind,
        "event_id": cause.event_id,
        "event_time": _iso(cause.event_time),
        "caller_appid": cause.caller_appid,
        "correlation_id": cause.correlation_id,
    }


def _marker_from(row: TableEntity) -> ResourceMarker:
    return ResourceMarker(
        resource_id=str(row.get("resource_id", "")),
        resource_type=str(row.get("resource_type", "")),
        phi=bool(row.get("phi", False)),
        deleted=bool(row.get("deleted", False)),
        last_read_at=_req_dt(row.get("last_read_at")),
        last_recorded_at=_req_dt(row.get("last_recorded_at")),
        last_event_id=_opt_str(row.get("last_event_id")),
        last_event_time=_dt(row.get("last_event_time")),
        counts={s.value: int(row.get(f"count_{s.value.lower()}", 0)) for s in _COUNTED},
        version=int(row.get("version", 0)),
        actions_pending=_pending(row),
        actions_pending_since=_dt(row.get("actions_pending_since")),
        etag=str(row.metadata.get("etag", "")),
    )


def _pending_state(
    marker: Mapping[str, Any] | None,
) -> tuple[tuple[str, ...], datetime | None]:
    since = _dt(marker.get("actions_pending_since")) if marker is not None else None
    return _pending(marker), since


def _pending(marker: Mapping[str, Any] | None) -> tuple[str, ...]:
    text = marker.get("actions_pending") if marker is not None else None
    return tuple(c for c in str(text).split(",") if c) if text else ()


def _finding_from(row: TableEntity, marker: TableEntity | None) -> StoredFinding:
    status = str(row["status"])
    evaluated = _req_dt(row.get("last_evaluated_at"))
    if marker is not None and status not in INACTIVE_STATUSES:
        marker_read = _dt(marker.get("last_read_at"))
        if marker_read is not None and marker_read > evaluated:
            evaluated = marker_read
    evidence = json.loads(str(row.get("evidence") or "{}"))
    return StoredFinding(
        resource_id=str(row["resource_id"]),
        resource_type=str(row.get("resource_type", "")),
        check_id=str(row["check_id"]),
        status=status,
        severity=Severity(str(row["severity"])),
        hipaa=tuple(json.loads(str(row.get("hipaa") or "[]"))),
        title=str(row.get("title", "")),
        reason=str(row.get("reason", "")),
        evidence=evidence if isinstance(evidence, dict) else {"value": evidence},
        phi=bool(row.get("phi", False)),
        evidence_truncated=bool(row.get("evidence_truncated", False)),
        first_failed_at=_dt(row.get("first_failed_at")),
        last_changed_at=_req_dt(row.get("last_changed_at")),
        last_evaluated_at=evaluated,
        cause=_cause_from(row),
    )


def _transition_from(row: TableEntity) -> Transition:
    return Transition(
        resource_id=str(row["resource_id"]),
        check_id=str(row["check_id"]),
        from_status=_opt_str(row.get("from_status")),
        to_status=str(row["to_status"]),
        severity=str(row.get("severity", "")),
        reason=str(row.get("reason", "")),
        at=_req_dt(row.get("at")),
        cause=_cause_from(row),
        recorded_at=_req_dt(row.get("recorded_at")),
    )


def _cites(citation: str, wanted: str) -> bool:
    """``164.312`` matches ``164.312(b)`` and ``164.312(a)(1)``; not ``164.3120``."""
    if citation == wanted:
        return True
    if not citation.startswith(wanted):
        return False
    return wanted.endswith(")") or citation[len(wanted)] == "("


def _type_of(resource_id: str) -> str:
    try:
        return parse(resource_id).type
    except ResourceIdError:
        return ""


# -- bounded text ------------------------------------------------------------------------------


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _bound(text: str, limit: int) -> tuple[str, bool]:
    """Text cut to ``limit`` UTF-16 units (the unit Table Storage measures) with a marker."""
    total = _utf16_len(text)
    if total <= limit:
        return text, False
    marker = f"…[truncated: {total} UTF-16 units in all]"
    budget = limit - _utf16_len(marker)
    cut = text[:budget]
    excess = _utf16_len(cut) - budget
    if excess > 0:
        cut = cut[: len(cut) - excess]
    return cut + marker, True


def _split_units(text: str, size: int) -> list[str]:
    parts: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        excess = _utf16_len(text[start:end]) - size
        while excess > 0:
            end -= max(1, excess // 2)
            excess = _utf16_len(text[start:end]) - size
        parts.append(text[start:end])
        start = end
    return parts


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def evidence_json(evidence: Mapping[str, Any], limit: int = _MAX_STRING_UNITS) -> tuple[str, bool]:
    """Evidence as JSON that fits one string property.

    When the whole does not fit, values longer than 4,000 units are cut (with a marker), then
    entries are kept smallest first until the budget is spent, so one huge value costs as few
    other entries as possible; a ``…truncated`` entry says how big the evidence was and how many
    entries were left out. The result is deterministic: the same evidence gives the same text.
    """
    full = _dumps(dict(evidence))
    if _utf16_len(full) <= limit:
        return full, False
    candidates: list[tuple[int, str, Any]] = []
    for key in evidence:
        value = evidence[key]
        text = _dumps(value)
        if _utf16_len(text) > _MAX_EVIDENCE_VALUE_UNITS:
            value = _bound(text, _MAX_EVIDENCE_VALUE_UNITS)[0]
        name = _bound(str(key), 500)[0]
        candidates.append((_utf16_len(_dumps({name: value})) + 1, name, value))
    budget = limit - 200  # room for the note
    used = 2
    kept: dict[str, Any] = {}
    for cost, name, value in sorted(candidates, key=lambda c: (c[0], c[1])):
        if used + cost > budget:
            break
        kept[name] = value
        used += cost
    kept["…truncated"] = (
        f"evidence was {_utf16_len(full)} UTF-16 units; values over "
        f"{_MAX_EVIDENCE_VALUE_UNITS} cut, {len(candidates) - len(kept)} entries omitted"
    )
    return _dumps(kept), True


# -- times -------------------------------------------------------------------------------------


def _require_utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return _plain(value.astimezone(UTC))


def _plain(value: datetime) -> datetime:
    """A plain UTC datetime (the SDK returns a subclass carrying the service's string)."""
    return datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=UTC,
    )


def _dt(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime property, got {value!r}")
    return _plain(value if value.tzinfo else value.replace(tzinfo=UTC))


def _req_dt(value: Any) -> datetime:
    result = _dt(value)
    if result is None:
        raise ValueError("a required time property is missing")
    return result


def _norm(value: Any) -> Any:
    return _plain(value) if isinstance(value, datetime) else value


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _error_code(exc: Exception) -> str:
    code = getattr(exc, "error_code", None)
    return str(getattr(code, "value", code) or "")


def _chunks(plan: _Plan, limit: int) -> Iterable[tuple[list[int], list[Operation]]]:
    """Groups units (each ≤ 2 operations) into transactions of at most ``limit`` operations."""
    indices: list[int] = []
    ops: list[Operation] = []
    for i, unit in enumerate(plan.units):
        if ops and len(ops) + len(unit) > limit:
            yield indices, ops
            indices, ops = [], []
        indices.append(i)
        ops.extend(unit)
    if ops:
        yield indices, ops
