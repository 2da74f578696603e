"""Monitoring checks: Log Analytics workspaces, resource audit logs and the activity log.

§164.316(b)(2)(i) asks for six years of retention; a Log Analytics workspace's interactive
retention (``retentionInDays``) stops at 730 days, so only the tables' *total* retention
(interactive + long-term) can reach it.

Service-specific audit-log checks live with their services (storage blob logs, Key Vault
AuditEvent, SQL auditing, App Service logs); ``monitoring_resource_audit_logs_enabled`` covers
the other PHI resource types whose diagnostic settings carry access or audit categories.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from checks.common import (
    AUDIT_GROUPS,
    Evidence,
    _destinations,
    _enabled_log_names,
    as_bool,
    as_list,
    audit_logs_result,
)
from checks.registry import check, register_policy_definitions
from shared.kernel.findings import Result, Severity, failed, not_applicable, not_assessed, passed
from shared.kernel.hipaa import RETENTION_DAYS
from shared.kernel.resource_id import normalize
from shared.kernel.snapshot import MalformedResource, Snapshot, lookup

# Built-in definitions verified in Azure/azure-policy, built-in-policies/policyDefinitions/Monitoring/
register_policy_definitions(
    {
        # LogAnalyticsWorkspaces_NetworkAccessEnabled_Deny.json
        "6c53d030-cc64-46f0-906d-2bc061cd1334": (
            "Log Analytics workspaces should block log ingestion and querying from public networks"
        ),
        # AppGateway_DiagnosticLogEnabled_Audit.json
        "8a04f872-51e9-4313-97fb-fc1c3543011c": (
            "Azure Application Gateway should have Resource logs enabled"
        ),
        # AFD_DiagnosticLogEnabled_Audit.json
        "8a04f872-51e9-4313-97fb-fc1c35430fd8": "Azure Front Door should have Resource logs enabled",
    }
)

WORKSPACES = ("microsoft.operationalinsights/workspaces",)
SUBSCRIPTIONS = ("microsoft.resources/subscriptions",)

# learn.microsoft.com/azure/azure-monitor/logs/data-retention-configure: "The default interactive
# retention period for all tables in a Log Analytics workspace is 30 days."
DEFAULT_WORKSPACE_RETENTION_DAYS = 30
# Search-job results and restored logs are temporary copies of other tables, not log sources.
TRANSIENT_TABLE_TYPES = frozenset({"searchresults", "restoredlogs"})
_LISTED_TABLES = 20

# Resource types (without a service-specific check) whose diagnostic settings offer categories
# that record access to the resource or its data, with those categories, from the Azure Monitor
# supported-logs reference (MicrosoftDocs/azure-reference-other, azure-monitor-ref/supported-logs).
# The ``audit`` and ``allLogs`` category groups are accepted for every type.
AUDIT_LOG_CATEGORIES: dict[str, tuple[str, ...]] = {
    "microsoft.network/networksecuritygroups": (
        "NetworkSecurityGroupEvent",
        "NetworkSecurityGroupRuleCounter",
    ),
    "microsoft.network/applicationgateways": (
        "ApplicationGatewayAccessLog",
        "ApplicationGatewayFirewallLog",
    ),
    "microsoft.network/azurefirewalls": (
        "AZFWApplicationRule",
        "AZFWNetworkRule",
        "AZFWNatRule",
        "AzureFirewallApplicationRule",
        "AzureFirewallNetworkRule",
    ),
    "microsoft.network/frontdoors": ("FrontdoorAccessLog", "FrontdoorWebApplicationFirewallLog"),
    "microsoft.cdn/profiles": (
        "FrontDoorAccessLog",
        "FrontDoorWebApplicationFirewallLog",
        "AzureCdnAccessLog",
    ),
    "microsoft.healthcareapis/services": ("AuditLogs",),
    "microsoft.healthcareapis/workspaces/fhirservices": ("AuditLogs",),
    "microsoft.documentdb/databaseaccounts": ("DataPlaneRequests", "ControlPlaneRequests"),
    "microsoft.containerservice/managedclusters": ("kube-audit", "kube-audit-admin"),
    "microsoft.operationalinsights/workspaces": ("Audit",),
    # Issue 14: the other PHI data services (supported-logs reference, per provider).
    "microsoft.dbforpostgresql/flexibleservers": ("PostgreSQLLogs",),
    "microsoft.dbformysql/flexibleservers": ("MySqlAuditLogs",),
    "microsoft.sql/managedinstances": ("SQLSecurityAuditEvents", "DevOpsOperationsAudit"),
    "microsoft.cache/redis": ("ConnectedClientList", "MSEntraAuthenticationAuditLog"),
    "microsoft.containerregistry/registries": (
        "ContainerRegistryLoginEvents",
        "ContainerRegistryRepositoryEvents",
    ),
    "microsoft.search/searchservices": ("OperationLogs",),
    "microsoft.servicebus/namespaces": ("RuntimeAuditLogs", "OperationalLogs"),
    "microsoft.eventhub/namespaces": ("RuntimeAuditLogs", "OperationalLogs"),
}

# Activity log categories a HIPAA export must carry: who changed what (Administrative), Defender
# alerts (Security) and policy effects (Policy).
ACTIVITY_LOG_CATEGORIES = ("Administrative", "Security", "Policy")
RETAINED_DESTINATIONS = frozenset({"workspaceId", "storageAccountId"})


def _days(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < -1:
        raise MalformedResource(f"{where} is {value!r}, expected a number of days")
    return value


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MalformedResource(f"{where} is {type(value).__name__}, expected an object")
    return value


@check(
    id="monitoring_workspace_total_retention_six_years",
    title="Log Analytics workspaces holding PHI logs keep every table for at least six years",
    severity=Severity.HIGH,
    resource_types=WORKSPACES,
    hipaa=("164.316(b)(2)(i)", "164.312(b)"),
    phi_only=True,
    needs=("workspace_tables",),
    patterns=("P5",),
    guidance="Set each table's total retention (Tables > Manage table > Total retention period, "
    "or totalRetentionInDays) to at least 2,192 days; the interactive retention can stay short.",
    limitations="Data exported elsewhere (storage, Event Hub) and purges are not visible; a table "
    "created after the snapshot starts with the workspace default.",
)
def monitoring_workspace_total_retention_six_years(snapshot: Snapshot) -> Result:
    """PASS when every table of the workspace keeps data for at least 2,192 days in total
    (interactive + long-term retention); FAIL when any table keeps less, because audit records
    about PHI access would be deleted before the six years §164.316(b)(2)(i) requires. A table's
    total is ``totalRetentionInDays``; absent (or -1) means it equals the table's
    ``retentionInDays``, which when absent (or -1) means the workspace's ``retentionInDays``,
    which when absent means 30 days, the documented default. Search-result and restored-log
    tables are temporary copies and are skipped."""
    ev = Evidence(snapshot)
    default = _days(
        ev.prop("retentionInDays", DEFAULT_WORKSPACE_RETENTION_DAYS), "properties.retentionInDays"
    )
    if default == -1:
        default = DEFAULT_WORKSPACE_RETENTION_DAYS
    totals: dict[str, int] = {}
    skipped = 0
    for index, table in enumerate(snapshot.docs("workspace_tables")):
        where = f"related.workspace_tables[{index}]"
        props = _object(table.get("properties"), f"{where}.properties")
        schema = _object(props.get("schema"), f"{where}.properties.schema")
        if str(schema.get("tableType", "")).lower() in TRANSIENT_TABLE_TYPES:
            skipped += 1
            continue
        retention = props.get("retentionInDays")
        retention = (
            default
            if retention in (None, -1)
            else _days(retention, f"{where}.properties.retentionInDays")
        )
        total = props.get("totalRetentionInDays")
        total = (
            retention
            if total in (None, -1)
            else _days(total, f"{where}.properties.totalRetentionInDays")
        )
        totals[str(table.get("name") or schema.get("name") or f"#{index}")] = total
    short = {
        name: days
        for name, days in sorted(totals.items(), key=lambda i: i[1])
        if days < RETENTION_DAYS
    }
    ev.note(
        "related.workspace_tables",
        {
            "tables_evaluated": len(totals),
            "search_or_restore_tables_skipped": skipped,
            "below_minimum": dict(list(short.items())[:_LISTED_TABLES]),
            "minimum_total_days": min(totals.values(), default=default),
            "required_days": RETENTION_DAYS,
        },
    )
    if not totals:
        if default >= RETENTION_DAYS:
            return ev.passed(
                f"The workspace default retention is {default} days and it reports "
                "no log tables that shorten it."
            )
        return ev.failed(
            f"The workspace reports no log tables (only search results or restores "
            f"at most), and its default retention of {default} days is below "
            f"{RETENTION_DAYS:,} days."
        )
    if short:
        name, days = next(iter(short.items()))
        return ev.failed(
            f"{len(short)} of {len(totals)} tables keep logs for fewer than "
            f"{RETENTION_DAYS:,} days in total (shortest: {name}, {days} days)."
        )
    return ev.passed(
        f"All {len(totals)} tables keep logs for at least {RETENTION_DAYS:,} days "
        f"in total (shortest {min(totals.values())} days)."
    )


def _public_access_result(snapshot: Snapshot, key: str, what: str) -> Result:
    ev = Evidence(snapshot)
    value = ev.text(f"properties.{key}", "Enabled")
    state = value.lower()
    if state == "disabled":
        return ev.passed(f"Public network access for {what} is disabled.")
    if state == "enabled":
        return ev.failed(f"The workspace accepts {what} from public networks.")
    if state == "securedbyperimeter":
        return ev.failed(
            f"Public network access for {what} is governed by a network security "
            "perimeter whose rules are not visible here, so it is not shown blocked."
        )
    raise MalformedResource(f"properties.{key} is {value!r}, not a known access type")


@check(
    id="monitoring_workspace_public_query_disabled",
    title="Log Analytics workspaces holding PHI logs cannot be queried from public networks",
    severity=Severity.HIGH,
    resource_types=WORKSPACES,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    azure_policy=("6c53d030-cc64-46f0-906d-2bc061cd1334",),
    phi_only=True,
    guidance="Set publicNetworkAccessForQuery to Disabled and query through an Azure Monitor "
    "Private Link Scope (Network Isolation > Accept queries from public networks: No).",
    limitations="Azure Monitor Private Link Scope access modes, which can also block public "
    "queries, are not evaluated.",
)
def monitoring_workspace_public_query_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.publicNetworkAccessForQuery`` is ``Disabled``; FAIL when it is
    ``Enabled`` or absent, because logs about PHI systems (often containing PHI identifiers) can
    then be read from any network with a stolen credential. ``SecuredByPerimeter`` is a FAIL
    too: the perimeter's rules are not visible here. Absent means Enabled: the API default, and
    the built-in policy 6c53d030 flags anything other than Disabled."""
    return _public_access_result(snapshot, "publicNetworkAccessForQuery", "queries")


