"""FHIR servers: Azure API for FHIR (Microsoft.HealthcareApis/services) and Azure Health Data
Services FHIR services (Microsoft.HealthcareApis/workspaces/fhirservices), 2024-03-31 bodies.
Their audit logs (AuditLogs) are judged by monitoring_resource_audit_logs_enabled."""

from __future__ import annotations

from checks.common import Evidence, as_list, public_network_result
from checks.registry import check
from shared.kernel.findings import Result, Severity
from shared.kernel.snapshot import MalformedResource, Snapshot

FHIR = ("microsoft.healthcareapis/services", "microsoft.healthcareapis/workspaces/fhirservices")
_API_FOR_FHIR = "microsoft.healthcareapis/services"


@check(
    id="health_fhir_public_network_access_disabled",
    title="FHIR services have public network access disabled",
    severity=Severity.HIGH,
    resource_types=FHIR,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    guidance="Add a private endpoint to the FHIR service (or its workspace), then set "
    "publicNetworkAccess to Disabled.",
    limitations="A FHIR server holds PHI by definition, so the check runs whatever the tags say. "
    "The built-in policy for Azure API for FHIR private links asks for a connection, not for "
    "closed public access, so it is not cited.",
)
def health_fhir_public_network_access_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.publicNetworkAccess`` is Disabled; FAIL when Enabled or absent,
    because patient records are then reachable from the Internet with a token alone. Absent
    means Enabled, the API default."""
    return public_network_result(snapshot, "properties.publicNetworkAccess", "FHIR service")


@check(
    id="health_fhir_customer_managed_key_enabled",
    title="FHIR services encrypt patient data with a customer-managed key",
    severity=Severity.MEDIUM,
    resource_types=FHIR,
    hipaa=("164.312(a)(2)(iv)",),
    patterns=("P1",),
    guidance="Azure API for FHIR: set cosmosDbConfiguration.keyVaultKeyUri; FHIR service: set "
    "encryption.customerManagedKeyEncryption.keyEncryptionKeyUrl (chosen at creation).",
    limitations="Whether the key is enabled, rotated and purge-protected is a fact of the vault.",
)
def health_fhir_customer_managed_key_enabled(snapshot: Snapshot) -> Result:
    """PASS when the FHIR server names a Key Vault key: ``properties.cosmosDbConfiguration.
    keyVaultKeyUri`` (Azure API for FHIR) or ``properties.encryption.
    customerManagedKeyEncryption.keyEncryptionKeyUrl`` (FHIR service); FAIL when it is null or
    absent, because patient records are then encrypted only with Microsoft-managed keys. Absent
    or null means Microsoft-managed keys, the default."""
    ev = Evidence(snapshot)
    if snapshot.type == _API_FOR_FHIR:
        key = ev.text(
            "properties.cosmosDbConfiguration.keyVaultKeyUri", None, empty_is_default=True
        )
    else:
        key = ev.text(
            "properties.encryption.customerManagedKeyEncryption.keyEncryptionKeyUrl",
            None,
            empty_is_default=True,
        )
    if key:
        return ev.passed("Patient data is encrypted with a customer-managed Key Vault key.")
    return ev.failed("Patient data is encrypted only with Microsoft-managed keys.")


@check(
    id="health_fhir_cors_no_wildcard",
    title="FHIR services allow no wildcard CORS origin",
    severity=Severity.MEDIUM,
    resource_types=FHIR,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    guidance="List the exact origins of the SMART on FHIR and web apps in "
    "corsConfiguration.origins instead of '*'.",
)
def health_fhir_cors_no_wildcard(snapshot: Snapshot) -> Result:
    """PASS when ``properties.corsConfiguration.origins`` lists no ``*``; FAIL when it does,
    because any web page a signed-in clinician visits could then call the FHIR API with their
    token and read patient records. Absent means no CORS origin (browsers are refused)."""
    ev = Evidence(snapshot)
    origins = as_list(
        ev.prop("corsConfiguration.origins", None), "properties.corsConfiguration.origins"
    )
    if not all(isinstance(o, str) for o in origins):
        raise MalformedResource("properties.corsConfiguration.origins holds a non-string origin")
    if any(o.strip() == "*" for o in origins):
        credentials = ev.flag("properties.corsConfiguration.allowCredentials", False)
        extra = " with credentials" if credentials else ""
        return ev.failed(f"Any web origin may call the FHIR API{extra} (CORS '*').")
    return ev.passed(f"CORS admits {len(origins)} named origin(s) and no wildcard.")
