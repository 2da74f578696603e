"""What the access review reasons about, read from ARM and Microsoft Graph documents as they are
published: grants (role assignments, PIM eligibilities, Key Vault access policies), principals
(users, groups, service principals), role definitions, and the paths a grant opens to a PHI
scope once group grants are expanded to their members.

Pure: no I/O, no clock (the review's moment is passed in), no settings. What Graph would not
tell (a permission missing) is carried as :class:`Unknown` so rules say NOT_ASSESSED, never
guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

from shared.kernel.errors import PhiguardError
from shared.kernel.resource_id import ResourceIdError, normalize, parse

# Built-in roles that can change access or resources, or read/write PHI data planes wholesale
# (names as Azure publishes them; the review matches names case-insensitively).
PRIVILEGED_ROLE_NAMES = frozenset(
    name.lower()
    for name in (
        "Owner",
        "Contributor",
        "User Access Administrator",
        "Role Based Access Control Administrator",
        "Key Vault Administrator",
        "Key Vault Crypto Officer",
        "Key Vault Secrets Officer",
        "Key Vault Certificates Officer",
        "Key Vault Data Access Administrator",
        "Storage Blob Data Owner",
        "Storage Account Contributor",
        "SQL Server Contributor",
        "SQL Security Manager",
        "SQL Managed Instance Contributor",
        "Virtual Machine Administrator Login",
    )
)
# Actions that make any role (custom ones above all) privileged.
WILDCARD_ACTIONS = frozenset({"*", "microsoft.authorization/*"})
PRIVILEGED_ACTIONS = frozenset(
    {"*", "microsoft.authorization/*", "microsoft.authorization/roleassignments/write"}
)

ROLE_ASSIGNMENT_WRITE = "Microsoft.Authorization/roleAssignments/write"


@lru_cache(maxsize=4096)
def _action_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(
        ".*".join(re.escape(part) for part in pattern.split("*")), re.IGNORECASE | re.DOTALL
    )


def _action_matches(pattern: str, action: str) -> bool:
    """Whether a permission entry (``*`` wildcards allowed) covers an operation."""
    return _action_pattern(pattern.strip()).fullmatch(action) is not None


PrincipalKind = Literal["User", "Group", "ServicePrincipal", "Unknown"]
Access = Literal["standing", "eligible", "jit", "policy"]
ScopeKind = Literal["root", "managementGroup", "subscription", "resourceGroup", "resource"]

# RoleAssignments principalType values (2022-04-01 / 2020-10-01 enums: User, Group,
# ServicePrincipal, ForeignGroup, Device) whose objects the review's Graph lists do not hold.
UNLISTED_PRINCIPAL_TYPES = frozenset({"ForeignGroup", "Device"})

# Graph application permissions (least privileged) and what they reveal.
USERS = "User.Read.All"
GROUP_MEMBERS = "GroupMember.Read.All"
SERVICE_PRINCIPALS = "Application.Read.All"
SIGN_INS = "AuditLog.Read.All"


class ReviewInputError(PhiguardError, ValueError):
    """A document the review cannot read (its JSON path is named); the rest goes on."""


def parse_time(value: Any) -> datetime | None:
    """An ARM / Graph timestamp (``2021-06-17T16:41:33Z``, 7 fractional digits too); None when
    absent, unreadable or Graph's "never" (``0001-01-01T00:00:00Z``)."""
    if not isinstance(value, str) or not value.strip() or value.startswith("0001-01-01"):
        return None
    text = value.strip().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # Python reads at most 6 fractional digits
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@lru_cache(maxsize=65536)
def scope_kind(scope: str) -> ScopeKind:
    """What a scope is (a review has about as many scopes as resource groups: cached)."""
    key = normalize(scope)
    if key in ("", "/"):
        return "root"
    if key.startswith("/providers/microsoft.management/managementgroups/") and key.count("/") == 4:
        return "managementGroup"
    try:
        rid = parse(scope)
    except ResourceIdError:
        return "resource"
    if rid.type == "microsoft.resources/subscriptions":
        return "subscription"
    if rid.type == "microsoft.resources/resourcegroups":
        return "resourceGroup"
    return "resource"


def covers(scope: str, target: str) -> bool:
    """Whether access granted at ``scope`` reaches ``target`` (the same scope or below it)."""
    outer, inner = normalize(scope), normalize(target)
    if outer in ("", "/"):
        return True
    return inner == outer or inner.startswith(outer + "/")


