"""The remediator: decides whether a failing check is fixed, fixes it, verifies, records.

For each FAIL finding whose check names a remediation, :meth:`Remediator.act` goes through these
gates, in order, and records what happened in the remediation log (``shared.remediation_log``):

1. **mode** — ``PHIGUARD_REMEDIATION_MODE`` overrides everything, then the per-remediation
   ``PHIGUARD_REMEDIATION_MODES``, then the remediation's default; ``off`` does nothing.
2. **scope** — the resource type must be one the remediation covers; PHI-only remediations
   touch only PHI-scoped resources.
3. **loop guard** — a change caused by phiguard itself (the event's caller appid is phiguard's
   identity, or, where a write is allowed, its correlation id is one phiguard sent with a write)
   is evaluated but never remediated again: nothing is recorded, nothing written.
4. **plan** — pure; no plan means the resource already complies. A plan that cannot be made
   (configuration, malformed resource) is recorded FAILED.
5. **exemptions** — the ``phiguard-exempt`` tag
   (``<remediation or check id>[,...];until=YYYY-MM-DD;approver=...;reason=...``) or an entry of
   the exemptions table; an active one records EXEMPT, an expired (or malformed) one no longer
   applies and the record says so.
6. **dry-run** records PLANNED; **enforce** of a remediation not in ``PHIGUARD_REMEDIATION_ALLOW``
   records PLANNED too (nothing is written without an explicit allow-list entry).
7. **flap guard** — a resource this remediation fixed ≥ K times within the window is escalated
   (ESCALATED, with the count), not fixed again: something keeps undoing the fix.
8. **hourly cap** — beyond N write attempts per subscription in 60 minutes, plan only and
   escalate.
9. **apply** — every write conditional (If-Match, or re-read-and-compare for documents without
   an etag); a 412 re-reads, re-plans and retries once, then gives up (FAILED). Then the
   resource is re-read and the checks re-run: VERIFIED only if they now pass, else FAILED
   (APPLIED when the re-read itself failed: written, not verified).

A transient ARM failure is recorded FAILED and re-raised so Event Grid redelivers.
:meth:`Remediator.rollback` applies a record's inverse under the same conditions and refuses when
the resource changed since in the paths the fix wrote.
"""

from __future__ import annotations

import logging
import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.kernel.changes import Cause
from shared.kernel.findings import Status
from shared.kernel.snapshot import MalformedResource, Snapshot
from shared.remediation_log import (
    Exemption,
    RecordStatus,
    RemediationLog,
    RemediationRecord,
    new_record_id,
)

if TYPE_CHECKING:
    from remediations.plan import Plan, Write
    from remediations.registry import Mode, Remediation, RemediationOptions
    from shared.arm_reader import ArmReader
    from shared.arm_writer import ArmWriter, WriteResult
    from shared.config import Settings
    from shared.engine import Engine, Evaluation

logger = logging.getLogger("phiguard.remediation")

EXEMPT_TAG = "phiguard-exempt"
HOUR = timedelta(hours=1)


class RollbackRefused(RuntimeError):
    """The rollback was not applied; the message says why (nothing was written)."""


@dataclass(frozen=True)
class Preview:
    """What ``phiguard plan`` shows for one remediation on one resource."""

    remediation_id: str
    resource_id: str
    mode: str
    allowed: bool
    plan: Plan | None
    error: str | None = None


