"""Azure Cosmos DB checks: database accounts holding PHI (Microsoft.DocumentDB/databaseAccounts).

Every property is read from the DatabaseAccounts_Get body (2024-11-15); absent properties mean
the defaults the REST API specification documents, named in each docstring.
"""

from __future__ import annotations

from collections.abc import Mapping

from checks.common import (
    Evidence,
    as_list,
    is_internet_source,
    local_auth_result,
    public_network_result,
)
from checks.registry import check, register_policy_definitions
from shared.kernel.findings import Result, Severity, not_applicable
from shared.kernel.snapshot import MalformedResource, Snapshot

# Issue 14: ids and display names cross-checked against Azure's built-in policy
# reference tables and public policy sets that cite them (not read from
# Azure/azure-policy itself).
register_policy_definitions(
    {
        "797b37f7-06b8-444c-b1ad-fc62867f335a": (
            "Azure Cosmos DB should disable public network access"
        ),
        "5450f5bd-9c72-4390-a9c4-a7aba4edfdd2": (
            "Cosmos DB database accounts should have local authentication methods disabled"
        ),
        "1f905d99-2ab7-462c-a6b0-f709acca6c8f": (
            "Azure Cosmos DB accounts should use customer-managed keys to encrypt data at rest"
        ),
    }
)

ACCOUNTS = ("microsoft.documentdb/databaseaccounts",)
_TLS_OK = ("tls12", "tls13")
# The firewall entry meaning "accept connections from within Azure datacenters".
AZURE_SERVICES_IP = ".".join(["0"] * 4)


@check(
    id="cosmosdb_account_public_network_access_disabled",
    title="PHI Cosmos DB accounts have public network access disabled",
    severity=Severity.HIGH,
    resource_types=ACCOUNTS,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    azure_policy=("797b37f7-06b8-444c-b1ad-fc62867f335a",),
    phi_only=True,
    guidance="Create private endpoints for the account, then set publicNetworkAccess to Disabled "
    "(Networking > Public network access > Disabled).",
    limitations="IP and virtual-network firewall rules only matter while public access is on; "
    "cosmosdb_account_firewall_not_open judges them.",
)
def cosmosdb_account_public_network_access_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.publicNetworkAccess`` is Disabled; FAIL when it is Enabled or
    SecuredByPerimeter, because the account's endpoint then answers from the Internet with only
    keys or tokens in the way of the PHI it holds. Absent means Enabled, the API default."""
    return public_network_result(snapshot, "properties.publicNetworkAccess", "Cosmos DB account")


@check(
    id="cosmosdb_account_local_auth_disabled",
    title="PHI Cosmos DB accounts accept only Microsoft Entra ID (no account keys)",
    severity=Severity.HIGH,
    resource_types=ACCOUNTS,
    hipaa=("164.312(a)(2)(i)", "164.312(d)"),
    azure_policy=("5450f5bd-9c72-4390-a9c4-a7aba4edfdd2",),
    phi_only=True,
    guidance="Move clients to Microsoft Entra ID with Cosmos DB data-plane RBAC, then set "
    "disableLocalAuth to true.",
)
def cosmosdb_account_local_auth_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.disableLocalAuth`` is true; FAIL when false or absent, because the
    primary and secondary keys then grant full data access to whoever holds them, with no user
    behind the reads of PHI. Absent means false: key authentication is on by default."""
    return local_auth_result(
        snapshot,
        "properties.disableLocalAuth",
        "Cosmos DB account",
        "its primary and secondary keys",
    )


@check(
    id="cosmosdb_account_customer_managed_key_enabled",
    title="PHI Cosmos DB accounts encrypt data with a customer-managed key",
    severity=Severity.MEDIUM,
    resource_types=ACCOUNTS,
    hipaa=("164.312(a)(2)(iv)",),
    azure_policy=("1f905d99-2ab7-462c-a6b0-f709acca6c8f",),
    phi_only=True,
    patterns=("P1",),
    guidance="Create the account with a Key Vault key (keyVaultKeyUri) and an identity allowed "
    "to wrap and unwrap it; existing accounts can be switched to a customer-managed key.",
    limitations="Whether the key exists, is enabled and has purge protection is a fact of the "
    "vault, not of the account.",
)
def cosmosdb_account_customer_managed_key_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.keyVaultKeyUri`` names a Key Vault key; FAIL when it is absent or
    empty, because the PHI is then encrypted only with Microsoft-managed keys that the
    organisation can neither revoke nor audit. Absent means service-managed keys, the default."""
    ev = Evidence(snapshot)
    uri = ev.text("properties.keyVaultKeyUri", None, empty_is_default=True)
    if uri:
        return ev.passed("The account's data is encrypted with a customer-managed Key Vault key.")
    return ev.failed("The account's data is encrypted only with Microsoft-managed keys.")


@check(
    id="cosmosdb_account_min_tls_1_2",
    title="Cosmos DB accounts require TLS 1.2 or newer",
    severity=Severity.HIGH,
    resource_types=ACCOUNTS,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    guidance="Set minimalTlsVersion to Tls12 (Settings > Networking > Minimum TLS version).",
    limitations="No built-in policy audits this property, so none is cited.",
)
def cosmosdb_account_min_tls_1_2(snapshot: Snapshot) -> Result:
    """PASS when ``properties.minimalTlsVersion`` is Tls12 (or newer); FAIL when it is Tls or
    Tls11, because TLS 1.0 and 1.1 have known weaknesses for PHI in transit. Absent is read as
    Tls (1.0), the default the REST API specification gives for accounts that never set it."""
    ev = Evidence(snapshot)
    value = ev.text("properties.minimalTlsVersion", "Tls", empty_is_default=True)
    if value.lower() in _TLS_OK:
        return ev.passed(f"The account requires {value} or newer.")
    return ev.failed(f"The account accepts connections over {value}, below TLS 1.2.")


@check(
    id="cosmosdb_account_key_metadata_write_disabled",
    title="Cosmos DB account keys cannot change databases, containers or throughput",
    severity=Severity.MEDIUM,
    resource_types=ACCOUNTS,
    hipaa=("164.312(a)(1)", "164.312(c)(1)"),
    guidance="Set disableKeyBasedMetadataWriteAccess to true so that schema and throughput "
    "changes go through Azure Resource Manager (and its activity log).",
    limitations="The built-in policy of the same name is audit-only and was not verified here, "
    "so none is cited.",
)
def cosmosdb_account_key_metadata_write_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.disableKeyBasedMetadataWriteAccess`` is true; FAIL when false or
    absent, because any key holder can then delete or recreate the containers that hold PHI
    outside Azure Resource Manager, unrecorded in the activity log. Absent means false."""
    ev = Evidence(snapshot)
    if ev.flag("properties.disableKeyBasedMetadataWriteAccess", False):
        return ev.passed("Metadata changes with account keys are blocked.")
    return ev.failed("Account keys can delete or change databases and containers.")


