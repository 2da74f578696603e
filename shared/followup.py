"""Who is told, and which issue moves, after a resource's state is recorded: the outbox side.

Nothing here talks to GitHub, Azure DevOps, Teams or a mail server: every operation becomes an
outbox item (``shared.outbox``) keyed for idempotency, rendered and checked by the PHI / secret
guard when enqueued, and sent by the dispatcher timer. What is enqueued:

Issues (when ``PHIGUARD_ISSUES_ROUTES`` routes the resource)
    * **open** for a new FAIL that phiguard does not fix: no safe fix exists (ACTION_REQUIRED),
      or its fix was only planned (dry-run, not allowed), failed, or was escalated (flap guard,
      hourly cap). A closed issue of the same fingerprint is reopened; an open one gets a comment.
    * **comment** when a failing check's severity or evidence changes.
    * **close** when the check passes (completed), the resource is deleted, the check no longer
      applies, or an approved exemption or a mute rule covers it (not planned).
Notices (Teams card, email)
    * at once: a new CRITICAL / HIGH failure on a PHI resource that phiguard does not fix; a fix
      applied (with the diff and the rollback command); an escalation (a fix held back or failed);
    * the rest in the digest (:func:`digest_notice`).

Closes and comments are enqueued only for a fingerprint the issue ledger lists as open, so the
many FAIL → PASS transitions that are phiguard's own verified fixes cost no tracker call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from shared.issues.model import Fingerprint
from shared.kernel.findings import Status

if TYPE_CHECKING:
    from checks import Check
    from shared.engine import Evaluation
    from shared.issues.ledger import TableIssueLedger
    from shared.issues.model import IssueContent
    from shared.issues.sender import CloseWhy, Operation
    from shared.issues.settings import Trackers
    from shared.kernel.findings import Finding
    from shared.kernel.snapshot import Snapshot
    from shared.notify.model import Notice, Notifier
    from shared.notify.routing import Routing
    from shared.outbox.model import Channel, Kind, OutboxItem
    from shared.remediation_log import RemediationRecord
    from shared.state.model import RecordOutcome, StoredFinding

log = logging.getLogger("phiguard.followup")

FIXED = frozenset({"VERIFIED", "APPLIED"})
ESCALATE = frozenset({"ESCALATED", "FAILED"})
_CLOSE_WHY: dict[str, CloseWhy] = {
    Status.PASS.value: "passed",
    "RESOURCE_DELETED": "deleted",
    "CLOSED": "not_applicable",
    Status.NOT_APPLICABLE.value: "not_applicable",
    Status.MUTED.value: "muted",  # an accepted risk: closed as not planned
}


class Enqueues(Protocol):
    def enqueue(self, item: OutboxItem) -> bool: ...

    def created_since(self, channel: Channel, kind: Kind, since: datetime) -> int: ...


# A burst of new failures (a first sweep, a broken template deployed everywhere) would be a
# flood of cards: past this many in an hour, per channel, new failures wait for the digest.
DEFAULT_IMMEDIATE_PER_HOUR = 20
_BURST_RECHECK = timedelta(seconds=60)


@dataclass
class FollowUpCounts:
    issues: int = 0
    notices: int = 0
    skipped: int = 0  # a payload the guard refused, or a notice nobody is routed to
    deferred: int = 0  # new failures over the hourly burst limit: told in the digest

    def add(self, other: FollowUpCounts) -> None:
        self.issues += other.issues
        self.notices += other.notices
        self.skipped += other.skipped
        self.deferred += other.deferred


def _tags(snapshot: Snapshot | None) -> Mapping[str, Any]:
    tags = snapshot.resource.get("tags") if snapshot is not None else None
    return tags if isinstance(tags, Mapping) else {}


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


@dataclass
class FollowUps:
    catalog: Mapping[str, Check]
    outbox: Enqueues
    notifiers: Mapping[Channel, Notifier] = field(default_factory=dict)
    trackers: Trackers | None = None
    ledger: TableIssueLedger | None = None
    routing: Routing | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    secrets: tuple[str, ...] = field(default=(), repr=False)
    immediate_per_hour: int = DEFAULT_IMMEDIATE_PER_HOUR
    _burst: dict[Channel, tuple[datetime, int]] = field(default_factory=dict, repr=False)

    # -- issues ----------------------------------------------------------------------------

    def _target(self, resource_id: str) -> str | None:
        if self.trackers is None:
            return None
        route = self.trackers.route(resource_id)
        return route.target if route is not None else None

    def _has_open_issue(self, fingerprint: Fingerprint) -> bool:
        if self.ledger is None:
            return True  # unknown: let the sender ask the tracker
        entry = self.ledger.get(fingerprint)
        return entry is not None and entry.state == "open"

    def _enqueue(self, item: OutboxItem, counts: FollowUpCounts, issue: bool) -> None:
        from shared.outbox.model import PayloadTooLarge

        try:
            enqueued = self.outbox.enqueue(item)
        except PayloadTooLarge as exc:
            # Never a follow-up that fails on every event: the operation is lost and said so.
            log.error("%s %s not enqueued: %s", item.channel, item.kind, exc)
            counts.skipped += 1
            return
        if enqueued:
            if issue:
                counts.issues += 1
            else:
                counts.notices += 1

    def open_issue(
        self,
        finding: Finding,
        snapshot: Snapshot | None,
        first_failed_at: datetime,
        remediation: RemediationRecord | None,
        counts: FollowUpCounts,
    ) -> None:
        from dataclasses import replace

        from shared.issues.render import htm, md, render_issue

        addressed = self._addressed(finding.resource_id, finding.check_id, open_only=False)
        if addressed is None:
            return
        target, fingerprint = addressed
        settings = self.trackers.settings if self.trackers else None
        owner_tag = settings.owner_tag if settings else "owner"
        content = render_issue(
            finding,
            self.catalog.get(finding.check_id),
            fingerprint,
            tags=_tags(snapshot),
            owner_tag=owner_tag,
            finding_url=settings.finding_url(finding.resource_id) if settings else None,
        )
        state = _remediation_state(remediation)
        if state:
            # Placed before "How to exempt": what phiguard did decides what the reader does.
            content = replace(
                content,
                body=content.body.replace(
                    "### How to exempt",
                    f"### Automatic fix\n\n{md(state, 600)}\n\n### How to exempt",
                    1,
                ),
                body_html=content.body_html.replace(
                    "<h3>How to exempt</h3>",
                    f"<h3>Automatic fix</h3><p>{htm(state, 600)}</p><h3>How to exempt</h3>",
                    1,
                ),
            )
        if not self._guarded(content, finding, snapshot, owner_tag, counts):
            return
        text = f"Failing again (first failed {first_failed_at:%Y-%m-%d %H:%M} UTC)." + (
            f" {state}" if state else ""
        )

        def item(body: IssueContent) -> OutboxItem:
            return self._issue_item(
                "open",
                target,
                fingerprint,
                finding.resource_id,
                finding.check_id,
                first_failed_at,
                _iso(first_failed_at),
                text=text,
                content=body,
            )

        self._enqueue(_fitting(item, content, fingerprint), counts, issue=True)

    def _addressed(
        self, resource_id: str, check_id: str, *, open_only: bool
    ) -> tuple[str, Fingerprint] | None:
        """The tracker target and fingerprint of a finding's issue; None when no route holds
        the resource or (``open_only``) the ledger knows no open issue of it."""
        target = self._target(resource_id)
        if target is None:
            return None
        fingerprint = Fingerprint.of(resource_id, check_id)
        if open_only and not self._has_open_issue(fingerprint):
            return None
        return target, fingerprint

    def _issue_item(
        self,
        op: Operation,
        target: str,
        fingerprint: Fingerprint,
        resource_id: str,
        check_id: str,
        as_of: datetime,
        key_suffix: str,
        *,
        text: str,
        content: IssueContent | None = None,
        why: CloseWhy | None = None,
    ) -> OutboxItem:
        from shared.issues.sender import issue_item

        return issue_item(
            op,
            target=target,
            fingerprint=fingerprint,
            resource_id=resource_id,
            check_id=check_id,
            as_of=as_of,
            key_suffix=key_suffix,
            content=content,
            text=text,
            why=why,
            now=self.clock(),
        )

    def _guarded(
        self,
        content: IssueContent,
        finding: Finding,
        snapshot: Snapshot | None,
        owner_tag: str,
        counts: FollowUpCounts,
    ) -> bool:
        """False (and logged by kind) when the issue would carry a secret or a tag value other
        than the owner's: it is not opened."""
        from shared.issues.render import PhiLeak, assert_no_phi_or_secret
        from shared.notify.model import ResourceRef, sensitive_values

        ref = ResourceRef.of(finding.resource_id, finding.resource_type, phi=finding.phi)
        forbidden = sensitive_values(
            tags=_tags(snapshot),
            keep_tag=owner_tag,
            metadata=[*ref.metadata(), finding.check_id, finding.title, *finding.hipaa],
        )
        try:
            assert_no_phi_or_secret(content, secrets=self.secrets, forbidden=forbidden)
        except PhiLeak as exc:
            log.error("issue for %s not opened: %s", finding.check_id, exc)
            counts.skipped += 1
            return False
        return True

    def close_issue(
        self,
        resource_id: str,
        check_id: str,
        why: CloseWhy,
        at: datetime,
        counts: FollowUpCounts,
        *,
        text: str = "",
    ) -> None:
        addressed = self._addressed(resource_id, check_id, open_only=True)
        if addressed is None:
            return
        item = self._issue_item(
            "close",
            *addressed,
            resource_id,
            check_id,
            at,
            _iso(at),
            text=text or _close_text(why, at),
            why=why,
        )
        self._enqueue(item, counts, issue=True)

    def comment_issue(self, finding: Finding, at: datetime, counts: FollowUpCounts) -> None:
        from shared.issues.render import md

        addressed = self._addressed(finding.resource_id, finding.check_id, open_only=True)
        if addressed is None:
            return
        severity = getattr(finding.severity, "value", finding.severity)
        text = (
            f"Still failing, and what phiguard sees changed at {at:%Y-%m-%d %H:%M} UTC: "
            f"severity {severity}; {md(finding.reason, 600)}"
        )
        # At most one comment an hour per issue: a check whose evidence moves on every read
        # must not flood its issue.
        item = self._issue_item(
            "comment",
            *addressed,
            finding.resource_id,
            finding.check_id,
            at,
            f"{at.astimezone(UTC):%Y%m%dT%H}",
            text=text,
        )
        self._enqueue(item, counts, issue=True)

    # -- notices ---------------------------------------------------------------------------

    def notify(self, notice: Notice, counts: FollowUpCounts) -> None:
        from shared.notify.email import NoRecipients
        from shared.notify.guard import PayloadLeak
        from shared.notify.model import outbox_item
        from shared.notify.teams import MessageTooLarge

        for channel, notifier in self.notifiers.items():
            if notice.kind == "new_failure" and self._over_burst(channel):
                counts.deferred += 1
                continue
            try:
                item = outbox_item(notifier, notice, self.clock())
            except NoRecipients:
                counts.skipped += 1
                continue
            except PayloadLeak as exc:
                # Never sent: a rendered payload held a tag value, evidence or a secret.
                log.error("%s %s notice not sent: %s", channel, notice.kind, exc)
                counts.skipped += 1
                continue
            except MessageTooLarge as exc:
                # Teams refuses a message over 28 KB; the other channels still carry the notice.
                log.error("%s %s notice not sent: %s", channel, notice.kind, exc)
                counts.skipped += 1
                continue
            self._enqueue(item, counts, issue=False)

    def _over_burst(self, channel: Channel) -> bool:
        """True when ``channel`` already had ``immediate_per_hour`` new-failure notices in the
        last hour (counted in the outbox, so across workers; re-read once a minute)."""
        from shared.outbox.model import Kind

        now = self.clock()
        checked = self._burst.get(channel)
        if checked is None or now - checked[0] >= _BURST_RECHECK:
            count = self.outbox.created_since(channel, Kind.NEW_FAILURE, now - timedelta(hours=1))
            checked = (now, count)
        if checked[1] >= self.immediate_per_hour:
            self._burst[channel] = checked
            return True
        self._burst[channel] = (checked[0], checked[1] + 1)
        return False

    def _owner(self, snapshot: Snapshot | None) -> tuple[str, str]:
        if self.routing is None:
            return "", ""
        return self.routing.owner_of(_tags(snapshot)), self.routing.owner_tag

    # -- the hooks -------------------------------------------------------------------------

    def failures(
        self,
        snapshot: Snapshot,
        evaluation: Evaluation,
        checks: Iterable[str],
        records: Iterable[RemediationRecord],
        stored: Mapping[str, StoredFinding],
    ) -> FollowUpCounts:
        """New failures ``checks`` and what the follow-up did about them (``records``)."""
        from shared.notify.model import new_failure, should_notify

        counts = FollowUpCounts()
        by_check: dict[str, RemediationRecord] = {}
        done = list(records)
        for fix in done:
            for check_id in fix.check_ids:
                by_check[check_id] = fix
        findings = {f.check_id: f for f in evaluation.findings}
        now = self.clock()
        for check_id in checks:
            finding = findings.get(check_id)
            if finding is None or finding.status != Status.FAIL:
                continue
            record = by_check.get(check_id)
            status = str(record.status) if record is not None else ""
            row = stored.get(check_id)
            first = (row.first_failed_at if row is not None else None) or now
            if status == "EXEMPT":
                self.close_issue(
                    finding.resource_id, check_id, "exempt", now, counts, text=_exempt_text(record)
                )
                continue
            if status in FIXED:
                continue
            self.open_issue(finding, snapshot, first, record, counts)
            if should_notify(finding):
                owner, owner_tag = self._owner(snapshot)
                self.notify(
                    new_failure(
                        finding,
                        detected_at=first,
                        tags=_tags(snapshot),
                        owner=owner,
                        owner_tag=owner_tag,
                    ),
                    counts,
                )
        counts.add(self.fixes(snapshot, done, phi=evaluation.phi, close_exempt=False))
        return counts

    def fixes(
        self,
        snapshot: Snapshot | None,
        records: Iterable[RemediationRecord],
        *,
        phi: bool,
        close_exempt: bool = True,
    ) -> FollowUpCounts:
        """Fix-applied and escalation notices for remediation records; with ``close_exempt``,
        an exemption record closes its checks' issues (:meth:`failures` closes its own)."""
        from shared.notify.model import escalation, fix_applied

        counts = FollowUpCounts()
        rtype = str(snapshot.resource.get("type", "")) if snapshot is not None else ""
        owner, owner_tag = self._owner(snapshot)
        options: dict[str, Any] = {
            "phi": phi,
            "resource_type": rtype,
            "tags": _tags(snapshot),
            "owner": owner,
            "owner_tag": owner_tag,
        }
        for record in records:
            status = str(record.status)
            if status in FIXED:
                self.notify(fix_applied(record, **options), counts)
            elif status in ESCALATE:
                self.notify(escalation(record, **options), counts)
            elif status == "EXEMPT" and close_exempt:
                for check_id in record.check_ids:
                    self.close_issue(
                        record.resource_id,
                        check_id,
                        "exempt",
                        record.updated_at,
                        counts,
                        text=_exempt_text(record),
                    )
        return counts

    def transitions(
        self, resource_id: str, evaluation: Evaluation | None, outcome: RecordOutcome
    ) -> FollowUpCounts:
        """Closes the issues of checks that stopped failing; comments on failing checks whose
        severity or evidence changed."""
        counts = FollowUpCounts()
        if self.trackers is None or outcome.outcome != "changed":
            return counts
        moved = set()
        for t in outcome.transitions:
            moved.add(t.check_id)
            why = _CLOSE_WHY.get(t.to_status)
            if t.from_status == Status.FAIL.value and why is not None:
                self.close_issue(t.resource_id, t.check_id, why, t.at, counts)
        if evaluation is not None:
            findings = {f.check_id: f for f in evaluation.findings}
            for check_id in outcome.changed_checks:
                finding = findings.get(check_id)
                if check_id in moved or finding is None or finding.status != Status.FAIL:
                    continue
                self.comment_issue(finding, self.clock(), counts)
        return counts


