"""Behaviour of the storage account checks: defaults, boundaries, casing and malformed input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from checks import CATALOG
from shared.kernel.findings import Finding, Status
from shared.kernel.snapshot import Snapshot
from tests.checks.helpers import ENGINE, result, status

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checks"


def _fixture(check_id: str, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / check_id / f"{name}.json").read_text())
    return doc


# The published StorageAccounts_Create body (TLS1_2, blob public access off, Microsoft keys).
ACCOUNT: dict[str, Any] = _fixture("storage_account_min_tls_1_2", "pass")["resource"]
BLOB_SERVICE: dict[str, Any] = _fixture("storage_account_blob_soft_delete_enabled", "pass")[
    "related"
]["blob_service"]
DIAGNOSTIC: dict[str, Any] = _fixture("storage_account_blob_diagnostic_logs_enabled", "pass")[
    "related"
]["blob_diagnostic_settings"][0]
CONNECTION: dict[str, Any] = _fixture("storage_account_private_endpoint_approved", "pass")[
    "resource"
]["properties"]["privateEndpointConnections"][0]


def _account(**props: Any) -> dict[str, Any]:
    """The Create body with top-level ``properties`` keys replaced (None value = remove)."""
    resource = copy.deepcopy(ACCOUNT)
    for key, value in props.items():
        if value is None:
            resource["properties"].pop(key, None)
        else:
            resource["properties"][key] = value
    return resource


def _run(
    check_id: str,
    resource: dict[str, Any],
    related: dict[str, Any] | None = None,
    phi: bool = True,
) -> Finding:
    return result(check_id, resource, related, phi)


def _status(
    check_id: str, resource: dict[str, Any], related: dict[str, Any] | None = None, phi: bool = True
) -> Status:
    return status(check_id, resource, related, phi)


# --- minimum TLS -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("TLS1_2", Status.PASS),
        ("tls1_2", Status.PASS),
        ("TLS1_3", Status.PASS),
        ("TLS1_1", Status.FAIL),
        ("TLS1_0", Status.FAIL),
        ("", Status.FAIL),
        (12, Status.ERROR),
        ("SSL3", Status.ERROR),
    ],
)
def test_min_tls_values(value: Any, expected: Status) -> None:
    assert _status("storage_account_min_tls_1_2", _account(minimumTlsVersion=value)) == expected


def test_min_tls_absent_assumes_tls1_0_in_evidence() -> None:
    finding = _run("storage_account_min_tls_1_2", _account(minimumTlsVersion=None))
    assert finding.status == Status.FAIL
    assert finding.evidence["properties.minimumTlsVersion"] == {
        "absent": True,
        "assumed": "TLS1_0",
    }
    assert "TLS1_0" in finding.reason


def test_min_tls_json_null_is_the_default() -> None:
    resource = _account()
    resource["properties"]["minimumTlsVersion"] = None
    finding = _run("storage_account_min_tls_1_2", resource)
    assert finding.status == Status.FAIL
    assert finding.evidence["properties.minimumTlsVersion"]["assumed"] == "TLS1_0"


# --- secure transfer: null and absent are one case -------------------------------------------


def test_secure_transfer_null_and_absent_give_the_same_verdict_and_mark_the_default() -> None:
    check_id = "storage_account_secure_transfer_required"
    absent = _account()
    absent["properties"].pop("supportsHttpsTrafficOnly", None)
    nulled = _account()
    nulled["properties"]["supportsHttpsTrafficOnly"] = None
    found_absent = _run(check_id, absent)
    found_null = _run(check_id, nulled)
    # Both are the service default (HTTPS only since API 2019-04-01), and the evidence says so.
    assert found_absent.status == found_null.status == Status.PASS
    assert found_absent.reason == found_null.reason
    key = "properties.supportsHttpsTrafficOnly"
    assert found_absent.evidence[key] == {"absent": True, "assumed": True}
    assert found_null.evidence[key] == {"absent": True, "null": True, "assumed": True}


@pytest.mark.parametrize(("value", "expected"), [(True, Status.PASS), (False, Status.FAIL)])
def test_secure_transfer_explicit_values(value: bool, expected: Status) -> None:
    finding = _run(
        "storage_account_secure_transfer_required", _account(supportsHttpsTrafficOnly=value)
    )
    assert finding.status == expected
    assert finding.evidence["properties.supportsHttpsTrafficOnly"] is value


@pytest.mark.parametrize("value", ["true", 1, [True]])
def test_secure_transfer_non_boolean_is_malformed_not_a_verdict(value: Any) -> None:
    finding = _run(
        "storage_account_secure_transfer_required", _account(supportsHttpsTrafficOnly=value)
    )
    assert finding.status == Status.ERROR


# --- blob public access ----------------------------------------------------------------------


def test_blob_public_access_null_means_allowed() -> None:
    resource = _account()
    resource["properties"]["allowBlobPublicAccess"] = None
    finding = _run("storage_account_blob_public_access_disabled", resource)
    assert finding.status == Status.FAIL
    assert finding.evidence["properties.allowBlobPublicAccess"] == {
        "absent": True,
        "null": True,
        "assumed": True,
    }


def test_blob_public_access_string_is_malformed_not_pass() -> None:
    finding = _run(
        "storage_account_blob_public_access_disabled", _account(allowBlobPublicAccess="false")
    )
    assert finding.status == Status.ERROR
    assert "allowBlobPublicAccess" in finding.reason


def test_blob_checks_do_not_apply_to_filestorage_in_any_case() -> None:
    resource = _account(allowBlobPublicAccess=True)
    resource["kind"] = "fileStorage"
    assert _status("storage_account_blob_public_access_disabled", resource) == (
        Status.NOT_APPLICABLE
    )


# --- network ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("public", "action", "expected"),
    [
        ("DISABLED", "Allow", Status.PASS),
        ("Enabled", "deny", Status.PASS),
        (None, "Deny", Status.PASS),
        ("Enabled", "Allow", Status.FAIL),
        ("SecuredByPerimeter", "Allow", Status.FAIL),
        (None, None, Status.FAIL),
    ],
)
def test_network_access(public: str | None, action: str | None, expected: Status) -> None:
    acls = None if action is None else {"bypass": "AzureServices", "defaultAction": action}
    resource = _account(publicNetworkAccess=public, networkAcls=acls)
    assert _status("storage_account_public_network_access_restricted", resource) == expected


def test_network_acls_of_wrong_type_is_an_error() -> None:
    resource = _account(networkAcls=["Deny"])
    assert _status("storage_account_public_network_access_restricted", resource) == (Status.ERROR)


# --- private endpoint ------------------------------------------------------------------------


def _connection(status: str) -> dict[str, Any]:
    connection = copy.deepcopy(CONNECTION)
    connection["properties"]["privateLinkServiceConnectionState"]["status"] = status
    return connection


def test_private_endpoint_any_approved_connection_passes() -> None:
    resource = _account(
        privateEndpointConnections=[_connection("Rejected"), _connection("approved")]
    )
    finding = _run("storage_account_private_endpoint_approved", resource)
    assert finding.status == Status.PASS
    key = "properties.privateEndpointConnections[*].properties.privateLinkServiceConnectionState"
    assert finding.evidence[f"{key}.status"] == ["Rejected", "approved"]


def test_private_endpoint_only_pending_fails() -> None:
    resource = _account(privateEndpointConnections=[_connection("Pending")])
    finding = _run("storage_account_private_endpoint_approved", resource)
    assert finding.status == Status.FAIL
    assert "approved" in finding.reason


@pytest.mark.parametrize("bad", [{"status": "Approved"}, ["Approved"], "Approved"])
def test_private_endpoint_malformed_connections(bad: Any) -> None:
    resource = _account(privateEndpointConnections=bad)
    assert _status("storage_account_private_endpoint_approved", resource) == Status.ERROR


def test_phi_only_checks_skip_non_phi_accounts() -> None:
    evaluation = ENGINE.evaluate(Snapshot(_account(), {}, None, False))
    ran = {f.check_id for f in evaluation.findings}
    assert ran == {
        "storage_account_secure_transfer_required",
        "storage_account_min_tls_1_2",
        "storage_account_blob_public_access_disabled",
        "storage_account_public_network_access_restricted",
    }
    assert all(not CATALOG[c].phi_only for c in ran)


def test_phi_scope_from_resource_group_tag() -> None:
    resource = _account()
    resource["tags"] = {}
    evaluation = ENGINE.evaluate(Snapshot(resource, {}, {"tags": {"Data-Classification": "ePHI"}}))
    assert evaluation.phi
    ran = {f.check_id for f in evaluation.findings}
    assert "storage_account_customer_managed_key_enabled" in ran


# --- shared key, cross-tenant replication, OAuth default, infrastructure encryption -----------


@pytest.mark.parametrize(
    ("check_id", "prop", "compliant"),
    [
        ("storage_account_shared_key_access_disabled", "allowSharedKeyAccess", False),
        ("storage_account_cross_tenant_replication_disabled", "allowCrossTenantReplication", False),
        ("storage_account_oauth_default_enabled", "defaultToOAuthAuthentication", True),
    ],
)
def test_boolean_settings(check_id: str, prop: str, compliant: bool) -> None:
    assert _status(check_id, _account(**{prop: compliant})) == Status.PASS
    assert _status(check_id, _account(**{prop: not compliant})) == Status.FAIL
    # Absent or null: the documented default, which is never the compliant value here.
    assert _status(check_id, _account(**{prop: None})) == Status.FAIL
    nulled = _account()
    nulled["properties"][prop] = None
    assert _status(check_id, nulled) == Status.FAIL
    assert _status(check_id, _account(**{prop: str(compliant).lower()})) == Status.ERROR
    assert _status(check_id, _account(**{prop: int(compliant)})) == Status.ERROR


def test_infrastructure_encryption() -> None:
    check_id = "storage_account_infrastructure_encryption_enabled"
    encryption = copy.deepcopy(ACCOUNT["properties"]["encryption"])
    encryption["requireInfrastructureEncryption"] = True
    assert _status(check_id, _account(encryption=encryption)) == Status.PASS
    del encryption["requireInfrastructureEncryption"]
    finding = _run(check_id, _account(encryption=encryption))
    assert finding.status == Status.FAIL
    assert finding.evidence["properties.encryption.requireInfrastructureEncryption"] == {
        "absent": True,
        "assumed": False,
    }
    encryption["requireInfrastructureEncryption"] = "true"
    assert _status(check_id, _account(encryption=encryption)) == Status.ERROR


# --- customer-managed key --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_source", "expected"),
    [
        ("Microsoft.Keyvault", Status.PASS),
        ("microsoft.keyvault", Status.PASS),
        ("Microsoft.Storage", Status.FAIL),
        (5, Status.ERROR),
    ],
)
def test_customer_managed_key(key_source: Any, expected: Status) -> None:
    encryption = {"keySource": key_source, "services": {"blob": {"enabled": True}}}
    finding = _run("storage_account_customer_managed_key_enabled", _account(encryption=encryption))
    assert finding.status == expected


def test_customer_managed_key_absent_encryption_is_microsoft_managed() -> None:
    finding = _run("storage_account_customer_managed_key_enabled", _account(encryption=None))
    assert finding.status == Status.FAIL
    assert finding.evidence["properties.encryption.keySource"]["assumed"] == "Microsoft.Storage"
    assert CATALOG["storage_account_customer_managed_key_enabled"].patterns == ("P1",)


# --- blob soft delete and versioning (related blob_service) ----------------------------------


def _blob(**props: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BLOB_SERVICE)
    for key, value in props.items():
        if value is None:
            doc["properties"].pop(key, None)
        else:
            doc["properties"][key] = value
    return doc


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({"enabled": True, "days": 7}, Status.PASS),
        ({"enabled": True, "days": 6}, Status.FAIL),
        ({"enabled": True, "days": 365, "allowPermanentDelete": False}, Status.PASS),
        ({"enabled": True, "days": 365, "allowPermanentDelete": True}, Status.FAIL),
        ({"enabled": False, "days": 30}, Status.FAIL),
        ({"enabled": False}, Status.FAIL),
        ({"enabled": True}, Status.ERROR),
        ({"enabled": True, "days": "7"}, Status.ERROR),
        ({"enabled": True, "days": True}, Status.ERROR),
        ({"enabled": "true", "days": 7}, Status.ERROR),
    ],
)
def test_soft_delete_policy(policy: dict[str, Any], expected: Status) -> None:
    related = {"blob_service": _blob(deleteRetentionPolicy=policy)}
    finding = _run("storage_account_blob_soft_delete_enabled", _account(), related)
    assert finding.status == expected, finding.reason


def test_soft_delete_absent_policy_is_disabled() -> None:
    related = {"blob_service": _blob(deleteRetentionPolicy=None)}
    finding = _run("storage_account_blob_soft_delete_enabled", _account(), related)
    assert finding.status == Status.FAIL
    key = "related.blob_service.properties.deleteRetentionPolicy.enabled"
    assert finding.evidence[key] == {"absent": True, "assumed": False}


def test_blob_service_checks_need_the_blob_service_document() -> None:
    evaluation = ENGINE.evaluate(Snapshot(_account(), {}, None, True))
    missing = {n.check_id: n.missing for n in evaluation.not_assessed}
    assert missing["storage_account_blob_soft_delete_enabled"] == ("blob_service",)
    assert missing["storage_account_blob_versioning_enabled"] == ("blob_service",)
    assert missing["storage_account_blob_diagnostic_logs_enabled"] == ("blob_diagnostic_settings",)


@pytest.mark.parametrize("doc", [[], "default", None, {"properties": []}])
def test_malformed_blob_service_document_is_an_error(doc: Any) -> None:
    finding = _run("storage_account_blob_soft_delete_enabled", _account(), {"blob_service": doc})
    assert finding.status == Status.ERROR


@pytest.mark.parametrize(
    ("hns", "versioning", "expected"),
    [
        (True, True, Status.PASS),
        (False, True, Status.PASS),
        (False, False, Status.FAIL),
        (None, None, Status.FAIL),
        (True, False, Status.NOT_APPLICABLE),
        (False, "yes", Status.ERROR),
    ],
)
def test_versioning(hns: bool | None, versioning: Any, expected: Status) -> None:
    related = {"blob_service": _blob(isVersioningEnabled=versioning)}
    finding = _run("storage_account_blob_versioning_enabled", _account(isHnsEnabled=hns), related)
    assert finding.status == expected
    assert finding.reason.endswith(".")


# --- blob diagnostic logs --------------------------------------------------------------------


def _setting(logs: list[dict[str, Any]], **destinations: str) -> dict[str, Any]:
    setting = copy.deepcopy(DIAGNOSTIC)
    props = setting["properties"]
    props["logs"] = logs
    for key in ("storageAccountId", "workspaceId", "eventHubAuthorizationRuleId"):
        props[key] = destinations.get(key, "")
    return setting


WORKSPACE = (
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w"
)


@pytest.mark.parametrize(
    ("logs", "destinations", "expected"),
    [
        ([{"category": "StorageRead", "enabled": True}], {"workspaceId": WORKSPACE}, Status.PASS),
        ([{"categoryGroup": "audit", "enabled": True}], {"storageAccountId": "x"}, Status.PASS),
        ([{"category": "StorageRead", "enabled": False}], {"workspaceId": WORKSPACE}, Status.FAIL),
        (
            [{"category": "StorageDelete", "enabled": True}],
            {"eventHubAuthorizationRuleId": "rule"},
            Status.FAIL,
        ),
    ],
)
def test_blob_diagnostic_logs(
    logs: list[dict[str, Any]], destinations: dict[str, str], expected: Status
) -> None:
    related = {"blob_diagnostic_settings": [_setting(logs, **destinations)]}
    finding = _run("storage_account_blob_diagnostic_logs_enabled", _account(), related)
    assert finding.status == expected


def test_blob_diagnostic_logs_accept_list_body_and_reject_garbage() -> None:
    check_id = "storage_account_blob_diagnostic_logs_enabled"
    wrapped = {"blob_diagnostic_settings": {"value": [DIAGNOSTIC]}}
    assert _run(check_id, _account(), wrapped).status == Status.PASS
    garbage = {"blob_diagnostic_settings": ["mysetting"]}
    assert _run(check_id, _account(), garbage).status == Status.ERROR
    bad_logs = copy.deepcopy(DIAGNOSTIC)
    bad_logs["properties"]["logs"] = {"categoryGroup": "allLogs", "enabled": True}
    assert _run(check_id, _account(), {"blob_diagnostic_settings": [bad_logs]}).status == (
        Status.ERROR
    )


# --- garbage never passes --------------------------------------------------------------------


@pytest.mark.parametrize("properties", [[], "Succeeded", 7])
def test_garbage_properties_never_pass(properties: Any) -> None:
    resource = copy.deepcopy(ACCOUNT)
    resource["properties"] = properties
    evaluation = ENGINE.evaluate(Snapshot(resource, {}, None, True))
    # storage_account_geo_redundant reads only the sku, which the garbage leaves intact.
    storage = [
        f
        for f in evaluation.findings
        if CATALOG[f.check_id].service == "storage"
        and f.status != Status.NOT_ASSESSED
        and f.check_id != "storage_account_geo_redundant"
    ]
    assert len(storage) == 10
    assert {f.status for f in storage} == {Status.ERROR}, [(f.check_id, f.status) for f in storage]
