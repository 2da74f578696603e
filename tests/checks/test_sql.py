"""SQL checks: defaults, boundaries, case-insensitivity and malformed related documents."""

from __future__ import annotations

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

SERVER_ID = (
    "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/sqlcrudtest-7398"
    "/providers/Microsoft.Sql/servers/sqlcrudtest-4645"
)
STORAGE = "https://mystorage.blob.core.windows.net"


def server(**props: Any) -> dict[str, Any]:
    return {
        "id": SERVER_ID,
        "name": "sqlcrudtest-4645",
        "type": "Microsoft.Sql/servers",
        "kind": "v12.0",
        "location": "japaneast",
        "properties": {"administratorLogin": "dummylogin", "version": "12.0", **props},
    }


def database(name: str = "testdb", kind: str = "v12.0,user,vcore") -> dict[str, Any]:
    return {
        "id": f"{SERVER_ID}/databases/{name}",
        "name": name,
        "type": "Microsoft.Sql/servers/databases",
        "kind": kind,
        "properties": {"status": "Online"},
    }


def doc(resource_type: str, path: str, **props: Any) -> dict[str, Any]:
    return {
        "id": SERVER_ID + path,
        "name": path.rsplit("/", 1)[-1],
        "type": resource_type,
        "properties": props,
    }


def tde(**props: Any) -> dict[str, Any]:
    return doc(
        "Microsoft.Sql/servers/databases/transparentDataEncryption",
        "/databases/testdb/transparentDataEncryption/current",
        **props,
    )


def auditing(**props: Any) -> dict[str, Any]:
    return doc("Microsoft.Sql/servers/auditingSettings", "/auditingSettings/default", **props)


def protector(**props: Any) -> dict[str, Any]:
    return doc("Microsoft.Sql/servers/encryptionProtector", "/encryptionProtector/current", **props)


# --- TDE on databases ------------------------------------------------------------------------

TDE = "sql_database_tde_enabled"


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"state": "Enabled"}, Status.PASS),
        ({"state": "enabled"}, Status.PASS),
        ({"status": "Enabled"}, Status.PASS),
        ({"state": "Disabled"}, Status.FAIL),
        ({}, Status.ERROR),
        ({"state": None}, Status.ERROR),
        ({"state": True}, Status.ERROR),
    ],
)
def test_tde_state(props: dict[str, Any], expected: Status) -> None:
    assert status(TDE, database(), related={"sql_tde": tde(**props)}) == expected


def test_tde_evidence_names_the_related_path() -> None:
    finding = run(TDE, database(), related={"sql_tde": tde(state="Disabled")})
    assert finding is not None
    assert finding.evidence == {"related.sql_tde.properties.state": "Disabled"}


@pytest.mark.parametrize("related", [[], "Enabled", {"properties": "Enabled"}])
def test_tde_document_of_the_wrong_shape_is_an_error(related: Any) -> None:
    assert status(TDE, database(), related={"sql_tde": related}) == Status.ERROR


@pytest.mark.parametrize(
    ("name", "kind"), [("master", "v12.0,system"), ("Master", "v12.0"), ("sysdb", "v12.0,system")]
)
def test_tde_not_applicable_to_system_databases(name: str, kind: str) -> None:
    resource = database(name, kind)
    assert status(TDE, resource, related={"sql_tde": tde(state="Disabled")}) == (
        Status.NOT_APPLICABLE
    )


def test_tde_not_assessed_without_the_tde_document() -> None:
    evaluation = Engine().evaluate(Snapshot(database()))
    assert TDE in {n.check_id for n in evaluation.not_assessed}
    assert {f.check_id: f.status for f in evaluation.findings}[TDE] == Status.NOT_ASSESSED


# --- TDE protector (P2) ----------------------------------------------------------------------

CMK = "sql_server_tde_protector_customer_managed"


