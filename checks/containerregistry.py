"""Azure Container Registry (Microsoft.ContainerRegistry/registries): the images of PHI
workloads, and sometimes PHI itself baked into images or artifacts. Registries_Get 2023-07-01."""

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
        "5b9159ae-1701-4a6f-9a7a-aa9c8ddd0580": (
            "Container registries should be encrypted with a customer-managed key"
        ),
    }
)

REGISTRIES = ("microsoft.containerregistry/registries",)


@check(
    id="containerregistry_registry_admin_user_disabled",
    title="Container registries have the shared admin user disabled",
    severity=Severity.HIGH,
    resource_types=REGISTRIES,
    hipaa=("164.312(a)(2)(i)", "164.312(d)"),
    guidance="Set adminUserEnabled to false and pull with managed identities or Entra tokens "
    "(Access keys > Admin user: off).",
)
def containerregistry_registry_admin_user_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.adminUserEnabled`` is false or absent; FAIL when true, because
    the admin user is one shared name and password with push and pull rights, which no audit
    record can tie to a person. Absent means false, the default."""
    ev = Evidence(snapshot)
    if ev.flag("properties.adminUserEnabled", False):
        return ev.failed("The shared admin user is enabled.")
    return ev.passed("The shared admin user is disabled.")


@check(
    id="containerregistry_registry_anonymous_pull_disabled",
    title="Container registries do not allow anonymous pull",
    severity=Severity.HIGH,
    resource_types=REGISTRIES,
    hipaa=("164.312(a)(1)", "164.312(d)"),
    guidance="Set anonymousPullEnabled to false.",
)
def containerregistry_registry_anonymous_pull_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.anonymousPullEnabled`` is false or absent; FAIL when true,
    because anyone who can reach the registry can then download every image, including any
    configuration or data baked into them. Absent means false, the default."""
    ev = Evidence(snapshot)
    if ev.flag("properties.anonymousPullEnabled", False):
        return ev.failed("Anyone can pull images without signing in.")
    return ev.passed("Pulling images requires authentication.")


@check(
    id="containerregistry_registry_public_network_access_disabled",
    title="PHI container registries have public network access disabled",
    severity=Severity.MEDIUM,
    resource_types=REGISTRIES,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    phi_only=True,
    guidance="Use a Premium registry with private endpoints and set publicNetworkAccess to "
    "Disabled.",
    limitations="Network rule sets (Premium) that limit public access to IP ranges are not "
    "judged; such registries FAIL while publicNetworkAccess is Enabled.",
)
def containerregistry_registry_public_network_access_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.publicNetworkAccess`` is Disabled; FAIL when Enabled or absent.
    Absent means Enabled, the API default."""
    return public_network_result(snapshot, "properties.publicNetworkAccess", "registry")


@check(
    id="containerregistry_registry_customer_managed_key_enabled",
    title="PHI container registries encrypt content with a customer-managed key",
    severity=Severity.LOW,
    resource_types=REGISTRIES,
    hipaa=("164.312(a)(2)(iv)",),
    azure_policy=("5b9159ae-1701-4a6f-9a7a-aa9c8ddd0580",),
    phi_only=True,
    guidance="Create a Premium registry with encryption.status enabled and a Key Vault key "
    "(customer-managed keys are chosen at creation).",
)
def containerregistry_registry_customer_managed_key_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.encryption.status`` is enabled; FAIL when disabled or absent,
    because registry content is then encrypted only with Microsoft-managed keys. Absent means
    disabled, the default."""
    ev = Evidence(snapshot)
    status = ev.text("properties.encryption.status", "disabled", empty_is_default=True)
    if status.lower() == "enabled":
        return ev.passed("Registry content is encrypted with a customer-managed key.")
    return ev.failed("Registry content is encrypted only with Microsoft-managed keys.")