@check(
    id="monitoring_workspace_public_ingestion_disabled",
    title="Log Analytics workspaces holding PHI logs accept no ingestion from public networks",
    severity=Severity.MEDIUM,
    resource_types=WORKSPACES,
    hipaa=("164.312(c)(1)", "164.312(e)(2)(i)"),
    azure_policy=("6c53d030-cc64-46f0-906d-2bc061cd1334",),
    phi_only=True,
    guidance="Set publicNetworkAccessForIngestion to Disabled and ingest through an Azure Monitor "
    "Private Link Scope (Network Isolation > Accept data ingestion from public networks: No).",
    limitations="Azure Monitor Private Link Scope access modes are not evaluated.",
)
def monitoring_workspace_public_ingestion_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.publicNetworkAccessForIngestion`` is ``Disabled``; FAIL when it is
    ``Enabled`` or absent, because anyone on the Internet holding a workspace key or token can
    then write forged or misleading audit records, undermining their integrity.
    ``SecuredByPerimeter`` is a FAIL too. Absent means Enabled, as the built-in policy 6c53d030
    treats it."""
    return _public_access_result(snapshot, "publicNetworkAccessForIngestion", "data ingestion")


@check(
    id="monitoring_workspace_local_auth_disabled",
    title="Log Analytics workspaces holding PHI logs accept only Microsoft Entra ID authentication",
    severity=Severity.MEDIUM,
    resource_types=WORKSPACES,
    hipaa=("164.312(d)", "164.312(c)(1)"),
    phi_only=True,
    guidance="Set features.disableLocalAuth to true once agents use Azure Monitor Agent or "
    "managed identities (the built-in policy 'Log Analytics Workspaces should block non-Azure "
    "Active Directory based ingestion' audits the same property).",
)
def monitoring_workspace_local_auth_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.features.disableLocalAuth`` is true; FAIL when it is false or
    absent, because the shared workspace keys then authenticate anyone who holds them, with no
    individual identity behind the data written. Absent means false: local (key) authentication
    stays enabled until it is explicitly disabled (Azure Monitor docs, "Microsoft Entra
    authentication for Logs")."""
    ev = Evidence(snapshot)
    if ev.flag("properties.features.disableLocalAuth", False):
        return ev.passed("The workspace accepts only Microsoft Entra ID authentication.")
    return ev.failed("The workspace still accepts its shared keys (local authentication).")


