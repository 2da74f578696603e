"""Azure SQL Database checks: logical servers and their databases."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from checks.common import Evidence
from checks.registry import check, register_policy_definitions
from shared.kernel.findings import Result, Severity, failed, not_applicable, passed
from shared.kernel.hipaa import RETENTION_DAYS
from shared.kernel.snapshot import MalformedResource, Snapshot

# Verified in Azure/azure-policy, built-in-policies/policyDefinitions/SQL/
# SqlServer_PublicNetworkAccess_Audit.json, SqlServer_MiniumTLSVersion_Audit.json,
# SQL_DB_AuditServerADAdmins_Audit.json and SqlServer_ADOnlyEnabled_Audit.json.
register_policy_definitions(
    {
        "1b8ca024-1d5c-4dec-8995-b1a932b41780": (
            "Public network access on Azure SQL Database should be disabled"
        ),
        "32e6bbec-16b6-44c2-be37-c5b672d103cf": (
            "Azure SQL Database should be running TLS version 1.2 or newer"
        ),
        "1f314764-cb73-4fc9-b863-8eca98ac36e9": (
            "An Azure Active Directory administrator should be provisioned for SQL servers"
        ),
        "abda6d70-9778-44e7-84a8-06713e6db027": (
            "Azure SQL logical servers should have Microsoft Entra-only authentication enabled "
            "during creation"
        ),
    }
)

SERVERS = ("microsoft.sql/servers",)
DATABASES = ("microsoft.sql/servers/databases",)

AUDIT_RETENTION_MIN_DAYS = 90
_TLS_OK = ("1.2", "1.3")

ALWAYS_ENCRYPTED = (
    "Always Encrypted column encryption and column master keys live inside the database and are "
    "invisible through ARM."
)


def _related_props(snapshot: Snapshot, key: str) -> Mapping[str, Any]:
    """``properties`` of a related document that ARM returns as one object."""
    doc = snapshot.doc(key)
    if not isinstance(doc, Mapping):
        raise MalformedResource(f"related.{key} is {type(doc).__name__}, expected an object")
    props = doc.get("properties")
    if not isinstance(props, Mapping):
        raise MalformedResource(f"related.{key}.properties is missing or not an object")
    return props


_AUDITING = "related.sql_auditing.properties"


def _text(value: Any, where: str) -> str:
    """A required string setting; anything else is malformed."""
    if not isinstance(value, str):
        raise MalformedResource(f"{where} is {value!r}, expected a string")
    return value.strip()


def _storage_endpoint(ev: Evidence, props: Mapping[str, Any]) -> str:
    return ev.text("storageEndpoint", "", document=props, where=f"{_AUDITING}.storageEndpoint")


def _audit_state(ev: Evidence, props: Mapping[str, Any]) -> str:
    return ev.text("state", "Disabled", document=props, where=f"{_AUDITING}.state")


def _is_system_database(snapshot: Snapshot) -> bool:
    return snapshot.name.lower() == "master" or "system" in snapshot.kind.split(",")


@check(
    id="sql_database_tde_enabled",
    title="SQL databases have transparent data encryption enabled",
    severity=Severity.HIGH,
    resource_types=DATABASES,
    hipaa=("164.312(a)(2)(iv)",),
    azure_policy=("17k78e20-9358-41c9-923c-fb736d382a12",),
    needs=("sql_tde",),
    patterns=("P2",),
    guidance="Enable transparent data encryption on the database (Security > Transparent data "
    "encryption, or az sql db tde set --status Enabled).",
    limitations=ALWAYS_ENCRYPTED,
)
def sql_database_tde_enabled(snapshot: Snapshot) -> Result:
    """PASS when the database's ``transparentDataEncryption/current`` document has ``state``
    Enabled; FAIL when it is Disabled, because the data files, logs and backups of a database
    holding PHI would then sit unencrypted at rest. NOT_APPLICABLE to ``master`` and other
    system databases, which TDE cannot encrypt (the built-in policy excludes master too). No
    default is assumed: Microsoft documents TDE as on by default for new databases, but the
    check reads the TDE document, and one without a state is reported as an ERROR, not a PASS.
    The older ``status`` field is read when ``state`` is missing, as the built-in policy does."""
    if _is_system_database(snapshot):
        return not_applicable(f"{snapshot.name} is a system database, which TDE cannot encrypt.")
    ev = Evidence(snapshot)
    props = _related_props(snapshot, "sql_tde")
    field = "state" if props.get("state") is not None else "status"
    if props.get(field) is None:
        raise MalformedResource("related.sql_tde.properties has neither state nor status")
    state = ev.note(f"related.sql_tde.properties.{field}", props[field])
    if _text(state, f"related.sql_tde.properties.{field}").lower() == "enabled":
        return ev.passed("Transparent data encryption is enabled.")
    return ev.failed(f"Transparent data encryption is {state!s}, so the database is unencrypted.")


@check(
    id="sql_server_tde_protector_customer_managed",
    title="PHI SQL servers protect TDE with a customer-managed key in Azure Key Vault",
    severity=Severity.HIGH,
    resource_types=SERVERS,
    hipaa=("164.312(a)(2)(iv)", "164.312(a)(1)"),
    azure_policy=("0a370ff3-6cab-4e85-8995-295fd854c5b8",),
    phi_only=True,
    needs=("sql_encryption_protector",),
    patterns=("P2",),
    guidance="Give the server an identity with wrapKey/unwrapKey on a Key Vault key (purge "
    "protection on), then set it as the TDE protector (serverKeyType AzureKeyVault).",
    limitations=ALWAYS_ENCRYPTED + " Rotation, expiry and access to the Key Vault key are "
    "data-plane facts of the vault, not of the server.",
)
def sql_server_tde_protector_customer_managed(snapshot: Snapshot) -> Result:
    """PASS when the server's ``encryptionProtector/current`` has ``serverKeyType``
    AzureKeyVault; FAIL when it is ServiceManaged, because the keys protecting PHI databases are
    then held and rotated only by Microsoft: the organisation cannot revoke access to the data,
    prove key custody, or separate key administration from database administration. No default
    is assumed: a protector document without ``serverKeyType`` is reported as an ERROR (ARM
    returns ServiceManaged for servers that never configured a key)."""
    ev = Evidence(snapshot)
    props = _related_props(snapshot, "sql_encryption_protector")
    if props.get("serverKeyType") is None:
        raise MalformedResource("related.sql_encryption_protector.properties has no serverKeyType")
    where = "related.sql_encryption_protector.properties.serverKeyType"
    key_type = _text(ev.note(where, props["serverKeyType"]), where)
    if key_type.lower() == "azurekeyvault":
        ev.note(
            "related.sql_encryption_protector.properties.serverKeyName", props.get("serverKeyName")
        )
        return ev.passed("The TDE protector is a customer-managed key in Azure Key Vault.")
    return ev.failed(f"The TDE protector is {key_type}, not a customer-managed Key Vault key.")


@check(
    id="sql_server_auditing_enabled",
    title="SQL servers have auditing enabled",
    severity=Severity.HIGH,
    resource_types=SERVERS,
    hipaa=("164.312(b)", "164.308(a)(1)(ii)(D)"),
    azure_policy=("a6fb4358-5bf4-4ad7-ba82-2cd2f41ce5e9",),
    needs=("sql_auditing",),
    guidance="Enable server auditing (Security > Auditing) to a storage account and/or a Log "
    "Analytics workspace.",
    limitations="Only server-level auditing is read; a server audited solely through "
    "database-level auditing policies FAILs here.",
)
def sql_server_auditing_enabled(snapshot: Snapshot) -> Result:
    """PASS when the server's ``auditingSettings/default`` has ``state`` Enabled and a
    destination (a ``storageEndpoint`` or ``isAzureMonitorTargetEnabled``); FAIL otherwise,
    because without server auditing nobody can tell who queried or changed PHI. Absent ``state``
    means Disabled: server auditing is off until configured (the published Get example shows a
    never-configured server as Disabled with an empty storage endpoint)."""
    ev = Evidence(snapshot)
    props = _related_props(snapshot, "sql_auditing")
    if _audit_state(ev, props).lower() != "enabled":
        return ev.failed("Server auditing is disabled.")
    storage = _storage_endpoint(ev, props)
    where = "related.sql_auditing.properties.isAzureMonitorTargetEnabled"
    monitor = ev.flag("isAzureMonitorTargetEnabled", False, document=props, where=where)
    if storage or monitor:
        targets = [
            n for n, on in (("a storage account", bool(storage)), ("Azure Monitor", monitor)) if on
        ]
        return ev.passed(f"Server auditing is enabled and writes to {' and '.join(targets)}.")
    return ev.failed("Server auditing is enabled but has no storage or Azure Monitor target.")


@check(
    id="sql_server_audit_retention_90_days",
    title="SQL server audit logs written to storage are kept at least 90 days",
    severity=Severity.MEDIUM,
    resource_types=SERVERS,
    hipaa=("164.312(b)", "164.308(a)(1)(ii)(D)"),
    azure_policy=("89099bee-89e0-4b26-a5f4-165451757743",),
    needs=("sql_auditing",),
    guidance="Set the audit retention (days) to 0 (unlimited) or at least 90; for PHI prefer "
    "six years or unlimited with an immutability policy on the container.",
    limitations="Only the storage-account destination has a retention here; audit logs sent to "
    "Log Analytics are retained per workspace table, judged by the monitoring checks.",
)
def sql_server_audit_retention_90_days(snapshot: Snapshot) -> Result:
    """PASS when server auditing writes to a storage account with ``retentionDays`` 0
    (unlimited) or at least 90; FAIL when it keeps fewer days, because older audit records of PHI
    access are then deleted before investigations and activity reviews can use them.
    NOT_APPLICABLE when auditing is disabled (sql_server_auditing_enabled reports that) or no
    storage endpoint is set. No default is assumed for a missing ``retentionDays``: the check
    FAILs rather than guess (the published auditing GET examples always carry the field)."""
    ev = Evidence(snapshot)
    props = _related_props(snapshot, "sql_auditing")
    if _audit_state(ev, props).lower() != "enabled":
        return not_applicable("Server auditing is disabled, so no audit retention applies.")
    if not _storage_endpoint(ev, props):
        return not_applicable("Server audit logs are not written to a storage account.")
    days = ev.read_in(props, "retentionDays", None, f"{_AUDITING}.retentionDays")
    if days is None:
        return ev.failed("The auditing settings do not state a retention period.")
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        raise MalformedResource(f"related.sql_auditing.properties.retentionDays is {days!r}")
    if days == 0:
        return ev.passed("Audit logs in storage are kept without a time limit.")
    if days >= AUDIT_RETENTION_MIN_DAYS:
        return ev.passed(f"Audit logs in storage are kept {days} days.")
    return ev.failed(f"Audit logs in storage are kept only {days} days, fewer than 90.")


def _administrators(ev: Evidence) -> Mapping[str, Any]:
    admins = ev.prop("administrators", None)
    if admins is None:
        return {}
    if not isinstance(admins, Mapping):
        raise MalformedResource("properties.administrators is not an object")
    return admins


@check(
    id="sql_server_entra_admin_configured",
    title="SQL servers have a Microsoft Entra administrator",
    severity=Severity.MEDIUM,
    resource_types=SERVERS,
    hipaa=("164.312(d)", "164.312(a)(2)(i)"),
    azure_policy=("1f314764-cb73-4fc9-b863-8eca98ac36e9",),
    guidance="Set a Microsoft Entra admin on the server (preferably a group), then create "
    "contained database users from Entra identities.",
    limitations="Reads properties.administrators of the server GET body; logins and contained "
    "users inside the databases are invisible through ARM.",
)
def sql_server_entra_admin_configured(snapshot: Snapshot) -> Result:
    """PASS when ``properties.administrators`` names an ActiveDirectory administrator (a
    ``login`` or ``sid``); FAIL when it is absent, because without an Entra admin every database
    user is a SQL login with a password: no MFA, no conditional access, no central
    deprovisioning of people who leave, and shared logins that break unique user
    identification. Absent means no Entra administrator: the published Servers_Get example, a
    server with only a SQL admin login, has no ``administrators`` block."""
    ev = Evidence(snapshot)
    admins = _administrators(ev)
    kind = admins.get("administratorType") or "ActiveDirectory"
    login = admins.get("login") or admins.get("sid")
    if login and str(kind).lower() == "activedirectory":
        principal = admins.get("principalType") or "principal"
        return ev.passed(f"A Microsoft Entra {str(principal).lower()} is the server admin.")
    return ev.failed("The server has no Microsoft Entra administrator, only SQL logins.")


@check(
    id="sql_server_entra_only_authentication",
    title="PHI SQL servers accept only Microsoft Entra authentication",
    severity=Severity.HIGH,
    resource_types=SERVERS,
    hipaa=("164.312(d)", "164.312(a)(2)(i)"),
    azure_policy=("abda6d70-9778-44e7-84a8-06713e6db027",),
    phi_only=True,
    guidance="After moving applications to Entra identities, enable Microsoft Entra-only "
    "authentication (az sql server ad-only-auth enable).",
    limitations="Reads properties.administrators.azureADOnlyAuthentication of the server GET "
    "body, the field the built-in policy reads.",
)
def sql_server_entra_only_authentication(snapshot: Snapshot) -> Result:
    """PASS when ``properties.administrators.azureADOnlyAuthentication`` is true; FAIL when it
    is false or absent, because SQL authentication stays open: the server admin login and any
    SQL login can reach PHI with a password alone, outside MFA and Entra sign-in logs. Absent
    means false: Microsoft Entra-only authentication is off until enabled, and the built-in
    policy treats a missing value as non-compliant."""
    ev = Evidence(snapshot)
    admins = _administrators(ev)
    where = "properties.administrators.azureADOnlyAuthentication"
    only = ev.flag("azureADOnlyAuthentication", False, document=admins, where=where)
    if only:
        return ev.passed("Only Microsoft Entra identities can authenticate to the server.")
    return ev.failed("SQL authentication is allowed alongside Microsoft Entra authentication.")


@check(
    id="sql_server_public_network_access_disabled",
    title="PHI SQL servers have public network access disabled",
    severity=Severity.HIGH,
    resource_types=SERVERS,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    azure_policy=("1b8ca024-1d5c-4dec-8995-b1a932b41780",),
    phi_only=True,
    guidance="Create a private endpoint for the server, then set publicNetworkAccess to "
    "Disabled (Networking > Public access > Disable).",
    limitations="Server firewall rules are child resources and are not read; with public "
    "access enabled they decide who can connect.",
)
def sql_server_public_network_access_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.publicNetworkAccess`` is Disabled; FAIL when it is Enabled, because
    the PHI server's endpoint then accepts connections from the Internet, guarded only by
    firewall rules and passwords. SecuredByPerimeter FAILs too: public access is then decided by
    a network security perimeter whose rules (and Learning / Audit access mode, in which traffic
    is not blocked) are not visible through the server, and the built-in policy 1b8ca024 flags
    every value other than Disabled. Absent is treated as Enabled: the connectivity-settings
    page calls Disable the default of the portal, but the ARM property is optional and the check
    does not PASS a setting it cannot see (Servers_Get bodies carry the property)."""
    ev = Evidence(snapshot)
    value = ev.text("properties.publicNetworkAccess", "Enabled")
    if value.lower() == "disabled":
        return ev.passed(f"Public network access is {value}.")
    if value.lower() == "securedbyperimeter":
        return ev.failed(
            "Public network access to the server is governed by a network security perimeter "
            "whose rules are not visible here, so it is not shown closed."
        )
    return ev.failed("Public network access is enabled on a server holding PHI.")


