"""Planning a record: the writes that bring a resource's partition from the rows read to the
state an evaluation, a deletion or a processing error calls for (which rows change, which
transitions are appended, the marker), grouped into transactions. No storage calls: the table
store (:mod:`shared.state.tables`) reads, commits and retries."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.data.tables import TableEntity, UpdateMode

from shared.kernel.changes import Cause
from shared.kernel.findings import Status
from shared.state.entities import (
    EARLIEST_TABLE_TIME,
    SWEEP_READ_MOVES,
    _check_entity,
    _content_matches,
    _dt,
    _finding_content,
    _history_entity,
    _inactive_entity,
    _marker_changes,
    _marker_entity,
    _next_version,
    _pending,
    _processing_finding,
    _row_content,
    _same_content,
    _type_of,
    content_digest,
)
from shared.state.model import (
    CLOSED,
    INACTIVE_STATUSES,
    PROCESSING_CHECK,
    RESOURCE_DELETED,
    Transition,
)

if TYPE_CHECKING:
    from shared.engine import Evaluation
    from shared.kernel.findings import Finding

_NEVER_READ = datetime(1970, 1, 1, tzinfo=UTC)

Operation = tuple[str, dict[str, Any], dict[str, Any]]


@dataclass
class _Partition:
    marker: TableEntity | None
    # None: only the marker was read (the sweep's preload); a plan that needs the check rows
    # says so (``_Plan.needs_rows``) and the store reads them.
    checks: dict[str, TableEntity] | None


@dataclass
class _Plan:
    """The writes that bring a partition to the desired state."""

    marker: dict[str, Any] | None  # None: nothing to write at all
    units: list[list[Operation]]  # each unit commits in one transaction
    transitions: list[list[Transition]]  # per unit
    changed: list[str]  # check id per unit
    # The sweep's read found the record as it stands: only ``last_read_at`` would move, so the
    # read is confirmed in the reads table (batched) instead of by a marker write.
    confirm: bool = False
    # Planned on the marker alone, and that was not enough: read the check rows, plan again.
    needs_rows: bool = False


def _needs_rows() -> _Plan:
    return _Plan(None, [], [], [], needs_rows=True)


def _final_digest(checks: Mapping[str, TableEntity], units: list[list[Operation]]) -> str:
    """The ``content_digest`` of the open check rows a plan leaves: those read, each replaced by
    the one a unit writes (a unit's first operation writes its check row)."""
    rows: dict[str, Mapping[str, Any]] = dict(checks)
    for unit in units:
        entity = unit[0][1]
        rows[str(entity["check_id"])] = entity
    return content_digest(
        {c: _row_content(r) for c, r in rows.items() if r["status"] not in INACTIVE_STATUSES}
    )


def _plan_unchanged(
    part: _Partition,
    pk: str,
    evaluation: Evaluation,
    findings: Mapping[str, Finding],
    read_at: datetime,
    cause: Cause,
    now: datetime,
) -> _Plan | None:
    """The plan of a sweep's read that finds the resource as recorded, decided on its marker
    alone: the findings' content digest equals the marker's, so every open row holds one of
    these findings as it is and no other row is open; what ``_plan_evaluation`` would plan on
    the rows is then a confirmation (nothing written but the read). None when that cannot be
    told from the marker: a digest that differs or is missing (a marker from before digests,
    or one transaction of a record that needed several), or a marker that would move more than
    the read."""
    stored = part.marker
    if stored is None or evaluation.partial or cause.kind != "sweep" or cause.event_id:
        return None
    digest = stored.get("content_digest")
    if not isinstance(digest, str) or not digest:
        return None
    if content_digest({c: _finding_content(f) for c, f in findings.items()}) != digest:
        return None
    final = {c: f.status.value for c, f in findings.items()}
    failing = {c for c, status in final.items() if status == Status.FAIL.value}
    marker = _evaluation_marker(
        pk, evaluation, stored, read_at, cause, now, final, digest, set(_pending(stored)) & failing
    )
    moved = _marker_changes(stored, marker)
    if not moved:
        return None
    if moved <= SWEEP_READ_MOVES:
        return _Plan(marker, [], [], [], confirm=True)
    if moved <= SWEEP_READ_MOVES | {"input_digest"}:
        # The same verdicts from other inputs (a changed field no check reads, code deployed
        # since, a shared list that changed): the marker alone is written, so that the next
        # sweep finding these inputs again need not judge them (``confirm_unchanged_input``).
        return _Plan(marker, [], [], [])
    return None


def _plan_evaluation(
    part: _Partition,
    pk: str,
    evaluation: Evaluation,
    findings: Mapping[str, Finding],
    not_assessed: set[str],
    read_at: datetime,
    cause: Cause,
    now: datetime,
    track_actions: bool = False,
) -> _Plan:
    if part.checks is None:
        quick = _plan_unchanged(part, pk, evaluation, findings, read_at, cause, now)
        return quick if quick is not None else _needs_rows()
    version = _next_version(part.marker)
    plan = _Plan(None, [], [], [])
    scope = evaluation.scope
    final: dict[str, str] = {c: str(r["status"]) for c, r in part.checks.items()}
    # A row another record wrote after this read is left as it is: then the rows are not what
    # this evaluation's inputs give, and the marker must not say they are (input_digest).
    overtaken = False
    for check_id in sorted(findings):
        finding = findings[check_id]
        row = part.checks.get(check_id)
        if (
            finding.status == Status.NOT_ASSESSED
            and row is not None
            and row["status"] in (Status.FAIL.value, Status.MUTED.value)
        ):
            continue  # a FAIL stays open until a verdict sees the resource pass
        if row is not None and _judged_after(row, read_at):
            overtaken = True
            continue  # a narrower scan read the resource later and judged this check
        if row is not None and _content_matches(row, finding):
            final[check_id] = finding.status.value
            continue
        entity = _check_entity(pk, evaluation.resource_id, finding, row, read_at, cause)
        final[check_id] = entity["status"]
        if row is not None and _same_content(row, entity):
            continue
        _add_unit(plan, pk, row, entity, read_at, cause, now, version)
    for check_id, row in sorted(part.checks.items()):
        if check_id in findings or check_id in not_assessed:
            continue
        if row["status"] in INACTIVE_STATUSES:
            continue
        if scope is not None and check_id not in scope and check_id != PROCESSING_CHECK:
            continue  # not selected this time: its row stands as last judged
        if _judged_after(row, read_at):
            overtaken = True
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
        _add_unit(plan, pk, row, entity, read_at, cause, now, version)

    stored = part.marker
    newly_failing = (
        {t.check_id for unit in plan.transitions for t in unit if t.to_status == Status.FAIL.value}
        if track_actions
        else set()
    )
    failing = {c for c, status in final.items() if status == Status.FAIL.value}
    marker = _evaluation_marker(
        pk,
        evaluation,
        stored,
        # A partial read vouches for its selected checks' rows, not for the resource.
        EARLIEST_TABLE_TIME if evaluation.partial else read_at,
        cause,
        now,
        final,
        _final_digest(part.checks, plan.units),
        (set(_pending(stored)) | newly_failing) & failing,
        vouched=not overtaken,
    )
    moved = _marker_changes(stored, marker)
    if plan.units or moved:
        plan.marker = marker
        plan.confirm = (
            not plan.units
            and stored is not None
            and cause.kind == "sweep"
            and cause.event_id is None
            and not evaluation.partial
            and moved <= SWEEP_READ_MOVES
        )
    return plan


def _evaluation_marker(
    pk: str,
    evaluation: Evaluation,
    stored: TableEntity | None,
    read_at: datetime,
    cause: Cause,
    now: datetime,
    final: Mapping[str, str],
    digest: str,
    pending: set[str],
    vouched: bool = True,
) -> dict[str, Any]:
    """The marker an evaluation's record leaves (the resource is not deleted). ``vouched``:
    the rows are what the evaluation's inputs give (not so for a partial evaluation, nor when
    rows judged after its read were left as they are), so the marker may keep its
    ``input_digest``."""
    return _marker_entity(
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
        digest=digest,
        pending=tuple(sorted(pending)),
        input_digest=evaluation.input_digest if vouched and not evaluation.partial else "",
    )


def _judged_after(row: TableEntity, read_at: datetime) -> bool:
    """Whether the row holds the verdict of a later read than ``read_at``. Only a narrower scan
    writes such a row: it does not move the marker's ``last_read_at`` (the stale-read guard of
    whole records), so a full read older than it could otherwise overwrite its verdicts."""
    try:
        judged = _dt(row.get("last_evaluated_at"))
    except (TypeError, ValueError):
        return False  # a damaged date is no claim to be newer
    return judged is not None and judged > read_at


def _plan_deleted(
    part: _Partition, pk: str, resource_id: str, at: datetime, cause: Cause, now: datetime
) -> _Plan:
    if part.checks is None:
        return _needs_rows()
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
        _add_unit(plan, pk, row, entity, at, cause, now, version)
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
        digest=_final_digest(part.checks, plan.units),
    )
    if plan.units or _marker_changes(stored, marker):
        plan.marker = marker
    return plan


