"""The remediation log and the exemptions, in Azure Table Storage.

Tables (``prefix`` as for the state store):

``<prefix>remediations`` — every plan and outcome, one row per remediation attempt, kept at least
    six years (45 CFR 164.316(b)(2)): no TTL, nothing here deletes rows.
    PartitionKey
        The day of the record, ``YYYYmmdd`` (UTC): the id names its partition, so a record is
        found from its id alone (``phiguard rollback ID``), and "what happened in the last hour"
        is a key-range query over one or two partitions.
    RowKey
        The record id ``YYYYmmddTHHMMSSffffffZ-<6 hex>``: sortable by time, unique.
    Properties: ``remediation_id``, ``resource_id`` / ``resource_key`` (normalized),
        ``subscription_id``, ``resource_type``, ``check_ids`` (JSON), ``mode``, ``status``
        (PLANNED / APPLIED / VERIFIED / FAILED / ESCALATED / EXEMPT / ROLLED_BACK),
        ``reason``, ``summary``, ``before`` / ``after`` (JSON: path → value), ``writes`` /
        ``inverse`` (JSON lists of writes), ``writes_applied``, ``write_attempted``,
        ``verification`` (JSON: check id → status after the re-read), ``exemption`` (JSON),
        ``correlation_id`` (sent with phiguard's writes; it comes back in their events),
        ``seconds_to_verified`` (event time → verified fix), ``rolls_back`` /
        ``rolled_back_by`` (record ids), ``created_at`` / ``updated_at`` and the cause
        (``cause_kind``, ``cause_event_id``, ``cause_event_time``, ``cause_caller_appid``,
        ``cause_correlation_id``). A JSON value longer than one string property (32,000 UTF-16
        units) is split over ``<name>_0``..``<name>_7`` with ``<name>_parts``.
    A row is inserted when a plan is made and replaced (under its ETag) as the attempt moves on
    (PLANNED → VERIFIED / FAILED / APPLIED): a crash between the write and the verification
    leaves a PLANNED row with ``write_attempted`` true, which says a write may have happened.

``<prefix>exemptions`` — approved exceptions: PartitionKey = the resource's partition key (as in
    the state store), RowKey = the escaped remediation or check id; ``justification``,
    ``approver``, ``expires_at``, ``created_at``, ``resource_id``, ``target``.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity, TableServiceClient, UpdateMode

from shared.kernel.changes import Cause
from shared.kernel.errors import PhiguardError
from shared.kernel.resource_id import ResourceIdError, normalize, parse
from shared.state.batch import lean_table_client, query_rows
from shared.state.entities import _dt, _table_time, _type_of
from shared.state.keys import _utf16_len, escape_key, partition_key
from shared.tables import TablesBacked

if TYPE_CHECKING:
    from remediations.registry import Write
    from shared.engine import Evaluation

_MAX_UNITS = 32_000
_MAX_PARTS = 8


class RecordStatus(StrEnum):
    PLANNED = "PLANNED"  # a plan, nothing written (dry-run, not allowed, or about to apply)
    APPLIED = "APPLIED"  # written, not verified yet
    VERIFIED = "VERIFIED"  # written, re-read, and the checks it fixes now pass
    FAILED = "FAILED"  # could not plan, write or verify; the reason says which
    ESCALATED = "ESCALATED"  # not written on purpose: flapping or over the hourly cap
    EXEMPT = "EXEMPT"  # not written: an approved, unexpired exemption covers it
    ROLLED_BACK = "ROLLED_BACK"  # the inverse of an earlier record, applied
    ACTION_REQUIRED = "ACTION_REQUIRED"  # no safe automatic fix exists: a person must act


class RecordNotFound(PhiguardError, LookupError):
    """No remediation record has that id."""


class AlreadyRolledBack(PhiguardError, RuntimeError):
    """The record was rolled back already (by another operator or an earlier command)."""


@dataclass(frozen=True)
class Exemption:
    """An approved exception: the remediation (or check) ``target`` is not applied to the
    resource until ``expires_at``. ``source`` is ``tag`` or ``table``."""

    resource_id: str
    target: str
    justification: str
    approver: str
    expires_at: datetime | None
    source: str
    created_at: datetime | None = None
    created_by: str = ""  # the operator who added a table exemption (``phiguard exempt``)

    def active(self, now: datetime) -> bool:
        return self.expires_at is not None and now < self.expires_at

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "justification": self.justification,
            "approver": self.approver,
            "expires_at": _iso(self.expires_at),
            "source": self.source,
        }


@dataclass(frozen=True)
class RemediationRecord:
    """One remediation attempt (or its rollback), as the log keeps it."""

    id: str
    remediation_id: str
    resource_id: str
    check_ids: tuple[str, ...]
    mode: str
    status: RecordStatus
    reason: str
    cause: Cause
    created_at: datetime
    updated_at: datetime
    summary: str = ""
    before: Mapping[str, Any] = field(default_factory=dict)
    after: Mapping[str, Any] = field(default_factory=dict)
    writes: tuple[Write, ...] = ()
    inverse: tuple[Write, ...] = ()
    writes_applied: int = 0
    write_attempted: bool = False
    verification: Mapping[str, str] = field(default_factory=dict)
    exemption: Mapping[str, Any] | None = None
    correlation_id: str | None = None
    seconds_to_verified: float | None = None
    rolls_back: str | None = None
    rolled_back_by: str | None = None
    # Not stored: the evaluation of the re-read resource, for the caller to record as state.
    evaluation_after: Evaluation | None = field(default=None, compare=False, repr=False)
    etag: str = field(default="", compare=False, repr=False)

    @property
    def subscription_id(self) -> str:
        try:
            return str(parse(self.resource_id).subscription or "")
        except ResourceIdError:
            return ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "remediation_id": self.remediation_id,
            "resource_id": self.resource_id,
            "check_ids": list(self.check_ids),
            "mode": self.mode,
            "status": self.status.value,
            "reason": self.reason,
            "summary": self.summary,
            "before": dict(self.before),
            "after": dict(self.after),
            "writes": [w.to_json() for w in self.writes],
            "inverse": [w.to_json() for w in self.inverse],
            "writes_applied": self.writes_applied,
            "verification": dict(self.verification),
            "exemption": dict(self.exemption) if self.exemption is not None else None,
            "correlation_id": self.correlation_id,
            "seconds_to_verified": self.seconds_to_verified,
            "rolls_back": self.rolls_back,
            "rolled_back_by": self.rolled_back_by,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "cause": {
                "kind": self.cause.kind.value,
                "event_id": self.cause.event_id,
                "event_time": _iso(self.cause.event_time),
                "caller_appid": self.cause.caller_appid,
                "correlation_id": self.cause.correlation_id,
            },
        }


def new_record_id(at: datetime) -> str:
    """``YYYYmmddTHHMMSSffffffZ-<6 hex>``: sorts by time; the first 8 characters are its day."""
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)


class RemediationLog(Protocol):
    """Where remediation plans and outcomes, and exemptions, are kept."""

    def insert(self, record: RemediationRecord) -> RemediationRecord: ...

    def insert_many(self, records: Sequence[RemediationRecord]) -> list[RemediationRecord]: ...

    def update(self, record: RemediationRecord) -> RemediationRecord: ...

    def get(self, record_id: str) -> RemediationRecord: ...

    def recent(
        self,
        since: datetime,
        *,
        resource_id: str | None = None,
        subscription_id: str | None = None,
    ) -> list[RemediationRecord]: ...

    def records(
        self, *, days: int = 30, resource_id: str | None = None, limit: int = 100
    ) -> list[RemediationRecord]: ...

    def mark_rolled_back(self, record_id: str, by: str) -> RemediationRecord: ...

    def add_exemption(self, exemption: Exemption) -> None: ...

    def remove_exemption(self, resource_id: str, target: str) -> None: ...

    def exemptions(self, resource_id: str) -> list[Exemption]: ...

    def exemptions_for_sweep(self, resource_id: str) -> list[Exemption]: ...


log = logging.getLogger("phiguard.remediation")

MAX_DAYS = 3660
"""The longest look back ``records`` takes: ten years (HIPAA keeps six, 45 CFR 164.316(b)(2))."""
_DAYS_PER_QUERY = 31
# How long a sweep reuses its read of the whole exemptions table (``exemptions_for_sweep``), and
# the most rows that read takes before the sweep goes back to a query per resource.
SWEEP_EXEMPTIONS_TTL = timedelta(seconds=30)
SWEEP_EXEMPTIONS_LIMIT = 5000


class TableRemediationLog(TablesBacked):
    """:class:`RemediationLog` over Azure Table Storage (the real service or Azurite)."""

    def __init__(
        self,
        service: TableServiceClient,
        prefix: str = "phiguard",
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not (prefix[:1].isascii() and prefix[:1].isalpha() and prefix.isalnum()):
            raise ValueError(f"table prefix must be letters and digits: {prefix!r}")
        if len(prefix) + len("remediations") > 63:  # the service's table-name limit
            raise ValueError(f"table prefix is too long for {prefix}remediations: {prefix!r}")
        self.service = service
        self.log_table = f"{prefix}remediations"
        self.exemptions_table = f"{prefix}exemptions"
        self._log: TableClient = lean_table_client(service, self.log_table)
        self._exemptions: TableClient = lean_table_client(service, self.exemptions_table)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sweep_lock = threading.Lock()
        # The exemptions table by partition key, and when it was read (None: too many rows).
        self._sweep_read: tuple[datetime, dict[str, list[Exemption]] | None] | None = None

    def ensure_tables(self) -> None:
        for name in (self.log_table, self.exemptions_table):
            self.service.create_table_if_not_exists(name)

    # --- records ---------------------------------------------------------------------------

    def insert(self, record: RemediationRecord) -> RemediationRecord:
        result = self._log.create_entity(_entity(record))
        return replace(record, etag=str(result.get("etag", "")))

    def insert_many(self, records: Sequence[RemediationRecord]) -> list[RemediationRecord]:
        """Inserts records in one transaction per day partition (at most 100 rows each): the
        ACTION_REQUIRED rows of one resource, written together, cost one request."""
        by_day: dict[str, list[RemediationRecord]] = {}
        for record in records:
            by_day.setdefault(record.id[:8], []).append(record)
        out: dict[str, RemediationRecord] = {}
        for day in by_day.values():
            for start in range(0, len(day), 100):
                chunk = day[start : start + 100]
                if len(chunk) == 1:
                    out[chunk[0].id] = self.insert(chunk[0])
                    continue
                results = self._log.submit_transaction([("create", _entity(r), {}) for r in chunk])
                for record, result in zip(chunk, results, strict=True):
                    out[record.id] = replace(record, etag=str(result.get("etag", "")))
        return [out[r.id] for r in records]

    def update(self, record: RemediationRecord) -> RemediationRecord:
        """Replaces the row; raises ResourceModifiedError if someone else changed it since."""
        kwargs: dict[str, Any] = {"mode": UpdateMode.REPLACE}
        if record.etag:
            kwargs.update(etag=record.etag, match_condition=MatchConditions.IfNotModified)
        result = self._log.update_entity(_entity(record), **kwargs)
        return replace(record, etag=str(result.get("etag", "")))

    def get(self, record_id: str) -> RemediationRecord:
        record_id = record_id.strip()
        if len(record_id) < 9 or not record_id[:8].isdigit():
            raise RecordNotFound(f"{record_id!r} is not a remediation id")
        try:
            row = self._log.get_entity(record_id[:8], record_id)
        except ResourceNotFoundError:
            raise RecordNotFound(f"no remediation {record_id!r}") from None
        return _record(row)

    def recent(
        self,
        since: datetime,
        *,
        resource_id: str | None = None,
        subscription_id: str | None = None,
    ) -> list[RemediationRecord]:
        """Records created at or after ``since``, oldest first, optionally for one resource or
        one subscription (a key-range query per day partition the window touches)."""
        since = since.astimezone(UTC)
        now = self._clock().astimezone(UTC)
        out: list[RemediationRecord] = []
        day = since.date()
        while day <= now.date():
            pk = day.strftime("%Y%m%d")
            query = "PartitionKey eq @pk and RowKey ge @from"
            params: dict[str, Any] = {"pk": pk, "from": since.strftime("%Y%m%dT%H%M%S%fZ")}
            if resource_id is not None:
                query += " and resource_key eq @key"
                params["key"] = normalize(resource_id)
            if subscription_id is not None:
                query += " and subscription_key eq @sub"
                params["sub"] = subscription_id.lower()
            out += [_record(r) for r in query_rows(self._log, query, params)]
            day += timedelta(days=1)
        return out

    def records(
        self, *, days: int = 30, resource_id: str | None = None, limit: int = 100
    ) -> list[RemediationRecord]:
        """The newest records of the last ``days`` days (at most :data:`MAX_DAYS`), newest
        first: one range query per month of day partitions, newest month first, until ``limit``
        records are found (one query per day made six years of history cost 2,192 queries)."""
        today = self._clock().astimezone(UTC).date()
        oldest = today - timedelta(days=max(0, min(days, MAX_DAYS)))
        out: list[RemediationRecord] = []
        newest = today
        while newest >= oldest and len(out) < limit:
            first = max(oldest, newest - timedelta(days=_DAYS_PER_QUERY - 1))
            query = "PartitionKey ge @first and PartitionKey le @last"
            params: dict[str, Any] = {
                "first": first.strftime("%Y%m%d"),
                "last": newest.strftime("%Y%m%d"),
            }
            if resource_id is not None:
                query += " and resource_key eq @key"
                params["key"] = normalize(resource_id)
            rows = [_record(r) for r in query_rows(self._log, query, params)]
            out += sorted(rows, key=lambda r: r.id, reverse=True)
            newest = first - timedelta(days=1)
        return out[:limit]

    def mark_rolled_back(self, record_id: str, by: str) -> RemediationRecord:
        record = self.get(record_id)
        if record.rolled_back_by:
            raise AlreadyRolledBack(f"{record_id} was rolled back by {record.rolled_back_by}")
        try:
            return self.update(replace(record, rolled_back_by=by, updated_at=self._clock()))
        except ResourceModifiedError:
            raise AlreadyRolledBack(f"{record_id} changed while being marked rolled back") from None

    # --- exemptions ------------------------------------------------------------------------

    def add_exemption(self, exemption: Exemption) -> None:
        if not (exemption.justification.strip() and exemption.approver.strip()):
            raise ValueError("an exemption needs a justification and an approver")
        if exemption.expires_at is None:
            raise ValueError("an exemption needs an expiry")
        self._exemptions.upsert_entity(
            {
                "PartitionKey": partition_key(exemption.resource_id),
                "RowKey": escape_key(exemption.target),
                "resource_id": exemption.resource_id,
                "target": exemption.target,
                "justification": exemption.justification,
                "approver": exemption.approver,
                "expires_at": exemption.expires_at.astimezone(UTC),
                "created_at": self._clock().astimezone(UTC),
                "created_by": exemption.created_by,
            },
            mode=UpdateMode.REPLACE,
        )

    def remove_exemption(self, resource_id: str, target: str) -> None:
        self._exemptions.delete_entity(partition_key(resource_id), escape_key(target))

    def exemptions(self, resource_id: str) -> list[Exemption]:
        rows = query_rows(
            self._exemptions, "PartitionKey eq @pk", {"pk": partition_key(resource_id)}
        )
        return [e for r in rows if (e := _exemption(r, resource_id)) is not None]

    def exemptions_for_sweep(self, resource_id: str) -> list[Exemption]:
        """``exemptions(resource_id)`` for a sweep's ACTION_REQUIRED records: the whole table
        (a handful of rows in practice) read once per :data:`SWEEP_EXEMPTIONS_TTL` instead of
        one query per failing resource, which was a fifth of a cold sweep's storage requests.
        An exemption added during a sweep reaches its records within that time. A table of more
        than :data:`SWEEP_EXEMPTIONS_LIMIT` rows is queried per resource. Fixes never use
        this: the remediator reads a resource's exemptions just before it would write."""
        now = self._clock()
        with self._sweep_lock:
            read = self._sweep_read
            if read is None or now - read[0] >= SWEEP_EXEMPTIONS_TTL or now < read[0]:
                read = self._sweep_read = (now, self._whole_exemptions_table())
        by_partition = read[1]
        if by_partition is None:
            return self.exemptions(resource_id)
        return list(by_partition.get(partition_key(resource_id), ()))

    def _whole_exemptions_table(self) -> dict[str, list[Exemption]] | None:
        by_partition: dict[str, list[Exemption]] = {}
        for count, row in enumerate(
            query_rows(self._exemptions, "PartitionKey ge @none", {"none": ""})
        ):
            if count >= SWEEP_EXEMPTIONS_LIMIT:
                return None
            exemption = _exemption(row, str(row.get("resource_id", "")))
            if exemption is not None:
                by_partition.setdefault(str(row["PartitionKey"]), []).append(exemption)
        return by_partition


