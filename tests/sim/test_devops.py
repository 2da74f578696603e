"""The Azure DevOps work item stand-in, driven with ``requests``: JSON Patch (``test`` on /rev →
412), shapes, auth, WIQL, comments and faults."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from sim.devops import Wiql
from sim.fixture import SimHandle
from tests.sim.helpers import reference

PATCH = "application/json-patch+json"


def ado(
    sim: SimHandle,
    method: str,
    path: str,
    body: Any = None,
    version: str | None = "7.1",
    auth: tuple[str, str] | None = ("", ""),
    content_type: str = PATCH,
    query: dict[str, str] | None = None,
    **params: str,
) -> requests.Response:
    params.update(query or {})
    if version:
        params["api-version"] = version
    return requests.request(
        method,
        f"{sim.devops_url}/contoso/PHI{path}",
        json=body,
        params=params,
        auth=(auth[0], auth[1] or sim.devops_pat) if auth is not None else None,
        headers={"Content-Type": content_type},
        verify=sim.ca_cert,
        timeout=30,
    )


def create(sim: SimHandle, title: str = "A finding", wtype: str = "Bug", **fields: Any) -> Any:
    ops = [{"op": "add", "path": "/fields/System.Title", "value": title}]
    ops += [{"op": "add", "path": f"/fields/{k}", "value": v} for k, v in fields.items()]
    resp = ado(sim, "POST", f"/_apis/wit/workitems/${wtype}", ops)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_create_has_the_published_shape(sim: SimHandle) -> None:
    ref = reference("azure-devops/wit__workItems__Create__7.1.json")["responses"]["200"]["body"]
    item = create(
        sim,
        "Storage account allows public access",
        **{
            "System.Description": "<p>marker: phiguard-abc</p>",
            "System.Tags": "phiguard; hipaa",
            "System.AssignedTo": "Dana Ops <dana@contoso.example>",
            "Microsoft.VSTS.Common.Severity": "2 - High",
        },
    )
    assert set(ref) <= set(item)
    assert set(ref["_links"]) <= set(item["_links"])
    assert set(ref["fields"]) <= set(item["fields"])
    assert set(ref["fields"]["System.CreatedBy"]) == set(item["fields"]["System.CreatedBy"])
    assert item["rev"] == 1 and item["fields"]["System.State"] == "New"
    assert item["fields"]["System.WorkItemType"] == "Bug"
    assert item["fields"]["System.TeamProject"] == "PHI"
    assert item["fields"]["System.Tags"] == "hipaa; phiguard"
    assert item["fields"]["System.AssignedTo"]["uniqueName"] == "dana@contoso.example"
    assert item["fields"]["Microsoft.VSTS.Common.Severity"] == "2 - High"
    assert item["url"] == f"{sim.devops_url}/contoso/_apis/wit/workItems/{item['id']}"
    got = ado(sim, "GET", f"/_apis/wit/workitems/{item['id']}").json()
    assert got["fields"] == item["fields"] and got["rev"] == 1
    assert sim.received("devops")["count"] == 1


def test_auth_api_version_and_content_type(sim: SimHandle) -> None:
    ops = [{"op": "add", "path": "/fields/System.Title", "value": "x"}]
    assert ado(sim, "POST", "/_apis/wit/workitems/$Bug", ops, auth=None).status_code == 401
    assert ado(sim, "POST", "/_apis/wit/workitems/$Bug", ops, auth=("u", "bad")).status_code == 401
    assert ado(sim, "POST", "/_apis/wit/workitems/$Bug", ops, version=None).status_code == 400
    wrong_type = ado(sim, "POST", "/_apis/wit/workitems/$Bug", ops, content_type="application/json")
    assert wrong_type.status_code == 415
    bearer = requests.post(
        f"{sim.devops_url}/contoso/PHI/_apis/wit/workitems/$Bug",
        params={"api-version": "7.1"},
        json=ops,
        headers={"Content-Type": PATCH, "Authorization": "Bearer some-entra-token"},
        verify=sim.ca_cert,
        timeout=30,
    )
    assert bearer.status_code == 200
    assert ado(sim, "POST", "/_apis/wit/workitems/$Bug", []).status_code == 400
    no_title = [{"op": "add", "path": "/fields/System.Description", "value": "x"}]
    assert ado(sim, "POST", "/_apis/wit/workitems/$Bug", no_title).status_code == 400
    assert sim.received("devops")["count"] == 1


def test_update_with_test_op_on_rev(sim: SimHandle) -> None:
    ref = reference("azure-devops/wit__workItems__Update-AddATag__7.1.json")
    item = create(sim, **{"System.Tags": "Tag0"})
    wid = item["id"]
    ops = [{"op": "test", "path": "/rev", "value": 1}, *ref["parameters"]["body"][1:]]
    resp = ado(sim, "PATCH", f"/_apis/wit/workitems/{wid}", ops)
    assert resp.status_code == 200
    assert resp.json()["rev"] == 2
    assert (
        resp.json()["fields"]["System.Tags"]
        == ref["responses"]["200"]["body"]["fields"]["System.Tags"]
    )  # "Tag0; Tag1; Tag2": add merges
    stale = ado(sim, "PATCH", f"/_apis/wit/workitems/{wid}", ops)  # still tests rev 1
    assert stale.status_code == 412
    assert stale.json()["typeKey"] == "WorkItemRevisionMismatchException"
    got = ado(sim, "GET", f"/_apis/wit/workitems/{wid}").json()
    assert got["rev"] == 2  # nothing of the refused patch applied
    replaced = ado(
        sim,
        "PATCH",
        f"/_apis/wit/workitems/{wid}",
        [{"op": "replace", "path": "/fields/System.Tags", "value": "only"}],
    ).json()
    assert replaced["fields"]["System.Tags"] == "only" and replaced["rev"] == 3


def test_state_changes_relations_and_remove(sim: SimHandle) -> None:
    item = create(sim)
    wid = item["id"]
    path = f"/_apis/wit/workitems/{wid}"
    closed = ado(
        sim,
        "PATCH",
        path,
        [
            {"op": "replace", "path": "/fields/System.State", "value": "Closed"},
            {
                "op": "add",
                "path": "/relations/-",
                "value": {"rel": "Hyperlink", "url": "https://portal.azure.com/#resource/x"},
            },
        ],
    ).json()
    assert closed["fields"]["System.State"] == "Closed"
    assert closed["fields"]["Microsoft.VSTS.Common.ClosedDate"]
    assert closed["relations"][0]["rel"] == "Hyperlink"
    assert "relations" not in ado(sim, "GET", path).json()
    assert ado(sim, "GET", path, query={"$expand": "relations"}).json()["relations"]
    bad = [{"op": "replace", "path": "/fields/System.State", "value": "Sleeping"}]
    assert ado(sim, "PATCH", path, bad).status_code == 400
    removed = ado(
        sim,
        "PATCH",
        path,
        [
            {"op": "remove", "path": "/relations/0"},
            {"op": "replace", "path": "/fields/System.State", "value": "Active"},
        ],
    ).json()
    assert (
        "relations" not in removed and "Microsoft.VSTS.Common.ClosedDate" not in removed["fields"]
    )
    only = ado(sim, "GET", path, fields="System.Title,System.State").json()
    assert set(only["fields"]) == {"System.Title", "System.State"}
    missing = ado(sim, "GET", "/_apis/wit/workitems/9999")
    assert missing.status_code == 404 and "TF401232" in missing.json()["message"]
    assert ado(sim, "PATCH", "/_apis/wit/workitems/9999", bad).status_code == 404
    move = [{"op": "move", "from": "/fields/System.Title", "path": "/fields/System.History"}]
    assert ado(sim, "PATCH", path, move).status_code == 400


def test_wiql_by_tag_marker_and_state(sim: SimHandle) -> None:
    ref = reference("azure-devops/wit__wiql__QueryByWiql__7.1.json")["responses"]["200"]["body"]
    a = create(sim, "one", **{"System.Tags": "phiguard", "System.Description": "m:abc-1"})
    b = create(
        sim, "two", **{"System.Tags": "phiguard; phiguard-extra", "System.Description": "m:x"}
    )
    create(sim, "three", **{"System.Tags": "phiguard-extra", "System.Description": "m:abc-1"})
    ado(
        sim,
        "PATCH",
        f"/_apis/wit/workitems/{b['id']}",
        [{"op": "add", "path": "/fields/System.State", "value": "Closed"}],
    )

    def wiql(query: str) -> list[int]:
        resp = ado(
            sim, "POST", "/_apis/wit/wiql", {"query": query}, content_type="application/json"
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert set(ref) <= set(body)
        return [w["id"] for w in body["workItems"]]

    base = "SELECT [System.Id], [System.Title] FROM WorkItems WHERE [System.TeamProject] = @project"
    assert wiql(f"{base} AND [System.Tags] CONTAINS 'phiguard' ORDER BY [System.Id]") == [
        a["id"],
        b["id"],
    ]
    assert wiql(f"{base} AND [System.Description] CONTAINS 'abc-1' ORDER BY [System.Id] DESC") == [
        a["id"] + 2,
        a["id"],
    ]
    open_ones = f"{base} AND [State] <> 'Closed' AND [Tags] CONTAINS 'phiguard'"
    assert wiql(open_ones) == [a["id"]]
    assert wiql(f"{base} AND ([State] IN ('Closed', 'Removed') OR [Title] = 'one')") == sorted(
        [a["id"], b["id"]]
    )
    assert wiql(f"{base} AND [Title] NOT CONTAINS 'o'") == [a["id"] + 2]
    bad = ado(sim, "POST", "/_apis/wit/wiql", {"query": "SELECT nothing"})
    assert bad.status_code == 400


def test_wiql_parser_rejects_what_it_does_not_support() -> None:
    for query in (
        "SELECT [System.Id] FROM WorkItemLinks",
        "SELECT [System.Id] FROM WorkItems WHERE [State] EVER 'Closed'",
        "SELECT [System.Id] FROM WorkItems WHERE ([State] = 'x'",
    ):
        with pytest.raises(ValueError):
            Wiql(query, "PHI")
    parsed = Wiql("select [id] from workitems where [title] = 'it''s'", None)
    assert parsed.matches({"System.Title": "it's"}, 1)


def test_comments_need_the_preview_version(sim: SimHandle) -> None:
    item = create(sim)
    path = f"/_apis/wit/workItems/{item['id']}/comments"
    refused = ado(sim, "POST", path, {"text": "hi"}, content_type="application/json")
    assert refused.status_code == 400 and "-preview" in refused.json()["message"]
    resp = ado(
        sim,
        "POST",
        path,
        {"text": "Closed by phiguard"},
        version="7.1-preview.4",
        content_type="application/json",
    )
    assert resp.status_code == 200
    assert {"workItemId", "id", "text", "createdBy", "createdDate", "url"} <= set(resp.json())
    listed = ado(sim, "GET", path, version="7.1-preview.4").json()
    assert listed["count"] == 1 and listed["comments"][0]["text"] == "Closed by phiguard"
    got = ado(sim, "GET", f"/_apis/wit/workitems/{item['id']}").json()
    assert got["fields"]["System.CommentCount"] == 1
    assert len(sim.received("devops")["comments"]) == 1


@pytest.mark.parametrize(
    ("spec", "statuses"), [("devops:429@1", {429}), ("devops:5xx@1", {500, 502, 503, 504})]
)
def test_injected_faults(sim: SimHandle, spec: str, statuses: set[int]) -> None:
    sim.set_faults(spec + ",devops:retry_after=3")
    ops = [{"op": "add", "path": "/fields/System.Title", "value": "x"}]
    resp = ado(sim, "POST", "/_apis/wit/workitems/$Bug", ops)
    assert resp.status_code in statuses
    if 429 in statuses:
        assert resp.headers["Retry-After"] == "3"
    assert sim.received("devops")["count"] == 0


def test_quota_and_reset(sim: SimHandle) -> None:
    sim.set_faults("devops:quota=2/h")
    ops = [{"op": "add", "path": "/fields/System.Title", "value": "x"}]
    statuses = [ado(sim, "POST", "/_apis/wit/workitems/$Bug", ops).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert ado(sim, "GET", "/_apis/wit/workitems/1").status_code == 200
    sim.set_faults("devops:reset@1")
    with pytest.raises(requests.ConnectionError):
        ado(sim, "GET", "/_apis/wit/workitems/1")
    counters = sim.received("devops")["counters"]
    assert counters["faults"] == {"quota": 1, "reset": 1}
    assert counters["by_route"]["POST /_apis/wit/workitems/${type}"] == 3


def test_work_item_type_states_have_the_published_shape_and_categories(sim: SimHandle) -> None:
    """Work Item Type States - List: ``{"count", "value": [{"name", "color", "category"}]}``
    (MicrosoftDocs/vsts-rest-api-specs wit httpExamples/workItemTypeStates); every state the sim
    accepts, each in one of the fixed categories."""
    resp = ado(sim, "GET", "/_apis/wit/workitemtypes/Bug/states")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"count", "value"} and body["count"] == len(body["value"])
    assert all(set(s) == {"name", "color", "category"} for s in body["value"])
    categories = {s["name"]: s["category"] for s in body["value"]}
    assert categories["Closed"] == categories["Done"] == "Completed"
    assert categories["Active"] == "InProgress" and categories["New"] == "Proposed"
    assert set(categories.values()) <= {
        "Proposed",
        "InProgress",
        "Resolved",
        "Completed",
        "Removed",
    }
    assert ado(sim, "GET", "/_apis/wit/workitemtypes/Bug/states", auth=None).status_code == 401
    assert ado(sim, "GET", "/_apis/wit/workitemtypes/Bug/states", version=None).status_code == 400
