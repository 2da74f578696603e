"""Related documents: what a check may need beyond the resource's own GET body.

Each entry says where the document lives relative to the resource (so the ARM reader knows what
to fetch), which ARM type it has (so files given to ``phiguard evaluate`` can be attached to their
parent), and whether ARM returns it as a list. Checks name entries by key in ``needs``; the
reader fetches only the entries that the applicable checks need.

api-versions are pinned here, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shared.kernel.resource_id import normalize

Fetch = Literal["child", "subscription_scan"]


@dataclass(frozen=True)
class RelatedDoc:
    key: str
    doc_type: str  # lowercase ARM type of the document(s)
    path: str  # appended to the parent id (for "child"), or listed per subscription
    api_version: str
    is_list: bool
    fetch: Fetch = "child"
    description: str = ""


RELATED: dict[str, RelatedDoc] = {
    d.key: d
    for d in (
        RelatedDoc(
            "diagnostic_settings",
            "microsoft.insights/diagnosticsettings",
            "/providers/Microsoft.Insights/diagnosticSettings",
            "2021-05-01-preview",
            True,
            description="Diagnostic settings of the resource (list; empty when none exist).",
        ),
        RelatedDoc(
            "blob_diagnostic_settings",
            "microsoft.insights/diagnosticsettings",
            "/blobServices/default/providers/Microsoft.Insights/diagnosticSettings",
            "2021-05-01-preview",
            True,
            description="Diagnostic settings of a storage account's blob service (list).",
        ),
        RelatedDoc(
            "web_config",
            "microsoft.web/sites/config",
            "/config/web",
            "2024-04-01",
            False,
            description="The site configuration (minTlsVersion, ftpsState, ...).",
        ),
        RelatedDoc(
            "sql_tde",
            "microsoft.sql/servers/databases/transparentdataencryption",
            "/transparentDataEncryption/current",
            "2023-08-01",
            False,
            description="Transparent data encryption state of a database.",
        ),
        RelatedDoc(
            "sql_encryption_protector",
            "microsoft.sql/servers/encryptionprotector",
            "/encryptionProtector/current",
            "2023-08-01",
            False,
            description="The TDE protector of a server (service-managed or Key Vault key).",
        ),
        RelatedDoc(
            "sql_auditing",
            "microsoft.sql/servers/auditingsettings",
            "/auditingSettings/default",
            "2023-08-01",
            False,
            description="Server-level auditing settings.",
        ),
        RelatedDoc(
            "blob_service",
            "microsoft.storage/storageaccounts/blobservices",
            "/blobServices/default",
            "2025-01-01",
            False,
            description="Blob service properties (soft delete, versioning).",
        ),
        RelatedDoc(
            "workspace_tables",
            "microsoft.operationalinsights/workspaces/tables",
            "/tables",
            "2025-02-01",
            True,
            description="Log Analytics tables with their interactive and total retention.",
        ),
        RelatedDoc(
            "policy_assignments",
            "microsoft.authorization/policyassignments",
            "/providers/Microsoft.Authorization/policyAssignments",
            "2023-04-01",
            True,
            description="Policy assignments at (or inherited by) a subscription.",
        ),
        RelatedDoc(
            "activity_log_alerts",
            "microsoft.insights/activitylogalerts",
            "/providers/Microsoft.Insights/activityLogAlerts",
            "2020-10-01",
            True,
            description="Activity log alert rules in a subscription.",
        ),
        RelatedDoc(
            "flow_logs",
            "microsoft.network/networkwatchers/flowlogs",
            "/providers/Microsoft.Network/networkWatchers",
            "2024-05-01",
            True,
            fetch="subscription_scan",
            description="Network Watcher flow logs whose targetResourceId is this resource.",
        ),
    )
}


def related_key_for(doc_type: str, parent_type: str | None = None) -> str | None:
    """The related-document key under which a document of ``doc_type`` belongs to its parent."""
    matches = [d for d in RELATED.values() if d.doc_type == doc_type.lower() and d.fetch == "child"]
    if not matches:
        return None
    if doc_type.lower() == "microsoft.insights/diagnosticsettings" and parent_type is not None:
        if parent_type.lower() == "microsoft.storage/storageaccounts/blobservices":
            return "blob_diagnostic_settings"
        return "diagnostic_settings"
    return matches[0].key


def flow_log_targets(resource: Mapping[str, Any]) -> set[str]:
    """Normalized ids whose flow logs cover a resource: itself and, for an NSG, the subnets,
    virtual networks and network interfaces it is attached to (VNet flow logs replace NSG flow
    logs, which Azure stops creating after 30 June 2025)."""
    targets = {normalize(str(resource.get("id", "")))}
    props = resource.get("properties")
    if not isinstance(props, Mapping):
        return targets
    for field in ("subnets", "networkInterfaces"):
        items = props.get(field)
        for item in items if isinstance(items, list) else []:
            rid = item.get("id") if isinstance(item, Mapping) else None
            if not isinstance(rid, str):
                continue
            targets.add(normalize(rid))
            if field == "subnets":
                targets.add(normalize(rid).rsplit("/subnets/", 1)[0])
    return targets
