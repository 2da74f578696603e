"""What happens after a resource's state is recorded: fix, or ask a person to.

Acts on transitions *to* FAIL only (a new failure, or drift after an earlier fix), so a sweep of
an unchanged estate does nothing and a failure that stays failing is not re-planned every event.
Those checks are recorded as the resource's pending follow-ups in the same transaction as the
FAIL (an outbox, see ``StateStore.record_evaluation``) and cleared once this has run, so a worker
that crashes or hits a transient error in between leaves them for a redelivery or the sweep.
A failing check with a safe remediation goes to the remediator (its modes, allow-list, guards
and log); one without — customer-managed keys, purge protection, private endpoints, TDE
protectors: changes that are irreversible or can break clients — is logged ACTION_REQUIRED.
The re-read evaluation after a fix is recorded as state with cause ``remediation``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.kernel.changes import Cause
from shared.kernel.findings import Status

if TYPE_CHECKING:
    from shared.engine import Engine, Evaluation
    from shared.kernel.snapshot import Snapshot
    from shared.remediation import Remediator
    from shared.remediation_log import RemediationRecord
    from shared.state.model import StateStore

log = logging.getLogger("phiguard.actions")


@dataclass
class PostRecordActions:
    engine: Engine
    store: StateStore
    remediator: Remediator

    def __call__(
        self, snapshot: Snapshot, evaluation: Evaluation, cause: Cause, checks: tuple[str, ...]
    ) -> list[RemediationRecord]:
        """Follows up ``checks`` (failing, newly or left pending by a worker that crashed)."""
        if cause.kind == "remediation":
            return []
        failing = {f.check_id for f in evaluation.findings if f.status == Status.FAIL}
        due = [c for c in checks if c in failing]
        if not due:
            return []
        manual = sorted(
            c
            for c in due
            if c in self.engine.catalog and self.engine.catalog[c].remediation is None
        )
        records = self.remediator.log.insert_many(
            [self._action_required(snapshot, evaluation, check_id, cause) for check_id in manual]
        )
        if len(manual) < len(due):
            records += self.record_fixes(self.remediator.act(snapshot, evaluation, cause))
        return records

    def catch_up(
        self, snapshot: Snapshot, evaluation: Evaluation, cause: Cause
    ) -> list[RemediationRecord]:
        """The sweep's pass over failures that are not new: fixes that may write now are
        applied (a fix allowed after the failure was first found), under every guard."""
        if cause.kind == "remediation":
            return []
        return self.record_fixes(self.remediator.catch_up(snapshot, evaluation, cause))

    def record_fixes(self, fixes: list[RemediationRecord]) -> list[RemediationRecord]:
        """The fixes, with each verified re-read recorded as state (cause ``remediation``)."""
        for fix in fixes:
            if fix.evaluation_after is not None:
                self.store.record_evaluation(
                    fix.evaluation_after,
                    read_at=fix.updated_at,
                    cause=Cause(
                        kind="remediation",
                        event_id=fix.id,
                        event_time=fix.updated_at,
                        correlation_id=fix.correlation_id,
                    ),
                )
        return fixes

    def _action_required(
        self, snapshot: Snapshot, evaluation: Evaluation, check_id: str, cause: Cause
    ) -> RemediationRecord:
        from shared.remediation_log import RecordStatus, RemediationRecord, new_record_id

        now = self.remediator.clock()
        finding = next(f for f in evaluation.findings if f.check_id == check_id)
        record = RemediationRecord(
            id=new_record_id(now),
            remediation_id="",
            resource_id=snapshot.id,
            check_ids=(check_id,),
            mode="manual",
            status=RecordStatus.ACTION_REQUIRED,
            reason=f"No safe automatic fix: {finding.reason}",
            cause=cause,
            created_at=now,
            updated_at=now,
            summary=self.engine.catalog[check_id].guidance,
        )
        log.info("action required on %s: %s", snapshot.id, check_id)
        return record
