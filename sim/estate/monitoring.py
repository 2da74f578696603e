"""Monitoring: diagnostic settings, Log Analytics workspaces and tables, action groups and
activity log alerts (Insights lower-cases ``microsoft.insights`` in the ids it returns)."""

from __future__ import annotations

from collections.abc import Sequence

from sim.estate.common import INSIGHTS, Doc, guid, header, resource_id, sub_id, ts

TableSpec = tuple[str, int, int]  # name, retentionInDays, totalRetentionInDays

ACTIVITY_LOG_CATEGORIES = (
    "Administrative",
    "Security",
    "ServiceHealth",
    "Alert",
    "Recommendation",
    "Policy",
    "Autoscale",
    "ResourceHealth",
)


# --- diagnostic settings -------------------------------------------------------------------


def log(category: str = "", group: str = "") -> Doc:
    """One ``logs`` entry of a diagnostic setting: a category or a category group."""
    entry: Doc = {"categoryGroup": group} if group else {"category": category}
    entry["enabled"] = True
    entry["retentionPolicy"] = {"enabled": False, "days": 0}
    return entry


def diagnostic_setting(
    parent_id: str,
    name: str,
    *,
    workspace_id: str | None,
    logs: Sequence[Doc],
    metrics: Sequence[str] = ("AllMetrics",),
    storage_id: str | None = None,
) -> Doc:
    """DiagnosticSettings_Get: an extension resource; Insights lower-cases the scope id."""
    return {
        **header(
            f"{parent_id.lower()}/providers/microsoft.insights/diagnosticSettings/{name}",
            name,
            "Microsoft.Insights/diagnosticSettings",
            order=INSIGHTS,
        ),
        "properties": {
            "storageAccountId": storage_id,
            "workspaceId": workspace_id,
            "eventHubAuthorizationRuleId": None,
            "eventHubName": None,
            "metrics": [
                {
                    "category": m,
                    "enabled": True,
                    "retentionPolicy": {"enabled": False, "days": 0},
                }
                for m in metrics
            ],
            "logs": [dict(entry) for entry in logs],
            "logAnalyticsDestinationType": "Dedicated" if workspace_id else None,
        },
    }


# --- Log Analytics -------------------------------------------------------------------------


def workspace(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    *,
    retention: int,
    tables: Sequence[TableSpec],
    public_network: str = "Disabled",
    local_auth: bool = False,
    created: int = 0,
) -> list[Doc]:
    """Workspaces_Get (2025-02-01; Log Analytics lower-cases the id) + Tables_Get per table."""
    rtype = "Microsoft.OperationalInsights/workspaces"
    rid = (
        f"/subscriptions/{sub}/resourcegroups/{rg.lower()}/providers/"
        f"microsoft.operationalinsights/workspaces/{name}"
    )
    doc: Doc = {
        "properties": {
            "customerId": guid(rid, "customerId"),
            "provisioningState": "Succeeded",
            "sku": {"name": "PerGB2018", "lastSkuUpdate": ts(created)},
            "retentionInDays": retention,
            "features": {
                "legacy": 0,
                "searchVersion": 1,
                "enableLogAccessUsingOnlyResourcePermissions": True,
                "disableLocalAuth": not local_auth,
            },
            "workspaceCapping": {
                "dailyQuotaGb": -1.0,
                "quotaNextResetTime": ts(created + 8000),
                "dataIngestionStatus": "RespectQuota",
            },
            "publicNetworkAccessForIngestion": public_network,
            "publicNetworkAccessForQuery": public_network,
            "createdDate": ts(created),
            "modifiedDate": ts(created + 500),
        },
        **header(rid, name, rtype, location, tags),
    }
    table_base = resource_id(sub, rg, rtype, name)
    docs = [doc]
    for table, days, total in tables:
        docs.append(
            {
                "properties": {
                    "totalRetentionInDays": total,
                    "archiveRetentionInDays": total - days,
                    "plan": "Analytics",
                    "retentionInDaysAsDefault": days == retention,
                    "totalRetentionInDaysAsDefault": total == days,
                    "schema": {
                        "name": table,
                        "tableType": "Microsoft",
                        "tableSubType": "Any",
                        "columns": [],
                        "standardColumns": [],
                        "solutions": ["LogManagement"],
                    },
                    "provisioningState": "Succeeded",
                    "retentionInDays": days,
                },
                **header(f"{table_base}/tables/{table}", table, f"{rtype}/tables"),
            }
        )
    return docs


# --- alerts --------------------------------------------------------------------------------


def _insights_id(sub: str, rg: str, rtype: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/microsoft.insights/{rtype}/{name}"


def action_group(sub: str, rg: str, name: str, short_name: str, email: str) -> Doc:
    rid = _insights_id(sub, rg, "actionGroups", name)
    return {
        **header(rid, name, "Microsoft.Insights/ActionGroups", "Global", {}, order=INSIGHTS),
        "properties": {
            "groupShortName": short_name,
            "enabled": True,
            "emailReceivers": [
                {
                    "name": "secops-mailbox",
                    "emailAddress": email,
                    "useCommonAlertSchema": True,
                    "status": "Enabled",
                }
            ],
            "smsReceivers": [],
            "webhookReceivers": [],
            "armRoleReceivers": [],
        },
    }


def activity_log_alert(
    sub: str,
    rg: str,
    name: str,
    *,
    operation: str,
    action_group: str,
    description: str,
    category: str = "Administrative",
) -> Doc:
    """ActivityLogAlerts_Get (2020-10-01 field set); Insights ids use ``microsoft.insights``."""
    rid = _insights_id(sub, rg, "activityLogAlerts", name)
    conditions: list[Doc] = [{"field": "category", "equals": category, "odata.type": None}]
    if operation:
        conditions.append({"field": "operationName", "equals": operation, "odata.type": None})
    return {
        **header(
            rid,
            name,
            "Microsoft.Insights/ActivityLogAlerts",
            "Global",
            {},
            order=INSIGHTS,
        ),
        "properties": {
            "scopes": [sub_id(sub)],
            "condition": {"allOf": conditions},
            "actions": {"actionGroups": [{"actionGroupId": action_group, "webhookProperties": {}}]},
            "enabled": True,
            "description": description,
        },
    }
