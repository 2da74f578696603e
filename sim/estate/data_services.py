"""PHI data services beyond Storage and SQL (issue 14): PostgreSQL and MySQL flexible servers
with their server parameters, SQL managed instances with their TDE protector, Azure Cache for
Redis, Container Registry, AI Search, and Service Bus / Event Hubs namespaces.

Field sets follow each provider's published GET example at the pinned api-version
(``shared.kernel.api_versions``); ``secure`` selects the compliant or the violating settings.
"""

from __future__ import annotations

from sim.estate.common import TRAILING, Doc, guid, header, resource_id, system_identity, ts

_FLEX = ("sku", "systemData", "properties", "location", "tags", "id", "name", "type")


def flexible_server(
    sub: str,
    rg: str,
    provider: str,
    name: str,
    location: str,
    tags: dict[str, str],
    *,
    secure: bool,
    cmk_key: str | None = None,
) -> Doc:
    """Servers_Get of Microsoft.DBforPostgreSQL (2024-08-01) or Microsoft.DBforMySQL
    (2023-12-30) flexible servers."""
    rtype = f"{provider}/flexibleServers"
    rid = resource_id(sub, rg, rtype, name)
    postgres = "PostgreSQL" in provider
    props: Doc = {
        "dataEncryption": (
            {
                "type": "AzureKeyVault",
                "primaryKeyURI": cmk_key,
                "primaryUserAssignedIdentityId": resource_id(
                    sub, rg, "Microsoft.ManagedIdentity/userAssignedIdentities", f"id-{name}"
                ),
            }
            if secure and cmk_key
            else {"type": "SystemManaged"}
        ),
        "storage": {"storageSizeGB": 128, "autoGrow": "Enabled"},
    }
    if postgres:
        props["authConfig"] = {
            "activeDirectoryAuth": "Enabled" if secure else "Disabled",
            "passwordAuth": "Disabled" if secure else "Enabled",
        }
    props.update(
        {
            "fullyQualifiedDomainName": (
                f"{name}.{'postgres' if postgres else 'mysql'}.database.azure.com"
            ),
            "version": "16" if postgres else "8.0.21",
            "administratorLogin": "chsadmin",
            "state": "Ready",
            "availabilityZone": "1",
            "backup": {
                "backupRetentionDays": 35 if secure else 7,
                "geoRedundantBackup": "Enabled" if secure else "Disabled",
                "earliestRestoreDate": ts(900),
            },
            "network": (
                {
                    "publicNetworkAccess": "Disabled",
                    "delegatedSubnetResourceId": None,
                    "privateDnsZoneArmResourceId": None,
                }
                if secure
                else {"publicNetworkAccess": "Enabled"}
            ),
            "highAvailability": {"mode": "ZoneRedundant" if secure else "Disabled"},
            "replicationRole": "Primary",
        }
    )
    doc: Doc = {
        "sku": {"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"},
        "systemData": {"createdAt": ts(60)},
        "properties": props,
        **header(rid, name, rtype, location, tags, order=TRAILING),
    }
    return doc


def server_parameter(server_id: str, provider: str, name: str, value: str) -> Doc:
    """Configurations_Get: one server parameter of a flexible server."""
    postgres = "PostgreSQL" in provider
    return {
        "properties": {
            "value": value.lower() if postgres else value.upper(),
            "defaultValue": (
                ("on" if postgres else "ON") if name == "require_secure_transport" else "OFF"
            ),
            "dataType": "Boolean" if postgres else "Enumeration",
            "allowedValues": "on,off" if postgres else "ON,OFF",
            "source": "user-override",
            "isReadOnly": False,
            "isConfigPendingRestart": False,
            "isDynamicConfig": True,
        },
        "id": f"{server_id}/configurations/{name}",
        "name": name,
        "type": f"{provider}/flexibleServers/configurations",
    }


def managed_instance(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    tenant: str,
    *,
    subnet_id: str,
    secure: bool,
) -> Doc:
    """ManagedInstances_Get (2023-08-01)."""
    rtype = "Microsoft.Sql/managedInstances"
    rid = resource_id(sub, rg, rtype, name)
    admins: Doc = {
        "administratorType": "ActiveDirectory",
        "principalType": "Group",
        "login": "chs-dba",
        "sid": guid("principal", "group", "chs-dba"),
        "tenantId": tenant,
        "azureADOnlyAuthentication": secure,
    }
    return {
        "identity": system_identity(rid, tenant),
        "sku": {"name": "GP_Gen5", "tier": "GeneralPurpose", "capacity": 4, "family": "Gen5"},
        "properties": {
            "provisioningState": "Succeeded",
            "fullyQualifiedDomainName": f"{name}.{guid(rid)[:13]}.database.windows.net",
            "administratorLogin": "chsadmin",
            "subnetId": subnet_id,
            "state": "Ready",
            "licenseType": "LicenseIncluded",
            "vCores": 4,
            "storageSizeInGB": 256,
            "collation": "SQL_Latin1_General_CP1_CI_AS",
            "dnsZone": guid(rid)[:13],
            "publicDataEndpointEnabled": not secure,
            "proxyOverride": "Redirect",
            "timezoneId": "UTC",
            "minimalTlsVersion": "1.2" if secure else "1.0",
            "requestedBackupStorageRedundancy": "Geo",
            "currentBackupStorageRedundancy": "Geo",
            "zoneRedundant": False,
            "administrators": admins,
        },
        **header(rid, name, rtype, location, tags, order=TRAILING),
    }