@check(
    id="monitoring_resource_audit_logs_enabled",
    remediation="monitoring_diagnostic_settings_audit",
    title="PHI resources send their access and audit logs to a Log Analytics workspace or storage",
    severity=Severity.HIGH,
    resource_types=tuple(AUDIT_LOG_CATEGORIES),
    hipaa=("164.312(b)", "164.308(a)(1)(ii)(D)"),
    azure_policy=(
        "7f89b1eb-583c-429a-8828-af049802c1d9",
        "8a04f872-51e9-4313-97fb-fc1c3543011c",
        "8a04f872-51e9-4313-97fb-fc1c35430fd8",
    ),
    phi_only=True,
    needs=("diagnostic_settings",),
    patterns=("P5",),
    guidance="Add a diagnostic setting that sends the allLogs (or audit) category group, or the "
    "resource's access and audit categories, to a Log Analytics workspace or storage account "
    "kept for six years.",
    limitations="Only the diagnostic setting is visible: whether a storage destination is "
    "immutable (WORM) and how long the destination keeps the logs cannot be proven from ARM alone "
    "(workspace retention is checked by monitoring_workspace_total_retention_six_years). Storage, "
    "Key Vault, SQL and App Service logs are covered by their own checks.",
)
def monitoring_resource_audit_logs_enabled(snapshot: Snapshot) -> Result:
    """PASS when a diagnostic setting of the PHI resource sends audit logs (the ``audit`` or
    ``allLogs`` category group, or the type's access categories, e.g. NetworkSecurityGroupEvent,
    ApplicationGatewayAccessLog, FrontDoorAccessLog, AuditLogs for FHIR, kube-audit for AKS, Audit
    for a workspace's own queries) to a Log Analytics workspace or storage account; FAIL when
    none does, or when logs only go to an Event Hub, because access to PHI would leave no record
    kept for review. No diagnostic setting exists by default."""
    categories = AUDIT_LOG_CATEGORIES.get(snapshot.type, ())
    what = f"audit logs ({', '.join(categories)})" if categories else "audit logs"
    return audit_logs_result(snapshot, categories, what)


