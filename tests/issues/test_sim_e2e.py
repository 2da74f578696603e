"""The trackers against the simulated tenant's GitHub Issues and Azure DevOps stand-ins (over
HTTPS with the sim's CA): the whole lifecycle of one finding's issue, opened once however often
``open`` is called, and nothing sent that holds a tag value or the secret."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.issues.devops import AzureDevOpsWorkItems
from shared.issues.github import GitHubIssues
from shared.issues.model import IssueTracker
from shared.issues.render import assert_no_phi_or_secret, render_issue
from sim.fixture import SimHandle, running_sim

from .helpers import CHECK, FORBIDDEN, TAGS, finding, fingerprint


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with running_sim(estate="demo", seed=0) as handle:
        yield handle


def _lifecycle(tracker: IssueTracker) -> None:
    content = render_issue(finding(), CHECK, fingerprint(), tags=TAGS)
    assert tracker.find(fingerprint()) is None
    opened = tracker.open(content, fingerprint())
    assert opened.state == "open"
    assert tracker.open(content, fingerprint()) == opened  # idempotent: found, not created
    tracker.comment(opened, "Still failing at the daily sweep.")
    closed = tracker.close(opened, "The check passes now.")
    assert closed.state == "closed" and tracker.find(fingerprint()) == closed
    reopened = tracker.reopen(closed, "Failing again.")
    assert reopened.state == "open" and reopened.id == opened.id


def test_github_issue_lifecycle_against_the_sim(sim: SimHandle) -> None:
    sim.reset_received("github")
    tracker = GitHubIssues(
        "contoso/phi-compliance", sim.github_token, api_url=sim.github_url, ca_cert=sim.ca_cert
    )
    _lifecycle(tracker)
    received = sim.received("github")
    assert received["count"] == 1
    (issue,) = received["issues"]
    assert fingerprint().marker in [label["name"] for label in issue["labels"]]
    assert issue["assignee"]["login"] == "alice-ops"
    assert issue["state"] == "open" and issue["state_reason"] == "reopened"
    assert len(received["comments"]) == 3
    assert_no_phi_or_secret(received["issues"], secrets=[sim.github_token], forbidden=FORBIDDEN)
    assert_no_phi_or_secret(received["comments"], secrets=[sim.github_token], forbidden=FORBIDDEN)


def test_devops_work_item_lifecycle_against_the_sim(sim: SimHandle) -> None:
    sim.reset_received("devops")
    tracker = AzureDevOpsWorkItems(
        "contoso",
        "PHI Compliance",
        pat=sim.devops_pat,
        work_item_type="Bug",
        api_url=sim.devops_url,
        ca_cert=sim.ca_cert,
    )
    _lifecycle(tracker)
    received = sim.received("devops")
    assert received["count"] == 1
    (item,) = received["workitems"]
    fields = item["fields"]
    assert fingerprint().tag in [t.strip() for t in fields["System.Tags"].split(";")]
    assert fields["Microsoft.VSTS.Common.Severity"] == "2 - High"
    assert fields["System.State"] == "Active"
    assert_no_phi_or_secret(received["workitems"], secrets=[sim.devops_pat], forbidden=FORBIDDEN)
    assert_no_phi_or_secret(received["comments"], secrets=[sim.devops_pat], forbidden=FORBIDDEN)


def test_github_secondary_limits_are_waited_out_within_the_cap(sim: SimHandle) -> None:
    """The sim paces writes (2 a second, then 403 "secondary rate limit" with Retry-After): the
    lifecycle still completes, the pipeline having waited as told."""
    sim.reset_received("github")
    sim.set_faults("github:quota=2/s")
    try:
        tracker = GitHubIssues(
            "contoso/paced", sim.github_token, api_url=sim.github_url, ca_cert=sim.ca_cert
        )
        _lifecycle(tracker)
    finally:
        sim.set_faults("")
    received = sim.received("github")
    assert received["count"] == 1
    assert received["counters"]["by_status"].get("403", 0) >= 1, received["counters"]
