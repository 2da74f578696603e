"""The issue sender's decisions without a network: what it does for each state of the finding
and of the tracker, and what it refuses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from shared.issues.model import (
    CloseReason,
    Fingerprint,
    IssueContent,
    IssueError,
    TrackedIssue,
)
from shared.issues.sender import CloseWhy, FindingState, IssueSender, Operation, issue_item
from shared.outbox.model import Channel, OutboxItem, new_item

T0 = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)
RID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st"
CHECK = "storage_account_min_tls_1_2"
FP = Fingerprint.of(RID, CHECK)


@dataclass
class FakeTracker:
    backend: str = "github"
    issue: TrackedIssue | None = None
    calls: list[str] = field(default_factory=list)

    def find(self, fingerprint: Fingerprint) -> TrackedIssue | None:
        self.calls.append("find")
        return self.issue

    def open(self, content: IssueContent, fingerprint: Fingerprint) -> TrackedIssue:
        raise AssertionError("the sender creates after its own lookup")

    def create(self, content: IssueContent, fingerprint: Fingerprint) -> TrackedIssue:
        self.calls.append(f"create:{content.title}")
        self.issue = TrackedIssue("github", 7, "https://x/7", "open", fingerprint)
        return self.issue

    def comment(self, issue: TrackedIssue, text: str) -> None:
        self.calls.append(f"comment:{text}")

    def close(
        self, issue: TrackedIssue, text: str, reason: CloseReason = "completed"
    ) -> TrackedIssue:
        self.calls.append(f"close:{reason}")
        self.issue = TrackedIssue("github", issue.id, issue.url, "closed", issue.fingerprint)
        return self.issue

    def reopen(self, issue: TrackedIssue, text: str) -> TrackedIssue:
        self.calls.append(f"reopen:{text}")
        self.issue = TrackedIssue("github", issue.id, issue.url, "open", issue.fingerprint)
        return self.issue


def _sender(tracker: FakeTracker, state: FindingState | None) -> IssueSender:
    return IssueSender(Channel.GITHUB, lambda target: tracker, lambda r, c: state)  # type: ignore[arg-type,return-value]


def _item(op: Operation, text: str = "", why: CloseWhy | None = None) -> OutboxItem:
    return issue_item(
        op,
        target="github:contoso/phi",
        fingerprint=FP,
        resource_id=RID,
        check_id=CHECK,
        as_of=T0,
        key_suffix="k",
        content=IssueContent("title", "body") if op == "open" else None,
        text=text,
        why=why,
    )


FAILING = FindingState("FAIL", T0)
PASSING_LATER = FindingState("PASS", T0 + timedelta(minutes=5))


def test_open_creates_once_then_comments_then_reopens() -> None:
    tracker = FakeTracker()
    sender = _sender(tracker, FAILING)
    assert sender.send(_item("open", text="again")) == "https://x/7"
    assert tracker.calls == ["find", "create:title"]
    sender.send(_item("open", text="again"))
    assert tracker.calls[-1] == "comment:again"
    tracker.issue = TrackedIssue("github", 7, "https://x/7", "closed", FP)
    sender.send(_item("open", text="recurred"))
    assert tracker.calls[-1] == "reopen:recurred"


def test_an_open_overtaken_by_a_pass_is_dropped_without_a_tracker_call() -> None:
    tracker = FakeTracker()
    receipt = _sender(tracker, PASSING_LATER).send(_item("open"))
    assert receipt.startswith("superseded") and tracker.calls == []


def test_a_close_overtaken_by_a_recurrence_is_dropped_but_an_exemption_closes() -> None:
    tracker = FakeTracker(issue=TrackedIssue("github", 7, "https://x/7", "open", FP))
    recurred = FindingState("FAIL", T0 + timedelta(minutes=5))
    assert _sender(tracker, recurred).send(_item("close", why="passed")).startswith("superseded")
    assert tracker.calls == []
    _sender(tracker, recurred).send(_item("close", why="exempt"))
    assert tracker.calls[-1] == "close:not_planned"


def test_close_and_comment_need_an_open_issue() -> None:
    tracker = FakeTracker()
    assert _sender(tracker, PASSING_LATER).send(_item("close", why="passed")) == "no open issue"
    assert _sender(tracker, FAILING).send(_item("comment", text="x")) == "no open issue"


def test_a_malformed_item_is_refused_naming_it() -> None:
    item = new_item("issue:bad", Channel.GITHUB, "issue_open", {"op": "open", "fingerprint": "x"})
    with pytest.raises(IssueError, match="issue:bad"):
        _sender(FakeTracker(), FAILING).send(item)
    with pytest.raises(IssueError):
        issue_item(
            "open",
            target="gitlab:x/y",
            fingerprint=FP,
            resource_id=RID,
            check_id=CHECK,
            as_of=T0,
            key_suffix="k",
        )
