"""The tables' rows as entities, and back: check rows, markers, history rows, causes and poison rows,
with text and evidence bounded to what one string property holds (the layout is described in
:mod:`shared.state`). Pure functions: no storage calls."""

from __future__ import annotations

import base64
import hashlib
import json
import operator
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from shared.kernel.changes import Cause
from shared.kernel.findings import FINDING_FIELDS, Severity, Status
from shared.kernel.resource_id import ResourceIdError, normalize, parse
from shared.state.keys import (
    _CHECK_FROM,
    _HISTORY_FROM,
    MARKER_ROW,
    _fits_utf16,
    _stamp,
    _utf16_len,
    escape_key,
)
from shared.state.model import (
    COUNTED_STATUSES,
    INACTIVE_STATUSES,
    PROCESSING_CHECK,
    PoisonRecord,
    ResourceMarker,
    StoredFinding,
    StoredRowError,
    Transition,
)

if TYPE_CHECKING:
    from azure.data.tables import TableEntity

    from shared.kernel.findings import Finding

_MAX_STRING_UNITS = 32_000  # service limit 64 KiB = 32,768 UTF-16 units
_MAX_TEXT_UNITS = 8_000  # title, reason, source: generous, far below the limit
_MAX_EVIDENCE_VALUE_UNITS = 4_000
_POISON_PARTS = 15  # 15 x 32,000 units x 2 bytes < 1 MiB entity limit
# The earliest instant an Edm.DateTime property holds ("Understanding the Table service data
# model", learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model:
# "The supported DateTime range begins from 12:00 midnight, January 1, 1601 A.D. (C.E.), UTC").
EARLIEST_TABLE_TIME = datetime(1601, 1, 1, tzinfo=UTC)