@check(
    id="monitoring_subscription_activity_log_exported",
    title="The subscription activity log is exported to a Log Analytics workspace or storage",
    severity=Severity.HIGH,
    resource_types=SUBSCRIPTIONS,
    hipaa=("164.312(b)", "164.308(a)(1)(ii)(D)"),
    needs=("diagnostic_settings",),
    patterns=("P5",),
    guidance="Add a subscription diagnostic setting (Activity log > Export Activity Logs) that "
    "sends the Administrative, Security and Policy categories to a Log Analytics workspace or a "
    "storage account kept for six years.",
    limitations="Azure keeps the activity log itself for 90 days only; whether the destination "
    "keeps it six years, or a storage destination is immutable, cannot be proven from ARM alone.",
)
def monitoring_subscription_activity_log_exported(snapshot: Snapshot) -> Result:
    """PASS when the subscription's diagnostic settings (its activity-log export) send the
    Administrative, Security and Policy categories (or the ``allLogs``/``audit`` group) to a Log
    Analytics workspace or storage account; FAIL otherwise, because the activity log, the record
    of who changed access to PHI resources, is only kept by Azure for 90 days. No export exists
    by default. Categories may be split across several settings."""
    evidence: dict[str, Any] = {}
    covered: set[str] = set()
    settings = snapshot.docs("diagnostic_settings")
    for index, setting in enumerate(settings):
        logs = _enabled_log_names(setting, index, "diagnostic_settings")
        dests = _destinations(setting)
        retained = sorted(RETAINED_DESTINATIONS & dests.keys())
        evidence[f"related.diagnostic_settings[{index}]"] = {
            "name": setting.get("name"),
            "enabled_logs": sorted(logs),
            "destinations": sorted(dests),
        }
        if retained:
            covered |= logs
    wanted = {c.lower(): c for c in ACTIVITY_LOG_CATEGORIES}
    missing = (
        []
        if covered & AUDIT_GROUPS
        else [label for key, label in wanted.items() if key not in covered]
    )
    evidence["required_categories"] = list(ACTIVITY_LOG_CATEGORIES)
    if not settings:
        evidence["related.diagnostic_settings"] = []
        return failed(
            "The activity log is not exported: the subscription has no diagnostic setting.",
            evidence,
        )
    if not missing:
        return passed(
            "The activity log (Administrative, Security and Policy) is exported to a "
            "Log Analytics workspace or storage account.",
            evidence,
        )
    if len(missing) == len(ACTIVITY_LOG_CATEGORIES):
        return failed(
            "No diagnostic setting exports the Administrative, Security or Policy "
            "activity log to a Log Analytics workspace or storage account.",
            evidence,
        )
    noun = "category" if len(missing) == 1 else "categories"
    return failed(
        f"The activity log export to a workspace or storage account lacks the "
        f"{' and '.join(missing)} {noun}.",
        evidence,
    )


