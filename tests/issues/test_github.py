"""GitHub Issues over `responses`: requests in the published shapes (paths, headers, bodies,
labels, state_reason), idempotent open, rate limits retried or raised transient with
retry_after, typed errors, and no secret or PHI in anything sent or raised."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import responses

from shared.errors import is_transient
from shared.issues.github import GitHubError, GitHubIssues, TransientGitHubError
from shared.issues.model import IssueContent, TrackedIssue
from shared.issues.render import assert_no_phi_or_secret, render_issue

from .helpers import CHECK, FORBIDDEN, TAGS, TOKEN, finding, fingerprint

pytestmark = pytest.mark.usefixtures("via_requests")  # `responses` stands in for the service

API = "https://github.example"
REPO = f"{API}/repos/contoso/phi-compliance"


def _published(reference: Path, name: str) -> Any:
    return json.loads((reference / "github" / f"{name}__rest-api-description.json").read_text())


@pytest.fixture
def issue(reference_dir: Path) -> dict[str, Any]:
    """GitHub's issue example; without its ``pull_request`` key (the example is a pull request's
    issue, and a list of issues holds pull requests too: those carry the key)."""
    body: dict[str, Any] = _published(reference_dir, "issue__example")
    body.pop("pull_request", None)
    return body


def _tracker(**kwargs: Any) -> GitHubIssues:
    return GitHubIssues("contoso/phi-compliance", TOKEN, api_url=API, **kwargs)


def _content() -> IssueContent:
    return render_issue(finding(), CHECK, fingerprint(), tags=TAGS)


def _sent() -> list[Any]:
    """Every request sent, after checking none carries PHI, and the token only in its header."""
    for call in responses.calls:
        request = call.request
        assert_no_phi_or_secret(request.body or b"", secrets=[TOKEN], forbidden=FORBIDDEN)
        assert_no_phi_or_secret(request.url, secrets=[TOKEN], forbidden=FORBIDDEN)
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers["Accept"] == "application/vnd.github+json"
        assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    return [c.request for c in responses.calls]


@responses.activate
def test_open_searches_by_the_fingerprint_label_then_creates_in_the_published_shape(
    issue: dict[str, Any], reference_dir: Path
) -> None:
    marker = fingerprint().marker
    responses.get(
        f"{REPO}/issues",
        json=[],
        match=[
            responses.matchers.query_param_matcher(
                {
                    "labels": marker,
                    "state": "all",
                    "sort": "created",
                    "direction": "desc",
                    "per_page": "10",
                }
            )
        ],
    )
    responses.post(f"{REPO}/issues", json=issue, status=201)
    tracked = _tracker().open(_content(), fingerprint())
    _find, create = _sent()
    body = json.loads(create.body)
    published = _published(reference_dir, "issues-create__request-body")
    assert set(body) <= set(published) and set(body) == {"title", "body", "labels", "assignees"}
    assert body["assignees"] == ["alice-ops"]
    assert marker in body["labels"] and "severity-high" in body["labels"]
    assert f"<!-- {marker} -->" in body["body"]
    assert all(isinstance(v, str) for v in body["labels"])
    assert create.headers["Content-Type"] == "application/json"
    assert tracked == TrackedIssue(
        "github", 1347, "https://github.com/octocat/Hello-World/issues/1347", "open", fingerprint()
    )


@responses.activate
def test_open_is_idempotent_a_found_issue_is_returned_and_nothing_is_created(
    issue: dict[str, Any],
) -> None:
    pull = {**issue, "number": 9, "pull_request": {"url": "x"}}
    closed = {**issue, "number": 12, "state": "closed", "state_reason": "completed"}
    responses.get(f"{REPO}/issues", json=[pull, closed])
    tracker = _tracker()
    tracked = tracker.open(_content(), fingerprint())
    assert (tracked.id, tracked.state, tracked.raw_state) == (12, "closed", "completed")
    assert [r.method for r in _sent()] == ["GET"]
    assert tracker.counts.by_kind == {"find": 1}


@responses.activate
def test_close_and_reopen_comment_then_patch_state_with_state_reason(
    issue: dict[str, Any], reference_dir: Path
) -> None:
    comment = _published(reference_dir, "issue-comment__example")
    responses.post(f"{REPO}/issues/1347/comments", json=comment, status=201)
    responses.patch(
        f"{REPO}/issues/1347", json={**issue, "state": "closed", "state_reason": "completed"}
    )
    responses.patch(
        f"{REPO}/issues/1347", json={**issue, "state": "open", "state_reason": "reopened"}
    )
    tracker = _tracker()
    opened = TrackedIssue("github", 1347, "u", "open", fingerprint())
    closed = tracker.close(opened, "Fixed: the check passes since 2026-12-06.")
    reopened = tracker.reopen(closed, "Failing again.")
    assert (closed.state, reopened.state) == ("closed", "open")
    comment1, patch1, _comment2, patch2 = _sent()
    assert json.loads(comment1.body) == {"body": "Fixed: the check passes since 2026-12-06."}
    assert set(json.loads(comment1.body)) == set(
        _published(reference_dir, "issues-create-comment__request-body")
    )
    assert json.loads(patch1.body) == {"state": "closed", "state_reason": "completed"}
    assert json.loads(patch2.body) == {"state": "open", "state_reason": "reopened"}
    assert set(json.loads(patch1.body)) - {"state_reason"} <= set(
        _published(reference_dir, "issues-update__request-body")
    )
    tracker.close(opened, "", reason="not_planned")
    assert json.loads(responses.calls[-1].request.body or b"") == {
        "state": "closed",
        "state_reason": "not_planned",
    }


@responses.activate
@pytest.mark.parametrize(
    "limited",
    [
        {"status": 429, "headers": {"Retry-After": "0"}},
        {
            "status": 403,
            "headers": {"Retry-After": "0"},
            "json": {"message": "You have exceeded a secondary rate limit"},
        },
    ],
)
def test_throttling_with_retry_after_is_retried(
    issue: dict[str, Any], limited: dict[str, Any]
) -> None:
    responses.get(f"{REPO}/issues", **limited)
    responses.get(f"{REPO}/issues", json=[issue])
    assert _tracker().find(fingerprint()) is not None
    assert len(responses.calls) == 2


@responses.activate
def test_a_primary_limit_is_transient_with_retry_after_from_the_reset_time() -> None:
    reset = int(time.time()) + 120
    responses.get(
        f"{REPO}/issues",
        status=403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        json={"message": "API rate limit exceeded for installation"},
    )
    with pytest.raises(TransientGitHubError, match="GitHub 403 rate limit for GET") as raised:
        _tracker().find(fingerprint())
    assert is_transient(raised.value)
    assert raised.value.retry_after is not None and 100 < raised.value.retry_after <= 121
    assert len(responses.calls) == 1  # not retried in-process: minutes away


@responses.activate
def test_a_secondary_limit_without_headers_waits_a_minute_and_spent_retries_stay_transient() -> (
    None
):
    responses.get(
        f"{REPO}/issues", status=403, json={"message": "You have exceeded a secondary rate limit."}
    )
    with pytest.raises(TransientGitHubError) as raised:
        _tracker().find(fingerprint())
    assert raised.value.retry_after == 60
    responses.get(f"{REPO}/issues/1/comments", status=502)
    responses.post(f"{REPO}/issues/1/comments", status=503)
    with pytest.raises(TransientGitHubError, match="GitHub 503"):
        _tracker(max_retries=1).comment(TrackedIssue("github", 1, "u", "open", fingerprint()), "x")
    assert len([c for c in responses.calls if c.request.method == "POST"]) == 2


@responses.activate
@pytest.mark.parametrize(
    ("status", "body"),
    [
        (403, {"message": "Resource not accessible by integration"}),
        (404, {"message": "Not Found"}),
        (410, {"message": "Issues are disabled for this repo"}),
        (401, {"message": "Bad credentials"}),
    ],
)
def test_refusals_are_typed_not_transient_and_never_name_the_token(
    status: int, body: dict[str, str]
) -> None:
    responses.get(f"{REPO}/issues", status=status, json=body)
    with pytest.raises(GitHubError, match=f"GitHub {status} : {body['message']}") as raised:
        _tracker().find(fingerprint())
    assert not is_transient(raised.value) and raised.value.status == status
    assert TOKEN not in str(raised.value) and TOKEN not in repr(_tracker())
    assert TOKEN not in repr(_tracker().client._client._pipeline._impl_policies)


@responses.activate
def test_an_unassignable_owner_is_dropped_rather_than_losing_the_issue(
    issue: dict[str, Any],
) -> None:
    responses.get(f"{REPO}/issues", json=[])
    responses.post(
        f"{REPO}/issues",
        status=422,
        json={
            "message": "Validation Failed",
            "errors": [{"code": "invalid", "field": "assignees"}],
        },
    )
    responses.post(f"{REPO}/issues", json=issue, status=201)
    _tracker().open(_content(), fingerprint())
    first, second = (json.loads(c.request.body or b"") for c in responses.calls[1:])
    assert first["assignees"] == ["alice-ops"] and "assignees" not in second


def test_a_malformed_repository_or_empty_token_is_refused() -> None:
    from shared.issues.model import IssueError

    for repository in ("contoso", "contoso/", "a/b/c", "/r"):
        with pytest.raises(IssueError):
            GitHubIssues(repository, TOKEN)
    with pytest.raises(IssueError):
        GitHubIssues("a/b", "")


@responses.activate
def test_search_by_the_body_marker_is_opt_in_and_only_after_the_label_found_nothing(
    reference_dir: Path,
) -> None:
    marker = fingerprint().marker
    result = _published(reference_dir, "issue-search-result-item-paginated__example")
    other = {**result["items"][0], "number": 5, "body": "unrelated"}
    mine = {**result["items"][0], "number": 132, "body": f"...\n<!-- {marker} -->\n"}
    responses.get(f"{REPO}/issues", json=[])
    responses.get(f"{API}/search/issues", json={**result, "items": [other, mine]})
    assert _tracker().find(fingerprint()) is None
    assert len(responses.calls) == 1
    found = _tracker(search_body=True).find(fingerprint())
    assert found is not None and found.id == 132 and found.state == "open"
    search = _sent()[-1]
    assert search.params["q"] == f'repo:contoso/phi-compliance is:issue in:body "{marker}"'


@responses.activate
def test_a_long_retry_after_is_not_slept_on_but_raised_transient_with_it() -> None:
    responses.get(
        f"{REPO}/issues",
        status=403,
        headers={"Retry-After": "60"},
        json={"message": "You have exceeded a secondary rate limit."},
    )
    started = time.monotonic()
    with pytest.raises(TransientGitHubError) as raised:
        _tracker().find(fingerprint())
    assert raised.value.retry_after == 60 and len(responses.calls) == 1
    assert time.monotonic() - started < 5


@responses.activate
def test_a_secondary_limit_with_requests_left_waits_a_minute_not_until_the_hourly_reset() -> None:
    """docs.github.com "Exceeding the rate limit": without ``retry-after``, wait for
    ``x-ratelimit-reset`` only when ``x-ratelimit-remaining`` is 0, else at least a minute
    (``x-ratelimit-reset`` is on every answer and says nothing about a secondary limit)."""
    responses.get(
        f"{REPO}/issues",
        status=403,
        headers={
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4990",
            "x-ratelimit-reset": str(int(time.time()) + 3000),
        },
        json={
            "message": "You have exceeded a secondary rate limit. Please wait a few minutes.",
            "documentation_url": "https://docs.github.com/rest",
        },
    )
    with pytest.raises(TransientGitHubError) as raised:
        _tracker().find(fingerprint())
    assert raised.value.retry_after == 60


@responses.activate
@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "+120"}, 120),  # primary
        ({}, 60),  # secondary, no header: at least a minute
    ],
)
def test_a_429_without_retry_after_is_not_retried_in_process(
    headers: dict[str, str], wait: float
) -> None:
    if "x-ratelimit-reset" in headers:
        headers = {**headers, "x-ratelimit-reset": str(int(time.time()) + 120)}
    responses.get(
        f"{REPO}/issues",
        status=429,
        headers=headers,
        json={"message": "API rate limit exceeded for installation ID 1."},
    )
    with pytest.raises(TransientGitHubError, match="GitHub 429 rate limit") as raised:
        _tracker(max_retries=3).find(fingerprint())
    assert len(responses.calls) == 1  # GitHub: no retry before the reset / the minute
    assert raised.value.retry_after is not None
    assert wait - 2 <= raised.value.retry_after <= wait


@responses.activate
def test_find_skips_pull_requests_and_follows_the_link_header_to_the_next_page(
    issue: dict[str, Any],
) -> None:
    """``GET /repos/{owner}/{repo}/issues`` lists pull requests too (they carry
    ``pull_request``); a page of only pull requests is not the end when ``Link`` has a next."""
    pulls = [{**issue, "number": n, "pull_request": {"url": "x"}} for n in (30, 29)]
    page2 = f"{REPO}/issues?labels=x&state=all&per_page=10&page=2"
    responses.get(
        f"{REPO}/issues",
        json=pulls,
        headers={"Link": f'<{page2}>; rel="next", <{page2}>; rel="last"'},
        match=[responses.matchers.query_param_matcher({"per_page": "10"}, strict_match=False)],
    )
    responses.get(page2, json=[{**issue, "number": 7}])
    found = _tracker().find(fingerprint())
    assert found is not None and found.id == 7
    assert [c.request.url for c in responses.calls][1] == page2
    assert len(_sent()) == 2


@responses.activate
def test_a_next_page_on_another_origin_is_not_followed(issue: dict[str, Any]) -> None:
    pull = {**issue, "pull_request": {"url": "x"}}
    responses.get(
        f"{REPO}/issues",
        json=[pull],
        headers={"Link": '<https://elsewhere.example/issues?page=2>; rel="next"'},
    )
    with pytest.raises(GitHubError, match="UnexpectedLink"):
        _tracker().find(fingerprint())
    assert len(responses.calls) == 1


@responses.activate
def test_a_transferred_issue_answered_301_is_an_error_not_a_silent_success() -> None:
    """docs.github.com (issues): "The API returns a 301 Moved Permanently status if the issue
    was transferred to another repository"; a comment must not count as posted."""
    moved = "https://github.example/repositories/42/issues/1347/comments"
    responses.post(
        f"{REPO}/issues/1347/comments",
        status=301,
        headers={"Location": moved},
        json={"message": "Moved Permanently", "url": moved, "documentation_url": "x"},
    )
    issue = TrackedIssue("github", 1347, "u", "open", fingerprint())
    with pytest.raises(GitHubError, match="GitHub 301 Moved") as raised:
        _tracker().comment(issue, "Still failing.")
    assert not is_transient(raised.value) and "/repositories/42/issues/1347" in str(raised.value)
    assert len(responses.calls) == 1  # not followed: the token stays on the configured URL


@responses.activate
def test_a_create_answered_5xx_is_not_resent_and_the_next_open_finds_what_it_made(
    issue: dict[str, Any],
) -> None:
    """azure-core retries a POST answered 500/503/504; GitHub may have created the issue before
    failing to say so. The create is sent once and raised transient; the outbox's retry opens
    again, which finds the issue by its label instead of creating a second one."""
    responses.get(f"{REPO}/issues", json=[])
    responses.post(f"{REPO}/issues", status=503, json={"message": "Service Unavailable"})
    with pytest.raises(TransientGitHubError, match="GitHub 503"):
        _tracker(max_retries=3).open(_content(), fingerprint())
    assert [c.request.method for c in responses.calls] == ["GET", "POST"]
    responses.replace(responses.GET, f"{REPO}/issues", json=[issue])
    found = _tracker(max_retries=3).open(_content(), fingerprint())
    assert found.id == issue["number"]
    assert [c.request.method for c in responses.calls] == ["GET", "POST", "GET"]