# What makes a check row differ from a new finding: the finding's fields but its identity
# (resource and check), and whether the evidence was cut.
_CONTENT_FIELDS = (
    *(name for name in FINDING_FIELDS if name not in ("resource_id", "check_id")),
    "evidence_truncated",
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
        "hipaa": _hipaa_json(tuple(finding.hipaa)),
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


@lru_cache(maxsize=1024)
def _hipaa_json(hipaa: tuple[str, ...]) -> str:
    return json.dumps(list(hipaa))


def _content_matches(row: Mapping[str, Any], finding: Finding) -> bool:
    """``_same_content(row, _check_entity(..., finding, ...))`` without building the entity: an
    unchanged verdict, a warm sweep's common case, costs a few comparisons and the evidence's
    JSON. A stored title or reason is within its bound, so one equal to the finding's is what
    bounding the finding's gives."""
    return (
        row.get("status") == finding.status.value
        and row.get("severity") == finding.severity.value
        and row.get("phi") == finding.phi
        and row.get("resource_type") == finding.resource_type
        and row.get("title") == finding.title
        and row.get("reason") == finding.reason
        and row.get("hipaa") == _hipaa_json(tuple(finding.hipaa))
        and (row.get("evidence"), row.get("evidence_truncated")) == evidence_json(finding.evidence)
    )


# An enum member's value by lookup: ``.value`` is a descriptor call, five per finding.
_ENUM_VALUES: dict[Status | Severity, str] = {m: m.value for m in (*Status, *Severity)}
_COUNT_FIELDS = tuple((s.value, f"count_{s.value.lower()}") for s in COUNTED_STATUSES)


_in_content_order = operator.itemgetter(*_CONTENT_FIELDS)


def _row_content(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """A check row's content fields, in :data:`_CONTENT_FIELDS`' order."""
    return tuple(row.get(name) for name in _CONTENT_FIELDS)


def _finding_content(finding: Finding) -> tuple[Any, ...]:
    """The content fields of the row ``_check_entity`` would build for ``finding``, in
    :data:`_CONTENT_FIELDS`' order, without building it."""
    evidence, truncated = evidence_json(finding.evidence)
    values = {
        "resource_type": finding.resource_type,
        "status": _ENUM_VALUES[finding.status],
        "severity": _ENUM_VALUES[finding.severity],
        "hipaa": _hipaa_json(tuple(finding.hipaa)),
        "title": _bound(finding.title, _MAX_TEXT_UNITS)[0],
        "reason": _bound(finding.reason, _MAX_TEXT_UNITS)[0],
        "evidence": evidence,
        "phi": finding.phi,
        "evidence_truncated": truncated,
    }
    content: tuple[Any, ...] = _in_content_order(values)
    return content


def content_digest(contents: Mapping[str, tuple[Any, ...]]) -> str:
    """A digest of a resource's open check rows (check id and content fields each): the
    marker's ``content_digest``. Equal digests mean equal rows, so a sweep that finds the
    resource's verdicts unchanged can tell from the marker alone (``plan._plan_unchanged``)."""
    digest = hashlib.blake2b(digest_size=16)
    for check_id in sorted(contents):
        digest.update(repr((check_id, contents[check_id])).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


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
    digest: str,
    pending: tuple[str, ...] = (),
    input_digest: str = "",
) -> dict[str, Any]:
    event_id = stored.get("last_event_id") if stored else None
    event_time = _dt(stored.get("last_event_time")) if stored else None
    cause_time = _table_time(cause.event_time, "cause.event_time")
    if cause_time is not None and (event_time is None or cause_time >= event_time):
        event_id, event_time = cause.event_id, cause_time
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
        "content_digest": digest,
        "input_digest": input_digest,
        "actions_pending": ",".join(pending),
        "actions_pending_since": (
            now
            if set(pending) - set(_pending(stored))
            else (_dt(stored.get("actions_pending_since")) if stored and pending else None)
        ),
    }
    counts = Counter(final.values())
    for status, field in _COUNT_FIELDS:
        entity[field] = counts[status]
    return entity


_MARKER_STATE = (
    "resource_type",
    "phi",
    "deleted",
    "last_read_at",
    "last_event_id",
    "last_event_time",
    "actions_pending",
    "content_digest",
    "input_digest",
    *(f"count_{s.value.lower()}" for s in COUNTED_STATUSES),
)


def _marker_changes(stored: TableEntity | None, new: Mapping[str, Any]) -> frozenset[str]:
    """The marker fields a record would move (all of them for a first record): any means the
    marker is written even though no check row changes."""
    if stored is None:
        return frozenset(_MARKER_STATE)
    return frozenset(n for n in _MARKER_STATE if _moved(stored.get(n), new.get(n)))


def _moved(stored: Any, new: Any) -> bool:
    # Equal as they are is equal normalized too (a datetime keeps its instant): most fields.
    return bool(stored != new and _norm(stored) != _norm(new))


# What a sweep's read moves when it finds the record as it stands: the read time, and its
# newest cause time (the sweep's start, which names no event). Such a read is confirmed in the
# reads table instead of rewriting the marker; left as stored, ``last_event_time`` is older,
# which only makes the event path look up fewer redeliveries and re-read more
# (``Pipeline._all_recorded``).
SWEEP_READ_MOVES = frozenset({"last_read_at", "last_event_id", "last_event_time"})


def _confirmed_read(
    marker_etag: str | None, confirmation: Mapping[str, Any] | None, latest: datetime
) -> datetime | None:
    """The read time a reads-table row vouches for, if it still may: it names the ETag of the
    marker the read was compared with, so any write to the marker since (a record, a deletion,
    a cleared follow-up, one transaction of a larger record) voids it; a read dated after
    ``latest`` (now, with room for clock skew) was never made."""
    if not marker_etag or confirmation is None:
        return None
    if confirmation.get("marker_etag") != marker_etag:
        return None
    try:
        read_at = _dt(confirmation.get("read_at"))
    except (TypeError, ValueError):
        return None  # a damaged row vouches for nothing
    return read_at if read_at is not None and read_at <= latest else None


def _read_entity(
    read_pk: str, pk: str, resource_id: str, read_at: datetime, marker_etag: str
) -> dict[str, Any]:
    return {
        "PartitionKey": read_pk,
        "RowKey": pk,
        "resource_id": resource_id,
        "read_at": read_at,
        "marker_etag": marker_etag,
    }


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
        "cause_kind": cause.kind.value,
        "cause_event_id": cause.event_id,
        "cause_event_time": _table_time(cause.event_time, "cause.event_time"),
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
        counts={s.value: int(row.get(f"count_{s.value.lower()}", 0)) for s in COUNTED_STATUSES},
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


def _finding_from(row: Mapping[str, Any], marker: Mapping[str, Any] | None) -> StoredFinding:
    """The finding a check row holds. A row that holds none (edited by hand or damaged) is an
    ERROR finding of its check and resource naming the problem (:func:`unreadable_row`), so
    one damaged row neither stops a report of the others nor passes for an all-clear."""
    try:
        return _read_finding(row, marker)
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        problem = f"{exc!s:.200}" if not isinstance(exc, KeyError) else f"no {exc} property"
        return unreadable_row(row, problem)


def unreadable_row(row: Mapping[str, Any], problem: str) -> StoredFinding:
    """The ERROR finding standing for a stored check row that cannot be read as a finding:
    what of the row can be read (check, resource, severity, citations, times, cause), the rest
    left empty; its reason names the problem (:class:`StoredRowError`'s text)."""
    check_id = f"{row.get('check_id', '?')!s:.120}"
    resource_id = f"{row.get('resource_id', '?')!s:.400}"
    error = StoredRowError(
        f"the stored row of check {check_id!r} on {resource_id!r} cannot be read: {problem}"
    )

    def attempt(read: Callable[[], Any], default: Any) -> Any:
        try:
            return read()
        except (KeyError, TypeError, ValueError, RecursionError):
            return default

    hipaa = attempt(lambda: json.loads(str(row.get("hipaa") or "[]")), [])
    when = attempt(lambda: _dt(row.get("last_evaluated_at")), None) or attempt(
        lambda: _dt(row.get("last_changed_at")), None
    )
    return StoredFinding(
        resource_id=resource_id,
        resource_type=f"{row.get('resource_type', '')!s:.200}",
        check_id=check_id,
        status=Status.ERROR.value,
        # Unknown severity is not taken for a low one.
        severity=attempt(lambda: Severity(str(row["severity"])), Severity.HIGH),
        hipaa=tuple(c for c in hipaa if isinstance(c, str))[:20] if isinstance(hipaa, list) else (),
        title=f"{row.get('title', '')!s:.300}" or check_id,
        reason=f"{error}. Fix or delete the row: an evaluation rewrites it only when its "
        "verdict differs.",
        evidence={},
        phi=row.get("phi") is True,
        evidence_truncated=False,
        first_failed_at=None,
        last_changed_at=when or EARLIEST_TABLE_TIME,
        last_evaluated_at=when or EARLIEST_TABLE_TIME,
        # A cause that cannot be read either is told as the operator's (whoever edited it).
        cause=attempt(lambda: _cause_from(row), None) or Cause(kind="cli"),
    )


def _read_finding(row: Mapping[str, Any], marker: Mapping[str, Any] | None) -> StoredFinding:
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


def _type_of(resource_id: str) -> str:
    try:
        return parse(resource_id).type
    except ResourceIdError:
        return ""


# -- bounded text ------------------------------------------------------------------------------


def _bound(text: str, limit: int) -> tuple[str, bool]:
    """Text cut to ``limit`` UTF-16 units (the unit Table Storage measures) with a marker."""
    if 2 * len(text) <= limit:
        return text, False
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
    if _fits_utf16(full, limit):
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


# -- poison rows -------------------------------------------------------------------------------


def _poison_record(
    raw: str | bytes, error: str, source: str, at: datetime, recorded_at: datetime
) -> tuple[PoisonRecord, list[str]]:
    """The record of a payload that could not be processed, and the parts its raw text is kept
    in (UTF-8 text, else base64; cut after :data:`_POISON_PARTS` parts, flagged)."""
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
        recorded_at=recorded_at,
    )
    return record, parts


