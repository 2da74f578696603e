"""The access review's rules: pure functions over :class:`~shared.access.model.ReviewData`, each
with an id, a severity and the HIPAA sections it gives evidence for, like the checks.

A rule answers one :class:`RuleResult`: PASS (nothing wrong), FAIL (the subjects listed need a
reviewer's decision), NOT_ASSESSED (what it needs could not be read: the reason names the Graph
permission missing; never a PASS) or NOT_APPLICABLE (nothing to judge, e.g. the first review has
no previous week). Subjects are path keys, grant ids, role definition ids or subscription ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.access.model import (
    GROUP_MEMBERS,
    SERVICE_PRINCIPALS,
    SIGN_INS,
    UNLISTED_PRINCIPAL_TYPES,
    USERS,
    Path,
    ReviewData,
    broad_permissions,
    removed_paths,
    scope_kind,
    subscription_of,
)
from shared.kernel.findings import Severity, Status
from shared.kernel.hipaa import section


@dataclass(frozen=True)
class Subject:
    key: str  # a path key, grant id, role definition id or subscription id
    reason: str


@dataclass(frozen=True)
class RuleResult:
    rule_id: str
    status: Status
    reason: str
    subjects: tuple[Subject, ...] = ()
    unknown: tuple[str, ...] = ()  # subjects that could not be judged, with why

    def to_json(self) -> dict[str, object]:
        return {
            "rule_id": self.rule_id,
            "status": str(self.status),
            "reason": self.reason,
            "subjects": [{"key": s.key, "reason": s.reason} for s in self.subjects],
            "unknown": list(self.unknown),
        }


@dataclass(frozen=True)
class ReviewContext:
    """What a rule needs besides the data: the review's moment and its settings."""

    now: datetime
    inactive_days: int = 90
    owners_min: int = 2
    owners_max: int = 3


RuleFn = Callable[[ReviewData, ReviewContext], RuleResult]


@dataclass(frozen=True)
class Rule:
    id: str
    title: str  # the compliant state
    severity: Severity
    hipaa: tuple[str, ...]
    fn: RuleFn = field(repr=False)

    def run(self, data: ReviewData, ctx: ReviewContext) -> RuleResult:
        try:
            return self.fn(data, ctx)
        except Exception as exc:  # one rule's bug never stops the review
            return RuleResult(self.id, Status.ERROR, f"{type(exc).__name__}: {exc}")


RULES: dict[str, Rule] = {}


def rule(title: str, severity: Severity, hipaa: tuple[str, ...]) -> Callable[[RuleFn], RuleFn]:
    def register(fn: RuleFn) -> RuleFn:
        rid = fn.__name__
        if rid in RULES:
            raise ValueError(f"duplicate access rule {rid}")
        for citation in hipaa:
            section(citation)  # raises for a section that does not exist
        RULES[rid] = Rule(rid, title, severity, hipaa, fn)
        return fn

    return register


def _verdict(
    rid: str,
    failing: list[Subject],
    unknown: list[str],
    *,
    ok: str,
    bad: str,
    missing: str = "",
) -> RuleResult:
    if failing:
        return RuleResult(
            rid,
            Status.FAIL,
            f"{len(failing)} {bad}" + (f"; {len(unknown)} not judged" if unknown else ""),
            tuple(failing),
            tuple(unknown),
        )
    if unknown:
        return RuleResult(
            rid,
            Status.NOT_ASSESSED,
            f"{len(unknown)} could not be judged" + (f": {missing}" if missing else ""),
            (),
            tuple(unknown),
        )
    return RuleResult(rid, Status.PASS, ok)


def _person_paths(data: ReviewData) -> list[Path]:
    """Paths whose principal is who holds the access: members for expanded group grants, the
    principal itself otherwise (the group's own row is left out when it was expanded)."""
    expanded = {p.grant.id for p in data.paths if p.via_group}
    return [p for p in data.paths if p.via_group or p.grant.id not in expanded]


def _missing(permission: str, what: str) -> str:
    return f"{what} unknown: Graph permission {permission} not granted"


