"""Governance checks: the HITRUST/HIPAA Azure Policy baseline and custom RBAC roles.

A subscription body (Subscriptions_Get) has no ``type``; its type,
``microsoft.resources/subscriptions``, is inferred from its id ``/subscriptions/<id>``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

from checks.azure_policy import HITRUST_HIPAA_INITIATIVE
from checks.common import Evidence, as_list
from checks.registry import check
from shared.kernel.findings import Result, Severity, failed, not_applicable, passed
from shared.kernel.resource_id import normalize
from shared.kernel.snapshot import MalformedResource, Snapshot

SUBSCRIPTIONS = ("microsoft.resources/subscriptions",)
ROLE_DEFINITIONS = ("microsoft.authorization/roledefinitions",)

INITIATIVE_ID = normalize(
    f"/providers/Microsoft.Authorization/policySetDefinitions/{HITRUST_HIPAA_INITIATIVE}"
)
_ASSIGNMENT_SEGMENT = "/providers/microsoft.authorization/policyassignments/"
_MANAGEMENT_GROUP_PREFIX = "/providers/microsoft.management/managementgroups/"


def _assignment_props(assignment: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    props = assignment.get("properties")
    if not isinstance(props, Mapping):
        raise MalformedResource(f"{where}.properties is missing or not an object")
    return props


def _assignment_scope(assignment: Mapping[str, Any], props: Mapping[str, Any], where: str) -> str:
    """The assignment's scope: ``properties.scope``, else the part of its id before the type."""
    scope = props.get("scope")
    if scope is None:
        rid = assignment.get("id")
        if not isinstance(rid, str) or _ASSIGNMENT_SEGMENT not in rid.lower():
            raise MalformedResource(f"{where} has neither properties.scope nor an assignment id")
        scope = rid[: rid.lower().index(_ASSIGNMENT_SEGMENT)] or "/"
    if not isinstance(scope, str):
        raise MalformedResource(f"{where}.properties.scope is {scope!r}, expected a string")
    return normalize(scope)


def _not_scopes(props: Mapping[str, Any], where: str) -> list[str]:
    items = as_list(props.get("notScopes"), f"{where}.properties.notScopes")
    if not all(isinstance(s, str) for s in items):
        raise MalformedResource(f"{where}.properties.notScopes holds a non-string scope")
    return [normalize(s) for s in items]


def _initiative_assignments(
    snapshot: Snapshot,
) -> tuple[list[tuple[str, Mapping[str, Any], list[str]]], dict[str, Any]]:
    """HITRUST/HIPAA assignments that cover this whole subscription, and evidence of all of them.

    An assignment covers the subscription when it is made at the subscription or at a
    management group (inherited) and its ``notScopes`` do not list the subscription itself.
    Assignments at a resource group inside the subscription cover only that group.
    """
    sub_key = normalize(snapshot.id)
    covering: list[tuple[str, Mapping[str, Any], list[str]]] = []
    evidence: dict[str, Any] = {}
    assignments = snapshot.docs("policy_assignments")
    for index, assignment in enumerate(assignments):
        where = f"related.policy_assignments[{index}]"
        props = _assignment_props(assignment, where)
        definition = props.get("policyDefinitionId")
        if not isinstance(definition, str):
            raise MalformedResource(
                f"{where}.properties.policyDefinitionId is missing or not a string"
            )
        if normalize(definition) != INITIATIVE_ID:
            continue
        scope = _assignment_scope(assignment, props, where)
        not_scopes = _not_scopes(props, where)
        at_sub = scope == sub_key
        inherited = scope.startswith(_MANAGEMENT_GROUP_PREFIX) or scope == "/"
        excluded = sub_key in not_scopes
        if at_sub or inherited:
            coverage = "excluded by notScopes" if excluded else "whole subscription"
        elif scope.startswith(sub_key + "/"):
            coverage = "part of the subscription only"
        else:
            coverage = "another scope"
        mode = props.get("enforcementMode", "Default")
        evidence[where] = {
            "name": assignment.get("name"),
            "scope": scope,
            "enforcementMode": mode,
            "notScopes": not_scopes,
            "coverage": coverage,
        }
        if coverage == "whole subscription":
            covering.append((str(assignment.get("name") or f"#{index}"), props, not_scopes))
    evidence["related.policy_assignments.count"] = len(assignments)
    return covering, evidence