# What one outbox row holds (the payload is one table property of at most 32,000 UTF-16 units),
# with room for the rest of the item.
_PAYLOAD_UNITS = 30_000


def _units(item: OutboxItem) -> int:
    return len(item.payload_json().encode("utf-16-le", "surrogatepass")) // 2


def _fitting(
    make: Callable[[IssueContent], OutboxItem], content: IssueContent, fingerprint: Fingerprint
) -> OutboxItem:
    """The item of ``content``, made to fit one outbox row: evidence full of characters that
    escaping multiplies (``&`` is five in HTML) must not leave a failure without its issue, nor
    its follow-up failing forever. First the HTML body goes (Azure DevOps renders the Markdown
    then), then the Markdown is cut, keeping the fingerprint marker."""
    from dataclasses import replace

    item = make(content)
    if _units(item) <= _PAYLOAD_UNITS:
        return item
    content = replace(content, body_html="")
    item = make(content)
    if _units(item) <= _PAYLOAD_UNITS:
        return item
    marker = (
        "\n\n… (cut to fit; `phiguard status --resource` shows the rest)"
        f"\n\n<!-- {fingerprint.marker} -->\n"
    )
    keep = len(content.body)
    while _units(item) > _PAYLOAD_UNITS and keep > 0:
        keep = keep * 2 // 3
        item = make(replace(content, body=content.body[:keep] + marker))
    return item


