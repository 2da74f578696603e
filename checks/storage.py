"""Storage account checks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from checks.common import (
    Evidence,
    as_bool,
    audit_logs_result,
    private_endpoint_states,
)
from checks.registry import check, register_policy_definitions
from shared.kernel.findings import Result, Severity, not_applicable
from shared.kernel.snapshot import MalformedResource, Snapshot

STORAGE = ("microsoft.storage/storageaccounts",)

# Built-in definitions verified in Azure/azure-policy, built-in-policies/policyDefinitions/Storage/:
register_policy_definitions(
    {
        # StorageAccountAllowSharedKeyAccess_Audit.json
        "8c6a50c6-9ffd-4ae7-986f-5fa6111f9a54": "Storage accounts should prevent shared key access",
        # StorageAccountInfrastructureEncryptionEnabled_Audit.json
        "4733ea7b-a883-42fe-8cac-97454c2a9e4a": (
            "Storage accounts should have infrastructure encryption"
        ),
        # StorageAccountPrivateEndpointEnabled_Audit.json
        "6edd7eda-6dd8-40f7-810d-67160c639cd9": "Storage accounts should use private link",
        # StoragePublicNetworkAccess_AuditDeny.json
        "b2982f36-99f2-4db5-8eff-283140c09693": (
            "Storage accounts should disable public network access"
        ),
        # StorageAccountAllowCrossTenantReplication_Audit.json
        "92a89a79-6c52-4a7e-a03f-61306fc49312": (
            "Storage accounts should prevent cross tenant object replication"
        ),
        # StorageAccountEnableBlobVersion_Audit.json (evaluates the blobServices child)
        "c36a325b-ae04-4863-ad4f-19c6678f8e08": (
            "Configure your Storage account to enable blob versioning"
        ),
    }
)

# Account kinds without a blob service (premium file shares only).
_NO_BLOB_KINDS = frozenset({"filestorage"})
_TLS_RE = re.compile(r"^TLS1_(\d)$")
# Blob soft-delete retention phiguard requires: the CIS Azure benchmark's floor of 7 days.
MIN_SOFT_DELETE_DAYS = 7


def _flag(ev: Evidence, path: str, default: bool) -> bool:
    """A boolean under ``properties``; null or absent means ``default``, else malformed."""
    return ev.flag(f"properties.{path}", default)


def _text(ev: Evidence, path: str, default: str) -> str:
    """A string under ``properties``: null, absent or empty means ``default``."""
    return ev.text(f"properties.{path}", default, empty_is_default=True)


def _no_blob_service(snapshot: Snapshot) -> Result | None:
    if snapshot.kind in _NO_BLOB_KINDS:
        return not_applicable("The account is of kind FileStorage, which has no blob service.")
    return None


def _blob_service_props(snapshot: Snapshot) -> Mapping[str, Any]:
    doc = snapshot.doc("blob_service")
    if not isinstance(doc, Mapping):
        raise MalformedResource(f"related.blob_service is {type(doc).__name__}, expected an object")
    props = doc.get("properties")
    if props is None:
        return {}
    if not isinstance(props, Mapping):
        raise MalformedResource("related.blob_service.properties is not an object")
    return props


def _related(ev: Evidence, props: Mapping[str, Any], path: str, default: Any) -> Any:
    """A value under ``related.blob_service.properties``, recorded in the evidence (null or
    absent: ``default``)."""
    return ev.read_in(props, path, default, f"related.blob_service.properties.{path}")


@check(
    id="storage_account_secure_transfer_required",
    remediation="storage_account_secure_transport",
    title="Storage accounts accept only secure (HTTPS) transfer",
    severity=Severity.HIGH,
    resource_types=STORAGE,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    azure_policy=("404c3081-a854-4457-ae30-26a93ef643f9",),
    guidance="Set supportsHttpsTrafficOnly to true (Configuration > Secure transfer required).",
)
def storage_account_secure_transfer_required(snapshot: Snapshot) -> Result:
    """PASS when ``properties.supportsHttpsTrafficOnly`` is true; FAIL when it is false, because
    plain HTTP exposes PHI in transit. Absent (or null) means true: the default since API
    2019-04-01."""
    ev = Evidence(snapshot)
    if _flag(ev, "supportsHttpsTrafficOnly", True):
        return ev.passed("Only HTTPS requests are accepted.")
    return ev.failed("The account accepts unencrypted HTTP requests.")


@check(
    id="storage_account_min_tls_1_2",
    remediation="storage_account_secure_transport",
    title="Storage accounts reject requests that use TLS older than 1.2",
    severity=Severity.HIGH,
    resource_types=STORAGE,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    azure_policy=("fe83a0eb-a853-422d-aac2-1bffd182c5d0",),
    guidance="Set minimumTlsVersion to TLS1_2 (Configuration > Minimum TLS version).",
    limitations="Shows the account's floor only; it cannot show which TLS versions clients use.",
)
def storage_account_min_tls_1_2(snapshot: Snapshot) -> Result:
    """PASS when ``properties.minimumTlsVersion`` is TLS1_2 or later; FAIL for TLS1_0 or TLS1_1,
    whose known weaknesses put PHI in transit at risk. Absent (or null / empty) means TLS1_0:
    the REST API documents "the default interpretation is TLS 1.0 for this property", and the
    Azure Storage docs say an account without the property accepts TLS 1.0 or greater (only
    portal-created accounts get TLS1_2 explicitly). Any value not of the form TLS1_<n> is
    malformed."""
    ev = Evidence(snapshot)
    version = _text(ev, "minimumTlsVersion", "TLS1_0")
    match = _TLS_RE.match(version.strip().upper())
    if match is None:
        raise MalformedResource(f"properties.minimumTlsVersion is {version!r}, not TLS1_<n>")
    if int(match.group(1)) >= 2:
        return ev.passed(f"The minimum TLS version is {version}.")
    return ev.failed(f"The account accepts TLS versions down to {version}.")


@check(
    id="storage_account_blob_public_access_disabled",
    remediation="storage_account_secure_transport",
    title="Storage accounts disallow anonymous public access to blobs",
    severity=Severity.HIGH,
    resource_types=STORAGE,
    hipaa=("164.312(a)(1)", "164.312(d)"),
    azure_policy=("4fa4b6c0-31ca-4c0d-b10d-24b96f62a751",),
    guidance="Set allowBlobPublicAccess to false (Configuration > Allow Blob anonymous access).",
    limitations="Container-level access levels are not read; the account setting overrides them.",
)
def storage_account_blob_public_access_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.allowBlobPublicAccess`` is false, so no container can serve blobs
    without authentication; FAIL when it is true, because one container set to public access
    would expose PHI to anyone with the URL. Absent (or null) means true: Azure Storage docs
    ("Remediate anonymous read access to blob data") say the property is not set by default on
    older accounts and anonymous access is permitted when it is null; accounts created since
    late 2023 report false explicitly. NOT_APPLICABLE for FileStorage accounts (no blobs)."""
    skipped = _no_blob_service(snapshot)
    if skipped is not None:
        return skipped
    ev = Evidence(snapshot)
    if _flag(ev, "allowBlobPublicAccess", True):
        return ev.failed("Anonymous public access to blobs is allowed on the account.")
    return ev.passed("Anonymous public access to blobs is disallowed on the account.")


