""":class:`TableStateStore`: the state store over Azure Table Storage (the tables and their
rows are described in :mod:`shared.state`).

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
  re-recording the same read time with nothing new writes nothing at all. A sweep's read that
  would move only the read time is confirmed in the reads table instead, batched per resource
  group (:meth:`TableStateStore.flush_reads` writes what is left; see :mod:`shared.state`).

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

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

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

from shared.kernel.changes import Cause
from shared.kernel.errors import PhiguardError
from shared.kernel.resource_id import normalize
from shared.selection import cites
from shared.state.batch import lean_table_client, query_rows
from shared.state.entities import (
    _MAX_TEXT_UNITS,
    _bound,
    _confirmed_read,
    _dt,
    _finding_from,
    _marker_from,
    _pending,
    _pending_state,
    _poison_entity,
    _poison_from,
    _poison_record,
    _read_entity,
    _require_utc,
    _transition_from,
)
from shared.state.keys import (
    _CHECK_FROM,
    _CHECK_TO,
    _HISTORY_FROM,
    _HISTORY_TO,
    MARKER_ROW,
    _event_keys,
    _group_prefix,
    escape_key,
    partition_key,
    read_partition,
)
from shared.state.model import (
    CLOSED,
    INACTIVE_STATUSES,
    RESOURCE_DELETED,
    ConcurrentUpdateError,
    PoisonRecord,
    RecordOutcome,
    RecordResult,
    ResourceMarker,
    StoredFinding,
    Transition,
)
from shared.state.plan import (
    Operation,
    _chunks,
    _operation_bytes,
    _Partition,
    _Plan,
    _plan_deleted,
    _plan_error,
    _plan_evaluation,
)
from shared.tables import TablesBacked

if TYPE_CHECKING:
    from shared.engine import Evaluation
    from shared.kernel.findings import Finding

log = logging.getLogger(__name__)

_TRANSACTION_LIMIT = 100  # service limit; Azurite drops the connection on 101
_MAX_ATTEMPTS = 5
_CLOCK_SKEW = timedelta(minutes=5)  # a confirmed read dated later than now + this is forged
_READS_WAITING_LIMIT = 2_000  # confirmed reads held for their group's transaction, in all
_PREFETCH_SECONDS = 10.0  # how long rows read by marker(prefetch=True) may seed a record
_PRELOAD_SECONDS = 300.0  # the same for rows read by preload_group (the sweep)
_CONFLICT_CODES = frozenset(
    {"UpdateConditionNotSatisfied", "ConditionNotMet", "EntityAlreadyExists", "ResourceNotFound"}
)


class _Conflict(PhiguardError):
    """Another writer changed the partition between our read and our write."""


class TableStateStore(TablesBacked):
    """:class:`StateStore` over Azure Table Storage (the real service or Azurite)."""

    remembers_inputs = True

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
        self.reads_table = f"{prefix}reads"
        self._state: TableClient = lean_table_client(service, self.state_table)
        self._reads: TableClient = lean_table_client(service, self.reads_table)
        # Confirmed reads waiting for a transaction, by reads-table partition, then row key.
        self._reads_pending: dict[str, dict[str, dict[str, Any]]] = {}
        self._reads_waiting = 0  # rows in _reads_pending
        self._reads_stale: list[str] = []  # found by a flush the waiting limit made
        self._reads_lock = threading.Lock()
        self._poison: TableClient = lean_table_client(service, self.poison_table)
        self._events: TableClient = lean_table_client(service, self.events_table)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._prefetched = threading.local()  # (pk, _Partition, monotonic time) per thread
        self._preloaded: dict[str, tuple[_Partition, float]] = {}  # by pk (preload_group)
        self._preloaded_groups: dict[str, float] = {}  # key prefix → when it was read
        self._preload_lock = threading.Lock()
        self._empty_scopes: dict[str, float] = {}  # scope key prefix → when found empty

    def ensure_tables(self) -> None:
        """Creates the tables if missing; safe to call on every cold start."""
        for name in (self.state_table, self.poison_table, self.events_table, self.reads_table):
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
            now = self._clock()
            return _plan_evaluation(
                part, pk, evaluation, findings, not_assessed, read_at, cause, now, track_actions
            )

        return self._record(evaluation.resource_id, read_at, plan)

    def confirm_unchanged_input(
        self,
        resource_id: str,
        input_digest: str,
        *,
        read_at: datetime,
        cause: Cause,
        unless_failing: bool = False,
    ) -> RecordOutcome | None:
        """A sweep's read confirmed without judging it: the resource's preloaded marker was
        recorded from the same inputs (``Engine.input_digest``: code, checks, PHI scope,
        documents, mute rules), so judging them again would find the verdicts its rows hold and
        record what :meth:`record_evaluation` records for such a read, a confirmation in the
        reads table (checked against the marker's ETag before it is written, as there). None,
        with nothing taken, when that cannot be told from the preloaded marker: no marker
        preloaded, another digest or none, a deletion recorded, follow-ups pending, a read as
        new as this one recorded, or a cause other than a sweep's; then the resource is judged
        and recorded as any other. ``unless_failing``: nor when the marker counts a FAIL (or
        does not say), for a caller that must see the failures (a fix that may catch up)."""
        if not input_digest or cause.kind != "sweep" or cause.event_id:
            return None
        read_at = _require_utc(read_at, "read_at")
        pk = partition_key(resource_id)
        with self._preload_lock:
            kept = self._preloaded.get(pk)
            group_read = self._preloaded_groups.get(_group_prefix(pk))
        if kept is not None and time.monotonic() - kept[1] <= _PRELOAD_SECONDS:
            part = kept[0]
        elif kept is None and group_read is not None:
            return None  # its group was read a moment ago without it: not recorded yet
        else:
            # Not preloaded (a resource outside any resource group, a group too large to
            # preload): its partition is read here and kept for its record if it must be judged,
            # as the record would have read it.
            part, kept = self._load(pk), None
            self._prefetched.value = (pk, part, time.monotonic())
        stored = part.marker
        if (
            stored is None
            or stored.get("input_digest") != input_digest
            or stored.get("deleted")
            or not stored.get("content_digest")
            or _pending(stored)
            or (unless_failing and stored.get("count_fail") != 0)
        ):
            return None
        stored_read = _dt(stored.get("last_read_at"))
        if stored_read is not None and stored_read >= read_at:
            return None
        if kept is not None:
            with self._preload_lock:
                if self._preloaded.get(pk) is not kept:
                    return None  # another thread took it meanwhile
                del self._preloaded[pk]
        else:
            self._prefetched.value = None
        etag = str(stored.metadata["etag"])
        self._confirm_read(pk, str(stored["resource_id"]), read_at, etag)
        shown = {**stored, "last_read_at": read_at}
        return RecordOutcome(
            RecordResult.UNCHANGED,
            marker_etag=etag,
            current=_current_of(_rows_of(part, pk, self._load), (), shown),
            read_on_marker=False,
        )

    def record_deleted(self, resource_id: str, *, at: datetime, cause: Cause) -> RecordOutcome:
        at = _require_utc(at, "at")

        def plan(part: _Partition, pk: str) -> _Plan:
            return _plan_deleted(part, pk, resource_id, at, cause, self._clock())

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
            return _plan_error(part, pk, resource_id, stage, kind, cause, now)

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
            outcome: RecordResult,
            marker: Mapping[str, Any] | None,
            etag: str | None = None,
            rows: _Partition | None = None,
            written: Sequence[Sequence[Operation]] = (),
            read_on_marker: bool = True,
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
                _current_of(_rows_of(rows, pk, self._load), written, marker)
                if rows is not None
                else None,
                read_on_marker,
            )

        for attempt in range(1, _MAX_ATTEMPTS + 1):
            part = prefetched or self._load(pk)
            stored_read = _dt(part.marker.get("last_read_at")) if part.marker else None
            if stored_read is not None and stored_read > read_at:
                return result(RecordResult.CHANGED if writes else RecordResult.STALE, part.marker)
            plan = planner(part, pk)
            if prefetched is not None:
                prefetched = None
                if plan.marker is None or plan.needs_rows:
                    # Nothing to write is decided on current rows only: the prefetched ones may
                    # be behind another writer's (writes would have caught it by ETag). A plan
                    # the preloaded marker alone could not decide needs the check rows.
                    part = self._load(pk)
                    stored_read = _dt(part.marker.get("last_read_at")) if part.marker else None
                    if stored_read is not None and stored_read > read_at:
                        return result(
                            RecordResult.CHANGED if writes else RecordResult.STALE, part.marker
                        )
                    plan = planner(part, pk)
            if plan.marker is None:
                return result(
                    RecordResult.CHANGED if writes else RecordResult.UNCHANGED,
                    part.marker,
                    part.marker.metadata["etag"] if part.marker is not None else None,
                    part,
                )
            etag = part.marker.metadata["etag"] if part.marker is not None else None
            if plan.confirm and part.marker is not None:
                # Nothing to write but the read time: confirmed in the reads table with the
                # group's others, against the marker's ETag (checked again before it is
                # written; a write since voids it). The marker, the stale-read guard of every
                # record, stays as it is.
                self._confirm_read(
                    pk, str(plan.marker["resource_id"]), read_at, str(part.marker.metadata["etag"])
                )
                shown = {**part.marker, "last_read_at": plan.marker["last_read_at"]}
                return result(RecordResult.UNCHANGED, shown, etag, part, read_on_marker=False)
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
            return result(
                RecordResult.CHANGED if plan.units or committed else RecordResult.UNCHANGED,
                plan.marker,
                etag,
                part,
                plan.units,
            )
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
        marker_bytes = _operation_bytes(("update", marker, {}))
        chunks = list(_chunks(plan, _TRANSACTION_LIMIT - 1, reserved=marker_bytes))
        for n, (indices, ops) in enumerate(chunks):
            # Until the last transaction commits, the rows are not what the digest describes:
            # the markers before it carry none (a sweep reads the rows of such a resource).
            written = (
                marker
                if n == len(chunks) - 1
                else {**marker, "content_digest": "", "input_digest": ""}
            )
            marker_op: Operation
            if etag is None:
                marker_op = ("create", written, {})
            else:
                marker_op = (
                    "update",
                    written,
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
        rows = query_rows(
            self._state,
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

    def preload_group(self, group_id: str, *, checks: bool = False) -> int:
        """Reads the marker of every resource recorded in a resource group with one paged range
        query (its resources' partition keys share the group's prefix) and keeps each, for the
        next record of that resource, by any thread, for a few minutes. The sweep's way to spare
        a query per resource: a record whose findings match the marker's ``content_digest``
        needs nothing else; any other reads its check rows then. As with
        ``marker(prefetch=True)`` the rows only seed a record, whose writes stay
        ETag-conditional. ``checks``: the check rows too (a scan that reports what each record
        left reads them anyway). Returns the number of resources read. A group under a
        scope :meth:`preload_if_empty` found empty a moment ago is known to hold no rows: no
        query."""
        prefix = escape_key(normalize(group_id) + "/")
        with self._preload_lock:
            empty_since = next(
                (at for scope, at in self._empty_scopes.items() if prefix.startswith(scope)), None
            )
            if empty_since is not None and time.monotonic() - empty_since <= _PRELOAD_SECONDS:
                self._preloaded_groups[prefix] = empty_since
                return 0
        # Markers only: a marker's content digest tells a sweep whether the resource's rows
        # already hold its verdicts; its check rows are read only when they may not.
        parameters = {"p0": prefix, "p1": _after_prefix(prefix), "marker": MARKER_ROW}
        if not checks:
            rows = query_rows(
                self._state,
                "PartitionKey ge @p0 and PartitionKey lt @p1 and RowKey eq @marker",
                parameters=parameters,
            )
            parts = {str(row["PartitionKey"]): _Partition(row, None) for row in rows}
        else:
            parts = {}
            for row in query_rows(
                self._state,
                "PartitionKey ge @p0 and PartitionKey lt @p1 and "
                "(RowKey eq @marker or (RowKey ge @c0 and RowKey lt @c1 ) )",
                parameters={**parameters, "c0": _CHECK_FROM, "c1": _CHECK_TO},
            ):
                part = parts.setdefault(str(row["PartitionKey"]), _Partition(None, {}))
                if row["RowKey"] == MARKER_ROW:
                    part.marker = row
                elif part.checks is not None:
                    part.checks[str(row["check_id"])] = row
        now = time.monotonic()
        with self._preload_lock:
            for pk, part in parts.items():
                self._preloaded[pk] = (part, now)
            # A resource of the group with no rows read was not recorded yet.
            self._preloaded_groups[prefix] = now
        return len(parts)

    def preload_if_empty(self, scope_id: str) -> bool:
        """Whether nothing is recorded under ``scope_id`` (a subscription's id): one query for
        its first row. If so, for the next few minutes :meth:`preload_group` answers each of its
        groups "no rows" without a query, as it would have found them now: a first sweep spares
        a query per resource group. Rows another writer adds meanwhile are met as on any
        preload: the record's create conflicts and it reads them."""
        params: dict[str, Any] = {}
        query = _scope_partitions([scope_id], params)
        # Table Storage may answer a range query with an empty page and a continuation token:
        # the iteration follows them until a row or the end.
        rows = self._state.query_entities(
            query, parameters=params, results_per_page=1, select=["PartitionKey"]
        )
        for _row in rows:
            return False
        with self._preload_lock:
            self._empty_scopes[escape_key(normalize(scope_id) + "/")] = time.monotonic()
        return True

    def discard_preloaded(self, subscription: str | None = None) -> None:
        """Drops rows preload_group kept that no record used (resources no longer listed): those
        of ``subscription`` (a sweep ending while another subscription's goes on), or all."""
        prefix = escape_key(f"/subscriptions/{subscription.lower()}/") if subscription else ""
        with self._preload_lock:
            for kept in (self._preloaded, self._preloaded_groups, self._empty_scopes):
                for key in [k for k in kept if k.startswith(prefix)]:
                    del kept[key]

    def _confirm_read(self, pk: str, resource_id: str, read_at: datetime, etag: str) -> None:
        read_pk = read_partition(pk)
        due: dict[str, dict[str, dict[str, Any]]] = {}
        with self._reads_lock:
            pending = self._reads_pending.setdefault(read_pk, {})
            kept = pending.get(pk)
            if kept is None:
                self._reads_waiting += 1
            if kept is None or kept["read_at"] < read_at:
                pending[pk] = _read_entity(read_pk, pk, resource_id, read_at, etag)
            if self._reads_waiting >= _READS_WAITING_LIMIT:
                # Held for their group's end; so many go now (bounded memory, and a stopped
                # sweep loses fewer confirmations).
                due, self._reads_pending, self._reads_waiting = self._reads_pending, {}, 0
        stale = [rid for group, rows in due.items() for rid in self._write_reads(group, rows)]
        if stale:
            with self._reads_lock:
                self._reads_stale.extend(stale)

    def flush_reads(self, scope_id: str | None = None) -> list[str]:
        """Writes the confirmed reads waiting for their group's end: those under ``scope_id``
        (a resource group's id, when the sweep has recorded the group; a subscription's, before
        its sweep looks for resources it did not list and when it ends), or all. Each is first
        checked against its marker's current ETag, one query per group: a read compared with
        rows preloaded before another writer recorded the resource is not confirmed but
        returned (with any under the scope found so by an earlier write), for the sweep to read
        again. Never raises: a read that cannot be confirmed leaves the resource with its
        earlier read time (logged)."""
        scope = normalize(scope_id) + "/" if scope_id else ""
        prefix = escape_key(scope)
        with self._reads_lock:
            keys = [key for key in self._reads_pending if key.startswith(prefix)]
            pending = {key: self._reads_pending.pop(key) for key in keys}
            self._reads_waiting -= sum(len(rows) for rows in pending.values())
            stale = [r for r in self._reads_stale if (normalize(r) + "/").startswith(scope)]
            self._reads_stale = [r for r in self._reads_stale if r not in stale]
        for read_pk, rows in pending.items():
            stale.extend(self._write_reads(read_pk, rows))
        return stale

    def _write_reads(self, read_pk: str, rows: Mapping[str, dict[str, Any]]) -> list[str]:
        """Writes a group's confirmations whose marker has not moved since its read was
        compared; returns the resource ids of those whose marker has."""
        # The group's (or subscription's) own partition and its resources'.
        params: dict[str, Any] = {"marker": MARKER_ROW}
        query = f"{_key_ranges([read_pk[:-1]], params)} and RowKey eq @marker"
        try:
            current = {
                str(row["PartitionKey"]): row.metadata.get("etag")
                for row in query_rows(self._state, query, params, select=("PartitionKey",))
            }
        except Exception as exc:
            log.warning(
                "could not check %d confirmed read(s) under %s against their markers (%s): "
                "those resources keep their earlier read time until the next sweep",
                len(rows),
                read_pk,
                type(exc).__name__,
            )
            return []
        fresh: list[dict[str, Any]] = []
        stale: list[str] = []
        for pk, row in rows.items():
            if current.get(pk) == row["marker_etag"]:
                fresh.append(row)
            else:
                stale.append(str(row["resource_id"]))
        for start in range(0, len(fresh), _TRANSACTION_LIMIT):
            chunk = fresh[start : start + _TRANSACTION_LIMIT]
            try:
                self._reads.submit_transaction(
                    [("upsert", row, {"mode": UpdateMode.REPLACE}) for row in chunk]
                )
            except Exception as exc:
                log.warning(
                    "could not record %d confirmed read(s) under %s (%s): those resources keep "
                    "their earlier read time until the next sweep",
                    len(chunk),
                    read_pk,
                    type(exc).__name__,
                )
        return stale

    def _confirmations(
        self, queries: Sequence[tuple[str, dict[str, Any]]]
    ) -> dict[str, TableEntity]:
        """Rows of the reads table, by the state partition they confirm; none if the table is
        missing (a store that predates it)."""
        found: dict[str, TableEntity] = {}
        try:
            for query_filter, params in queries:
                for row in query_rows(self._reads, query_filter, params):
                    found[str(row["RowKey"])] = row
        except ResourceNotFoundError:
            return {}
        return found

    def _with_confirmed_reads(
        self,
        markers: Mapping[str, TableEntity],
        queries: Sequence[tuple[str, dict[str, Any]]],
    ) -> dict[str, Mapping[str, Any]]:
        """The markers, each with the newer read time a valid confirmation vouches for."""
        if not markers:
            return dict(markers)
        confirmations = self._confirmations(queries)
        latest = self._clock() + _CLOCK_SKEW
        out: dict[str, Mapping[str, Any]] = {}
        for pk, marker in markers.items():
            confirmed = _confirmed_read(marker.metadata.get("etag"), confirmations.get(pk), latest)
            stored = _dt(marker.get("last_read_at"))
            if confirmed is not None and (stored is None or confirmed > stored):
                out[pk] = {**marker, "last_read_at": confirmed}
            else:
                out[pk] = marker
        return out

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
        subscriptions: Sequence[str] = (),
    ) -> list[StoredFinding]:
        """Current check states, filtered; ``hipaa`` matches a citation or a citation prefix
        (``164.312`` matches ``164.312(a)(1)``). Inactive rows appear only when asked for, by
        ``include_inactive`` or by ``status``. ``subscriptions`` narrows the read to their
        partitions (a range of partition keys each) instead of the whole table."""
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
        queries = [(query, params)]
        if resource_id is not None:
            queries = [(f"PartitionKey eq @pk and {query}", params)]
            params["pk"] = partition_key(resource_id)
        elif subscriptions:
            # A filter holds at most 15 comparisons ("Querying tables and entities",
            # learn.microsoft.com/rest/api/storageservices/querying-tables-and-entities): each
            # subscription's range takes three, so many subscriptions take several queries.
            scopes = sorted({f"/subscriptions/{s}".lower() for s in subscriptions})
            per_query = max(1, (_MAX_COMPARISONS - _comparisons(query)) // 3)
            queries = []
            for start in range(0, len(scopes), per_query):
                chunk_params = dict(params)
                ranges = _scope_partitions(scopes[start : start + per_query], chunk_params)
                queries.append((f"{ranges} and {query}", chunk_params))
        markers: dict[str, TableEntity] = {}
        checks: list[TableEntity] = []
        for text, values in queries:
            for row in query_rows(self._state, text, values):
                if row["RowKey"] == MARKER_ROW:
                    markers[str(row["PartitionKey"])] = row
                else:
                    checks.append(row)
        read_markers = (
            self._with_confirmed_reads(markers, _reads_queries(resource_id, subscriptions))
            if checks
            else markers
        )
        wanted_key = normalize(resource_id) if resource_id is not None else None
        found: list[StoredFinding] = []
        for row in checks:
            if wanted_key is not None and row.get("resource_key") != wanted_key:
                continue
            item = _finding_from(row, read_markers.get(str(row["PartitionKey"])))
            if hipaa is not None and not any(cites(c, hipaa) for c in item.hipaa):
                continue
            found.append(item)
        found.sort(key=lambda f: (normalize(f.resource_id), f.check_id))
        return found

    def resources_unread_since(self, scope_id: str, since: datetime) -> list[str]:
        """The ids (as ARM spelled them) of the resources recorded as existing (not deleted)
        under ``scope_id`` (a subscription's or a resource group's id; its own included) and
        last read before ``since``: what a sweep or a group's re-evaluation that began at
        ``since`` and did not list them may have lost the delete event of. One query of the
        markers, filtered by the service and only the properties this needs (on a warm store
        every marker of the scope matches it: their reads are confirmed in the reads table),
        then one of the reads table."""
        params: dict[str, Any] = {
            "marker": MARKER_ROW,
            "since": _require_utc(since, "since"),
            "no": False,
        }
        query = (
            f"{_scope_partitions([scope_id], params)} and RowKey eq @marker and "
            "deleted eq @no and last_read_at lt @since"
        )
        rows = query_rows(self._state, query, params, select=("PartitionKey", "resource_id"))
        markers = {str(row["PartitionKey"]): row for row in rows}
        if not markers:
            return []
        # Resources a sweep confirmed since then were read; the marker does not say so.
        reads_params: dict[str, Any] = {"since": params["since"]}
        reads_query = f"{_scope_partitions([scope_id], reads_params)} and read_at ge @since"
        confirmations = self._confirmations([(reads_query, reads_params)])
        latest = self._clock() + _CLOCK_SKEW
        unread = []
        for pk, row in markers.items():
            confirmed = _confirmed_read(row.metadata.get("etag"), confirmations.get(pk), latest)
            resource_id = row.get("resource_id")
            if (
                isinstance(resource_id, str)
                and resource_id
                and (confirmed is None or confirmed < params["since"])
            ):
                unread.append(resource_id)
        return unread

    def history(self, resource_id: str) -> list[Transition]:
        rows = query_rows(
            self._state,
            "PartitionKey eq @pk and RowKey ge @h0 and RowKey lt @h1",
            parameters={"pk": partition_key(resource_id), "h0": _HISTORY_FROM, "h1": _HISTORY_TO},
        )
        key = normalize(resource_id)
        ordered = sorted(
            (r for r in rows if r.get("resource_key") == key), key=lambda r: r["RowKey"]
        )
        return [_transition_from(r) for r in ordered]

    def transitions_between(self, start: datetime, end: datetime) -> Iterator[Transition]:
        """Every status transition read in ``[start, end)``, across resources (one filtered
        scan: history row keys start with the read time), in key order per partition."""
        from shared.state.keys import _stamp

        rows = query_rows(
            self._state,
            "RowKey ge @h0 and RowKey lt @h1",
            parameters={
                "h0": _HISTORY_FROM + _stamp(_require_utc(start, "start")),
                "h1": _HISTORY_FROM + _stamp(_require_utc(end, "end")),
            },
        )
        for row in rows:
            yield _transition_from(row)

    # -- poison events and processed events ------------------------------------------------

    def record_poison(
        self, raw: str | bytes, error: str, source: str, at: datetime
    ) -> PoisonRecord:
        at = _require_utc(at, "at")
        record, parts = _poison_record(raw, error, source, at, self._clock())
        self._poison.create_entity(_poison_entity(record, parts))
        return record

    def poison(self) -> list[PoisonRecord]:
        rows = sorted(self._poison.list_entities(), key=lambda r: (r["PartitionKey"], r["RowKey"]))
        return [_poison_from(row) for row in rows]

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


def _rows_of(
    part: _Partition, pk: str, load: Callable[[str], _Partition]
) -> Callable[[], Mapping[str, Mapping[str, Any]]]:
    """The check rows a record planned on: as read, or (only the marker was read) read when
    asked for."""
    checks = part.checks
    if checks is not None:
        return lambda: checks
    return lambda: load(pk).checks or {}


def _current_of(
    read: Callable[[], Mapping[str, Mapping[str, Any]]],
    written: Sequence[Sequence[Operation]],
    marker: Mapping[str, Any] | None,
) -> Callable[[], list[StoredFinding]]:
    """The active findings of a resource, as :meth:`TableStateStore.current` reads them back
    (``_finding_from``): its check rows as read, each replaced by the one a committed unit wrote
    (a unit's first operation writes its check row). Built only when called: the event path and
    the timer's sweep never call it."""

    def current() -> list[StoredFinding]:
        rows = dict(read())
        for unit in written:
            row = unit[0][1]
            rows[str(row["check_id"])] = row
        return [
            _finding_from(row, marker)
            for row in rows.values()
            if row["status"] not in INACTIVE_STATUSES
        ]

    return current


def _reads_queries(
    resource_id: str | None, subscriptions: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    """The reads-table queries for what :meth:`TableStateStore.current` read: a resource's one
    row, its subscriptions' partitions, or the whole table."""
    if resource_id is not None:
        pk = partition_key(resource_id)
        return [("PartitionKey eq @rp and RowKey eq @rk", {"rp": read_partition(pk), "rk": pk})]
    if not subscriptions:
        return [("RowKey gt @none", {"none": ""})]
    scopes = sorted({f"/subscriptions/{s}".lower() for s in subscriptions})
    queries = []
    for start in range(0, len(scopes), _MAX_COMPARISONS // 3):
        params: dict[str, Any] = {}
        queries.append(
            (_scope_partitions(scopes[start : start + _MAX_COMPARISONS // 3], params), params)
        )
    return queries


def _scope_partitions(scope_ids: Iterable[str], params: dict[str, Any]) -> str:
    """A filter on the partitions of the rows under ``scope_ids`` (subscription or resource
    group ids): each scope's own, and the range of its resources' keys; values go to ``params``.
    """
    return _key_ranges([escape_key(s) for s in sorted({normalize(s) for s in scope_ids})], params)


def _key_ranges(owns: Iterable[str], params: dict[str, Any]) -> str:
    """:func:`_scope_partitions` for escaped scope keys: each key's own partition, and the
    range of the keys it prefixes with ``|``."""
    ranges = []
    for i, own in enumerate(owns):
        prefix = f"{own}|"
        params.update({f"o{i}": own, f"s{i}": prefix, f"e{i}": _after_prefix(prefix)})
        ranges.append(
            f"PartitionKey eq @o{i} or (PartitionKey ge @s{i} and PartitionKey lt @e{i} )"
        )
    return f"({' or '.join(ranges)} )"


_MAX_COMPARISONS = 15  # in one $filter ("Querying tables and entities")
_COMPARISON = re.compile(r"\b(?:eq|ne|gt|ge|lt|le)\b")


def _comparisons(query_filter: str) -> int:
    """How many comparisons a filter phiguard built holds (its values are ``@`` parameters)."""
    return len(_COMPARISON.findall(query_filter))


def _after_prefix(prefix: str) -> str:
    """The least key after every key that starts with ``prefix`` (a range query's end)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _error_code(exc: Exception) -> str:
    code = getattr(exc, "error_code", None)
    return str(getattr(code, "value", code) or "")