@check(
    id="sql_server_min_tls_1_2",
    title="SQL servers require TLS 1.2 or newer",
    severity=Severity.HIGH,
    resource_types=SERVERS,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    azure_policy=("32e6bbec-16b6-44c2-be37-c5b672d103cf",),
    guidance="Set minimalTlsVersion to 1.2 (or 1.3) under Networking > Connectivity, after "
    "checking that client drivers support it.",
)
def sql_server_min_tls_1_2(snapshot: Snapshot) -> Result:
    """PASS when ``properties.minimalTlsVersion`` is 1.2 or 1.3; FAIL when it is 1.0, 1.1 or
    None, because older TLS versions have known weaknesses and None also admits unencrypted
    connections carrying PHI. Absent means None (no minimum): the connectivity-settings page
    says the default minimal TLS version allows all versions; the Azure SQL blog of April 2026
    announces that servers created after July 15, 2026 without a value get 1.2 and that
    existing None servers will be upgraded, so until a GET shows 1.2 the check assumes None,
    as the built-in policy (which flags a missing value) does."""
    ev = Evidence(snapshot)
    text = ev.text("properties.minimalTlsVersion", "None")
    if text in _TLS_OK:
        return ev.passed(f"The server requires TLS {text} or newer.")
    if text.lower() in ("none", "0", ""):
        return ev.failed(
            "The server sets no minimum TLS version, so it accepts old TLS and "
            "unencrypted connections."
        )
    return ev.failed(f"The server accepts connections over TLS {text}, below TLS 1.2.")