def subscription_of(scope: str) -> str | None:
    parts = [p for p in scope.split("/") if p]
    if len(parts) >= 2 and parts[0].lower() == "subscriptions":
        return parts[1].lower()
    return None


@dataclass(frozen=True)
class RoleDefinition:
    guid: str  # lower-case: assignments name definitions by id at various scopes
    name: str
    custom: bool
    actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()

    @property
    def wildcard_actions(self) -> tuple[str, ...]:
        """Actions of a role that grant everything, or every authorization action."""
        return tuple(a for a in self.actions if a.lower() in WILDCARD_ACTIONS)

    def allows(self, action: str) -> bool:
        """Whether the role's control-plane permissions allow ``action``: an ``actions`` entry
        matches it and no ``notActions`` entry does. Entries may hold ``*`` wildcards, which
        extend a permission to everything matching the string (``*/read``,
        ``Microsoft.Authorization/*/write``); operations are case-insensitive
        (https://learn.microsoft.com/azure/role-based-access-control/role-definitions,
        "Wildcard permissions" and "NotActions")."""
        return any(_action_matches(a, action) for a in self.actions) and not any(
            _action_matches(n, action) for n in self.not_actions
        )

    @property
    def privileged(self) -> bool:
        if self.name.lower() in PRIVILEGED_ROLE_NAMES:
            return True
        if any(a.lower() in PRIVILEGED_ACTIONS for a in self.actions):
            return True
        # A custom role may grant role assignment writes through a wildcard
        # (``Microsoft.Authorization/roleAssignments/*``, ``Microsoft.Authorization/*/write``).
        return self.allows(ROLE_ASSIGNMENT_WRITE)

    @classmethod
    def from_arm(cls, doc: Mapping[str, Any]) -> RoleDefinition:
        """RoleDefinitions_Get / List item."""
        props = doc.get("properties")
        if not isinstance(props, Mapping):
            raise ReviewInputError(f"role definition {doc.get('id')!r}: no properties")
        actions: list[str] = []
        data_actions: list[str] = []
        not_actions: list[str] = []
        for permission in props.get("permissions") or []:
            if isinstance(permission, Mapping):
                actions += [str(a) for a in permission.get("actions") or []]
                data_actions += [str(a) for a in permission.get("dataActions") or []]
                not_actions += [str(a) for a in permission.get("notActions") or []]
        return cls(
            guid=role_guid(str(doc.get("name") or doc.get("id") or "")),
            name=str(props.get("roleName") or doc.get("name") or "?"),
            custom=str(props.get("type", "")).lower() == "customrole",
            actions=tuple(actions),
            data_actions=tuple(data_actions),
            not_actions=tuple(not_actions),
        )


_SUBSCRIPTION_PROVIDER = "/providers/microsoft.subscription/subscriptions/"


def arm_scope(scope: str) -> str:
    """A scope in the form role assignments use. The published PIM schedule examples
    (RoleAssignmentSchedules_ListForScope 2020-10-01) write a subscription as
    ``/providers/Microsoft.Subscription/subscriptions/{id}``; that is the same scope as
    ``/subscriptions/{id}`` (what RoleAssignments answer), so it is read as that."""
    text = "/" + scope.strip().lstrip("/")
    if text.lower().startswith(_SUBSCRIPTION_PROVIDER):
        return "/subscriptions/" + text[len(_SUBSCRIPTION_PROVIDER) :]
    return scope


def role_guid(definition_id: str) -> str:
    """The GUID that names a role definition, whatever scope its id was written at."""
    return definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


