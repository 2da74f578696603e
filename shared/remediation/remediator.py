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
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.kernel.changes import Cause
from shared.kernel.clock import utcnow as utcnow
from shared.kernel.findings import Status
from shared.kernel.snapshot import MalformedResource, Snapshot
from shared.remediation.exemptions import applicable_exemption
from shared.remediation.rollback import rollback
from shared.remediation.writes import Progress, write_conditionally
from shared.remediation_log import (
    RecordStatus,
    RemediationLog,
    RemediationRecord,
    new_record_id,
)

if TYPE_CHECKING:
    from remediations.plan import Plan, Write
    from remediations.registry import Mode, Remediation, RemediationOptions
    from shared.arm import ArmReader, ArmWriter
    from shared.config import Settings
    from shared.engine import Engine, Evaluation

logger = logging.getLogger("phiguard.remediation")

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Preview:
    """What ``phiguard plan`` shows for one remediation on one resource."""

    remediation_id: str
    resource_id: str
    mode: str
    allowed: bool
    plan: Plan | None
    error: str | None = None


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
        self._archive_location: str | None = None
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

    def plan_options(self, remediation: Remediation) -> RemediationOptions:
        """The fixes' options, with the archive account's region once the diagnostic-settings
        fix needs it: Azure refuses a storage destination in another region than the regional
        resource it logs, so the plan leaves the account out there. Read once (a Reader GET);
        unknown (not read, gone, or the read failed) plans as before and a refusal is
        recorded."""
        from remediations.monitoring import ID as MONITORING_ID

        options = self.options
        if (
            remediation.id != MONITORING_ID
            or not options.archive_storage_id
            or options.archive_storage_location is not None
        ):
            return options
        if self._archive_location is None:
            self._archive_location = self._read_location(options.archive_storage_id)
        if not self._archive_location:
            return options
        return replace(options, archive_storage_location=self._archive_location)

    def _read_location(self, resource_id: str) -> str | None:
        """The resource's ``location``; "" when it cannot be known (gone, refused, no
        location), None after a transient failure (read again at the next plan)."""
        from shared.arm import ArmError, TransientArmError

        read = getattr(self.reader, "resource", None)
        if read is None:  # a reader that reads snapshots only
            return ""
        try:
            found = read(resource_id)
        except TransientArmError:
            return None
        except (ArmError, ValueError) as exc:
            logger.info("archive storage account not read (%s): region unknown", type(exc).__name__)
            return ""
        location = found.get("location") if isinstance(found, Mapping) else None
        return location if isinstance(location, str) else ""

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
        out: list[Preview] = []
        for snapshot, remediation, _checks in self._fixes(target, evaluation):
            error: str | None = None
            try:
                plan = remediation.plan(snapshot, self.plan_options(remediation))
            except (ValueError, MalformedResource) as exc:
                plan, error = None, str(exc)
            if plan is not None or error is not None:
                mode, allowed = self.mode_for(remediation), self.allowed(remediation)
                out.append(Preview(remediation.id, snapshot.id, mode, allowed, plan, error))
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
        return self._act_all(target, evaluation, cause, enforced_only=False)

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
        return self._act_all(target, evaluation, cause, enforced_only=True)

    def may_catch_up(self, resource_type: str, phi: bool) -> bool:
        """Whether :meth:`catch_up` could write anything for a resource of this type and PHI
        scope: some fix of it is in enforce mode and on the allow-list. When not, a sweep need
        not judge an unchanged resource again to learn which of its failures to fix."""
        return any(
            r.applies_to(resource_type)
            and (phi or not r.phi_only)
            and self.mode_for(r) == "enforce"
            and self.allowed(r)
            for r in self.registry.values()
        )

    def _act_all(
        self,
        target: Snapshot | str,
        evaluation: Evaluation | None,
        cause: Cause | None,
        *,
        enforced_only: bool,
    ) -> list[RemediationRecord]:
        cause = cause or Cause(kind="cli")
        records: list[RemediationRecord] = []
        for snapshot, remediation, checks in self._fixes(target, evaluation):
            if enforced_only and (
                self.mode_for(remediation) != "enforce" or not self.allowed(remediation)
            ):
                continue
            record = self._act_one(remediation, snapshot, checks, cause)
            if record is not None:
                records.append(record)
        return records

    def _fixes(
        self, target: Snapshot | str, evaluation: Evaluation | None
    ) -> list[tuple[Snapshot, Remediation, tuple[str, ...]]]:
        """The resource (read when ``target`` is an id) and the fixes of its FAIL findings;
        nothing when the resource is gone."""
        snapshot = self._resolve(target)
        if snapshot is None:
            return []
        evaluation = evaluation or self.engine.evaluate(snapshot)
        return [(snapshot, r, c) for r, c in self._fixes_for_failures(snapshot, evaluation)]

    def _fixes_for_failures(
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
        may_write = mode == "enforce" and self.allowed(remediation)
        # Read only where something may be written: dry-run and not-allowed write nothing, so
        # they have no loop to guard, and on the event path this saves a query per failure.
        recent = self.log.recent(now - window, resource_id=snapshot.id) if may_write else []
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
            plan = remediation.plan(snapshot, self.plan_options(remediation))
        except (ValueError, MalformedResource) as exc:
            return self.log.insert(record(RecordStatus.FAILED, f"Cannot plan: {exc}"))
        except Exception as exc:  # a planner bug on a hostile document: say so, write nothing
            return self.log.insert(
                record(RecordStatus.FAILED, f"Cannot plan ({type(exc).__name__}).")
            )
        if plan is None:
            return None
        exemption, note = applicable_exemption(
            {remediation.id.lower(), *(c.lower() for c in checks)},
            snapshot,
            self.log.exemptions(snapshot.id),
            now,
            max_days=self.settings.exemption_max_days,
            approvers=self.settings.exemption_approvers,
        )
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
        earlier_fixes = [
            r
            for r in recent
            if r.remediation_id == remediation.id and r.writes_applied > 0 and not r.rolls_back
        ]
        limit = self.settings.remediation_flap_limit
        if len(earlier_fixes) >= limit:
            return self.log.insert(
                record(
                    RecordStatus.ESCALATED,
                    f"Flapping: fixed {len(earlier_fixes)} times since "
                    f"{earlier_fixes[0].created_at:%Y-%m-%d %H:%M} "
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
        from shared.arm import ArmError, PreconditionFailed, TransientArmError

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
        progress = Progress()
        current: Plan | None = plan
        conflicts = 0
        failure: str | None = None
        while current is not None:
            try:
                for write in current.writes:
                    write_conditionally(self.writer, write, correlation, progress.etags)
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
                fresh = self.read_snapshot(snapshot.id)
                if fresh is None:
                    failure = "The resource was deleted while it was being fixed."
                    break
                snapshot = fresh
                try:
                    current = remediation.plan(snapshot, self.plan_options(remediation))
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
            reread = self.read_snapshot(snapshot.id)
        except TransientArmError as exc:
            reason = f"Written, not verified: the re-read failed ({exc})."
            self._finish(record, RecordStatus.APPLIED, reason + note, progress, cause)
            raise
        if reread is None:
            reason = "Written, not verified: the resource is gone on re-read."
            return self._finish(record, RecordStatus.APPLIED, reason + note, progress, cause)
        evaluation = self.engine.evaluate(reread)
        statuses = {
            f.check_id: f.status.value
            for f in evaluation.findings
            if f.check_id in remediation.fixes
        }
        unverified = [c for c in checks if statuses.get(c) != Status.PASS]
        if failure is not None:
            status, reason = RecordStatus.FAILED, f"Partly written; {failure}"
        elif unverified:
            shown = ", ".join(f"{c}={statuses.get(c, 'not assessed')}" for c in unverified)
            status, reason = RecordStatus.FAILED, f"Written, but not verified: {shown}."
        else:
            retried = " after a concurrent change (412: re-read, re-planned)" if conflicts else ""
            status, reason = RecordStatus.VERIFIED, f"Written{retried} and verified."
        inverse: tuple[Write, ...] = ()
        if remediation.reversible:
            try:  # what a rollback would write now, against the document as it is after the fix
                inverse = tuple(remediation.restore(reread, progress.before))
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
        progress: Progress,
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

    # --- rollback ----------------------------------------------------------------------------

    def rollback(self, record_id: str, cause: Cause | None = None) -> RemediationRecord:
        """Applies the inverse of a recorded fix, conditionally, and records it (ROLLED_BACK);
        raises :class:`~shared.remediation.rollback.RollbackRefused` when it may not."""
        return rollback(self, record_id, cause)

    # --- helpers -----------------------------------------------------------------------------

    def _resolve(self, target: Snapshot | str) -> Snapshot | None:
        if isinstance(target, Snapshot):
            phi = self.engine.phi_scope.is_phi(target)
            return target if target.phi == phi else replace(target, phi=phi)
        return self.read_snapshot(target)

    def read_snapshot(self, resource_id: str) -> Snapshot | None:
        """The resource read through ARM with its PHI scope resolved; None when it is gone."""
        snapshot = self.reader.snapshot(resource_id, self.engine)
        if snapshot is None:
            return None
        return replace(snapshot, phi=self.engine.phi_scope.is_phi(snapshot))

    def _own_identity(self, cause: Cause) -> bool:
        own = self.settings.identity_app_id
        return bool(own and cause.caller_appid and cause.caller_appid.lower() == own.lower())

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


def remediation_options(settings: Settings) -> RemediationOptions:
    """The fixes' options from the app's settings (the catalog never reads settings itself)."""
    from remediations.registry import RemediationOptions

    return RemediationOptions(
        admin_cidrs=settings.remediation_admin_cidrs,
        nsg_strategy=settings.remediation_nsg_strategy,
        workspace_id=settings.remediation_workspace_id,
        archive_storage_id=settings.remediation_archive_storage_id,
    )


def _subscription(resource_id: str) -> str:
    from shared.kernel.resource_id import ResourceIdError, parse

    try:
        return str(parse(resource_id).subscription or "")
    except ResourceIdError:
        return ""