def _condition_leaves(condition: Any, where: str) -> list[tuple[str, str]]:
    """(field, equals) pairs of an alert condition, lowercased, including ``anyOf`` members."""
    out: list[tuple[str, str]] = []
    for index, item in enumerate(as_list(_object(condition, where).get("allOf"), f"{where}.allOf")):
        if not isinstance(item, Mapping):
            raise MalformedResource(f"{where}.allOf[{index}] is not an object")
        members = [item, *as_list(item.get("anyOf"), f"{where}.allOf[{index}].anyOf")]
        for member in members:
            if not isinstance(member, Mapping):
                raise MalformedResource(f"{where}.allOf[{index}].anyOf has a non-object member")
            field, equals = member.get("field"), member.get("equals")
            if isinstance(field, str) and isinstance(equals, str):
                out.append((field.strip().lower(), equals.strip()))
    return out


@check(
    id="monitoring_subscription_admin_activity_alert",
    title="An enabled activity log alert watches administrative operations in the subscription",
    severity=Severity.MEDIUM,
    resource_types=SUBSCRIPTIONS,
    hipaa=("164.308(a)(1)(ii)(D)", "164.308(a)(6)(ii)", "164.312(b)"),
    azure_policy=("b954148f-4c11-4c38-8221-be76711e194a",),
    needs=("activity_log_alerts",),
    guidance="Create an activity log alert scoped to the subscription with condition category = "
    "Administrative (ideally one per sensitive operation, e.g. "
    "Microsoft.Network/networkSecurityGroups/securityRules/write or "
    "Microsoft.Sql/servers/firewallRules/write) and an action group that notifies the security "
    "team.",
    limitations="Whether the action group reaches anyone is not visible. The built-in policy "
    "b954148f asks for a specific operationName per assignment; this check accepts any alert on "
    "the Administrative category and lists the operations it names.",
)
def monitoring_subscription_admin_activity_alert(snapshot: Snapshot) -> Result:
    """PASS when an activity log alert that is enabled and scoped to the whole subscription has
    a condition ``category`` equal to ``Administrative``; FAIL when none exists, because changes
    to firewalls, NSGs or access on PHI resources would then go unnoticed until someone reads
    the log. ``enabled`` must be true; an absent value is not counted, as the built-in policy
    b954148f requires it to equal true. No such alert exists by default."""
    sub_key = normalize(snapshot.id)
    evidence: dict[str, Any] = {}
    alerts = snapshot.docs("activity_log_alerts")
    for index, alert in enumerate(alerts):
        where = f"related.activity_log_alerts[{index}]"
        props = _object(alert.get("properties"), f"{where}.properties")
        enabled_raw = props.get("enabled")
        enabled = enabled_raw is not None and as_bool(enabled_raw, f"{where}.properties.enabled")
        scopes = as_list(props.get("scopes"), f"{where}.properties.scopes")
        if not all(isinstance(s, str) for s in scopes):
            raise MalformedResource(f"{where}.properties.scopes holds a non-string scope")
        covers = any(normalize(s) == sub_key for s in scopes)
        leaves = _condition_leaves(props.get("condition"), f"{where}.properties.condition")
        categories = sorted({v for f, v in leaves if f == "category"})
        operations = sorted({v for f, v in leaves if f == "operationname"})
        evidence[where] = {
            "name": alert.get("name"),
            "enabled": enabled_raw,
            "covers_subscription": covers,
            "categories": categories,
            "operation_names": operations,
        }
        if enabled and covers and any(c.lower() == "administrative" for c in categories):
            ops = f" on {', '.join(operations)}" if operations else ""
            return passed(
                f"Activity log alert {alert.get('name')!r} watches administrative operations{ops}.",
                evidence,
            )
    if not alerts:
        evidence["related.activity_log_alerts"] = []
        return failed("The subscription has no activity log alerts.", evidence)
    return failed(
        "No enabled activity log alert scoped to the subscription watches the "
        "Administrative category.",
        evidence,
    )