# --- the rules ------------------------------------------------------------------------------


@rule(
    "No standing privileged role on PHI scopes: privileged access is just in time (PIM)",
    Severity.HIGH,
    ("164.308(a)(4)(ii)(B)", "164.308(a)(3)(ii)(B)"),
)
def access_phi_no_standing_privileged_roles(data: ReviewData, ctx: ReviewContext) -> RuleResult:
    """FAIL: an active, permanent assignment of a privileged role (Owner, Contributor, User
    Access Administrator, Key Vault Administrator, ..., or a role granting ``*`` or role
    assignment writes) whose scope reaches PHI. PIM eligibilities and time-bound activations are
    just in time and pass. phiguard's own identity is reviewed like any other."""
    failing: list[Subject] = []
    for grant in data.grants:
        role = data.role(grant)
        if grant.access != "standing" or role is None or not role.privileged:
            continue
        if data.is_phi(grant.scope):
            failing.append(
                Subject(
                    grant.id,
                    f"{role.name} held permanently by {grant.principal_type} "
                    f"{data.name(grant.principal_id)} at {scope_kind(grant.scope)} scope "
                    f"{grant.scope}",
                )
            )
    return _verdict(
        access_phi_no_standing_privileged_roles.__name__,
        failing,
        [],
        ok="no standing privileged assignment reaches PHI",
        bad="standing privileged assignment(s) reach PHI",
    )


@rule(
    "Service principals hold no privileged role at subscription scope or above",
    Severity.HIGH,
    ("164.308(a)(4)(ii)(B)",),
)
def access_service_principal_no_subscription_privilege(
    data: ReviewData, ctx: ReviewContext
) -> RuleResult:
    """FAIL: a service principal (application or managed identity) with a privileged role at a
    subscription holding PHI, its management group or the root: one leaked secret controls
    every resource of the subscription. Assignments of principal type Unknown whose object
    Graph says is a service principal count too."""
    failing: list[Subject] = []
    for grant in data.grants:
        role = data.role(grant)
        if role is None or not role.privileged or grant.access == "eligible":
            continue
        if scope_kind(grant.scope) not in ("subscription", "managementGroup", "root"):
            continue
        principal = data.directory.find(grant.principal_id)
        is_sp = grant.principal_type == "ServicePrincipal" or (
            principal is not None and principal.kind == "ServicePrincipal"
        )
        if is_sp and data.is_phi(grant.scope):
            failing.append(
                Subject(
                    grant.id,
                    f"service principal {data.name(grant.principal_id)} holds {role.name} at "
                    f"{grant.scope}",
                )
            )
    return _verdict(
        access_service_principal_no_subscription_privilege.__name__,
        failing,
        [],
        ok="no service principal holds a privileged role at subscription scope or above",
        bad="service principal(s) privileged at subscription scope or above",
    )


@rule(
    "No guest (B2B) account holds any role on PHI",
    Severity.HIGH,
    ("164.308(a)(3)(ii)(B)", "164.308(a)(4)(ii)(B)"),
)
def access_phi_no_guest_access(data: ReviewData, ctx: ReviewContext) -> RuleResult:
    """FAIL: a path to PHI held by a user whose ``userType`` is ``Guest`` (directly or through a
    group). NOT_ASSESSED for users Graph did not describe (User.Read.All missing)."""
    failing: list[Subject] = []
    unknown: list[str] = []
    for path in _person_paths(data):
        principal = data.directory.find(path.principal_id)
        is_user = path.grant.principal_type == "User" or path.via_group
        if principal is None:
            if is_user and not data.directory.kind_known("User"):
                unknown.append(f"{path.principal_id}: {_missing(USERS, 'user type')}")
            continue
        if principal.kind == "User" and principal.guest:
            via = f" via group {path.via_group}" if path.via_group else ""
            failing.append(
                Subject(path.key, f"guest {principal.upn or principal.id} has {path.role}{via}")
            )
    return _verdict(
        access_phi_no_guest_access.__name__,
        failing,
        unknown,
        ok="no guest account reaches PHI",
        bad="guest path(s) to PHI",
        missing=f"Graph permission {USERS} not granted",
    )


