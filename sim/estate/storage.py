"""Storage accounts and their blob services (StorageAccounts_GetProperties, BlobServices)."""

from __future__ import annotations

from collections.abc import Sequence

from sim.estate.common import Doc, guid, header, resource_id, system_identity, ts
from sim.estate.network import pe_connection


def account(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    tenant: str,
    *,
    cmk_vault: str | None = None,
    cmk_key: str = "",
    min_tls: str = "TLS1_2",
    public_blob: bool = False,
    default_action: str = "Deny",
    public_network: str = "Disabled",
    shared_key: bool = False,
    infrastructure_encryption: bool = True,
    https_only: bool = True,
    oauth_default: bool = True,
    private_endpoints: Sequence[str] = (),
    subnet_rules: Sequence[str] = (),
    created: int = 0,
    sku: str = "Standard_ZRS",
    immutable_days: int | None = None,
) -> Doc:
    """StorageAccounts_GetProperties (2025-01-01 field set); ``cmk_vault`` switches to CMK."""
    rid = resource_id(sub, rg, "Microsoft.Storage/storageAccounts", name)
    enabled_at = ts(created)
    encryption: Doc = {
        "requireInfrastructureEncryption": infrastructure_encryption,
        "services": {
            "file": {
                "keyType": "Account",
                "enabled": True,
                "lastEnabledTime": enabled_at,
            },
            "blob": {
                "keyType": "Account",
                "enabled": True,
                "lastEnabledTime": enabled_at,
            },
        },
        "keySource": "Microsoft.Storage",
    }
    doc: Doc = {
        "sku": {"name": sku, "tier": "Standard"},
        "kind": "StorageV2",
        **header(rid, name, "Microsoft.Storage/storageAccounts", location, tags),
    }
    if cmk_vault is not None:
        version = guid(rid, "cmk-version").replace("-", "")
        encryption["keySource"] = "Microsoft.Keyvault"
        encryption["keyvaultproperties"] = {
            "keyvaulturi": f"https://{cmk_vault}.vault.azure.net",
            "keyname": cmk_key,
            "keyversion": "",
            "currentVersionedKeyIdentifier": (
                f"https://{cmk_vault}.vault.azure.net/keys/{cmk_key}/{version}"
            ),
            "lastKeyRotationTimestamp": ts(created + 24),
        }
        doc["identity"] = system_identity(rid, tenant)
    endpoints = {
        kind: f"https://{name}.{kind}.core.windows.net/"
        for kind in ("dfs", "web", "blob", "queue", "table", "file")
    }
    doc["properties"] = {
        "keyCreationTime": {"key1": ts(created), "key2": ts(created)},
        "allowCrossTenantReplication": False,
        "privateEndpointConnections": [
            pe_connection(rid, "Microsoft.Storage/storageAccounts", pe) for pe in private_endpoints
        ],
        "minimumTlsVersion": min_tls,
        "allowBlobPublicAccess": public_blob,
        "allowSharedKeyAccess": shared_key,
        "defaultToOAuthAuthentication": oauth_default,
        "publicNetworkAccess": public_network,
        "networkAcls": {
            "bypass": "AzureServices",
            "virtualNetworkRules": [
                {"id": s, "action": "Allow", "state": "Succeeded"} for s in subnet_rules
            ],
            "ipRules": [],
            "resourceAccessRules": [],
            "defaultAction": default_action,
        },
        "supportsHttpsTrafficOnly": https_only,
        "encryption": encryption,
        "accessTier": "Hot",
        "provisioningState": "Succeeded",
        "creationTime": ts(created),
        "primaryEndpoints": endpoints,
        "primaryLocation": location,
        "statusOfPrimary": "available",
    }
    if immutable_days is not None:
        doc["properties"]["immutableStorageWithVersioning"] = {
            "enabled": True,
            "immutabilityPolicy": {
                "immutabilityPeriodSinceCreationInDays": immutable_days,
                "state": "Locked",
                "allowProtectedAppendWrites": True,
            },
        }
    return doc


def blob_service(account_id: str, *, soft_delete_days: int | None, versioning: bool) -> Doc:
    """BlobServices_GetServiceProperties; ``soft_delete_days=None`` means soft delete is off."""
    retention: Doc = (
        {"allowPermanentDelete": False, "enabled": True, "days": soft_delete_days}
        if soft_delete_days
        else {"allowPermanentDelete": False, "enabled": False}
    )
    return {
        "sku": {"name": "Standard_ZRS", "tier": "Standard"},
        **header(
            f"{account_id}/blobServices/default",
            "default",
            "Microsoft.Storage/storageAccounts/blobServices",
        ),
        "properties": {
            "cors": {"corsRules": []},
            "deleteRetentionPolicy": retention,
            "containerDeleteRetentionPolicy": dict(retention),
            "isVersioningEnabled": versioning,
            "changeFeed": {"enabled": versioning, "retentionInDays": 90}
            if versioning
            else {"enabled": False},
        },
    }


def file_service(account_id: str, *, soft_delete_days: int | None, sku: str) -> Doc:
    """FileServices_GetServiceProperties; ``soft_delete_days=None`` means share soft delete is
    off."""
    retention: Doc = (
        {"enabled": True, "days": soft_delete_days} if soft_delete_days else {"enabled": False}
    )
    return {
        "sku": {"name": sku, "tier": "Standard"},
        **header(
            f"{account_id}/fileServices/default",
            "default",
            "Microsoft.Storage/storageAccounts/fileServices",
        ),
        "properties": {
            "cors": {"corsRules": []},
            "shareDeleteRetentionPolicy": retention,
            "protocolSettings": {"smb": {}},
        },
    }
