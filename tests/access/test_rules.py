"""Every access-review rule with PASS and FAIL fixtures in ARM / Graph shapes, and what each
says when Graph withheld what it needs (NOT_ASSESSED, naming the permission; never PASS)."""

from __future__ import annotations

import json

import pytest

from shared.access.model import (
    Grant,
    Principal,
    RoleDefinition,
    access_policy_grants,
    parse_time,
)
from shared.access.rules import RULES, ReviewContext
from shared.kernel.findings import Status
from shared.kernel.hipaa import section
from tests.access.fixtures import (
    ADMINS,
    ALICE,
    APP,
    BOB,
    CAROL,
    CTX,
    CUSTOM,
    DEFINITIONS,
    GONE,
    GUEST,
    NOW,
    OTHER_RG,
    PHI_RG,
    SUB_ID,
    assignment,
    directory,
    eligibility,
    review,
    role_definition,
    sp,
    user,
    vault,
)


def run(rule_id: str, data, ctx: ReviewContext = CTX):  # type: ignore[no-untyped-def]
    return RULES[rule_id].run(data, ctx)


PEOPLE = [
    user(ALICE, "alice@contoso.example"),
    user(BOB, "bob@contoso.example"),
    user(CAROL, "carol@contoso.example"),
]


def test_every_rule_has_citations_that_exist_and_a_docstring() -> None:
    assert len(RULES) == 11
    for rule in RULES.values():
        assert rule.hipaa and all(section(c) for c in rule.hipaa)
        assert rule.fn.__doc__ and "FAIL" in rule.fn.__doc__, rule.id


def test_standing_privileged_role_on_phi_fails_and_pim_eligible_passes() -> None:
    rid = "access_phi_no_standing_privileged_roles"
    standing = review([assignment(PHI_RG, "Owner", ADMINS, "Group")])
    assert run(rid, standing).status == Status.FAIL
    # Owner at the subscription reaches the PHI resource group below it.
    above = review([assignment(SUB_ID, "Contributor", ADMINS, "Group")])
    assert run(rid, above).status == Status.FAIL
    eligible = review(eligible=[eligibility(PHI_RG, "Owner", ALICE)])
    assert run(rid, eligible).status == Status.PASS
    reader = review([assignment(PHI_RG, "Reader", ADMINS, "Group")])
    assert run(rid, reader).status == Status.PASS
    elsewhere = review([assignment(OTHER_RG, "Owner", ADMINS, "Group")])
    assert run(rid, elsewhere).status == Status.PASS


def test_service_principal_privileged_at_subscription_fails_not_at_resource_group() -> None:
    rid = "access_service_principal_no_subscription_privilege"
    d = directory(sps=[sp(APP, "deploy")])
    assert (
        run(rid, review([assignment(SUB_ID, "Owner", APP, "ServicePrincipal")], directory=d)).status
        == Status.FAIL
    )
    assert (
        run(rid, review([assignment(PHI_RG, "Owner", APP, "ServicePrincipal")], directory=d)).status
        == Status.PASS
    )
    assert (
        run(
            rid, review([assignment(SUB_ID, "Reader", APP, "ServicePrincipal")], directory=d)
        ).status
        == Status.PASS
    )
    # Root scope ("/") is above every subscription.
    root = review([assignment("/", "Owner", APP, "ServicePrincipal")], directory=d)
    assert run(rid, root).status == Status.FAIL


def test_guest_with_any_role_on_phi_fails_also_through_a_group() -> None:
    rid = "access_phi_no_guest_access"
    guest = user(GUEST, "pat_fabrikam.example#EXT#@contoso.example", guest=True)
    direct = review([assignment(PHI_RG, "Reader", GUEST)], directory=directory([guest, *PEOPLE]))
    result = run(rid, direct)
    assert result.status == Status.FAIL and "guest" in result.subjects[0].reason
    via = review(
        [assignment(PHI_RG, "Reader", ADMINS, "Group")],
        directory=directory([guest, *PEOPLE], groups={ADMINS: ("Admins", [ALICE, GUEST])}),
    )
    assert run(rid, via).status == Status.FAIL
    members = review([assignment(PHI_RG, "Reader", ALICE)], directory=directory(PEOPLE))
    assert run(rid, members).status == Status.PASS


def test_guest_rule_is_not_assessed_without_user_read_all() -> None:
    blind = review([assignment(PHI_RG, "Reader", GUEST)], directory=directory(read=("Group",)))
    result = run("access_phi_no_guest_access", blind)
    assert result.status == Status.NOT_ASSESSED
    assert "User.Read.All" in result.reason and "User.Read.All" in result.unknown[0]


