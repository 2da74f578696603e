"""Azure DevOps Work Items over `responses`: JSON Patch create (paths, tags, severity, HTML
description), WIQL find by the fingerprint tag, idempotent open, state transitions, comments at
7.1-preview.4, PAT Basic auth, typed errors; no secret or PHI in anything sent or raised."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
import responses

from shared.errors import is_transient
from shared.issues.devops import (
    AzureDevOpsError,
    AzureDevOpsWorkItems,
    TransientAzureDevOpsError,
    pat_header,
)
from shared.issues.model import IssueError, TrackedIssue
from shared.issues.render import assert_no_phi_or_secret, render_issue

from .helpers import CHECK, FORBIDDEN, PAT, TAGS, finding, fingerprint

pytestmark = pytest.mark.usefixtures("via_requests")  # `responses` stands in for the service

ADO = "https://ado.example"
PROJECT = f"{ADO}/contoso/PHI%20Compliance"
WIT = f"{PROJECT}/_apis/wit"


def _published(reference: Path, name: str) -> Any:
    return json.loads((reference / "azure-devops" / f"wit__{name}__7.1.json").read_text())


@pytest.fixture
def work_item(reference_dir: Path) -> dict[str, Any]:
    body: dict[str, Any] = _published(reference_dir, "workItems__Get")["responses"]["200"]["body"]
    return body


def _tracker(**kwargs: Any) -> AzureDevOpsWorkItems:
    return AzureDevOpsWorkItems("contoso", "PHI Compliance", pat=PAT, api_url=ADO, **kwargs)


def _sent() -> list[Any]:
    for call in responses.calls:
        request = call.request
        assert_no_phi_or_secret(request.body or b"", secrets=[PAT], forbidden=FORBIDDEN)
        assert_no_phi_or_secret(request.url, secrets=[PAT], forbidden=FORBIDDEN)
        assert request.headers["Authorization"] == pat_header(PAT)
    return [c.request for c in responses.calls]


def _wiql(ids: list[int]) -> dict[str, Any]:
    return {
        "queryType": "flat",
        "workItems": [{"id": i, "url": f"{WIT}/workItems/{i}"} for i in ids],
    }


def test_the_pat_is_basic_with_an_empty_user() -> None:
    assert pat_header("abc") == "Basic " + base64.b64encode(b":abc").decode()


@responses.activate
def test_open_finds_by_wiql_then_creates_with_json_patch(reference_dir: Path) -> None:
    created = _published(reference_dir, "workItems__Create")["responses"]["200"]["body"]
    responses.post(f"{WIT}/wiql", json=_wiql([]))
    responses.post(f"{WIT}/workitems/$Bug", json=created)
    content = render_issue(finding(), CHECK, fingerprint(), tags=TAGS)
    tracked = _tracker(work_item_type="Bug").open(content, fingerprint())
    find, create = _sent()
    assert find.url == f"{WIT}/wiql?api-version=7.1&$top=10"
    query = json.loads(find.body)["query"]
    assert set(json.loads(find.body)) == set(
        _published(reference_dir, "wiql__QueryByWiql")["parameters"]["body"]
    )
    assert f"[System.Tags] CONTAINS '{fingerprint().tag}'" in query
    assert "[System.TeamProject] = @project" in query
    assert create.url == f"{WIT}/workitems/$Bug?api-version=7.1"
    assert create.headers["Content-Type"] == "application/json-patch+json"
    patch = json.loads(create.body)
    published = _published(reference_dir, "workItems__Create")["parameters"]["body"][0]
    assert all(set(op) <= set(published) and op["op"] == "add" for op in patch)
    fields = {op["path"]: op["value"] for op in patch}
    assert fields["/fields/System.Title"] == content.title
    assert fields["/fields/System.Description"] == content.body_html
    assert fields["/fields/System.Tags"] == f"phiguard; {fingerprint().tag}; severity-high"
    assert fields["/fields/Microsoft.VSTS.Common.Severity"] == "2 - High"
    assert fields["/fields/System.AssignedTo"] == "alice-ops"
    assert tracked.id == 131489 and tracked.state == "open" and tracked.raw_state == "New"
    assert tracked.url.startswith("https://dev.azure.com/fabrikam/web/wi.aspx")


@responses.activate
def test_an_issue_type_gets_no_severity_field(reference_dir: Path) -> None:
    created = _published(reference_dir, "workItems__Create")["responses"]["200"]["body"]
    responses.post(f"{WIT}/wiql", json=_wiql([]))
    responses.post(f"{WIT}/workitems/$Issue", json=created)
    _tracker().open(render_issue(finding(), CHECK, fingerprint()), fingerprint())
    paths = [op["path"] for op in json.loads(responses.calls[1].request.body or b"")]
    assert paths == ["/fields/System.Title", "/fields/System.Description", "/fields/System.Tags"]


@responses.activate
def test_open_is_idempotent_a_found_work_item_is_returned_and_nothing_is_created(
    work_item: dict[str, Any],
) -> None:
    responses.post(f"{WIT}/wiql", json=_wiql([12, 7]))
    responses.get(
        f"{WIT}/workitems/12",
        json={**work_item, "fields": {**work_item["fields"], "System.State": "Closed"}},
    )
    tracker = _tracker()
    tracked = tracker.open(render_issue(finding(), CHECK, fingerprint()), fingerprint())
    assert (tracked.id, tracked.state, tracked.raw_state) == (12, "closed", "Closed")
    assert [r.method for r in _sent()] == ["POST", "GET"]
    assert tracker.counts.by_kind == {"find": 1, "get": 1}
    assert (
        responses.calls[1].request.url
        == f"{WIT}/workitems/12?api-version=7.1&fields=System.State,System.Tags"
    )


@responses.activate
def test_close_and_reopen_are_state_transitions_with_history_and_comments_use_preview_4(
    work_item: dict[str, Any], reference_dir: Path
) -> None:
    def answer(state: str) -> dict[str, Any]:
        return {**work_item, "fields": {**work_item["fields"], "System.State": state}}

    responses.patch(f"{WIT}/workitems/12", json=answer("Done"))
    responses.patch(f"{WIT}/workitems/12", json=answer("To Do"))
    responses.post(f"{WIT}/workItems/12/comments", json={"id": 1, "text": "x"})
    tracker = _tracker(closed_state="Done", reopened_state="To Do")
    issue = TrackedIssue("azure-devops", 12, "u", "open", fingerprint())
    closed = tracker.close(issue, "Fixed <now> & verified")
    reopened = tracker.reopen(closed, "")
    tracker.comment(reopened, "Still failing\nsee the finding")
    close, reopen, comment = _sent()
    assert close.headers["Content-Type"] == "application/json-patch+json"
    assert json.loads(close.body) == [
        {"op": "add", "path": "/fields/System.State", "value": "Done"},
        {
            "op": "add",
            "path": "/fields/System.History",
            "value": "Fixed &lt;now&gt; &amp; verified",
        },
    ]
    published_update = _published(reference_dir, "workItems__Update-UpdateAField")["parameters"][
        "body"
    ]
    assert {op["path"] for op in published_update} >= {"/fields/System.History"}
    assert json.loads(reopen.body) == [
        {"op": "add", "path": "/fields/System.State", "value": "To Do"}
    ]
    assert (closed.state, reopened.state) == ("closed", "open")
    assert comment.url == f"{WIT}/workItems/12/comments?api-version=7.1-preview.4"
    assert json.loads(comment.body) == {"text": "Still failing<br>see the finding"}


@responses.activate
def test_throttling_is_retried_and_spent_retries_are_transient(work_item: dict[str, Any]) -> None:
    responses.post(f"{WIT}/wiql", status=429, headers={"Retry-After": "0"})
    responses.post(f"{WIT}/wiql", json=_wiql([]))
    assert _tracker().find(fingerprint()) is None
    assert len(responses.calls) == 2
    responses.post(f"{WIT}/wiql", status=503)
    with pytest.raises(TransientAzureDevOpsError) as raised:
        _tracker(max_retries=0).find(fingerprint())
    assert is_transient(raised.value)


@responses.activate
@pytest.mark.parametrize(
    ("status", "body", "match"),
    [
        (
            400,
            {
                "message": "TF401320: Rule Error for field Severity",
                "typeKey": "RuleValidationException",
            },
            "RuleValidationException",
        ),
        (401, None, "401"),
        (203, None, "credentials were not accepted"),
        (
            404,
            {
                "message": "TF200016: The project does not exist",
                "typeKey": "ProjectDoesNotExistException",
            },
            "TF200016",
        ),
    ],
)
def test_refusals_are_typed_not_transient_and_never_name_the_pat(
    status: int, body: dict[str, str] | None, match: str
) -> None:
    responses.post(f"{WIT}/wiql", status=status, json=body)
    with pytest.raises(AzureDevOpsError, match=match) as raised:
        _tracker().find(fingerprint())
    assert not is_transient(raised.value)
    assert PAT not in str(raised.value) and PAT not in repr(_tracker())
    assert PAT not in repr(_tracker().client._client._pipeline._impl_policies)


def test_exactly_one_credential_and_single_names() -> None:
    with pytest.raises(IssueError):
        AzureDevOpsWorkItems("o", "p")
    with pytest.raises(IssueError):
        AzureDevOpsWorkItems("o", "p", pat="x", bearer_token="y")
    with pytest.raises(IssueError):
        AzureDevOpsWorkItems("o/x", "p", pat="x")
    tracker = AzureDevOpsWorkItems("o", "p", bearer_token="tok")
    assert tracker.set_severity is False


@responses.activate
def test_an_owner_who_is_no_identity_is_dropped_rather_than_losing_the_work_item(
    reference_dir: Path,
) -> None:
    created = _published(reference_dir, "workItems__Create")["responses"]["200"]["body"]
    responses.post(f"{WIT}/wiql", json=_wiql([]))
    responses.post(
        f"{WIT}/workitems/$Issue",
        status=400,
        json={
            "message": "TF401320: The identity alice-ops is unknown",
            "typeKey": "RuleValidationException",
        },
    )
    responses.post(f"{WIT}/workitems/$Issue", json=created)
    _tracker().open(render_issue(finding(), CHECK, fingerprint(), tags=TAGS), fingerprint())
    first, second = (json.loads(c.request.body or b"") for c in responses.calls[1:])
    assert "/fields/System.AssignedTo" in [op["path"] for op in first]
    assert "/fields/System.AssignedTo" not in [op["path"] for op in second]


@responses.activate
def test_a_long_retry_after_is_raised_transient_with_it() -> None:
    responses.post(f"{WIT}/wiql", status=429, headers={"Retry-After": "300"})
    with pytest.raises(TransientAzureDevOpsError, match=r"429 .* \(retry after 300 s\)") as raised:
        _tracker().find(fingerprint())
    assert raised.value.retry_after == 300 and len(responses.calls) == 1


# Work Item Type States - List (GET {project}/_apis/wit/workitemtypes/{type}/states), the
# published response example: MicrosoftDocs/vsts-rest-api-specs
# specification/wit/7.0/httpExamples/workItemTypeStates/GET__workitem_type_states.json
BUG_STATES = {
    "count": 5,
    "value": [
        {"name": "New", "color": "b2b2b2", "category": "Proposed"},
        {"name": "Active", "color": "007acc", "category": "InProgress"},
        {"name": "CustomState", "color": "5688E0", "category": "InProgress"},
        {"name": "Resolved", "color": "ff9d00", "category": "Resolved"},
        {"name": "Closed", "color": "339933", "category": "Completed"},
    ],
}
RULE_ERROR = {
    "$id": "1",
    "innerException": None,
    "message": "TF401320: Rule Error for field State. Error code: Required, HasValues, "
    "LimitedToValues, AllowsOldValue, InvalidEmpty.",
    "typeName": "Microsoft.TeamFoundation.WorkItemTracking.Server.RuleValidationException, "
    "Microsoft.TeamFoundation.WorkItemTracking.Server",
    "typeKey": "RuleValidationException",
    "errorCode": 600171,
    "eventId": 3200,
}


@responses.activate
def test_a_state_the_type_does_not_have_falls_back_to_the_types_state_of_that_category(
    work_item: dict[str, Any],
) -> None:
    """States are per work item type and process: "Done" / "To Do" (Basic, Scrum) do not exist
    on an Agile Bug. The 400 is answered by reading the type's states and their categories and
    sending the transition once more with its Completed (close) / InProgress (reopen) state."""

    def answer(state: str) -> dict[str, Any]:
        return {**work_item, "fields": {**work_item["fields"], "System.State": state}}

    typed = {"id": 12, "rev": 3, "fields": {"System.WorkItemType": "Bug"}}
    responses.patch(f"{WIT}/workitems/12", status=400, json=RULE_ERROR)
    responses.get(f"{WIT}/workitems/12", json=typed)
    responses.get(f"{WIT}/workitemtypes/Bug/states", json=BUG_STATES)
    responses.patch(f"{WIT}/workitems/12", json=answer("Closed"))
    responses.patch(f"{WIT}/workitems/12", status=400, json=RULE_ERROR)
    responses.get(f"{WIT}/workitems/12", json=typed)
    responses.patch(f"{WIT}/workitems/12", json=answer("Active"))
    tracker = _tracker(closed_state="Done", reopened_state="To Do")
    issue = TrackedIssue("azure-devops", 12, "u", "open", fingerprint())
    closed = tracker.close(issue, "Fixed")
    reopened = tracker.reopen(closed, "")
    assert (closed.state, closed.raw_state) == ("closed", "Closed")
    assert (reopened.state, reopened.raw_state) == ("open", "Active")
    sent = _sent()
    patches = [json.loads(r.body) for r in sent if r.method == "PATCH"]
    assert [p[0]["value"] for p in patches] == ["Done", "Closed", "To Do", "Active"]
    assert patches[1][1] == {"op": "add", "path": "/fields/System.History", "value": "Fixed"}
    assert sent[2].url == f"{WIT}/workitemtypes/Bug/states?api-version=7.1"
    assert tracker.counts.get("states") == 1  # read once per type


@responses.activate
def test_a_refused_state_without_a_fallback_stays_the_services_error(
    work_item: dict[str, Any],
) -> None:
    responses.patch(f"{WIT}/workitems/12", status=400, json=RULE_ERROR)
    responses.get(f"{WIT}/workitems/12", json={"id": 12, "fields": {"System.WorkItemType": "Bug"}})
    responses.get(f"{WIT}/workitemtypes/Bug/states", json=BUG_STATES)
    issue = TrackedIssue("azure-devops", 12, "u", "open", fingerprint())
    with pytest.raises(AzureDevOpsError, match="RuleValidationException"):
        _tracker(closed_state="Closed").close(issue, "")  # Closed is the type's: no retry
    assert [c.request.method for c in responses.calls].count("PATCH") == 1


@responses.activate
def test_a_retry_after_on_a_successful_answer_is_honoured_before_the_next_request() -> None:
    """learn.microsoft.com/azure/devops/integrate/concepts/rate-limits: "Honor the Retry-After
    header: If you receive it in a response, wait the specified time before sending another
    request. The response still returns HTTP 200"."""
    delayed = {
        "Retry-After": "300",
        "X-RateLimit-Resource": "ATCPU",
        "X-RateLimit-Delay": "2.5",
        "X-RateLimit-Remaining": "0",
    }
    responses.post(f"{WIT}/wiql", json=_wiql([]), headers=delayed)
    tracker = _tracker()
    assert tracker.find(fingerprint()) is None  # the delayed answer itself is a success
    with pytest.raises(TransientAzureDevOpsError, match="Retry-After") as raised:
        tracker.find(fingerprint())
    assert raised.value.retry_after is not None and 290 < raised.value.retry_after <= 300
    assert len(responses.calls) == 1  # nothing sent before the wait is over


