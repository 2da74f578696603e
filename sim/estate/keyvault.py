"""Key vaults (Vaults_Get) and their access policies."""

from __future__ import annotations

from collections.abc import Sequence

from sim.estate.common import Doc, guid, header, resource_id, ts
from sim.estate.network import pe_connection


def vault(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    tenant: str,
    *,
    rbac: bool,
    access_policies: Sequence[Doc] = (),
    purge_protection: bool = True,
    public_network: str = "Disabled",
    default_action: str = "Deny",
    private_endpoints: Sequence[str] = (),
    created: int = 0,
) -> Doc:
    """Vaults_Get (2024-11-01 field set, with the soft-delete / purge / RBAC flags)."""
    rid = resource_id(sub, rg, "Microsoft.KeyVault/vaults", name)
    creator = guid("principal", "platform-automation")
    props: Doc = {
        "sku": {"family": "A", "name": "premium"},
        "tenantId": tenant,
        "accessPolicies": [dict(p) for p in access_policies],
        "enabledForDeployment": False,
        "enabledForDiskEncryption": True,
        "enabledForTemplateDeployment": False,
        "enableSoftDelete": True,
        "softDeleteRetentionInDays": 90,
        "enableRbacAuthorization": rbac,
        "vaultUri": f"https://{name}.vault.azure.net/",
        "provisioningState": "Succeeded",
        "publicNetworkAccess": public_network,
        "networkAcls": {
            "bypass": "AzureServices",
            "defaultAction": default_action,
            "ipRules": [],
            "virtualNetworkRules": [],
        },
    }
    if purge_protection:
        props["enablePurgeProtection"] = True
    if private_endpoints:
        props["privateEndpointConnections"] = [
            pe_connection(rid, "Microsoft.KeyVault/vaults", pe) for pe in private_endpoints
        ]
    return {
        **header(rid, name, "Microsoft.KeyVault/vaults", location, tags),
        "systemData": {
            "createdBy": creator,
            "createdByType": "Application",
            "createdAt": ts(created),
            "lastModifiedBy": creator,
            "lastModifiedByType": "Application",
            "lastModifiedAt": ts(created + 700),
        },
        "properties": props,
    }


def access_policy(
    tenant: str,
    object_id: str,
    keys: Sequence[str],
    secrets: Sequence[str],
    certificates: Sequence[str],
) -> Doc:
    return {
        "tenantId": tenant,
        "objectId": object_id,
        "permissions": {
            "keys": list(keys),
            "secrets": list(secrets),
            "certificates": list(certificates),
        },
    }