def test_direct_user_grant_fails_group_grant_passes() -> None:
    rid = "access_phi_grants_through_groups"
    assert run(rid, review([assignment(PHI_RG, "Reader", ALICE)])).status == Status.FAIL
    assert run(rid, review([assignment(PHI_RG, "Reader", ADMINS, "Group")])).status == Status.PASS


def test_custom_role_with_wildcard_fails_narrow_custom_and_builtin_pass() -> None:
    rid = "access_custom_role_no_wildcards"
    broad = [*DEFINITIONS, role_definition("Ops", CUSTOM, ["*"], custom=True)]
    auth = [
        *DEFINITIONS,
        role_definition("IAM", CUSTOM, ["Microsoft.Authorization/*"], custom=True),
    ]
    narrow = [
        *DEFINITIONS,
        role_definition("Ops", CUSTOM, ["Microsoft.Compute/*/read"], custom=True),
    ]
    assert run(rid, review(definitions=broad)).status == Status.FAIL
    assert run(rid, review(definitions=auth)).status == Status.FAIL
    assert run(rid, review(definitions=narrow)).status == Status.PASS
    assert run(rid, review()).status == Status.PASS  # Owner's "*" is built in


def test_owner_count_outside_two_to_three_fails_and_groups_count_as_members() -> None:
    rid = "access_phi_subscription_owner_count"
    d = directory(PEOPLE, groups={ADMINS: ("Admins", [ALICE, BOB])})
    two = review([assignment(SUB_ID, "Owner", ADMINS, "Group")], directory=d)
    assert run(rid, two).status == Status.PASS
    one = review([assignment(SUB_ID, "Owner", ALICE)], directory=d)
    assert run(rid, one).status == Status.FAIL
    four = review(
        [
            assignment(SUB_ID, "Owner", ADMINS, "Group"),
            assignment(SUB_ID, "Owner", CAROL),
            assignment(SUB_ID, "Owner", APP, "ServicePrincipal"),
        ],
        directory=d,
    )
    result = run(rid, four)
    assert result.status == Status.FAIL and "4 owner(s)" in result.subjects[0].reason
    # An Owner of a resource group is no owner of the subscription.
    rg_only = review(
        [assignment(PHI_RG, "Owner", ALICE), assignment(SUB_ID, "Owner", ADMINS, "Group")],
        directory=d,
    )
    assert run(rid, rg_only).status == Status.PASS


def test_owner_count_not_assessed_when_group_members_are_unknown() -> None:
    d = directory(PEOPLE, read=("User", "ServicePrincipal"))
    result = run(
        "access_phi_subscription_owner_count",
        review([assignment(SUB_ID, "Owner", ADMINS, "Group")], directory=d),
    )
    assert result.status == Status.NOT_ASSESSED and "GroupMember.Read.All" in result.reason


def test_keyvault_policy_broad_for_service_principal_fails_narrow_or_user_passes() -> None:
    rid = "access_keyvault_policy_service_principals_least_privilege"
    d = directory(PEOPLE, sps=[sp(APP, "etl")])
    broad = review(vaults=[vault([(APP, {"keys": ["all"], "secrets": ["get"]})])], directory=d)
    result = run(rid, broad)
    assert result.status == Status.FAIL and "keys:all" in result.subjects[0].reason
    purge = review(vaults=[vault([(APP, {"secrets": ["get", "purge"]})])], directory=d)
    assert run(rid, purge).status == Status.FAIL
    narrow = review(vaults=[vault([(APP, {"keys": ["get", "wrapKey", "unwrapKey"]})])], directory=d)
    assert run(rid, narrow).status == Status.PASS
    person = review(vaults=[vault([(ALICE, {"keys": ["all"]})])], directory=d)
    assert run(rid, person).status == Status.PASS
    # A vault on Azure RBAC ignores its access policies.
    rbac = review(vaults=[vault([(APP, {"keys": ["all"]})], rbac=True)], directory=d)
    assert run(rid, rbac).status == Status.PASS
    blind = review(vaults=[vault([(APP, {"keys": ["all"]})])], directory=directory(read=("User",)))
    result = run(rid, blind)
    assert result.status == Status.NOT_ASSESSED and "Application.Read.All" in result.reason


