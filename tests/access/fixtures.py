"""Access-review fixtures in the shapes ARM and Graph publish (RoleAssignments_Get 2022-04-01,
RoleDefinitions_Get, RoleEligibilitySchedules_ListForScope 2020-10-01, Vaults_Get
accessPolicies; Graph v1.0 user / group / servicePrincipal), and the one builder the rule tests
use: documents in, :class:`ReviewData` out, through the same code the reader uses."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from shared.access.model import Directory, Principal, ReviewData, expand
from shared.access.reader import build_grants
from shared.access.rules import ReviewContext

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
SUB = "a925f2f7-5c63-4b7b-8799-25a5f97bc3b2"
SUB_ID = f"/subscriptions/{SUB}"
PHI_RG = f"{SUB_ID}/resourceGroups/rg-phi"
OTHER_RG = f"{SUB_ID}/resourceGroups/rg-shop"
VAULT = f"{PHI_RG}/providers/Microsoft.KeyVault/vaults/kv-phi"
ROLES = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
}
CUSTOM = "11111111-0000-4000-8000-00000000c0de"
CTX = ReviewContext(now=NOW)


def role_definition(
    name: str, guid: str, actions: Sequence[str] = ("*",), custom: bool = False
) -> dict[str, Any]:
    return {
        "properties": {
            "roleName": name,
            "type": "CustomRole" if custom else "BuiltInRole",
            "description": "",
            "assignableScopes": ["/"],
            "permissions": [
                {
                    "actions": list(actions),
                    "notActions": [],
                    "dataActions": [],
                    "notDataActions": [],
                }
            ],
        },
        "id": f"{SUB_ID}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
        "type": "Microsoft.Authorization/roleDefinitions",
        "name": guid,
    }


DEFINITIONS = [
    role_definition("Owner", ROLES["Owner"]),
    role_definition("Contributor", ROLES["Contributor"]),
    role_definition("Reader", ROLES["Reader"], ("*/read",)),
]


def assignment(
    scope: str, role: str, principal: str, kind: str = "User", name: str = ""
) -> dict[str, Any]:
    guid = ROLES.get(role, role)
    name = name or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope}|{role}|{principal}"))
    return {
        "properties": {
            "roleDefinitionId": f"/providers/Microsoft.Authorization/roleDefinitions/{guid}",
            "principalId": principal,
            "principalType": kind,
            "scope": scope,
            "createdOn": "2026-01-05T10:00:00.0000000Z",
        },
        "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
        "type": "Microsoft.Authorization/roleAssignments",
        "name": name,
    }


def eligibility(scope: str, role: str, principal: str, kind: str = "User") -> dict[str, Any]:
    doc = assignment(scope, role, principal, kind)
    doc["id"] = doc["id"].replace("roleAssignments", "roleEligibilitySchedules")
    doc["type"] = "Microsoft.Authorization/RoleEligibilitySchedules"
    doc["properties"] |= {
        "status": "Provisioned",
        "memberType": "Direct",
        "startDateTime": "2026-09-09T21:33:14.557Z",
        "endDateTime": "2027-09-09T21:32:28.49Z",
    }
    return doc


def vault(
    policies: Sequence[tuple[str, dict[str, list[str]]]], rbac: bool = False
) -> dict[str, Any]:
    return {
        "id": VAULT,
        "name": "kv-phi",
        "type": "Microsoft.KeyVault/vaults",
        "location": "eastus2",
        "tags": {},
        "properties": {
            "sku": {"family": "A", "name": "standard"},
            "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "enableRbacAuthorization": rbac,
            "accessPolicies": [
                {
                    "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                    "objectId": oid,
                    "permissions": perms,
                }
                for oid, perms in policies
            ],
        },
    }


def user(
    oid: str,
    upn: str,
    *,
    guest: bool = False,
    enabled: bool = True,
    last: str | None = "2026-12-01T08:00:00Z",
) -> dict[str, Any]:
    return {
        "displayName": upn.split("@")[0],
        "userPrincipalName": upn,
        "id": oid,
        "userType": "Guest" if guest else "Member",
        "accountEnabled": enabled,
        "signInActivity": None
        if last is None
        else {
            "lastSignInDateTime": last,
            "lastSignInRequestId": "d4d31c40-4c36-4775-ad59-7d1e6a171f00",
            "lastNonInteractiveSignInDateTime": "0001-01-01T00:00:00Z",
            "lastNonInteractiveSignInRequestId": "",
        },
    }


def sp(oid: str, name: str, managed: bool = False) -> dict[str, Any]:
    return {
        "id": oid,
        "appId": f"app-{oid}",
        "displayName": name,
        "servicePrincipalType": "ManagedIdentity" if managed else "Application",
        "accountEnabled": True,
    }


ALICE = "1aecaf40-dc3a-461f-88a8-d06994e12898"
BOB = "f0662ee5-84b1-43d6-8338-769cce1bc141"
CAROL = "0c3ac4b5-0000-4000-8000-00000000ca01"
GUEST = "9e44a961-bf4d-5124-997e-2f62f41057c1"
ADMINS = "190c5103-b128-560e-be25-0a681c339f40"
APP = "00af5dfb-85da-4b41-a677-0c6b86dd34f8"
GONE = "d718f6c4-f5ea-5cf1-818c-c1497be0f791"


def directory(
    users: Sequence[dict[str, Any]] = (),
    sps: Sequence[dict[str, Any]] = (),
    groups: dict[str, tuple[str, Sequence[str]]] | None = None,
    *,
    read: Sequence[str] = ("User", "Group", "ServicePrincipal"),
    sign_ins: bool = True,
) -> Directory:
    out = Directory(read=set(read))
    for doc in users:
        found = Principal.from_graph(doc, "User", sign_ins=sign_ins)
        out.principals[found.id] = found
    for doc in sps:
        found = Principal.from_graph(doc, "ServicePrincipal")
        out.principals[found.id] = found
    for gid, (name, members) in (groups or {}).items():
        out.principals[gid] = Principal.from_graph({"id": gid, "displayName": name}, "Group")
        out.members[gid] = tuple(members)
    return out


def review(
    assignments: Sequence[dict[str, Any]] = (),
    *,
    eligible: Sequence[dict[str, Any]] = (),
    vaults: Sequence[dict[str, Any]] = (),
    definitions: Sequence[dict[str, Any]] = DEFINITIONS,
    directory: Directory | None = None,
    phi: Sequence[str] = (PHI_RG,),
    previous: dict[str, dict[str, Any]] | None = None,
) -> ReviewData:
    data = ReviewData(
        subscriptions=[SUB],
        phi_scopes=list(phi),
        roles={},
        grants=[],
        directory=directory or Directory(read={"User", "Group", "ServicePrincipal"}),
        previous=previous,
    )
    errors: list[str] = []
    data.roles, data.grants, data.vaults = build_grants(
        definitions, assignments, eligible, [], vaults, data.is_phi, errors
    )
    data.errors = errors
    data.paths = expand(data)
    return data
