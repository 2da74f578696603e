"""The people side under hostile input: whatever a resource's names, reasons, evidence and tags
hold, the follow-up never raises into the pipeline, every item it enqueues fits one outbox row,
and no tag value but the owner's reaches an issue, a card or an email."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from checks import CATALOG
from shared.engine import Evaluation
from shared.followup import FollowUps
from shared.issues.settings import IssueSettings, Trackers
from shared.kernel.findings import Finding, Severity, Status
from shared.kernel.snapshot import Snapshot
from shared.notify.routing import Routing
from shared.notify.smtp import SmtpNotifier
from shared.notify.teams import TeamsNotifier
from shared.outbox.model import Channel, OutboxItem
from shared.outbox.store import _entity

from .profile import SOME
from .strategies import hostile_text, modest_text

T0 = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)
WEBHOOK = "https://prod-1.westus.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=S1G"
TOKEN = "ghp_adversarialToken0000000000000000000000"
CHECKS = sorted(CATALOG)
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._()-]{0,60}", fullmatch=True)
# A tag value worth looking for: long and rare enough that no rendered text holds it by chance.
planted = st.from_regex(r"PLANTED-[A-Z0-9]{12}", fullmatch=True)


class MemoryOutbox:
    def __init__(self) -> None:
        self.items: list[OutboxItem] = []

    def enqueue(self, item: OutboxItem) -> bool:
        _entity(item)  # what Table Storage would refuse (PayloadTooLarge) raises here too
        self.items.append(item)
        return True

    def created_since(self, channel: Channel, kind: Any, since: datetime) -> int:
        return 0


def _followups(outbox: MemoryOutbox) -> FollowUps:
    routing = Routing(default=("secops@contoso.com",), owner_domains=frozenset({"contoso.com"}))
    issues = IssueSettings.from_env(
        {"PHIGUARD_ISSUES_ROUTES": "*=github:contoso/phi", "PHIGUARD_GITHUB_TOKEN": TOKEN}
    )
    return FollowUps(
        CATALOG,
        outbox,
        {
            Channel.TEAMS: TeamsNotifier(WEBHOOK),
            Channel.EMAIL: SmtpNotifier(
                "smtp.invalid", 587, "phiguard@contoso.com", routing, starttls="off"
            ),
        },
        Trackers(issues),
        None,
        routing,
        clock=lambda: T0,
        secrets=(TOKEN, WEBHOOK),
    )


@SOME
@given(
    name=names,
    check_id=st.sampled_from(CHECKS),
    severity=st.sampled_from([Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM]),
    title=hostile_text,
    reason=hostile_text,
    evidence=st.dictionaries(modest_text, st.one_of(hostile_text, st.integers()), max_size=30),
    secret_tag=planted,
    owner=st.one_of(st.just("dana@contoso.com"), modest_text),
)
def test_hostile_findings_enqueue_safely(
    name: str,
    check_id: str,
    severity: Severity,
    title: str,
    reason: str,
    evidence: dict[str, Any],
    secret_tag: str,
    owner: str,
) -> None:
    rid = f"/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/{name}"
    finding = Finding(
        rid,
        "microsoft.storage/storageaccounts",
        check_id,
        Status.FAIL,
        severity,
        ("164.312(e)(1)",),
        title,
        reason,
        evidence,
        True,
    )
    snapshot = Snapshot(
        {
            "id": rid,
            "type": "Microsoft.Storage/storageAccounts",
            "tags": {"patient": secret_tag, "owner": owner},
        }
    )
    outbox = MemoryOutbox()
    evaluation = Evaluation(rid, finding.resource_type, True, (finding,))
    counts = _followups(outbox).failures(snapshot, evaluation, [check_id], [], {})
    assert counts.issues + counts.skipped >= 1  # an issue, or a refusal said so
    for item in outbox.items:
        text = json.dumps(item.payload, ensure_ascii=False)
        assert secret_tag not in text, (item.channel, item.kind)
        assert TOKEN not in text and "sig=S1G" not in text
