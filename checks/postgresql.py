"""Azure Database for PostgreSQL flexible servers (Microsoft.DBforPostgreSQL/flexibleServers)
holding PHI. Server bodies: Servers_Get 2024-08-01; server parameters:
``configurations/{name}``."""

from __future__ import annotations

from checks import dbflexible
from checks.common import Evidence
from checks.registry import check
from shared.kernel.findings import Result, Severity
from shared.kernel.snapshot import Snapshot

SERVERS = ("microsoft.dbforpostgresql/flexibleservers",)
_SINGLE_SERVER_NOTE = (
    "The built-in policies for PostgreSQL audit single servers (Microsoft.DBforPostgreSQL/"
    "servers, retired), not flexible servers, so none is cited."
)


@check(
    id="postgresql_flexible_server_public_network_access_disabled",
    title="PHI PostgreSQL flexible servers have public network access disabled",
    severity=Severity.HIGH,
    resource_types=SERVERS,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    phi_only=True,
    guidance="Use VNet integration or private endpoints and set public access to Disabled "
    "(Networking > Public access).",
    limitations="With public access on, firewall rules (a child list) decide who can connect; "
    "they are not read. " + _SINGLE_SERVER_NOTE,
)
def postgresql_flexible_server_public_network_access_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.network.publicNetworkAccess`` is Disabled (VNet-integrated or
    private-endpoint-only servers); FAIL when Enabled or absent, because the PHI server's
    endpoint then answers from the Internet, guarded by firewall rules and passwords. Absent is
    read as Enabled, the value of servers created with public access."""
    return dbflexible.public_access(snapshot, "PostgreSQL server")


@check(
    id="postgresql_flexible_server_entra_auth_enabled",
    title="PHI PostgreSQL flexible servers accept Microsoft Entra authentication",
    severity=Severity.MEDIUM,
    resource_types=SERVERS,
    hipaa=("164.312(a)(2)(i)", "164.312(d)"),
    phi_only=True,
    guidance="Enable Microsoft Entra authentication (Security > Authentication) and add an "
    "Entra administrator, then create roles for Entra users and groups.",
    limitations="The Entra administrators are a child list that is not read. "
    + _SINGLE_SERVER_NOTE,
)
def postgresql_flexible_server_entra_auth_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.authConfig.activeDirectoryAuth`` is Enabled; FAIL when Disabled
    or absent, because every database user is then a password role: no MFA, no conditional
    access, no central removal of people who leave. Absent means Disabled, the default."""
    ev = Evidence(snapshot)
    value = ev.text("properties.authConfig.activeDirectoryAuth", "Disabled", empty_is_default=True)
    if value.lower() == "enabled":
        return ev.passed("Microsoft Entra authentication is enabled.")
    return ev.failed("Only PostgreSQL password authentication is enabled.")


@check(
    id="postgresql_flexible_server_password_auth_disabled",
    title="PHI PostgreSQL flexible servers accept only Microsoft Entra authentication",
    severity=Severity.MEDIUM,
    resource_types=SERVERS,
    hipaa=("164.312(a)(2)(i)", "164.312(d)"),
    phi_only=True,
    guidance="Once applications use Entra identities, set password authentication to Disabled "
    "(Security > Authentication > Microsoft Entra authentication only).",
    limitations=_SINGLE_SERVER_NOTE,
)
def postgresql_flexible_server_password_auth_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.authConfig.passwordAuth`` is Disabled and Entra authentication
    is Enabled; FAIL otherwise, because password roles reach PHI outside MFA and the Entra
    sign-in log. Absent passwordAuth means Enabled, the default."""
    ev = Evidence(snapshot)
    password = ev.text("properties.authConfig.passwordAuth", "Enabled", empty_is_default=True)
    entra = ev.text("properties.authConfig.activeDirectoryAuth", "Disabled", empty_is_default=True)
    if password.lower() == "disabled" and entra.lower() == "enabled":
        return ev.passed("Only Microsoft Entra identities can sign in.")
    return ev.failed("PostgreSQL password authentication is enabled.")


@check(
    id="postgresql_flexible_server_customer_managed_key_enabled",
    title="PHI PostgreSQL flexible servers encrypt data with a customer-managed key",
    severity=Severity.MEDIUM,
    resource_types=SERVERS,
    hipaa=("164.312(a)(2)(iv)",),
    phi_only=True,
    patterns=("P1",),
    guidance="Create the server with data encryption from a Key Vault key and a user-assigned "
    "identity (customer-managed keys can only be chosen at creation or restore).",
    limitations=_SINGLE_SERVER_NOTE,
)
def postgresql_flexible_server_customer_managed_key_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.dataEncryption.type`` is AzureKeyVault; FAIL when SystemManaged
    or absent, because the keys protecting PHI are then held only by Microsoft. Absent means
    SystemManaged, the default."""
    return dbflexible.customer_managed_key(snapshot, "PostgreSQL server")


@check(
    id="postgresql_flexible_server_secure_transport_required",
    title="PostgreSQL flexible servers refuse unencrypted connections",
    severity=Severity.HIGH,
    resource_types=SERVERS,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    needs=("postgresql_secure_transport",),
    guidance="Set the server parameter require_secure_transport to ON (Server parameters).",
    limitations="ssl_min_protocol_version (TLS 1.2 by default) is not read. " + _SINGLE_SERVER_NOTE,
)
def postgresql_flexible_server_secure_transport_required(snapshot: Snapshot) -> Result:
    """PASS when the server parameter ``require_secure_transport`` has value ON; FAIL when OFF,
    because clients may then send credentials and PHI in clear text. The parameter is ON by
    default; the check reads its document and does not assume it."""
    return dbflexible.secure_transport(snapshot, "postgresql_secure_transport", "PostgreSQL server")


@check(
    id="postgresql_flexible_server_geo_redundant_backup_enabled",
    title="PHI PostgreSQL flexible servers keep geo-redundant backups",
    severity=Severity.MEDIUM,
    resource_types=SERVERS,
    hipaa=("164.308(a)(7)(ii)(A)", "164.308(a)(7)(ii)(B)"),
    phi_only=True,
    guidance="Geo-redundant backup can only be chosen when the server is created: restore the "
    "server to a new one with geoRedundantBackup Enabled.",
    limitations="Restores are not tested here. " + _SINGLE_SERVER_NOTE,
)
def postgresql_flexible_server_geo_redundant_backup_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.backup.geoRedundantBackup`` is Enabled; FAIL when Disabled or
    absent, because a regional disaster would then take the PHI and its backups together.
    Absent means Disabled, the default."""
    return dbflexible.geo_redundant_backup(snapshot, "PostgreSQL server")