@check(
    id="governance_subscription_hipaa_initiative_assigned",
    title="The HITRUST/HIPAA Azure Policy initiative is assigned to every PHI subscription",
    severity=Severity.HIGH,
    resource_types=SUBSCRIPTIONS,
    hipaa=("164.308(a)(1)(ii)(B)", "164.308(a)(8)"),
    phi_only=True,
    needs=("policy_assignments",),
    patterns=("P3",),
    guidance="Assign the built-in initiative HITRUST/HIPAA (policySetDefinitions/"
    "a169a624-5599-4385-a696-c8d643089fab) at the subscription or a parent management group, "
    "without listing the subscription in notScopes.",
    limitations="Policy exemptions are not fetched, so exempted members of the initiative are not "
    "seen; whether a management group in notScopes contains the subscription cannot be told from "
    "the assignment alone.",
)
def governance_subscription_hipaa_initiative_assigned(snapshot: Snapshot) -> Result:
    """PASS when an assignment of the HITRUST/HIPAA initiative (``policyDefinitionId`` equal,
    case-insensitively, to ``/providers/Microsoft.Authorization/policySetDefinitions/
    a169a624-5599-4385-a696-c8d643089fab``) is made at this subscription or a management group
    above it and does not exclude the subscription; FAIL otherwise, because without the baseline
    nobody is told when PHI resources drift from the HIPAA controls (pattern P3). An assignment
    in ``DoNotEnforce`` mode still counts, since its compliance is still evaluated, and the
    reason says so. ``enforcementMode`` absent means ``Default``."""
    covering, evidence = _initiative_assignments(snapshot)
    if not covering:
        partial = any(
            isinstance(v, Mapping) and v.get("coverage") != "another scope"
            for v in evidence.values()
        )
        if partial:
            return failed(
                "The HITRUST/HIPAA initiative is assigned only to part of the "
                "subscription or excludes it.",
                evidence,
            )
        return failed(
            "The HITRUST/HIPAA initiative is not assigned to this subscription.", evidence
        )
    enforced = [
        name
        for name, props, _ in covering
        if str(props.get("enforcementMode", "Default")).lower() != "donotenforce"
    ]
    if enforced:
        return passed(
            f"The HITRUST/HIPAA initiative is assigned through {enforced[0]!r}.", evidence
        )
    return passed(
        f"The HITRUST/HIPAA initiative is assigned through {covering[0][0]!r} in "
        "DoNotEnforce mode: compliance is evaluated but no effect is enforced.",
        evidence,
    )


@check(
    id="governance_subscription_hipaa_initiative_no_exclusions",
    title="The HITRUST/HIPAA initiative assignment excludes no scope inside a PHI subscription",
    severity=Severity.MEDIUM,
    resource_types=SUBSCRIPTIONS,
    hipaa=("164.308(a)(1)(ii)(B)", "164.308(a)(8)"),
    phi_only=True,
    needs=("policy_assignments",),
    patterns=("P3",),
    guidance="Remove resource groups and resources of this subscription from the initiative "
    "assignment's notScopes, or document why each excluded scope holds no PHI.",
    limitations="ARM shows which scopes are excluded but not whether they hold PHI, so every "
    "exclusion is reported; policy exemptions are not fetched.",
)
def governance_subscription_hipaa_initiative_no_exclusions(snapshot: Snapshot) -> Result:
    """PASS when no HITRUST/HIPAA initiative assignment covering the subscription lists a
    resource group or resource of the subscription in ``notScopes``; FAIL when one does,
    because PHI resources in an excluded scope silently fall outside the HIPAA baseline.
    NOT_APPLICABLE when no assignment covers the subscription (the assignment check fails
    then). ``notScopes`` absent means no exclusions."""
    covering, evidence = _initiative_assignments(snapshot)
    if not covering:
        return not_applicable(
            "The HITRUST/HIPAA initiative is not assigned to this subscription.", evidence
        )
    sub_key = normalize(snapshot.id)
    excluded = sorted(
        {s for _, _, not_scopes in covering for s in not_scopes if s.startswith(sub_key + "/")}
    )
    evidence["excluded_scopes_in_subscription"] = excluded
    if excluded:
        return failed(
            f"The HITRUST/HIPAA initiative excludes {len(excluded)} scope(s) in this "
            f"subscription, e.g. {excluded[0]}.",
            evidence,
        )
    return passed("The HITRUST/HIPAA initiative excludes no scope in this subscription.", evidence)


