"""Operator commands that act on the tenant or the exemptions: what ``phiguard remediate`` and
``phiguard exempt`` do, free of argument parsing and printing so tests drive them directly."""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.kernel.changes import Cause
from shared.kernel.resource_id import ResourceIdError, canonical
from shared.remediation.exemptions import ExemptionError, exemption_refusal, expiry_of
from shared.remediation_log import Exemption

if TYPE_CHECKING:
    from shared.context import AppContext
    from shared.remediation_log import RemediationRecord


def operator_identity() -> str:
    """Who runs the CLI, for the records it writes: ``PHIGUARD_OPERATOR`` when set (a UPN),
    else the login name and host."""
    named = os.environ.get("PHIGUARD_OPERATOR", "").strip()
    if named:
        return named[:256]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"[:256]


def resource_argument(value: str, flag: str = "resource id") -> str:
    """A resource id given on the command line, canonical; ValueError naming what is wrong."""
    try:
        return canonical(value)
    except ResourceIdError as exc:
        raise ValueError(f"{flag}: {exc}") from None


@dataclass
class RemediateReport:
    resources: list[str] = field(default_factory=list)
    records: list[RemediationRecord] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # "<id>: <why>"


def failing_resources(ctx: AppContext, subscriptions: list[str]) -> list[str]:
    """The resources the store has failing in these subscriptions (sweeps and events)."""
    prefixes = tuple(f"/subscriptions/{s.strip().lower()}/" for s in subscriptions)
    rows = ctx.store.current(status="FAIL")
    return sorted({r.resource_id for r in rows if r.resource_id.lower().startswith(prefixes)})


def remediate(ctx: AppContext, resource_ids: list[str]) -> RemediateReport:
    """Plans and, where allowed, applies the safe fixes of resources already failing: each is
    read live and goes through every gate of the remediator (mode, allow-list, PHI scope,
    exemptions, flap guard, hourly cap, If-Match, verification); a verified re-read is
    recorded as state. One resource that cannot be read or fixed does not stop the others."""
    from shared.actions import PostRecordActions
    from shared.arm import ArmError, TransientArmError

    actions = PostRecordActions(ctx.engine, ctx.store, ctx.remediator)
    report = RemediateReport(resources=list(resource_ids))
    cause = Cause(kind="cli", event_time=datetime.now(UTC))
    for resource_id in resource_ids:
        try:
            snapshot = ctx.remediator.read_snapshot(resource_id)
            if snapshot is None:
                report.unreadable.append(f"{resource_id}: not found through ARM")
                continue
            report.records += actions.record_fixes(ctx.remediator.act(snapshot, cause=cause))
        except (ArmError, TransientArmError) as exc:
            report.unreadable.append(f"{resource_id}: {exc}")
    return report


def add_exemption(
    ctx: AppContext,
    resource_id: str,
    targets: list[str],
    until: str,
    approver: str,
    reason: str,
    *,
    now: datetime | None = None,
) -> list[Exemption]:
    """Table exemptions of ``targets`` (remediation or check ids) on one resource, recorded with
    the operator's identity, under the same policy as tag exemptions (a real date, at most
    ``PHIGUARD_EXEMPTION_MAX_DAYS`` ahead). Raises ExemptionError naming what is wrong."""
    from checks import CATALOG
    from remediations import REMEDIATIONS

    now = now or datetime.now(UTC)
    canonical_id = resource_argument(resource_id)
    known = set(CATALOG) | set(REMEDIATIONS)
    unknown = [t for t in targets if t not in known]
    if unknown:
        raise ExemptionError(f"{unknown[0]!r} is neither a check nor a remediation id")
    if not approver.strip() or not reason.strip():
        raise ExemptionError("an exemption needs an approver and a reason")
    if len(approver.strip()) > 256 or len(reason.strip()) > 1000:
        raise ExemptionError("--approver is at most 256 characters, --reason at most 1,000")
    expires = expiry_of(until, "--until ")
    if expires <= now:
        raise ExemptionError(f"--until {until} is in the past")
    operator = operator_identity()
    exemptions = [
        Exemption(
            resource_id=canonical_id,
            target=t,
            justification=reason.strip(),
            approver=approver.strip(),
            expires_at=expires,
            source="table",
            created_at=now,
            created_by=operator,
        )
        for t in targets
    ]
    settings = ctx.settings
    for exemption in exemptions:
        refusal = exemption_refusal(
            exemption, now, settings.exemption_max_days, settings.exemption_approvers
        )
        if refusal is not None:
            raise ExemptionError(f"not recorded: {refusal}")
    for exemption in exemptions:
        ctx.remediator.log.add_exemption(exemption)
    return exemptions
