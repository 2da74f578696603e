"""Databases: Azure SQL servers (with encryption protector and auditing) and databases (with
TDE), and Cosmos DB accounts."""

from __future__ import annotations

from collections.abc import Sequence

from sim.estate.common import TRAILING, Doc, guid, header, resource_id, ts
from sim.estate.network import pe_connection

_SERVER = "Microsoft.Sql/servers"


def server(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    tenant: str,
    *,
    cmk_vault: str | None,
    cmk_key: str = "",
    auditing: bool = True,
    audit_storage: str = "",
    audit_retention_days: int = 2192,
    public_network: str = "Disabled",
    private_endpoints: Sequence[str] = (),
) -> list[Doc]:
    """Servers_Get + EncryptionProtectors_Get (``current``) + ServerBlobAuditingPolicies_Get."""
    rid = resource_id(sub, rg, _SERVER, name)
    admins_group = guid("principal", "group", "sql-admins")
    key_uri = ""
    props: Doc = {
        "administratorLogin": "chs-sqladmin",
        "version": "12.0",
        "state": "Ready",
        "fullyQualifiedDomainName": f"{name}.database.windows.net",
        "privateEndpointConnections": [pe_connection(rid, _SERVER, pe) for pe in private_endpoints],
        "minimalTlsVersion": "1.2",
        "publicNetworkAccess": public_network,
        "administrators": {
            "administratorType": "ActiveDirectory",
            "principalType": "Group",
            "login": "chs-sql-admins",
            "sid": admins_group,
            "tenantId": tenant,
            "azureADOnlyAuthentication": True,
        },
        "restrictOutboundNetworkAccess": "Disabled",
    }
    if cmk_vault is not None:
        key_uri = (
            f"https://{cmk_vault}.vault.azure.net/keys/{cmk_key}/"
            f"{guid(rid, 'tde-key').replace('-', '')}"
        )
        props["keyId"] = key_uri
    server_doc: Doc = {
        "identity": {
            "principalId": guid(rid, "identity"),
            "type": "SystemAssigned",
            "tenantId": tenant,
        },
        "kind": "v12.0",
        **header(rid, name, _SERVER, location, tags, order=TRAILING),
        "properties": props,
    }
    protector_header = header(
        f"{rid}/encryptionProtector/current",
        "current",
        f"{_SERVER}/encryptionProtector",
        location,
        kind="azurekeyvault" if cmk_vault is not None else "servicemanaged",
        order=("id", "name", "type", "location", "kind"),
    )
    if cmk_vault is not None:
        protector: Doc = {
            **protector_header,
            "properties": {
                "serverKeyName": f"{cmk_vault}_{cmk_key}_{key_uri.rsplit('/', 1)[-1]}",
                "serverKeyType": "AzureKeyVault",
                "uri": key_uri,
                "thumbprint": guid(key_uri, "thumbprint").replace("-", "")[:40].upper(),
                "autoRotationEnabled": True,
            },
        }
    else:
        protector = {
            **protector_header,
            "properties": {
                "serverKeyName": "ServiceManaged",
                "serverKeyType": "ServiceManaged",
                "autoRotationEnabled": False,
            },
        }
    if auditing:
        audit_props: Doc = {
            "state": "Enabled",
            "storageEndpoint": f"https://{audit_storage}.blob.core.windows.net/",
            "retentionDays": audit_retention_days,
            "storageAccountSubscriptionId": sub,
            "isStorageSecondaryKeyInUse": False,
            "queueDelayMs": 1000,
            "auditActionsAndGroups": [
                "SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP",
                "FAILED_DATABASE_AUTHENTICATION_GROUP",
                "BATCH_COMPLETED_GROUP",
            ],
            "isAzureMonitorTargetEnabled": True,
            "isManagedIdentityInUse": True,
        }
    else:
        audit_props = {
            "state": "Disabled",
            "storageEndpoint": "",
            "retentionDays": 0,
            "auditActionsAndGroups": [],
            "storageAccountSubscriptionId": "00000000-0000-0000-0000-000000000000",
            "isStorageSecondaryKeyInUse": False,
            "isAzureMonitorTargetEnabled": False,
            "isManagedIdentityInUse": False,
        }
    auditing_doc: Doc = {
        **header(f"{rid}/auditingSettings/default", "default", f"{_SERVER}/auditingSettings"),
        "properties": audit_props,
    }
    return [server_doc, protector, auditing_doc]


