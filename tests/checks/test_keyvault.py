"""Key Vault checks: defaults, case-insensitivity, malformed input and the P4 access-policy rule."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from checks import CATALOG
from shared.engine import Engine
from shared.kernel.findings import Status
from shared.kernel.snapshot import Snapshot
from tests.checks.helpers import finding as run
from tests.checks.helpers import status

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checks"
VAULT_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/sample-resource-group"
    "/providers/Microsoft.KeyVault/vaults/sample-vault"
)


def vault(**props: Any) -> dict[str, Any]:
    return {
        "id": VAULT_ID,
        "name": "sample-vault",
        "type": "Microsoft.KeyVault/vaults",
        "location": "westus",
        "tags": {},
        "properties": {"tenantId": "00000000-0000-0000-0000-000000000000", **props},
    }


def policy(object_id: str, **perms: list[Any]) -> dict[str, Any]:
    return {
        "tenantId": "00000000-0000-0000-0000-000000000000",
        "objectId": object_id,
        "permissions": perms,
    }


# --- soft delete / purge protection / RBAC ---------------------------------------------------


def test_soft_delete_absent_assumes_enabled_and_says_so() -> None:
    finding = run("keyvault_vault_soft_delete_enabled", vault())
    assert finding is not None and finding.status == Status.PASS
    assert finding.evidence["properties.enableSoftDelete"] == {"absent": True, "assumed": True}
    assert "90-day" in finding.reason


def test_soft_delete_retention_that_is_not_a_number_is_an_error() -> None:
    resource = vault(enableSoftDelete=True, softDeleteRetentionInDays="90")
    assert status("keyvault_vault_soft_delete_enabled", resource) == Status.ERROR


def test_soft_delete_false_fails() -> None:
    assert (
        status("keyvault_vault_soft_delete_enabled", vault(enableSoftDelete=False)) == Status.FAIL
    )


def test_purge_protection_absent_fails_with_assumed_false() -> None:
    finding = run("keyvault_vault_purge_protection_enabled", vault())
    assert finding is not None and finding.status == Status.FAIL
    assert finding.evidence["properties.enablePurgeProtection"] == {
        "absent": True,
        "assumed": False,
    }


def test_purge_protection_needs_soft_delete() -> None:
    resource = vault(enablePurgeProtection=True, enableSoftDelete=False)
    finding = run("keyvault_vault_purge_protection_enabled", resource)
    assert finding is not None and finding.status == Status.FAIL
    assert "soft delete" in finding.reason


@pytest.mark.parametrize("value", ["true", 1, None, [True]])
def test_rbac_flag_that_is_not_boolean_never_passes(value: Any) -> None:
    resource = vault(enableRbacAuthorization=value)
    result = status("keyvault_vault_rbac_authorization_enabled", resource)
    # JSON null is the documented "not set" (access policies); anything else is malformed.
    assert result == (Status.FAIL if value is None else Status.ERROR)


# --- network ---------------------------------------------------------------------------------


def test_network_check_runs_only_on_phi_vaults() -> None:
    assert run("keyvault_vault_network_access_restricted", vault()) is None
    assert status("keyvault_vault_network_access_restricted", vault(), phi=True) == Status.FAIL


def test_network_values_are_case_insensitive() -> None:
    check_id = "keyvault_vault_network_access_restricted"
    assert status(check_id, vault(publicNetworkAccess="disabled"), phi=True) == Status.PASS
    deny = vault(publicNetworkAccess="enabled", networkAcls={"defaultAction": "deny"})
    assert status(check_id, deny, phi=True) == Status.PASS


@pytest.mark.parametrize("source", ["*", "0.0.0.0/0", "Internet", "0.0.0.0/1", "128.0.0.0/2"])
def test_network_deny_with_internet_wide_ip_rule_fails(source: str) -> None:
    """Half the Internet is the Internet too (regression: only the literal catch-alls were
    caught, so ``0.0.0.0/1`` passed); the same definition as the NSG model's."""
    resource = vault(networkAcls={"defaultAction": "Deny", "ipRules": [{"value": source}]})
    finding = run("keyvault_vault_network_access_restricted", resource, phi=True)
    assert finding is not None and finding.status == Status.FAIL
    assert finding.evidence["properties.networkAcls.ipRules[0].value"] == source