@rule(
    "Users reach PHI through groups, not direct assignments",
    Severity.MEDIUM,
    ("164.308(a)(4)(ii)(C)",),
)
def access_phi_grants_through_groups(data: ReviewData, ctx: ReviewContext) -> RuleResult:
    """FAIL: a role assignment at or reaching a PHI scope made to a user directly (principal type
    ``User``): it is not removed when the person changes job, unlike a group membership."""
    failing = [
        Subject(
            p.grant.id,
            f"{p.role} ({p.grant.access}) assigned directly to user {data.name(p.principal_id)} "
            f"at {p.scope}",
        )
        for p in data.paths
        if p.grant.principal_type == "User" and not p.via_group and p.grant.access != "policy"
    ]
    return _verdict(
        access_phi_grants_through_groups.__name__,
        failing,
        [],
        ok="every user reaches PHI through a group",
        bad="direct user assignment(s) reach PHI",
    )


@rule(
    "No custom role grants `*` or `Microsoft.Authorization/*`",
    Severity.HIGH,
    ("164.308(a)(4)(ii)(B)",),
)
def access_custom_role_no_wildcards(data: ReviewData, ctx: ReviewContext) -> RuleResult:
    """FAIL: a custom role definition assignable in a reviewed subscription whose actions include
    ``*`` (everything, like Owner) or ``Microsoft.Authorization/*`` (change anyone's access)."""
    failing = [
        Subject(role.guid, f"custom role {role.name!r} grants {', '.join(role.wildcard_actions)}")
        for role in data.roles.values()
        if role.custom and role.wildcard_actions
    ]
    return _verdict(
        access_custom_role_no_wildcards.__name__,
        failing,
        [],
        ok="no custom role grants a wildcard",
        bad="custom role(s) with wildcard actions",
    )


@rule(
    "Each PHI subscription has two or three owners",
    Severity.MEDIUM,
    ("164.308(a)(4)(ii)(B)", "164.308(a)(3)(ii)(A)"),
)
def access_phi_subscription_owner_count(data: ReviewData, ctx: ReviewContext) -> RuleResult:
    """FAIL: a subscription holding PHI with fewer than two principals holding Owner at its scope
    or above (no second pair of hands, no oversight) or more than three (too many can change
    anyone's access). Group owners count as their transitive members; a group whose members
    could not be read makes the count NOT_ASSESSED. Eligible (PIM) owners are not counted."""
    failing: list[Subject] = []
    unknown: list[str] = []
    phi_subs = sorted(
        {s for s in (subscription_of(x) for x in data.phi_scopes) if s}
        & {s.lower() for s in data.subscriptions}
    )
    for sub in phi_subs:
        owners: set[str] = set()
        blind = False
        for grant in data.grants:
            role = data.role(grant)
            if role is None or role.name.lower() != "owner" or grant.access == "eligible":
                continue
            if not data.reaches(grant.scope, sub):
                continue
            if grant.principal_type == "Group":
                members = data.directory.members.get(grant.principal_id)
                if members is None:
                    blind = True
                    unknown.append(
                        f"/subscriptions/{sub}: owners of group {grant.principal_id} "
                        f"{_missing(GROUP_MEMBERS, 'members')}"
                    )
                    continue
                owners.update(members)
            else:
                owners.add(grant.principal_id)
        if blind:
            continue
        if not ctx.owners_min <= len(owners) <= ctx.owners_max:
            failing.append(
                Subject(
                    f"/subscriptions/{sub}",
                    f"{len(owners)} owner(s); expected {ctx.owners_min}-{ctx.owners_max}",
                )
            )
    return _verdict(
        access_phi_subscription_owner_count.__name__,
        failing,
        unknown,
        ok=f"every PHI subscription has {ctx.owners_min}-{ctx.owners_max} owners",
        bad="PHI subscription(s) with an owner count out of range",
        missing=f"Graph permission {GROUP_MEMBERS} not granted",
    )