@check(
    id="storage_account_public_network_access_restricted",
    title="Storage accounts deny public network access by default",
    severity=Severity.HIGH,
    resource_types=STORAGE,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    azure_policy=("34c877ad-507e-4c82-993e-3452a6e0ad3c", "b2982f36-99f2-4db5-8eff-283140c09693"),
    guidance=(
        "Set publicNetworkAccess to Disabled and use private endpoints, or set "
        "networkAcls.defaultAction to Deny and allow only the networks that need access."
    ),
    limitations=(
        "The allowed IP ranges and virtual network rules are not judged, and for "
        "publicNetworkAccess SecuredByPerimeter the perimeter's own rules are not visible."
    ),
)
def storage_account_public_network_access_restricted(snapshot: Snapshot) -> Result:
    """PASS when ``properties.publicNetworkAccess`` is Disabled or
    ``properties.networkAcls.defaultAction`` is Deny; FAIL when the account accepts traffic
    from any network, which leaves PHI reachable from the Internet with only a key or token
    between it and an attacker. Absent publicNetworkAccess is taken as Enabled (only an explicit
    Disabled turns the public endpoint off; otherwise the firewall decides) and absent
    networkAcls.defaultAction as Allow, the REST API default of the account firewall. Values
    compare case-insensitively."""
    ev = Evidence(snapshot)
    public = _text(ev, "publicNetworkAccess", "Enabled")
    if public.lower() == "disabled":
        return ev.passed("Public network access is disabled.")
    action = _text(ev, "networkAcls.defaultAction", "Allow")
    if action.lower() == "deny":
        return ev.passed("The firewall denies networks that are not explicitly allowed.")
    return ev.failed("The account accepts traffic from all networks.")