def _poison_entity(record: PoisonRecord, parts: list[str]) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": record.at.strftime("%Y%m%d"),
        "RowKey": f"{_stamp(record.at)}~{uuid.uuid4().hex[:12]}",
        "source": record.source,
        "error": record.error,
        "raw_encoding": record.raw_encoding,
        "raw_length": record.raw_length,
        "raw_sha256": record.raw_sha256,
        "raw_parts": len(parts),
        "truncated": record.truncated,
        "at": record.at,
        "recorded_at": record.recorded_at,
    }
    for i, part in enumerate(parts):
        entity[f"raw_{i}"] = part
    return entity


def _poison_from(row: Mapping[str, Any]) -> PoisonRecord:
    parts = int(row.get("raw_parts", 0))
    return PoisonRecord(
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


# -- times -------------------------------------------------------------------------------------


def _require_utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return _plain(value.astimezone(UTC))


def _table_time(value: datetime | None, name: str) -> datetime | None:
    """An event's time as a DateTime property may hold it: UTC, or None (not stored) for a time
    before :data:`EARLIEST_TABLE_TIME`, which the service refuses (400) and no real event has:
    the event time comes from the event's own text."""
    if value is None:
        return None
    try:
        moment = _require_utc(value, name)
    except OverflowError:  # year 1 with an offset east of UTC: before 1601 either way
        return None
    return moment if moment >= EARLIEST_TABLE_TIME else None


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


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