@check(
    id="cosmosdb_account_firewall_not_open",
    title="PHI Cosmos DB accounts with public access admit no Internet-wide IP range",
    severity=Severity.HIGH,
    resource_types=ACCOUNTS,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    phi_only=True,
    guidance="Remove 0.0.0.0/0-style and other Internet-wide entries from ipRules, or disable "
    "public network access and use private endpoints.",
    limitations="The built-in policy 862e97cf ('should have firewall rules') only asks that some "
    "rule exists; this check judges the ranges, so it is not cited as equivalent. The 0.0.0.0 "
    "entry (accept Azure datacenters) is reported as open to all of Azure.",
)
def cosmosdb_account_firewall_not_open(snapshot: Snapshot) -> Result:
    """NOT_APPLICABLE when public network access is Disabled. Otherwise PASS when the IP
    firewall (``ipRules`` or virtual-network filtering) restricts callers and no entry is
    Internet-wide; FAIL when there is no rule at all (every network is admitted: with
    ``isVirtualNetworkFilterEnabled`` false and no ``ipRules`` the account accepts all
    networks), when an entry covers at least a /8 of public IPv4, or when ``0.0.0.0`` admits
    every Azure datacenter, because PHI would then be one stolen key away from anywhere."""
    ev = Evidence(snapshot)
    access = ev.text("properties.publicNetworkAccess", "Enabled", empty_is_default=True)
    if access.lower() == "disabled":
        return not_applicable("Public network access is disabled, so no IP rule admits anyone.")
    vnet = ev.flag("properties.isVirtualNetworkFilterEnabled", False)
    rules = as_list(ev.prop("ipRules", None), "properties.ipRules")
    ranges: list[str] = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, Mapping) or not isinstance(rule.get("ipAddressOrRange"), str):
            raise MalformedResource(f"properties.ipRules[{index}] has no ipAddressOrRange")
        ranges.append(rule["ipAddressOrRange"].strip())
    if AZURE_SERVICES_IP in ranges:
        return ev.failed("The firewall entry 0.0.0.0 admits every Azure datacenter's addresses.")
    wide = [r for r in ranges if is_internet_source(r)]
    if wide:
        return ev.failed(f"The firewall admits an Internet-wide range ({wide[0]}).")
    if not ranges and not vnet:
        return ev.failed(
            "Public access is on with no IP or virtual-network rule: all networks are admitted."
        )
    return ev.passed(
        f"Public access is limited to {len(ranges)} IP rule(s)"
        + (" and virtual-network rules." if vnet else ".")
    )


@check(
    id="cosmosdb_account_continuous_backup_enabled",
    title="PHI Cosmos DB accounts use continuous backup (point-in-time restore)",
    severity=Severity.MEDIUM,
    resource_types=ACCOUNTS,
    hipaa=("164.308(a)(7)(ii)(A)", "164.308(a)(7)(ii)(B)"),
    phi_only=True,
    guidance="Switch the account's backup policy to Continuous (7 or 30 days); periodic backup "
    "keeps two copies by default and restores only through a support request.",
    limitations="Backup storage redundancy of periodic mode and restore tests are not visible.",
)
def cosmosdb_account_continuous_backup_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.backupPolicy.type`` is Continuous; FAIL when it is Periodic or
    absent, because periodic backups (default: every 4 hours, 2 copies kept 8 hours) cannot
    restore PHI to a chosen moment before a corruption or a malicious delete, and are restored
    only by Microsoft support. Absent means Periodic, the API default."""
    ev = Evidence(snapshot)
    kind = ev.text("properties.backupPolicy.type", "Periodic", empty_is_default=True)
    if kind.lower() == "continuous":
        tier = ev.text("properties.backupPolicy.continuousModeProperties.tier", None)
        return ev.passed(f"Continuous backup is on{f' ({tier})' if tier else ''}.")
    return ev.failed(f"Backups are {kind}: no point-in-time restore of the PHI.")