# --- issue 14, area 4: audit controls complete ------------------------------------------------

# Operations HIPAA assessors ask to be alerted on (CIS Azure 5.2 and the built-in policy
# b954148f's documented operation list), one check each: check id suffix → (operation, what).
ALERTED_OPERATIONS: dict[str, tuple[str, str]] = {
    "policy_assignment_write": (
        "Microsoft.Authorization/policyAssignments/write",
        "a policy assignment is created or changed (the HIPAA baseline can be weakened)",
    ),
    "policy_assignment_delete": (
        "Microsoft.Authorization/policyAssignments/delete",
        "a policy assignment is deleted (the HIPAA baseline can be removed)",
    ),
    "nsg_write": (
        "Microsoft.Network/networkSecurityGroups/write",
        "a network security group is created or changed",
    ),
    "nsg_delete": (
        "Microsoft.Network/networkSecurityGroups/delete",
        "a network security group is deleted (its subnets lose their filtering)",
    ),
    "nsg_rule_write": (
        "Microsoft.Network/networkSecurityGroups/securityRules/write",
        "a network security rule is created or changed (a port can be opened to the Internet)",
    ),
    "sql_firewall_write": (
        "Microsoft.Sql/servers/firewallRules/write",
        "a SQL server firewall rule is created or changed",
    ),
    "sql_firewall_delete": (
        "Microsoft.Sql/servers/firewallRules/delete",
        "a SQL server firewall rule is deleted",
    ),
    "keyvault_delete": (
        "Microsoft.KeyVault/vaults/delete",
        "a key vault is deleted (the keys protecting PHI go with it)",
    ),
    "role_assignment_write": (
        "Microsoft.Authorization/roleAssignments/write",
        "a role assignment is created (someone gains access)",
    ),
}
# Alert conditions that narrow an alert to part of the subscription.
_NARROWING_FIELDS = frozenset({"resourcegroup", "resourceid", "resourceprovider", "caller"})