# Operations that let a role holder grant itself (or anyone) any other role.
_ROLE_ASSIGNMENT_WRITE = "microsoft.authorization/roleassignments/write"


def _grants(actions: list[str], not_actions: list[str], operation: str) -> bool:
    allowed = any(fnmatch.fnmatchcase(operation, a) for a in actions)
    return allowed and not any(fnmatch.fnmatchcase(operation, n) for n in not_actions)


def _strings(value: Any, where: str) -> list[str]:
    items = as_list(value, where)
    if not all(isinstance(i, str) for i in items):
        raise MalformedResource(f"{where} holds a non-string entry")
    return [i.strip().lower() for i in items]


@check(
    id="governance_custom_role_no_broad_permissions",
    title="Custom RBAC roles grant neither all actions nor the right to assign roles",
    severity=Severity.HIGH,
    resource_types=ROLE_DEFINITIONS,
    hipaa=("164.308(a)(4)(ii)(B)", "164.308(a)(4)(ii)(C)", "164.312(a)(1)"),
    azure_policy=("a451c1ef-c6ca-483d-87ed-f49761e3ffb5",),
    guidance="Replace '*' with the specific actions the role needs, and remove "
    "Microsoft.Authorization/roleAssignments/write (or add it to notActions); use built-in roles "
    "such as Owner or User Access Administrator, under PIM, for those duties.",
    limitations="Who holds the role and at which scope is not evaluated; '*' in notActions-"
    "reduced roles still counts as broad.",
)
def governance_custom_role_no_broad_permissions(snapshot: Snapshot) -> Result:
    """PASS when a custom role (``properties.type`` ``CustomRole``) has neither ``*`` in its
    ``actions`` or ``dataActions`` nor an action that grants
    ``Microsoft.Authorization/roleAssignments/write`` (after ``notActions``); FAIL when it has,
    because such a role gives control over every resource (and its data, PHI included) or lets
    its holders grant themselves any access, defeating access authorization. Wildcards are
    matched case-insensitively, as ARM does. NOT_APPLICABLE for built-in roles."""
    ev = Evidence(snapshot)
    role_type = ev.prop("type", None)
    if not isinstance(role_type, str) or role_type.strip().lower() != "customrole":
        return not_applicable("The role definition is not a custom role.")
    ev.read("properties.roleName", None)
    broad: list[str] = []
    permissions = as_list(ev.prop("permissions", []), "properties.permissions")
    for index, permission in enumerate(permissions):
        where = f"properties.permissions[{index}]"
        if not isinstance(permission, Mapping):
            raise MalformedResource(f"{where} is not an object")
        actions = _strings(permission.get("actions"), f"{where}.actions")
        not_actions = _strings(permission.get("notActions"), f"{where}.notActions")
        data_actions = _strings(permission.get("dataActions"), f"{where}.dataActions")
        if "*" in actions:
            broad.append("all actions (*)")
        if "*" in data_actions:
            broad.append("all data actions (*)")
        if _grants(actions, not_actions, _ROLE_ASSIGNMENT_WRITE):
            broad.append("role assignment write")
    if broad:
        return ev.failed(f"The custom role grants {', '.join(sorted(set(broad)))}.")
    return ev.passed("The custom role grants neither all actions nor role assignment rights.")


# --- privileged access at PHI subscriptions (the ARM side; the weekly access review adds Graph)

OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c4a72d9d"
RBAC_ADMINISTRATOR = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"
# Built-in role ids are the same in every tenant (learn.microsoft.com, "Azure built-in roles").
PRIVILEGED_ROLES = {
    OWNER: "Owner",
    CONTRIBUTOR: "Contributor",
    USER_ACCESS_ADMINISTRATOR: "User Access Administrator",
    RBAC_ADMINISTRATOR: "Role Based Access Control Administrator",
}
ACCESS_ADMIN_ROLES = {USER_ACCESS_ADMINISTRATOR, RBAC_ADMINISTRATOR}
MIN_OWNERS, MAX_OWNERS = 2, 3