def mi_encryption_protector(instance_id: str, key_name: str | None) -> Doc:
    """ManagedInstanceEncryptionProtectors_Get: service-managed unless a key name is given."""
    kind = "AzureKeyVault" if key_name else "ServiceManaged"
    props: Doc = {
        "serverKeyName": key_name or "ServiceManaged",
        "serverKeyType": kind,
        "autoRotationEnabled": bool(key_name),
    }
    return {
        "properties": props,
        "kind": "azurekeyvault" if key_name else "servicemanaged",
        "id": f"{instance_id}/encryptionProtector/current",
        "name": "current",
        "type": "Microsoft.Sql/managedInstances/encryptionProtector",
    }


def redis_cache(
    sub: str, rg: str, name: str, location: str, tags: dict[str, str], *, secure: bool
) -> Doc:
    """Redis_Get (2024-11-01)."""
    rtype = "Microsoft.Cache/Redis"
    rid = resource_id(sub, rg, rtype, name)
    return {
        **header(rid, name, rtype, location, tags),
        "properties": {
            "provisioningState": "Succeeded",
            "redisVersion": "6.0.14",
            "sku": {"name": "Premium", "family": "P", "capacity": 1},
            "enableNonSslPort": not secure,
            "minimumTlsVersion": "1.2" if secure else "1.0",
            "publicNetworkAccess": "Disabled" if secure else "Enabled",
            "disableAccessKeyAuthentication": secure,
            "redisConfiguration": {
                "maxclients": "7500",
                "aad-enabled": "true" if secure else "false",
            },
            "hostName": f"{name}.redis.cache.windows.net",
            "port": 6379,
            "sslPort": 6380,
            "updateChannel": "Stable",
            "privateEndpointConnections": [],
        },
    }


def container_registry(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    *,
    secure: bool,
    cmk_key: str | None = None,
) -> Doc:
    """Registries_Get (2023-07-01)."""
    rtype = "Microsoft.ContainerRegistry/registries"
    rid = resource_id(sub, rg, rtype, name)
    encryption: Doc = (
        {
            "status": "enabled",
            "keyVaultProperties": {
                "keyIdentifier": cmk_key,
                "identity": guid(rid, "identity"),
                "keyRotationEnabled": True,
            },
        }
        if secure and cmk_key
        else {"status": "disabled"}
    )
    return {
        "sku": {"name": "Premium", "tier": "Premium"},
        "type": rtype,
        "id": rid,
        "name": name,
        "location": location,
        "tags": dict(tags),
        "properties": {
            "loginServer": f"{name}.azurecr.io",
            "creationDate": ts(70),
            "provisioningState": "Succeeded",
            "adminUserEnabled": not secure,
            "encryption": encryption,
            "dataEndpointEnabled": False,
            "dataEndpointHostNames": [],
            "privateEndpointConnections": [],
            "publicNetworkAccess": "Disabled" if secure else "Enabled",
            "networkRuleBypassOptions": "AzureServices",
            "zoneRedundancy": "Enabled",
            "anonymousPullEnabled": not secure,
        },
    }


def search_service(
    sub: str, rg: str, name: str, location: str, tags: dict[str, str], *, secure: bool
) -> Doc:
    """Services_Get of Microsoft.Search (2023-11-01; the service lower-cases enum values)."""
    rtype = "Microsoft.Search/searchServices"
    rid = resource_id(sub, rg, rtype, name)
    props: Doc = {
        "replicaCount": 2,
        "partitionCount": 1,
        "status": "running",
        "statusDetails": "",
        "provisioningState": "succeeded",
        "hostingMode": "default",
        "publicNetworkAccess": "disabled" if secure else "enabled",
        "networkRuleSet": {"ipRules": [], "bypass": "None"},
        "encryptionWithCmk": {
            "enforcement": "Enabled" if secure else "Unspecified",
            "encryptionComplianceStatus": "Compliant",
        },
        "disableLocalAuth": secure,
        "disabledDataExfiltrationOptions": [],
        "semanticSearch": "disabled",
        "privateEndpointConnections": [],
        "sharedPrivateLinkResources": [],
    }
    if not secure:
        props["authOptions"] = {"apiKeyOnly": {}}
    return {
        **header(rid, name, rtype, location, tags),
        "sku": {"name": "standard"},
        "properties": props,
    }


def messaging_namespace(
    sub: str,
    rg: str,
    kind: str,
    name: str,
    location: str,
    tags: dict[str, str],
    *,
    secure: bool,
    cmk_vault: str | None = None,
) -> Doc:
    """Namespaces_Get of Microsoft.ServiceBus or Microsoft.EventHub (2024-01-01)."""
    rid = resource_id(sub, rg, f"Microsoft.{kind}/namespaces", name)
    props: Doc = {
        "minimumTlsVersion": "1.2" if secure else "1.0",
        "publicNetworkAccess": "Disabled" if secure else "Enabled",
        "disableLocalAuth": secure,
        "zoneRedundant": True,
        "provisioningState": "Succeeded",
        "createdAt": ts(80),
        "updatedAt": ts(81),
        "serviceBusEndpoint": f"https://{name}.servicebus.windows.net:443/",
        "status": "Active",
        "privateEndpointConnections": [],
    }
    if secure and cmk_vault:
        props["encryption"] = {
            "keySource": "Microsoft.KeyVault",
            "keyVaultProperties": [
                {"keyName": f"{name}-cmk", "keyVaultUri": cmk_vault, "keyVersion": ""}
            ],
            "requireInfrastructureEncryption": False,
        }
    return {
        "sku": {"name": "Premium", "tier": "Premium", "capacity": 1},
        "id": rid,
        "name": name,
        "type": f"Microsoft.{kind}/Namespaces",
        "location": location,
        "tags": dict(tags),
        "identity": system_identity(rid, guid("tenant", "contoso-health-shop")),
        "properties": props,
    }
