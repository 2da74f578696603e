"""The GitHub Issues stand-in, driven with ``requests``: shapes, auth, lifecycle, paging, search,
rate-limit headers and faults."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from sim.fixture import SimHandle
from sim.github import parse_query
from tests.sim.helpers import reference


def gh(
    sim: SimHandle, method: str, path: str, token: str | None = "", **kw: Any
) -> requests.Response:
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token or sim.github_token}"
    return requests.request(
        method, sim.github_url + path, headers=headers, verify=sim.ca_cert, timeout=30, **kw
    )


def new_issue(sim: SimHandle, repo: str = "contoso/phi", **body: Any) -> dict[str, Any]:
    resp = gh(sim, "POST", f"/repos/{repo}/issues", json={"title": "A finding", **body})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def test_create_issue_has_the_published_shape(sim: SimHandle) -> None:
    ref = reference("github/issue__example__rest-api-description.json")
    request = reference("github/issues-create__request-body__rest-api-description.json")
    request.pop("milestone")
    resp = gh(sim, "POST", "/repos/contoso/phi/issues", json=request)
    assert resp.status_code == 201
    issue = resp.json()
    assert set(ref) - {"pull_request"} <= set(issue)  # an issue has no pull_request key
    assert set(ref["user"]) == set(issue["user"])
    assert set(ref["labels"][0]) == set(issue["labels"][0])
    assert issue["number"] == 1 and issue["state"] == "open" and issue["state_reason"] is None
    assert issue["title"] == request["title"] and issue["body"] == request["body"]
    assert [label["name"] for label in issue["labels"]] == ["bug"]
    assert issue["assignee"]["login"] == "octocat"
    assert resp.headers["Location"] == issue["url"]
    assert issue["url"] == f"{sim.github_url}/repos/contoso/phi/issues/1"
    got = gh(sim, "GET", "/repos/contoso/phi/issues/1").json()
    assert got == issue
    assert sim.received("github")["count"] == 1


def test_auth_is_required(sim: SimHandle) -> None:
    missing = gh(sim, "GET", "/repos/contoso/phi/issues", token=None)
    assert missing.status_code == 401 and missing.json()["message"] == "Requires authentication"
    wrong = gh(sim, "POST", "/repos/contoso/phi/issues", token="nope", json={"title": "x"})
    assert wrong.status_code == 401 and wrong.json()["message"] == "Bad credentials"
    old_style = requests.get(
        sim.github_url + "/repos/contoso/phi/issues",
        headers={"Authorization": f"token {sim.github_token}"},
        verify=sim.ca_cert,
        timeout=30,
    )
    assert old_style.status_code == 200
    assert sim.received("github")["count"] == 0


def test_validation_and_not_found(sim: SimHandle) -> None:
    resp = gh(sim, "POST", "/repos/contoso/phi/issues", json={"body": "no title"})
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "title"
    assert gh(sim, "GET", "/repos/contoso/phi/issues/99").status_code == 404
    assert gh(sim, "PATCH", "/repos/contoso/phi/issues/99", json={}).status_code == 404
    new_issue(sim)
    bad = gh(sim, "PATCH", "/repos/contoso/phi/issues/1", json={"state_reason": "bored"})
    assert bad.status_code == 422


def test_close_reopen_lifecycle(sim: SimHandle) -> None:
    issue = new_issue(sim, labels=["phiguard"])
    path = f"/repos/contoso/phi/issues/{issue['number']}"
    closed = gh(sim, "PATCH", path, json={"state": "closed", "state_reason": "completed"}).json()
    assert closed["state"] == "closed" and closed["state_reason"] == "completed"
    assert closed["closed_at"] and closed["closed_by"]["login"] == "phiguard-bot"
    reopened = gh(sim, "PATCH", path, json={"state": "open", "state_reason": "reopened"}).json()
    assert reopened["state"] == "open" and reopened["state_reason"] == "reopened"
    assert reopened["closed_at"] is None
    not_planned = gh(sim, "PATCH", path, json={"state": "closed", "state_reason": "not_planned"})
    assert not_planned.json()["state_reason"] == "not_planned"
    edited = gh(
        sim, "PATCH", path, json={"title": "New title", "body": "b", "labels": ["a", "b"]}
    ).json()
    assert edited["title"] == "New title" and edited["body"] == "b"
    assert [label["name"] for label in edited["labels"]] == ["a", "b"]
    assert edited["state"] == "closed"  # untouched by an edit


def test_comments(sim: SimHandle) -> None:
    ref = reference("github/issue-comment__example__rest-api-description.json")
    issue = new_issue(sim)
    resp = gh(sim, "POST", "/repos/contoso/phi/issues/1/comments", json={"body": "Me too"})
    assert resp.status_code == 201
    assert set(ref) <= set(resp.json())
    assert resp.json()["issue_url"] == issue["url"]
    assert gh(sim, "GET", "/repos/contoso/phi/issues/1").json()["comments"] == 1
    listed = gh(sim, "GET", "/repos/contoso/phi/issues/1/comments").json()
    assert [c["body"] for c in listed] == ["Me too"]
    empty = gh(sim, "POST", "/repos/contoso/phi/issues/1/comments", json={"body": ""})
    assert empty.status_code == 422
    assert len(sim.received("github")["comments"]) == 1


def test_list_filters_and_pages_with_link_headers(sim: SimHandle) -> None:
    ref = reference("github/issue-items__example__rest-api-description.json")
    for n in range(7):
        new_issue(sim, labels=["phiguard", "high" if n % 2 else "low"])
    new_issue(sim, repo="contoso/other", labels=["phiguard"])
    gh(sim, "PATCH", "/repos/contoso/phi/issues/1", json={"state": "closed"})
    open_only = gh(sim, "GET", "/repos/contoso/phi/issues").json()
    assert [i["number"] for i in open_only] == [7, 6, 5, 4, 3, 2]
    assert set(ref[0]) - {"pull_request"} <= set(open_only[0])
    url: str | None = sim.github_url + "/repos/contoso/phi/issues?labels=phiguard&state=all"
    seen: list[int] = []
    pages = 0
    while url:
        resp = requests.get(
            url,
            params={"per_page": 3} if pages == 0 else None,
            headers={"Authorization": f"Bearer {sim.github_token}"},
            verify=sim.ca_cert,
            timeout=30,
        )
        seen += [i["number"] for i in resp.json()]
        pages += 1
        url = resp.links.get("next", {}).get("url")
        if pages == 1:
            assert "last" in resp.links and "prev" not in resp.links
    assert pages == 3 and seen == [7, 6, 5, 4, 3, 2, 1]
    high = gh(sim, "GET", "/repos/contoso/phi/issues", params={"labels": "phiguard,high"})
    assert [i["number"] for i in high.json()] == [6, 4, 2]
    closed = gh(sim, "GET", "/repos/contoso/phi/issues", params={"state": "closed"})
    assert [i["number"] for i in closed.json()] == [1]


def test_search_by_marker_label_repo_and_state(sim: SimHandle) -> None:
    ref = reference("github/issue-search-result-item-paginated__example__rest-api-description.json")
    marker = "<!-- phiguard:finding=abc123 -->"
    new_issue(sim, body=f"Storage is open\n\n{marker}", labels=["phiguard", "hipaa high"])
    new_issue(sim, body="<!-- phiguard:finding=zzz -->", labels=["phiguard"])
    new_issue(sim, repo="contoso/other", body=marker, labels=["phiguard"])
    q = f'repo:contoso/phi is:issue label:"hipaa high" in:body "{marker}"'
    resp = gh(sim, "GET", "/search/issues", params={"q": q})
    assert resp.status_code == 200
    body = resp.json()
    assert set(ref) == set(body)
    assert set(ref["items"][0]) - {"pull_request"} <= set(body["items"][0])
    assert body["total_count"] == 1 and body["items"][0]["number"] == 1
    assert resp.headers["x-ratelimit-resource"] == "search"
    assert resp.headers["x-ratelimit-limit"] == "30"
    assert int(resp.headers["x-ratelimit-reset"]) <= time.time() + 60  # a one-minute window
    every = gh(sim, "GET", "/search/issues", params={"q": f'in:body "{marker}"'}).json()
    assert every["total_count"] == 2
    gh(sim, "PATCH", "/repos/contoso/phi/issues/1", json={"state": "closed"})
    for state, count in (("open", 0), ("closed", 1)):
        q = f'repo:contoso/phi state:{state} "{marker}"'
        assert gh(sim, "GET", "/search/issues", params={"q": q}).json()["total_count"] == count
    assert gh(sim, "GET", "/search/issues", params={"q": "is:pr"}).json()["total_count"] == 0
    assert gh(sim, "GET", "/search/issues", params={"q": ""}).status_code == 422


def test_parse_query_matches_title_only_with_in_title() -> None:
    issue = {"title": "Open port", "body": "marker-1", "labels": [], "state": "open"}
    assert parse_query("marker-1")("o", "r", issue, [])
    assert not parse_query("in:title marker-1")("o", "r", issue, [])
    assert parse_query("in:title,body marker-1 Open")("o", "r", issue, [])
    labelled = {**issue, "labels": [{"name": "wontfix"}]}
    assert not parse_query("-label:wontfix marker-1")("o", "r", labelled, [])
    assert parse_query("-label:other marker-1")("o", "r", labelled, [])


def test_rate_limit_headers_count_down(sim: SimHandle) -> None:
    first = gh(sim, "GET", "/repos/contoso/phi/issues")
    second = gh(sim, "GET", "/repos/contoso/phi/issues")
    assert first.headers["x-ratelimit-limit"] == "5000"
    remaining = int(first.headers["x-ratelimit-remaining"])
    assert int(second.headers["x-ratelimit-remaining"]) == remaining - 1
    assert int(first.headers["x-ratelimit-reset"]) > time.time()
    assert first.headers["x-ratelimit-resource"] == "core"


def test_primary_rate_limit_is_refused_once_used_up(sim: SimHandle) -> None:
    sim.set_faults("github:limit=2")  # the window was used by nothing yet (reset per test)
    statuses = [gh(sim, "GET", "/repos/contoso/phi/issues").status_code for _ in range(3)]
    assert statuses == [200, 200, 403]
    refused = gh(sim, "GET", "/repos/contoso/phi/issues")
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.json()["message"].startswith("API rate limit exceeded")


@pytest.mark.parametrize(
    ("spec", "status"), [("github:429@1", 429), ("github:5xx@1", None), ("github:secondary@1", 403)]
)
def test_injected_faults(sim: SimHandle, spec: str, status: int | None) -> None:
    sim.set_faults(spec + ",github:retry_after=7")
    resp = gh(sim, "POST", "/repos/contoso/phi/issues", json={"title": "x"})
    if status is None:
        assert resp.status_code in (500, 502, 503, 504)
    else:
        assert resp.status_code == status
        assert resp.headers["Retry-After"] == "7"
    if status == 403:
        assert "secondary rate limit" in resp.json()["message"]
    if status == 429:
        assert resp.headers["x-ratelimit-remaining"] == "0"
    received = sim.received("github")
    assert received["count"] == 0 and received["counters"]["faults"]
    sim.set_faults("")
    assert gh(sim, "POST", "/repos/contoso/phi/issues", json={"title": "x"}).status_code == 201


def test_injected_reset(sim: SimHandle) -> None:
    sim.set_faults("github:reset@1")
    with pytest.raises(requests.ConnectionError):
        gh(sim, "GET", "/repos/contoso/phi/issues")
    assert sim.received("github")["counters"]["faults"] == {"reset": 1}


def test_content_creation_pacing(sim: SimHandle) -> None:
    sim.set_faults("github:quota=3/min")
    statuses = [
        gh(sim, "POST", "/repos/contoso/phi/issues", json={"title": f"{n}"}).status_code
        for n in range(4)
    ]
    assert statuses == [201, 201, 201, 403]
    paced = gh(sim, "POST", "/repos/contoso/phi/issues", json={"title": "again"})
    assert 50 <= int(paced.headers["Retry-After"]) <= 60
    assert gh(sim, "GET", "/repos/contoso/phi/issues").status_code == 200  # reads are not paced
    assert gh(sim, "PATCH", "/repos/contoso/phi/issues/1", json={"body": "x"}).status_code == 200


def test_admin_lists_counts_and_resets(sim: SimHandle) -> None:
    new_issue(sim)
    gh(sim, "GET", "/repos/contoso/phi/issues/1")
    received = sim.received("github")
    assert received["counters"]["by_route"] == {
        "POST /repos/{o}/{r}/issues": 1,
        "GET /repos/{o}/{r}/issues/{n}": 1,
    }
    assert received["counters"]["by_status"] == {"200": 1, "201": 1}
    sim.reset_received("github")
    assert sim.received("github")["count"] == 0
    new_issue(sim)
    sim.reset()
    assert sim.received("github")["count"] == 0