@check(
    id="storage_account_private_endpoint_approved",
    title="PHI storage accounts are reached through an approved private endpoint",
    severity=Severity.MEDIUM,
    resource_types=STORAGE,
    hipaa=("164.312(e)(1)", "164.312(a)(1)"),
    azure_policy=("6edd7eda-6dd8-40f7-810d-67160c639cd9",),
    phi_only=True,
    guidance=(
        "Create a private endpoint for the account (Networking > Private endpoint connections) "
        "and approve the connection."
    ),
    limitations="Does not verify the private endpoint's subnet, DNS zone or which clients use it.",
)
def storage_account_private_endpoint_approved(snapshot: Snapshot) -> Result:
    """PASS when ``properties.privateEndpointConnections`` holds a connection whose
    ``privateLinkServiceConnectionState.status`` is Approved (case-insensitive), so PHI can
    travel over the Azure backbone instead of the public endpoint; FAIL when there is none, or
    only Pending / Rejected / Disconnected ones. Absent (or null) means no connections: ARM lists
    them in the account body (the read-only privateEndpointConnections property)."""
    ev = Evidence(snapshot)
    raw = snapshot.prop("privateEndpointConnections")
    states = private_endpoint_states(snapshot)
    where = "properties.privateEndpointConnections[*].properties.privateLinkServiceConnectionState"
    absent = {"absent": True, "assumed": []}
    ev.note(f"{where}.status", [s for _, s in states] if raw is not None else absent)
    approved = [name for name, status in states if status.lower() == "approved"]
    if approved:
        return ev.passed(f"Private endpoint connection {approved[0]!r} is approved.")
    if not states:
        return ev.failed("The account has no private endpoint connection.")
    return ev.failed("None of the account's private endpoint connections is approved.")