def test_protector_only_runs_on_phi_servers() -> None:
    related = {"sql_encryption_protector": protector(serverKeyType="ServiceManaged")}
    assert run(CMK, server(), related=related) is None
    assert status(CMK, server(), related=related, phi=True) == Status.FAIL


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"serverKeyType": "azurekeyvault"}, Status.PASS),
        ({"serverKeyType": "ServiceManaged"}, Status.FAIL),
        ({"serverKeyName": "x"}, Status.ERROR),
        ({"serverKeyType": 1}, Status.ERROR),
    ],
)
def test_protector_key_type(props: dict[str, Any], expected: Status) -> None:
    related = {"sql_encryption_protector": protector(**props)}
    assert status(CMK, server(), related=related, phi=True) == expected


# --- auditing ---------------------------------------------------------------------------------

AUDIT = "sql_server_auditing_enabled"
RETENTION = "sql_server_audit_retention_90_days"


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"state": "Enabled", "storageEndpoint": STORAGE}, Status.PASS),
        (
            {"state": "ENABLED", "storageEndpoint": "", "isAzureMonitorTargetEnabled": True},
            Status.PASS,
        ),
        (
            {"state": "Enabled", "storageEndpoint": "", "isAzureMonitorTargetEnabled": False},
            Status.FAIL,
        ),
        ({}, Status.FAIL),
        ({"state": "Disabled", "storageEndpoint": STORAGE}, Status.FAIL),
        ({"state": "Enabled", "isAzureMonitorTargetEnabled": "yes"}, Status.ERROR),
        ({"state": "Enabled", "storageEndpoint": 7}, Status.ERROR),
        ({"state": 1}, Status.ERROR),
    ],
)
def test_auditing_state_and_destination(props: dict[str, Any], expected: Status) -> None:
    assert status(AUDIT, server(), related={"sql_auditing": auditing(**props)}) == expected


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (0, Status.PASS),
        (89, Status.FAIL),
        (90, Status.PASS),
        (2192, Status.PASS),
        (1, Status.FAIL),
        (None, Status.FAIL),
        ("90", Status.ERROR),
        (True, Status.ERROR),
        (-5, Status.ERROR),
        (90.5, Status.ERROR),
    ],
)
def test_audit_retention_boundaries(days: Any, expected: Status) -> None:
    related = {
        "sql_auditing": auditing(state="Enabled", storageEndpoint=STORAGE, retentionDays=days)
    }
    assert status(RETENTION, server(), related=related) == expected


@pytest.mark.parametrize(
    "props",
    [
        {"state": "Disabled", "storageEndpoint": STORAGE, "retentionDays": 6},
        {
            "state": "Enabled",
            "storageEndpoint": "",
            "isAzureMonitorTargetEnabled": True,
            "retentionDays": 6,
        },
        {"state": "Enabled", "isAzureMonitorTargetEnabled": True},
    ],
)
def test_audit_retention_not_applicable_without_storage_auditing(props: dict[str, Any]) -> None:
    related = {"sql_auditing": auditing(**props)}
    assert status(RETENTION, server(), related=related) == Status.NOT_APPLICABLE


def test_audit_retention_fail_reason_gives_days() -> None:
    related = {"sql_auditing": auditing(state="Enabled", storageEndpoint=STORAGE, retentionDays=6)}
    finding = run(RETENTION, server(), related=related)
    assert finding is not None and finding.status == Status.FAIL
    assert "6 days" in finding.reason
    assert finding.evidence["related.sql_auditing.properties.retentionDays"] == 6


# --- Entra authentication --------------------------------------------------------------------

ADMIN = "sql_server_entra_admin_configured"
ENTRA_ONLY = "sql_server_entra_only_authentication"


@pytest.mark.parametrize(
    ("admins", "expected"),
    [
        (
            {
                "administratorType": "ActiveDirectory",
                "login": "dba-group",
                "principalType": "Group",
            },
            Status.PASS,
        ),
        ({"sid": "00000000-0000-0000-0000-000000000001"}, Status.PASS),
        ({"administratorType": "ActiveDirectory"}, Status.FAIL),
        (None, Status.FAIL),
        ("dba-group", Status.ERROR),
        (["dba-group"], Status.ERROR),
    ],
)
def test_entra_admin(admins: Any, expected: Status) -> None:
    assert status(ADMIN, server(administrators=admins)) == expected


