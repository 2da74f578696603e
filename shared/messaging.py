"""The people side's operations, shared by the timers (``shared.api``) and the CLI: send what the
outbox holds, the digest, a test message, and the issue reconciliation (``issues sync``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from shared.kernel.findings import Status

if TYPE_CHECKING:
    from shared.context import AppContext
    from shared.outbox.dispatcher import DispatchReport
    from shared.outbox.model import Channel

log = logging.getLogger("phiguard.messaging")

# A failure this young is still in its own follow-up (fix, issue): sync leaves it alone.
SYNC_GRACE = timedelta(minutes=10)


def dispatch(ctx: AppContext, now: datetime | None = None) -> DispatchReport:
    """One dispatcher pass over the outbox; purges items sent before the retention."""
    report = ctx.dispatcher.run_once(now)
    retention = timedelta(days=ctx.notify_settings.outbox_retention_days)
    ctx.outbox.purge_sent((now or datetime.now(UTC)) - retention)
    if report.dead:
        log.warning("outbox: %d item(s) dead-lettered; see `phiguard outbox --dead`", report.dead)
    return report


def enqueue_digest(ctx: AppContext, now: datetime | None = None) -> int:
    """The digest of the period ending at this hour, enqueued to every notification channel;
    0 when the period was quiet or no channel is configured."""
    from shared.followup import FollowUpCounts, digest_notice

    followups = ctx.followups
    if followups is None or not ctx.notifiers:
        return 0
    end = (now or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = ctx.notify_settings.digest_hours
    days = hours // 24 + 2
    notice = digest_notice(
        ctx.store.current(status=Status.FAIL.value),
        ctx.remediation_log.records(days=days, limit=100_000),
        period_end=end,
        hours=hours,
    )
    if notice is None:
        return 0
    counts = FollowUpCounts()
    followups.notify(notice, counts)
    return counts.notices


def enqueue_test(
    ctx: AppContext, channels: tuple[Channel, ...] = (), note: str = ""
) -> dict[Channel, str]:
    """A test message on each configured notification channel (or ``channels``): the outbox
    key of each one enqueued (a test message is keyed by the second it was made)."""
    from shared.notify.model import TestMessage, outbox_item

    notice = TestMessage(datetime.now(UTC), note)
    out: dict[Channel, str] = {}
    for channel, notifier in ctx.notifiers.items():
        if channels and channel not in channels:
            continue
        item = outbox_item(notifier, notice)
        if ctx.outbox.enqueue(item):
            out[channel] = item.key
    return out


@dataclass
class SyncReport:
    opened: int = 0  # open operations enqueued (create, or reopen of a closed issue)
    closed: int = 0
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)  # why some rows were left alone


def sync_issues(ctx: AppContext, now: datetime | None = None) -> SyncReport:
    """Reconciles the trackers with the current state, both ways: every failing finding on a
    routed resource has an open issue (unless an approved table exemption covers it), every
    issue the ledger lists as open whose finding no longer fails is closed. Operations go
    through the outbox under the same guards as the pipeline's."""
    from shared.followup import FollowUpCounts
    from shared.issues.model import Fingerprint

    report = SyncReport()
    followups, trackers = ctx.followups, ctx.trackers
    if followups is None or trackers is None:
        report.skipped.append("no issue routes configured (PHIGUARD_ISSUES_ROUTES)")
        return report
    now = now or datetime.now(UTC)
    ledger = ctx.issue_ledger
    failing = {}
    for row in ctx.store.current(status=Status.FAIL.value):
        failing[Fingerprint.of(row.resource_id, row.check_id).value] = row
    open_entries = {e.fingerprint.value: e for e in ledger.entries("open")}
    counts = FollowUpCounts()
    for value, row in failing.items():
        if trackers.route(row.resource_id) is None:
            continue
        first = row.first_failed_at or row.last_changed_at
        if now - first < SYNC_GRACE:
            report.skipped.append(f"{row.check_id} on {row.resource_id}: failing for minutes")
            continue
        exemption = _table_exemption(ctx, row.resource_id, row.check_id, now)
        if exemption is not None:
            if value in open_entries:
                before = counts.issues
                followups.close_issue(
                    row.resource_id,
                    row.check_id,
                    "exempt",
                    now,
                    counts,
                    text=f"An approved exemption covers this check until {exemption}: "
                    "closing as not planned (phiguard issues sync).",
                )
                report.closed += counts.issues - before
            continue
        if value in open_entries:
            report.unchanged += 1
            continue
        before = counts.issues
        followups.open_issue(row, None, first, None, counts)  # type: ignore[arg-type]
        report.opened += counts.issues - before
    muted = {
        Fingerprint.of(r.resource_id, r.check_id).value
        for r in (ctx.store.current(status=Status.MUTED.value) if open_entries else ())
    }
    for value, entry in open_entries.items():
        if value in failing:
            continue
        before = counts.issues
        if value in muted:  # an accepted risk: not planned, not completed
            followups.close_issue(
                entry.resource_id,
                entry.check_id,
                "muted",
                now,
                counts,
                text="phiguard issues sync: a mute rule covers this failure (an accepted "
                "risk). Closing as not planned; the finding is still recorded as MUTED.",
            )
            report.closed += counts.issues - before
            continue
        followups.close_issue(
            entry.resource_id,
            entry.check_id,
            "passed",
            now,
            counts,
            text="phiguard issues sync: the check no longer fails (it passes, no longer "
            "applies, or the resource is gone). Closing.",
        )
        report.closed += counts.issues - before
    return report


def _table_exemption(ctx: AppContext, resource_id: str, check_id: str, now: datetime) -> str | None:
    """The expiry date of an honoured, active table exemption of the check (tag exemptions need
    the resource's tags: the next event or sweep applies them)."""
    from shared.kernel.snapshot import Snapshot
    from shared.remediation.exemptions import applicable_exemption

    settings = ctx.settings
    exemption, _ = applicable_exemption(
        {check_id.lower()},
        Snapshot({"id": resource_id}),  # no tags here: only the table's exemptions count
        ctx.remediation_log.exemptions(resource_id),
        now,
        max_days=settings.exemption_max_days,
        approvers=settings.exemption_approvers,
    )
    if exemption is None:
        return None
    return exemption.expires_at.date().isoformat() if exemption.expires_at else "?"