@check(
    id="storage_account_shared_key_access_disabled",
    title="PHI storage accounts reject Shared Key authorization and require Entra ID",
    severity=Severity.MEDIUM,
    resource_types=STORAGE,
    hipaa=("164.312(a)(2)(i)", "164.312(d)"),
    azure_policy=("8c6a50c6-9ffd-4ae7-986f-5fa6111f9a54",),
    phi_only=True,
    guidance=(
        "Move clients to Microsoft Entra ID authorization, then set allowSharedKeyAccess to "
        "false (Configuration > Allow storage account key access)."
    ),
    limitations="Cannot show whether clients still depend on account keys or SAS tokens.",
)
def storage_account_shared_key_access_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.allowSharedKeyAccess`` is false, so every request to PHI is made by
    an identified Entra ID principal; FAIL when it is true, because account keys and key-signed
    SAS tokens are shared secrets that identify no user and grant full data access. Absent (or
    null) means true: Azure Storage docs ("Prevent Shared Key authorization") say the account
    permits Shared Key when the property is null or true."""
    ev = Evidence(snapshot)
    if _flag(ev, "allowSharedKeyAccess", True):
        return ev.failed("Requests signed with the account keys are accepted.")
    return ev.passed("Shared Key authorization is disallowed.")


@check(
    id="storage_account_customer_managed_key_enabled",
    title="PHI storage accounts encrypt data at rest with a customer-managed key",
    severity=Severity.HIGH,
    resource_types=STORAGE,
    hipaa=("164.312(a)(2)(iv)",),
    azure_policy=("6fac406b-40ca-413b-bf8e-0bf964659c25",),
    phi_only=True,
    patterns=("P1",),
    guidance=(
        "Configure encryption with a customer-managed key in Key Vault or Managed HSM "
        "(Encryption > Customer-managed keys), using a managed identity with key access."
    ),
    limitations=(
        "Encryption scopes with their own keys are not read, nor whether the Key Vault key is "
        "enabled, rotated or protected against purge."
    ),
)
def storage_account_customer_managed_key_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.encryption.keySource`` is Microsoft.Keyvault (case-insensitive),
    so the organization controls, rotates and can revoke the key that protects PHI; FAIL when it
    is Microsoft.Storage (Microsoft-managed keys). Absent means Microsoft.Storage: Azure Storage
    encrypts all data with Microsoft-managed keys unless a customer-managed key is configured
    (Azure Storage encryption docs; the REST API lists the values, case-insensitive)."""
    ev = Evidence(snapshot)
    source = _text(ev, "encryption.keySource", "Microsoft.Storage")
    if source.lower() == "microsoft.keyvault":
        return ev.passed("Data at rest is encrypted with a customer-managed key.")
    return ev.failed(f"Data at rest is encrypted with keys from {source}, not a customer key.")


