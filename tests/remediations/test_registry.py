"""Lint over the remediation registry: the Remediation contract of remediations/registry.py, enforced.

Every remediation is run over the PASS/FAIL fixtures of the checks it fixes: on a compliant
fixture it plans nothing; on a failing one its writes, applied in memory, change only the JSON
paths it declares, make the checks pass, and its inverse puts the old values back.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from checks import CATALOG
from checks.registry import RegistryError
from remediations import REMEDIATIONS, permissions
from remediations.paths import covers, parse_path, snapshot_diff, value_at
from remediations.plan import Change, PlanError, apply_writes, same
from remediations.registry import (
    Remediation,
    RemediationOptions,
    check_statuses,
    validate,
)
from shared.kernel.findings import Status
from shared.kernel.snapshot import Snapshot
from shared.loader import snapshot_from_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checks"
REMEDIATIONS_DIR = Path(__file__).resolve().parents[2] / "remediations"
WORKSPACE = (
    "/subscriptions/s1/resourceGroups/rg-mon/providers/Microsoft.OperationalInsights/workspaces/law"
)
ARCHIVE = "/subscriptions/s1/resourceGroups/rg-mon/providers/Microsoft.Storage/storageAccounts/arch"
OPTIONS = {
    "deny": RemediationOptions(workspace_id=WORKSPACE, archive_storage_id=ARCHIVE),
    "restrict": RemediationOptions(
        nsg_strategy="restrict",
        admin_cidrs=("198.51.100.0/24",),
        workspace_id=WORKSPACE,
        archive_storage_id=ARCHIVE,
    ),
}


def _cases() -> list[tuple[str, str, Path]]:
    return [
        (rid, strategy, path)
        for rid, item in sorted(REMEDIATIONS.items())
        for strategy in OPTIONS
        for check_id in item.fixes
        for path in sorted((FIXTURES / check_id).glob("*.json"))
        # error* and notassessed* fixtures give the check nothing to fix from
        if not path.name.startswith(("error", "notassessed"))
    ]


def _load(path: Path) -> Snapshot:
    return snapshot_from_json(json.loads(path.read_text()), str(path))


def test_registry_has_the_three_remediations() -> None:
    assert set(REMEDIATIONS) == {
        "network_nsg_restrict_internet_inbound",
        "monitoring_diagnostic_settings_audit",
        "storage_account_secure_transport",
    }


def test_every_fixed_check_exists_and_names_its_remediation() -> None:
    for item in REMEDIATIONS.values():
        for check_id in item.fixes:
            assert check_id in CATALOG, check_id
            assert CATALOG[check_id].remediation == item.id
    for check in CATALOG.values():
        if check.remediation is not None:
            assert check.id in REMEDIATIONS[check.remediation].fixes


def test_metadata_is_complete() -> None:
    for item in REMEDIATIONS.values():
        meta = item.metadata()
        assert meta["default_mode"] in ("off", "dry-run", "enforce")
        assert meta["disruptive"] and meta["rbac_actions"] and meta["writes"]
        assert item.description
        for pattern in item.writes:
            parse_path(pattern)
    assert REMEDIATIONS["storage_account_secure_transport"].default_mode == "dry-run"
    assert "TLS" in REMEDIATIONS["storage_account_secure_transport"].disruptive


def test_permissions_are_the_sorted_union_of_rbac_actions() -> None:
    union = {a for r in REMEDIATIONS.values() for a in r.rbac_actions}
    assert permissions() == sorted(union)
    assert "Microsoft.Network/networkSecurityGroups/securityRules/write" in permissions()


@pytest.mark.parametrize(
    ("rid", "strategy", "path"), _cases(), ids=lambda v: getattr(v, "name", str(v))
)
def test_plan_writes_only_declared_paths_and_fixes_the_checks(
    rid: str, strategy: str, path: Path
) -> None:
    item = REMEDIATIONS[rid]
    snapshot = _load(path)
    statuses = check_statuses(item.fixes, snapshot)
    plan = item.plan(snapshot, OPTIONS[strategy])
    if Status.FAIL not in statuses.values() or not item.applies_to(snapshot.type):
        assert plan is None, f"{rid} plans a change on compliant {path.name}: {plan}"
        return
    assert plan is not None, f"{rid} plans nothing on failing {path.name}"
    assert plan.summary and plan.writes
    # The writes, applied in memory, change exactly the declared paths and realize `after`.
    fixed = apply_writes(snapshot, plan.writes)
    changed = snapshot_diff(snapshot, fixed)
    assert changed, "the writes change nothing"
    undeclared = [p for p in changed if not item.declares(p)]
    assert not undeclared, f"{rid} writes undeclared paths {undeclared}"
    assert all(any(covers(a, p) or covers(p, a) for a in plan.after) for p in changed)
    for p, value in plan.after.items():
        assert same(value_at(fixed, p), value), p
        assert same(value_at(snapshot, p), plan.before[p]), p
    # The checks that failed now pass.
    after = check_statuses(item.fixes, fixed)
    for check_id, status in statuses.items():
        if status == Status.FAIL:
            assert after[check_id] == Status.PASS, (check_id, path.name)
    assert item.plan(fixed, OPTIONS[strategy]) is None, "a second plan on the fixed resource"
    # The inverse touches the same paths and brings the failures back.
    restored = apply_writes(fixed, plan.inverse)
    assert all(item.declares(p) for p in snapshot_diff(fixed, restored))
    again = check_statuses(item.fixes, restored)
    assert {c for c, s in again.items() if s == Status.FAIL} == {
        c for c, s in statuses.items() if s == Status.FAIL
    }


def test_nsg_deny_touches_only_offending_rules_and_keeps_names_and_priorities() -> None:
    nsg = _nsg(
        _rule("AllowRdp", "3389", "*", 100),
        _rule("AllowHttps", "443", "Internet", 110),
        _rule("AllowSshOffice", "22", "203.0.113.0/24", 120),
        _rule("DenyWinRm", "5985", "*", 90, access="Deny"),
        _rule("AllowWinRm", "5985-5986", "0.0.0.0/0", 130),  # 5986 still open
    )
    plan = REMEDIATIONS["network_nsg_restrict_internet_inbound"].plan(nsg)
    assert plan is not None
    assert set(plan.after) == {
        "properties.securityRules[name=AllowRdp].properties.access",
        "properties.securityRules[name=AllowWinRm].properties.access",
    }
    assert [w.target_id.rsplit("/", 1)[-1] for w in plan.writes] == ["AllowRdp", "AllowWinRm"]
    for write in plan.writes:
        assert write.method == "PUT" and write.if_match == 'W/"etag-1"'
        body: Any = write.body
        assert body["properties"]["access"] == "Deny"
        assert "provisioningState" not in body["properties"]
    rdp: Any = plan.writes[0].body
    assert rdp["properties"]["priority"] == 100
    assert rdp["properties"]["destinationPortRange"] == "3389"


def test_nsg_phi_scope_closes_every_internet_rule() -> None:
    rules = (_rule("AllowHttps", "443", "Internet", 110),)
    assert REMEDIATIONS["network_nsg_restrict_internet_inbound"].plan(_nsg(*rules)) is None
    plan = REMEDIATIONS["network_nsg_restrict_internet_inbound"].plan(_nsg(*rules, phi=True))
    assert plan is not None and "PHI NSG" in plan.summary


def test_nsg_restrict_replaces_internet_sources_with_admin_cidrs() -> None:
    nsg = _nsg(
        _rule("AllowRdp", "3389", "*", 100),
        _rule("AllowSsh", "22", None, 110, prefixes=["203.0.113.0/24", "Internet"]),
    )
    options = RemediationOptions(nsg_strategy="restrict", admin_cidrs=("198.51.100.0/24",))
    plan = REMEDIATIONS["network_nsg_restrict_internet_inbound"].plan(nsg, options)
    assert plan is not None
    base = "properties.securityRules[name={}].properties.{}"
    assert plan.after[base.format("AllowRdp", "sourceAddressPrefix")] == "198.51.100.0/24"
    assert plan.after[base.format("AllowSsh", "sourceAddressPrefixes")] == [
        "203.0.113.0/24",
        "198.51.100.0/24",
    ]
    assert not any(p.endswith(".access") for p in plan.after)
    with pytest.raises(PlanError, match="admin CIDRs"):
        REMEDIATIONS["network_nsg_restrict_internet_inbound"].plan(
            nsg, RemediationOptions(nsg_strategy="restrict")
        )


def test_diagnostic_setting_never_touches_a_customer_setting() -> None:
    item = REMEDIATIONS["monitoring_diagnostic_settings_audit"]
    customer = {
        "id": "/x/providers/microsoft.insights/diagnosticSettings/customer",
        "name": "customer",
        "properties": {"logs": [{"categoryGroup": "allLogs", "enabled": False}]},
    }
    vault = _vault([customer])
    plan = item.plan(vault, OPTIONS["deny"])
    assert plan is not None
    (write,) = plan.writes
    assert write.method == "PUT" and write.if_none_match
    assert write.target_id.endswith(
        "/providers/Microsoft.Insights/diagnosticSettings/phiguard-audit"
    )
    body: Any = write.body
    assert body["properties"]["logs"] == [{"categoryGroup": "audit", "enabled": True}]
    assert body["properties"]["workspaceId"] == WORKSPACE
    (inverse,) = plan.inverse
    assert inverse.method == "DELETE" and inverse.target_id == write.target_id
    fixed = apply_writes(vault, plan.writes)
    assert value_at(fixed, "related.diagnostic_settings[name=customer]") == customer


def test_diagnostic_setting_repairs_its_own_setting_and_respects_the_limit() -> None:
    item = REMEDIATIONS["monitoring_diagnostic_settings_audit"]
    broken = {
        "name": "phiguard-audit",
        "properties": {
            "workspaceId": WORKSPACE,
            "logs": [{"categoryGroup": "audit", "enabled": False}],
        },
    }
    plan = item.plan(_vault([broken]), OPTIONS["deny"])
    assert plan is not None and plan.summary.startswith("Repair")
    (write,) = plan.writes
    assert not write.if_none_match and write.expect == {"properties": broken["properties"]}
    (inverse,) = plan.inverse
    assert inverse.method == "PUT"
    full = [{"name": f"s{i}", "properties": {}} for i in range(5)]
    with pytest.raises(PlanError, match="5 diagnostic settings"):
        item.plan(_vault(full), OPTIONS["deny"])
    with pytest.raises(PlanError, match="no destination"):
        item.plan(_vault([]), RemediationOptions())


def test_storage_transport_sets_only_failing_properties_and_never_lowers_tls() -> None:
    item = REMEDIATIONS["storage_account_secure_transport"]
    account = Snapshot(
        {
            "id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1",
            "type": "Microsoft.Storage/storageAccounts",
            "kind": "StorageV2",
            "properties": {"minimumTlsVersion": "TLS1_3", "allowBlobPublicAccess": True},
        }
    )
    plan = item.plan(account)
    assert plan is not None
    assert plan.after == {"properties.allowBlobPublicAccess": False}
    (write,) = plan.writes
    assert write.method == "PATCH"
    assert write.body == {"properties": {"allowBlobPublicAccess": False}}
    assert write.expect == {"properties.allowBlobPublicAccess": True}


def test_registry_rejects_broken_remediations() -> None:
    item = REMEDIATIONS["storage_account_secure_transport"]
    with pytest.raises(RegistryError, match="duplicate id"):
        validate([item, item], CATALOG)
    from dataclasses import replace

    with pytest.raises(RegistryError, match="unknown check"):
        validate([replace(item, fixes=("storage_no_such_check",))], CATALOG)
    with pytest.raises(RegistryError, match="unknown resource type"):
        validate([replace(item, resource_types=("microsoft.web/sites",))], CATALOG)
    with pytest.raises(RegistryError, match="default_mode"):
        validate([replace(item, default_mode="sometimes")], CATALOG)  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match="names unknown remediation"):
        validate([], CATALOG)


def test_plan_refuses_undeclared_paths() -> None:
    from dataclasses import replace

    item = REMEDIATIONS["storage_account_secure_transport"]

    def sneaky(snapshot: Snapshot, options: RemediationOptions) -> Change | None:
        return Change("x", {"properties.networkAcls.defaultAction": "Allow"})

    broken: Remediation = replace(item, decide=sneaky)
    with pytest.raises(PlanError, match="undeclared"):
        broken.plan(Snapshot({"id": item_id()}))


def test_remediations_do_no_io() -> None:
    banned = ("azure", "requests", "os", "time", "datetime", "socket", "urllib", "random")
    for path in REMEDIATIONS_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in banned, f"{path.name} imports {name}"


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        (
            "properties.securityRules[*].properties.access",
            "properties.securityRules[name=a].properties.access",
            True,
        ),
        (
            "properties.securityRules[*].properties.access",
            "properties.securityRules[3].properties.access",
            True,
        ),
        (
            "properties.securityRules[*].properties.access",
            "properties.securityRules[name=a]",
            False,
        ),
        (
            "related.diagnostic_settings[name=phiguard-audit]",
            "related.diagnostic_settings[name=PHIGUARD-AUDIT].properties.logs",
            True,
        ),
        (
            "related.diagnostic_settings[name=phiguard-audit]",
            "related.diagnostic_settings[name=customer]",
            False,
        ),
        ("properties.minimumTlsVersion", "properties.minimumTlsVersionX", False),
    ],
)
def test_declared_paths_cover(pattern: str, path: str, expected: bool) -> None:
    assert covers(pattern, path) is expected


def item_id() -> str:
    return "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1"


def _rule(
    name: str,
    port: str,
    source: str | None,
    priority: int,
    *,
    access: str = "Allow",
    prefixes: list[str] | None = None,
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "protocol": "Tcp",
        "sourcePortRange": "*",
        "destinationPortRange": port,
        "destinationAddressPrefix": "*",
        "access": access,
        "priority": priority,
        "direction": "Inbound",
    }
    if source is not None:
        props["sourceAddressPrefix"] = source
    if prefixes is not None:
        props["sourceAddressPrefixes"] = prefixes
    return {"name": name, "etag": 'W/"etag-1"', "properties": props}


def _nsg(*rules: dict[str, Any], phi: bool = False) -> Snapshot:
    nsg_id = (
        "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n1"
    )
    for rule in rules:
        rule["id"] = f"{nsg_id}/securityRules/{rule['name']}"
    return Snapshot(
        {
            "id": nsg_id,
            "name": "n1",
            "type": "Microsoft.Network/networkSecurityGroups",
            "etag": 'W/"etag-1"',
            "properties": {"securityRules": list(rules)},
        },
        phi=phi,
    )


def _vault(settings: list[dict[str, Any]]) -> Snapshot:
    return Snapshot(
        {
            "id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv1",
            "name": "kv1",
            "type": "Microsoft.KeyVault/vaults",
            "properties": {},
        },
        {"diagnostic_settings": settings},
        phi=True,
    )


@pytest.mark.parametrize("name", ["OpenRdp", "a]b", "x\\]y[", "[bold]evil[/]", "a.b", "\\"])
def test_name_selectors_round_trip_any_rule_name(name: str) -> None:
    """Regression: a rule name holding ']' ended the selector, so the NSG fix could not plan
    (whoever names the rule could keep RDP open to the Internet)."""
    from remediations.paths import format_path, name_selector, parse_path

    path = "properties.securityRules" + name_selector(name) + ".properties.access"
    tokens = parse_path(path)
    assert tokens[2] == ("name", name)
    assert format_path(tokens) == path