def test_orphaned_assignment_fails_only_when_the_directory_was_read() -> None:
    rid = "access_phi_no_orphaned_assignments"
    result = run(
        rid, review([assignment(PHI_RG, "Contributor", GONE)], directory=directory(PEOPLE))
    )
    assert result.status == Status.FAIL and "deleted User" in result.subjects[0].reason
    assert (
        run(
            rid, review([assignment(PHI_RG, "Contributor", ALICE)], directory=directory(PEOPLE))
        ).status
        == Status.PASS
    )
    blind = run(
        rid, review([assignment(PHI_RG, "Contributor", GONE)], directory=directory(read=()))
    )
    assert blind.status == Status.NOT_ASSESSED and "User.Read.All" in blind.unknown[0]


def test_inactive_disabled_and_never_signed_in_fail_recent_passes() -> None:
    rid = "access_phi_no_inactive_accounts"
    recent = directory([user(ALICE, "a@x.example", last="2026-11-30T08:00:00Z")])
    assert (
        run(rid, review([assignment(PHI_RG, "Reader", ALICE)], directory=recent)).status
        == Status.PASS
    )
    stale = directory([user(ALICE, "a@x.example", last="2026-06-01T08:00:00Z")])
    result = run(rid, review([assignment(PHI_RG, "Reader", ALICE)], directory=stale))
    assert result.status == Status.FAIL and "days ago" in result.subjects[0].reason
    never = directory([user(ALICE, "a@x.example", last=None)])
    assert (
        "never"
        in run(rid, review([assignment(PHI_RG, "Reader", ALICE)], directory=never))
        .subjects[0]
        .reason
    )
    disabled = directory([user(ALICE, "a@x.example", enabled=False)])
    assert (
        "disabled"
        in run(rid, review([assignment(PHI_RG, "Reader", ALICE)], directory=disabled))
        .subjects[0]
        .reason
    )
    # The window is a setting: 200 days lets the June sign-in pass.
    wide = ReviewContext(now=NOW, inactive_days=200)
    assert (
        run(rid, review([assignment(PHI_RG, "Reader", ALICE)], directory=stale), wide).status
        == Status.PASS
    )


def test_inactivity_not_assessed_without_audit_log_permission() -> None:
    d = directory([user(ALICE, "a@x.example", last=None)], sign_ins=False)
    result = run(
        "access_phi_no_inactive_accounts",
        review([assignment(PHI_RG, "Reader", ALICE)], directory=d),
    )
    assert result.status == Status.NOT_ASSESSED and "AuditLog.Read.All" in result.reason


def test_new_and_removed_grants_against_last_review() -> None:
    kept = review([assignment(PHI_RG, "Reader", ALICE)], directory=directory(PEOPLE))
    previous = {
        p.key: {"role": p.role, "scope": p.scope, "principal_id": p.principal_id}
        for p in kept.paths
    }
    previous["bob|x|/gone|"] = {"role": "Owner", "scope": "/gone", "principal_id": BOB}
    now = review(
        [assignment(PHI_RG, "Reader", ALICE), assignment(PHI_RG, "Contributor", CAROL)],
        directory=directory(PEOPLE),
        previous=previous,
    )
    new = run("access_phi_new_grants", now)
    assert (
        new.status == Status.FAIL
        and len(new.subjects) == 1
        and "Contributor" in new.subjects[0].reason
    )
    removed = run("access_phi_removed_grants", now)
    assert removed.status == Status.FAIL and removed.subjects[0].key == "bob|x|/gone|"
    first = review([assignment(PHI_RG, "Reader", ALICE)])
    assert run("access_phi_new_grants", first).status == Status.NOT_APPLICABLE
    assert run("access_phi_removed_grants", first).status == Status.NOT_APPLICABLE


def test_removed_through_a_group_whose_members_are_unknown_is_not_claimed() -> None:
    seen = review(
        [assignment(PHI_RG, "Reader", ADMINS, "Group")],
        directory=directory(PEOPLE, groups={ADMINS: ("Admins", [ALICE])}),
    )
    previous = {
        p.key: {"role": p.role, "scope": p.scope, "via_group": p.via_group} for p in seen.paths
    }
    blind = review(
        [assignment(PHI_RG, "Reader", ADMINS, "Group")],
        directory=directory(PEOPLE, read=("User", "ServicePrincipal")),
        previous=previous,
    )
    result = run("access_phi_removed_grants", blind)
    assert result.status == Status.NOT_ASSESSED and "GroupMember.Read.All" in result.unknown[0]


def test_a_rule_that_raises_is_an_error_and_the_others_run() -> None:
    data = review([assignment(PHI_RG, "Reader", ALICE)])
    data.grants.append(object())  # type: ignore[arg-type]
    results = {r: RULES[r].run(data, CTX).status for r in RULES}
    assert Status.ERROR in results.values()
    assert results["access_custom_role_no_wildcards"] == Status.PASS