def _operation_alert(snapshot: Snapshot, operation: str, what: str) -> Result:
    sub_key = normalize(snapshot.id)
    evidence: dict[str, Any] = {"operation": operation}
    alerts = snapshot.docs("activity_log_alerts")
    for index, alert in enumerate(alerts):
        where = f"related.activity_log_alerts[{index}]"
        props = _object(alert.get("properties"), f"{where}.properties")
        enabled_raw = props.get("enabled")
        enabled = enabled_raw is not None and as_bool(enabled_raw, f"{where}.properties.enabled")
        scopes = as_list(props.get("scopes"), f"{where}.properties.scopes")
        if not all(isinstance(s, str) for s in scopes):
            raise MalformedResource(f"{where}.properties.scopes holds a non-string scope")
        covers = any(normalize(s) == sub_key for s in scopes)
        leaves = _condition_leaves(props.get("condition"), f"{where}.properties.condition")
        operations = {v.lower() for f, v in leaves if f == "operationname"}
        categories = {v.lower() for f, v in leaves if f == "category"}
        narrowed = sorted({f for f, _ in leaves if f in _NARROWING_FIELDS})
        if operation.lower() not in operations:
            continue
        evidence[where] = {
            "name": alert.get("name"),
            "enabled": enabled_raw,
            "covers_subscription": covers,
            "categories": sorted(categories),
            "narrowed_by": narrowed,
        }
        if enabled and covers and "administrative" in categories and not narrowed:
            return passed(f"Activity log alert {alert.get('name')!r} fires when {what}.", evidence)
    evidence["related.activity_log_alerts.count"] = len(alerts)
    return failed(
        f"No enabled, subscription-wide activity log alert fires on {operation}.", evidence
    )


def _register_operation_alert(suffix: str, operation: str, what: str) -> None:
    check_id = f"monitoring_subscription_alert_{suffix}"

    def run(snapshot: Snapshot) -> Result:
        return _operation_alert(snapshot, operation, what)

    run.__name__ = run.__qualname__ = check_id
    run.__doc__ = (
        f"PASS when an activity log alert that is enabled, scoped to the whole subscription and "
        f"not narrowed to a resource group, resource, provider or caller has the conditions "
        f"category = Administrative and operationName = {operation}; FAIL otherwise, because "
        f"nobody would be told when {what} on a subscription holding PHI. An absent "
        f"``enabled`` is not counted (the built-in policy requires true). No such alert "
        f"exists by default."
    )
    check(
        id=check_id,
        title=f"PHI subscriptions alert on {operation}",
        severity=Severity.MEDIUM,
        resource_types=SUBSCRIPTIONS,
        hipaa=("164.308(a)(1)(ii)(D)", "164.308(a)(6)(ii)", "164.312(b)"),
        azure_policy=("b954148f-4c11-4c38-8221-be76711e194a",),
        phi_only=True,
        needs=("activity_log_alerts",),
        guidance=f"Create an activity log alert on the subscription with category Administrative "
        f"and operation name {operation}, with an action group that reaches the security team.",
        limitations="The built-in policy b954148f is equivalent only when assigned with this "
        "operation name as its parameter. Whether the action group reaches anyone is not visible.",
    )(run)
    globals()[check_id] = run


