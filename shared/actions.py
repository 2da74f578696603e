"""What happens after a resource's state is recorded: fix, or ask a person to.

Acts on transitions *to* FAIL only (a new failure, or drift after an earlier fix), so a sweep of
an unchanged estate does nothing and a failure that stays failing is not re-planned every event.
A failing check with a safe remediation goes to the remediator (its modes, allow-list, guards
and log); one without — customer-managed keys, purge protection, private endpoints, TDE
protectors: changes that are irreversible or can break clients — is logged ACTION_REQUIRED.
The re-read evaluation after a fix is recorded as state with cause ``remediation``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.changes import Cause

if TYPE_CHECKING:
    from shared.engine import Engine, Evaluation
    from shared.remediation import Remediator
    from shared.remediation_log import RemediationRecord
    from shared.snapshot import Snapshot
    from shared.state_store import RecordOutcome, StateStore

log = logging.getLogger("phiguard.actions")


@dataclass
class PostRecordActions:
    engine: Engine
    store: StateStore
    remediator: Remediator

    def __call__(
        self, snapshot: Snapshot, evaluation: Evaluation, cause: Cause, record: RecordOutcome
    ) -> list[RemediationRecord]:
        if cause.kind == "remediation":
            return []
        newly_failing = {t.check_id for t in record.transitions if t.to_status == "FAIL"}
        if not newly_failing:
            return []
        manual = sorted(
            c
            for c in newly_failing
            if c in self.engine.catalog and self.engine.catalog[c].remediation is None
        )
        records = [
            self._action_required(snapshot, evaluation, check_id, cause) for check_id in manual
        ]
        if len(manual) < len(newly_failing):
            fixes = self.remediator.act(snapshot, evaluation, cause)
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
            records += fixes
        return records

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
        return self.remediator.log.insert(record)