def database(
    server_id: str,
    name: str,
    location: str,
    tags: dict[str, str],
    *,
    tde: str = "Enabled",
    created: int = 0,
) -> list[Doc]:
    """Databases_Get (2023-08-01 field set) + TransparentDataEncryptions_Get (``current``)."""
    rid = f"{server_id}/databases/{name}"
    db: Doc = {
        "sku": {
            "name": "GP_Gen5",
            "tier": "GeneralPurpose",
            "family": "Gen5",
            "capacity": 2,
        },
        "kind": "v12.0,user,vcore",
        "properties": {
            "collation": "SQL_Latin1_General_CP1_CI_AS",
            "maxSizeBytes": 34359738368,
            "status": "Online",
            "databaseId": guid(rid, "databaseId"),
            "creationDate": ts(created),
            "currentServiceObjectiveName": "GP_Gen5_2",
            "requestedServiceObjectiveName": "GP_Gen5_2",
            "defaultSecondaryLocation": "centralus",
            "catalogCollation": "SQL_Latin1_General_CP1_CI_AS",
            "zoneRedundant": False,
            "licenseType": "LicenseIncluded",
            "maxLogSizeBytes": 68719476736,
            "earliestRestoreDate": ts(created + 2000),
            "readScale": "Disabled",
            "currentSku": {
                "name": "GP_Gen5",
                "tier": "GeneralPurpose",
                "family": "Gen5",
                "capacity": 2,
            },
            "currentBackupStorageRedundancy": "Geo",
            "requestedBackupStorageRedundancy": "Geo",
            "isInfraEncryptionEnabled": False,
            "isLedgerOn": False,
        },
        **header(rid, name, f"{_SERVER}/databases", location, tags, order=TRAILING),
    }
    tde_doc: Doc = {
        **header(
            f"{rid}/transparentDataEncryption/current",
            "current",
            f"{_SERVER}/databases/transparentDataEncryption",
        ),
        "properties": {"state": tde},
    }
    return [db, tde_doc]


def cosmos_account(sub: str, rg: str, name: str, location: str, tags: dict[str, str]) -> Doc:
    """DatabaseAccounts_Get (Cosmos DB for NoSQL, 2024-11-15 field set)."""
    rtype = "Microsoft.DocumentDB/databaseAccounts"
    rid = resource_id(sub, rg, rtype, name)
    region: Doc = {
        "id": f"{name}-{location}",
        "locationName": "East US 2",
        "documentEndpoint": f"https://{name}-{location}.documents.azure.com:443/",
        "provisioningState": "Succeeded",
        "failoverPriority": 0,
        "isZoneRedundant": True,
    }
    return {
        **header(
            rid,
            name,
            rtype,
            location,
            tags,
            kind="GlobalDocumentDB",
            order=("id", "name", "location", "type", "kind", "tags"),
        ),
        "identity": {"type": "None"},
        "systemData": {"createdAt": ts(50)},
        "properties": {
            "provisioningState": "Succeeded",
            "documentEndpoint": f"https://{name}.documents.azure.com:443/",
            "publicNetworkAccess": "Enabled",
            "enableAutomaticFailover": True,
            "enableMultipleWriteLocations": False,
            "isVirtualNetworkFilterEnabled": False,
            "virtualNetworkRules": [],
            "disableKeyBasedMetadataWriteAccess": True,
            "disableLocalAuth": True,
            "minimalTlsVersion": "Tls12",
            "databaseAccountOfferType": "Standard",
            "consistencyPolicy": {
                "defaultConsistencyLevel": "Session",
                "maxIntervalInSeconds": 5,
                "maxStalenessPrefix": 100,
            },
            "writeLocations": [dict(region)],
            "readLocations": [dict(region)],
            "locations": [dict(region)],
            "failoverPolicies": [
                {"id": region["id"], "locationName": "East US 2", "failoverPriority": 0}
            ],
            "ipRules": [],
            "privateEndpointConnections": [],
            "backupPolicy": {
                "type": "Continuous",
                "continuousModeProperties": {"tier": "Continuous7Days"},
            },
            "networkAclBypass": "None",
            "networkAclBypassResourceIds": [],
        },
    }


def firewall_rule(server_id: str, name: str, start: str, end: str) -> Doc:
    """FirewallRules_Get (2023-08-01): one server-level IPv4 rule."""
    return {
        "properties": {"startIpAddress": start, "endIpAddress": end},
        "id": f"{server_id}/firewallRules/{name}",
        "name": name,
        "type": "Microsoft.Sql/servers/firewallRules",
    }