# --- SQL Managed Instance (issue 14) -----------------------------------------------------------

MANAGED_INSTANCES = ("microsoft.sql/managedinstances",)


@check(
    id="sql_managed_instance_public_endpoint_disabled",
    title="PHI SQL managed instances have the public data endpoint disabled",
    severity=Severity.HIGH,
    resource_types=MANAGED_INSTANCES,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    phi_only=True,
    guidance="Set publicDataEndpointEnabled to false and reach the instance from its VNet or "
    "through private endpoints.",
    limitations="The NSG of the instance's subnet, which also gates port 3342, is judged by the "
    "network checks, not here.",
)
def sql_managed_instance_public_endpoint_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.publicDataEndpointEnabled`` is false or absent; FAIL when true,
    because the instance then accepts TDS connections from the Internet on port 3342. Absent
    means false: the public endpoint is off until enabled (ManagedInstances_Get examples)."""
    ev = Evidence(snapshot)
    if ev.flag("properties.publicDataEndpointEnabled", False):
        return ev.failed("The public data endpoint is enabled on an instance holding PHI.")
    return ev.passed("The public data endpoint is disabled.")


@check(
    id="sql_managed_instance_min_tls_1_2",
    title="SQL managed instances require TLS 1.2 or newer",
    severity=Severity.HIGH,
    resource_types=MANAGED_INSTANCES,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    guidance="Set minimalTlsVersion to 1.2 (Networking > Minimum TLS version).",
)
def sql_managed_instance_min_tls_1_2(snapshot: Snapshot) -> Result:
    """PASS when ``properties.minimalTlsVersion`` is 1.2 or 1.3; FAIL when it is 1.0, 1.1 or
    None, because older TLS has known weaknesses and None admits unencrypted connections.
    Absent is read as None (no minimum), as for logical servers."""
    ev = Evidence(snapshot)
    text = ev.text("properties.minimalTlsVersion", "None", empty_is_default=True)
    if text in _TLS_OK:
        return ev.passed(f"The instance requires TLS {text} or newer.")
    return ev.failed(f"The instance accepts connections below TLS 1.2 (minimum: {text}).")


@check(
    id="sql_managed_instance_entra_only_authentication",
    title="PHI SQL managed instances accept only Microsoft Entra authentication",
    severity=Severity.HIGH,
    resource_types=MANAGED_INSTANCES,
    hipaa=("164.312(d)", "164.312(a)(2)(i)"),
    phi_only=True,
    guidance="Set an Entra admin, move logins to Entra identities, then enable Microsoft "
    "Entra-only authentication.",
)
def sql_managed_instance_entra_only_authentication(snapshot: Snapshot) -> Result:
    """PASS when ``properties.administrators.azureADOnlyAuthentication`` is true; FAIL when
    false or absent, because SQL logins then reach PHI with a password alone, outside MFA and
    the Entra sign-in log. Absent means false."""
    ev = Evidence(snapshot)
    admins = _administrators(ev)
    where = "properties.administrators.azureADOnlyAuthentication"
    if ev.flag("azureADOnlyAuthentication", False, document=admins, where=where):
        return ev.passed("Only Microsoft Entra identities can authenticate to the instance.")
    return ev.failed("SQL authentication is allowed alongside Microsoft Entra authentication.")


@check(
    id="sql_managed_instance_tde_protector_customer_managed",
    title="PHI SQL managed instances protect TDE with a customer-managed key",
    severity=Severity.HIGH,
    resource_types=MANAGED_INSTANCES,
    hipaa=("164.312(a)(2)(iv)",),
    phi_only=True,
    needs=("sql_mi_encryption_protector",),
    patterns=("P2",),
    guidance="Give the instance an identity with wrapKey/unwrapKey on a Key Vault key and set "
    "it as the TDE protector (serverKeyType AzureKeyVault).",
    limitations=ALWAYS_ENCRYPTED,
)
def sql_managed_instance_tde_protector_customer_managed(snapshot: Snapshot) -> Result:
    """PASS when the instance's ``encryptionProtector/current`` has ``serverKeyType``
    AzureKeyVault; FAIL when ServiceManaged, because the keys protecting PHI databases are then
    held only by Microsoft. A protector document without serverKeyType is an ERROR."""
    ev = Evidence(snapshot)
    props = _related_props(snapshot, "sql_mi_encryption_protector")
    if props.get("serverKeyType") is None:
        raise MalformedResource(
            "related.sql_mi_encryption_protector.properties has no serverKeyType"
        )
    where = "related.sql_mi_encryption_protector.properties.serverKeyType"
    key_type = _text(ev.note(where, props["serverKeyType"]), where)
    if key_type.lower() == "azurekeyvault":
        return ev.passed("The TDE protector is a customer-managed key in Azure Key Vault.")
    return ev.failed(f"The TDE protector is {key_type}, not a customer-managed Key Vault key.")


# --- backups (issue 14, area 2) ---------------------------------------------------------------

_NO_LTR = ("", "PT0S", "P0W", "P0M", "P0Y")


@check(
    id="sql_database_long_term_retention_configured",
    title="PHI SQL databases keep long-term backups (weekly, monthly or yearly)",
    severity=Severity.MEDIUM,
    resource_types=DATABASES,
    hipaa=("164.308(a)(7)(ii)(A)", "164.310(d)(2)(iv)"),
    phi_only=True,
    needs=("sql_ltr_policy",),
    guidance="Configure a long-term retention policy (Backups > Retention policies), e.g. "
    "weekly backups kept 12 weeks, monthly 12 months and yearly 6 years.",
    limitations="How long is long enough is the organisation's backup plan; any weekly, monthly "
    "or yearly retention passes. Short-term (point-in-time) retention is not read.",
)
def sql_database_long_term_retention_configured(snapshot: Snapshot) -> Result:
    """PASS when the database's ``backupLongTermRetentionPolicies/default`` keeps weekly,
    monthly or yearly backups (a retention other than PT0S); FAIL when all three are PT0S or
    absent, because point-in-time backups last at most 35 days and PHI corrupted or deleted
    unnoticed for longer could not be recovered. NOT_APPLICABLE to system databases. Absent
    retentions mean PT0S (no long-term backup), the default."""
    if _is_system_database(snapshot):
        return not_applicable(f"{snapshot.name} is a system database.")
    ev = Evidence(snapshot)
    props = _related_props(snapshot, "sql_ltr_policy")
    kept = []
    for period in ("weeklyRetention", "monthlyRetention", "yearlyRetention"):
        where = f"related.sql_ltr_policy.properties.{period}"
        value = ev.text(period, "PT0S", document=props, where=where)
        if value.upper() not in _NO_LTR:
            kept.append(f"{period[:-9]} {value}")
    if kept:
        return ev.passed(f"Long-term backups are kept: {', '.join(kept)}.")
    return ev.failed("No long-term backup retention is configured.")


@check(
    id="sql_database_geo_redundant_backup",
    title="PHI SQL databases keep their backups in geo-redundant storage",
    severity=Severity.MEDIUM,
    resource_types=DATABASES,
    hipaa=("164.308(a)(7)(ii)(B)", "164.308(a)(7)(ii)(C)"),
    phi_only=True,
    guidance="Set the backup storage redundancy to Geo or GeoZone (Compute + storage > Backup "
    "storage redundancy).",
    limitations="The built-in policy on long-term geo-redundant backup audits the LTR policy, "
    "not the backup storage, so none is cited.",
)
def sql_database_geo_redundant_backup(snapshot: Snapshot) -> Result:
    """PASS when ``properties.currentBackupStorageRedundancy`` (else
    ``requestedBackupStorageRedundancy``) is Geo or GeoZone; FAIL when Local or Zone, because a
    regional disaster would then take the database and every backup of it. NOT_APPLICABLE to
    system databases. Absent means Geo, the default for new databases (the evidence marks the
    assumption)."""
    if _is_system_database(snapshot):
        return not_applicable(f"{snapshot.name} is a system database.")
    ev = Evidence(snapshot)
    current = ev.text("properties.currentBackupStorageRedundancy", None, empty_is_default=True)
    value = current or ev.text(
        "properties.requestedBackupStorageRedundancy", "Geo", empty_is_default=True
    )
    if value.lower() in ("geo", "geozone"):
        return ev.passed(f"Backups are stored {value}-redundant.")
    return ev.failed(f"Backups are stored {value}-redundant only, in one region.")


@check(
    id="sql_server_audit_retention_six_years",
    title="PHI SQL server audit logs written to storage are kept six years or without limit",
    severity=Severity.HIGH,
    resource_types=SERVERS,
    hipaa=("164.316(b)(2)(i)", "164.312(b)"),
    phi_only=True,
    needs=("sql_auditing",),
    patterns=("P5",),
    guidance="Set the audit retention to 0 (unlimited) or at least 2,192 days, and protect the "
    "sqldbauditlogs container with a locked immutability policy.",
    limitations="Audit logs sent to Log Analytics are retained per workspace table "
    "(monitoring_workspace_total_retention_six_years); immutability of the storage container is "
    "not read.",
)
def sql_server_audit_retention_six_years(snapshot: Snapshot) -> Result:
    """PASS when server auditing writes to a storage account with ``retentionDays`` 0
    (unlimited) or at least 2,192; FAIL when it keeps fewer days (the 90-day minimum of the
    built-in policy included), because records of who read or changed PHI would be deleted
    before the six years §164.316(b)(2)(i) asks. NOT_APPLICABLE when auditing is disabled or
    writes to no storage account. A missing ``retentionDays`` FAILs (nothing is assumed)."""
    ev = Evidence(snapshot)
    props = _related_props(snapshot, "sql_auditing")
    if _audit_state(ev, props).lower() != "enabled":
        return not_applicable("Server auditing is disabled, so no audit retention applies.")
    if not _storage_endpoint(ev, props):
        return not_applicable("Server audit logs are not written to a storage account.")
    days = ev.number("retentionDays", None, document=props, where=f"{_AUDITING}.retentionDays")
    if days is None:
        return ev.failed("The auditing settings do not state a retention period.")
    if days == 0:
        return ev.passed("Audit logs in storage are kept without a time limit.")
    if days >= RETENTION_DAYS:
        return ev.passed(f"Audit logs in storage are kept {days} days.")
    return ev.failed(f"Audit logs in storage are kept {days} days, under six years (2,192).")


@check(
    id="sql_server_vulnerability_assessment_enabled",
    title="SQL servers run vulnerability assessment",
    severity=Severity.MEDIUM,
    resource_types=SERVERS,
    hipaa=("164.308(a)(1)(ii)(A)", "164.308(a)(8)"),
    needs=("sql_vulnerability_assessment",),
    guidance="Enable SQL vulnerability assessment (express configuration) with Defender for SQL "
    "(Microsoft Defender for Cloud > the server > Vulnerability assessment).",
    limitations="Only the express configuration (sqlVulnerabilityAssessments/default) is read; "
    "servers still on the classic, storage-account configuration FAIL here. The built-in policy "
    "on vulnerability assessment reads the classic settings, so it is not cited.",
)
def sql_server_vulnerability_assessment_enabled(snapshot: Snapshot) -> Result:
    """PASS when the server's ``sqlVulnerabilityAssessments/default`` has ``state`` Enabled;
    FAIL when Disabled, because misconfigurations and excessive permissions in databases
    holding PHI would then go unscanned (risk analysis, §164.308(a)(1)(ii)(A)). A document
    without ``state`` FAILs: nothing is assumed."""
    ev = Evidence(snapshot)
    props = _related_props(snapshot, "sql_vulnerability_assessment")
    where = "related.sql_vulnerability_assessment.properties.state"
    state = ev.text("state", "Disabled", document=props, where=where)
    if state.lower() == "enabled":
        return ev.passed("Vulnerability assessment scans the server's databases.")
    return ev.failed("Vulnerability assessment is not enabled on the server.")


# --- issue 14, area 6: server firewall ----------------------------------------------------------


def _firewall_rules(snapshot: Snapshot) -> list[tuple[str, str, str]]:
    """(name, start, end) of the server's firewall rules."""
    out = []
    for index, rule in enumerate(snapshot.docs("sql_firewall_rules")):
        props = rule.get("properties")
        where = f"related.sql_firewall_rules[{index}].properties"
        if not isinstance(props, Mapping):
            raise MalformedResource(f"{where} is missing or not an object")
        start, end = props.get("startIpAddress"), props.get("endIpAddress")
        if not isinstance(start, str) or not isinstance(end, str):
            raise MalformedResource(f"{where} has no startIpAddress/endIpAddress")
        out.append((str(rule.get("name") or f"#{index}"), start.strip(), end.strip()))
    return out