def _remediation_state(record: RemediationRecord | None) -> str:
    if record is None:
        return ""
    status = str(record.status)
    if status == "ACTION_REQUIRED":
        return "No safe automatic fix exists for this check: a person must fix it."
    if status == "PLANNED":
        return (
            f"phiguard planned the fix {record.remediation_id} but did not apply it "
            f"(dry-run, or not on the allow-list): {record.reason.rstrip('.')}. "
            f"Record {record.id}."
        )
    if status == "FAILED":
        return f"phiguard's fix {record.remediation_id} failed: {record.reason.rstrip('.')}. Record {record.id}."
    if status == "ESCALATED":
        return (
            f"phiguard held its fix {record.remediation_id} back on purpose: {record.reason.rstrip('.')}. "
            f"Record {record.id}."
        )
    return f"Fix {record.remediation_id}: {status}. Record {record.id}."


def _close_text(why: str, at: datetime) -> str:
    when = f"{at:%Y-%m-%d %H:%M} UTC"
    return {
        "passed": f"phiguard re-read the resource at {when}: the check passes now. Closing.",
        "deleted": f"The resource was deleted (seen at {when}). Closing.",
        "not_applicable": f"The check no longer applies to the resource (seen at {when}). Closing.",
        "muted": f"A mute rule covers this failure (seen at {when}): an accepted risk, closing "
        "as not planned. phiguard still records the finding as MUTED and will reopen this issue "
        "if it fails after the mute ends.",
    }.get(why, f"Closing ({why}, {when}).")