@pytest.mark.parametrize(
    "props",
    [
        {"networkAcls": ["Deny"]},
        {"networkAcls": {"defaultAction": "Deny", "ipRules": "1.2.3.4"}},
        {"publicNetworkAccess": False},
    ],
)
def test_network_malformed_is_an_error(props: dict[str, Any]) -> None:
    assert status("keyvault_vault_network_access_restricted", vault(**props), phi=True) == (
        Status.ERROR
    )


def test_private_endpoint_status_is_case_insensitive_and_malformed_list_errors() -> None:
    check_id = "keyvault_vault_private_endpoint_approved"
    conn: dict[str, Any] = {
        "id": VAULT_ID + "/privateEndpointConnections/pe",
        "properties": {"privateLinkServiceConnectionState": {"status": "approved"}},
    }
    assert status(check_id, vault(privateEndpointConnections=[conn]), phi=True) == Status.PASS
    assert status(check_id, vault(privateEndpointConnections=conn), phi=True) == Status.ERROR
    rejected = copy.deepcopy(conn)
    rejected["properties"]["privateLinkServiceConnectionState"]["status"] = "Rejected"
    assert status(check_id, vault(privateEndpointConnections=[rejected]), phi=True) == Status.FAIL


# --- diagnostic logs -------------------------------------------------------------------------


def _setting(**props: Any) -> dict[str, Any]:
    return {
        "id": VAULT_ID + "/providers/microsoft.insights/diagnosticSettings/s",
        "name": "s",
        "properties": props,
    }


def test_audit_logs_not_assessed_without_diagnostic_settings() -> None:
    evaluation = Engine().evaluate(Snapshot(vault()))
    missing = {n.check_id: n.missing for n in evaluation.not_assessed}
    assert missing["keyvault_vault_audit_logs_enabled"] == ("diagnostic_settings",)


def test_audit_event_category_matches_any_case_and_needs_retained_destination() -> None:
    check_id = "keyvault_vault_audit_logs_enabled"
    logs = [{"category": "auditevent", "enabled": True}]
    good = _setting(
        logs=logs,
        workspaceId="/subscriptions/x/resourceGroups/r/providers/"
        "Microsoft.OperationalInsights/workspaces/w",
    )
    assert status(check_id, vault(), related={"diagnostic_settings": [good]}) == Status.PASS
    disabled = _setting(
        logs=[{"category": "AuditEvent", "enabled": False}],
        storageAccountId="/subscriptions/x/resourceGroups/r/providers/"
        "Microsoft.Storage/storageAccounts/s",
    )
    assert status(check_id, vault(), related={"diagnostic_settings": [disabled]}) == Status.FAIL


def test_audit_logs_malformed_settings_are_an_error() -> None:
    check_id = "keyvault_vault_audit_logs_enabled"
    assert status(check_id, vault(), related={"diagnostic_settings": {"a": 1}}) == Status.ERROR
    bad_logs = _setting(logs={"category": "AuditEvent"}, workspaceId="w")
    assert status(check_id, vault(), related={"diagnostic_settings": [bad_logs]}) == Status.ERROR


# --- access policies (P4) --------------------------------------------------------------------

BROAD = "keyvault_vault_access_policies_not_broad"