def _ip(text: str, where: str) -> int:
    try:
        return int(ipaddress.IPv4Address(text))
    except ValueError:
        raise MalformedResource(f"{where} is {text!r}, not an IPv4 address") from None


# A range this wide admits at least a /8 of the Internet (the NSG model's Internet-wide floor).
_WIDE_RANGE = 1 << 24


@check(
    id="sql_server_firewall_no_internet_wide_rule",
    title="SQL server firewalls admit no Internet-wide address range",
    severity=Severity.HIGH,
    resource_types=SERVERS,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    needs=("sql_firewall_rules",),
    guidance="Delete firewall rules such as 0.0.0.0-255.255.255.255 and allow only the client "
    "addresses that need the server, or use private endpoints.",
    limitations="Virtual-network rules and database-level firewall rules (inside the database) "
    "are not read. With public network access disabled the rules have no effect, but they are "
    "still reported.",
)
def sql_server_firewall_no_internet_wide_rule(snapshot: Snapshot) -> Result:
    """PASS when no server firewall rule spans 16,777,216 addresses or more (a /8; e.g.
    0.0.0.0-255.255.255.255); FAIL when one does, because the server's login prompt is then
    open to a large part of the Internet and PHI is one password away. No rule exists by
    default (the 0.0.0.0-0.0.0.0 Azure-services rule is judged by
    sql_server_firewall_azure_services_denied)."""
    evidence: dict[str, Any] = {}
    rules = _firewall_rules(snapshot)
    wide = []
    for index, (name, start, end) in enumerate(rules):
        where = f"related.sql_firewall_rules[{index}]"
        span = _ip(end, f"{where}.endIpAddress") - _ip(start, f"{where}.startIpAddress") + 1
        evidence[where] = {"name": name, "start": start, "end": end}
        if span >= _WIDE_RANGE:
            wide.append(f"{name} ({start}-{end})")
    evidence["related.sql_firewall_rules.count"] = len(rules)
    if wide:
        return failed(f"The firewall admits an Internet-wide range: {wide[0]}.", evidence)
    return passed(f"None of the {len(rules)} firewall rule(s) spans a /8 or more.", evidence)


@check(
    id="sql_server_firewall_azure_services_denied",
    title="PHI SQL servers do not admit every Azure service (AllowAllWindowsAzureIps)",
    severity=Severity.MEDIUM,
    resource_types=SERVERS,
    hipaa=("164.312(a)(1)",),
    phi_only=True,
    needs=("sql_firewall_rules",),
    guidance="Turn off 'Allow Azure services and resources to access this server' (delete the "
    "0.0.0.0 rule) and use private endpoints or virtual-network rules for your own services.",
)
def sql_server_firewall_azure_services_denied(snapshot: Snapshot) -> Result:
    """PASS when no firewall rule runs from 0.0.0.0 to 0.0.0.0; FAIL when one does, because
    that rule admits connections from every Azure datacenter, including other customers'
    subscriptions, to a server holding PHI. The rule does not exist by default."""
    evidence: dict[str, Any] = {}
    rules = _firewall_rules(snapshot)
    evidence["related.sql_firewall_rules.count"] = len(rules)
    for name, start, end in rules:
        if start == end == ".".join(["0"] * 4):
            evidence["rule"] = name
            return failed(f"Rule {name!r} admits every Azure service.", evidence)
    return passed("No rule admits every Azure service.", evidence)
