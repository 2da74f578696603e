"""Azure AI Search services (Microsoft.Search/searchServices) whose indexes hold PHI:
Services_Get 2023-11-01."""

from __future__ import annotations

from checks.common import Evidence, public_network_result
from checks.registry import check, register_policy_definitions
from shared.kernel.findings import Result, Severity
from shared.kernel.snapshot import Snapshot

# Issue 14: ids and display names cross-checked against Azure's built-in policy
# reference tables and public policy sets that cite them (not read from
# Azure/azure-policy itself).
register_policy_definitions(
    {
        "ee980b6d-0eca-4501-8d54-f6290fd512c3": (
            "Azure AI Search services should disable public network access"
        ),
    }
)

SERVICES = ("microsoft.search/searchservices",)


@check(
    id="search_service_public_network_access_disabled",
    title="PHI AI Search services have public network access disabled",
    severity=Severity.HIGH,
    resource_types=SERVICES,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    azure_policy=("ee980b6d-0eca-4501-8d54-f6290fd512c3",),
    phi_only=True,
    guidance="Add a private endpoint, then set publicNetworkAccess to disabled.",
    limitations="IP rules (networkRuleSet) that limit public access are not judged.",
)
def search_service_public_network_access_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.publicNetworkAccess`` is disabled; FAIL when enabled or absent,
    because indexed PHI can then be queried from the Internet with an API key. Absent means
    enabled, the API default (the service returns the value in lower case)."""
    return public_network_result(snapshot, "properties.publicNetworkAccess", "search service")


@check(
    id="search_service_local_auth_disabled",
    title="PHI AI Search services accept only Microsoft Entra ID (no API keys)",
    severity=Severity.MEDIUM,
    resource_types=SERVICES,
    hipaa=("164.312(a)(2)(i)", "164.312(d)"),
    phi_only=True,
    guidance="Grant Search Index Data Reader/Contributor roles to callers, then set "
    "disableLocalAuth to true.",
)
def search_service_local_auth_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.disableLocalAuth`` is true; FAIL when false or absent, because
    the admin and query API keys then read indexed PHI with no user behind the query. Absent
    means false: API keys work by default."""
    ev = Evidence(snapshot)
    if ev.flag("properties.disableLocalAuth", False):
        return ev.passed("The search service accepts only Microsoft Entra ID authentication.")
    return ev.failed("The search service still accepts its admin and query API keys.")


@check(
    id="search_service_customer_managed_key_enforced",
    title="PHI AI Search services enforce customer-managed keys on their content",
    severity=Severity.LOW,
    resource_types=SERVICES,
    hipaa=("164.312(a)(2)(iv)",),
    phi_only=True,
    guidance="Encrypt indexes and synonym maps with a Key Vault key, then set "
    "encryptionWithCmk.enforcement to Enabled.",
    limitations="Whether each index really names a key is a data-plane fact; the enforcement "
    "setting makes the service refuse content without one.",
)
def search_service_customer_managed_key_enforced(snapshot: Snapshot) -> Result:
    """PASS when ``properties.encryptionWithCmk.enforcement`` is Enabled; FAIL when Disabled,
    Unspecified or absent, because indexes holding PHI may then be created under
    Microsoft-managed keys only. Absent means Unspecified, the default."""
    ev = Evidence(snapshot)
    value = ev.text(
        "properties.encryptionWithCmk.enforcement", "Unspecified", empty_is_default=True
    )
    if value.lower() == "enabled":
        return ev.passed("Customer-managed keys are enforced on the service's content.")
    return ev.failed(f"Customer-managed keys are not enforced (enforcement: {value}).")
