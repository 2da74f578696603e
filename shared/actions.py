"""What happens after a resource's state is recorded: fix, or ask a person to.

Acts on transitions *to* FAIL only (a new failure, or drift after an earlier fix), so a sweep of
an unchanged estate does nothing and a failure that stays failing is not re-planned every event.
Those checks are recorded as the resource's pending follow-ups in the same transaction as the
FAIL (an outbox, see ``StateStore.record_evaluation``) and cleared once this has run, so a worker
that crashes or hits a transient error in between leaves them for a redelivery or the sweep.
In a sweep, the ACTION_REQUIRED records and what follows them wait for other resources' in a
batch (``shared.follow_up_batch``), still listed as pending until they are written.
A failing check with a safe remediation goes to the remediator (its modes, allow-list, guards
and log); one without — customer-managed keys, purge protection, private endpoints, TDE
protectors: changes that are irreversible or can break clients — is logged ACTION_REQUIRED.
The re-read evaluation after a fix is recorded as state with cause ``remediation``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.kernel.changes import Cause
from shared.kernel.findings import Status
from shared.telemetry import Tally

if TYPE_CHECKING:
    from shared.engine import Engine, Evaluation
    from shared.follow_up_batch import DeferredFollowUp, FollowUpBatch
    from shared.followup import FollowUps
    from shared.kernel.snapshot import Snapshot
    from shared.remediation import Remediator
    from shared.remediation_log import Exemption, RemediationRecord
    from shared.state.model import RecordOutcome, StateStore

log = logging.getLogger("phiguard.actions")


@dataclass
class PostRecordActions:
    engine: Engine
    store: StateStore
    remediator: Remediator
    followups: FollowUps | None = None
    # Remediation records by status since the last invocation emitted them (shared.telemetry).
    tally: Tally = field(default_factory=Tally)

    def __call__(
        self,
        snapshot: Snapshot,
        evaluation: Evaluation,
        cause: Cause,
        checks: tuple[str, ...],
        later: DeferredFollowUp | None = None,
    ) -> list[RemediationRecord]:
        """Follows up ``checks`` (failing, newly or left pending by a worker that crashed).
        With ``later`` (a sweep's, see :mod:`shared.follow_up_batch`), the ACTION_REQUIRED
        records and what follows them are left to it; fixes are made at once."""
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
        # The resource's table exemptions, read once for all its manual checks (a sweep reads
        # the whole table once for all its resources).
        log_ = self.remediator.log
        read = log_.exemptions_for_sweep if cause.kind == "sweep" else log_.exemptions
        exemptions = read(snapshot.id) if manual else []
        asked = [
            self._action_required(snapshot, evaluation, check_id, cause, exemptions)
            for check_id in manual
        ]
        fixable = len(manual) < len(due)
        if later is not None and asked:
            fixes = self._fixes(snapshot, evaluation, cause, fixable)
            later.records = asked
            later.then(lambda stored: self._finish(snapshot, evaluation, due, stored + fixes))
            return fixes
        records = self.remediator.log.insert_many(asked)
        records += self._fixes(snapshot, evaluation, cause, fixable)
        self._finish(snapshot, evaluation, due, records)
        return records

    def _fixes(
        self, snapshot: Snapshot, evaluation: Evaluation, cause: Cause, any_fixable: bool
    ) -> list[RemediationRecord]:
        if not any_fixable:
            return []
        return self.record_fixes(self.remediator.act(snapshot, evaluation, cause))

    def _finish(
        self,
        snapshot: Snapshot,
        evaluation: Evaluation,
        due: list[str],
        records: list[RemediationRecord],
    ) -> None:
        for record in records:
            self.tally.add(str(record.status))
        if self.followups is not None:
            # Issues and notices are enqueued before the pending follow-ups are cleared: a
            # crash in between redoes them under the same idempotency keys.
            stored = {row.check_id: row for row in self.store.current(snapshot.id)}
            self.followups.failures(snapshot, evaluation, due, records, stored)

    def sweep_batch(self) -> FollowUpBatch:
        """A batch for one sweep's deferred follow-ups (see :mod:`shared.follow_up_batch`)."""
        from shared.follow_up_batch import FollowUpBatch

        return FollowUpBatch(self.remediator.log.insert_many)

    def catch_up(
        self, snapshot: Snapshot, evaluation: Evaluation, cause: Cause
    ) -> list[RemediationRecord]:
        """The sweep's pass over failures that are not new: fixes that may write now are
        applied (a fix allowed after the failure was first found), under every guard."""
        if cause.kind == "remediation":
            return []
        fixes = self.record_fixes(self.remediator.catch_up(snapshot, evaluation, cause))
        for record in fixes:
            self.tally.add(str(record.status))
        if self.followups is not None and fixes:
            self.followups.fixes(snapshot, fixes, phi=evaluation.phi)
        return fixes

    def may_catch_up(self, resource_type: str, phi: bool) -> bool:
        """Whether :meth:`catch_up` could fix anything on such a resource (see
        ``Remediator.may_catch_up``)."""
        return self.remediator.may_catch_up(resource_type, phi)

    def record_fixes(self, fixes: list[RemediationRecord]) -> list[RemediationRecord]:
        """The fixes, with each verified re-read recorded as state (cause ``remediation``)."""
        for fix in fixes:
            if fix.evaluation_after is not None:
                outcome = self.store.record_evaluation(
                    fix.evaluation_after,
                    read_at=fix.updated_at,
                    cause=Cause(
                        kind="remediation",
                        event_id=fix.id,
                        event_time=fix.updated_at,
                        correlation_id=fix.correlation_id,
                    ),
                )
                self.recorded(fix.resource_id, fix.evaluation_after, outcome)
        return fixes

    def recorded(
        self, resource_id: str, evaluation: Evaluation | None, outcome: RecordOutcome
    ) -> Any:
        """After any record: the issues of checks that stopped failing are closed, changed
        failures commented. Never raises: a lost close is found by ``phiguard issues sync``
        (and the daily digest run), while raising would redeliver an event whose state is
        already recorded (and so would find nothing to do)."""
        if self.followups is None or (not outcome.transitions and not outcome.changed_checks):
            return None
        try:
            return self.followups.transitions(resource_id, evaluation, outcome)
        except Exception as exc:  # logged by type; the record stands
            log.warning(
                "issue follow-up of %s not enqueued (%s); issues sync will reconcile it",
                resource_id,
                type(exc).__name__,
            )
            return None

    def _action_required(
        self,
        snapshot: Snapshot,
        evaluation: Evaluation,
        check_id: str,
        cause: Cause,
        exemptions: list[Exemption],
    ) -> RemediationRecord:
        from shared.remediation.exemptions import applicable_exemption
        from shared.remediation_log import RecordStatus, RemediationRecord, new_record_id

        now = self.remediator.clock()
        settings = self.remediator.settings
        # An approved exemption of the check stops the person's follow-up too (the issue),
        # never the finding.
        exemption, _ = applicable_exemption(
            {check_id.lower()},
            snapshot,
            exemptions,
            now,
            max_days=settings.exemption_max_days,
            approvers=settings.exemption_approvers,
        )
        if exemption is not None:
            until = exemption.expires_at.date().isoformat() if exemption.expires_at else "?"
            status = RecordStatus.EXEMPT
            reason = f"Exempt until {until} ({exemption.source}); no action asked."
            extra: dict[str, Any] = {"exemption": exemption.to_json()}
        else:
            finding = next(f for f in evaluation.findings if f.check_id == check_id)
            status = RecordStatus.ACTION_REQUIRED
            reason = f"No safe automatic fix: {finding.reason}"
            extra = {"summary": self.engine.catalog[check_id].guidance}
            log.info("action required on %s: %s", snapshot.id, check_id)
        return RemediationRecord(
            id=new_record_id(now),
            remediation_id="",
            resource_id=snapshot.id,
            check_ids=(check_id,),
            mode="manual",
            status=status,
            reason=reason,
            cause=cause,
            created_at=now,
            updated_at=now,
            **extra,
        )