@check(
    id="storage_account_infrastructure_encryption_enabled",
    title="PHI storage accounts use infrastructure (double) encryption",
    severity=Severity.LOW,
    resource_types=STORAGE,
    hipaa=("164.312(a)(2)(iv)",),
    azure_policy=("4733ea7b-a883-42fe-8cac-97454c2a9e4a",),
    phi_only=True,
    guidance=(
        "Infrastructure encryption can only be chosen when an account is created: create a new "
        "account with requireInfrastructureEncryption true and move the data."
    ),
)
def storage_account_infrastructure_encryption_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.encryption.requireInfrastructureEncryption`` is true, so PHI is
    encrypted a second time at the infrastructure layer with a different key and algorithm;
    FAIL when it is false, leaving a single layer of service encryption. Absent (or null) means
    false: infrastructure encryption is off unless requested when the account is created."""
    ev = Evidence(snapshot)
    if _flag(ev, "encryption.requireInfrastructureEncryption", False):
        return ev.passed("Infrastructure encryption is enabled.")
    return ev.failed("Infrastructure encryption is not enabled.")


@check(
    id="storage_account_blob_soft_delete_enabled",
    title=(
        f"PHI storage accounts keep deleted blobs recoverable for at least "
        f"{MIN_SOFT_DELETE_DAYS} days"
    ),
    severity=Severity.MEDIUM,
    resource_types=STORAGE,
    hipaa=("164.308(a)(7)(ii)(A)", "164.308(a)(7)(ii)(B)", "164.312(c)(1)"),
    phi_only=True,
    needs=("blob_service",),
    guidance=(
        f"Enable soft delete for blobs with a retention of at least {MIN_SOFT_DELETE_DAYS} days "
        "(Data protection > Enable soft delete for blobs) and leave permanent delete off."
    ),
    limitations="Container soft delete, point-in-time restore and backups are not read.",
)
def storage_account_blob_soft_delete_enabled(snapshot: Snapshot) -> Result:
    """PASS when the blob service's ``deleteRetentionPolicy.enabled`` is true with ``days`` of
    at least 7 and ``allowPermanentDelete`` is not true; FAIL when soft delete is off, shorter,
    or soft-deleted data can be purged early, because a deleted or overwritten PHI blob could
    not be recovered. 7 days is phiguard's floor, taken from the CIS Azure benchmark's 7-365 day
    range. Absent deleteRetentionPolicy means disabled (the blob service default); absent
    allowPermanentDelete means false. NOT_APPLICABLE for FileStorage accounts (no blobs)."""
    skipped = _no_blob_service(snapshot)
    if skipped is not None:
        return skipped
    ev = Evidence(snapshot)
    props = _blob_service_props(snapshot)
    enabled = as_bool(
        _related(ev, props, "deleteRetentionPolicy.enabled", False),
        "related.blob_service.properties.deleteRetentionPolicy.enabled",
    )
    if not enabled:
        return ev.failed("Soft delete for blobs is disabled.")
    days = _related(ev, props, "deleteRetentionPolicy.days", None)
    if not isinstance(days, int) or isinstance(days, bool):
        raise MalformedResource(
            f"related.blob_service.properties.deleteRetentionPolicy.days is {days!r}, "
            "expected a number of days"
        )
    purge = as_bool(
        _related(ev, props, "deleteRetentionPolicy.allowPermanentDelete", False),
        "related.blob_service.properties.deleteRetentionPolicy.allowPermanentDelete",
    )
    if days < MIN_SOFT_DELETE_DAYS:
        return ev.failed(f"Deleted blobs are kept {days} days, fewer than {MIN_SOFT_DELETE_DAYS}.")
    if purge:
        return ev.failed("Soft-deleted blob versions and snapshots may be permanently deleted.")
    return ev.passed(f"Deleted blobs are kept for {days} days.")


@check(
    id="storage_account_blob_versioning_enabled",
    title="PHI storage accounts keep previous blob versions",
    severity=Severity.MEDIUM,
    resource_types=STORAGE,
    hipaa=("164.308(a)(7)(ii)(A)", "164.312(c)(1)"),
    azure_policy=("c36a325b-ae04-4863-ad4f-19c6678f8e08",),
    phi_only=True,
    needs=("blob_service",),
    guidance="Enable blob versioning (Data protection > Enable versioning for blobs).",
    limitations="Lifecycle rules that delete old versions are not read.",
)
def storage_account_blob_versioning_enabled(snapshot: Snapshot) -> Result:
    """PASS when the blob service's ``isVersioningEnabled`` is true, so every overwrite or
    deletion of a PHI blob leaves a restorable previous version; FAIL when it is false. Absent
    (or null) means false: versioning is off unless enabled. NOT_APPLICABLE for FileStorage
    accounts, and for accounts with a hierarchical namespace (``isHnsEnabled``) that have not
    enabled it, since Azure Storage docs list blob versioning as not generally available there
    ("Blob Storage feature support in Azure Storage accounts")."""
    skipped = _no_blob_service(snapshot)
    if skipped is not None:
        return skipped
    ev = Evidence(snapshot)
    props = _blob_service_props(snapshot)
    versioning = as_bool(
        _related(ev, props, "isVersioningEnabled", False),
        "related.blob_service.properties.isVersioningEnabled",
    )
    if versioning:
        return ev.passed("Blob versioning is enabled.")
    if _flag(ev, "isHnsEnabled", False):
        return not_applicable(
            "Blob versioning is not generally available for accounts with a hierarchical "
            "namespace.",
            ev.values,
        )
    return ev.failed("Blob versioning is disabled.")


@check(
    id="storage_account_blob_diagnostic_logs_enabled",
    remediation="monitoring_diagnostic_settings_audit",
    title="PHI storage accounts send blob read, write and delete logs to retained storage",
    severity=Severity.HIGH,
    resource_types=STORAGE,
    hipaa=("164.312(b)", "164.308(a)(1)(ii)(D)"),
    phi_only=True,
    needs=("blob_diagnostic_settings",),
    patterns=("P5",),
    guidance=(
        "Add a diagnostic setting on the blob service (Monitoring > Diagnostic settings > blob) "
        "that sends StorageRead, StorageWrite and StorageDelete (or the audit / allLogs group) "
        "to a Log Analytics workspace or a storage account with six-year retention."
    ),
    limitations=(
        "Retention of the destination is not judged here, and logs of the file, queue and table "
        "services are not read."
    ),
)
def storage_account_blob_diagnostic_logs_enabled(snapshot: Snapshot) -> Result:
    """PASS when a diagnostic setting of the blob service enables the audit or allLogs group or
    any of StorageRead / StorageWrite / StorageDelete and sends it to a Log Analytics workspace
    or a storage account; FAIL when there is no such setting (none at all, logs off, or an
    Event Hub only), because access to PHI blobs then leaves no reviewable record. There is no
    default: blob logs are collected only when a setting exists. NOT_APPLICABLE for FileStorage
    accounts (no blobs)."""
    skipped = _no_blob_service(snapshot)
    if skipped is not None:
        return skipped
    return audit_logs_result(
        snapshot,
        ("StorageRead", "StorageWrite", "StorageDelete"),
        "blob access logs",
        key="blob_diagnostic_settings",
    )


@check(
    id="storage_account_cross_tenant_replication_disabled",
    title="PHI storage accounts disallow object replication to other Entra tenants",
    severity=Severity.MEDIUM,
    resource_types=STORAGE,
    hipaa=("164.312(a)(1)", "164.308(a)(4)(ii)(B)"),
    azure_policy=("92a89a79-6c52-4a7e-a03f-61306fc49312",),
    phi_only=True,
    guidance=(
        "Set allowCrossTenantReplication to false (Data management > Object replication > "
        "Advanced settings) after removing any cross-tenant replication policy."
    ),
    limitations="Existing object replication policies and their destinations are not read.",
)
def storage_account_cross_tenant_replication_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.allowCrossTenantReplication`` is false, so PHI blobs can only be
    replicated to accounts in the same Entra tenant; FAIL when it is true, because a
    replication policy could copy PHI into an account the organization does not control.
    Absent (or null) means true: Azure Storage docs ("Prevent object replication across
    Microsoft Entra tenants") say the property is not set by default and cross-tenant policies
    are permitted when it is null; accounts created since late 2023 report false explicitly."""
    ev = Evidence(snapshot)
    if _flag(ev, "allowCrossTenantReplication", True):
        return ev.failed("Object replication to accounts in other tenants is allowed.")
    return ev.passed("Object replication is limited to accounts in the same tenant.")


