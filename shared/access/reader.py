"""Reads what one access review judges, through the ARM reader and the Graph client.

Per subscription (each a paged list call; ARM answers at, above and below the scope when no
``$filter`` is given, so one list covers the subscription, its resource groups and resources,
and what is inherited from management groups and the root):

* the subscription, its resource groups and ``/resources`` (tags → PHI scope, with the settings);
* ``roleDefinitions`` (built-in and custom, with actions and dataActions);
* ``roleAssignments`` (active grants);
* ``roleEligibilitySchedules`` (PIM eligible: just in time) and ``roleAssignmentSchedules``
  (an active assignment that PIM activated, or that ends, is not standing);
* ``Microsoft.KeyVault/vaults`` (access policies of PHI vaults that use them).

One document that cannot be read as a grant is named in ``errors`` and skipped; the rest goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shared.access.model import (
    Directory,
    Grant,
    ReviewData,
    ReviewInputError,
    RoleDefinition,
    access_policy_grants,
    arm_scope,
    expand,
    role_guid,
    scope_kind,
)
from shared.kernel import api_versions
from shared.kernel.resource_id import normalize, parse
from shared.kernel.snapshot import Snapshot

if TYPE_CHECKING:
    from shared.access.graph import GraphClient
    from shared.arm import ArmReader
    from shared.kernel.phi_scope import PhiScope

AUTH = "/providers/Microsoft.Authorization"
ROLE_ASSIGNMENTS = api_versions.for_type("microsoft.authorization/roleassignments")
ROLE_DEFINITIONS = api_versions.for_type("microsoft.authorization/roledefinitions")
SCHEDULES = api_versions.for_type("microsoft.authorization/roleeligibilityschedules")
VAULTS = api_versions.for_type("microsoft.keyvault/vaults")
SUBSCRIPTIONS = api_versions.for_type("microsoft.resources/subscriptions")
GENERIC = api_versions.DEFAULT


def read_subscription(
    arm: ArmReader, subscription: str, phi_scope: PhiScope
) -> tuple[
    list[str],
    list[dict[str, Any]],
    list[dict[str, Any]],
    list[dict[str, Any]],
    list[dict[str, Any]],
    list[dict[str, Any]],
    list[str],
]:
    """PHI scopes, role definitions, assignments, eligibilities, assignment schedules and PHI
    vaults of one subscription; and the documents skipped."""
    errors: list[str] = []
    base = f"/subscriptions/{subscription}"
    phi: list[str] = []
    sub_doc = arm.get(base, SUBSCRIPTIONS, "subscription")
    if sub_doc is not None:
        sub_doc = {"id": base, **{k: v for k, v in sub_doc.items() if k != "id"}}
        if phi_scope.is_phi(Snapshot(sub_doc)):
            phi.append(base)
    groups = arm.resource_groups(subscription)
    phi_groups: dict[str, Mapping[str, Any]] = {}
    for key, group in groups.items():
        try:
            if phi_scope.is_phi(Snapshot(group)):
                phi.append(str(group["id"]))
                phi_groups[key] = group
        except Exception as exc:  # a malformed group: named, the rest goes on
            errors.append(f"{key}: {exc}")
    for resource in arm.list_items(f"{base}/resources", GENERIC, "resources"):
        rid = resource.get("id")
        if not isinstance(rid, str):
            errors.append(f"{base}/resources: an item without id")
            continue
        try:
            # By position, as ARM reads ids: a resource group may be named "providers".
            group_id = parse(rid).resource_group_id
            holder = groups.get(normalize(group_id)) if group_id is not None else None
            if phi_scope.is_phi(Snapshot(resource, {}, holder)):
                phi.append(rid)
        except Exception as exc:
            errors.append(f"{rid}: {exc}")
    definitions = list(
        arm.list_items(f"{base}{AUTH}/roleDefinitions", ROLE_DEFINITIONS, "role_definitions")
    )
    assignments = list(
        arm.list_items(f"{base}{AUTH}/roleAssignments", ROLE_ASSIGNMENTS, "role_assignments")
    )
    eligible = _optional(
        arm,
        f"{base}{AUTH}/roleEligibilitySchedules",
        SCHEDULES,
        "pim_eligibility",
        errors,
        "PIM eligibilities (every active assignment is reviewed as standing)",
    )
    schedules = _optional(
        arm,
        f"{base}{AUTH}/roleAssignmentSchedules",
        SCHEDULES,
        "pim_assignments",
        errors,
        "PIM activations (every active assignment is reviewed as standing)",
    )
    vaults = _optional(
        arm,
        f"{base}/providers/Microsoft.KeyVault/vaults",
        VAULTS,
        "vaults",
        errors,
        "Key Vault access policies",
    )
    return phi, definitions, assignments, eligible, schedules, vaults, errors


def _optional(
    arm: ArmReader, path: str, version: str, kind: str, errors: list[str], what: str
) -> list[dict[str, Any]]:
    """A list ARM may refuse without the review being void (PIM needs an Entra ID P2
    licence; a vault list needs read on Key Vault): the refusal is named, the rest goes on."""
    from shared.arm import ArmError

    try:
        return list(arm.list_items(path, version, kind))
    except ArmError as exc:
        errors.append(f"{what} not read: {exc}")
        return []


def _schedule_key(doc: Mapping[str, Any]) -> tuple[str, str, str] | None:
    props = doc.get("properties")
    if not isinstance(props, Mapping):
        return None
    return (
        str(props.get("principalId", "")).lower(),
        role_guid(str(props.get("roleDefinitionId", ""))),
        normalize(arm_scope(str(props.get("scope", "")))),
    )


def build_grants(
    definitions: Iterable[Mapping[str, Any]],
    assignments: Iterable[Mapping[str, Any]],
    eligible: Iterable[Mapping[str, Any]],
    schedules: Iterable[Mapping[str, Any]],
    vaults: Iterable[Mapping[str, Any]],
    is_phi: Any,
    errors: list[str],
) -> tuple[dict[str, RoleDefinition], list[Grant], list[str]]:
    """Role definitions by GUID, the grants (deduplicated by id), PHI vault ids."""
    roles: dict[str, RoleDefinition] = {}
    for doc in definitions:
        try:
            found = RoleDefinition.from_arm(doc)
        except ReviewInputError as exc:
            errors.append(str(exc))
            continue
        roles.setdefault(found.guid, found)
    # PIM: an active assignment whose schedule was activated (or ends) is just in time.
    timed: dict[tuple[str, str, str], str] = {}
    for doc in schedules:
        props = doc.get("properties") if isinstance(doc.get("properties"), Mapping) else {}
        assert isinstance(props, Mapping)
        key = _schedule_key(doc)
        if key is None:
            continue
        if str(props.get("assignmentType", "")).lower() == "activated" or props.get("endDateTime"):
            timed[key] = str(props.get("endDateTime") or "")
    grants: dict[str, Grant] = {}
    for doc in assignments:
        try:
            grant = Grant.from_assignment(doc)
        except ReviewInputError as exc:
            errors.append(str(exc))
            continue
        key = (grant.principal_id, grant.role_guid, normalize(grant.scope))
        if key in timed:
            grant = Grant.from_assignment(doc, "jit", timed[key])
        grants.setdefault(grant.id.lower(), grant)
    for doc in eligible:
        try:
            grant = Grant.from_assignment(doc, "eligible")
        except ReviewInputError as exc:
            errors.append(str(exc))
            continue
        grants.setdefault(grant.id.lower(), grant)
    phi_vaults: list[str] = []
    for vault in vaults:
        rid = str(vault.get("id") or "")
        props = vault.get("properties")
        if not rid or not is_phi(rid):
            continue
        phi_vaults.append(rid)
        if isinstance(props, Mapping) and props.get("enableRbacAuthorization") is True:
            continue  # access policies are ignored when the vault uses Azure RBAC
        try:
            for grant in access_policy_grants(vault):
                grants.setdefault(grant.id.lower(), grant)
        except ReviewInputError as exc:
            errors.append(str(exc))
    return roles, list(grants.values()), phi_vaults


def read_review(
    arm: ArmReader,
    graph: GraphClient | None,
    subscriptions: Sequence[str],
    phi_scope: PhiScope,
    *,
    self_app_ids: Iterable[str] = (),
) -> ReviewData:
    """Everything the rules judge, for ``subscriptions``; ``graph`` None: the directory is not
    read at all (every directory fact unknown). Each subscription's documents become grants
    before the next is read (100,000 assignments are not held as raw JSON)."""
    from shared.access.model import GROUP_MEMBERS, SERVICE_PRINCIPALS, USERS, Unknown

    data = ReviewData(
        subscriptions=list(subscriptions),
        phi_scopes=[],
        roles={},
        grants=[],
        directory=Directory(),
    )
    grants: dict[str, Grant] = {}
    for subscription in subscriptions:
        phi, d, a, e, s, v, errs = read_subscription(arm, subscription, phi_scope)
        data.phi_scopes += phi
        data.errors += errs
        data._phi_keys = None  # the PHI scopes grew
        roles, found, vaults = build_grants(d, a, e, s, v, data.is_phi, data.errors)
        del d, a, e, s, v
        for guid, role in roles.items():
            data.roles.setdefault(guid, role)
        for grant in found:
            grants.setdefault(grant.id.lower(), grant)
            if scope_kind(grant.scope) == "managementGroup":
                below = data.scope_subscriptions.setdefault(normalize(grant.scope), set())
                below.add(subscription.lower())
        data.vaults += vaults
    data.grants = list(grants.values())
    data._phi_keys = None  # management-group scopes learned: judge every scope afresh
    del grants
    groups = {
        g.principal_id for g in data.grants if g.principal_type == "Group" and data.is_phi(g.scope)
    }
    if graph is None:
        data.directory = Directory(
            unknowns=[
                Unknown("the directory (no Graph endpoint configured)", "not read", p)
                for p in (USERS, GROUP_MEMBERS, SERVICE_PRINCIPALS)
            ]
        )
    else:
        from shared.access.graph import read_directory

        data.directory = read_directory(graph, groups)
    apps = {a.lower() for a in self_app_ids}
    data.self_ids = frozenset(
        p.id for p in data.directory.principals.values() if p.app_id and p.app_id.lower() in apps
    )
    data.unknowns = list(data.directory.unknowns)
    data.paths = expand(data)
    return data
