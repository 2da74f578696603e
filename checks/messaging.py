"""Service Bus and Event Hubs namespaces (Microsoft.ServiceBus/namespaces,
Microsoft.EventHub/namespaces) carrying PHI messages: Namespaces_Get 2024-01-01. Both providers
share the properties read here."""

from __future__ import annotations

from checks.common import Evidence, local_auth_result, public_network_result
from checks.registry import check, register_policy_definitions
from shared.kernel.findings import Result, Severity, not_applicable
from shared.kernel.snapshot import Snapshot

# Issue 14: ids and display names cross-checked against Azure's built-in policy
# reference tables and public policy sets that cite them (not read from
# Azure/azure-policy itself).
register_policy_definitions(
    {
        "cfb11c26-f069-4c14-8e36-56c394dae5af": (
            "Azure Service Bus namespaces should have local authentication methods disabled"
        ),
    }
)

NAMESPACES = ("microsoft.servicebus/namespaces", "microsoft.eventhub/namespaces")


def _what(snapshot: Snapshot) -> str:
    return "Service Bus" if snapshot.type.startswith("microsoft.servicebus") else "Event Hubs"


@check(
    id="messaging_namespace_local_auth_disabled",
    title="PHI Service Bus and Event Hubs namespaces accept only Microsoft Entra ID (no SAS keys)",
    severity=Severity.MEDIUM,
    resource_types=NAMESPACES,
    hipaa=("164.312(a)(2)(i)", "164.312(d)"),
    phi_only=True,
    guidance="Grant Azure Service Bus / Event Hubs Data Sender and Receiver roles to the "
    "applications' identities, then set disableLocalAuth to true.",
    limitations="The cited built-in policy covers Service Bus; its Event Hubs sibling was not "
    "verified here and is not cited.",
    azure_policy=("cfb11c26-f069-4c14-8e36-56c394dae5af",),
)
def messaging_namespace_local_auth_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.disableLocalAuth`` is true; FAIL when false or absent, because
    shared access signature keys then send and read PHI messages with no identity behind them.
    Absent means false: SAS keys work by default."""
    return local_auth_result(
        snapshot,
        "properties.disableLocalAuth",
        f"{_what(snapshot)} namespace",
        "shared access signature (SAS) keys",
    )


@check(
    id="messaging_namespace_min_tls_1_2",
    title="Service Bus and Event Hubs namespaces require TLS 1.2 or newer",
    severity=Severity.HIGH,
    resource_types=NAMESPACES,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    guidance="Set minimumTlsVersion to 1.2 on the namespace.",
)
def messaging_namespace_min_tls_1_2(snapshot: Snapshot) -> Result:
    """PASS when ``properties.minimumTlsVersion`` is 1.2 or 1.3; FAIL when 1.0 or 1.1.
    Absent is read as 1.0, the value namespaces created before the setting existed report."""
    ev = Evidence(snapshot)
    value = ev.text("properties.minimumTlsVersion", "1.0", empty_is_default=True)
    if value in ("1.2", "1.3"):
        return ev.passed(f"The namespace requires TLS {value} or newer.")
    return ev.failed(f"The namespace accepts TLS {value}, below TLS 1.2.")


@check(
    id="messaging_namespace_public_network_access_disabled",
    title="PHI Service Bus and Event Hubs namespaces have public network access disabled",
    severity=Severity.MEDIUM,
    resource_types=NAMESPACES,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    phi_only=True,
    guidance="Add private endpoints, then set publicNetworkAccess to Disabled.",
    limitations="IP and VNet rules in the namespace's networkRuleSets (a child document) are "
    "not read; namespaces restricted only by them FAIL.",
)
def messaging_namespace_public_network_access_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.publicNetworkAccess`` is Disabled; FAIL when Enabled,
    SecuredByPerimeter or absent. Absent means Enabled, the API default."""
    return public_network_result(
        snapshot, "properties.publicNetworkAccess", f"{_what(snapshot)} namespace"
    )


@check(
    id="messaging_namespace_customer_managed_key_enabled",
    title="PHI Premium Service Bus and Event Hubs namespaces use a customer-managed key",
    severity=Severity.LOW,
    resource_types=NAMESPACES,
    hipaa=("164.312(a)(2)(iv)",),
    phi_only=True,
    guidance="On a Premium (Service Bus) or Premium/Dedicated (Event Hubs) namespace, set "
    "encryption.keySource to Microsoft.KeyVault with a Key Vault key.",
    limitations="Customer-managed keys need the Premium (or Dedicated) tier: lower tiers are "
    "NOT_APPLICABLE.",
)
def messaging_namespace_customer_managed_key_enabled(snapshot: Snapshot) -> Result:
    """NOT_APPLICABLE below the Premium tier (``sku.tier`` Basic or Standard), where Azure
    offers no customer-managed key. Otherwise PASS when ``properties.encryption.keySource`` is
    Microsoft.KeyVault; FAIL when absent, because messages are then encrypted only with
    Microsoft-managed keys. Absent means Microsoft-managed, the default."""
    ev = Evidence(snapshot)
    tier = ev.text("sku.tier", "Standard", empty_is_default=True)
    if tier.lower() in ("basic", "standard"):
        return not_applicable(f"The {tier} tier offers no customer-managed key.")
    source = ev.text("properties.encryption.keySource", "Microsoft.Managed", empty_is_default=True)
    if source.lower() == "microsoft.keyvault":
        return ev.passed("Messages are encrypted with a customer-managed Key Vault key.")
    return ev.failed("Messages are encrypted only with Microsoft-managed keys.")
