"""Rollback: the inverse of a recorded fix, applied under the same conditions as the fix.

It is refused (:class:`RollbackRefused`, nothing written) when the record wrote nothing, is a
rollback itself or was rolled back already, or when the resource changed since the fix in the
paths it wrote; a 412 while rolling back re-reads and re-checks once.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import TYPE_CHECKING

from shared.kernel.changes import Cause
from shared.kernel.errors import PhiguardError
from shared.kernel.snapshot import MalformedResource
from shared.remediation.writes import Progress, write_conditionally
from shared.remediation_log import RecordStatus, RemediationRecord, new_record_id

if TYPE_CHECKING:
    from shared.remediation.remediator import Remediator


class RollbackRefused(PhiguardError, RuntimeError):
    """The rollback was not applied; the message says why (nothing was written)."""


def rollback(
    remediator: Remediator, record_id: str, cause: Cause | None = None
) -> RemediationRecord:
    """Applies the inverse of a recorded fix, conditionally, and records it (ROLLED_BACK).

    Refuses (raises RollbackRefused, writes nothing) when the record wrote nothing, is a
    rollback itself or was rolled back already, or when the resource changed since the fix
    in the paths it wrote."""
    from remediations.paths import value_at
    from remediations.plan import same
    from shared.arm import ArmError, PreconditionFailed, TransientArmError

    cause = cause or Cause(kind="rollback")
    original = remediator.log.get(record_id)
    if original.rolls_back:
        raise RollbackRefused(f"{record_id} is itself a rollback (of {original.rolls_back})")
    if original.rolled_back_by:
        raise RollbackRefused(f"{record_id} was rolled back already by {original.rolled_back_by}")
    if original.writes_applied == 0 or not original.after:
        raise RollbackRefused(f"{record_id} wrote nothing ({original.status.value})")
    remediation = remediator.registry.get(original.remediation_id)
    if remediation is None:
        raise RollbackRefused(f"unknown remediation {original.remediation_id!r}")
    if not remediation.reversible:
        raise RollbackRefused(f"{remediation.id} is not reversible")
    correlation = str(uuid.uuid4())
    progress = Progress()
    for attempt in (1, 2):
        snapshot = remediator.read_snapshot(original.resource_id)
        if snapshot is None:
            raise RollbackRefused(f"{original.resource_id} no longer exists")
        changed = [p for p, v in original.after.items() if not same(value_at(snapshot, p), v)]
        if changed:
            raise RollbackRefused(
                "the resource changed since the fix in the paths it wrote: " + ", ".join(changed)
            )
        try:
            writes = remediation.restore(snapshot, original.before)
        except (ValueError, MalformedResource) as exc:
            raise RollbackRefused(f"cannot compute the inverse: {exc}") from exc
        try:
            for write in writes:
                write_conditionally(remediator.writer, write, correlation, progress.etags)
                progress.done.append(write)
            break
        except PreconditionFailed as exc:
            if attempt == 1 and not progress.done:
                continue  # re-read and re-check once
            _record_rollback(remediator, original, cause, correlation, progress, "FAILED", exc)
            raise RollbackRefused(
                f"the resource changed while rolling back ({exc.code}); "
                f"{len(progress.done)} of {len(writes)} writes applied"
            ) from exc
        except (ArmError, TransientArmError) as exc:  # say what landed, then raise
            if progress.done:
                _record_rollback(remediator, original, cause, correlation, progress, "FAILED", exc)
                raise
            if isinstance(exc, TransientArmError):
                raise  # nothing landed: the operator may simply run it again
            raise RollbackRefused(f"ARM refused the rollback: {exc}") from exc
    return _record_rollback(remediator, original, cause, correlation, progress, "ROLLED_BACK")


def _record_rollback(
    remediator: Remediator,
    original: RemediationRecord,
    cause: Cause,
    correlation: str,
    progress: Progress,
    outcome: str,
    error: Exception | None = None,
) -> RemediationRecord:
    remediation = remediator.registry[original.remediation_id]
    restored = remediator.read_snapshot(original.resource_id)
    statuses: dict[str, str] = {}
    evaluation = None
    if restored is not None:
        evaluation = remediator.engine.evaluate(restored)
        statuses = {
            f.check_id: f.status.value
            for f in evaluation.findings
            if f.check_id in remediation.fixes
        }
    now = remediator.clock()
    reason = (
        f"Rolled back {original.id}: the old values are restored."
        if error is None
        else f"Rollback of {original.id} stopped after {len(progress.done)} write(s): {error}"
    )
    record = RemediationRecord(
        id=new_record_id(now),
        remediation_id=remediation.id,
        resource_id=original.resource_id,
        check_ids=original.check_ids,
        mode=original.mode,
        status=RecordStatus(outcome),
        reason=reason,
        cause=cause,
        created_at=now,
        updated_at=now,
        summary=f"Rollback of: {original.summary}",
        before=dict(original.after),
        after=dict(original.before),
        writes=tuple(progress.done),
        inverse=original.writes,
        writes_applied=len(progress.done),
        verification=statuses,
        correlation_id=correlation,
        rolls_back=original.id,
    )
    stored = remediator.log.insert(record)
    if error is None:
        remediator.log.mark_rolled_back(original.id, stored.id)
    return replace(stored, evaluation_after=evaluation)