@check(
    id="storage_account_oauth_default_enabled",
    title="PHI storage accounts default to Entra ID authorization in the Azure portal",
    severity=Severity.LOW,
    resource_types=STORAGE,
    hipaa=("164.312(d)",),
    phi_only=True,
    guidance=(
        "Set defaultToOAuthAuthentication to true (Configuration > Default to Microsoft Entra "
        "authorization in the Azure portal)."
    ),
    limitations="Affects the portal's default only; clients may still use keys if allowed.",
)
def storage_account_oauth_default_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.defaultToOAuthAuthentication`` is true, so people browsing PHI in
    the portal are authorized (and logged) as themselves; FAIL when it is false, because the
    portal then reads data with the account key, which identifies nobody. Absent (or null)
    means false: the REST API's "default interpretation is false for this property"."""
    ev = Evidence(snapshot)
    if _flag(ev, "defaultToOAuthAuthentication", False):
        return ev.passed("The portal authorizes data access with Entra ID by default.")
    return ev.failed("The portal authorizes data access with the account key by default.")


# --- backup and recovery (issue 14, area 2) ---------------------------------------------------

_GEO_SKUS = ("_grs", "_ragrs", "_gzrs", "_ragzrs")


@check(
    id="storage_account_geo_redundant",
    title="PHI storage accounts replicate to a second region (GRS, RA-GRS, GZRS or RA-GZRS)",
    severity=Severity.MEDIUM,
    resource_types=STORAGE,
    hipaa=("164.308(a)(7)(ii)(B)", "164.308(a)(7)(ii)(C)", "164.310(d)(2)(iv)"),
    phi_only=True,
    guidance="Change the account's redundancy to GZRS or GRS (Data management > Redundancy); "
    "Premium accounts need a copy elsewhere (object replication or backup).",
    limitations="Object replication and Azure Backup of blobs or shares, which can stand in for "
    "geo-replication, are not read.",
)
def storage_account_geo_redundant(snapshot: Snapshot) -> Result:
    """PASS when ``sku.name`` ends in GRS, RAGRS, GZRS or RAGZRS; FAIL for LRS and ZRS
    (including Premium), because every copy of the PHI then sits in one region and a regional
    disaster loses it. The sku is always present in storage account bodies."""
    ev = Evidence(snapshot)
    sku = ev.text("sku.name", None)
    if sku is None:
        raise MalformedResource("sku.name is missing")
    if sku.lower().endswith(_GEO_SKUS):
        return ev.passed(f"The account replicates to a second region ({sku}).")
    return ev.failed(f"The account keeps every copy in one region ({sku}).")