@rule(
    "Key Vault access policies on PHI vaults grant service principals no all / purge / key "
    "management",
    Severity.HIGH,
    ("164.308(a)(4)(ii)(B)", "164.312(a)(1)"),
)
def access_keyvault_policy_service_principals_least_privilege(
    data: ReviewData, ctx: ReviewContext
) -> RuleResult:
    """FAIL: an access policy of a PHI vault whose object is a service principal and whose key,
    secret or certificate permissions include ``all``, ``purge`` or key management (create,
    delete, import, update, rotate). NOT_ASSESSED when Graph could not say what the object is
    (Application.Read.All / User.Read.All missing)."""
    failing: list[Subject] = []
    unknown: list[str] = []
    for grant in data.grants:
        if grant.access != "policy":
            continue
        broad = broad_permissions(grant.permissions)
        if not broad:
            continue
        principal = data.directory.find(grant.principal_id)
        if principal is None:
            if not data.directory.kind_known("ServicePrincipal"):
                unknown.append(f"{grant.id}: {_missing(SERVICE_PRINCIPALS, 'object type')}")
            continue  # a user, a group, or a deleted object (the orphan rule says which)
        if principal.kind == "ServicePrincipal":
            failing.append(
                Subject(
                    grant.id,
                    f"service principal {principal.display_name or principal.id} has "
                    f"{', '.join(broad)}",
                )
            )
    return _verdict(
        access_keyvault_policy_service_principals_least_privilege.__name__,
        failing,
        unknown,
        ok="no PHI vault grants a service principal broad key permissions",
        bad="broad access polic(ies) held by service principals",
        missing=f"Graph permission {SERVICE_PRINCIPALS} not granted",
    )


@rule(
    "No role assignment or access policy names a deleted principal",
    Severity.MEDIUM,
    ("164.308(a)(3)(ii)(C)", "164.308(a)(4)(ii)(C)"),
)
def access_phi_no_orphaned_assignments(data: ReviewData, ctx: ReviewContext) -> RuleResult:
    """FAIL: a grant reaching PHI whose principal the directory no longer holds (deleted user,
    group or application): terminated access not cleaned up, and a re-used object id would
    inherit it. NOT_ASSESSED when the directory list for that principal type was not readable."""
    failing: list[Subject] = []
    unknown: list[str] = []
    seen: set[str] = set()
    for path in data.paths:
        grant = path.grant
        if path.via_group or grant.id in seen:
            continue
        seen.add(grant.id)
        exists = data.directory.exists(grant.principal_id, grant.principal_type)
        if exists is None and grant.principal_type in UNLISTED_PRINCIPAL_TYPES:
            unknown.append(
                f"{grant.id}: whether the {grant.principal_type} {grant.principal_id} exists "
                "unknown: the review lists users, groups and service principals of this tenant"
            )
        elif exists is None:
            permission = {"Group": GROUP_MEMBERS, "ServicePrincipal": SERVICE_PRINCIPALS}.get(
                grant.principal_type, USERS
            )
            unknown.append(f"{grant.id}: {_missing(permission, 'whether the principal exists')}")
        elif not exists:
            failing.append(
                Subject(
                    grant.id,
                    f"{path.role} held by deleted {grant.principal_type} {grant.principal_id}",
                )
            )
    return _verdict(
        access_phi_no_orphaned_assignments.__name__,
        failing,
        unknown,
        ok="every grant names an existing principal",
        bad="orphaned grant(s)",
        missing="the directory could not be listed",
    )