def _plan_error(
    part: _Partition,
    pk: str,
    resource_id: str,
    stage: str,
    kind: str,
    cause: Cause,
    now: datetime,
) -> _Plan:
    """One ERROR row (:data:`PROCESSING_CHECK`) naming the exception's type ``kind``; the
    marker's ``last_read_at`` does not move."""
    if part.checks is None:
        return _needs_rows()
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
        _add_unit(result, pk, row, entity, now, cause, now, version)
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
        digest=_final_digest(part.checks, result.units),
        pending=_pending(stored),
    )
    if result.units:
        result.marker = marker
    return result


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


# "Performing entity group transactions" (learn.microsoft.com/rest/api/storageservices/
# performing-entity-group-transactions): at most 100 operations and "the total payload of a
# transaction can't exceed 4 MiB". The budget leaves room for the batch's own framing.
_TRANSACTION_BYTES = 4 * 1024 * 1024 - 16 * 1024
_OPERATION_OVERHEAD = 2048  # a sub-request's part headers, request line and headers
_PROPERTY_OVERHEAD = 64  # a property's name, quotes and "@odata.type" annotation
_SMALL_OPERATION = 32 * 1024  # 99 operations this size fit the budget with room to spare


def _operation_bytes(op: Operation) -> int:
    """An upper bound of the bytes ``op`` adds to a ``$batch`` request: its keys in the URL
    (percent-encoded: at most 12 bytes a character) and its JSON body (strings escaped to ASCII:
    at most 12 bytes a character, ``\\uXXXX`` twice for one outside the BMP). When that bound is
    large the body is measured instead (the common row is far below it)."""
    entity = op[1]
    size = _OPERATION_OVERHEAD + _PROPERTY_OVERHEAD * len(entity)
    keys = len(str(entity.get("PartitionKey", ""))) + len(str(entity.get("RowKey", "")))
    size += 12 * keys
    texts = [v for v in entity.values() if isinstance(v, str)]
    bound = size + 12 * sum(len(v) for v in texts) + 64 * (len(entity) - len(texts))
    if bound <= _SMALL_OPERATION:
        return bound
    return size + len(json.dumps(entity, default=str))


def _chunks(
    plan: _Plan, limit: int, max_bytes: int = _TRANSACTION_BYTES, reserved: int = 0
) -> Iterable[tuple[list[int], list[Operation]]]:
    """Groups units (each ≤ 2 operations) into transactions of at most ``limit`` operations and
    at most ``max_bytes`` of payload, ``reserved`` of which (the marker's operation) each one
    also carries."""
    indices: list[int] = []
    ops: list[Operation] = []
    used = reserved
    for i, unit in enumerate(plan.units):
        cost = sum(_operation_bytes(op) for op in unit)
        if ops and (len(ops) + len(unit) > limit or used + cost > max_bytes):
            yield indices, ops
            indices, ops, used = [], [], reserved
        indices.append(i)
        ops.extend(unit)
        used += cost
    if ops:
        yield indices, ops
