"""Edge cases of the monitoring checks: retention arithmetic, defaults, scopes, malformed input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from checks import CATALOG
from checks.monitoring import AUDIT_LOG_CATEGORIES
from shared.kernel.findings import Status
from shared.kernel.hipaa import RETENTION_DAYS
from shared.kernel.snapshot import Snapshot
from tests.checks.helpers import ENGINE
from tests.checks.helpers import finding as _run
from tests.checks.helpers import status as _status

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checks"


def _fixture(check_id: str, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / check_id / f"{name}.json").read_text())
    return doc


# --- workspace retention -----------------------------------------------------------------------

RETENTION = "monitoring_workspace_total_retention_six_years"


def _workspace(**props: Any) -> dict[str, Any]:
    workspace: dict[str, Any] = _fixture(RETENTION, "pass")["resource"]
    for key, value in props.items():
        if value is None:
            workspace["properties"].pop(key, None)
        else:
            workspace["properties"][key] = value
    return workspace


def _table(**props: Any) -> dict[str, Any]:
    table: dict[str, Any] = copy.deepcopy(
        _fixture(RETENTION, "pass")["related"]["workspace_tables"][0]
    )
    for key, value in props.items():
        if value is None:
            table["properties"].pop(key, None)
        else:
            table["properties"][key] = value
    return table


@pytest.mark.parametrize(
    ("total", "expected"),
    [(RETENTION_DAYS - 1, Status.FAIL), (RETENTION_DAYS, Status.PASS), (4383, Status.PASS)],
)
def test_retention_boundary_is_2192_days(total: int, expected: Status) -> None:
    related = {"workspace_tables": [_table(totalRetentionInDays=total)]}
    assert _status(RETENTION, _workspace(), related) == expected


def test_absent_total_falls_back_to_table_then_workspace_retention() -> None:
    table = _table(totalRetentionInDays=None, retentionInDays=None)
    finding = _run(RETENTION, _workspace(retentionInDays=730), {"workspace_tables": [table]})
    assert finding is not None and finding.status == Status.FAIL
    assert finding.evidence["related.workspace_tables"]["minimum_total_days"] == 730


def test_minus_one_means_inherit() -> None:
    table = _table(totalRetentionInDays=-1, retentionInDays=-1)
    finding = _run(RETENTION, _workspace(retentionInDays=90), {"workspace_tables": [table]})
    assert finding is not None and "90 days" in finding.reason


def test_absent_workspace_retention_assumes_thirty_days() -> None:
    table = _table(totalRetentionInDays=None, retentionInDays=None)
    finding = _run(RETENTION, _workspace(retentionInDays=None), {"workspace_tables": [table]})
    assert finding is not None and finding.status == Status.FAIL
    assert finding.evidence["properties.retentionInDays"] == {"absent": True, "assumed": 30}
    assert finding.evidence["related.workspace_tables"]["minimum_total_days"] == 30


def test_search_result_tables_are_skipped_but_counted_in_evidence() -> None:
    search = _table(totalRetentionInDays=30)
    search["properties"]["schema"]["tableType"] = "SearchResults"
    related = {"workspace_tables": [_table(totalRetentionInDays=2200), search]}
    finding = _run(RETENTION, _workspace(), related)
    assert finding is not None and finding.status == Status.PASS
    assert finding.evidence["related.workspace_tables"]["search_or_restore_tables_skipped"] == 1


def test_list_body_with_value_is_accepted() -> None:
    related = {"workspace_tables": {"value": [_table(totalRetentionInDays=2500)]}}
    assert _status(RETENTION, _workspace(), related) == Status.PASS


@pytest.mark.parametrize(
    "tables",
    [
        [_table(totalRetentionInDays=True)],
        [_table(totalRetentionInDays=-5)],
        [_table(retentionInDays="30")],
        "not a list",
        [["table"]],
    ],
)
def test_malformed_tables_are_errors(tables: Any) -> None:
    assert _status(RETENTION, _workspace(), {"workspace_tables": tables}) == Status.ERROR


def test_retention_check_is_phi_only() -> None:
    workspace = _workspace()
    workspace["tags"] = {}
    related = {"workspace_tables": [_table(totalRetentionInDays=30)]}
    assert _run(RETENTION, workspace, related) is None
    assert _status(RETENTION, workspace, related, phi=True) == Status.FAIL


# --- workspace network access and local auth -------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("disabled", Status.PASS),
        ("Enabled", Status.FAIL),
        ("SecuredByPerimeter", Status.FAIL),
        ("Open", Status.ERROR),
        (0, Status.ERROR),
    ],
)
def test_public_query_values(value: Any, expected: Status) -> None:
    workspace = _workspace(publicNetworkAccessForQuery=value)
    assert _status("monitoring_workspace_public_query_disabled", workspace) == expected


def test_public_access_absent_means_enabled() -> None:
    workspace = _workspace(publicNetworkAccessForQuery=None, publicNetworkAccessForIngestion=None)
    query = _run("monitoring_workspace_public_query_disabled", workspace)
    ingestion = _run("monitoring_workspace_public_ingestion_disabled", workspace)
    assert query is not None and query.status == Status.FAIL
    assert ingestion is not None and ingestion.status == Status.FAIL
    assert query.evidence["properties.publicNetworkAccessForQuery"]["assumed"] == "Enabled"


def test_query_and_ingestion_are_judged_separately() -> None:
    workspace = _workspace(
        publicNetworkAccessForQuery="Disabled", publicNetworkAccessForIngestion="Enabled"
    )
    assert _status("monitoring_workspace_public_query_disabled", workspace) == Status.PASS
    assert _status("monitoring_workspace_public_ingestion_disabled", workspace) == Status.FAIL


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        ({"disableLocalAuth": True}, Status.PASS),
        ({}, Status.FAIL),
        ({"disableLocalAuth": "true"}, Status.ERROR),
        ("features", Status.ERROR),
    ],
)
def test_local_auth(features: Any, expected: Status) -> None:
    workspace = _workspace(features=features)
    assert _status("monitoring_workspace_local_auth_disabled", workspace) == expected


# --- resource audit logs ---------------------------------------------------------------------

AUDIT = "monitoring_resource_audit_logs_enabled"


def _nsg_case() -> tuple[dict[str, Any], dict[str, Any]]:
    doc = _fixture(AUDIT, "pass_nsg")
    return doc["resource"], doc["related"]["diagnostic_settings"][0]


def test_generic_audit_check_leaves_service_specific_types_to_their_checks() -> None:
    owned = {
        "microsoft.storage/storageaccounts",
        "microsoft.keyvault/vaults",
        "microsoft.sql/servers",
        "microsoft.sql/servers/databases",
        "microsoft.web/sites",
    }
    assert owned.isdisjoint(AUDIT_LOG_CATEGORIES)
    assert set(CATALOG[AUDIT].resource_types) == set(AUDIT_LOG_CATEGORIES)


@pytest.mark.parametrize(
    ("logs", "expected"),
    [
        ([{"categoryGroup": "audit", "enabled": True}], Status.PASS),
        ([{"categoryGroup": "AllLogs", "enabled": True}], Status.PASS),
        ([{"category": "networksecuritygroupevent", "enabled": True}], Status.PASS),
        ([{"category": "NetworkSecurityGroupEvent", "enabled": False}], Status.FAIL),
        ([{"category": "NetworkSecurityGroupFlowEvent", "enabled": True}], Status.FAIL),
        ([], Status.FAIL),
        ("logs", Status.ERROR),
    ],
)
def test_nsg_audit_categories(logs: Any, expected: Status) -> None:
    nsg, setting = _nsg_case()
    setting["properties"]["logs"] = logs
    assert _status(AUDIT, nsg, {"diagnostic_settings": [setting]}) == expected


def test_empty_workspace_id_is_not_a_destination() -> None:
    nsg, setting = _nsg_case()
    setting["properties"]["workspaceId"] = ""
    setting["properties"].pop("storageAccountId")
    assert _status(AUDIT, nsg, {"diagnostic_settings": [setting]}) == Status.FAIL


def test_audit_check_is_phi_only() -> None:
    nsg, _ = _nsg_case()
    nsg["tags"] = {}
    assert _run(AUDIT, nsg, {"diagnostic_settings": []}) is None


# --- subscription: activity log export and alerts --------------------------------------------

EXPORT = "monitoring_subscription_activity_log_exported"
ALERT = "monitoring_subscription_admin_activity_alert"


def _subscription_case(check_id: str, name: str = "pass") -> tuple[dict[str, Any], dict[str, Any]]:
    doc = _fixture(check_id, name)
    return doc["resource"], doc["related"]


def test_subscription_type_is_inferred_from_its_id() -> None:
    subscription, related = _subscription_case(EXPORT)
    assert "type" not in subscription
    evaluation = ENGINE.evaluate(Snapshot(subscription, related))
    assert evaluation.resource_type == "microsoft.resources/subscriptions"
    assert any(f.check_id == EXPORT for f in evaluation.findings)


def test_activity_log_all_logs_group_covers_every_category() -> None:
    subscription, related = _subscription_case(EXPORT)
    related["diagnostic_settings"][0]["properties"]["logs"] = [
        {"categoryGroup": "allLogs", "enabled": True}
    ]
    assert _status(EXPORT, subscription, related) == Status.PASS


def test_activity_log_categories_are_case_insensitive() -> None:
    subscription, related = _subscription_case(EXPORT)
    related["diagnostic_settings"][0]["properties"]["logs"] = [
        {"category": c, "enabled": True} for c in ("ADMINISTRATIVE", "security", "policy")
    ]
    assert _status(EXPORT, subscription, related) == Status.PASS


def test_activity_log_missing_category_is_named() -> None:
    subscription, related = _subscription_case(EXPORT)
    related["diagnostic_settings"][0]["properties"]["logs"] = [
        {"category": "Administrative", "enabled": True},
        {"category": "Security", "enabled": True},
    ]
    finding = _run(EXPORT, subscription, related)
    assert finding is not None and finding.status == Status.FAIL
    assert "Policy category" in finding.reason


def test_activity_log_malformed_setting_is_an_error() -> None:
    subscription, related = _subscription_case(EXPORT)
    related["diagnostic_settings"][0]["properties"] = "broken"
    assert _status(EXPORT, subscription, related) == Status.ERROR


def _alert_case() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    subscription, related = _subscription_case(ALERT)
    return subscription, related, related["activity_log_alerts"][0]


@pytest.mark.parametrize(
    "scope",
    [
        "subscriptions/187f412d-1758-44d9-b052-169e2564721d",
        "/SUBSCRIPTIONS/187F412D-1758-44D9-B052-169E2564721D/",
    ],
)
def test_alert_scope_matches_case_and_slash_insensitively(scope: str) -> None:
    subscription, related, alert = _alert_case()
    alert["properties"]["scopes"] = [scope]
    assert _status(ALERT, subscription, related) == Status.PASS


def test_alert_for_another_subscription_does_not_count() -> None:
    subscription, related, alert = _alert_case()
    alert["properties"]["scopes"] = ["/subscriptions/00000000-0000-0000-0000-000000000000"]
    assert _status(ALERT, subscription, related) == Status.FAIL


def test_alert_without_enabled_flag_is_not_counted() -> None:
    subscription, related, alert = _alert_case()
    del alert["properties"]["enabled"]
    finding = _run(ALERT, subscription, related)
    assert finding is not None and finding.status == Status.FAIL
    assert finding.evidence["related.activity_log_alerts[0]"]["enabled"] is None


def test_alert_category_inside_any_of_counts() -> None:
    subscription, related, alert = _alert_case()
    alert["properties"]["condition"]["allOf"] = [
        {
            "anyOf": [
                {"field": "category", "equals": "administrative"},
                {"field": "category", "equals": "Security"},
            ]
        }
    ]
    assert _status(ALERT, subscription, related) == Status.PASS


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("condition", "Administrative"),
        ("scopes", "subscriptions/x"),
        ("enabled", "yes"),
        ("scopes", [42]),
    ],
)
def test_malformed_alerts_are_errors(path: str, value: Any) -> None:
    subscription, related, alert = _alert_case()
    alert["properties"][path] = value
    assert _status(ALERT, subscription, related) == Status.ERROR