def _exemption(row: Mapping[str, Any], resource_id: str) -> Exemption | None:
    """The exemption a row holds, or None (logged, never honoured) for a row edited or damaged
    past reading: one bad row must not stop the others, nor every resource's follow-up."""
    try:
        return Exemption(
            resource_id=str(row.get("resource_id", resource_id)),
            target=str(row["target"]),
            justification=str(row.get("justification", "")),
            approver=str(row.get("approver", "")),
            expires_at=_dt(row.get("expires_at")),
            source="table",
            created_at=_dt(row.get("created_at")),
            created_by=str(row.get("created_by", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        log.warning(
            "exemption row %s / %s cannot be read (%s); it is not honoured",
            row.get("PartitionKey"),
            row.get("RowKey"),
            type(exc).__name__,
        )
        return None


# --- entities ---------------------------------------------------------------------------------


def _entity(record: RemediationRecord) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": record.id[:8],
        "RowKey": record.id,
        "record_id": record.id,
        "remediation_id": record.remediation_id,
        "resource_id": record.resource_id,
        "resource_key": normalize(record.resource_id),
        "subscription_key": record.subscription_id.lower(),
        "resource_type": _type_of(record.resource_id),
        "mode": record.mode,
        "status": record.status.value,
        "reason": record.reason[:8000],
        "summary": record.summary[:8000],
        "writes_applied": record.writes_applied,
        "write_attempted": record.write_attempted,
        "correlation_id": record.correlation_id,
        "seconds_to_verified": record.seconds_to_verified,
        "rolls_back": record.rolls_back,
        "rolled_back_by": record.rolled_back_by,
        "created_at": record.created_at.astimezone(UTC),
        "updated_at": record.updated_at.astimezone(UTC),
        "cause_kind": record.cause.kind.value,
        "cause_event_id": record.cause.event_id,
        # None (not stored) for a time before 1601, which a DateTime property cannot hold.
        "cause_event_time": _table_time(
            record.cause.event_time.astimezone(UTC) if record.cause.event_time else None,
            "cause.event_time",
        ),
        "cause_caller_appid": record.cause.caller_appid,
        "cause_correlation_id": record.cause.correlation_id,
    }
    values: dict[str, Any] = {
        "check_ids": list(record.check_ids),
        "before": dict(record.before),
        "after": dict(record.after),
        "writes": [w.to_json() for w in record.writes],
        "inverse": [w.to_json() for w in record.inverse],
        "verification": dict(record.verification),
        "exemption": dict(record.exemption) if record.exemption is not None else None,
    }
    for name, value in values.items():
        _put_json(entity, name, value)
    return {k: v for k, v in entity.items() if v is not None}


def _put_json(entity: dict[str, Any], name: str, value: Any) -> None:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    if _utf16_len(text) <= _MAX_UNITS:
        entity[name] = text
        return
    parts: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + _MAX_UNITS // 2)  # ≤ 2 units per character
        parts.append(text[start:end])
        start = end
    if len(parts) > _MAX_PARTS:
        raise ValueError(f"{name} is too large to record ({_utf16_len(text)} UTF-16 units)")
    entity[f"{name}_parts"] = len(parts)
    for index, part in enumerate(parts):
        entity[f"{name}_{index}"] = part


def _get_json(row: Mapping[str, Any], name: str, default: Any) -> Any:
    count = row.get(f"{name}_parts")
    if count:
        text = "".join(str(row.get(f"{name}_{i}", "")) for i in range(int(count)))
    else:
        raw = row.get(name)
        if raw is None:
            return default
        text = str(raw)
    return json.loads(text)


def _record(row: TableEntity) -> RemediationRecord:
    from remediations.registry import Write

    exemption = _get_json(row, "exemption", None)
    return RemediationRecord(
        id=str(row["RowKey"]),
        remediation_id=str(row.get("remediation_id", "")),
        resource_id=str(row.get("resource_id", "")),
        check_ids=tuple(_get_json(row, "check_ids", [])),
        mode=str(row.get("mode", "")),
        status=RecordStatus(str(row.get("status", "PLANNED"))),
        reason=str(row.get("reason", "")),
        cause=Cause(
            kind=str(row.get("cause_kind", "")),
            event_id=_opt(row.get("cause_event_id")),
            event_time=_dt(row.get("cause_event_time")),
            caller_appid=_opt(row.get("cause_caller_appid")),
            correlation_id=_opt(row.get("cause_correlation_id")),
        ),
        created_at=_dt(row.get("created_at")) or datetime.fromtimestamp(0, UTC),
        updated_at=_dt(row.get("updated_at")) or datetime.fromtimestamp(0, UTC),
        summary=str(row.get("summary", "")),
        before=_get_json(row, "before", {}),
        after=_get_json(row, "after", {}),
        writes=tuple(Write.from_json(w) for w in _get_json(row, "writes", [])),
        inverse=tuple(Write.from_json(w) for w in _get_json(row, "inverse", [])),
        writes_applied=int(row.get("writes_applied", 0)),
        write_attempted=bool(row.get("write_attempted", False)),
        verification=_get_json(row, "verification", {}),
        exemption=exemption if isinstance(exemption, dict) else None,
        correlation_id=_opt(row.get("correlation_id")),
        seconds_to_verified=(
            float(row["seconds_to_verified"])
            if row.get("seconds_to_verified") is not None
            else None
        ),
        rolls_back=_opt(row.get("rolls_back")),
        rolled_back_by=_opt(row.get("rolled_back_by")),
        etag=str(row.metadata.get("etag", "")),
    )


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)