def _grants_reaching_subscription(snapshot: Snapshot) -> list[tuple[str, str, str]]:
    """(role definition guid, principal id, principal type) of every assignment in the
    subscription's list whose scope is the subscription or above it (a management group, the
    root): the standing grants over everything in the subscription."""
    subscription = normalize(snapshot.id)
    grants = []
    for index, item in enumerate(as_list(snapshot.doc("role_assignments"), "role_assignments")):
        where = f"related.role_assignments[{index}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("properties"), Mapping):
            raise MalformedResource(f"{where} has no properties object")
        props = item["properties"]
        scope = normalize(str(props.get("scope") or ""))
        reaches = (
            scope == subscription
            or scope == "/"
            or scope.startswith("/providers/microsoft.management/managementgroups/")
        )
        if not reaches:
            continue
        role = str(props.get("roleDefinitionId") or "").rstrip("/").rsplit("/", 1)[-1].lower()
        grants.append(
            (role, str(props.get("principalId") or ""), str(props.get("principalType") or ""))
        )
    return grants


def _privileged_grants_to(snapshot: Snapshot, principal_type: str) -> list[str]:
    """``Role: principal id`` of the privileged grants over the subscription held by principals
    of ``principal_type`` (lowercase), sorted."""
    return sorted(
        {
            f"{PRIVILEGED_ROLES[role]}: {principal}"
            for role, principal, kind in _grants_reaching_subscription(snapshot)
            if role in PRIVILEGED_ROLES and kind.lower() == principal_type
        }
    )


_GROUPS_NOTE = (
    "A group counts as one principal: its members are read by the weekly access review "
    "(Microsoft Graph), not here."
)


@check(
    id="governance_subscription_owner_count_in_range",
    title=f"A PHI subscription has {MIN_OWNERS} to {MAX_OWNERS} owners",
    severity=Severity.MEDIUM,
    resource_types=SUBSCRIPTIONS,
    hipaa=("164.308(a)(3)(ii)(B)", "164.308(a)(4)(ii)(B)"),
    phi_only=True,
    needs=("role_assignments",),
    guidance=f"Keep {MIN_OWNERS} to {MAX_OWNERS} Owner assignments at the subscription and above "
    "(one person is a single point of failure, more widen who can change access to PHI); make "
    "the others eligible through PIM.",
    limitations=_GROUPS_NOTE + " The built-in policies on owner counts are not cited: their "
    "ids were not verified here.",
)
def governance_subscription_owner_count_in_range(snapshot: Snapshot) -> Result:
    """PASS when the distinct principals holding Owner at the subscription or above number
    between 2 and 3; FAIL otherwise, because a single owner cannot be reviewed or replaced and
    many owners make access authorization meaningless."""
    owners = sorted({p for role, p, _ in _grants_reaching_subscription(snapshot) if role == OWNER})
    evidence = {"owners": len(owners), "owner_principal_ids": owners[:20]}
    if MIN_OWNERS <= len(owners) <= MAX_OWNERS:
        return passed(f"{len(owners)} principals own the subscription.", evidence)
    return failed(
        f"{len(owners)} principal(s) own the subscription; {MIN_OWNERS} to {MAX_OWNERS} expected.",
        evidence,
    )


@check(
    id="governance_subscription_no_standing_access_administrator",
    title="No standing User Access Administrator or RBAC Administrator over a PHI subscription",
    severity=Severity.HIGH,
    resource_types=SUBSCRIPTIONS,
    hipaa=("164.308(a)(4)(ii)(B)", "164.308(a)(4)(ii)(C)", "164.312(a)(1)"),
    phi_only=True,
    needs=("role_assignments",),
    guidance="Remove standing User Access Administrator / Role Based Access Control "
    "Administrator assignments at the subscription and above; grant them just in time through "
    "PIM.",
    limitations="An assignment PIM activated for a few hours is listed like a standing one "
    "(the access review tells them apart with the PIM schedules).",
)
def governance_subscription_no_standing_access_administrator(snapshot: Snapshot) -> Result:
    """PASS when no principal holds User Access Administrator or RBAC Administrator at the
    subscription or above; FAIL when one does, because it can grant anyone, itself included,
    any access to the PHI in the subscription."""
    holders = sorted(
        {p for role, p, _ in _grants_reaching_subscription(snapshot) if role in ACCESS_ADMIN_ROLES}
    )
    evidence = {"access_administrators": len(holders), "principal_ids": holders[:20]}
    if holders:
        return failed(
            f"{len(holders)} principal(s) can assign roles over the subscription.", evidence
        )
    return passed("No principal holds a role-assigning role over the subscription.", evidence)


