"""Issue operations as outbox items: what the follow-up enqueues, and the sender that carries
them out on GitHub or Azure DevOps.

An item names one fingerprint and one operation (``open``, ``comment``, ``close``) with the time
of the state it was made from (``as_of``). The sender reconciles, it does not replay:

* it asks the state store for the finding's current row first, and drops an operation a newer
  state has overtaken (an ``open`` retried after the check passed again, a ``close`` retried
  after the failure recurred): outbox items can be sent out of order after retries, the issue
  must follow the latest state;
* it finds the fingerprint's issue on the tracker before acting, so an item sent twice (the
  documented crash between send and mark) creates nothing twice: ``open`` on an open issue
  comments, on a closed one reopens, and creates only when the tracker has none.

The receipt is the issue's URL, or why nothing was done (``superseded``, ``no open issue``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from shared.issues.model import (
    CloseReason,
    Fingerprint,
    IssueContent,
    IssueError,
    TrackedIssue,
)
from shared.kernel.findings import Status
from shared.outbox.model import Channel, Kind, OutboxItem, new_item

if TYPE_CHECKING:
    from shared.issues.ledger import TableIssueLedger
    from shared.issues.model import IssueTracker

Operation = Literal["open", "comment", "close"]
CloseWhy = Literal["passed", "deleted", "exempt", "not_applicable", "muted"]
CHANNELS = {"github": Channel.GITHUB, "azure-devops": Channel.AZURE_DEVOPS}
_KINDS = {"open": Kind.ISSUE_OPEN, "comment": Kind.ISSUE_COMMENT, "close": Kind.ISSUE_CLOSE}


@dataclass(frozen=True)
class FindingState:
    """A finding's current row as the store holds it: enough to tell which state is newer."""

    status: str
    last_changed_at: datetime


# (resource id, check id) → the current row, or None when the store holds none.
CurrentState = Callable[[str, str], FindingState | None]


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def issue_item(
    op: Operation,
    *,
    target: str,
    fingerprint: Fingerprint,
    resource_id: str,
    check_id: str,
    as_of: datetime,
    key_suffix: str,
    content: IssueContent | None = None,
    text: str = "",
    why: CloseWhy | None = None,
    now: datetime | None = None,
) -> OutboxItem:
    """The outbox item of one issue operation. ``key_suffix`` makes the idempotency key: the
    same operation on the same state (a redelivered event, a sync after the follow-up) has the
    same key and is enqueued once."""
    backend = target.partition(":")[0]
    channel = CHANNELS.get(backend)
    if channel is None:
        raise IssueError(f"unknown tracker backend in {target!r:.80}")
    payload: dict[str, Any] = {
        "op": op,
        "target": target,
        "fingerprint": fingerprint.value,
        "resource_id": resource_id,
        "check_id": check_id,
        "as_of": _iso(as_of),
        "text": text,
    }
    if content is not None:
        payload["content"] = {
            "title": content.title,
            "body": content.body,
            "body_html": content.body_html,
            "labels": list(content.labels),
            "assignee": content.assignee,
            "severity": content.severity,
        }
    if why is not None:
        payload["why"] = why
    key = f"issue:{fingerprint.value}:{op}:{key_suffix}"
    return new_item(key, channel, _KINDS[op], payload, now=now)


class IssueSender:
    """The outbox sender of one tracker channel (GitHub or Azure DevOps)."""

    def __init__(
        self,
        channel: Channel,
        trackers: Callable[[str], IssueTracker],
        current: CurrentState,
        ledger: TableIssueLedger | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.channel = channel
        self.trackers = trackers
        self.current = current
        self.ledger = ledger
        self.clock = clock or (lambda: datetime.now(UTC))

    def send(self, item: OutboxItem) -> str:
        payload = item.payload
        op = str(payload.get("op", ""))
        if op not in _KINDS:
            raise IssueError(f"outbox item {item.key!r:.80} has no issue operation")
        try:
            fingerprint = Fingerprint(str(payload["fingerprint"]))
            resource_id, check_id = str(payload["resource_id"]), str(payload["check_id"])
            as_of = datetime.fromisoformat(str(payload["as_of"]))
            target = str(payload["target"])
        except (KeyError, ValueError) as exc:
            raise IssueError(
                f"outbox item {item.key!r:.80} is not an issue operation ({type(exc).__name__})"
            ) from None
        superseded = _superseded(op, payload.get("why"), as_of, self.current(resource_id, check_id))
        if superseded:
            return f"superseded: {superseded}"
        tracker = self.trackers(target)
        issue = tracker.find(fingerprint)
        text = str(payload.get("text") or "")
        if op == "open":
            if issue is None:
                issue = tracker.create(_content(payload.get("content")), fingerprint)
            elif issue.state == "closed":
                issue = tracker.reopen(issue, text or "The failure recurred.")
            elif text:
                tracker.comment(issue, text)
        elif issue is None or issue.state == "closed":
            return "no open issue"
        elif op == "comment":
            tracker.comment(issue, text)
        else:
            reason: CloseReason = (
                "not_planned" if payload.get("why") in ("exempt", "muted") else "completed"
            )
            issue = tracker.close(issue, text, reason)
        self._remember(target, issue, resource_id, check_id)
        return issue.url

    def _remember(self, target: str, issue: TrackedIssue, resource_id: str, check_id: str) -> None:
        if self.ledger is not None:
            self.ledger.put(target, issue, resource_id, check_id, self.clock())


def _superseded(op: str, why: object, as_of: datetime, state: FindingState | None) -> str | None:
    """Why the operation no longer applies to the finding's current state (None: it does)."""
    failing = state is not None and state.status == Status.FAIL.value
    newer = state is not None and state.last_changed_at > as_of
    if op in ("open", "comment"):
        if not failing:
            return "the check no longer fails"
        return None
    if why == "exempt":
        return None  # an exemption closes the issue of a finding that still fails
    if failing and newer:
        return "the failure recurred after the check passed"
    return None


def _content(raw: object) -> IssueContent:
    if not isinstance(raw, Mapping):
        raise IssueError("an open operation without the issue's content")
    labels = raw.get("labels") or []
    return IssueContent(
        title=str(raw.get("title", "")),
        body=str(raw.get("body", "")),
        labels=tuple(str(label) for label in labels),
        assignee=str(raw["assignee"]) if raw.get("assignee") else None,
        body_html=str(raw.get("body_html", "")),
        severity=str(raw.get("severity", "")),
    )