def test_entra_admin_absent_is_recorded_as_an_assumption() -> None:
    finding = run(ADMIN, server())
    assert finding is not None and finding.status == Status.FAIL
    assert finding.evidence["properties.administrators"] == {"absent": True, "assumed": None}


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, Status.PASS), (False, Status.FAIL), (None, Status.FAIL), ("true", Status.ERROR)],
)
def test_entra_only_authentication(value: Any, expected: Status) -> None:
    resource = server(administrators={"login": "dba", "azureADOnlyAuthentication": value})
    assert status(ENTRA_ONLY, resource, phi=True) == expected


def test_entra_only_is_phi_scoped() -> None:
    assert run(ENTRA_ONLY, server()) is None
    tagged = server()
    tagged["tags"] = {"HIPAA": "TRUE"}
    assert status(ENTRA_ONLY, tagged) == Status.FAIL


# --- network and TLS --------------------------------------------------------------------------

PUBLIC = "sql_server_public_network_access_disabled"
TLS = "sql_server_min_tls_1_2"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Disabled", Status.PASS),
        ("disabled", Status.PASS),
        ("SecuredByPerimeter", Status.FAIL),
        ("Enabled", Status.FAIL),
        (None, Status.FAIL),
        (False, Status.ERROR),
    ],
)
def test_public_network_access(value: Any, expected: Status) -> None:
    assert status(PUBLIC, server(publicNetworkAccess=value), phi=True) == expected


def test_public_network_access_secured_by_perimeter_fails_on_published_server(
    reference_dir: Path,
) -> None:
    """Built-in policy 1b8ca024 flags every publicNetworkAccess but Disabled; a perimeter's
    rules (and its Learning mode, which blocks nothing) are not visible through the server."""
    example = json.loads(
        (reference_dir / "arm" / "Microsoft.Sql__servers__Get__2023-08-01.json").read_text()
    )
    body = example["responses"]["200"]["body"]
    body["properties"]["publicNetworkAccess"] = "SecuredByPerimeter"
    finding = run(PUBLIC, body, phi=True)
    assert finding is not None and finding.status == Status.FAIL
    assert "network security perimeter" in finding.reason
    assert finding.evidence["properties.publicNetworkAccess"] == "SecuredByPerimeter"
    body["properties"]["publicNetworkAccess"] = "Disabled"
    assert status(PUBLIC, body, phi=True) == Status.PASS


def test_public_network_access_absent_assumes_enabled() -> None:
    finding = run(PUBLIC, server(), phi=True)
    assert finding is not None and finding.status == Status.FAIL
    assert finding.evidence["properties.publicNetworkAccess"] == {
        "absent": True,
        "assumed": "Enabled",
    }
    assert run(PUBLIC, server(), phi=False) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.2", Status.PASS),
        ("1.3", Status.PASS),
        (" 1.2 ", Status.PASS),
        ("1.1", Status.FAIL),
        ("1.0", Status.FAIL),
        ("None", Status.FAIL),
        ("0", Status.FAIL),
        (None, Status.FAIL),
        (1.2, Status.ERROR),
        (["1.2"], Status.ERROR),
    ],
)
def test_minimal_tls_version(value: Any, expected: Status) -> None:
    assert status(TLS, server(minimalTlsVersion=value)) == expected


def test_minimal_tls_absent_assumes_no_minimum() -> None:
    finding = run(TLS, server())
    assert finding is not None and finding.status == Status.FAIL
    assert "no minimum" in finding.reason
    assert finding.evidence["properties.minimalTlsVersion"] == {"absent": True, "assumed": "None"}


# --- metadata --------------------------------------------------------------------------------


def test_sql_metadata_contract() -> None:
    checks = {i: c for i, c in CATALOG.items() if c.service == "sql"}
    assert len(checks) >= 7
    assert "P2" in checks[CMK].patterns and "P2" in checks[TDE].patterns
    assert checks[CMK].phi_only and checks[CMK].needs == ("sql_encryption_protector",)
    assert "Always Encrypted" in checks[CMK].limitations
    assert checks[RETENTION].azure_policy == ("89099bee-89e0-4b26-a5f4-165451757743",)
    assert checks[TDE].resource_types == ("microsoft.sql/servers/databases",)
    for item in checks.values():
        assert "PASS" in item.description and "FAIL" in item.description