# The permission enums of the Key Vault management API, 2024-11-01 (keyvault.json,
# definitions.Permissions), written out here independently of checks.keyvault.
SPEC_KEYS = [
    "encrypt",
    "decrypt",
    "wrapKey",
    "unwrapKey",
    "sign",
    "verify",
    "get",
    "list",
    "create",
    "update",
    "import",
    "delete",
    "backup",
    "restore",
    "recover",
    "purge",
    "release",
    "rotate",
    "getrotationpolicy",
    "setrotationpolicy",
]
SPEC_SECRETS = ["get", "list", "set", "delete", "backup", "restore", "recover", "purge"]
SPEC_CERTIFICATES = [
    "get",
    "list",
    "delete",
    "create",
    "import",
    "update",
    "managecontacts",
    "getissuers",
    "listissuers",
    "setissuers",
    "deleteissuers",
    "manageissuers",
    "recover",
    "purge",
    "backup",
    "restore",
]
SPEC_STORAGE = [
    "get",
    "list",
    "delete",
    "set",
    "update",
    "regeneratekey",
    "recover",
    "purge",
    "backup",
    "restore",
    "setsas",
    "listsas",
    "getsas",
    "deletesas",
]
SPEC = {
    "keys": SPEC_KEYS,
    "secrets": SPEC_SECRETS,
    "certificates": SPEC_CERTIFICATES,
    "storage": SPEC_STORAGE,
}
WORKLOAD = {
    "keys": "encrypt decrypt wrapKey unwrapKey sign verify get list release getrotationpolicy",
    "secrets": "get list set",
    "certificates": "get list getissuers listissuers",
    "storage": "get list getsas listsas",
}
MANAGEMENT = {
    kind: [p for p in SPEC[kind] if p not in WORKLOAD[kind].split() and p != "purge"]
    for kind in SPEC
}


def test_permission_enums_match_the_api_and_the_published_example() -> None:
    from checks.keyvault import PERMISSIONS

    assert {k: sorted(v) for k, v in PERMISSIONS.items()} == {
        k: sorted(p.lower() for p in v) for k, v in SPEC.items()
    }
    doc = json.loads((FIXTURES / BROAD / "fail.json").read_text())
    for kind, names in doc["resource"]["properties"]["accessPolicies"][0]["permissions"].items():
        assert {n.lower() for n in names} <= PERMISSIONS[kind], kind


def test_purge_is_flagged_on_a_vault_outside_phi_scope() -> None:
    resource = vault(accessPolicies=[policy("app-1", keys=["get", "PURGE"])])
    finding = run(BROAD, resource, phi=False)
    assert finding is not None and finding.status == Status.FAIL
    assert "#0 app-1 (keys: purge)" in finding.reason
    entry = finding.evidence["properties.accessPolicies[0].permissions.keys"]
    assert entry["granted"] == ["get", "PURGE"] and entry["broad"] == ["purge"]
    assert any("purge" in why for why in entry["why"])
    assert finding.evidence["properties.accessPolicies[0].objectId"] == "app-1"


def test_all_on_storage_and_certificates_is_broad_too() -> None:
    resource = vault(
        accessPolicies=[
            policy("ok", keys=["get", "unwrapKey", "wrapKey"]),
            policy("admin", certificates=["All"], storage=["all"]),
        ]
    )
    finding = run(BROAD, resource)
    assert finding is not None and finding.status == Status.FAIL
    assert finding.reason.endswith("#1 admin (certificates: all; storage: all).")
    assert "ok (" not in finding.reason
    assert "properties.accessPolicies[0].permissions.keys" not in finding.evidence


@pytest.mark.parametrize("kind", sorted(SPEC))
@pytest.mark.parametrize("case", [str.lower, str.upper, lambda p: p[:1].upper() + p[1:]])
def test_every_permission_listed_one_by_one_is_all_in_effect(kind: str, case: Any) -> None:
    listed = [case(p) for p in reversed(SPEC[kind])]
    finding = run(BROAD, vault(accessPolicies=[policy("sp", **{kind: listed})]))
    assert finding is not None and finding.status == Status.FAIL
    assert f"#0 sp ({kind}: every {kind[:-1]} permission listed)" in finding.reason
    entry = finding.evidence[f"properties.accessPolicies[0].permissions.{kind}"]
    assert entry["granted"] == listed
    assert sorted(entry["broad"]) == sorted(p.lower() for p in SPEC[kind])
    assert "(= 'all')" in entry["why"][0]


