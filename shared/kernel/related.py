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

Fetch = Literal["child", "subscription_scan", "subscription_list"]


@dataclass(frozen=True)
class RelatedDoc:
    key: str
    doc_type: str  # lowercase ARM type of the document(s)
    path: str  # appended to the parent id (for "child"), or listed per subscription
    api_version: str
    is_list: bool
    fetch: Fetch = "child"
    description: str = ""
    # subscription_list only: a child list read under each listed item (the Recovery Services
    # vaults' backupProtectedItems), whose items are the document(s) instead of the listed ones.
    then: str = ""

    @property
    def fixed_name(self) -> str | None:
        """The document's own name when the path names one object (``/config/authsettingsV2``
        → ``authsettingsv2``): two documents of one type under one parent are told apart by it."""
        if self.is_list or self.fetch != "child":
            return None
        return self.path.rstrip("/").rsplit("/", 1)[-1].lower()


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
            "role_assignments",
            "microsoft.authorization/roleassignments",
            "/providers/Microsoft.Authorization/roleAssignments",
            "2022-04-01",
            True,
            description="Role assignments a subscription's list returns: at it, inherited from "
            "above (management groups, root) and below.",
        ),
        RelatedDoc(
            "classic_administrators",
            "microsoft.authorization/classicadministrators",
            "/providers/Microsoft.Authorization/classicAdministrators",
            "2015-07-01",
            True,
            description="The subscription's classic administrators (Service Administrator and "
            "co-administrators).",
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
        RelatedDoc(
            "authsettings_v2",
            "microsoft.web/sites/config",
            "/config/authsettingsV2",
            "2024-04-01",
            False,
            description="App Service authentication (Easy Auth) settings: login, token store, "
            "cookie expiration.",
        ),
        RelatedDoc(
            "keyvault_keys",
            "microsoft.keyvault/vaults/keys",
            "/keys",
            "2024-11-01",
            True,
            description="The keys of a vault as ARM lists them (Keys_List): each key's current "
            "attributes (enabled, exp) and rotation policy, never key material (list).",
        ),
        RelatedDoc(
            "sql_firewall_rules",
            "microsoft.sql/servers/firewallrules",
            "/firewallRules",
            "2023-08-01",
            True,
            description="Server-level IPv4 firewall rules of a SQL server (list).",
        ),
        RelatedDoc(
            "sql_vulnerability_assessment",
            "microsoft.sql/servers/sqlvulnerabilityassessments",
            "/sqlVulnerabilityAssessments/default",
            "2024-05-01-preview",
            False,
            description="The express-configuration SQL vulnerability assessment of a server.",
        ),
        RelatedDoc(
            "sql_ltr_policy",
            "microsoft.sql/servers/databases/backuplongtermretentionpolicies",
            "/backupLongTermRetentionPolicies/default",
            "2023-08-01",
            False,
            description="Long-term backup retention policy of a database (weekly/monthly/yearly).",
        ),
        RelatedDoc(
            "sql_mi_encryption_protector",
            "microsoft.sql/managedinstances/encryptionprotector",
            "/encryptionProtector/current",
            "2023-08-01",
            False,
            description="The TDE protector of a SQL managed instance.",
        ),
        RelatedDoc(
            "postgresql_secure_transport",
            "microsoft.dbforpostgresql/flexibleservers/configurations",
            "/configurations/require_secure_transport",
            "2024-08-01",
            False,
            description="The require_secure_transport server parameter of a PostgreSQL "
            "flexible server.",
        ),
        RelatedDoc(
            "mysql_secure_transport",
            "microsoft.dbformysql/flexibleservers/configurations",
            "/configurations/require_secure_transport",
            "2023-12-30",
            False,
            description="The require_secure_transport server parameter of a MySQL flexible server.",
        ),
        RelatedDoc(
            "mysql_audit_log",
            "microsoft.dbformysql/flexibleservers/configurations",
            "/configurations/audit_log_enabled",
            "2023-12-30",
            False,
            description="The audit_log_enabled server parameter of a MySQL flexible server.",
        ),
        RelatedDoc(
            "file_service",
            "microsoft.storage/storageaccounts/fileservices",
            "/fileServices/default",
            "2025-01-01",
            False,
            description="File service properties of a storage account (share soft delete).",
        ),
        RelatedDoc(
            "defender_pricings",
            "microsoft.security/pricings",
            "/providers/Microsoft.Security/pricings",
            "2024-01-01",
            True,
            description="Microsoft Defender for Cloud plans of a subscription (list).",
        ),
        RelatedDoc(
            "security_contacts",
            "microsoft.security/securitycontacts",
            "/providers/Microsoft.Security/securityContacts",
            "2023-12-01-preview",
            True,
            description="Defender for Cloud security contacts and alert notifications (list).",
        ),
        RelatedDoc(
            "backup_protected_items",
            "microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems",
            "/providers/Microsoft.RecoveryServices/vaults",
            "2024-04-01",
            True,
            fetch="subscription_list",
            then="/backupProtectedItems",
            description="Items protected by Azure Backup in every Recovery Services vault of the "
            "subscription (one list per vault, cached per sweep).",
        ),
        RelatedDoc(
            "storage_accounts",
            "microsoft.storage/storageaccounts",
            "/providers/Microsoft.Storage/storageAccounts",
            "2025-01-01",
            True,
            fetch="subscription_list",
            description="Storage accounts of the subscription, read by the subscription's checks "
            "of where its activity log is archived (one list, cached per sweep).",
        ),
        RelatedDoc(
            "jit_policies",
            "microsoft.security/locations/jitnetworkaccesspolicies",
            "/providers/Microsoft.Security/jitNetworkAccessPolicies",
            "2020-01-01",
            True,
            fetch="subscription_list",
            description="Defender for Cloud just-in-time VM access policies of the subscription "
            "(one list, cached per sweep).",
        ),
        RelatedDoc(
            "virtual_networks",
            "microsoft.network/virtualnetworks",
            "/providers/Microsoft.Network/virtualNetworks",
            "2024-05-01",
            True,
            fetch="subscription_list",
            description="Virtual networks of the subscription with their subnets, read by the "
            "checks of Internet-facing NICs (one list, cached per sweep).",
        ),
        RelatedDoc(
            "network_watchers",
            "microsoft.network/networkwatchers",
            "/providers/Microsoft.Network/networkWatchers",
            "2024-05-01",
            True,
            fetch="subscription_list",
            description="Network Watchers of the subscription (one list, cached per sweep).",
        ),
    )
}


def related_key_for(
    doc_type: str, parent_type: str | None = None, name: str | None = None
) -> str | None:
    """The related-document key under which a document of ``doc_type`` (named ``name``, the
    last segment of its id) belongs to its parent. Where one type has several documents
    (``config/web`` and ``config/authsettingsV2``) the name decides; a document no entry names
    (``config/appsettings``) belongs to none."""
    matches = [d for d in RELATED.values() if d.doc_type == doc_type.lower() and d.fetch == "child"]
    if not matches:
        return None
    if name is not None and any(d.fixed_name for d in matches):
        named = [d for d in matches if d.fixed_name in (None, name.lower())]
        if not named:
            return None
        matches = named
    if doc_type.lower() == "microsoft.insights/diagnosticsettings" and parent_type is not None:
        if parent_type.lower() == "microsoft.storage/storageaccounts/blobservices":
            return "blob_diagnostic_settings"
        return "diagnostic_settings"
    return matches[0].key


def subscription_lists() -> tuple[RelatedDoc, ...]:
    """The cross-resource reads: documents listed once per subscription (and cached for the
    sweep), which checks pick from by their own rules."""
    return tuple(d for d in RELATED.values() if d.fetch == "subscription_list")


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
