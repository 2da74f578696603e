"""The weekly access review end to end: the timer function (function_app → shared.api → the
engine) against the simulated tenant (ARM + Graph) and Azurite (Blob Storage), through the real
azure-storage-blob client."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from azure.functions.timer import TimerRequest
from azure.storage.blob import BlobServiceClient

import function_app
from shared import api
from shared.access.report import week_of
from shared.config import Settings
from shared.context import AppContext, reset_app_context
from shared.kernel.clock import utcnow
from sim.azurite import AzuriteEndpoints
from sim.estate import RG_PHI
from sim.estate.access import GUEST, PHIGUARD_APP_ID
from sim.fixture import SimHandle, running_sim

TIMER = function_app.access_review.build().get_user_function()
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"


@dataclass
class Review:
    sim: SimHandle
    container: Any
    announced: list[dict[str, Any]]

    def blobs(self, week: str) -> dict[str, bytes]:
        return {
            b.name.split("/", 1)[1]: self.container.download_blob(b.name).readall()
            for b in self.container.list_blobs(name_starts_with=f"{week}/")
        }

    def json(self, week: str) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.blobs(week)["access-review.json"])
        return body


@pytest.fixture()
def review(azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch) -> Iterator[Review]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.get_container_client("access-reviews")
    if container.exists():
        container.delete_container()
    announced: list[dict[str, Any]] = []
    monkeypatch.setattr(api, "announce_access_review", announced.append)
    with running_sim(estate="demo") as sim:
        settings = Settings(
            storage_connection_string=azurite.connection_string,
            table_prefix="ar" + uuid.uuid4().hex[:10],
            graph_url=sim.graph_url,
            identity_app_id=PHIGUARD_APP_ID,
            **sim.settings_kwargs(),
        )
        reset_app_context(AppContext(settings))
        try:
            yield Review(sim, container, announced)
        finally:
            reset_app_context(None)
            if container.exists():
                container.delete_container()


def _timer() -> None:
    TIMER(TimerRequest(past_due=False))


def test_weekly_timer_writes_three_files_announces_once_and_diffs_against_last_week(
    review: Review,
) -> None:
    sim = review.sim
    this_week = week_of(utcnow())
    last_week = week_of(utcnow() - timedelta(days=7))
    api.access_review_weekly(week=last_week)  # last week's review, by the same engine
    first = review.json(last_week)
    assert first["summary"]["first_review"] is True
    guest_paths = [p for p in first["paths"] if p["principal_id"] == GUEST]
    assert guest_paths and guest_paths[0]["principal_kind"] == "Guest"

    # Between the two runs: a new Owner grant on the PHI resource group, the guest's removed.
    sub = sim.subscription_id
    phi_rg = f"/subscriptions/{sub}/resourceGroups/{RG_PHI}"
    new_id = f"{phi_rg}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}"
    lee = "9b3b1c1e-0000-4000-8000-00000000000e"
    put = sim.change_as_user(
        "PUT",
        new_id,
        {
            "properties": {
                "roleDefinitionId": f"/subscriptions/{sub}/providers/Microsoft.Authorization/"
                f"roleDefinitions/{OWNER}",
                "principalId": lee,
                "principalType": "User",
            }
        },
        api_version="2022-04-01",
    )
    assert put["status"] in (200, 201), put
    removed = sim.change_as_user(
        "DELETE", guest_paths[0]["assignment_id"], api_version="2022-04-01"
    )
    assert removed["status"] == 200

    _timer()
    files = review.blobs(this_week)
    assert set(files) == {
        "access-review.html",
        "access-review.csv",
        "access-review.json",
        "summary.json",
        "paths-index.json",  # what next week diffs against
    }
    body = review.json(this_week)
    assert body["previous_week"] == last_week
    new = [p for p in body["paths"] if p["new"]]
    assert [p["assignment_id"] for p in new] == [new_id]
    assert [r["principal_id"] for r in body["removed"]] == [GUEST]
    statuses = {r["rule_id"]: r["status"] for r in body["rules"]}
    assert statuses["access_phi_new_grants"] == "FAIL"
    assert statuses["access_phi_removed_grants"] == "FAIL"
    assert statuses["access_phi_no_guest_access"] == "PASS"  # the guest is gone
    # The new grant is a deleted user's (not in the directory): an orphan from day one.
    orphan = next(r for r in body["rules"] if r["rule_id"] == "access_phi_no_orphaned_assignments")
    assert any(s["key"] == new_id for s in orphan["subjects"])
    # The CSV holds one row per path, with empty decision and comment columns.
    csv_lines = files["access-review.csv"].decode().splitlines()
    assert len(csv_lines) == 1 + len(body["paths"])
    assert csv_lines[0].endswith("findings,decision,comment")
    # One announcement per run: counts and the link to the HTML in Blob Storage.
    assert len(review.announced) == 2
    latest = review.announced[-1]
    assert latest["week"] == this_week and latest["counts"]["new"] == 1
    assert latest["counts"]["removed"] == 1
    assert latest["link"].endswith(f"/access-reviews/{this_week}/access-review.html")
    # Trend: both weeks.
    assert [t["week"] for t in body["trend"]] == [last_week, this_week]

    # Re-running the week replaces its files, never duplicates them, and still diffs against
    # last week (not against its own first run).
    _timer()
    again = review.blobs(this_week)
    assert set(again) == set(files)
    rerun = review.json(this_week)
    assert [p["assignment_id"] for p in rerun["paths"] if p["new"]] == [new_id]
    assert [t["week"] for t in rerun["trend"]] == [last_week, this_week]
    assert len(review.announced) == 3


def test_missing_graph_permissions_are_reported_never_guessed(review: Review) -> None:
    review.sim.grant_graph("User.Read.All")  # no GroupMember, Application or AuditLog
    _timer()
    week = week_of(utcnow())
    body = review.json(week)
    missing = body["summary"]["missing_permissions"]
    assert missing == ["Application.Read.All", "AuditLog.Read.All", "GroupMember.Read.All"]
    whats = " ".join(u["what"] for u in body["unknowns"])
    assert "last sign-in" in whats and "group members" in whats and "service principals" in whats
    statuses = {r["rule_id"]: r["status"] for r in body["rules"]}
    assert statuses["access_phi_no_inactive_accounts"] == "NOT_ASSESSED"
    assert statuses["access_phi_subscription_owner_count"] == "NOT_ASSESSED"
    assert statuses["access_keyvault_policy_service_principals_least_privilege"] == "NOT_ASSESSED"
    # Still judged from what was read: the guest (users were readable).
    assert statuses["access_phi_no_guest_access"] == "FAIL"
    # Unread sign-ins are "unknown", never "never".
    users = [p for p in body["paths"] if p["principal_kind"] in ("User", "Guest")]
    assert users and {p["last_sign_in"] for p in users} == {"unknown"}
    html = review.blobs(week)["access-review.html"].decode()
    assert "What this review could not see" in html
    for permission in missing:
        assert permission in html
    assert review.announced[-1]["missing_permissions"] == missing


def test_graph_paging_select_and_filter_in_the_sim(review: Review) -> None:
    import requests

    sim = review.sim
    headers = {"Authorization": "Bearer t"}
    url = f"{sim.graph_url}/v1.0/users?$select=id,userType&$top=3"
    seen: list[str] = []
    pages = 0
    while url:
        page = requests.get(url, headers=headers, verify=sim.ca_cert, timeout=10).json()
        pages += 1
        assert all(set(u) == {"id", "userType"} for u in page["value"])
        seen += [u["id"] for u in page["value"]]
        url = page.get("@odata.nextLink", "")
    assert pages == 3 and len(seen) == len(set(seen)) == 8
    guests = requests.get(
        f"{sim.graph_url}/v1.0/users",
        params={"$filter": "userType eq 'Guest'", "$select": "id"},
        headers=headers,
        verify=sim.ca_cert,
        timeout=10,
    ).json()
    assert [u["id"] for u in guests["value"]] == [GUEST]
    group = "190c5103-b128-560e-be25-0a681c339f40"  # Cloud Platform Admins (demo)
    batch = requests.post(
        f"{sim.graph_url}/v1.0/$batch",
        json={
            "requests": [
                {
                    "id": "a",
                    "method": "GET",
                    "url": f"/groups/{group}/transitiveMembers?$select=id",
                },
                {
                    "id": "b",
                    "method": "GET",
                    "url": f"/groups/{uuid.UUID(int=1)}/transitiveMembers",
                },
            ]
        },
        headers=headers,
        verify=sim.ca_cert,
        timeout=10,
    ).json()["responses"]
    answers = {r["id"]: r for r in batch}
    members_a = answers["a"]["body"]["value"]
    # Dana, Lee, the nested Break Glass group and its member Sam.
    assert answers["a"]["status"] == 200 and len(members_a) == 4
    assert answers["b"]["status"] == 404
    too_many = [{"id": str(i), "method": "GET", "url": "/users"} for i in range(21)]
    assert (
        requests.post(
            f"{sim.graph_url}/v1.0/$batch",
            json={"requests": too_many},
            headers=headers,
            verify=sim.ca_cert,
            timeout=10,
        ).status_code
        == 400
    )
    sim.grant_graph("User.Read.All")
    denied = requests.get(
        f"{sim.graph_url}/v1.0/users?$select=id,signInActivity",
        headers=headers,
        verify=sim.ca_cert,
        timeout=10,
    )
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "Authorization_RequestDenied"
    members = requests.get(
        f"{sim.graph_url}/v1.0/groups/{uuid.UUID(int=0)}/transitiveMembers",
        headers=headers,
        verify=sim.ca_cert,
        timeout=10,
    )
    assert members.status_code == 403  # GroupMember.Read.All not granted
    assert READER  # (the Reader role id is used by the CLI tests)


def test_decisions_are_recorded_next_to_the_report_in_blob_storage(
    review: Review, azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import csv
    import io

    from shared.cli import main

    _timer()
    week = week_of(utcnow())
    rows = list(csv.DictReader(io.StringIO(review.blobs(week)["access-review.csv"].decode())))
    for row in rows:
        row["decision"] = "remove" if row["principal_id"] == GUEST else "keep"
    decided = tmp_path / "decided.csv"
    with decided.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for name, value in {
        "PHIGUARD_STORAGE_CONNECTION_STRING": azurite.connection_string,
        "PHIGUARD_ARM_URL": review.sim.arm_url,
        "PHIGUARD_CA_CERT": review.sim.ca_cert,
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["access-review", "decide", str(decided), "--reviewer", "co@x.example"]) == 0
    files = review.blobs(week)
    evidence_names = [n for n in files if n.startswith("decisions/")]
    assert len(evidence_names) == 1
    evidence = json.loads(files[evidence_names[0]])
    assert evidence["reviewer"] == "co@x.example" and evidence["week"] == week
    assert sum(d["decision"] == "keep" for d in evidence["decisions"]) == len(rows) - 1
    guest = next(s for s in evidence["plan"] if s["principal_id"] == GUEST)
    assert guest["action"] == "delete" and guest["body"]["properties"]["principalId"] == GUEST