@pytest.mark.parametrize(
    ("kind", "permission"), [(k, p) for k in sorted(MANAGEMENT) for p in MANAGEMENT[k]]
)
def test_each_management_permission_is_broad(kind: str, permission: str) -> None:
    granted = [*WORKLOAD[kind].split(), permission]
    finding = run(BROAD, vault(accessPolicies=[policy("sp", **{kind: granted})]))
    assert finding is not None
    assert finding.status == Status.FAIL, finding.reason
    assert f"({kind}: {permission.lower()})" in finding.reason
    entry = finding.evidence[f"properties.accessPolicies[0].permissions.{kind}"]
    assert entry["broad"] == [permission.lower()]
    assert entry["why"] == [
        f"{kind[:-1]} management beyond a workload's needs: {permission.lower()}"
    ]


@pytest.mark.parametrize("kind", sorted(WORKLOAD))
def test_workload_permissions_pass_in_any_case(kind: str) -> None:
    granted = [p.upper() for p in WORKLOAD[kind].split()]
    finding = run(BROAD, vault(accessPolicies=[policy("workload", **{kind: granted})]))
    assert finding is not None
    assert finding.status == Status.PASS, finding.reason


def test_every_permission_but_one_is_not_all_but_still_names_the_management_ones() -> None:
    listed = [p for p in SPEC_KEYS if p != "sign"]
    finding = run(BROAD, vault(accessPolicies=[policy("sp", keys=listed)]))
    assert finding is not None and finding.status == Status.FAIL
    assert "every key permission" not in finding.reason
    assert "#0 sp (keys: purge, delete, create, import +6 more)" in finding.reason
    broad = finding.evidence["properties.accessPolicies[0].permissions.keys"]["broad"]
    assert sorted(broad) == sorted(p.lower() for p in [*MANAGEMENT["keys"], "purge"])


def test_reason_names_index_object_id_and_category_of_each_policy() -> None:
    resource = vault(
        accessPolicies=[
            policy("reader", secrets=["get", "list"]),
            policy("writer", secrets=["get", "set", "delete"], keys=["get", "backup"]),
            {"tenantId": "t", "permissions": {"certificates": ["import"]}},
        ]
    )
    finding = run(BROAD, resource)
    assert finding is not None and finding.status == Status.FAIL
    assert finding.reason == (
        "Access policies grant broad permissions: #1 writer (keys: backup; secrets: delete), "
        "#2 no objectId (certificates: import)."
    )
    assert finding.evidence["properties.accessPolicies[1].permissions.secrets"]["broad"] == [
        "delete"
    ]
    assert finding.evidence["properties.accessPolicies[2].objectId"] is None


def test_unknown_permission_names_are_reported_not_judged() -> None:
    finding = run(BROAD, vault(accessPolicies=[policy("sp", keys=["get", "exportall", "delete"])]))
    assert finding is not None and finding.status == Status.FAIL
    entry = finding.evidence["properties.accessPolicies[0].permissions.keys"]
    assert entry["not_in_api_enum"] == ["exportall"] and entry["broad"] == ["delete"]
    alone = run(BROAD, vault(accessPolicies=[policy("sp", keys=["get", "exportall"])]))
    assert alone is not None and alone.status == Status.PASS


def test_reason_names_three_principals_then_counts_the_rest() -> None:
    resource = vault(accessPolicies=[policy(f"sp-{i}", secrets=["all"]) for i in range(5)])
    finding = run(BROAD, resource)
    assert finding is not None and finding.status == Status.FAIL
    assert "sp-0" in finding.reason and "sp-2" in finding.reason and "sp-3" not in finding.reason
    assert finding.reason.endswith("and 2 more.")