@dataclass
class _Progress:
    """The writes of one attempt that landed, with the values they changed."""

    done: list[Write] = field(default_factory=list)
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    etags: dict[str, str] = field(default_factory=dict)

    def add(self, write: Write, plan: Plan) -> None:
        self.done.append(write)
        for path in write.paths:
            self.before.setdefault(path, plan.before.get(path))
            self.after[path] = plan.after.get(path)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Remediator:
    def __init__(
        self,
        engine: Engine,
        reader: ArmReader,
        writer: ArmWriter,
        log: RemediationLog,
        settings: Settings,
        *,
        registry: Mapping[str, Remediation] | None = None,
        options: RemediationOptions | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        from remediations import REMEDIATIONS
        from shared.config import SettingsError

        self.engine = engine
        self.reader = reader
        self.writer = writer
        self.log = log
        self.settings = settings
        self.registry = dict(REMEDIATIONS if registry is None else registry)
        self.options = options or remediation_options(settings)
        self.clock = clock
        unknown = [r for r, _ in settings.remediation_modes if r not in self.registry]
        if unknown:
            raise SettingsError(f"PHIGUARD_REMEDIATION_MODES: unknown remediation {unknown[0]!r}")
        unknown = [r for r in settings.remediation_allow if r not in self.registry]
        if unknown:
            raise SettingsError(f"PHIGUARD_REMEDIATION_ALLOW: unknown remediation {unknown[0]!r}")

    # --- configuration -----------------------------------------------------------------------

    def mode_for(self, remediation: Remediation) -> Mode:
        if self.settings.remediation_mode is not None:
            return self.settings.remediation_mode  # type: ignore[return-value]
        overrides = dict(self.settings.remediation_modes)
        return overrides.get(remediation.id, remediation.default_mode)  # type: ignore[return-value]

    def allowed(self, remediation: Remediation) -> bool:
        return remediation.id in self.settings.remediation_allow

    def permissions(self) -> list[str]:
        """The sorted union of the RBAC actions the remediations declare (the custom role)."""
        return sorted({a for r in self.registry.values() for a in r.rbac_actions})

    def records(
        self, *, days: int = 30, resource_id: str | None = None, limit: int = 100
    ) -> list[RemediationRecord]:
        return self.log.records(days=days, resource_id=resource_id, limit=limit)

    # --- planning only -----------------------------------------------------------------------

    def preview(
        self, target: Snapshot | str, evaluation: Evaluation | None = None
    ) -> list[Preview]:
        """The plans for a resource's failing checks, whatever the modes (``phiguard plan``).
        Reads only; nothing is recorded."""
        snapshot = self._resolve(target)
        if snapshot is None:
            return []
        evaluation = evaluation or self.engine.evaluate(snapshot)
        out: list[Preview] = []
        for remediation, _checks in self._failing(snapshot, evaluation):
            mode = self.mode_for(remediation)
            try:
                plan = remediation.plan(snapshot, self.options)
            except (ValueError, MalformedResource) as exc:
                out.append(
                    Preview(
                        remediation.id, snapshot.id, mode, self.allowed(remediation), None, str(exc)
                    )
                )
                continue
            if plan is not None:
                out.append(
                    Preview(remediation.id, snapshot.id, mode, self.allowed(remediation), plan)
                )
        return out

    # --- acting ------------------------------------------------------------------------------

    def act(
        self,
        target: Snapshot | str,
        evaluation: Evaluation | None = None,
        cause: Cause | None = None,
    ) -> list[RemediationRecord]:
        """Remediates the FAIL findings of one resource (see the module docstring for the
        gates). ``target`` is a Snapshot (as the pipeline read it) or a resource id to read."""
        cause = cause or Cause(kind="cli")
        snapshot = self._resolve(target)
        if snapshot is None:
            return []
        evaluation = evaluation or self.engine.evaluate(snapshot)
        records: list[RemediationRecord] = []
        for remediation, checks in self._failing(snapshot, evaluation):
            record = self._act_one(remediation, snapshot, checks, cause)
            if record is not None:
                records.append(record)
        return records

    def catch_up(
        self,
        target: Snapshot | str,
        evaluation: Evaluation | None = None,
        cause: Cause | None = None,
    ) -> list[RemediationRecord]:
        """Fixes failures that were already failing when their fix became allowed: only the
        remediations that may write now (enforce mode, on the allow-list), through every gate
        of :meth:`act` (exemptions, flap guard, hourly cap, If-Match, verification). Dry-run
        and not-allowed fixes were recorded PLANNED when the failure was new; re-planning
        them on every sweep would only repeat that."""
        cause = cause or Cause(kind="cli")
        snapshot = self._resolve(target)
        if snapshot is None:
            return []
        evaluation = evaluation or self.engine.evaluate(snapshot)
        records: list[RemediationRecord] = []
        for remediation, checks in self._failing(snapshot, evaluation):
            if self.mode_for(remediation) != "enforce" or not self.allowed(remediation):
                continue
            record = self._act_one(remediation, snapshot, checks, cause)
            if record is not None:
                records.append(record)
        return records

    def _failing(
        self, snapshot: Snapshot, evaluation: Evaluation
    ) -> list[tuple[Remediation, tuple[str, ...]]]:
        from checks import CATALOG

        found: dict[str, list[str]] = {}
        for finding in evaluation.findings:
            if finding.status != Status.FAIL:
                continue
            check = CATALOG.get(finding.check_id)
            if check is None or check.remediation not in self.registry:
                continue
            found.setdefault(check.remediation, []).append(finding.check_id)
        out: list[tuple[Remediation, tuple[str, ...]]] = []
        for rid in sorted(found):
            remediation = self.registry[rid]
            if not remediation.applies_to(snapshot.type):
                continue
            if remediation.phi_only and not snapshot.phi:
                continue
            out.append((remediation, tuple(found[rid])))
        return out

    def _act_one(
        self,
        remediation: Remediation,
        snapshot: Snapshot,
        checks: tuple[str, ...],
        cause: Cause,
    ) -> RemediationRecord | None:
        mode = self.mode_for(remediation)
        if mode == "off":
            return None
        if self._own_identity(cause):
            logger.info(
                "%s on %s: caused by phiguard itself, not remediated", remediation.id, snapshot.id
            )
            return None
        now = self.clock()
        window = timedelta(seconds=self.settings.remediation_flap_window_seconds)
        writes = mode == "enforce" and self.allowed(remediation)
        # Read only where something may be written: dry-run and not-allowed write nothing, so
        # they have no loop to guard, and on the event path this saves a query per failure.
        recent = self.log.recent(now - window, resource_id=snapshot.id) if writes else []
        if cause.correlation_id and any(r.correlation_id == cause.correlation_id for r in recent):
            logger.info(
                "%s on %s: phiguard's own write, not remediated", remediation.id, snapshot.id
            )
            return None

        def record(
            status: RecordStatus, reason: str, plan: Plan | None = None, **extra: Any
        ) -> RemediationRecord:
            return self._new_record(
                remediation, snapshot, checks, mode, status, reason, cause, plan, **extra
            )

        try:
            plan = remediation.plan(snapshot, self.options)
        except (ValueError, MalformedResource) as exc:
            return self.log.insert(record(RecordStatus.FAILED, f"Cannot plan: {exc}"))
        if plan is None:
            return None
        exemption, note = self._exemption(remediation, checks, snapshot, now)
        if exemption is not None:
            until = exemption.expires_at.date().isoformat() if exemption.expires_at else "?"
            return self.log.insert(
                record(
                    RecordStatus.EXEMPT,
                    f"Exempt until {until} ({exemption.source}, approved by "
                    f"{exemption.approver}: {exemption.justification}); nothing written.",
                    plan,
                    exemption=exemption.to_json(),
                )
            )
        note = f" {note}" if note else ""
        if mode == "dry-run":
            return self.log.insert(
                record(RecordStatus.PLANNED, f"Dry-run: nothing written.{note}", plan)
            )
        if not self.allowed(remediation):
            return self.log.insert(
                record(
                    RecordStatus.PLANNED,
                    f"Enforce mode, but {remediation.id} is not in PHIGUARD_REMEDIATION_ALLOW: "
                    f"nothing written.{note}",
                    plan,
                )
            )
        fixed = [
            r
            for r in recent
            if r.remediation_id == remediation.id and r.writes_applied > 0 and not r.rolls_back
        ]
        limit = self.settings.remediation_flap_limit
        if len(fixed) >= limit:
            return self.log.insert(
                record(
                    RecordStatus.ESCALATED,
                    f"Flapping: fixed {len(fixed)} times since {fixed[0].created_at:%Y-%m-%d %H:%M} "
                    f"UTC (limit {limit} in {window.total_seconds():.0f} s); something keeps "
                    f"undoing the fix, so phiguard stopped fixing it.{note}",
                    plan,
                )
            )
        subscription = _subscription(snapshot.id)
        attempts = [
            r
            for r in self.log.recent(now - HOUR, subscription_id=subscription)
            if r.write_attempted and not r.rolls_back
        ]
        cap = self.settings.remediation_hourly_cap
        if len(attempts) >= cap:
            return self.log.insert(
                record(
                    RecordStatus.ESCALATED,
                    f"Hourly cap reached: {len(attempts)} remediations in subscription "
                    f"{subscription} in the last 60 minutes (cap {cap}); planned only.{note}",
                    plan,
                )
            )
        return self._enforce(remediation, snapshot, checks, plan, cause, note)

    def _enforce(
        self,
        remediation: Remediation,
        snapshot: Snapshot,
        checks: tuple[str, ...],
        plan: Plan,
        cause: Cause,
        note: str,
    ) -> RemediationRecord:
        from shared.arm_reader import ArmError, TransientArmError
        from shared.arm_writer import PreconditionFailed

        correlation = str(uuid.uuid4())
        record = self.log.insert(
            self._new_record(
                remediation,
                snapshot,
                checks,
                "enforce",
                RecordStatus.PLANNED,
                "Applying.",
                cause,
                plan,
                write_attempted=True,
                correlation_id=correlation,
            )
        )
        progress = _Progress()
        current: Plan | None = plan
        conflicts = 0
        failure: str | None = None
        while current is not None:
            try:
                for write in current.writes:
                    self._write(write, correlation, progress.etags)
                    progress.add(write, current)
                break
            except PreconditionFailed as exc:
                conflicts += 1
                if conflicts > 1:
                    failure = (
                        "Gave up: the resource changed again between re-read and write "
                        f"({exc.code}); the second attempt wrote nothing."
                    )
                    break
                fresh = self._snapshot(snapshot.id)
                if fresh is None:
                    failure = "The resource was deleted while it was being fixed."
                    break
                snapshot = fresh
                try:
                    current = remediation.plan(snapshot, self.options)
                except (ValueError, MalformedResource) as plan_error:
                    failure = f"Cannot re-plan after a concurrent change: {plan_error}"
                    break
            except TransientArmError as exc:
                self._finish(
                    record, RecordStatus.FAILED, f"ARM unavailable: {exc}", progress, cause
                )
                raise
            except ArmError as exc:
                failure = f"ARM refused the write: {exc}"
                break
        if not progress.done:
            if failure is not None:
                return self._finish(record, RecordStatus.FAILED, failure + note, progress, cause)
            reason = (
                "Nothing written: the resource complied when re-read after a concurrent change."
            )
            return self._finish(record, RecordStatus.PLANNED, reason + note, progress, cause)
        try:
            fixed = self._snapshot(snapshot.id)
        except TransientArmError as exc:
            reason = f"Written, not verified: the re-read failed ({exc})."
            self._finish(record, RecordStatus.APPLIED, reason + note, progress, cause)
            raise
        if fixed is None:
            reason = "Written, not verified: the resource is gone on re-read."
            return self._finish(record, RecordStatus.APPLIED, reason + note, progress, cause)
        evaluation = self.engine.evaluate(fixed)
        statuses = {
            f.check_id: f.status.value
            for f in evaluation.findings
            if f.check_id in remediation.fixes
        }
        still = [c for c in checks if statuses.get(c) != Status.PASS]
        if failure is not None:
            status, reason = RecordStatus.FAILED, f"Partly written; {failure}"
        elif still:
            shown = ", ".join(f"{c}={statuses.get(c, 'not assessed')}" for c in still)
            status, reason = RecordStatus.FAILED, f"Written, but not verified: {shown}."
        else:
            retried = " after a concurrent change (412: re-read, re-planned)" if conflicts else ""
            status, reason = RecordStatus.VERIFIED, f"Written{retried} and verified."
        inverse: tuple[Write, ...] = ()
        if remediation.reversible:
            try:  # what a rollback would write now, against the document as it is after the fix
                inverse = tuple(remediation.restore(fixed, progress.before))
            except (ValueError, MalformedResource) as exc:
                reason += f" No inverse could be computed: {exc}."
        return self._finish(
            record, status, reason + note, progress, cause, statuses, evaluation, inverse
        )

    def _finish(
        self,
        record: RemediationRecord,
        status: RecordStatus,
        reason: str,
        progress: _Progress,
        cause: Cause,
        statuses: Mapping[str, str] | None = None,
        evaluation: Evaluation | None = None,
        inverse: tuple[Write, ...] | None = None,
    ) -> RemediationRecord:
        now = self.clock()
        seconds = None
        if status == RecordStatus.VERIFIED and cause.event_time is not None:
            seconds = round((now - cause.event_time).total_seconds(), 3)
        done = bool(progress.done)
        final = replace(
            record,
            status=status,
            reason=reason,
            updated_at=now,
            writes_applied=len(progress.done),
            writes=tuple(progress.done) if done else record.writes,
            before=dict(progress.before) if done else record.before,
            after=dict(progress.after) if done else record.after,
            inverse=inverse if inverse is not None else record.inverse,
            verification=dict(statuses or {}),
            seconds_to_verified=seconds,
        )
        stored = self.log.update(final)
        return replace(stored, evaluation_after=evaluation)

    def _write(self, write: Write, correlation: str, etags: dict[str, str]) -> WriteResult:
        from remediations.paths import document_value
        from remediations.plan import same
        from shared.arm_writer import PreconditionFailed

        if_match = etags.get(write.if_match, write.if_match) if write.if_match else None
        if write.expect and not if_match and not write.if_none_match:
            current, etag = self.writer.read(write.target_id, write.api_version)
            if current is None:
                raise PreconditionFailed(
                    412, "Gone", "the target no longer exists", write.target_id
                )
            changed = [
                p for p, v in write.expect.items() if not same(document_value(current, p), v)
            ]
            if changed:
                raise PreconditionFailed(
                    412,
                    "ChangedSinceRead",
                    f"{', '.join(changed)} changed since the plan was made",
                    write.target_id,
                )
            if_match = etag
        if write.method == "PUT":
            result = self.writer.put(
                write.target_id,
                write.api_version,
                write.body or {},
                if_match=if_match,
                if_none_match=write.if_none_match,
                correlation_id=correlation,
            )
        elif write.method == "PATCH":
            result = self.writer.patch(
                write.target_id,
                write.api_version,
                write.body or {},
                if_match=if_match,
                correlation_id=correlation,
            )
        else:
            result = self.writer.delete(
                write.target_id, write.api_version, if_match=if_match, correlation_id=correlation
            )
        if write.if_match and result.etag:
            # Sibling writes (rules of one NSG) share their parent's etag: chain it.
            etags[write.if_match] = result.etag
        return result

    # --- rollback ----------------------------------------------------------------------------

    def rollback(self, record_id: str, cause: Cause | None = None) -> RemediationRecord:
        """Applies the inverse of a recorded fix, conditionally, and records it (ROLLED_BACK).

        Refuses (raises RollbackRefused, writes nothing) when the record wrote nothing, is a
        rollback itself or was rolled back already, or when the resource changed since the fix
        in the paths it wrote."""
        from remediations.paths import value_at
        from remediations.plan import same
        from shared.arm_reader import ArmError
        from shared.arm_writer import PreconditionFailed

        cause = cause or Cause(kind="rollback")
        original = self.log.get(record_id)
        if original.rolls_back:
            raise RollbackRefused(f"{record_id} is itself a rollback (of {original.rolls_back})")
        if original.rolled_back_by:
            raise RollbackRefused(
                f"{record_id} was rolled back already by {original.rolled_back_by}"
            )
        if original.writes_applied == 0 or not original.after:
            raise RollbackRefused(f"{record_id} wrote nothing ({original.status.value})")
        remediation = self.registry.get(original.remediation_id)
        if remediation is None:
            raise RollbackRefused(f"unknown remediation {original.remediation_id!r}")
        if not remediation.reversible:
            raise RollbackRefused(f"{remediation.id} is not reversible")
        correlation = str(uuid.uuid4())
        progress = _Progress()
        for attempt in (1, 2):
            snapshot = self._snapshot(original.resource_id)
            if snapshot is None:
                raise RollbackRefused(f"{original.resource_id} no longer exists")
            changed = [p for p, v in original.after.items() if not same(value_at(snapshot, p), v)]
            if changed:
                raise RollbackRefused(
                    "the resource changed since the fix in the paths it wrote: "
                    + ", ".join(changed)
                )
            try:
                writes = remediation.restore(snapshot, original.before)
            except (ValueError, MalformedResource) as exc:
                raise RollbackRefused(f"cannot compute the inverse: {exc}") from exc
            try:
                for write in writes:
                    self._write(write, correlation, progress.etags)
                    progress.done.append(write)
                break
            except PreconditionFailed as exc:
                if attempt == 1 and not progress.done:
                    continue  # re-read and re-check once
                self._record_rollback(original, cause, correlation, progress, "FAILED", exc)
                raise RollbackRefused(
                    f"the resource changed while rolling back ({exc.code}); "
                    f"{len(progress.done)} of {len(writes)} writes applied"
                ) from exc
            except ArmError as exc:  # transient ones included: say what landed, then raise
                if not progress.done:
                    raise RollbackRefused(f"ARM refused the rollback: {exc}") from exc
                self._record_rollback(original, cause, correlation, progress, "FAILED", exc)
                raise
        return self._record_rollback(original, cause, correlation, progress, "ROLLED_BACK")

    def _record_rollback(
        self,
        original: RemediationRecord,
        cause: Cause,
        correlation: str,
        progress: _Progress,
        outcome: str,
        error: Exception | None = None,
    ) -> RemediationRecord:
        remediation = self.registry[original.remediation_id]
        restored = self._snapshot(original.resource_id)
        statuses: dict[str, str] = {}
        evaluation = None
        if restored is not None:
            evaluation = self.engine.evaluate(restored)
            statuses = {
                f.check_id: f.status.value
                for f in evaluation.findings
                if f.check_id in remediation.fixes
            }
        now = self.clock()
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
        stored = self.log.insert(record)
        if error is None:
            self.log.mark_rolled_back(original.id, stored.id)
        return replace(stored, evaluation_after=evaluation)

    # --- helpers -----------------------------------------------------------------------------

    def _resolve(self, target: Snapshot | str) -> Snapshot | None:
        if isinstance(target, Snapshot):
            phi = self.engine.phi_scope.is_phi(target)
            return target if target.phi == phi else replace(target, phi=phi)
        return self._snapshot(target)

    def _snapshot(self, resource_id: str) -> Snapshot | None:
        snapshot = self.reader.snapshot(resource_id, self.engine)
        if snapshot is None:
            return None
        return replace(snapshot, phi=self.engine.phi_scope.is_phi(snapshot))

    def _own_identity(self, cause: Cause) -> bool:
        own = self.settings.identity_app_id
        return bool(own and cause.caller_appid and cause.caller_appid.lower() == own.lower())

    def _exemption(
        self,
        remediation: Remediation,
        checks: tuple[str, ...],
        snapshot: Snapshot,
        now: datetime,
    ) -> tuple[Exemption | None, str]:
        targets = {remediation.id.lower(), *(c.lower() for c in checks)}
        candidates: list[Exemption] = []
        notes: list[str] = []
        try:
            tag = next((v for k, v in snapshot.tags.items() if str(k).lower() == EXEMPT_TAG), None)
        except Exception as exc:  # tags that are not an object: not honoured, never fatal
            tag = None
            notes.append(f"The tags could not be read ({type(exc).__name__}); no tag exemption.")
        if tag is not None:
            try:
                candidates += parse_exempt_tag(tag, snapshot.id)
            except Exception as exc:  # ExemptionError; anything else must not stop the rest
                reason = str(exc) if isinstance(exc, ExemptionError) else type(exc).__name__
                notes.append(f"The {EXEMPT_TAG} tag is not honoured: {reason}.")
        candidates += self.log.exemptions(snapshot.id)
        for exemption in candidates:
            if exemption.target.lower() not in targets:
                continue
            refusal = exemption_refusal(
                exemption,
                now,
                self.settings.exemption_max_days,
                self.settings.exemption_approvers,
            )
            if refusal is not None:
                notes.append(
                    f"The exemption of {exemption.target} ({exemption.source}) is not "
                    f"honoured: {refusal}."
                )
                continue
            if exemption.active(now):
                return exemption, ""
            until = exemption.expires_at.date().isoformat() if exemption.expires_at else "?"
            notes.append(
                f"The exemption of {exemption.target} ({exemption.source}, approved by "
                f"{exemption.approver}) expired {until} and no longer applies."
            )
        return None, " ".join(notes)

    def _new_record(
        self,
        remediation: Remediation,
        snapshot: Snapshot,
        checks: tuple[str, ...],
        mode: str,
        status: RecordStatus,
        reason: str,
        cause: Cause,
        plan: Plan | None,
        **extra: Any,
    ) -> RemediationRecord:
        now = self.clock()
        return RemediationRecord(
            id=new_record_id(now),
            remediation_id=remediation.id,
            resource_id=snapshot.id,
            check_ids=checks,
            mode=mode,
            status=status,
            reason=reason,
            cause=cause,
            created_at=now,
            updated_at=now,
            summary=plan.summary if plan else "",
            before=dict(plan.before) if plan else {},
            after=dict(plan.after) if plan else {},
            writes=plan.writes if plan else (),
            inverse=plan.inverse if plan else (),
            **extra,
        )


_MAX_TAG_CHARS = 512  # an Azure tag value holds at most 256 characters
_MAX_FIELD_CHARS = 256
_MAX_TARGETS = 20
_TARGET = re.compile(r"[a-z][a-z0-9_]{0,99}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class ExemptionError(ValueError):
    """A ``phiguard-exempt`` tag that is not honoured; the message says why."""


def remediation_options(settings: Settings) -> RemediationOptions:
    """The fixes' options from the app's settings (the catalog never reads settings itself)."""
    from remediations.registry import RemediationOptions

    return RemediationOptions(
        admin_cidrs=settings.remediation_admin_cidrs,
        nsg_strategy=settings.remediation_nsg_strategy,
        workspace_id=settings.remediation_workspace_id,
        archive_storage_id=settings.remediation_archive_storage_id,
    )


def parse_exempt_tag(value: object, resource_id: str) -> list[Exemption]:
    """``<id>[,<id>...];until=YYYY-MM-DD;approver=<who>;reason=<why>`` → exemptions ending at
    the end of the ``until`` day (UTC).

    Raises :class:`ExemptionError` (a ValueError) naming what is missing or wrong, for any
    input: a tag is written by whoever can tag the resource, so no value may raise anything
    else (a date whose next day does not exist, a huge or binary value, a duplicated field).
    """
    if not isinstance(value, str):
        raise ExemptionError(f"the value is {type(value).__name__}, not text")
    if len(value) > _MAX_TAG_CHARS:
        raise ExemptionError(f"the value is {len(value)} characters, more than a tag holds")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in value):
        raise ExemptionError("the value holds control, format or unassigned characters")
    parts = [p.strip() for p in value.split(";")]
    targets = [t.strip().lower() for t in parts[0].split(",") if t.strip()]
    if not targets:
        raise ExemptionError("no remediation or check id before the first ';'")
    if len(targets) > _MAX_TARGETS:
        raise ExemptionError(f"{len(targets)} ids; at most {_MAX_TARGETS}")
    bad = [t for t in targets if not _TARGET.fullmatch(t)]
    if bad:
        raise ExemptionError(f"{_shown(bad[0])} is not a remediation or check id")
    fields: dict[str, str] = {}
    for part in parts[1:]:
        key, sep, text = part.partition("=")
        name = key.strip().lower()
        if not sep:
            continue
        if name in fields:
            raise ExemptionError(f"{_shown(name)} is given twice")
        if len(text.strip()) > _MAX_FIELD_CHARS:
            raise ExemptionError(f"{name} is longer than {_MAX_FIELD_CHARS} characters")
        fields[name] = text.strip()
    missing = [k for k in ("until", "approver", "reason") if not fields.get(k)]
    if missing:
        raise ExemptionError(f"missing {', '.join(missing)}")
    raw_until = fields["until"]
    if not _ISO_DATE.fullmatch(raw_until):
        raise ExemptionError(f"until={_shown(raw_until)} is not YYYY-MM-DD")
    try:
        until = date.fromisoformat(raw_until)
        expires = datetime(until.year, until.month, until.day, tzinfo=UTC) + timedelta(days=1)
    except (ValueError, OverflowError):
        raise ExemptionError(
            f"until={_shown(raw_until)} is not a date phiguard can honour"
        ) from None
    return [
        Exemption(
            resource_id=resource_id,
            target=t,
            justification=fields["reason"],
            approver=fields["approver"],
            expires_at=expires,
            source="tag",
        )
        for t in targets
    ]


def exemption_refusal(
    exemption: Exemption, now: datetime, max_days: int, approvers: tuple[str, ...]
) -> str | None:
    """Why the exemption policy does not honour ``exemption``, or None when it does."""
    if exemption.expires_at is None:
        return "it has no expiry"
    try:
        too_far = exemption.expires_at - now > timedelta(days=max_days, hours=24)
    except (OverflowError, TypeError):
        too_far = True
    if too_far:
        return (
            f"it runs to {exemption.expires_at.date().isoformat()}, more than "
            f"PHIGUARD_EXEMPTION_MAX_DAYS={max_days} days ahead"
        )
    if exemption.source == "tag" and approvers and exemption.approver.lower() not in approvers:
        return (
            f"its approver {_shown(exemption.approver)} is not one of PHIGUARD_EXEMPTION_APPROVERS"
        )
    return None


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:59] + "…")


def _subscription(resource_id: str) -> str:
    from shared.kernel.resource_id import ResourceIdError, parse

    try:
        return str(parse(resource_id).subscription or "")
    except ResourceIdError:
        return ""