def _exempt_text(record: RemediationRecord | None) -> str:
    exemption = (record.exemption or {}) if record is not None else {}
    until = exemption.get("expires_at")
    return (
        "An approved exemption covers this check"
        + (f" until {str(until)[:10]}" if until else "")
        + ": closing as not planned. phiguard still records the finding and will reopen this "
        "issue if it fails after the exemption ends."
    )


def digest_notice(
    current: Iterable[StoredFinding],
    fixes: Iterable[RemediationRecord],
    *,
    period_end: datetime,
    hours: int,
) -> Notice | None:
    """The digest of the ``hours`` before ``period_end``, or None when nothing happened in it
    (no new failure, no fix, no escalation): a quiet period sends nothing."""
    from shared.notify.model import digest, new_failure

    start = period_end - timedelta(hours=hours)
    rows = list(current)
    new = [
        new_failure(row, detected_at=row.first_failed_at)  # type: ignore[arg-type]
        for row in rows
        if row.status == Status.FAIL.value
        and row.first_failed_at is not None
        and start <= row.first_failed_at < period_end
    ]
    in_period = [r for r in fixes if start <= r.updated_at < period_end]
    fixed = sum(1 for r in in_period if str(r.status) in FIXED)
    escalated = sum(
        1 for r in in_period if str(r.status) in ESCALATE or str(r.status) == "ACTION_REQUIRED"
    )
    if not new and not fixed and not escalated:
        return None
    return digest(start, period_end, rows, new, fixes=fixed, escalations=escalated)
