"""Regression tests for the access review against published ARM / Graph semantics:

* Graph ``signInActivity``: ``lastSignInDateTime`` records attempts (failed ones too); real
  access is ``lastSuccessfulSignInDateTime`` (learn.microsoft.com/graph/api/resources/
  signinactivity);
* Graph user lists selecting ``signInActivity`` answer pages of at most 120 (user-list docs);
* Graph ``transitiveMembers`` answers devices and contacts besides users, groups and service
  principals, each with its ``@odata.type``;
* Graph JSON batching: a request throttled inside a batch carries its own ``Retry-After``;
* ARM role definitions: ``*`` wildcards in ``actions`` / ``notActions``;
* ARM ``principalType`` ``Device`` / ``ForeignGroup``: objects the review's Graph lists do not
  hold, so never "deleted";
* PIM schedules (2020-10-01 examples) written at ``/providers/Microsoft.Subscription/...``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from shared.access import graph as graph_module
from shared.access.graph import GraphClient, GraphError, read_directory
from shared.access.model import Directory, Principal, RoleDefinition, arm_scope
from shared.access.reader import build_grants
from shared.access.rules import RULES
from shared.kernel.findings import Status
from sim.graph import GraphService
from tests.access.fixtures import (
    ALICE,
    CTX,
    CUSTOM,
    DEFINITIONS,
    PHI_RG,
    SUB_ID,
    assignment,
    directory,
    review,
    user,
)


def _run(rule_id: str, data: Any) -> Any:
    return RULES[rule_id].run(data, CTX)


# --- signInActivity -------------------------------------------------------------------------


def _with_activity(activity: dict[str, Any]) -> dict[str, Any]:
    doc = user(ALICE, "alice@contoso.example")
    doc["signInActivity"] = activity
    return doc


def test_a_recent_failed_attempt_is_no_activity_when_graph_sends_the_last_success() -> None:
    # Current Graph v1.0 shape: the attempt fields plus lastSuccessfulSignIn*.
    doc = _with_activity(
        {
            "lastSignInDateTime": "2026-12-06T03:00:00Z",  # a failed password spray
            "lastSignInRequestId": "d4d31c40-4c36-4775-ad59-7d1e6a171f00",
            "lastNonInteractiveSignInDateTime": "2026-12-05T03:00:00Z",
            "lastNonInteractiveSignInRequestId": "868efa6a-b2e9-40e9-9b1c-0aaea5b50200",
            "lastSuccessfulSignInDateTime": "2026-03-01T08:00:00Z",
            "lastSuccessfulSignInRequestId": "d4d31c40-4c36-4775-ad59-7d1e6a171f00",
        }
    )
    found = Principal.from_graph(doc, "User", sign_ins=True)
    assert found.last_sign_in is not None and found.last_sign_in.isoformat().startswith(
        "2026-03-01"
    )
    data = review(
        [assignment(PHI_RG, "Reader", ALICE)],
        directory=_dir_of(found),
    )
    result = _run("access_phi_no_inactive_accounts", data)
    assert result.status == Status.FAIL and "days ago" in result.subjects[0].reason


def test_no_successful_sign_in_on_record_is_never_signed_in() -> None:
    doc = _with_activity(
        {
            "lastSignInDateTime": "2026-12-06T03:00:00Z",
            "lastNonInteractiveSignInDateTime": "0001-01-01T00:00:00Z",
            "lastSuccessfulSignInDateTime": None,
        }
    )
    found = Principal.from_graph(doc, "User", sign_ins=True)
    assert found.last_sign_in is None
    data = review([assignment(PHI_RG, "Reader", ALICE)], directory=_dir_of(found))
    result = _run("access_phi_no_inactive_accounts", data)
    assert result.status == Status.FAIL and "never signed in" in result.subjects[0].reason


def test_payloads_without_the_success_field_fall_back_to_the_latest_attempt() -> None:
    # The 2023 user-list example (no lastSuccessfulSignInDateTime).
    doc = _with_activity(
        {
            "lastSignInDateTime": "2026-11-29T15:53:27Z",
            "lastNonInteractiveSignInDateTime": "2026-11-30T17:53:42Z",
        }
    )
    found = Principal.from_graph(doc, "User", sign_ins=True)
    assert found.last_sign_in is not None and found.last_sign_in.isoformat().startswith(
        "2026-11-30T17:53:42"
    )


def _dir_of(*principals: Principal) -> Directory:
    out = Directory(read={"User", "Group", "ServicePrincipal"})
    for p in principals:
        out.principals[p.id] = p
    return out


# --- the sim's page size with signInActivity --------------------------------------------------


def _get(service: GraphService, url: str) -> dict[str, Any]:
    path, _, query = url.partition("?")
    status, _, body, _ = service.handle("GET", path, query, {"authorization": "Bearer t"})
    assert status == 200, body
    answer: dict[str, Any] = json.loads(body)
    return answer


def test_sim_answers_user_pages_of_at_most_120_when_sign_in_activity_is_selected() -> None:
    service = GraphService("http://sim.test")
    service.load(
        {
            "users": [
                {"id": f"00000000-0000-4000-8000-{i:012d}", "displayName": f"u{i}"}
                for i in range(130)
            ]
        }
    )
    first = _get(service, "/v1.0/users?$select=id,signInActivity&$top=999")
    assert len(first["value"]) == 120 and "@odata.nextLink" in first
    rest = first["@odata.nextLink"].split("/graph", 1)[1]
    assert len(_get(service, rest)["value"]) == 10
    whole = _get(service, "/v1.0/users?$select=id,displayName&$top=999")
    assert len(whole["value"]) == 130 and "@odata.nextLink" not in whole


# --- transitiveMembers object types ----------------------------------------------------------


def test_devices_and_contacts_in_a_group_are_not_read_as_users() -> None:
    members = [
        {"@odata.type": "#microsoft.graph.user", "id": ALICE, "userPrincipalName": "a@x.example"},
        {"@odata.type": "#microsoft.graph.device", "id": "dddddddd-0000-4000-8000-000000000001"},
        {"@odata.type": "#microsoft.graph.orgContact", "id": "cccccccc-0000-4000-8000-00000000c0"},
        {"@odata.type": "#microsoft.graph.group", "id": "99999999-0000-4000-8000-000000000009"},
        {
            "@odata.type": "#microsoft.graph.servicePrincipal",
            "id": "5555aaaa-0000-4000-8000-000000000005",
            "servicePrincipalType": "Application",
        },
    ]
    out = Directory()

    def add(objects: Any, kind: Any, sign_ins: bool) -> None:
        for doc in objects:
            found = Principal.from_graph(doc, kind, sign_ins=sign_ins)
            out.principals[found.id] = found

    graph_module._members(out, "g", members, add)
    assert out.members["g"] == (ALICE, "5555aaaa-0000-4000-8000-000000000005")
    assert out.principals[ALICE].kind == "User"
    assert out.principals["5555aaaa-0000-4000-8000-000000000005"].kind == "ServicePrincipal"
    assert "dddddddd-0000-4000-8000-000000000001" not in out.principals


# --- JSON batching: an inner 429 --------------------------------------------------------------


class _Answer:
    def __init__(self, body: dict[str, Any]) -> None:
        self._body = body

    def json(self) -> dict[str, Any]:
        return self._body


class _Credential:
    def get_token(self, *scopes: str, **kwargs: Any) -> Any:  # never called: send is faked
        raise AssertionError("no token wanted")


G1 = "10000000-0000-4000-8000-000000000001"
G2 = "20000000-0000-4000-8000-000000000002"
BOB_ID = "f0662ee5-84b1-43d6-8338-769cce1bc141"


def test_a_request_throttled_inside_a_batch_is_retried_after_its_retry_after() -> None:
    client = GraphClient("https://graph.microsoft.com", _Credential())
    events: list[str] = []

    def send(method: str, url: str, *, kind: str, json: Any = None, **_: Any) -> _Answer:
        path = url.split("/v1.0", 1)[1]
        events.append(f"{method} {path.split('?', 1)[0]}")
        if method == "POST":
            return _Answer(
                {
                    "responses": [
                        {
                            "id": "1",
                            "status": 429,
                            "headers": {"Retry-After": "7", "Content-Type": "application/json"},
                            "body": {"error": {"code": "TooManyRequests", "message": "slow"}},
                        },
                        {
                            "id": "0",
                            "status": 200,
                            "headers": {},
                            "body": {
                                "value": [{"@odata.type": "#microsoft.graph.user", "id": ALICE}]
                            },
                        },
                    ]
                }
            )
        if path.startswith("/users"):
            return _Answer({"value": [{"id": ALICE}, {"id": BOB_ID}]})
        if path.startswith("/servicePrincipals"):
            return _Answer({"value": []})
        if path.startswith("/groups?"):
            return _Answer({"value": [{"id": G1}, {"id": G2}]})
        if path.startswith(f"/groups/{G2}/transitiveMembers"):
            return _Answer({"value": [{"@odata.type": "#microsoft.graph.user", "id": BOB_ID}]})
        raise AssertionError(f"unexpected {method} {url}")

    client.send = send  # type: ignore[method-assign,assignment]
    client.pause = lambda seconds: events.append(f"pause {seconds:g}")  # type: ignore[method-assign]
    found = read_directory(client, [G1, G2])
    assert found.members == {G1: (ALICE,), G2: (BOB_ID,)}
    at = events.index(f"GET /groups/{G2}/transitiveMembers")
    assert events[at - 1] == "pause 7", events
    client.close()


# --- role definitions: wildcards -------------------------------------------------------------


def _custom(actions: list[str], not_actions: list[str] | None = None) -> dict[str, Any]:
    return {
        "properties": {
            "roleName": "Access changers",
            "type": "CustomRole",
            "description": "",
            "assignableScopes": [SUB_ID],
            "permissions": [
                {
                    "actions": actions,
                    "notActions": not_actions or [],
                    "dataActions": [],
                    "notDataActions": [],
                }
            ],
        },
        "id": f"{SUB_ID}/providers/Microsoft.Authorization/roleDefinitions/{CUSTOM}",
        "type": "Microsoft.Authorization/roleDefinitions",
        "name": CUSTOM,
    }


def test_role_assignment_write_through_a_wildcard_is_privileged() -> None:
    for actions in (
        ["Microsoft.Authorization/roleAssignments/*"],
        ["Microsoft.Authorization/*/Write"],
        ["*/write"],
    ):
        assert RoleDefinition.from_arm(_custom(actions)).privileged, actions
    assert not RoleDefinition.from_arm(_custom(["*/read"])).privileged
    assert not RoleDefinition.from_arm(
        _custom(["Microsoft.Authorization/*/write"], ["Microsoft.Authorization/roleAssignments/*"])
    ).privileged
    data = review(
        [assignment(PHI_RG, CUSTOM, ALICE)],
        definitions=[*DEFINITIONS, _custom(["Microsoft.Authorization/roleAssignments/*"])],
    )
    result = _run("access_phi_no_standing_privileged_roles", data)
    assert result.status == Status.FAIL and "Access changers" in result.subjects[0].reason


# --- principal types the review does not list -----------------------------------------------


def test_device_and_foreign_group_assignments_are_not_called_deleted() -> None:
    rid = "access_phi_no_orphaned_assignments"
    for kind in ("Device", "ForeignGroup"):
        other = "7a7a7a7a-0000-4000-8000-000000000077"
        data = review([assignment(PHI_RG, "Reader", other, kind)], directory=directory())
        result = _run(rid, data)
        assert result.status == Status.NOT_ASSESSED, (kind, result)
        assert kind in result.unknown[0]
    # A deleted user is still reported.
    gone = review([assignment(PHI_RG, "Reader", ALICE)], directory=directory())
    assert _run(rid, gone).status == Status.FAIL


# --- PIM schedules at /providers/Microsoft.Subscription/subscriptions/{id} -------------------

PIM_SUB = "dfa2a084-766f-4003-8ae1-c4aeb893a99f"
PIM_USER = "a3bb8764-cb92-4276-9d2a-ca1e895e55ea"
PIM_ROLE = "c8d4ff99-41c3-41a8-9f60-21dfdad59608"


def test_subscription_provider_scope_is_the_subscription() -> None:
    assert arm_scope(f"/providers/Microsoft.Subscription/subscriptions/{PIM_SUB}") == (
        f"/subscriptions/{PIM_SUB}"
    )
    assert arm_scope(f"providers/microsoft.subscription/subscriptions/{PIM_SUB}/resourceGroups/r")
    assert arm_scope(PHI_RG) == PHI_RG


def test_published_assignment_schedule_makes_its_assignment_time_bound(reference_dir) -> None:  # type: ignore[no-untyped-def]
    listing = json.loads(
        (
            reference_dir
            / "arm-extra"
            / "Microsoft.Authorization__roleAssignmentSchedules__ListForScope__2020-10-01.json"
        ).read_text()
    )
    schedules = listing["responses"]["200"]["body"]["value"]
    active = {
        "properties": {
            "roleDefinitionId": f"/subscriptions/{PIM_SUB}/providers/Microsoft.Authorization/"
            f"roleDefinitions/{PIM_ROLE}",
            "principalId": PIM_USER,
            "principalType": "User",
            "scope": f"/subscriptions/{PIM_SUB}",
        },
        "id": f"/subscriptions/{PIM_SUB}/providers/Microsoft.Authorization/roleAssignments/"
        "0e6b8a5c-0000-4000-8000-000000000001",
        "type": "Microsoft.Authorization/roleAssignments",
        "name": "0e6b8a5c-0000-4000-8000-000000000001",
    }
    errors: list[str] = []
    _, grants, _ = build_grants([], [active], [], schedules, [], lambda s: True, errors)
    assert not errors and len(grants) == 1
    assert grants[0].access == "jit" and grants[0].end.startswith("2020-09-10")


def test_eligibility_at_the_subscription_provider_form_reaches_phi_in_the_subscription() -> None:
    eligible = {
        "properties": {
            "scope": f"/providers/Microsoft.Subscription{SUB_ID}",
            "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/"
            "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
            "principalId": ALICE,
            "principalType": "User",
            "status": "Provisioned",
            "memberType": "Direct",
            "startDateTime": "2026-09-09T21:33:14.557Z",
            "endDateTime": "2027-09-09T21:32:28.49Z",
        },
        "id": f"/providers/Microsoft.Subscription{SUB_ID}/providers/Microsoft.Authorization/"
        "RoleEligibilitySchedules/b1477448-2cc6-4ceb-93b4-54a202a89413",
        "type": "Microsoft.Authorization/RoleEligibilitySchedules",
        "name": "b1477448-2cc6-4ceb-93b4-54a202a89413",
    }
    data = review(eligible=[eligible], directory=directory([user(ALICE, "a@x.example")]))
    assert [(p.principal_id, p.grant.access, p.scope) for p in data.paths] == [
        (ALICE, "eligible", SUB_ID)
    ]


# --- decisions: RoleAssignments_Delete / Create (2022-04-01) ---------------------------------

LIGHTHOUSE_ASSIGNMENT = f"{PHI_RG}/providers/Microsoft.Authorization/roleAssignments/" + (
    "b0f43c54-e787-4862-89b1-a653fa9cf747"
)


class _Writer:
    def __init__(self, status: int) -> None:
        self.status = status
        self.deleted: list[str] = []

    def delete(self, target: str, api_version: str) -> Any:
        from shared.arm.writer import WriteResult

        self.deleted.append(target)
        return WriteResult(self.status, None, None)


class _Reader:
    def get(self, path: str, version: str, kind: str = "") -> dict[str, Any]:
        return {
            "id": path,
            "type": "Microsoft.Authorization/roleAssignments",
            "name": path.rsplit("/", 1)[-1],
            "properties": {
                "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/"
                "acdd72a7-3385-48ef-bd42-f606fba81ae7",
                "principalId": ALICE,
                "principalType": "ServicePrincipal",
                "scope": PHI_RG,
                "delegatedManagedIdentityResourceId": f"{SUB_ID}/resourceGroups/rg-mi/providers/"
                "Microsoft.ManagedIdentity/userAssignedIdentities/mi-partner",
                "createdOn": "2026-01-05T10:00:00.0000000Z",
            },
        }


def _delete_step() -> list[dict[str, Any]]:
    return [
        {
            "line": 2,
            "action": "delete",
            "method": "DELETE",
            "target": LIGHTHOUSE_ASSIGNMENT,
            "api_version": "2022-04-01",
        }
    ]


def test_rollback_body_keeps_the_delegated_managed_identity() -> None:
    from shared.access.decisions import attach_bodies

    plan = _delete_step()
    attach_bodies(plan, _Reader())  # type: ignore[arg-type]
    kept = plan[0]["rollback"]["body"]["properties"]
    assert kept["delegatedManagedIdentityResourceId"].endswith("/mi-partner")
    assert "createdOn" not in kept and "scope" not in kept  # read-only properties


def test_a_delete_answered_204_is_already_gone_not_deleted() -> None:
    from datetime import UTC, datetime

    from shared.access.decisions import apply_plan, attach_bodies, rollback_plan

    now = datetime(2026, 12, 7, tzinfo=UTC)
    for status, expected in ((204, "already gone"), (200, "deleted")):
        plan = _delete_step()
        attach_bodies(plan, _Reader())  # type: ignore[arg-type]
        writer = _Writer(status)
        apply_plan(plan, writer, now)  # type: ignore[arg-type]
        assert writer.deleted == [LIGHTHOUSE_ASSIGNMENT]
        assert plan[0]["result"].startswith(expected), plan[0]["result"]
    # Nothing phiguard did not delete is recreated by a rollback.
    gone = _delete_step()
    attach_bodies(gone, _Reader())  # type: ignore[arg-type]
    apply_plan(gone, _Writer(204), now)  # type: ignore[arg-type]
    assert rollback_plan({"plan": gone}, _Reader(), _Writer(200), now) == []  # type: ignore[arg-type]


# --- signInActivity in a tenant without Entra ID P1/P2 -----------------------------------------


def test_a_tenant_without_premium_is_told_apart_from_a_missing_permission() -> None:
    service = GraphService("http://sim.test")
    service.load({"users": [user(ALICE, "alice@contoso.example")]})
    service.premium = False
    client = GraphClient("https://graph.microsoft.com", _Credential())

    def send(method: str, url: str, *, kind: str, **extra: Any) -> Any:
        path, _sep, query = url.split("/v1.0", 1)[1].partition("?")
        status, _headers, body, _reset = service.handle(
            method, "/v1.0" + path, unquote(query), {"authorization": "Bearer t"}
        )
        answer = json.loads(body)
        if status != 200:
            raise GraphError(status, answer["error"]["code"], answer["error"]["message"], url)
        return _Answer(answer)

    client.send = send  # type: ignore[method-assign]
    found = read_directory(client, [])
    assert "User" in found.read and ALICE in found.principals
    (why,) = [u.why for u in found.unknowns if u.what == "last sign-in of every user"]
    assert "P1 or P2 licence" in why and "RequestFromNonPremiumTenant" in why
    client.close()


def test_a_resource_in_a_group_named_providers_takes_its_groups_phi_scope() -> None:
    """ARM reads ids by position: a resource group may be named ``providers`` (Resource name
    rules), and its untagged resources are PHI through the group's tag like any other's."""

    from shared.access.reader import read_subscription
    from shared.kernel.phi_scope import PhiScope

    sub = "00000000-0000-0000-0000-0000000000aa"
    group_id = f"/subscriptions/{sub}/resourceGroups/providers"
    group = {
        "id": group_id,
        "name": "providers",
        "tags": {"hipaa": "true"},
    }
    vault = f"{group_id}/providers/Microsoft.Storage/storageAccounts/phidata"

    class Arm:
        def get(self, path: str, api_version: str, kind: str = "resource") -> Any:
            return {"id": path, "subscriptionId": sub, "displayName": "s"}

        def resource_groups(self, subscription: str) -> dict[str, Any]:
            return {group_id.lower(): group}

        def list_items(self, path: str, api_version: str, kind: str = "") -> Any:
            if path.endswith("/resources"):
                return iter([{"id": vault, "type": "Microsoft.Storage/storageAccounts"}])
            return iter([])

    phi, *_rest, errors = read_subscription(Arm(), sub, PhiScope())  # type: ignore[arg-type]
    assert vault in phi and group_id in phi
    assert errors == []