def test_bad_documents_are_named_and_skipped(reference_dir) -> None:  # type: ignore[no-untyped-def]
    broken = {
        "id": f"{PHI_RG}/providers/Microsoft.Authorization/roleAssignments/x",
        "properties": {},
    }
    data = review([broken, assignment(PHI_RG, "Reader", ALICE)])
    assert len(data.grants) == 1
    assert "principalId" in data.errors[0] and "roleAssignments/x" in data.errors[0]


def test_reference_payloads_parse(reference_dir) -> None:  # type: ignore[no-untyped-def]
    arm = reference_dir / "arm"
    listing = json.loads(
        (
            arm / "Microsoft.Authorization__roleAssignments__ListForResourceGroup__2022-04-01.json"
        ).read_text()
    )
    grants = [Grant.from_assignment(d) for d in listing["responses"]["200"]["body"]["value"]]
    assert grants and all(g.principal_type == "User" and g.role_guid for g in grants)
    definition = json.loads(
        (arm / "Microsoft.Authorization__roleDefinitions__Get__2022-04-01.json").read_text()
    )
    role = RoleDefinition.from_arm(definition["responses"]["200"]["body"])
    assert role.name == "Role name" and role.data_actions == ("dataAction",)
    extra = reference_dir / "arm-extra"
    eligible = json.loads(
        (
            extra
            / "Microsoft.Authorization__roleEligibilitySchedules__ListForScope__2020-10-01.json"
        ).read_text()
    )
    pim = Grant.from_assignment(eligible["responses"]["200"]["body"]["value"][0], "eligible")
    assert pim.access == "eligible" and pim.end.startswith("2021-09-09")
    users = json.loads(
        (
            reference_dir / "graph" / "user-list__signInActivity__response__graph-docs-v1.0.json"
        ).read_text()
    )
    adele, alex = (Principal.from_graph(u, "User", sign_ins=True) for u in users["value"])
    assert adele.last_sign_in == parse_time("2021-06-17T16:41:33Z")  # "0001-01-01" is never
    assert alex.last_sign_in == parse_time("2021-07-29T17:53:42Z")  # the later of the two
    kv = json.loads(
        (reference_dir / "arm" / "Microsoft.KeyVault__vaults__Get__2024-11-01.json").read_text()
    )
    policies = access_policy_grants(kv["responses"]["200"]["body"])
    assert policies and all(g.access == "policy" for g in policies)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-04-16T20:23:45.6520549Z", "2024-04-16T20:23:45.652054+00:00"),
        ("0001-01-01T00:00:00Z", None),
        ("not a date", None),
        (None, None),
    ],
)
def test_parse_time(value: object, expected: str | None) -> None:
    found = parse_time(value)
    assert (found.isoformat() if found else None) == expected


class _RefusingArm:
    """An ARM reader whose PIM and Key Vault lists are refused (no P2 licence, no vault read)."""

    def __init__(self) -> None:
        from tests.access.fixtures import DEFINITIONS, PHI_RG, assignment

        self.lists = {
            "roleDefinitions": DEFINITIONS,
            "roleAssignments": [assignment(PHI_RG, "Owner", ALICE)],
            "resources": [],
        }

    def get(self, path: str, version: str, kind: str = "") -> dict[str, object]:
        return {"id": path, "subscriptionId": path.rsplit("/", 1)[-1], "tags": {"hipaa": "true"}}

    def resource_groups(self, subscription: str) -> dict[str, object]:
        return {}

    def list_items(self, path: str, version: str, kind: str = "") -> object:
        from shared.arm import ArmError

        last = path.rsplit("/", 1)[-1]
        if last in self.lists:
            return iter(self.lists[last])
        raise ArmError(403, "AuthorizationFailed", f"no read on {last}", path)


def test_a_refused_pim_or_vault_list_is_named_and_the_review_goes_on() -> None:
    from shared.access.reader import read_review
    from shared.kernel.phi_scope import PhiScope
    from tests.access.fixtures import SUB

    data = read_review(_RefusingArm(), None, [SUB], PhiScope())  # type: ignore[arg-type]
    assert len(data.grants) == 1 and data.grants[0].access == "standing"
    assert any("PIM eligibilities" in e and "AuthorizationFailed" in e for e in data.errors)
    assert any("Key Vault access policies not read" in e for e in data.errors)
    # No Graph configured: every directory fact is unknown, said so.
    assert {u.permission for u in data.unknowns} >= {"User.Read.All", "GroupMember.Read.All"}
    result = RULES["access_phi_no_orphaned_assignments"].run(data, CTX)
    assert result.status == Status.NOT_ASSESSED