def test_least_privilege_policies_pass() -> None:
    resource = vault(
        accessPolicies=[
            policy("workload", keys=["get", "wrapKey", "unwrapKey"]),
            policy("app", secrets=["Get", "List", "Set"], keys=["release"]),
        ]
    )
    finding = run(BROAD, resource)
    assert finding is not None and finding.status == Status.PASS
    assert finding.evidence["properties.accessPolicies[*].objectId"] == ["workload", "app"]


@pytest.mark.parametrize(
    "nothing", [{"objectId": "x"}, {"objectId": "x", "permissions": None}, {"permissions": {}}]
)
def test_null_or_absent_permissions_grant_nothing(nothing: dict[str, Any]) -> None:
    assert status(BROAD, vault(accessPolicies=[nothing])) == Status.PASS
    nulled = policy("x", keys=None, secrets=["get"])  # type: ignore[arg-type]
    assert status(BROAD, vault(accessPolicies=[nulled])) == Status.PASS


def test_rbac_vault_makes_access_policies_not_applicable() -> None:
    resource = vault(enableRbacAuthorization=True, accessPolicies=[policy("x", keys=["all"])])
    assert status(BROAD, resource) == Status.NOT_APPLICABLE


@pytest.mark.parametrize(
    "policies",
    [
        {"objectId": "x"},
        ["not-an-object"],
        [{"objectId": "x", "permissions": ["all"]}],
        [{"objectId": "x", "permissions": {"keys": "all"}}],
        [{"objectId": "x", "permissions": {"keys": [None]}}],
    ],
)
def test_malformed_access_policies_are_an_error(policies: Any) -> None:
    assert status(BROAD, vault(accessPolicies=policies)) == Status.ERROR


def test_published_get_example_fails_on_its_grants() -> None:
    doc = json.loads((FIXTURES / BROAD / "fail.json").read_text())
    finding = run(BROAD, doc["resource"])
    assert finding is not None and finding.status == Status.FAIL
    # Every secret permission one by one; purge and management on keys and certificates.
    assert (
        "(keys: purge, delete, create, import +4 more; secrets: every secret permission listed; "
        "certificates: purge, delete, deleteissuers, create +6 more)"
    ) in finding.reason


# --- metadata --------------------------------------------------------------------------------


def test_keyvault_metadata_contract() -> None:
    checks = {i: c for i, c in CATALOG.items() if c.service == "keyvault"}
    assert len(checks) >= 7
    assert checks[BROAD].patterns == ("P4",)
    assert "service principal" in checks[BROAD].limitations
    assert checks["keyvault_vault_audit_logs_enabled"].needs == ("diagnostic_settings",)
    assert checks["keyvault_vault_network_access_restricted"].phi_only
    for item in checks.values():
        assert item.resource_types == ("microsoft.keyvault/vaults",)
        assert "Absent" in item.description or "No default" in item.description


@pytest.mark.parametrize(
    ("check_id", "props", "expected"),
    [
        ("keyvault_vault_soft_delete_enabled", {"enableSoftDelete": None}, Status.PASS),
        ("keyvault_vault_purge_protection_enabled", {"enablePurgeProtection": None}, Status.FAIL),
        (
            "keyvault_vault_rbac_authorization_enabled",
            {"enableRbacAuthorization": None},
            Status.FAIL,
        ),
        ("keyvault_vault_network_access_restricted", {"publicNetworkAccess": None}, Status.FAIL),
    ],
)
def test_json_null_means_the_documented_default(
    check_id: str, props: dict[str, Any], expected: Status
) -> None:
    # Older API versions return null for properties that were never set.
    assert status(check_id, vault(**props), phi=True) == expected


@pytest.mark.parametrize("source", ["203.0.113.0/24", "10.0.0.0/8", "1.2.3.4"])
def test_network_deny_with_narrow_ip_rules_passes(source: str) -> None:
    resource = vault(networkAcls={"defaultAction": "Deny", "ipRules": [{"value": source}]})
    assert status("keyvault_vault_network_access_restricted", resource, phi=True) == Status.PASS