@check(
    id="storage_account_file_share_soft_delete_enabled",
    title=(
        f"PHI storage accounts keep deleted file shares recoverable for at least "
        f"{MIN_SOFT_DELETE_DAYS} days"
    ),
    severity=Severity.MEDIUM,
    resource_types=STORAGE,
    hipaa=("164.308(a)(7)(ii)(A)", "164.312(c)(1)"),
    phi_only=True,
    needs=("file_service",),
    guidance=f"Enable soft delete for file shares with at least {MIN_SOFT_DELETE_DAYS} days "
    "(Data protection > Enable soft delete for file shares).",
    limitations="Share snapshots and Azure Backup of shares are not read.",
)
def storage_account_file_share_soft_delete_enabled(snapshot: Snapshot) -> Result:
    """PASS when the file service's ``shareDeleteRetentionPolicy.enabled`` is true with
    ``days`` of at least 7; FAIL when it is off or shorter, because a deleted share of PHI
    documents could not be recovered. NOT_APPLICABLE to BlockBlobStorage and BlobStorage
    accounts (no file service). Absent shareDeleteRetentionPolicy means disabled: the check
    does not assume the portal's default for new accounts."""
    if snapshot.kind in ("blockblobstorage", "blobstorage"):
        return not_applicable(f"The account is of kind {snapshot.kind}, which has no file shares.")
    ev = Evidence(snapshot)
    doc = snapshot.doc("file_service")
    if not isinstance(doc, Mapping):
        raise MalformedResource(f"related.file_service is {type(doc).__name__}, expected an object")
    props = doc.get("properties") or {}
    if not isinstance(props, Mapping):
        raise MalformedResource("related.file_service.properties is not an object")
    where = "related.file_service.properties.shareDeleteRetentionPolicy"
    enabled = ev.flag(
        "shareDeleteRetentionPolicy.enabled", False, document=props, where=f"{where}.enabled"
    )
    if not enabled:
        return ev.failed("Soft delete for file shares is disabled.")
    days = ev.number("shareDeleteRetentionPolicy.days", None, document=props, where=f"{where}.days")
    if days is None:
        raise MalformedResource(f"{where}.days is missing")
    if days < MIN_SOFT_DELETE_DAYS:
        return ev.failed(
            f"Deleted file shares are kept {days} days, fewer than {MIN_SOFT_DELETE_DAYS}."
        )
    return ev.passed(f"Deleted file shares are kept {days} days.")