@rule(
    "Accounts with access to PHI are enabled and signed in within the inactivity window",
    Severity.MEDIUM,
    ("164.308(a)(3)(ii)(B)", "164.308(a)(1)(ii)(D)"),
)
def access_phi_no_inactive_accounts(data: ReviewData, ctx: ReviewContext) -> RuleResult:
    """FAIL: a user with a path to PHI whose account is disabled, or whose last sign-in
    (interactive or not) is older than the inactivity window (PHIGUARD_ACCESS_REVIEW_INACTIVE_DAYS,
    default 90) or absent (never signed in). The last sign-in is Graph's
    ``lastSuccessfulSignInDateTime`` when sent (failed attempts are no activity), else the later
    of the interactive and non-interactive attempts. NOT_ASSESSED for users whose sign-in activity
    could not be read (AuditLog.Read.All missing, or no Entra ID P1/P2 licence)."""
    failing: list[Subject] = []
    unknown: list[str] = []
    cutoff = ctx.now - timedelta(days=ctx.inactive_days)
    judged: set[str] = set()
    for path in _person_paths(data):
        principal = data.directory.find(path.principal_id)
        if principal is None or principal.kind != "User" or principal.id in judged:
            continue
        judged.add(principal.id)
        name = principal.upn or principal.id
        if principal.enabled is False:
            failing.append(Subject(path.key, f"{name} is disabled but still holds {path.role}"))
        elif not principal.sign_in_known:
            unknown.append(f"{name}: {_missing(SIGN_INS, 'last sign-in')}")
        elif principal.last_sign_in is None:
            failing.append(
                Subject(
                    path.key,
                    f"{name} has never signed in (no successful sign-in on record); "
                    f"holds {path.role}",
                )
            )
        elif principal.last_sign_in < cutoff:
            days = (ctx.now - principal.last_sign_in).days
            failing.append(
                Subject(path.key, f"{name} last signed in {days} days ago; holds {path.role}")
            )
    return _verdict(
        access_phi_no_inactive_accounts.__name__,
        failing,
        unknown,
        ok=f"every account with access signed in within {ctx.inactive_days} days",
        bad=f"account(s) disabled or inactive for over {ctx.inactive_days} days",
        missing=f"Graph permission {SIGN_INS} not granted (or no Entra ID P1/P2 licence)",
    )


@rule(
    "Grants new since the last review were reviewed",
    Severity.INFO,
    ("164.308(a)(4)(ii)(C)", "164.308(a)(1)(ii)(D)"),
)
def access_phi_new_grants(data: ReviewData, ctx: ReviewContext) -> RuleResult:
    """FAIL (to review): paths to PHI that last week's review did not list. NOT_APPLICABLE on the
    first review."""
    if data.previous is None:
        return RuleResult(
            access_phi_new_grants.__name__, Status.NOT_APPLICABLE, "first review: no last week"
        )
    failing = [
        Subject(p.key, f"new: {data.name(p.principal_id)} {p.role} at {p.scope}")
        for p in data.paths
        if p.key not in data.previous
    ]
    return _verdict(
        access_phi_new_grants.__name__,
        failing,
        [],
        ok="no path to PHI is new since the last review",
        bad="new path(s) to PHI since the last review",
    )


@rule(
    "Grants removed since the last review are accounted for",
    Severity.INFO,
    ("164.308(a)(4)(ii)(C)",),
)
def access_phi_removed_grants(data: ReviewData, ctx: ReviewContext) -> RuleResult:
    """FAIL (to note): paths to PHI last week's review listed that are gone now. NOT_APPLICABLE
    on the first review."""
    if data.previous is None:
        return RuleResult(
            access_phi_removed_grants.__name__, Status.NOT_APPLICABLE, "first review: no last week"
        )
    gone, unseen = removed_paths(data)
    failing = []
    for key in gone:
        row = data.previous[key]
        failing.append(
            Subject(
                key,
                f"removed: {row.get('principal_name') or row.get('principal_id')} "
                f"{row.get('role', '?')} at {row.get('scope', '?')}",
            )
        )
    unknown = [f"{key}: {_missing(GROUP_MEMBERS, 'group members')}" for key in unseen]
    return _verdict(
        access_phi_removed_grants.__name__,
        failing,
        unknown,
        ok="no path to PHI disappeared since the last review",
        bad="path(s) to PHI removed since the last review",
    )


def run_rules(data: ReviewData, ctx: ReviewContext) -> list[RuleResult]:
    return [r.run(data, ctx) for r in RULES.values()]