@responses.activate
def test_a_short_retry_after_on_a_successful_answer_is_waited_for() -> None:
    responses.post(f"{WIT}/wiql", json=_wiql([]), headers={"Retry-After": "1"})
    tracker = _tracker()
    tracker.find(fingerprint())
    started = time.monotonic()
    tracker.find(fingerprint())
    assert time.monotonic() - started >= 0.9
    assert len(responses.calls) == 2


@responses.activate
def test_a_redirect_is_an_auth_failure_not_a_posted_comment() -> None:
    responses.post(
        f"{WIT}/workItems/12/comments",
        status=302,
        headers={"Location": "https://spsprodweu5.vssps.example/_signin?realm=dev.azure.com"},
        body="<html>Object moved</html>",
        content_type="text/html",
    )
    issue = TrackedIssue("azure-devops", 12, "u", "open", fingerprint())
    with pytest.raises(AzureDevOpsError, match="credentials were not accepted") as raised:
        _tracker().comment(issue, "Still failing.")
    assert raised.value.status == 302 and not is_transient(raised.value)
    assert len(responses.calls) == 1


@responses.activate
def test_a_create_answered_5xx_is_not_resent() -> None:
    """A work item created before the service failed to say so must not be created twice by
    azure-core's retry of a POST answered 500/503/504: one POST, raised transient (the outbox
    retries the open, which finds by WIQL first)."""
    responses.post(f"{WIT}/wiql", json=_wiql([]))
    responses.post(f"{WIT}/workitems/$Bug", status=503, json={"message": "unavailable"})
    with pytest.raises(TransientAzureDevOpsError) as raised:
        _tracker(work_item_type="Bug", max_retries=3).open(
            render_issue(finding(), CHECK, fingerprint()), fingerprint()
        )
    assert is_transient(raised.value)
    assert [c.request.method for c in responses.calls] == ["POST", "POST"]  # the WIQL, the create
