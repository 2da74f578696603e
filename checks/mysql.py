"""Azure Database for MySQL flexible servers (Microsoft.DBforMySQL/flexibleServers) holding PHI.
Server bodies: Servers_Get 2023-12-30; server parameters: ``configurations/{name}``."""

from __future__ import annotations

from checks import dbflexible
from checks.registry import check
from shared.kernel.findings import Result, Severity, not_applicable
from shared.kernel.snapshot import MalformedResource, Snapshot

SERVERS = ("microsoft.dbformysql/flexibleservers",)
_SINGLE_SERVER_NOTE = (
    "The built-in policies for MySQL audit single servers (Microsoft.DBforMySQL/servers, "
    "retired), not flexible servers, so none is cited."
)


@check(
    id="mysql_flexible_server_public_network_access_disabled",
    title="PHI MySQL flexible servers have public network access disabled",
    severity=Severity.HIGH,
    resource_types=SERVERS,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    phi_only=True,
    guidance="Use VNet integration or private endpoints and set public access to Disabled.",
    limitations="With public access on, firewall rules (a child list) decide who can connect; "
    "they are not read. " + _SINGLE_SERVER_NOTE,
)
def mysql_flexible_server_public_network_access_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.network.publicNetworkAccess`` is Disabled; FAIL when Enabled or
    absent, because the PHI server then answers from the Internet, guarded by firewall rules
    and passwords. Absent is read as Enabled, the value of servers created with public
    access."""
    return dbflexible.public_access(snapshot, "MySQL server")


@check(
    id="mysql_flexible_server_customer_managed_key_enabled",
    title="PHI MySQL flexible servers encrypt data with a customer-managed key",
    severity=Severity.MEDIUM,
    resource_types=SERVERS,
    hipaa=("164.312(a)(2)(iv)",),
    phi_only=True,
    patterns=("P1",),
    guidance="Configure data encryption with a Key Vault key and a user-assigned identity "
    "(Security > Data encryption).",
    limitations=_SINGLE_SERVER_NOTE,
)
def mysql_flexible_server_customer_managed_key_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.dataEncryption.type`` is AzureKeyVault; FAIL when SystemManaged
    or absent, because the keys protecting PHI are then held only by Microsoft. Absent means
    SystemManaged, the default."""
    return dbflexible.customer_managed_key(snapshot, "MySQL server")


@check(
    id="mysql_flexible_server_secure_transport_required",
    title="MySQL flexible servers refuse unencrypted connections",
    severity=Severity.HIGH,
    resource_types=SERVERS,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    needs=("mysql_secure_transport",),
    guidance="Set the server parameter require_secure_transport to ON (Server parameters).",
    limitations="tls_version (TLSv1.2 by default) is not read. " + _SINGLE_SERVER_NOTE,
)
def mysql_flexible_server_secure_transport_required(snapshot: Snapshot) -> Result:
    """PASS when the server parameter ``require_secure_transport`` has value ON; FAIL when OFF,
    because clients may then send credentials and PHI in clear text. ON is the default; the
    check reads the parameter's document and does not assume it."""
    return dbflexible.secure_transport(snapshot, "mysql_secure_transport", "MySQL server")


@check(
    id="mysql_flexible_server_audit_log_enabled",
    title="PHI MySQL flexible servers record an audit log",
    severity=Severity.HIGH,
    resource_types=SERVERS,
    hipaa=("164.312(b)", "164.308(a)(1)(ii)(D)"),
    phi_only=True,
    needs=("mysql_audit_log",),
    patterns=("P5",),
    guidance="Set the server parameter audit_log_enabled to ON (and audit_log_events to at "
    "least CONNECTION, DML_SELECT and DCL), then send the MySqlAuditLogs category to a "
    "workspace with a diagnostic setting.",
    limitations="Which events audit_log_events selects is not read; the diagnostic setting "
    "that keeps the log is judged by monitoring_resource_audit_logs_enabled.",
)
def mysql_flexible_server_audit_log_enabled(snapshot: Snapshot) -> Result:
    """PASS when the server parameter ``audit_log_enabled`` has value ON; FAIL when OFF (its
    default), because connections to and queries of PHI then leave no audit record."""
    ev, value = dbflexible.parameter_value(snapshot, "mysql_audit_log")
    if value is None:
        return not_applicable("The server reports no audit_log_enabled parameter.")
    if value.upper() == "ON":
        return ev.passed("The MySQL audit log is enabled.")
    if value.upper() == "OFF":
        return ev.failed("The MySQL audit log is disabled: access to PHI is not recorded.")
    raise MalformedResource(f"related.mysql_audit_log.properties.value is {value!r}")


@check(
    id="mysql_flexible_server_geo_redundant_backup_enabled",
    title="PHI MySQL flexible servers keep geo-redundant backups",
    severity=Severity.MEDIUM,
    resource_types=SERVERS,
    hipaa=("164.308(a)(7)(ii)(A)", "164.308(a)(7)(ii)(B)"),
    phi_only=True,
    guidance="Geo-redundant backup is chosen when the server is created: restore to a new "
    "server with geoRedundantBackup Enabled.",
    limitations="Restores are not tested here. " + _SINGLE_SERVER_NOTE,
)
def mysql_flexible_server_geo_redundant_backup_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.backup.geoRedundantBackup`` is Enabled; FAIL when Disabled or
    absent, because a regional disaster would then take the PHI and its backups together.
    Absent means Disabled, the default."""
    return dbflexible.geo_redundant_backup(snapshot, "MySQL server")