@check(
    id="governance_subscription_no_privileged_service_principal",
    title="No service principal holds a privileged role over a PHI subscription",
    severity=Severity.HIGH,
    resource_types=SUBSCRIPTIONS,
    hipaa=("164.308(a)(3)(ii)(B)", "164.308(a)(4)(ii)(B)", "164.312(a)(1)"),
    phi_only=True,
    needs=("role_assignments",),
    guidance="Give automation identities roles at the resource groups they deploy to, or a "
    "custom role with the actions they need; no Owner, Contributor or access administrator "
    "over the whole subscription.",
    limitations="The principal type is the one recorded on the assignment; managed identities "
    "count as service principals.",
)
def governance_subscription_no_privileged_service_principal(snapshot: Snapshot) -> Result:
    """PASS when no assignment of type ServicePrincipal gives Owner, Contributor, User Access
    Administrator or RBAC Administrator at the subscription or above; FAIL when one does,
    because a leaked secret or federated credential then controls every PHI resource."""
    found = _privileged_grants_to(snapshot, "serviceprincipal")
    evidence = {"privileged_service_principals": found[:20]}
    if found:
        return failed(f"{len(found)} service principal grant(s) over the subscription.", evidence)
    return passed("No service principal holds a privileged role over the subscription.", evidence)


@check(
    id="governance_subscription_privileged_roles_through_groups",
    title="Privileged roles over a PHI subscription are granted to groups, not to users directly",
    severity=Severity.LOW,
    resource_types=SUBSCRIPTIONS,
    hipaa=("164.308(a)(4)(ii)(B)", "164.308(a)(4)(ii)(C)"),
    phi_only=True,
    needs=("role_assignments",),
    guidance="Grant Owner, Contributor and the access administrator roles to a group (or as PIM "
    "eligibility), so that joining and leaving is one reviewed membership change.",
    limitations=_GROUPS_NOTE,
)
def governance_subscription_privileged_roles_through_groups(snapshot: Snapshot) -> Result:
    """PASS when no assignment of type User gives a privileged role at the subscription or
    above; FAIL when one does, because direct grants escape group-based reviews and linger
    after a person changes jobs (workforce clearance and termination procedures)."""
    direct = _privileged_grants_to(snapshot, "user")
    evidence = {"direct_user_grants": direct[:20]}
    if direct:
        return failed(f"{len(direct)} privileged role(s) granted to users directly.", evidence)
    return passed("Privileged roles over the subscription go through groups.", evidence)


@check(
    id="governance_subscription_no_classic_coadministrators",
    title="A PHI subscription has no classic co-administrators",
    severity=Severity.MEDIUM,
    resource_types=SUBSCRIPTIONS,
    hipaa=("164.308(a)(4)(ii)(B)", "164.312(a)(1)"),
    phi_only=True,
    needs=("classic_administrators",),
    guidance="Remove co-administrators (Access control > Classic administrators) and grant "
    "Azure RBAC roles instead; Microsoft retired classic administrators.",
    limitations="The Service Administrator entry, which the API may still list, is not counted.",
)
def governance_subscription_no_classic_coadministrators(snapshot: Snapshot) -> Result:
    """PASS when the subscription's classic administrators include no co-administrator; FAIL
    when they do, because a co-administrator has Owner-equivalent access that RBAC reviews,
    PIM and conditions do not see."""
    admins = as_list(snapshot.doc("classic_administrators"), "classic_administrators")
    co = 0
    for index, item in enumerate(admins):
        props = item.get("properties") if isinstance(item, Mapping) else None
        if not isinstance(props, Mapping):
            raise MalformedResource(f"related.classic_administrators[{index}] has no properties")
        roles = [r.strip().lower() for r in str(props.get("role") or "").split(";")]
        co += "coadministrator" in roles
    evidence = {"classic_administrators": len(admins), "co_administrators": co}
    if co:
        return failed(f"{co} classic co-administrator(s) hold Owner-equivalent access.", evidence)
    return passed("No classic co-administrators.", evidence)