for _suffix, (_operation, _what) in ALERTED_OPERATIONS.items():
    _register_operation_alert(_suffix, _operation, _what)


@check(
    id="monitoring_subscription_activity_log_archive_immutable",
    title="The activity log's storage archive is immutable for six years, locked",
    severity=Severity.HIGH,
    resource_types=SUBSCRIPTIONS,
    hipaa=("164.312(b)", "164.312(c)(1)", "164.316(b)(2)(i)"),
    needs=("diagnostic_settings", "storage_accounts"),
    patterns=("P5",),
    guidance="Enable version-level immutability on the archive account "
    "(immutableStorageWithVersioning) with a time-based policy of at least 2,192 days, and lock "
    "it.",
    limitations="Only account-level immutability is read; a locked time-based policy on the "
    "insights-activity-logs container alone is not seen and FAILs here. An archive account in "
    "another subscription is NOT_ASSESSED. A change to the account alone is seen at the "
    "subscription's next event or the next sweep.",
)
def monitoring_subscription_activity_log_archive_immutable(snapshot: Snapshot) -> Result:
    """NOT_APPLICABLE when no diagnostic setting of the subscription (an activity-log export)
    writes to a storage account. Otherwise PASS when every such account, read from the
    subscription's storage accounts (a cross-resource list), has
    ``properties.immutableStorageWithVersioning.enabled`` true with an ``immutabilityPolicy`` in
    state Locked of at least 2,192 days; FAIL otherwise, because the record of who changed
    access to PHI systems could be altered or deleted by anyone with write access to the
    archive before the six years §164.316(b)(2)(i) asks. Absent immutableStorageWithVersioning
    means disabled, the default."""
    targets: dict[str, str] = {}
    for setting in snapshot.docs("diagnostic_settings"):
        props = setting.get("properties")
        account = props.get("storageAccountId") if isinstance(props, Mapping) else None
        if isinstance(account, str) and account.strip():
            targets[normalize(account)] = str(setting.get("name"))
    if not targets:
        return not_applicable("The activity log is not archived to a storage account.")
    accounts = {normalize(str(a.get("id", ""))): a for a in snapshot.docs("storage_accounts")}
    evidence: dict[str, Any] = {}
    weak: list[str] = []
    for key, setting_name in sorted(targets.items()):
        name = key.rsplit("/", 1)[-1]
        account = accounts.get(key)
        if account is None:
            evidence[name] = {"setting": setting_name, "read": False}
            return not_assessed(
                f"The archive account {name} is not in this subscription's storage accounts.",
                evidence,
            )
        immutability = _object(
            lookup(account, "properties.immutableStorageWithVersioning"),
            f"storage account {name}: properties.immutableStorageWithVersioning",
        )
        policy = _object(immutability.get("immutabilityPolicy"), f"{name}: immutabilityPolicy")
        enabled = immutability.get("enabled") is True
        state = str(policy.get("state") or "Disabled")
        days = policy.get("immutabilityPeriodSinceCreationInDays") or 0
        if isinstance(days, bool) or not isinstance(days, int):
            raise MalformedResource(f"storage account {name}: immutability period is {days!r}")
        evidence[name] = {
            "setting": setting_name,
            "enabled": enabled,
            "state": state,
            "days": days,
        }
        if not (enabled and state.lower() == "locked" and days >= RETENTION_DAYS):
            weak.append(name)
    if weak:
        return failed(
            f"The activity-log archive {weak[0]} is not immutable and locked for six years.",
            evidence,
        )
    return passed("Every activity-log archive is immutable for six years, locked.", evidence)