_AUTHORIZATION = re.compile(r"/providers/Microsoft\.Authorization/", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Grant:
    """One way a principal holds a role (or Key Vault permissions) at a scope."""

    id: str  # the role assignment / schedule id, or ``{vault}#accessPolicies/{objectId}``
    scope: str
    principal_id: str  # lower-case
    principal_type: str  # as ARM says: User, Group, ServicePrincipal, ForeignGroup, ...
    role_guid: str  # "" for a Key Vault access policy
    access: Access
    created_on: str = ""
    end: str = ""
    permissions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # policies only

    @classmethod
    def from_assignment(
        cls, doc: Mapping[str, Any], access: Access = "standing", end: str = ""
    ) -> Grant:
        """RoleAssignments_Get / List item, or a PIM schedule (same property names)."""
        props = doc.get("properties")
        rid = doc.get("id")
        if not isinstance(props, Mapping) or not isinstance(rid, str):
            raise ReviewInputError(f"role assignment {rid!r}: no properties or id")
        principal = props.get("principalId")
        definition = props.get("roleDefinitionId")
        if not isinstance(principal, str) or not isinstance(definition, str):
            raise ReviewInputError(
                f"role assignment {rid}: properties.principalId / roleDefinitionId missing"
            )
        scope = props.get("scope")
        if not isinstance(scope, str) or not scope:
            scope = _AUTHORIZATION.split(rid, 1)[0] or "/"
        return cls(
            id=rid,
            scope=arm_scope(scope),
            principal_id=principal.lower(),
            principal_type=str(props.get("principalType") or "Unknown"),
            role_guid=role_guid(definition),
            access=access,
            created_on=str(props.get("createdOn") or ""),
            end=end or str(props.get("endDateTime") or ""),
        )


# Key Vault access-policy permissions that are too broad for a service principal (README
# "What it checks", P4): everything, purge, and key management beyond a workload's use.
BROAD_KEY_PERMISSIONS = frozenset(
    {"all", "purge", "create", "delete", "import", "update", "rotate", "setrotationpolicy"}
)
BROAD_OTHER_PERMISSIONS = frozenset({"all", "purge"})  # secrets, certificates, storage


def broad_permissions(permissions: Mapping[str, Iterable[str]]) -> list[str]:
    """``kind:permission`` of an access policy that are too broad for a service principal."""
    out: set[str] = set()
    for kind, perms in permissions.items():
        broad = BROAD_KEY_PERMISSIONS if kind == "keys" else BROAD_OTHER_PERMISSIONS
        out.update(f"{kind}:{p}" for p in perms if p in broad)
    return sorted(out)


def access_policy_grants(vault: Mapping[str, Any]) -> list[Grant]:
    """The access policies of a vault (Vaults_Get ``properties.accessPolicies``) as grants."""
    rid = str(vault.get("id") or "")
    props = vault.get("properties")
    policies = props.get("accessPolicies") if isinstance(props, Mapping) else None
    out: list[Grant] = []
    for index, policy in enumerate(policies or []):
        if not isinstance(policy, Mapping) or not isinstance(policy.get("objectId"), str):
            raise ReviewInputError(f"{rid}: properties.accessPolicies[{index}] has no objectId")
        perms = policy.get("permissions") if isinstance(policy.get("permissions"), Mapping) else {}
        assert isinstance(perms, Mapping)
        permissions = {
            kind: tuple(str(p).lower() for p in perms.get(kind) or [])
            for kind in ("keys", "secrets", "certificates", "storage")
            if perms.get(kind)
        }
        oid = str(policy["objectId"]).lower()
        out.append(
            Grant(
                id=f"{rid}#accessPolicies/{oid}",
                scope=rid,
                principal_id=oid,
                principal_type="Unknown",
                role_guid="",
                access="policy",
                permissions=permissions,
            )
        )
    return out


def last_sign_in(activity: Mapping[str, Any]) -> datetime | None:
    """The last time a user really signed in, from Graph's ``signInActivity``.

    ``lastSignInDateTime`` and ``lastNonInteractiveSignInDateTime`` record the last *attempt*,
    successful or not, so a failed password spray would look like activity; Graph says to use
    ``lastSuccessfulSignInDateTime`` to track real account access (available since 2023-12-01,
    not backfilled: https://learn.microsoft.com/graph/api/resources/signinactivity). When Graph
    sends that property it alone decides (null or ``0001-01-01``: no successful sign-in on
    record); older payloads without it fall back to the latest attempt of either kind."""
    if "lastSuccessfulSignInDateTime" in activity:
        return parse_time(activity.get("lastSuccessfulSignInDateTime"))
    stamps = [
        parse_time(activity.get("lastSignInDateTime")),
        parse_time(activity.get("lastNonInteractiveSignInDateTime")),
    ]
    found = [s for s in stamps if s is not None]
    return max(found) if found else None


@dataclass(frozen=True, slots=True)
class Principal:
    """A directory object as Graph describes it; ``None`` fields are unknown (not read)."""

    id: str
    kind: PrincipalKind
    display_name: str = ""
    upn: str = ""
    guest: bool | None = None
    enabled: bool | None = None
    last_sign_in: datetime | None = None
    sign_in_known: bool = False  # signInActivity was read (AuditLog.Read.All)
    sp_type: str = ""  # Application, ManagedIdentity, ...
    app_id: str = ""

    @classmethod
    def from_graph(
        cls, doc: Mapping[str, Any], kind: PrincipalKind, *, sign_ins: bool = False
    ) -> Principal:
        oid = doc.get("id")
        if not isinstance(oid, str) or not oid:
            raise ReviewInputError(f"Graph {kind} without an id")
        activity = doc.get("signInActivity")
        last = last_sign_in(activity) if isinstance(activity, Mapping) else None
        user_type = doc.get("userType")
        enabled = doc.get("accountEnabled")
        return cls(
            id=oid.lower(),
            kind=kind,
            display_name=str(doc.get("displayName") or ""),
            upn=str(doc.get("userPrincipalName") or ""),
            guest=(str(user_type).lower() == "guest") if isinstance(user_type, str) else None,
            enabled=enabled if isinstance(enabled, bool) else None,
            last_sign_in=last,
            sign_in_known=sign_ins and kind == "User",
            sp_type=str(doc.get("servicePrincipalType") or ""),
            app_id=str(doc.get("appId") or ""),
        )

    @property
    def label(self) -> str:
        if self.kind == "ServicePrincipal" and self.sp_type == "ManagedIdentity":
            return "ManagedIdentity"
        if self.kind == "User" and self.guest:
            return "Guest"
        return self.kind


@dataclass(frozen=True)
class Unknown:
    """Something the review could not see, and why: never guessed."""

    what: str
    why: str
    permission: str = ""  # the Graph permission that would reveal it, when one would

    def to_json(self) -> dict[str, str]:
        return {"what": self.what, "why": self.why, "permission": self.permission}


@dataclass(frozen=True, slots=True)
class Path:
    """One (principal, role, scope) path to PHI: a grant, expanded to one member of a group."""

    principal_id: str
    role: str  # role name, or "Key Vault access policy"
    scope: str
    grant: Grant
    via_group: str = ""  # the group whose grant this is ("" for a direct grant)
    phi: bool = True

    @property
    def key(self) -> str:
        """The path's identity across weeks (what "new" and "removed" compare)."""
        return "|".join(
            (
                self.principal_id,
                self.grant.role_guid or "keyvault-policy",
                _normalized(self.scope),
                self.via_group,
                self.grant.access,
            )
        )


@lru_cache(maxsize=65536)
def _normalized(scope: str) -> str:
    return normalize(scope)


@dataclass
class Directory:
    """What Graph told about principals, and what it could not."""

    principals: dict[str, Principal] = field(default_factory=dict)
    members: dict[str, tuple[str, ...]] = field(default_factory=dict)  # group → transitive
    read: set[str] = field(default_factory=set)  # kinds listed in full: User, Group, ...
    unknowns: list[Unknown] = field(default_factory=list)
    missing_permissions: set[str] = field(default_factory=set)

    def kind_known(self, kind: str) -> bool:
        return kind in self.read

    def find(self, principal_id: str) -> Principal | None:
        return self.principals.get(principal_id.lower())

    def exists(self, principal_id: str, principal_type: str) -> bool | None:
        """True/False when the directory was read for that kind of principal; None: unknown.

        A ``Device`` (Graph ``/devices``, not listed by the review) or a ``ForeignGroup`` (a
        group of another tenant) that is not found is unknown, never "deleted"."""
        if self.find(principal_id) is not None:
            return True
        if principal_type in UNLISTED_PRINCIPAL_TYPES:
            return None
        kinds = (
            [principal_type]
            if principal_type in ("User", "Group", "ServicePrincipal")
            else ["User", "Group", "ServicePrincipal"]
        )
        return False if all(self.kind_known(k) for k in kinds) else None


@dataclass
class ReviewData:
    """Everything one review judges. ``previous`` holds last review's path keys (None: this is
    the first review)."""

    subscriptions: list[str]
    phi_scopes: list[str]  # subscriptions, resource groups and resources in PHI scope
    roles: dict[str, RoleDefinition]
    grants: list[Grant]
    directory: Directory
    paths: list[Path] = field(default_factory=list)
    vaults: list[str] = field(default_factory=list)  # PHI vault ids read
    previous: dict[str, dict[str, Any]] | None = None
    unknowns: list[Unknown] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # documents skipped, with why
    self_ids: frozenset[str] = frozenset()  # phiguard's own principal ids
    # Management-group scopes → the reviewed subscriptions below them (learned from which
    # subscription's list returned a grant at that scope).
    scope_subscriptions: dict[str, set[str]] = field(default_factory=dict)
    _phi_keys: set[str] | None = field(default=None, repr=False)
    _phi_above: set[str] = field(default_factory=set, repr=False)
    _phi_memo: dict[str, bool] = field(default_factory=dict, repr=False)

    def role(self, grant: Grant) -> RoleDefinition | None:
        return self.roles.get(grant.role_guid) if grant.role_guid else None

    def reaches(self, scope: str, subscription: str) -> bool:
        """Whether access at ``scope`` applies to the whole ``subscription`` (at it or above)."""
        if covers(scope, f"/subscriptions/{subscription}"):
            return True
        return subscription.lower() in self.scope_subscriptions.get(normalize(scope), set())

    def name(self, principal_id: str) -> str:
        """How a principal is shown: UPN, display name, else its object id."""
        found = self.directory.find(principal_id)
        if found is None:
            return principal_id
        return found.upn or found.display_name or found.id

    def role_name(self, grant: Grant) -> str:
        if not grant.role_guid:
            return "Key Vault access policy"
        found = self.role(grant)
        return found.name if found is not None else f"unknown role {grant.role_guid}"

    def is_phi(self, scope: str) -> bool:
        """Whether access at ``scope`` reaches a PHI scope: granted at it, above it (it inherits)
        or below it (a resource inside PHI scope)."""
        if self._phi_keys is not None:
            known = self._phi_memo.get(scope)
            if known is not None:
                return known
        found = self._is_phi(scope)
        self._phi_memo[scope] = found
        return found

    def _is_phi(self, scope: str) -> bool:
        if self._phi_keys is None:
            self._phi_memo = {}
            keys = {normalize(s) for s in self.phi_scopes}
            above: set[str] = {"/"}
            for key in keys:
                parts = key.split("/")
                above.update("/".join(parts[:i]) or "/" for i in range(1, len(parts) + 1))
            self._phi_keys, self._phi_above = keys, above
        key = normalize(scope)
        if key in ("", "/"):
            return bool(self._phi_keys)
        below = self.scope_subscriptions.get(key)
        if below is not None:  # a management group: PHI when a subscription below holds PHI
            return any(f"/subscriptions/{sub}" in self._phi_above for sub in below)
        if key in self._phi_above:
            return True
        parts = key.split("/")
        return any("/".join(parts[:i]) in self._phi_keys for i in range(2, len(parts)))


def removed_paths(data: ReviewData) -> tuple[list[str], list[str]]:
    """Last review's path keys that are gone, and those that cannot be told: a path through a
    group whose members could not be read this week is not "removed", only unseen."""
    if data.previous is None:
        return [], []
    current = {p.key for p in data.paths}
    gone: list[str] = []
    unseen: list[str] = []
    for key, row in data.previous.items():
        if key in current:
            continue
        group = str(row.get("via_group") or "")
        if group and group not in data.directory.members:
            unseen.append(key)
        else:
            gone.append(key)
    return gone, unseen


def expand(data: ReviewData) -> list[Path]:
    """Every grant reaching PHI as paths: a group's grant once per transitive member (and once
    for the group itself when its members are unknown)."""
    out: list[Path] = []
    for grant in data.grants:
        if not data.is_phi(grant.scope):
            continue
        role = data.role_name(grant)
        principal = data.directory.find(grant.principal_id)
        is_group = grant.principal_type == "Group" or (
            principal is not None and principal.kind == "Group"
        )
        members = data.directory.members.get(grant.principal_id) if is_group else None
        if is_group and members is not None:
            out.append(Path(grant.principal_id, role, grant.scope, grant))
            for member in members:
                out.append(Path(member, role, grant.scope, grant, via_group=grant.principal_id))
        else:
            out.append(Path(grant.principal_id, role, grant.scope, grant))
    return out


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
