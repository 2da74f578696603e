"""Estates: the resources a simulated tenant holds, as flat ARM documents.

Three ways to get one:

* :func:`demo_estate` — "Contoso Health Shop", a small, hand-written e-commerce business that
  sells pharmacy products and keeps patient records (PHI) on Azure. It holds known violations of
  every failure pattern (``P1``..``P6``), each next to a compliant twin, for the demo and tests.
* :func:`generated_estate` — N resources of a realistic mix, deterministic from a seed, with a
  seeded fraction violating each pattern; for benchmarks and property tests.
* :func:`load_estate` / :func:`estate_from_spec` — a saved estate file (``--estate FILE``).

Every document has the shape ARM returns from a GET by id (field sets copied from the published
examples in ``../shared/reference``): the id casing each provider uses (``resourcegroups`` and
lower-case providers for Log Analytics, Insights and Front Door), ``etag`` where the provider
returns one (Microsoft.Network, where children share their parent's etag, and virtual machines),
child resources both embedded in their parent (NSG rules, subnets) and as documents of their own.
GUIDs are uuid5 of names, so the same estate always has the same ids. No real personal data:
principals are GUIDs, addresses use the reserved ``.example`` domain and documentation IP ranges.
"""

from __future__ import annotations

import gc
import hashlib
import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

Doc = dict[str, Any]

ESTATE_FORMAT = "phiguard.estate"
ESTATE_VERSION = 1

HIPAA_INITIATIVE = "a169a624-5599-4385-a696-c8d643089fab"
HIPAA_INITIATIVE_ID = f"/providers/Microsoft.Authorization/policySetDefinitions/{HIPAA_INITIATIVE}"
_MCSB_ID = (
    "/providers/Microsoft.Authorization/policySetDefinitions/1f3afdf9-d0c9-4c3d-847f-89da613e70a8"
)
_ALLOWED_LOCATIONS_ID = (
    "/providers/Microsoft.Authorization/policyDefinitions/e56962a6-4747-49cd-b67b-bf8b01975c4c"
)

PATTERNS = ("P1", "P2", "P3", "P4", "P5", "P6")


@dataclass
class Estate:
    """A tenant as flat ARM documents.

    ``documents`` holds every document a GET by id returns: resource groups, resources, child
    resources (``securityRules``, ``config/web``, TDE, ...) and extension resources (diagnostic
    settings, role and policy assignments), each with its full ``id``. ``ground_truth`` maps a
    failure pattern (``P1``..``P6``) or a check id to the ids of resources known to violate it.
    """

    tenant_id: str
    subscriptions: list[dict[str, Any]]
    documents: list[dict[str, Any]]
    ground_truth: dict[str, list[str]] = field(default_factory=dict)

    def by_id(self) -> dict[str, dict[str, Any]]:
        """The documents keyed by lower-case id (ARM ids are case-insensitive)."""
        return {_key(d["id"]): d for d in self.documents}


def _key(resource_id: str) -> str:
    return "/" + resource_id.strip().strip("/").lower()


# --- deterministic values ------------------------------------------------------------------

_NAMESPACE = uuid.UUID("5d6c1f0e-8a57-4c1b-9d0e-3b2a7f4e6c11")  # phiguard sim, fixed forever
_NS_BYTES = _NAMESPACE.bytes
_EPOCH = datetime(2023, 2, 6, 8, 0, 0, tzinfo=UTC)


def guid(*parts: str) -> str:
    """A deterministic GUID for a name: uuid5 in phiguard's fixed namespace.

    Same value as ``str(uuid.uuid5(namespace, "/".join(parts)))``, computed without building a
    UUID object (the generator calls this a few hundred thousand times).
    """
    name = "/".join(parts).encode()
    digest = bytearray(hashlib.sha1(_NS_BYTES + name).digest()[:16])  # noqa: S324 - uuid5 is SHA-1
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


@lru_cache(maxsize=16384)
def _ts(hours: int) -> str:
    """A fixed timestamp ``hours`` after the estate's epoch, formatted as ARM does (7 digits)."""
    moment = _EPOCH + timedelta(hours=hours, seconds=(hours * 37) % 60)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{(hours * 7919 + 13) % 10_000_000:07d}Z"


def _net_etag(seed: str) -> str:
    return f'W/"{guid(seed, "etag")}"'


# --- ids -----------------------------------------------------------------------------------


def _rg_id(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}"


def _rid(sub: str, rg: str, rtype: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{rtype}/{name}"


def _sub_id(sub: str) -> str:
    return f"/subscriptions/{sub}"


# --- tenant scaffolding --------------------------------------------------------------------


def _subscription(sub: str, tenant: str, name: str, tags: dict[str, str], quota: str) -> Doc:
    """Subscriptions_Get: no ``type`` field; the id says what it is."""
    return {
        "id": _sub_id(sub),
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "tags": dict(tags),
        "subscriptionId": sub,
        "tenantId": tenant,
        "displayName": name,
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": quota,
            "spendingLimit": "Off",
        },
    }


def _resource_group(sub: str, name: str, location: str, tags: dict[str, str]) -> Doc:
    return {
        "id": _rg_id(sub, name),
        "name": name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": location,
        "tags": dict(tags),
        "properties": {"provisioningState": "Succeeded"},
    }


# --- storage -------------------------------------------------------------------------------


def _storage_account(
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
) -> Doc:
    """StorageAccounts_GetProperties (2025-01-01 field set); ``cmk_vault`` switches to CMK."""
    rid = _rid(sub, rg, "Microsoft.Storage/storageAccounts", name)
    enabled_at = _ts(created)
    encryption: Doc = {
        "requireInfrastructureEncryption": infrastructure_encryption,
        "services": {
            "file": {"keyType": "Account", "enabled": True, "lastEnabledTime": enabled_at},
            "blob": {"keyType": "Account", "enabled": True, "lastEnabledTime": enabled_at},
        },
        "keySource": "Microsoft.Storage",
    }
    doc: Doc = {
        "sku": {"name": "Standard_ZRS", "tier": "Standard"},
        "kind": "StorageV2",
        "id": rid,
        "name": name,
        "type": "Microsoft.Storage/storageAccounts",
        "location": location,
        "tags": dict(tags),
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
            "lastKeyRotationTimestamp": _ts(created + 24),
        }
        doc["identity"] = {
            "type": "SystemAssigned",
            "principalId": guid(rid, "identity"),
            "tenantId": tenant,
        }
    endpoints = {
        kind: f"https://{name}.{kind}.core.windows.net/"
        for kind in ("dfs", "web", "blob", "queue", "table", "file")
    }
    doc["properties"] = {
        "keyCreationTime": {"key1": _ts(created), "key2": _ts(created)},
        "allowCrossTenantReplication": False,
        "privateEndpointConnections": [
            _pe_connection(rid, "Microsoft.Storage/storageAccounts", pe) for pe in private_endpoints
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
        "creationTime": _ts(created),
        "primaryEndpoints": endpoints,
        "primaryLocation": location,
        "statusOfPrimary": "available",
    }
    return doc


def _blob_service(account_id: str, *, soft_delete_days: int | None, versioning: bool) -> Doc:
    """BlobServices_GetServiceProperties; ``soft_delete_days=None`` means soft delete is off."""
    retention: Doc = (
        {"allowPermanentDelete": False, "enabled": True, "days": soft_delete_days}
        if soft_delete_days
        else {"allowPermanentDelete": False, "enabled": False}
    )
    return {
        "sku": {"name": "Standard_ZRS", "tier": "Standard"},
        "id": f"{account_id}/blobServices/default",
        "name": "default",
        "type": "Microsoft.Storage/storageAccounts/blobServices",
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


# --- diagnostic settings -------------------------------------------------------------------


def _log(category: str = "", group: str = "") -> Doc:
    entry: Doc = {"categoryGroup": group} if group else {"category": category}
    entry["enabled"] = True
    entry["retentionPolicy"] = {"enabled": False, "days": 0}
    return entry


def _diagnostic_setting(
    parent_id: str,
    name: str,
    *,
    workspace_id: str | None,
    logs: Sequence[Doc],
    metrics: Sequence[str] = ("AllMetrics",),
    storage_id: str | None = None,
) -> Doc:
    """DiagnosticSettings_Get: an extension resource; Insights lower-cases the scope id."""
    return {
        "id": f"{parent_id.lower()}/providers/microsoft.insights/diagnosticSettings/{name}",
        "type": "Microsoft.Insights/diagnosticSettings",
        "name": name,
        "properties": {
            "storageAccountId": storage_id,
            "workspaceId": workspace_id,
            "eventHubAuthorizationRuleId": None,
            "eventHubName": None,
            "metrics": [
                {"category": m, "enabled": True, "retentionPolicy": {"enabled": False, "days": 0}}
                for m in metrics
            ],
            "logs": [dict(entry) for entry in logs],
            "logAnalyticsDestinationType": "Dedicated" if workspace_id else None,
        },
    }


_ACTIVITY_LOG_CATEGORIES = (
    "Administrative",
    "Security",
    "ServiceHealth",
    "Alert",
    "Recommendation",
    "Policy",
    "Autoscale",
    "ResourceHealth",
)


# --- network -------------------------------------------------------------------------------


def _rule(
    nsg_id: str,
    etag: str,
    name: str,
    priority: int,
    *,
    source: str,
    port: str,
    access: str = "Allow",
    direction: str = "Inbound",
    protocol: str = "Tcp",
    destination: str = "*",
    description: str = "",
) -> Doc:
    """One NSG rule, as embedded in the NSG and as SecurityRules_Get returns it."""
    props: Doc = {
        "provisioningState": "Succeeded",
        "protocol": protocol,
        "sourcePortRange": "*",
        "destinationPortRange": port,
        "sourceAddressPrefix": source,
        "destinationAddressPrefix": destination,
        "access": access,
        "priority": priority,
        "direction": direction,
        "sourcePortRanges": [],
        "destinationPortRanges": [],
        "sourceAddressPrefixes": [],
        "destinationAddressPrefixes": [],
    }
    if description:
        props = {"provisioningState": "Succeeded", "description": description, **props}
    return {
        "name": name,
        "id": f"{nsg_id}/securityRules/{name}",
        "etag": etag,
        "type": "Microsoft.Network/networkSecurityGroups/securityRules",
        "properties": props,
    }


_DEFAULT_RULES = (
    (
        "AllowVnetInBound",
        "Allow inbound traffic from all VMs in VNET",
        "VirtualNetwork",
        "VirtualNetwork",
        "Allow",
        65000,
        "Inbound",
    ),
    (
        "AllowAzureLoadBalancerInBound",
        "Allow inbound traffic from azure load balancer",
        "AzureLoadBalancer",
        "*",
        "Allow",
        65001,
        "Inbound",
    ),
    ("DenyAllInBound", "Deny all inbound traffic", "*", "*", "Deny", 65500, "Inbound"),
    (
        "AllowVnetOutBound",
        "Allow outbound traffic from all VMs to all VMs in VNET",
        "VirtualNetwork",
        "VirtualNetwork",
        "Allow",
        65000,
        "Outbound",
    ),
    (
        "AllowInternetOutBound",
        "Allow outbound traffic from all VMs to Internet",
        "*",
        "Internet",
        "Allow",
        65001,
        "Outbound",
    ),
    ("DenyAllOutBound", "Deny all outbound traffic", "*", "*", "Deny", 65500, "Outbound"),
)


def default_security_rules(nsg_id: str, etag: str | None = None) -> list[Doc]:
    """Azure's six default rules of an NSG, as ARM embeds them in the NSG body."""
    return [
        {
            "name": name,
            "id": f"{nsg_id}/defaultSecurityRules/{name}",
            **({"etag": etag} if etag is not None else {}),
            "type": "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
            "properties": {
                "provisioningState": "Succeeded",
                "description": description,
                "protocol": "*",
                "sourcePortRange": "*",
                "destinationPortRange": "*",
                "sourceAddressPrefix": source,
                "destinationAddressPrefix": destination,
                "access": access,
                "priority": priority,
                "direction": direction,
                "sourcePortRanges": [],
                "destinationPortRanges": [],
                "sourceAddressPrefixes": [],
                "destinationAddressPrefixes": [],
            },
        }
        for name, description, source, destination, access, priority, direction in _DEFAULT_RULES
    ]


def open_rdp_rule(priority: int) -> Doc:
    """The body of a security rule a user adds to open RDP (3389) to the whole Internet: the
    change the demo, the benchmarks and the tests make "as a user"."""
    return {
        "properties": {
            "protocol": "Tcp",
            "sourcePortRange": "*",
            "destinationPortRange": "3389",
            "sourceAddressPrefix": "*",
            "destinationAddressPrefix": "*",
            "access": "Allow",
            "priority": priority,
            "direction": "Inbound",
        }
    }


RuleSpec = dict[str, Any]


def _nsg(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    rules: Sequence[RuleSpec],
    *,
    subnets: Sequence[str] = (),
    flow_logs: Sequence[str] = (),
) -> list[Doc]:
    """NetworkSecurityGroups_Get plus one SecurityRules_Get document per rule (same etag)."""
    rid = _rid(sub, rg, "Microsoft.Network/networkSecurityGroups", name)
    etag = _net_etag(rid)
    props: Doc = {
        "provisioningState": "Succeeded",
        "resourceGuid": guid(rid, "resourceGuid"),
        "securityRules": [_rule(rid, etag, **spec) for spec in rules],
        "defaultSecurityRules": default_security_rules(rid, etag),
    }
    if subnets:
        props["subnets"] = [{"id": s} for s in subnets]
    if flow_logs:
        props["flowLogs"] = [{"id": f} for f in flow_logs]
    nsg: Doc = {
        "name": name,
        "id": rid,
        "etag": etag,
        "type": "Microsoft.Network/networkSecurityGroups",
        "location": location,
        "tags": dict(tags),
        "properties": props,
    }
    return [nsg, *(_rule(rid, etag, **spec) for spec in rules)]


SubnetSpec = tuple[str, str, str | None, Sequence[str]]  # name, prefix, nsg id, service endpoints


def _subnet(vnet_id: str, etag: str, spec: SubnetSpec) -> Doc:
    name, prefix, nsg_id, endpoints = spec
    props: Doc = {"provisioningState": "Succeeded", "addressPrefix": prefix}
    if nsg_id:
        props["networkSecurityGroup"] = {"id": nsg_id}
    props["serviceEndpoints"] = [
        {"provisioningState": "Succeeded", "service": s, "locations": ["*"]} for s in endpoints
    ]
    props["delegations"] = []
    props["privateEndpointNetworkPolicies"] = "Disabled"
    props["privateLinkServiceNetworkPolicies"] = "Enabled"
    return {
        "name": name,
        "id": f"{vnet_id}/subnets/{name}",
        "etag": etag,
        "type": "Microsoft.Network/virtualNetworks/subnets",
        "properties": props,
    }


def _vnet(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    prefix: str,
    subnets: Sequence[SubnetSpec],
) -> list[Doc]:
    """VirtualNetworks_Get (subnets embedded) plus one Subnets_Get document per subnet."""
    rid = _rid(sub, rg, "Microsoft.Network/virtualNetworks", name)
    etag = _net_etag(rid)
    vnet: Doc = {
        "name": name,
        "id": rid,
        "etag": etag,
        "type": "Microsoft.Network/virtualNetworks",
        "location": location,
        "tags": dict(tags),
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": guid(rid, "resourceGuid"),
            "addressSpace": {"addressPrefixes": [prefix]},
            "dhcpOptions": {"dnsServers": []},
            "subnets": [_subnet(rid, etag, s) for s in subnets],
            "virtualNetworkPeerings": [],
            "enableDdosProtection": False,
            "privateEndpointVNetPolicies": "Disabled",
        },
    }
    return [vnet, *(_subnet(rid, etag, s) for s in subnets)]


def _pe_connection(target_id: str, target_type: str, pe_id: str, status: str = "Approved") -> Doc:
    """A private endpoint connection as the target resource embeds it."""
    pe_name = pe_id.rsplit("/", 1)[-1]
    name = f"{pe_name}.{guid(pe_id, target_id)}"
    return {
        "id": f"{target_id}/privateEndpointConnections/{name}",
        "name": name,
        "type": f"{target_type}/privateEndpointConnections",
        "properties": {
            "provisioningState": "Succeeded",
            "privateEndpoint": {"id": pe_id},
            "privateLinkServiceConnectionState": {
                "status": status,
                "description": "Auto-Approved" if status == "Approved" else "Awaiting approval",
                "actionsRequired": "None",
            },
        },
    }


def _private_endpoint(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    *,
    subnet_id: str,
    target_id: str,
    group_id: str,
    status: str = "Approved",
    ip: str = "10.0.0.4",
) -> Doc:
    """PrivateEndpoints_Get (2024-05-01 field set)."""
    rid = _rid(sub, rg, "Microsoft.Network/privateEndpoints", name)
    etag = _net_etag(rid)
    nic_name = f"{name}.nic.{guid(rid, 'nic')}"
    manual = status != "Approved"
    connection = {
        "name": name,
        "id": f"{rid}/{'manualP' if manual else 'p'}rivateLinkServiceConnections/{name}",
        "etag": etag,
        "type": "Microsoft.Network/privateEndpoints/privateLinkServiceConnections",
        "properties": {
            "provisioningState": "Succeeded",
            "privateLinkServiceId": target_id,
            "groupIds": [group_id],
            "requestMessage": "Requested by the Contoso Health Shop platform team.",
            "privateLinkServiceConnectionState": {
                "status": status,
                "description": "Auto-Approved" if not manual else "Awaiting approval",
                "actionsRequired": "None",
            },
        },
    }
    return {
        "name": name,
        "id": rid,
        "etag": etag,
        "type": "Microsoft.Network/privateEndpoints",
        "location": location,
        "tags": dict(tags),
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": guid(rid, "resourceGuid"),
            "privateLinkServiceConnections": [] if manual else [connection],
            "manualPrivateLinkServiceConnections": [connection] if manual else [],
            "subnet": {"id": subnet_id},
            "networkInterfaces": [
                {"id": _rid(sub, rg, "Microsoft.Network/networkInterfaces", nic_name)}
            ],
            "customDnsConfigs": [{"fqdn": _private_fqdn(target_id, group_id), "ipAddresses": [ip]}],
            "applicationSecurityGroups": [],
            "ipConfigurations": [],
            "customNetworkInterfaceName": "",
        },
    }


def _private_fqdn(target_id: str, group_id: str) -> str:
    name = target_id.rsplit("/", 1)[-1]
    zone = {
        "blob": "blob.core.windows.net",
        "sqlServer": "database.windows.net",
        "vault": "vault.azure.net",
    }.get(group_id, "privatelink.azure.com")
    return f"{name}.{zone}"


def _network_watcher(sub: str, location: str) -> Doc:
    rid = _rid(
        sub, "NetworkWatcherRG", "Microsoft.Network/networkWatchers", f"NetworkWatcher_{location}"
    )
    return {
        "name": f"NetworkWatcher_{location}",
        "id": rid,
        "etag": _net_etag(rid),
        "type": "Microsoft.Network/networkWatchers",
        "location": location,
        "tags": {},
        "properties": {"provisioningState": "Succeeded"},
    }


def _flow_log(
    watcher_id: str,
    name: str,
    location: str,
    *,
    target_id: str,
    storage_id: str,
    workspace: Doc | None,
    enabled: bool = True,
    retention_days: int = 365,
) -> Doc:
    """FlowLogs_Get (2024-05-01 field set): an NSG or VNet flow log."""
    rid = f"{watcher_id}/flowLogs/{name}"
    analytics: Doc = {"enabled": False}
    if workspace is not None:
        analytics = {
            "enabled": True,
            "workspaceId": workspace["properties"]["customerId"],
            "workspaceRegion": workspace["location"],
            "workspaceResourceId": workspace["id"],
            "trafficAnalyticsInterval": 10,
        }
    return {
        "name": name,
        "id": rid,
        "etag": _net_etag(rid),
        "type": "Microsoft.Network/networkWatchers/FlowLogs",
        "location": location,
        "properties": {
            "provisioningState": "Succeeded",
            "targetResourceId": target_id,
            "targetResourceGuid": guid(target_id, "resourceGuid"),
            "storageId": storage_id,
            "enabled": enabled,
            "flowAnalyticsConfiguration": {"networkWatcherFlowAnalyticsConfiguration": analytics},
            "retentionPolicy": {"days": retention_days, "enabled": retention_days > 0},
            "format": {"type": "JSON", "version": 2},
        },
    }


def _nic(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    *,
    subnet_id: str,
    vm_id: str,
    ip: str,
) -> Doc:
    rid = _rid(sub, rg, "Microsoft.Network/networkInterfaces", name)
    etag = _net_etag(rid)
    return {
        "name": name,
        "id": rid,
        "etag": etag,
        "type": "Microsoft.Network/networkInterfaces",
        "location": location,
        "tags": dict(tags),
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": guid(rid, "resourceGuid"),
            "ipConfigurations": [
                {
                    "name": "ipconfig1",
                    "id": f"{rid}/ipConfigurations/ipconfig1",
                    "etag": etag,
                    "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "privateIPAddress": ip,
                        "privateIPAllocationMethod": "Dynamic",
                        "subnet": {"id": subnet_id},
                        "primary": True,
                        "privateIPAddressVersion": "IPv4",
                    },
                }
            ],
            "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
            "enableAcceleratedNetworking": True,
            "enableIPForwarding": False,
            "disableTcpStateTracking": False,
            "virtualMachine": {"id": vm_id},
            "primary": True,
            "nicType": "Standard",
        },
    }


# --- key vault -----------------------------------------------------------------------------


def _key_vault(
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
    rid = _rid(sub, rg, "Microsoft.KeyVault/vaults", name)
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
            _pe_connection(rid, "Microsoft.KeyVault/vaults", pe) for pe in private_endpoints
        ]
    return {
        "id": rid,
        "name": name,
        "type": "Microsoft.KeyVault/vaults",
        "location": location,
        "tags": dict(tags),
        "systemData": {
            "createdBy": creator,
            "createdByType": "Application",
            "createdAt": _ts(created),
            "lastModifiedBy": creator,
            "lastModifiedByType": "Application",
            "lastModifiedAt": _ts(created + 700),
        },
        "properties": props,
    }


def _access_policy(
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


# --- SQL -----------------------------------------------------------------------------------


def _sql_server(
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
    rid = _rid(sub, rg, "Microsoft.Sql/servers", name)
    admins_group = guid("principal", "group", "sql-admins")
    key_uri = ""
    props: Doc = {
        "administratorLogin": "chs-sqladmin",
        "version": "12.0",
        "state": "Ready",
        "fullyQualifiedDomainName": f"{name}.database.windows.net",
        "privateEndpointConnections": [
            _pe_connection(rid, "Microsoft.Sql/servers", pe) for pe in private_endpoints
        ],
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
    server: Doc = {
        "identity": {
            "principalId": guid(rid, "identity"),
            "type": "SystemAssigned",
            "tenantId": tenant,
        },
        "kind": "v12.0",
        "location": location,
        "tags": dict(tags),
        "id": rid,
        "name": name,
        "type": "Microsoft.Sql/servers",
        "properties": props,
    }
    if cmk_vault is not None:
        protector: Doc = {
            "id": f"{rid}/encryptionProtector/current",
            "name": "current",
            "type": "Microsoft.Sql/servers/encryptionProtector",
            "location": location,
            "kind": "azurekeyvault",
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
            "id": f"{rid}/encryptionProtector/current",
            "name": "current",
            "type": "Microsoft.Sql/servers/encryptionProtector",
            "location": location,
            "kind": "servicemanaged",
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
        "id": f"{rid}/auditingSettings/default",
        "name": "default",
        "type": "Microsoft.Sql/servers/auditingSettings",
        "properties": audit_props,
    }
    return [server, protector, auditing_doc]


def _sql_database(
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
        "sku": {"name": "GP_Gen5", "tier": "GeneralPurpose", "family": "Gen5", "capacity": 2},
        "kind": "v12.0,user,vcore",
        "properties": {
            "collation": "SQL_Latin1_General_CP1_CI_AS",
            "maxSizeBytes": 34359738368,
            "status": "Online",
            "databaseId": guid(rid, "databaseId"),
            "creationDate": _ts(created),
            "currentServiceObjectiveName": "GP_Gen5_2",
            "requestedServiceObjectiveName": "GP_Gen5_2",
            "defaultSecondaryLocation": "centralus",
            "catalogCollation": "SQL_Latin1_General_CP1_CI_AS",
            "zoneRedundant": False,
            "licenseType": "LicenseIncluded",
            "maxLogSizeBytes": 68719476736,
            "earliestRestoreDate": _ts(created + 2000),
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
        "location": location,
        "tags": dict(tags),
        "id": rid,
        "name": name,
        "type": "Microsoft.Sql/servers/databases",
    }
    tde_doc: Doc = {
        "id": f"{rid}/transparentDataEncryption/current",
        "name": "current",
        "type": "Microsoft.Sql/servers/databases/transparentDataEncryption",
        "properties": {"state": tde},
    }
    return [db, tde_doc]


# --- App Service ---------------------------------------------------------------------------


def _site_config(kind: str, *, min_tls: str, ftps: str, linux_fx: str) -> Doc:
    """The siteConfig field set of WebApps_GetConfiguration (2024-04-01)."""
    return {
        "numberOfWorkers": 1,
        "defaultDocuments": ["Default.htm", "Default.html", "index.html", "hostingstart.html"],
        "netFrameworkVersion": "v4.0",
        "phpVersion": "",
        "pythonVersion": "",
        "nodeVersion": "",
        "powerShellVersion": "",
        "linuxFxVersion": linux_fx,
        "requestTracingEnabled": False,
        "remoteDebuggingEnabled": False,
        "httpLoggingEnabled": True,
        "acrUseManagedIdentityCreds": False,
        "logsDirectorySizeLimit": 35,
        "detailedErrorLoggingEnabled": False,
        "use32BitWorkerProcess": False,
        "webSocketsEnabled": False,
        "alwaysOn": "functionapp" not in kind,
        "appCommandLine": "",
        "managedPipelineMode": "Integrated",
        "virtualApplications": [
            {"virtualPath": "/", "physicalPath": "site\\wwwroot", "preloadEnabled": False}
        ],
        "loadBalancing": "LeastRequests",
        "autoHealEnabled": False,
        "vnetName": "",
        "vnetRouteAllEnabled": False,
        "vnetPrivatePortsCount": 0,
        "http20Enabled": True,
        "minTlsVersion": min_tls,
        "scmMinTlsVersion": min_tls,
        "ftpsState": ftps,
        "functionAppScaleLimit": 0,
        "functionsRuntimeScaleMonitoringEnabled": False,
        "minimumElasticInstanceCount": 0,
        "azureStorageAccounts": {},
    }


def _site(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    tenant: str,
    *,
    kind: str = "app",
    https_only: bool = True,
    min_tls: str = "1.2",
    ftps: str = "Disabled",
    public_network: str = "Enabled",
    identity: bool = True,
    subnet_id: str = "",
    plan: str = "",
) -> list[Doc]:
    """WebApps_Get + WebApps_GetConfiguration (``config/web``), 2024-04-01 field sets."""
    rid = _rid(sub, rg, "Microsoft.Web/sites", name)
    linux = "linux" in kind
    linux_fx = "PYTHON|3.11" if linux else ""
    host = f"{name}.azurewebsites.net"
    octet = int(guid(rid, "ip")[:2], 16) % 250 + 1
    outbound = f"203.0.113.{octet},203.0.113.{(octet + 1) % 254 + 1}"
    props: Doc = {
        "state": "Running",
        "hostNames": [host],
        "repositorySiteName": name,
        "usageState": "Normal",
        "enabled": True,
        "enabledHostNames": [host, f"{name}.scm.azurewebsites.net"],
        "availabilityState": "Normal",
        "hostNameSslStates": [
            {"name": host, "sslState": "Disabled", "hostType": "Standard"},
            {
                "name": f"{name}.scm.azurewebsites.net",
                "sslState": "Disabled",
                "hostType": "Repository",
            },
        ],
        "serverFarmId": _rid(sub, rg, "Microsoft.Web/serverfarms", plan or f"asp-{name}"),
        "reserved": linux,
        "isXenon": False,
        "hyperV": False,
        "lastModifiedTimeUtc": _ts(900),
        "vnetRouteAllEnabled": bool(subnet_id),
        "vnetImagePullEnabled": False,
        "vnetContentShareEnabled": False,
        "siteConfig": _site_config(kind, min_tls=min_tls, ftps=ftps, linux_fx=linux_fx),
        "scmSiteAlsoStopped": False,
        "clientAffinityEnabled": False,
        "clientCertEnabled": False,
        "clientCertMode": "Required",
        "hostNamesDisabled": False,
        "customDomainVerificationId": guid(rid, "domain").replace("-", "").upper(),
        "outboundIpAddresses": outbound,
        "possibleOutboundIpAddresses": outbound,
        "containerSize": 1536 if "functionapp" in kind else 0,
        "dailyMemoryTimeQuota": 0,
        "resourceGroup": rg,
        "defaultHostName": host,
        "httpsOnly": https_only,
        "redundancyMode": "None",
        "publicNetworkAccess": public_network,
        "storageAccountRequired": False,
        "keyVaultReferenceIdentity": "SystemAssigned",
    }
    if subnet_id:
        props["virtualNetworkSubnetId"] = subnet_id
    site: Doc = {
        "id": rid,
        "name": name,
        "type": "Microsoft.Web/sites",
        "kind": kind,
        "location": location,
        "tags": dict(tags),
        "properties": props,
    }
    if identity:
        site["identity"] = {
            "type": "SystemAssigned",
            "tenantId": tenant,
            "principalId": guid(rid, "identity"),
        }
    config: Doc = {
        "id": f"{rid}/config/web",
        "name": "web",
        "type": "Microsoft.Web/sites/config",
        "kind": kind,
        "location": location,
        "properties": _site_config(kind, min_tls=min_tls, ftps=ftps, linux_fx=linux_fx),
    }
    return [site, config]


# --- Log Analytics -------------------------------------------------------------------------

TableSpec = tuple[str, int, int]  # name, retentionInDays, totalRetentionInDays


def _workspace(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    *,
    retention: int,
    tables: Sequence[TableSpec],
    public_network: str = "Disabled",
    local_auth: bool = False,
    created: int = 0,
) -> list[Doc]:
    """Workspaces_Get (2025-02-01; Log Analytics lower-cases the id) + Tables_Get per table."""
    rid = (
        f"/subscriptions/{sub}/resourcegroups/{rg.lower()}/providers/"
        f"microsoft.operationalinsights/workspaces/{name}"
    )
    workspace: Doc = {
        "properties": {
            "customerId": guid(rid, "customerId"),
            "provisioningState": "Succeeded",
            "sku": {"name": "PerGB2018", "lastSkuUpdate": _ts(created)},
            "retentionInDays": retention,
            "features": {
                "legacy": 0,
                "searchVersion": 1,
                "enableLogAccessUsingOnlyResourcePermissions": True,
                "disableLocalAuth": not local_auth,
            },
            "workspaceCapping": {
                "dailyQuotaGb": -1.0,
                "quotaNextResetTime": _ts(created + 8000),
                "dataIngestionStatus": "RespectQuota",
            },
            "publicNetworkAccessForIngestion": public_network,
            "publicNetworkAccessForQuery": public_network,
            "createdDate": _ts(created),
            "modifiedDate": _ts(created + 500),
        },
        "id": rid,
        "name": name,
        "type": "Microsoft.OperationalInsights/workspaces",
        "location": location,
        "tags": dict(tags),
    }
    table_base = _rid(sub, rg, "Microsoft.OperationalInsights/workspaces", name)
    docs = [workspace]
    for table, days, total in tables:
        docs.append(
            {
                "properties": {
                    "totalRetentionInDays": total,
                    "archiveRetentionInDays": total - days,
                    "plan": "Analytics",
                    "retentionInDaysAsDefault": days == retention,
                    "totalRetentionInDaysAsDefault": total == days,
                    "schema": {
                        "name": table,
                        "tableType": "Microsoft",
                        "tableSubType": "Any",
                        "columns": [],
                        "standardColumns": [],
                        "solutions": ["LogManagement"],
                    },
                    "provisioningState": "Succeeded",
                    "retentionInDays": days,
                },
                "id": f"{table_base}/tables/{table}",
                "name": table,
                "type": "Microsoft.OperationalInsights/workspaces/tables",
            }
        )
    return docs


# --- edge ----------------------------------------------------------------------------------


def _afd_base(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.Cdn/profiles"


def _afd_profile(sub: str, rg: str, name: str, tags: dict[str, str]) -> Doc:
    """Profiles_Get for Azure Front Door (Standard/Premium); CDN lower-cases ``resourcegroups``."""
    rid = f"{_afd_base(sub, rg)}/{name}"
    return {
        "name": name,
        "id": rid,
        "type": "Microsoft.Cdn/profiles",
        "tags": dict(tags),
        "location": "Global",
        "sku": {"name": "Premium_AzureFrontDoor"},
        "kind": "frontdoor",
        "properties": {
            "originResponseTimeoutSeconds": 60,
            "logScrubbing": {"state": "Enabled", "scrubbingRules": []},
            "frontDoorId": guid(rid, "frontDoorId"),
            "provisioningState": "Succeeded",
            "resourceState": "Active",
        },
    }


def _afd_custom_domain(profile_id: str, name: str, host: str) -> Doc:
    return {
        "name": name,
        "id": f"{profile_id}/customdomains/{name}",
        "type": "Microsoft.Cdn/profiles/customdomains",
        "properties": {
            "hostName": host,
            "tlsSettings": {"certificateType": "ManagedCertificate", "minimumTlsVersion": "TLS12"},
            "validationProperties": {
                "validationToken": guid(profile_id, name, "validation").replace("-", ""),
                "expirationDate": _ts(9000),
            },
            "azureDnsZone": None,
            "preValidatedCustomDomainResourceId": None,
            "domainValidationState": "Approved",
            "provisioningState": "Succeeded",
            "deploymentStatus": "NotStarted",
        },
    }


def _afd_security_policy(profile_id: str, name: str, waf_id: str, domains: Sequence[str]) -> Doc:
    """SecurityPolicies_Get: links a Front Door WAF policy to custom domains."""
    return {
        "name": name,
        "id": f"{profile_id}/securitypolicies/{name}",
        "type": "Microsoft.Cdn/profiles/securitypolicies",
        "properties": {
            "parameters": {
                "type": "WebApplicationFirewall",
                "wafPolicy": {"id": waf_id},
                "associations": [
                    {"domains": [{"id": d} for d in domains], "patternsToMatch": ["/*"]}
                ],
            },
            "deploymentStatus": "NotStarted",
            "provisioningState": "Succeeded",
        },
    }


def _fd_waf_policy(
    sub: str,
    rg: str,
    name: str,
    tags: dict[str, str],
    *,
    mode: str,
    enabled: bool = True,
    security_policies: Sequence[str] = (),
) -> Doc:
    """Policies_Get for a Front Door WAF policy (2024-02-01 field set)."""
    rid = _rid(sub, rg, "Microsoft.Network/FrontDoorWebApplicationFirewallPolicies", name)
    return {
        "name": name,
        "id": rid,
        "type": "Microsoft.Network/frontdoorwebapplicationfirewallpolicies",
        "etag": _net_etag(rid),
        "tags": dict(tags),
        "location": "Global",
        "properties": {
            "resourceState": "Enabled",
            "provisioningState": "Succeeded",
            "policySettings": {
                "enabledState": "Enabled" if enabled else "Disabled",
                "mode": mode,
                "redirectUrl": None,
                "customBlockResponseStatusCode": 403,
                "customBlockResponseBody": None,
                "requestBodyCheck": "Enabled",
                "logScrubbing": None,
            },
            "customRules": {
                "rules": [
                    {
                        "name": "RateLimitPerClient",
                        "priority": 10,
                        "enabledState": "Enabled",
                        "ruleType": "RateLimitRule",
                        "rateLimitDurationInMinutes": 1,
                        "rateLimitThreshold": 1000,
                        "matchConditions": [
                            {
                                "matchVariable": "RemoteAddr",
                                "selector": None,
                                "operator": "IPMatch",
                                "negateCondition": True,
                                "matchValue": ["10.0.0.0/8"],
                                "transforms": [],
                            }
                        ],
                        "action": "Block",
                    }
                ]
            },
            "managedRules": {
                "managedRuleSets": [
                    {
                        "ruleSetType": "Microsoft_DefaultRuleSet",
                        "ruleSetVersion": "2.1",
                        "ruleSetAction": "Block",
                        "exclusions": [],
                        "ruleGroupOverrides": [],
                    },
                    {
                        "ruleSetType": "Microsoft_BotManagerRuleSet",
                        "ruleSetVersion": "1.1",
                        "exclusions": [],
                        "ruleGroupOverrides": [],
                    },
                ]
            },
            "frontendEndpointLinks": [],
            "routingRuleLinks": [],
            "securityPolicyLinks": [{"id": s} for s in security_policies],
        },
        "sku": {"name": "Premium_AzureFrontDoor"},
    }


def _appgw_waf_policy(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    *,
    mode: str,
    enabled: bool = True,
    gateways: Sequence[str] = (),
) -> Doc:
    """WebApplicationFirewallPolicies_Get (Application Gateway, 2024-05-01 field set)."""
    rid = _rid(sub, rg, "Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies", name)
    return {
        "name": name,
        "id": rid,
        "etag": _net_etag(rid),
        "type": "Microsoft.Network/applicationgatewaywebapplicationfirewallpolicies",
        "tags": dict(tags),
        "location": location,
        "properties": {
            "resourceState": "Enabled",
            "provisioningState": "Succeeded",
            "policySettings": {
                "state": "Enabled" if enabled else "Disabled",
                "mode": mode,
                "requestBodyEnforcement": True,
                "maxRequestBodySizeInKb": 128,
                "requestBodyInspectLimitInKB": 128,
                "fileUploadEnforcement": True,
                "fileUploadLimitInMb": 100,
                "requestBodyCheck": True,
                "jsChallengeCookieExpirationInMins": 30,
                "logScrubbing": {
                    "state": "Enabled",
                    "scrubbingRules": [
                        {
                            "state": "Enabled",
                            "matchVariable": "RequestIPAddress",
                            "selectorMatchOperator": "EqualsAny",
                        }
                    ],
                },
            },
            "customRules": [],
            "managedRules": {
                "managedRuleSets": [
                    {"ruleSetType": "OWASP", "ruleSetVersion": "3.2", "ruleGroupOverrides": []},
                    {
                        "ruleSetType": "Microsoft_BotManagerRuleSet",
                        "ruleSetVersion": "1.0",
                        "ruleGroupOverrides": [],
                    },
                ],
                "exclusions": [],
            },
            "applicationGateways": [{"id": g} for g in gateways],
            "httpListeners": [],
            "pathBasedRules": [],
        },
    }


# --- other audited resource types -----------------------------------------------------------


def _application_gateway(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    *,
    subnet_id: str,
    waf_policy_id: str,
    backend_fqdn: str,
    private_ip: str,
) -> Doc:
    """ApplicationGateways_Get (2024-05-01 field set): a WAF_v2 gateway with a private frontend."""
    rid = _rid(sub, rg, "Microsoft.Network/applicationGateways", name)
    etag = _net_etag(rid)

    def child(kind: str, child_name: str, props: Doc) -> Doc:
        return {
            "name": child_name,
            "id": f"{rid}/{kind}/{child_name}",
            "etag": etag,
            "type": f"Microsoft.Network/applicationGateways/{kind}",
            "properties": {"provisioningState": "Succeeded", **props},
        }

    return {
        "name": name,
        "id": rid,
        "etag": etag,
        "type": "Microsoft.Network/applicationGateways",
        "location": location,
        "tags": dict(tags),
        "zones": ["1", "2", "3"],
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": guid(rid, "resourceGuid"),
            "sku": {"name": "WAF_v2", "tier": "WAF_v2", "family": "Generation_2", "capacity": 2},
            "operationalState": "Running",
            "gatewayIPConfigurations": [
                child(
                    "gatewayIPConfigurations", "appGatewayIpConfig", {"subnet": {"id": subnet_id}}
                )
            ],
            "sslCertificates": [],
            "trustedRootCertificates": [],
            "frontendIPConfigurations": [
                child(
                    "frontendIPConfigurations",
                    "appGwPrivateFrontendIp",
                    {
                        "privateIPAddress": private_ip,
                        "privateIPAllocationMethod": "Static",
                        "subnet": {"id": subnet_id},
                    },
                )
            ],
            "frontendPorts": [child("frontendPorts", "port_443", {"port": 443})],
            "backendAddressPools": [
                child(
                    "backendAddressPools",
                    "pool-pharmacy-portal",
                    {"backendAddresses": [{"fqdn": backend_fqdn}]},
                )
            ],
            "backendHttpSettingsCollection": [
                child(
                    "backendHttpSettingsCollection",
                    "https-settings",
                    {
                        "port": 443,
                        "protocol": "Https",
                        "cookieBasedAffinity": "Disabled",
                        "pickHostNameFromBackendAddress": True,
                        "requestTimeout": 30,
                    },
                )
            ],
            "httpListeners": [
                child(
                    "httpListeners",
                    "listener-https",
                    {
                        "frontendIPConfiguration": {
                            "id": f"{rid}/frontendIPConfigurations/appGwPrivateFrontendIp"
                        },
                        "frontendPort": {"id": f"{rid}/frontendPorts/port_443"},
                        "protocol": "Https",
                        "hostNames": [],
                        "requireServerNameIndication": False,
                    },
                )
            ],
            "requestRoutingRules": [
                child(
                    "requestRoutingRules",
                    "rule-pharmacy-portal",
                    {
                        "ruleType": "Basic",
                        "priority": 100,
                        "httpListener": {"id": f"{rid}/httpListeners/listener-https"},
                        "backendAddressPool": {
                            "id": f"{rid}/backendAddressPools/pool-pharmacy-portal"
                        },
                        "backendHttpSettings": {
                            "id": f"{rid}/backendHttpSettingsCollection/https-settings"
                        },
                    },
                )
            ],
            "probes": [],
            "sslPolicy": {"policyType": "Predefined", "policyName": "AppGwSslPolicy20220101S"},
            "enableHttp2": True,
            "firewallPolicy": {"id": waf_policy_id},
            "forceFirewallPolicyAssociation": True,
        },
    }


def _public_ip(sub: str, rg: str, name: str, location: str, tags: dict[str, str]) -> Doc:
    """PublicIPAddresses_Get (2024-05-01 field set), documentation-range address."""
    rid = _rid(sub, rg, "Microsoft.Network/publicIPAddresses", name)
    return {
        "name": name,
        "id": rid,
        "etag": _net_etag(rid),
        "type": "Microsoft.Network/publicIPAddresses",
        "location": location,
        "tags": dict(tags),
        "zones": ["1", "2", "3"],
        "sku": {"name": "Standard", "tier": "Regional"},
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": guid(rid, "resourceGuid"),
            "ipAddress": f"203.0.113.{int(guid(rid, 'ip')[:2], 16) % 200 + 20}",
            "publicIPAddressVersion": "IPv4",
            "publicIPAllocationMethod": "Static",
            "idleTimeoutInMinutes": 4,
            "ipTags": [],
            "ddosSettings": {"protectionMode": "VirtualNetworkInherited"},
        },
    }


def _azure_firewall(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    *,
    subnet_id: str,
    public_ip_id: str,
    private_ip: str,
) -> Doc:
    """AzureFirewalls_Get (2024-05-01 field set), Premium tier with threat intelligence Deny."""
    rid = _rid(sub, rg, "Microsoft.Network/azureFirewalls", name)
    etag = _net_etag(rid)
    return {
        "name": name,
        "id": rid,
        "etag": etag,
        "type": "Microsoft.Network/azureFirewalls",
        "location": location,
        "tags": dict(tags),
        "zones": ["1", "2", "3"],
        "properties": {
            "provisioningState": "Succeeded",
            "sku": {"name": "AZFW_VNet", "tier": "Premium"},
            "threatIntelMode": "Deny",
            "additionalProperties": {},
            "ipConfigurations": [
                {
                    "name": "fw-ipconfig",
                    "id": f"{rid}/azureFirewallIpConfigurations/fw-ipconfig",
                    "etag": etag,
                    "type": "Microsoft.Network/azureFirewalls/azureFirewallIpConfigurations",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "privateIPAddress": private_ip,
                        "publicIPAddress": {"id": public_ip_id},
                        "subnet": {"id": subnet_id},
                    },
                }
            ],
            "networkRuleCollections": [],
            "applicationRuleCollections": [],
            "natRuleCollections": [],
            "hubIPAddresses": {"privateIPAddress": private_ip},
        },
    }


def _classic_front_door(sub: str, rg: str, name: str, tags: dict[str, str], backend: str) -> Doc:
    """FrontDoors_Get (Front Door classic, 2021-06-01 field set)."""
    rid = _rid(sub, rg, "Microsoft.Network/frontDoors", name)
    endpoint = f"{name}-azurefd-net"
    return {
        "name": name,
        "id": rid,
        "type": "Microsoft.Network/frontdoors",
        "location": "Global",
        "tags": dict(tags),
        "properties": {
            "resourceState": "Enabled",
            "provisioningState": "Succeeded",
            "cname": f"{name}.azurefd.net",
            "frontdoorId": guid(rid, "frontdoorId"),
            "friendlyName": name,
            "enabledState": "Enabled",
            "routingRules": [
                {
                    "id": f"{rid}/routingRules/default-route",
                    "name": "default-route",
                    "type": "Microsoft.Network/Frontdoors/RoutingRules",
                    "properties": {
                        "resourceState": "Enabled",
                        "frontendEndpoints": [{"id": f"{rid}/frontendEndpoints/{endpoint}"}],
                        "acceptedProtocols": ["Https"],
                        "patternsToMatch": ["/*"],
                        "enabledState": "Enabled",
                        "routeConfiguration": {
                            "@odata.type": (
                                "#Microsoft.Azure.FrontDoor.Models.FrontdoorForwardingConfiguration"
                            ),
                            "forwardingProtocol": "HttpsOnly",
                            "backendPool": {"id": f"{rid}/backendPools/storefront"},
                        },
                    },
                }
            ],
            "loadBalancingSettings": [
                {
                    "id": f"{rid}/loadBalancingSettings/lb",
                    "name": "lb",
                    "properties": {
                        "sampleSize": 4,
                        "successfulSamplesRequired": 2,
                        "additionalLatencyMilliseconds": 0,
                    },
                }
            ],
            "healthProbeSettings": [
                {
                    "id": f"{rid}/healthProbeSettings/probe",
                    "name": "probe",
                    "properties": {
                        "path": "/",
                        "protocol": "Https",
                        "intervalInSeconds": 30,
                        "enabledState": "Enabled",
                        "healthProbeMethod": "HEAD",
                    },
                }
            ],
            "backendPools": [
                {
                    "id": f"{rid}/backendPools/storefront",
                    "name": "storefront",
                    "properties": {
                        "backends": [
                            {
                                "address": backend,
                                "httpPort": 80,
                                "httpsPort": 443,
                                "enabledState": "Enabled",
                                "priority": 1,
                                "weight": 50,
                                "backendHostHeader": backend,
                            }
                        ],
                        "loadBalancingSettings": {"id": f"{rid}/loadBalancingSettings/lb"},
                        "healthProbeSettings": {"id": f"{rid}/healthProbeSettings/probe"},
                    },
                }
            ],
            "frontendEndpoints": [
                {
                    "id": f"{rid}/frontendEndpoints/{endpoint}",
                    "name": endpoint,
                    "properties": {
                        "hostName": f"{name}.azurefd.net",
                        "sessionAffinityEnabledState": "Disabled",
                        "sessionAffinityTtlSeconds": 0,
                        "webApplicationFirewallPolicyLink": None,
                    },
                }
            ],
            "backendPoolsSettings": {
                "enforceCertificateNameCheck": "Enabled",
                "sendRecvTimeoutSeconds": 30,
            },
        },
    }


def _health_etag(rid: str) -> str:
    return f'"{guid(rid, "etag")[:8]}-0000-0100-0000-000000000000"'


def _fhir_api(
    sub: str, rg: str, name: str, location: str, tags: dict[str, str], tenant: str
) -> Doc:
    """Services_Get for Azure API for FHIR (Microsoft.HealthcareApis/services, kind fhir-R4)."""
    rid = _rid(sub, rg, "Microsoft.HealthcareApis/services", name)
    return {
        "id": rid,
        "name": name,
        "type": "Microsoft.HealthcareApis/services",
        "kind": "fhir-R4",
        "location": location,
        "tags": dict(tags),
        "etag": _health_etag(rid),
        "identity": {
            "type": "SystemAssigned",
            "principalId": guid(rid, "identity"),
            "tenantId": tenant,
        },
        "properties": {
            "provisioningState": "Succeeded",
            "accessPolicies": [],
            "cosmosDbConfiguration": {"offerThroughput": 1000, "keyVaultKeyUri": None},
            "authenticationConfiguration": {
                "authority": f"https://login.microsoftonline.com/{tenant}",
                "audience": f"https://{name}.azurehealthcareapis.com",
                "smartProxyEnabled": False,
            },
            "corsConfiguration": {
                "origins": [],
                "headers": [],
                "methods": [],
                "allowCredentials": False,
            },
            "exportConfiguration": {"storageAccountName": None},
            "privateEndpointConnections": [],
            "publicNetworkAccess": "Disabled",
        },
    }


def _health_workspace(sub: str, rg: str, name: str, location: str, tags: dict[str, str]) -> Doc:
    """Workspaces_Get for Azure Health Data Services (Microsoft.HealthcareApis/workspaces)."""
    rid = _rid(sub, rg, "Microsoft.HealthcareApis/workspaces", name)
    return {
        "id": rid,
        "name": name,
        "type": "Microsoft.HealthcareApis/workspaces",
        "location": location,
        "tags": dict(tags),
        "etag": _health_etag(rid),
        "properties": {
            "provisioningState": "Succeeded",
            "privateEndpointConnections": [],
            "publicNetworkAccess": "Disabled",
        },
    }


def _fhir_service(
    workspace_id: str, name: str, location: str, tags: dict[str, str], tenant: str
) -> Doc:
    """FhirServices_Get (Azure Health Data Services, 2024-03-31 field set)."""
    rid = f"{workspace_id}/fhirservices/{name}"
    workspace = workspace_id.rsplit("/", 1)[-1]
    return {
        "id": rid,
        "name": f"{workspace}/{name}",
        "type": "Microsoft.HealthcareApis/workspaces/fhirservices",
        "kind": "fhir-R4",
        "location": location,
        "tags": dict(tags),
        "etag": _health_etag(rid),
        "identity": {
            "type": "SystemAssigned",
            "principalId": guid(rid, "identity"),
            "tenantId": tenant,
        },
        "properties": {
            "provisioningState": "Succeeded",
            "accessPolicies": [],
            "acrConfiguration": {"loginServers": [], "ociArtifacts": []},
            "authenticationConfiguration": {
                "authority": f"https://login.microsoftonline.com/{tenant}",
                "audience": f"https://{workspace}-{name}.fhir.azurehealthcareapis.com",
                "smartProxyEnabled": False,
                "smartIdentityProviders": [],
            },
            "corsConfiguration": {
                "origins": [],
                "headers": [],
                "methods": [],
                "allowCredentials": False,
            },
            "exportConfiguration": {"storageAccountName": None},
            "importConfiguration": {"enabled": False, "initialImportMode": False},
            "resourceVersionPolicyConfiguration": {
                "default": "versioned",
                "resourceTypeOverrides": {},
            },
            "encryption": {"customerManagedKeyEncryption": {"keyEncryptionKeyUrl": None}},
            "privateEndpointConnections": [],
            "publicNetworkAccess": "Disabled",
            "eventState": "Disabled",
        },
    }


def _cosmos_account(sub: str, rg: str, name: str, location: str, tags: dict[str, str]) -> Doc:
    """DatabaseAccounts_Get (Cosmos DB for NoSQL, 2024-11-15 field set)."""
    rid = _rid(sub, rg, "Microsoft.DocumentDB/databaseAccounts", name)
    region: Doc = {
        "id": f"{name}-{location}",
        "locationName": "East US 2",
        "documentEndpoint": f"https://{name}-{location}.documents.azure.com:443/",
        "provisioningState": "Succeeded",
        "failoverPriority": 0,
        "isZoneRedundant": True,
    }
    return {
        "id": rid,
        "name": name,
        "location": location,
        "type": "Microsoft.DocumentDB/databaseAccounts",
        "kind": "GlobalDocumentDB",
        "tags": dict(tags),
        "identity": {"type": "None"},
        "systemData": {"createdAt": _ts(50)},
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


def _aks_cluster(
    sub: str, rg: str, name: str, location: str, tags: dict[str, str], tenant: str
) -> Doc:
    """ManagedClusters_Get (2024-09-01 field set): Entra ID + Azure RBAC, no local accounts."""
    rid = _rid(sub, rg, "Microsoft.ContainerService/managedClusters", name)
    fqdn = f"{name}-{guid(rid, 'dns')[:8]}.hcp.{location}.azmk8s.io"
    return {
        "id": rid,
        "location": location,
        "name": name,
        "type": "Microsoft.ContainerService/ManagedClusters",
        "tags": dict(tags),
        "sku": {"name": "Base", "tier": "Standard"},
        "identity": {
            "type": "SystemAssigned",
            "principalId": guid(rid, "identity"),
            "tenantId": tenant,
        },
        "properties": {
            "provisioningState": "Succeeded",
            "powerState": {"code": "Running"},
            "kubernetesVersion": "1.30.6",
            "currentKubernetesVersion": "1.30.6",
            "dnsPrefix": name,
            "fqdn": fqdn,
            "azurePortalFQDN": fqdn.replace(".hcp.", ".portal.hcp."),
            "agentPoolProfiles": [
                {
                    "name": "system",
                    "count": 3,
                    "vmSize": "Standard_D4ds_v5",
                    "osDiskSizeGB": 128,
                    "osDiskType": "Ephemeral",
                    "maxPods": 110,
                    "type": "VirtualMachineScaleSets",
                    "enableAutoScaling": True,
                    "minCount": 3,
                    "maxCount": 6,
                    "provisioningState": "Succeeded",
                    "powerState": {"code": "Running"},
                    "orchestratorVersion": "1.30.6",
                    "mode": "System",
                    "osType": "Linux",
                    "osSKU": "AzureLinux",
                    "enableEncryptionAtHost": True,
                    "enableFIPS": False,
                }
            ],
            "nodeResourceGroup": f"MC_{rg}_{name}_{location}",
            "enableRBAC": True,
            "aadProfile": {"managed": True, "enableAzureRBAC": True, "tenantID": tenant},
            "disableLocalAccounts": True,
            "networkProfile": {
                "networkPlugin": "azure",
                "networkPluginMode": "overlay",
                "networkPolicy": "cilium",
                "networkDataplane": "cilium",
                "loadBalancerSku": "standard",
                "podCidr": "192.168.0.0/16",
                "serviceCidr": "172.16.0.0/16",
                "dnsServiceIP": "172.16.0.10",
                "outboundType": "loadBalancer",
            },
            "apiServerAccessProfile": {
                "enablePrivateCluster": False,
                "authorizedIPRanges": ["198.51.100.0/24"],
            },
            "oidcIssuerProfile": {"enabled": True},
            "securityProfile": {"workloadIdentity": {"enabled": True}},
            "autoUpgradeProfile": {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "NodeImage"},
        },
    }


# --- compute -------------------------------------------------------------------------------


def _disk_encryption_set(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    *,
    vault_id: str,
    vault_name: str,
    key: str,
) -> Doc:
    rid = _rid(sub, rg, "Microsoft.Compute/diskEncryptionSets", name)
    return {
        "identity": {"type": "SystemAssigned", "principalId": guid(rid, "identity")},
        "properties": {
            "activeKey": {
                "sourceVault": {"id": vault_id},
                "keyUrl": (
                    f"https://{vault_name}.vault.azure.net/keys/{key}/"
                    f"{guid(rid, 'key').replace('-', '')}"
                ),
            },
            "encryptionType": "EncryptionAtRestWithCustomerKey",
            "rotationToLatestKeyVersionEnabled": True,
            "previousKeys": [],
            "provisioningState": "Succeeded",
        },
        "type": "Microsoft.Compute/diskEncryptionSets",
        "location": location,
        "tags": dict(tags),
        "id": rid,
        "name": name,
    }


def _disk(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    *,
    size_gb: int,
    des_id: str | None = None,
    managed_by: str | None = None,
    os_type: str | None = None,
    network_access: str = "DenyAll",
    created: int = 0,
) -> Doc:
    """Disks_Get (2024-03-02 field set); ``des_id`` means customer-managed key encryption."""
    rid = _rid(sub, rg, "Microsoft.Compute/disks", name)
    encryption: Doc = (
        {"type": "EncryptionAtRestWithCustomerKey", "diskEncryptionSetId": des_id}
        if des_id
        else {"type": "EncryptionAtRestWithPlatformKey"}
    )
    props: Doc = {}
    if os_type:
        props["osType"] = os_type
        props["hyperVGeneration"] = "V2"
        props["creationData"] = {
            "createOption": "FromImage",
            "imageReference": {
                "id": (
                    f"/Subscriptions/{sub}/Providers/Microsoft.Compute/Locations/{location}/"
                    "Publishers/MicrosoftWindowsServer/ArtifactTypes/VMImage/Offers/WindowsServer/"
                    "Skus/2022-datacenter-azure-edition/Versions/20348.2527.240605"
                )
            },
        }
        props["securityProfile"] = {"securityType": "TrustedLaunch"}
    else:
        props["creationData"] = {"createOption": "Empty"}
    props.update(
        {
            "diskSizeGB": size_gb,
            "diskIOPSReadWrite": 500,
            "diskMBpsReadWrite": 100,
            "encryption": encryption,
            "networkAccessPolicy": network_access,
            "publicNetworkAccess": "Disabled" if network_access == "DenyAll" else "Enabled",
            "timeCreated": _ts(created),
            "provisioningState": "Succeeded",
            "diskState": "Attached" if managed_by else "Unattached",
            "diskSizeBytes": size_gb * 1073741824,
            "uniqueId": guid(rid, "uniqueId"),
            "supportedCapabilities": {"acceleratedNetwork": True},
        }
    )
    doc: Doc = {}
    if managed_by:
        doc["managedBy"] = managed_by
    doc.update(
        {
            "sku": {"name": "Premium_LRS", "tier": "Premium"},
            "properties": props,
            "type": "Microsoft.Compute/disks",
            "location": location,
            "tags": dict(tags),
            "id": rid,
            "name": name,
        }
    )
    return doc


def _virtual_machine(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    tenant: str,
    *,
    os_disk: str,
    data_disks: Sequence[str],
    nic_id: str,
    encryption_at_host: bool,
    created: int = 0,
) -> Doc:
    """VirtualMachines_Get (2024-03-01 field set), a Windows VM with managed disks."""
    rid = _rid(sub, rg, "Microsoft.Compute/virtualMachines", name)
    return {
        "name": name,
        "id": rid,
        "type": "Microsoft.Compute/virtualMachines",
        "location": location,
        "tags": dict(tags),
        "etag": '"1"',
        "identity": {
            "type": "SystemAssigned",
            "principalId": guid(rid, "identity"),
            "tenantId": tenant,
        },
        "properties": {
            "vmId": guid(rid, "vmId"),
            "hardwareProfile": {"vmSize": "Standard_D4s_v5"},
            "securityProfile": {
                "encryptionAtHost": encryption_at_host,
                "securityType": "TrustedLaunch",
                "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True},
            },
            "storageProfile": {
                "imageReference": {
                    "publisher": "MicrosoftWindowsServer",
                    "offer": "WindowsServer",
                    "sku": "2022-datacenter-azure-edition",
                    "version": "latest",
                },
                "osDisk": {
                    "osType": "Windows",
                    "name": os_disk.rsplit("/", 1)[-1],
                    "createOption": "FromImage",
                    "caching": "ReadWrite",
                    "managedDisk": {"storageAccountType": "Premium_LRS", "id": os_disk},
                    "deleteOption": "Detach",
                    "diskSizeGB": 128,
                },
                "dataDisks": [
                    {
                        "lun": lun,
                        "name": disk.rsplit("/", 1)[-1],
                        "createOption": "Attach",
                        "caching": "ReadOnly",
                        "managedDisk": {"storageAccountType": "Premium_LRS", "id": disk},
                        "deleteOption": "Detach",
                        "diskSizeGB": 512,
                    }
                    for lun, disk in enumerate(data_disks)
                ],
            },
            "osProfile": {
                "computerName": name[:15],
                "adminUsername": "chsadmin",
                "windowsConfiguration": {
                    "provisionVMAgent": True,
                    "enableAutomaticUpdates": True,
                    "patchSettings": {"patchMode": "AutomaticByPlatform"},
                },
                "secrets": [],
                "allowExtensionOperations": True,
            },
            "networkProfile": {"networkInterfaces": [{"id": nic_id}]},
            "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
            "provisioningState": "Succeeded",
            "timeCreated": _ts(created),
        },
    }


# --- monitoring and governance ---------------------------------------------------------------


def _action_group(sub: str, rg: str, name: str, short_name: str, email: str) -> Doc:
    rid = (
        f"/subscriptions/{sub}/resourceGroups/{rg}/providers/microsoft.insights/actionGroups/{name}"
    )
    return {
        "id": rid,
        "type": "Microsoft.Insights/ActionGroups",
        "name": name,
        "location": "Global",
        "tags": {},
        "properties": {
            "groupShortName": short_name,
            "enabled": True,
            "emailReceivers": [
                {
                    "name": "secops-mailbox",
                    "emailAddress": email,
                    "useCommonAlertSchema": True,
                    "status": "Enabled",
                }
            ],
            "smsReceivers": [],
            "webhookReceivers": [],
            "armRoleReceivers": [],
        },
    }


def _activity_log_alert(
    sub: str,
    rg: str,
    name: str,
    *,
    operation: str,
    action_group: str,
    description: str,
    category: str = "Administrative",
) -> Doc:
    """ActivityLogAlerts_Get (2020-10-01 field set); Insights ids use ``microsoft.insights``."""
    rid = (
        f"/subscriptions/{sub}/resourceGroups/{rg}/providers/microsoft.insights/"
        f"activityLogAlerts/{name}"
    )
    conditions: list[Doc] = [{"field": "category", "equals": category, "odata.type": None}]
    if operation:
        conditions.append({"field": "operationName", "equals": operation, "odata.type": None})
    return {
        "id": rid,
        "type": "Microsoft.Insights/ActivityLogAlerts",
        "name": name,
        "location": "Global",
        "tags": {},
        "properties": {
            "scopes": [_sub_id(sub)],
            "condition": {"allOf": conditions},
            "actions": {"actionGroups": [{"actionGroupId": action_group, "webhookProperties": {}}]},
            "enabled": True,
            "description": description,
        },
    }


def _policy_assignment(
    scope: str,
    name: str,
    display_name: str,
    definition_id: str,
    tenant: str,
    *,
    location: str = "",
    parameters: Doc | None = None,
    enforcement: str = "Default",
    created: int = 0,
) -> Doc:
    """PolicyAssignments_Get (2023-04-01 field set); DeployIfNotExists sets need an identity."""
    rid = f"{scope}/providers/Microsoft.Authorization/policyAssignments/{name}"
    doc: Doc = {
        "properties": {
            "displayName": display_name,
            "metadata": {
                "assignedBy": "Cloud Platform Team",
                "createdBy": guid("principal", "platform-automation"),
                "createdOn": _ts(created),
                "parameterScopes": {},
            },
            "policyDefinitionId": definition_id,
            "notScopes": [],
            "parameters": dict(parameters or {}),
            "enforcementMode": enforcement,
            "scope": scope,
        },
        "id": rid,
        "type": "Microsoft.Authorization/policyAssignments",
        "name": name,
    }
    if location:
        doc["location"] = location
        doc["identity"] = {
            "type": "SystemAssigned",
            "principalId": guid(rid, "identity"),
            "tenantId": tenant,
        }
    return doc


# name: (guid, description, actions, dataActions)
BUILT_IN_ROLES: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    "Owner": (
        "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        "Grants full access to manage all resources, including the ability to assign roles "
        "in Azure RBAC.",
        ("*",),
        (),
    ),
    "Contributor": (
        "b24988ac-6180-42a0-ab88-20f7382dd24c",
        "Grants full access to manage all resources, but does not allow you to assign "
        "roles in Azure RBAC.",
        ("*",),
        (),
    ),
    "Reader": (
        "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        "View all resources, but does not allow you to make any changes.",
        ("*/read",),
        (),
    ),
    "User Access Administrator": (
        "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
        "Lets you manage user access to Azure resources.",
        ("*/read", "Microsoft.Authorization/*"),
        (),
    ),
    "Storage Blob Data Contributor": (
        "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
        "Allows for read, write and delete access to Azure Storage blob containers and data",
        ("Microsoft.Storage/storageAccounts/blobServices/containers/*",),
        ("Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*",),
    ),
    "Key Vault Administrator": (
        "00482a5a-887f-4fb3-b363-3b7fe8e74483",
        "Perform all data plane operations on a key vault and all objects "
        "in it, including certificates, keys, and secrets.",
        ("Microsoft.KeyVault/checkNameAvailability/read", "Microsoft.KeyVault/vaults/*/read"),
        ("Microsoft.KeyVault/vaults/*",),
    ),
    "Key Vault Crypto Service Encryption User": (
        "e147488a-f6f5-4113-8e2d-b22465e65bf6",
        "Read metadata of keys and perform wrap/unwrap operations. Only works for key vaults "
        "that use the 'Azure role-based access control' permission model.",
        ("Microsoft.EventGrid/eventSubscriptions/write",),
        (
            "Microsoft.KeyVault/vaults/keys/read",
            "Microsoft.KeyVault/vaults/keys/wrap/action",
            "Microsoft.KeyVault/vaults/keys/unwrap/action",
        ),
    ),
    "Key Vault Secrets User": (
        "4633458b-17de-408a-b874-0445c86b69e6",
        "Read secret contents.",
        (),
        (
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        ),
    ),
}


def _role_definition_id(sub: str, role_guid: str) -> str:
    return f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}"


def _role_definition(sub: str, role: str) -> Doc:
    """RoleDefinitions_Get for a built-in role, as read at a subscription scope."""
    role_guid, description, actions, data_actions = BUILT_IN_ROLES[role]
    return {
        "properties": {
            "roleName": role,
            "type": "BuiltInRole",
            "description": description,
            "assignableScopes": ["/"],
            "permissions": [
                {
                    "actions": list(actions),
                    "notActions": [],
                    "dataActions": list(data_actions),
                    "notDataActions": [],
                }
            ],
            "createdOn": "2015-02-02T21:55:09.8806423Z",
            "updatedOn": "2024-04-16T20:23:45.6520549Z",
            "createdBy": None,
            "updatedBy": None,
        },
        "id": _role_definition_id(sub, role_guid),
        "type": "Microsoft.Authorization/roleDefinitions",
        "name": role_guid,
    }


def _custom_role(sub: str, name: str, description: str, actions: Sequence[str]) -> Doc:
    role_guid = guid(sub, "custom-role", name)
    author = guid("principal", "platform-automation")
    return {
        "properties": {
            "roleName": name,
            "type": "CustomRole",
            "description": description,
            "assignableScopes": [_sub_id(sub)],
            "permissions": [
                {
                    "actions": list(actions),
                    "notActions": [],
                    "dataActions": [],
                    "notDataActions": [],
                }
            ],
            "createdOn": _ts(300),
            "updatedOn": _ts(300),
            "createdBy": author,
            "updatedBy": author,
        },
        "id": _role_definition_id(sub, role_guid),
        "type": "Microsoft.Authorization/roleDefinitions",
        "name": role_guid,
    }


def _role_assignment(
    scope: str,
    sub: str,
    role_guid: str,
    principal_id: str,
    principal_type: str,
    *,
    name: str | None = None,
    created: int = 0,
    description: str | None = None,
) -> Doc:
    """RoleAssignments_Get (2022-04-01 field set)."""
    assignment = name or guid(scope, role_guid, principal_id)
    author = guid("principal", "platform-automation")
    return {
        "properties": {
            "roleDefinitionId": _role_definition_id(sub, role_guid),
            "principalId": principal_id,
            "principalType": principal_type,
            "scope": scope,
            "condition": None,
            "conditionVersion": None,
            "createdOn": _ts(created),
            "updatedOn": _ts(created),
            "createdBy": author,
            "updatedBy": author,
            "delegatedManagedIdentityResourceId": None,
            "description": description,
        },
        "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{assignment}",
        "type": "Microsoft.Authorization/roleAssignments",
        "name": assignment,
    }


# --- the demo estate -------------------------------------------------------------------------

DEMO_TENANT = guid("tenant", "contoso-health-shop")
DEMO_PROD = guid("subscription", "contoso-health-shop", "production")
DEMO_DEV = guid("subscription", "contoso-health-shop", "devtest")
_PROD_LOC = "eastus2"
_DEV_LOC = "eastus"

# Resource groups of the demo, by role.
RG_SHOP = "rg-chs-shop-prod"  # storefront: web + function app, Front Door and WAF policies
RG_PHI = "rg-chs-phi-prod"  # patient data: tagged data-classification=phi
RG_SECURITY = "rg-chs-security-prod"  # customer-managed keys
RG_MONITORING = "rg-chs-monitoring-prod"  # Log Analytics, audit storage, alerts
RG_NETWATCH = "NetworkWatcherRG"
RG_DEV = "rg-chs-shop-dev"
_CUSTOM_ROLE = "CHS Operations (custom)"


def _demo_ids() -> dict[str, str]:
    """Ids of the demo's notable resources (violations and their compliant twins)."""
    p, d = DEMO_PROD, DEMO_DEV
    return {
        "sub_prod": _sub_id(p),
        "sub_dev": _sub_id(d),
        "st_phi_docs": _rid(p, RG_PHI, "Microsoft.Storage/storageAccounts", "stchsphidocs"),
        "st_phi_records": _rid(p, RG_PHI, "Microsoft.Storage/storageAccounts", "stchsphirecords"),
        "st_audit": _rid(p, RG_MONITORING, "Microsoft.Storage/storageAccounts", "stchsauditprod"),
        "st_dev": _rid(d, RG_DEV, "Microsoft.Storage/storageAccounts", "stchsdevassets"),
        "disk_phi_data": _rid(p, RG_PHI, "Microsoft.Compute/disks", "disk-vm-chs-phi-etl01-data"),
        "disk_phi_os": _rid(p, RG_PHI, "Microsoft.Compute/disks", "disk-vm-chs-phi-etl01-os"),
        "vm_phi": _rid(p, RG_PHI, "Microsoft.Compute/virtualMachines", "vm-chs-phi-etl01"),
        "sql_phi_smk": _rid(p, RG_PHI, "Microsoft.Sql/servers", "sql-chs-phi-orders"),
        "sql_phi_cmk": _rid(p, RG_PHI, "Microsoft.Sql/servers", "sql-chs-phi-records"),
        "kv_phi_app": _rid(p, RG_PHI, "Microsoft.KeyVault/vaults", "kv-chs-phi-app"),
        "kv_cmk": _rid(p, RG_SECURITY, "Microsoft.KeyVault/vaults", "kv-chs-cmk-prod"),
        "kv_dev": _rid(d, RG_DEV, "Microsoft.KeyVault/vaults", "kv-chs-shop-dev"),
        "law_legacy": (
            f"/subscriptions/{p}/resourcegroups/{RG_MONITORING}/providers/"
            "microsoft.operationalinsights/workspaces/log-chs-legacy-prod"
        ),
        "law_audit": (
            f"/subscriptions/{p}/resourcegroups/{RG_MONITORING}/providers/"
            "microsoft.operationalinsights/workspaces/log-chs-audit-prod"
        ),
        "waf_fd_portal": _rid(
            p,
            RG_SHOP,
            "Microsoft.Network/FrontDoorWebApplicationFirewallPolicies",
            "wafchspharmacyportal",
        ),
        "waf_fd_shop": _rid(
            p,
            RG_SHOP,
            "Microsoft.Network/FrontDoorWebApplicationFirewallPolicies",
            "wafchsstorefront",
        ),
        "agw": _rid(p, RG_PHI, "Microsoft.Network/applicationGateways", "agw-chs-patient-api"),
        "waf_appgw": _rid(
            p,
            RG_PHI,
            "Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies",
            "wafchspatientapi",
        ),
        "nsg_phi_app": _rid(
            p, RG_PHI, "Microsoft.Network/networkSecurityGroups", "nsg-chs-phi-app"
        ),
        "nsg_phi_data": _rid(
            p, RG_PHI, "Microsoft.Network/networkSecurityGroups", "nsg-chs-phi-data"
        ),
        "nsg_dev": _rid(d, RG_DEV, "Microsoft.Network/networkSecurityGroups", "nsg-chs-shop-dev"),
        "app_dev": _rid(d, RG_DEV, "Microsoft.Web/sites", "app-chs-shop-dev"),
        "app_portal": _rid(p, RG_PHI, "Microsoft.Web/sites", "app-chs-pharmacy-portal"),
        "app_storefront": _rid(p, RG_SHOP, "Microsoft.Web/sites", "app-chs-storefront"),
        "custom_role": _role_definition_id(p, guid(p, "custom-role", _CUSTOM_ROLE)),
    }


def demo_ground_truth() -> dict[str, list[str]]:
    """Resources of :func:`demo_estate` known to violate each failure pattern, and — for every
    check of the catalog that fails anywhere in the demo — exactly the resources it fails.

    P3 note: the HITRUST/HIPAA initiative is assigned on the (non-PHI) dev/test subscription
    only — the classic "assigned on the wrong subscription" mistake — so the PHI production
    subscription has no baseline.
    """
    ids = _demo_ids()
    return {
        "P1": [ids["st_phi_docs"], ids["disk_phi_data"]],
        "P2": [ids["sql_phi_smk"]],
        "P3": [ids["sub_prod"]],
        "P4": [ids["kv_phi_app"]],
        "P5": [ids["kv_phi_app"], ids["st_phi_docs"], ids["law_legacy"]],
        "P6": [ids["waf_fd_portal"]],
        # pattern checks
        "storage_account_customer_managed_key_enabled": [ids["st_phi_docs"]],
        "compute_disk_customer_managed_key_enabled": [ids["disk_phi_data"]],
        "sql_server_tde_protector_customer_managed": [ids["sql_phi_smk"]],
        "governance_subscription_hipaa_initiative_assigned": [ids["sub_prod"]],
        "keyvault_vault_access_policies_not_broad": [ids["kv_phi_app"]],
        "keyvault_vault_audit_logs_enabled": [ids["kv_phi_app"]],
        "storage_account_blob_diagnostic_logs_enabled": [ids["st_phi_docs"]],
        "monitoring_workspace_total_retention_six_years": [ids["law_legacy"]],
        "monitoring_resource_audit_logs_enabled": [ids["law_legacy"]],
        "edge_frontdoor_waf_policy_prevention_mode": [ids["waf_fd_portal"]],
        # the rest of what is wrong in the demo
        "network_nsg_management_ports_internet_closed": [ids["nsg_phi_app"]],
        "network_nsg_phi_internet_inbound_denied": [ids["nsg_phi_app"]],
        "storage_account_min_tls_1_2": [ids["st_dev"]],
        "storage_account_public_network_access_restricted": [ids["st_dev"]],
        "storage_account_private_endpoint_approved": [ids["st_phi_docs"]],
        "storage_account_blob_versioning_enabled": [ids["st_phi_docs"]],
        "storage_account_oauth_default_enabled": [ids["st_phi_docs"]],
        "appservice_site_https_only": [ids["app_dev"]],
        "appservice_site_ftps_only": [ids["app_dev"]],
        "monitoring_workspace_public_query_disabled": [ids["law_legacy"]],
        "monitoring_workspace_public_ingestion_disabled": [ids["law_legacy"]],
        "monitoring_workspace_local_auth_disabled": [ids["law_legacy"]],
        "monitoring_subscription_admin_activity_alert": [ids["sub_dev"]],
        "keyvault_vault_purge_protection_enabled": [ids["kv_phi_app"]],
        "keyvault_vault_rbac_authorization_enabled": [ids["kv_phi_app"], ids["kv_dev"]],
        "keyvault_vault_network_access_restricted": [ids["kv_phi_app"]],
        "keyvault_vault_private_endpoint_approved": [ids["kv_phi_app"]],
        "governance_custom_role_no_broad_permissions": [ids["custom_role"]],
    }


def demo_compliant_twins() -> dict[str, list[str]]:
    """For each pattern, resources of :func:`demo_estate` that are set up correctly for it.

    Every twin is PHI-scoped except P3's, the dev/test subscription, which carries the
    initiative (evaluate it with PHI scope forced on to see it pass).
    """
    ids = _demo_ids()
    return {
        "P1": [ids["st_phi_records"], ids["disk_phi_os"]],
        "P2": [ids["sql_phi_cmk"]],
        "P3": [ids["sub_dev"]],
        "P4": [ids["kv_cmk"], ids["kv_dev"]],
        "P5": [ids["kv_cmk"], ids["st_phi_records"], ids["law_audit"]],
        "P6": [ids["waf_fd_shop"], ids["waf_appgw"]],
    }


def demo_estate() -> Estate:
    """Contoso Health Shop: an online pharmacy shop whose patient records are PHI.

    Subscriptions: *Contoso Health Shop - Production* (tagged ``data-classification: phi``) and
    *Contoso Health Shop - Dev/Test* (no PHI). Production resource groups:

    * ``rg-chs-shop-prod`` (front end): storefront web app, order-processing function app
      (``functionapp,linux``), Front Door Premium with two custom domains, two security policies
      and two WAF policies (tagged ``hipaa: true``: they front the pharmacy portal), the classic
      Front Door of the old storefront, the product-catalog Cosmos DB account, an AKS cluster;
    * ``rg-chs-phi-prod`` (tagged ``data-classification: phi``): patient-record and document
      storage, two SQL servers with a database each, the app key vault, the pharmacy portal, a
      VNet (app, data, private-endpoint, Application Gateway and firewall subnets) with two NSGs,
      four private endpoints, an ETL VM with its NIC and two disks, an Application Gateway with
      its WAF policy, Azure Firewall with its public IP, Azure API for FHIR and a Health Data
      Services workspace with a FHIR service;
    * ``rg-chs-security-prod``: the customer-managed-key vault and the disk encryption set;
    * ``rg-chs-monitoring-prod``: the audit and legacy Log Analytics workspaces (with tables),
      audit storage, an action group and three activity log alerts;
    * ``NetworkWatcherRG``: the network watcher with an NSG flow log and a VNet flow log.

    Dev/Test holds ``rg-chs-shop-dev``: a storage account, a web app, an NSG, a VNet and a vault.
    Governance: Defender's default initiative and an allowed-locations policy on production, the
    HITRUST/HIPAA initiative on dev/test only; built-in and one custom role definition; role
    assignments including Owner and Contributor on the PHI resource group.

    Known violations (:func:`demo_ground_truth`), each with a compliant twin
    (:func:`demo_compliant_twins`): P1 ``stchsphidocs`` uses Microsoft-managed keys and the ETL
    VM's data disk a platform key; P2 ``sql-chs-phi-orders`` has a service-managed TDE protector;
    P3 production lacks the HITRUST/HIPAA initiative; P4 ``kv-chs-phi-app`` grants a service
    principal keys ``all`` and ``purge``; P5 that vault and ``stchsphidocs`` send no diagnostic
    logs and ``log-chs-legacy-prod`` keeps 30 days; P6 the pharmacy portal's Front Door WAF
    policy is in Detection mode. Also: ``nsg-chs-phi-app`` allows RDP (3389) from the Internet
    (what the demo fixes), ``stchsdevassets`` accepts TLS 1.0, ``app-chs-shop-dev`` allows plain
    HTTP, and a custom role grants ``*``.
    """
    t, p, d = DEMO_TENANT, DEMO_PROD, DEMO_DEV
    ids = _demo_ids()
    loc = _PROD_LOC
    docs: list[Doc] = []
    prod_tags = {"environment": "production", "cost-center": "chs-ecommerce"}
    phi_tags = {**prod_tags, "workload": "patient-records"}
    shop_tags = {**prod_tags, "workload": "storefront"}
    dev_tags = {"environment": "dev", "cost-center": "chs-ecommerce"}
    hipaa = {"hipaa": "true"}

    prod_sub = _subscription(
        p,
        t,
        "Contoso Health Shop - Production",
        {"data-classification": "phi", "environment": "production"},
        "EnterpriseAgreement_2014-09-01",
    )
    dev_sub = _subscription(
        d, t, "Contoso Health Shop - Dev/Test", {"environment": "dev"}, "MSDNDevTest_2014-09-01"
    )
    docs += [prod_sub, dev_sub]
    docs += [
        _resource_group(p, RG_SHOP, loc, shop_tags),
        _resource_group(p, RG_PHI, loc, {**phi_tags, "data-classification": "phi"}),
        _resource_group(p, RG_SECURITY, loc, {**prod_tags, "workload": "security"}),
        _resource_group(p, RG_MONITORING, loc, {**prod_tags, "workload": "monitoring"}),
        _resource_group(p, RG_NETWATCH, loc, {}),
        _resource_group(d, RG_DEV, _DEV_LOC, dev_tags),
    ]

    # Monitoring: the audit workspace keeps six years (P5 twin), the legacy one 30 days (P5).
    audit_ws = _workspace(
        p,
        RG_MONITORING,
        "log-chs-audit-prod",
        loc,
        {**prod_tags, **hipaa},
        retention=90,
        tables=[
            ("AzureActivity", 90, 2192),
            ("AzureDiagnostics", 90, 2192),
            ("StorageBlobLogs", 90, 2192),
        ],
    )
    legacy_ws = _workspace(
        p,
        RG_MONITORING,
        "log-chs-legacy-prod",
        loc,
        {**prod_tags, **hipaa},
        retention=30,
        tables=[("AzureDiagnostics", 30, 30), ("AppServiceHTTPLogs", 30, 30)],
        public_network="Enabled",
        local_auth=True,
        created=40,
    )
    docs += audit_ws + legacy_ws
    audit_ws_id = audit_ws[0]["id"]
    pe_audit = _rid(p, RG_PHI, "Microsoft.Network/privateEndpoints", "pe-stchsauditprod-blob")
    docs.append(
        _storage_account(
            p,
            RG_MONITORING,
            "stchsauditprod",
            loc,
            {**prod_tags, **hipaa},
            t,
            cmk_vault="kv-chs-cmk-prod",
            cmk_key="cmk-storage-audit",
            private_endpoints=[pe_audit],
            created=20,
        )
    )
    docs.append(_blob_service(ids["st_audit"], soft_delete_days=35, versioning=True))
    docs.append(
        _diagnostic_setting(
            f"{ids['st_audit']}/blobServices/default",
            "blob-audit-to-law",
            workspace_id=audit_ws_id,
            logs=[_log(group="audit")],
            metrics=("Transaction",),
        )
    )
    # The workspaces' own query audit (LAQueryLogs): only the audit workspace has it.
    docs.append(
        _diagnostic_setting(
            audit_ws_id, "law-query-audit", workspace_id=audit_ws_id, logs=[_log(group="audit")]
        )
    )
    action_group = _action_group(
        p, RG_MONITORING, "ag-chs-secops", "chssecops", "secops@contoso-health-shop.example"
    )
    docs.append(action_group)
    for name, operation, description in (
        (
            "alert-chs-policy-assignment-write",
            "Microsoft.Authorization/policyAssignments/write",
            "Policy assignment created or updated.",
        ),
        (
            "alert-chs-nsg-write",
            "Microsoft.Network/networkSecurityGroups/write",
            "Network security group created or updated.",
        ),
        (
            "alert-chs-nsg-rule-write",
            "Microsoft.Network/networkSecurityGroups/securityRules/write",
            "Network security group rule created or updated.",
        ),
    ):
        docs.append(
            _activity_log_alert(
                p,
                RG_MONITORING,
                name,
                operation=operation,
                action_group=action_group["id"],
                description=description,
            )
        )
    docs.append(
        _diagnostic_setting(
            ids["sub_prod"],
            "activity-log-to-audit",
            workspace_id=audit_ws_id,
            logs=[_log(c) for c in _ACTIVITY_LOG_CATEGORIES],
            metrics=(),
        )
    )
    docs.append(
        _diagnostic_setting(
            ids["sub_dev"],
            "activity-log-to-audit",
            workspace_id=audit_ws_id,
            logs=[_log("Administrative"), _log("Security"), _log("Policy")],
            metrics=(),
        )
    )

    # Security: the customer-managed-key vault (RBAC model, logged: P4 and P5 twin).
    pe_subnet = (
        f"{_rid(p, RG_PHI, 'Microsoft.Network/virtualNetworks', 'vnet-chs-phi-prod')}"
        "/subnets/snet-privateendpoints"
    )
    pe_kv = _rid(p, RG_PHI, "Microsoft.Network/privateEndpoints", "pe-kv-chs-cmk-prod")
    docs.append(
        _key_vault(
            p,
            RG_SECURITY,
            "kv-chs-cmk-prod",
            loc,
            {**prod_tags, "data-classification": "phi"},
            t,
            rbac=True,
            private_endpoints=[pe_kv],
            created=10,
        )
    )
    docs.append(
        _diagnostic_setting(
            ids["kv_cmk"],
            "kv-audit-to-law",
            workspace_id=audit_ws_id,
            logs=[_log(group="audit"), _log(group="allLogs")],
        )
    )

    # PHI network: RDP open to the Internet on the app subnet's NSG (what the demo fixes).
    vnet_id = _rid(p, RG_PHI, "Microsoft.Network/virtualNetworks", "vnet-chs-phi-prod")
    app_subnet, data_subnet = f"{vnet_id}/subnets/snet-app", f"{vnet_id}/subnets/snet-data"
    appgw_subnet, fw_subnet = (
        f"{vnet_id}/subnets/snet-appgw",
        f"{vnet_id}/subnets/AzureFirewallSubnet",
    )
    watcher = _network_watcher(p, loc)
    nsg_flow = f"{watcher['id']}/flowLogs/fl-nsg-chs-phi-app"
    docs += _nsg(
        p,
        RG_PHI,
        "nsg-chs-phi-app",
        loc,
        phi_tags,
        [
            {
                "name": "AllowHttpsFromFrontDoor",
                "priority": 100,
                "source": "AzureFrontDoor.Backend",
                "port": "443",
                "description": "Front Door to the pharmacy portal.",
            },
            {
                "name": "AllowRdpInbound",
                "priority": 300,
                "source": "Internet",
                "port": "3389",
                "description": "Temporary vendor access to the ETL host.",
            },
        ],
        subnets=[app_subnet, appgw_subnet],
        flow_logs=[nsg_flow],
    )
    docs += _nsg(
        p,
        RG_PHI,
        "nsg-chs-phi-data",
        loc,
        phi_tags,
        [
            {
                "name": "AllowSqlFromAppSubnet",
                "priority": 100,
                "source": "10.20.1.0/24",
                "port": "1433",
                "description": "Application subnet to SQL private endpoints.",
            },
            {
                "name": "DenyInternetInbound",
                "priority": 4000,
                "source": "Internet",
                "port": "*",
                "access": "Deny",
                "protocol": "*",
            },
        ],
        subnets=[data_subnet, pe_subnet],
    )
    docs += _vnet(
        p,
        RG_PHI,
        "vnet-chs-phi-prod",
        loc,
        phi_tags,
        "10.20.0.0/16",
        [
            (
                "snet-app",
                "10.20.1.0/24",
                ids["nsg_phi_app"],
                ["Microsoft.KeyVault", "Microsoft.Storage"],
            ),
            ("snet-data", "10.20.2.0/24", ids["nsg_phi_data"], ["Microsoft.Storage"]),
            ("snet-privateendpoints", "10.20.3.0/24", ids["nsg_phi_data"], []),
            ("snet-appgw", "10.20.4.0/24", ids["nsg_phi_app"], []),
            ("AzureFirewallSubnet", "10.20.0.0/26", None, []),
        ],
    )
    for nsg_id in (ids["nsg_phi_app"], ids["nsg_phi_data"]):
        docs.append(
            _diagnostic_setting(
                nsg_id,
                "nsg-events-to-law",
                workspace_id=audit_ws_id,
                logs=[_log("NetworkSecurityGroupEvent"), _log("NetworkSecurityGroupRuleCounter")],
                metrics=(),
            )
        )
    docs.append(watcher)
    docs.append(
        _flow_log(
            watcher["id"],
            "fl-nsg-chs-phi-app",
            loc,
            target_id=ids["nsg_phi_app"],
            storage_id=ids["st_audit"],
            workspace=audit_ws[0],
            retention_days=0,
        )
    )
    docs.append(
        _flow_log(
            watcher["id"],
            "fl-vnet-chs-phi-prod",
            loc,
            target_id=vnet_id,
            storage_id=ids["st_audit"],
            workspace=audit_ws[0],
            retention_days=0,
        )
    )

    # PHI storage: records use a customer-managed key and log blob access (P1/P5 twin);
    # documents use Microsoft-managed keys and log nothing (P1, P5).
    pe_records = _rid(p, RG_PHI, "Microsoft.Network/privateEndpoints", "pe-stchsphirecords-blob")
    docs.append(
        _storage_account(
            p,
            RG_PHI,
            "stchsphirecords",
            loc,
            phi_tags,
            t,
            cmk_vault="kv-chs-cmk-prod",
            cmk_key="cmk-storage-records",
            private_endpoints=[pe_records],
            subnet_rules=[app_subnet],
            created=30,
        )
    )
    docs.append(_blob_service(ids["st_phi_records"], soft_delete_days=35, versioning=True))
    docs.append(
        _diagnostic_setting(
            f"{ids['st_phi_records']}/blobServices/default",
            "blob-audit-to-law",
            workspace_id=audit_ws_id,
            logs=[_log("StorageRead"), _log("StorageWrite"), _log("StorageDelete")],
            metrics=("Transaction",),
        )
    )
    docs.append(
        _storage_account(
            p, RG_PHI, "stchsphidocs", loc, phi_tags, t, oauth_default=False, created=35
        )
    )
    docs.append(_blob_service(ids["st_phi_docs"], soft_delete_days=7, versioning=False))

    # PHI key vault with a legacy access policy: keys "all" + "purge" for a service principal.
    etl_sp = guid("principal", "service-principal", "chs-etl-pipeline")
    portal_mi = guid(ids["app_portal"], "identity")
    docs.append(
        _key_vault(
            p,
            RG_PHI,
            "kv-chs-phi-app",
            loc,
            phi_tags,
            t,
            rbac=False,
            purge_protection=False,
            public_network="Enabled",
            default_action="Allow",
            created=45,
            access_policies=[
                _access_policy(
                    t,
                    etl_sp,
                    ["all"],
                    ["get", "list", "set", "delete", "purge"],
                    ["get", "list", "purge"],
                ),
                _access_policy(t, portal_mi, [], ["get", "list"], []),
            ],
        )
    )

    # PHI SQL: orders server on a service-managed protector (P2); records server on a CMK (twin).
    pe_sql = _rid(p, RG_PHI, "Microsoft.Network/privateEndpoints", "pe-sql-chs-phi-records")
    docs += _sql_server(
        p,
        RG_PHI,
        "sql-chs-phi-orders",
        loc,
        phi_tags,
        t,
        cmk_vault=None,
        audit_storage="stchsauditprod",
    )
    docs += _sql_database(
        ids["sql_phi_smk"], "sqldb-prescription-orders", loc, phi_tags, created=60
    )
    docs += _sql_server(
        p,
        RG_PHI,
        "sql-chs-phi-records",
        loc,
        phi_tags,
        t,
        cmk_vault="kv-chs-cmk-prod",
        cmk_key="cmk-sql-tde",
        audit_storage="stchsauditprod",
        private_endpoints=[pe_sql],
    )
    docs += _sql_database(ids["sql_phi_cmk"], "sqldb-patient-records", loc, phi_tags, created=65)

    # Private endpoints on the PHI VNet.
    for name, target, group, ip in (
        ("pe-stchsphirecords-blob", ids["st_phi_records"], "blob", "10.20.3.4"),
        ("pe-sql-chs-phi-records", ids["sql_phi_cmk"], "sqlServer", "10.20.3.5"),
        ("pe-kv-chs-cmk-prod", ids["kv_cmk"], "vault", "10.20.3.6"),
        ("pe-stchsauditprod-blob", ids["st_audit"], "blob", "10.20.3.7"),
    ):
        docs.append(
            _private_endpoint(
                p,
                RG_PHI,
                name,
                loc,
                phi_tags,
                subnet_id=pe_subnet,
                target_id=target,
                group_id=group,
                ip=ip,
            )
        )

    # The ETL VM: OS disk on a customer-managed key (P1 twin), data disk on a platform key (P1).
    des = _disk_encryption_set(
        p,
        RG_SECURITY,
        "des-chs-phi-prod",
        loc,
        prod_tags,
        vault_id=ids["kv_cmk"],
        vault_name="kv-chs-cmk-prod",
        key="cmk-disks",
    )
    nic_id = _rid(p, RG_PHI, "Microsoft.Network/networkInterfaces", "nic-vm-chs-phi-etl01")
    docs.append(des)
    docs.append(
        _disk(
            p,
            RG_PHI,
            "disk-vm-chs-phi-etl01-os",
            loc,
            phi_tags,
            size_gb=128,
            des_id=des["id"],
            managed_by=ids["vm_phi"],
            os_type="Windows",
            created=70,
        )
    )
    docs.append(
        _disk(
            p,
            RG_PHI,
            "disk-vm-chs-phi-etl01-data",
            loc,
            phi_tags,
            size_gb=512,
            managed_by=ids["vm_phi"],
            created=71,
        )
    )
    docs.append(
        _virtual_machine(
            p,
            RG_PHI,
            "vm-chs-phi-etl01",
            loc,
            phi_tags,
            t,
            os_disk=ids["disk_phi_os"],
            data_disks=[ids["disk_phi_data"]],
            nic_id=nic_id,
            encryption_at_host=True,
            created=70,
        )
    )
    docs.append(
        _nic(
            p,
            RG_PHI,
            "nic-vm-chs-phi-etl01",
            loc,
            phi_tags,
            subnet_id=app_subnet,
            vm_id=ids["vm_phi"],
            ip="10.20.1.4",
        )
    )

    # Apps: the pharmacy portal (PHI) and the storefront + order functions (front end).
    docs += _site(
        p,
        RG_PHI,
        "app-chs-pharmacy-portal",
        loc,
        phi_tags,
        t,
        ftps="Disabled",
        public_network="Disabled",
        subnet_id=app_subnet,
        plan="asp-chs-phi-prod",
    )
    docs.append(
        _diagnostic_setting(
            ids["app_portal"],
            "appsvc-to-law",
            workspace_id=audit_ws_id,
            logs=[
                _log("AppServiceHTTPLogs"),
                _log("AppServiceAuditLogs"),
                _log("AppServiceConsoleLogs"),
            ],
        )
    )
    docs += _site(
        p,
        RG_SHOP,
        "app-chs-storefront",
        loc,
        shop_tags,
        t,
        ftps="FtpsOnly",
        plan="asp-chs-shop-prod",
    )
    docs.append(
        _diagnostic_setting(
            ids["app_storefront"],
            "appsvc-to-law",
            workspace_id=audit_ws_id,
            logs=[_log("AppServiceHTTPLogs"), _log("AppServiceAuditLogs")],
        )
    )
    docs += _site(
        p,
        RG_SHOP,
        "func-chs-orders",
        loc,
        shop_tags,
        t,
        kind="functionapp,linux",
        ftps="Disabled",
        plan="asp-chs-func-prod",
    )

    # Edge: Front Door with two WAF policies; the pharmacy portal's is in Detection mode (P6).
    profile = _afd_profile(p, RG_SHOP, "afd-chs-prod", {**shop_tags, **hipaa})
    domain_portal = _afd_custom_domain(
        profile["id"],
        "pharmacy-contoso-health-shop-example",
        "pharmacy.contoso-health-shop.example",
    )
    domain_shop = _afd_custom_domain(
        profile["id"], "www-contoso-health-shop-example", "www.contoso-health-shop.example"
    )
    sp_portal = _afd_security_policy(
        profile["id"], "sp-pharmacy-portal", ids["waf_fd_portal"], [domain_portal["id"]]
    )
    sp_shop = _afd_security_policy(
        profile["id"], "sp-storefront", ids["waf_fd_shop"], [domain_shop["id"]]
    )
    docs += [profile, domain_portal, domain_shop, sp_portal, sp_shop]
    docs.append(
        _diagnostic_setting(
            profile["id"],
            "afd-to-law",
            workspace_id=audit_ws_id,
            logs=[_log("FrontDoorAccessLog"), _log("FrontDoorWebApplicationFirewallLog")],
        )
    )
    docs.append(
        _fd_waf_policy(
            p,
            RG_SHOP,
            "wafchspharmacyportal",
            {**shop_tags, **hipaa},
            mode="Detection",
            security_policies=[sp_portal["id"]],
        )
    )
    docs.append(
        _fd_waf_policy(
            p,
            RG_SHOP,
            "wafchsstorefront",
            {**shop_tags, **hipaa},
            mode="Prevention",
            security_policies=[sp_shop["id"]],
        )
    )
    agw_id = _rid(p, RG_PHI, "Microsoft.Network/applicationGateways", "agw-chs-patient-api")
    docs.append(
        _appgw_waf_policy(
            p, RG_PHI, "wafchspatientapi", loc, phi_tags, mode="Prevention", gateways=[agw_id]
        )
    )

    # Gateways and the hub firewall on the PHI VNet, each logging to the audit workspace.
    pip = _public_ip(p, RG_PHI, "pip-afw-chs-phi", loc, phi_tags)
    audited: list[tuple[Doc, list[Doc]]] = [
        (
            _application_gateway(
                p,
                RG_PHI,
                "agw-chs-patient-api",
                loc,
                phi_tags,
                subnet_id=appgw_subnet,
                waf_policy_id=ids["waf_appgw"],
                backend_fqdn="app-chs-pharmacy-portal.azurewebsites.net",
                private_ip="10.20.4.10",
            ),
            [_log("ApplicationGatewayAccessLog"), _log("ApplicationGatewayFirewallLog")],
        ),
        (
            _azure_firewall(
                p,
                RG_PHI,
                "afw-chs-phi",
                loc,
                phi_tags,
                subnet_id=fw_subnet,
                public_ip_id=pip["id"],
                private_ip="10.20.0.4",
            ),
            [_log(group="allLogs")],
        ),
    ]

    # Patient data services: the legacy Azure API for FHIR and its Health Data Services successor.
    hds = _health_workspace(p, RG_PHI, "hdwschsphi", loc, phi_tags)
    audited += [
        (_fhir_api(p, RG_PHI, "fhir-chs-legacy", loc, phi_tags, t), [_log("AuditLogs")]),
        (_fhir_service(hds["id"], "fhirpatients", loc, phi_tags, t), [_log("AuditLogs")]),
    ]
    docs += [pip, hds]
    for resource, logs in audited:
        docs.append(resource)
        docs.append(
            _diagnostic_setting(resource["id"], "audit-to-law", workspace_id=audit_ws_id, logs=logs)
        )

    # Shop platform (no PHI): product catalog, the container platform, the classic Front Door
    # that still fronts the old storefront hostname.
    docs.append(_cosmos_account(p, RG_SHOP, "cosmos-chs-catalog", loc, shop_tags))
    docs.append(_aks_cluster(p, RG_SHOP, "aks-chs-shop", loc, shop_tags, t))
    docs.append(
        _classic_front_door(
            p, RG_SHOP, "fd-chs-legacy-shop", shop_tags, "app-chs-storefront.azurewebsites.net"
        )
    )

    # Dev/test: no PHI; TLS 1.0 storage, plain-HTTP web app, an RBAC vault.
    dev_vnet = _rid(d, RG_DEV, "Microsoft.Network/virtualNetworks", "vnet-chs-shop-dev")
    docs.append(
        _storage_account(
            d,
            RG_DEV,
            "stchsdevassets",
            _DEV_LOC,
            dev_tags,
            t,
            min_tls="TLS1_0",
            default_action="Allow",
            public_network="Enabled",
            shared_key=True,
            infrastructure_encryption=False,
            oauth_default=False,
            created=100,
        )
    )
    docs.append(_blob_service(ids["st_dev"], soft_delete_days=None, versioning=False))
    docs += _site(
        d,
        RG_DEV,
        "app-chs-shop-dev",
        _DEV_LOC,
        dev_tags,
        t,
        https_only=False,
        ftps="AllAllowed",
        identity=False,
        plan="asp-chs-shop-dev",
    )
    docs += _nsg(
        d,
        RG_DEV,
        "nsg-chs-shop-dev",
        _DEV_LOC,
        dev_tags,
        [
            {"name": "AllowHttpsInbound", "priority": 100, "source": "Internet", "port": "443"},
            {
                "name": "AllowSshFromOffice",
                "priority": 200,
                "source": "198.51.100.0/24",
                "port": "22",
                "description": "Office egress range.",
            },
        ],
        subnets=[f"{dev_vnet}/subnets/snet-web"],
    )
    docs += _vnet(
        d,
        RG_DEV,
        "vnet-chs-shop-dev",
        _DEV_LOC,
        dev_tags,
        "10.90.0.0/16",
        [
            ("snet-web", "10.90.1.0/24", ids["nsg_dev"], []),
        ],
    )
    docs.append(
        _key_vault(
            d,
            RG_DEV,
            "kv-chs-shop-dev",
            _DEV_LOC,
            dev_tags,
            t,
            rbac=False,
            access_policies=[
                _access_policy(
                    t,
                    guid("principal", "group", "shop-developers"),
                    ["get", "list"],
                    ["get", "list", "set"],
                    ["get", "list"],
                )
            ],
            public_network="Enabled",
            default_action="Allow",
            created=110,
        )
    )
    docs.append(
        _diagnostic_setting(
            ids["kv_dev"], "kv-audit-to-law", workspace_id=audit_ws_id, logs=[_log(group="audit")]
        )
    )

    # Governance: the HITRUST/HIPAA initiative sits on dev/test only (P3 on production).
    docs.append(
        _policy_assignment(
            ids["sub_prod"],
            "SecurityCenterBuiltIn",
            f"ASC Default (subscription: {p})",
            _MCSB_ID,
            t,
            created=5,
        )
    )
    docs.append(
        _policy_assignment(
            ids["sub_prod"],
            "chs-allowed-locations",
            "Allowed locations",
            _ALLOWED_LOCATIONS_ID,
            t,
            parameters={"listOfAllowedLocations": {"value": ["eastus2", "centralus"]}},
            created=6,
        )
    )
    docs.append(
        _policy_assignment(
            ids["sub_dev"],
            guid(d, "hipaa").replace("-", "")[:24],
            "HITRUST/HIPAA",
            HIPAA_INITIATIVE_ID,
            t,
            location=_DEV_LOC,
            created=7,
        )
    )

    docs += _demo_roles(t, p, d, ids, etl_sp, portal_mi)
    return Estate(
        tenant_id=t,
        subscriptions=[prod_sub, dev_sub],
        documents=docs,
        ground_truth=demo_ground_truth(),
    )


def _demo_roles(
    t: str, p: str, d: str, ids: dict[str, str], etl_sp: str, portal_mi: str
) -> list[Doc]:
    """Role definitions and assignments, including broad ones on PHI scopes."""
    docs: list[Doc] = [
        _role_definition(p, r)
        for r in (
            "Owner",
            "Contributor",
            "Reader",
            "Storage Blob Data Contributor",
            "Key Vault Crypto Service Encryption User",
        )
    ]
    docs += [_role_definition(d, r) for r in ("Owner", "Contributor")]
    custom = _custom_role(
        p,
        _CUSTOM_ROLE,
        "Break-glass operations role created during the 2023 migration.",
        ["*"],
    )
    docs.append(custom)
    role = {name: spec[0] for name, spec in BUILT_IN_ROLES.items()}
    admins = guid("principal", "group", "cloud-platform-admins")
    auditors = guid("principal", "group", "compliance-auditors")
    developers = guid("principal", "group", "shop-developers")
    contractor = guid("principal", "user", "etl-contractor")
    phi_rg = _rg_id(p, RG_PHI)
    records_mi = guid(ids["st_phi_records"], "identity")
    sql_mi = guid(ids["sql_phi_cmk"], "identity")
    for scope, sub, role_guid, principal, kind, created in (
        (ids["sub_prod"], p, role["Owner"], admins, "Group", 1),
        (ids["sub_prod"], p, role["Reader"], auditors, "Group", 2),
        (
            ids["sub_prod"],
            p,
            custom["name"],
            guid("principal", "service-principal", "chs-automation"),
            "ServicePrincipal",
            3,
        ),
        (phi_rg, p, role["Owner"], contractor, "User", 400),
        (phi_rg, p, role["Contributor"], etl_sp, "ServicePrincipal", 401),
        (
            ids["st_phi_records"],
            p,
            role["Storage Blob Data Contributor"],
            portal_mi,
            "ServicePrincipal",
            402,
        ),
        (
            ids["kv_cmk"],
            p,
            role["Key Vault Crypto Service Encryption User"],
            records_mi,
            "ServicePrincipal",
            403,
        ),
        (
            ids["kv_cmk"],
            p,
            role["Key Vault Crypto Service Encryption User"],
            sql_mi,
            "ServicePrincipal",
            404,
        ),
        (ids["sub_dev"], d, role["Owner"], admins, "Group", 4),
        (ids["sub_dev"], d, role["Contributor"], developers, "Group", 5),
    ):
        docs.append(_role_assignment(scope, sub, role_guid, principal, kind, created=created))
    return docs


# --- generated estates ---------------------------------------------------------------------

# (kind, weight): the share of generated resources of each kind.
GENERATED_MIX: tuple[tuple[str, float], ...] = (
    ("storage", 0.18),
    ("nsg", 0.12),
    ("vnet", 0.05),
    ("keyvault", 0.08),
    ("sql_server", 0.04),
    ("sql_database", 0.08),
    ("web_app", 0.09),
    ("function_app", 0.05),
    ("disk", 0.12),
    ("vm", 0.04),
    ("private_endpoint", 0.05),
    ("workspace", 0.03),
    ("fd_waf", 0.02),
    ("appgw_waf", 0.02),
    ("afd_profile", 0.03),
)

_GEN_ROLES = (
    ("Reader", 0.38),
    ("Contributor", 0.22),
    ("Owner", 0.05),
    ("User Access Administrator", 0.02),
    ("Storage Blob Data Contributor", 0.13),
    ("Key Vault Secrets User", 0.12),
    ("Key Vault Administrator", 0.04),
    ("Key Vault Crypto Service Encryption User", 0.04),
)
_GEN_LOCATIONS = ("eastus2", "centralus", "westus3")


class _Generator:
    """Builds a generated estate; see :func:`generated_estate` for the mix and the rules."""

    def __init__(self, resources: int, role_assignments: int, seed: int, rate: float) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.rate = rate
        self.resources = resources
        self.role_assignments = role_assignments
        self.tenant = guid("tenant", "generated", str(seed))
        self.docs: list[Doc] = []
        self.truth: dict[str, list[str]] = {p: [] for p in PATTERNS}
        self.subscriptions: list[Doc] = []
        self.groups: list[tuple[str, str, bool, str]] = []  # sub, rg, phi, location
        self.scopes: list[tuple[str, str, bool]] = []  # scope id, sub, phi
        self.workspaces: dict[str, Doc] = {}  # sub -> monitoring workspace
        self.cmk_vault: dict[str, tuple[str, str]] = {}  # sub -> (vault name, vault id)
        self.subnets: list[tuple[str, str, str]] = []  # sub, rg, subnet id
        self.counter = 0

    def violates(self) -> bool:
        return self.rng.random() < self.rate

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.seed % 1000:03d}{self.counter:06d}"

    def build(self) -> Estate:
        n_subs = min(8, 2 + self.resources // 10_000)
        n_groups = max(2 * n_subs, self.resources // 200)
        for index in range(n_subs):
            self.subscription(index)
        for index in range(n_groups):
            sub = self.subscriptions[index % n_subs]["subscriptionId"]
            phi = index % 3 == 0
            location = _GEN_LOCATIONS[index % len(_GEN_LOCATIONS)]
            rg = f"rg-{'phi' if phi else 'app'}-{index:04d}"
            tags = {"environment": "production" if index % 5 else "dev"}
            if phi:
                tags["data-classification"] = "phi"
            self.docs.append(_resource_group(sub, rg, location, tags))
            self.groups.append((sub, rg, phi, location))
            self.scopes.append((_rg_id(sub, rg), sub, phi))
        kinds = [k for k, _ in GENERATED_MIX]
        weights = [w for _, w in GENERATED_MIX]
        picks = self.rng.choices(kinds, weights=weights, k=self.resources)
        makers = {
            "storage": self.storage,
            "nsg": self.nsg,
            "vnet": self.vnet,
            "keyvault": self.keyvault,
            "sql_server": self.sql_server,
            "sql_database": self.sql_database,
            "web_app": self.web_app,
            "function_app": self.function_app,
            "disk": self.disk,
            "vm": self.vm,
            "private_endpoint": self.private_endpoint,
            "workspace": self.workspace,
            "fd_waf": self.fd_waf,
            "appgw_waf": self.appgw_waf,
            "afd_profile": self.afd_profile,
        }
        n_groups_total = len(self.groups)
        for kind in picks:
            group = self.groups[self.rng.randrange(n_groups_total)]
            makers[kind](*group)
        self.roles()
        truth = {k: v for k, v in self.truth.items() if v or k in PATTERNS}
        return Estate(self.tenant, self.subscriptions, self.docs, truth)

    # scaffolding per subscription: monitoring workspace, CMK vault, alerts, watcher, policy
    def subscription(self, index: int) -> None:
        sub = guid("subscription", "generated", str(self.seed), str(index))
        t = self.tenant
        phi = index % 2 == 0
        tags = {"environment": "production" if phi else "dev"}
        if phi:
            tags["data-classification"] = "phi"
        doc = _subscription(
            sub,
            t,
            f"Generated {index:02d}{' (PHI)' if phi else ''}",
            tags,
            "EnterpriseAgreement_2014-09-01",
        )
        self.subscriptions.append(doc)
        self.docs.append(doc)
        self.scopes.append((doc["id"], sub, phi))
        location = _GEN_LOCATIONS[0]
        rg = "rg-platform"
        self.docs.append(_resource_group(sub, rg, location, {"workload": "platform"}))
        self.docs.append(_resource_group(sub, RG_NETWATCH, location, {}))
        ws = _workspace(
            sub,
            rg,
            f"log-platform-{index:02d}",
            location,
            {"hipaa": "true"},
            retention=90,
            tables=[("AzureActivity", 90, 2192), ("AzureDiagnostics", 90, 2192)],
        )
        self.docs += ws
        self.workspaces[sub] = ws[0]
        self.docs.append(self.diag(ws[0]["id"], [_log(group="audit")]))
        vault = f"kv-cmk-{self.seed % 1000:03d}-{index:02d}"
        vault_doc = _key_vault(
            sub, rg, vault, location, {"data-classification": "phi"}, t, rbac=True
        )
        self.docs.append(vault_doc)
        self.cmk_vault[sub] = (vault, vault_doc["id"])
        self.docs.append(self.diag(vault_doc["id"], [_log(group="audit")]))
        self.docs.append(
            _disk_encryption_set(
                sub,
                rg,
                "des-platform",
                location,
                {},
                vault_id=vault_doc["id"],
                vault_name=vault,
                key="cmk-disks",
            )
        )
        ag = _action_group(sub, rg, "ag-secops", "secops", "secops@generated.example")
        self.docs.append(ag)
        self.docs.append(
            _activity_log_alert(
                sub,
                rg,
                "alert-policy-assignment-write",
                operation="Microsoft.Authorization/policyAssignments/write",
                action_group=ag["id"],
                description="Policy assignment changed.",
            )
        )
        self.docs.append(
            _diagnostic_setting(
                doc["id"],
                "activity-log",
                workspace_id=ws[0]["id"],
                logs=[_log(c) for c in _ACTIVITY_LOG_CATEGORIES],
                metrics=(),
            )
        )
        self.docs.append(_network_watcher(sub, location))
        if not phi or not self.violates():
            self.docs.append(
                _policy_assignment(
                    doc["id"],
                    guid(sub, "hipaa").replace("-", "")[:24],
                    "HITRUST/HIPAA",
                    HIPAA_INITIATIVE_ID,
                    t,
                    location=location,
                )
            )
        else:
            self.truth["P3"].append(doc["id"])
        self.docs.append(
            _policy_assignment(
                doc["id"],
                "SecurityCenterBuiltIn",
                f"ASC Default (subscription: {sub})",
                _MCSB_ID,
                t,
            )
        )
        for role in BUILT_IN_ROLES:
            self.docs.append(_role_definition(sub, role))

    def diag(self, parent_id: str, logs: Sequence[Doc], name: str = "to-law") -> Doc:
        sub = parent_id.split("/", 3)[2]
        return _diagnostic_setting(
            parent_id, name, workspace_id=self.workspaces[sub]["id"], logs=logs
        )

    def tags(self, phi: bool) -> dict[str, str]:
        return (
            {"environment": "production", "owner": "team-" + "abcdefgh"[self.counter % 8]}
            if not phi
            else {"environment": "production", "workload": "patient-data"}
        )

    def remember(self, rid: str, sub: str, phi: bool) -> None:
        if len(self.scopes) < 50_000:
            self.scopes.append((rid, sub, phi))

    def storage(self, sub: str, rg: str, phi: bool, location: str) -> None:
        name = self.name("st")
        p1 = phi and self.violates()
        p5 = phi and self.violates()
        vault = self.cmk_vault[sub][0]
        account = _storage_account(
            sub,
            rg,
            name,
            location,
            self.tags(phi),
            self.tenant,
            cmk_vault=vault if phi and not p1 else None,
            cmk_key=f"cmk-{name}",
            min_tls="TLS1_2" if self.rng.random() > 0.05 else "TLS1_0",
            created=self.counter % 5000,
        )
        rid = account["id"]
        self.docs.append(account)
        self.docs.append(_blob_service(rid, soft_delete_days=30 if phi else None, versioning=phi))
        if not p5:
            self.docs.append(
                self.diag(
                    f"{rid}/blobServices/default",
                    [_log("StorageRead"), _log("StorageWrite"), _log("StorageDelete")],
                )
            )
        if p1:
            self.truth["P1"].append(rid)
        if p5:
            self.truth["P5"].append(rid)
        self.remember(rid, sub, phi)

    def nsg(self, sub: str, rg: str, phi: bool, location: str) -> None:
        name = self.name("nsg-")
        rules: list[RuleSpec] = [
            {
                "name": "AllowHttpsInbound",
                "priority": 100,
                "source": "Internet" if not phi else "AzureFrontDoor.Backend",
                "port": "443",
            },
            {"name": "AllowVnetSql", "priority": 200, "source": "VirtualNetwork", "port": "1433"},
        ]
        if self.rng.random() < 0.04:
            rules.append(
                {"name": "AllowRdpInbound", "priority": 300, "source": "Internet", "port": "3389"}
            )
        docs = _nsg(sub, rg, name, location, self.tags(phi), rules)
        self.docs += docs
        if phi and self.violates():
            self.truth["P5"].append(docs[0]["id"])
        elif phi:
            self.docs.append(self.diag(docs[0]["id"], [_log("NetworkSecurityGroupEvent")]))

    def vnet(self, sub: str, rg: str, phi: bool, location: str) -> None:
        name = self.name("vnet-")
        second = self.counter % 250
        subnets: list[SubnetSpec] = [
            ("snet-app", f"10.{second}.1.0/24", None, ["Microsoft.Storage"]),
            ("snet-data", f"10.{second}.2.0/24", None, []),
        ]
        docs = _vnet(sub, rg, name, location, self.tags(phi), f"10.{second}.0.0/16", subnets)
        self.docs += docs
        if len(self.subnets) < 10_000:
            self.subnets.append((sub, rg, docs[1]["id"]))

    def keyvault(self, sub: str, rg: str, phi: bool, location: str) -> None:
        name = f"kv-{self.seed % 1000:03d}-{self.counter + 1:07d}"
        self.counter += 1
        p4 = phi and self.violates()
        p5 = phi and self.violates()
        policies: list[Doc] = []
        if p4:
            policies.append(
                _access_policy(self.tenant, guid(name, "sp"), ["all"], ["get", "list"], ["purge"])
            )
        vault = _key_vault(
            sub,
            rg,
            name,
            location,
            self.tags(phi),
            self.tenant,
            rbac=not p4,
            access_policies=policies,
        )
        self.docs.append(vault)
        if not p5:
            self.docs.append(self.diag(vault["id"], [_log(group="audit")]))
        if p4:
            self.truth["P4"].append(vault["id"])
        if p5:
            self.truth["P5"].append(vault["id"])
        self.remember(vault["id"], sub, phi)

    def sql_server(self, sub: str, rg: str, phi: bool, location: str) -> None:
        p2 = phi and self.violates()
        docs = _sql_server(
            sub,
            rg,
            self.name("sql-"),
            location,
            self.tags(phi),
            self.tenant,
            cmk_vault=self.cmk_vault[sub][0] if phi and not p2 else None,
            cmk_key="cmk-sql-tde",
            audit_storage="staudit",
        )
        self.docs += docs
        if p2:
            self.truth["P2"].append(docs[0]["id"])

    def sql_database(self, sub: str, rg: str, phi: bool, location: str) -> None:
        server = _sql_server(
            sub,
            rg,
            self.name("sql-"),
            location,
            self.tags(phi),
            self.tenant,
            cmk_vault=self.cmk_vault[sub][0] if phi else None,
            cmk_key="cmk-sql-tde",
            audit_storage="staudit",
        )
        self.docs += server
        self.docs += _sql_database(server[0]["id"], "sqldb-app", location, self.tags(phi))

    def web_app(self, sub: str, rg: str, phi: bool, location: str, kind: str = "app") -> None:
        docs = _site(
            sub,
            rg,
            self.name("app-" if kind == "app" else "func-"),
            location,
            self.tags(phi),
            self.tenant,
            kind=kind,
            https_only=phi or self.rng.random() > 0.1,
            ftps="Disabled" if phi else "FtpsOnly",
        )
        self.docs += docs
        if phi and self.violates():
            self.truth["P5"].append(docs[0]["id"])
            return
        logs = (
            [_log("FunctionAppLogs")]
            if kind.startswith("functionapp")
            else [_log("AppServiceHTTPLogs"), _log("AppServiceAuditLogs")]
        )
        self.docs.append(self.diag(docs[0]["id"], logs))

    def function_app(self, sub: str, rg: str, phi: bool, location: str) -> None:
        self.web_app(sub, rg, phi, location, kind="functionapp,linux")

    def disk(self, sub: str, rg: str, phi: bool, location: str) -> None:
        p1 = phi and self.violates()
        des = (
            _rid(sub, "rg-platform", "Microsoft.Compute/diskEncryptionSets", "des-platform")
            if phi and not p1
            else None
        )
        disk = _disk(
            sub,
            rg,
            self.name("disk-"),
            location,
            self.tags(phi),
            size_gb=256,
            des_id=des,
            created=self.counter % 5000,
        )
        self.docs.append(disk)
        if p1:
            self.truth["P1"].append(disk["id"])

    def vm(self, sub: str, rg: str, phi: bool, location: str) -> None:
        name = self.name("vm")
        vm_id = _rid(sub, rg, "Microsoft.Compute/virtualMachines", name)
        p1 = phi and self.violates()
        des = (
            _rid(sub, "rg-platform", "Microsoft.Compute/diskEncryptionSets", "des-platform")
            if phi and not p1
            else None
        )
        os_disk = _disk(
            sub,
            rg,
            f"{name}-os",
            location,
            self.tags(phi),
            size_gb=128,
            des_id=des,
            managed_by=vm_id,
            os_type="Windows",
        )
        nic_id = _rid(sub, rg, "Microsoft.Network/networkInterfaces", f"nic-{name}")
        self.docs.append(
            _virtual_machine(
                sub,
                rg,
                name,
                location,
                self.tags(phi),
                self.tenant,
                os_disk=os_disk["id"],
                data_disks=[],
                nic_id=nic_id,
                encryption_at_host=phi,
            )
        )
        self.docs.append(os_disk)
        if p1:
            self.truth["P1"].append(os_disk["id"])

    def private_endpoint(self, sub: str, rg: str, phi: bool, location: str) -> None:
        if not self.subnets:
            self.vnet(sub, rg, phi, location)
        pe_sub, pe_rg, subnet = self.subnets[self.rng.randrange(len(self.subnets))]
        target = self.cmk_vault[pe_sub][1]
        status = "Approved" if self.rng.random() > 0.05 else "Pending"
        self.docs.append(
            _private_endpoint(
                pe_sub,
                pe_rg,
                self.name("pe-"),
                location,
                self.tags(phi),
                subnet_id=subnet,
                target_id=target,
                group_id="vault",
                status=status,
            )
        )

    def workspace(self, sub: str, rg: str, phi: bool, location: str) -> None:
        tags = {"hipaa": "true"} if phi else {"environment": "production"}
        p5 = phi and self.violates()
        total = 30 if p5 or not phi else 2192
        retention = 30 if p5 or not phi else 90
        docs = _workspace(
            sub,
            rg,
            self.name("log-"),
            location,
            tags,
            retention=retention,
            tables=[("AzureDiagnostics", retention, total), ("AzureActivity", retention, total)],
        )
        self.docs += docs
        if p5:
            self.truth["P5"].append(docs[0]["id"])
        else:
            self.docs.append(self.diag(docs[0]["id"], [_log(group="audit")]))

    def fd_waf(self, sub: str, rg: str, phi: bool, location: str) -> None:
        p6 = phi and self.violates()
        waf = _fd_waf_policy(
            sub, rg, self.name("waf"), self.tags(phi), mode="Detection" if p6 else "Prevention"
        )
        self.docs.append(waf)
        if p6:
            self.truth["P6"].append(waf["id"])

    def appgw_waf(self, sub: str, rg: str, phi: bool, location: str) -> None:
        p6 = phi and self.violates()
        waf = _appgw_waf_policy(
            sub,
            rg,
            self.name("wafagw"),
            location,
            self.tags(phi),
            mode="Detection" if p6 else "Prevention",
        )
        self.docs.append(waf)
        if p6:
            self.truth["P6"].append(waf["id"])

    def afd_profile(self, sub: str, rg: str, phi: bool, location: str) -> None:
        profile = _afd_profile(sub, rg.lower(), self.name("afd-"), self.tags(phi))
        self.docs.append(profile)
        self.docs.append(
            self.diag(
                profile["id"],
                [_log("FrontDoorAccessLog"), _log("FrontDoorWebApplicationFirewallLog")],
            )
        )

    def roles(self) -> None:
        if not self.role_assignments:
            return
        names = [r for r, _ in _GEN_ROLES]
        weights = [w for _, w in _GEN_ROLES]
        kinds = ("User", "User", "Group", "ServicePrincipal")
        principals = max(10, self.role_assignments // 4)
        rng = self.rng
        for index in range(self.role_assignments):
            scope, sub, _phi = self.scopes[rng.randrange(len(self.scopes))]
            role = rng.choices(names, weights=weights)[0]
            principal = rng.randrange(principals)
            self.docs.append(
                _role_assignment(
                    scope,
                    sub,
                    BUILT_IN_ROLES[role][0],
                    guid("principal", str(self.seed), str(principal)),
                    kinds[principal % 4],
                    name=guid("assignment", str(self.seed), str(index)),
                    created=index % 9000,
                )
            )


def generated_estate(
    resources: int,
    role_assignments: int = 0,
    seed: int = 0,
    *,
    violation_rate: float = 0.1,
) -> Estate:
    """A deterministic estate of ``resources`` resources and ``role_assignments`` assignments.

    Layout: ``min(8, 2 + resources // 10000)`` subscriptions (even-numbered ones tagged
    ``data-classification: phi``), ``max(2 * subscriptions, resources // 200)`` resource groups
    spread round-robin over them (every third tagged PHI), each resource in a random group.
    Each subscription also gets a platform group with a Log Analytics workspace (6-year tables),
    an RBAC key vault for customer-managed keys, an action group, an activity log alert, an
    activity-log diagnostic setting, a network watcher, the Defender default assignment, the
    built-in role definitions and — unless it is a P3 violator — the HITRUST/HIPAA initiative.

    Mix of the ``resources`` (shares of :data:`GENERATED_MIX`, with the documents each brings):
    storage accounts 18% (+ ``blobServices/default``, + a blob diagnostic setting), NSGs 12%
    (+ a ``securityRules`` document per rule, + a diagnostic setting when PHI), virtual networks
    5% (+ 2 subnets), key vaults 8% (+ diagnostic setting), SQL servers 4% (+ encryption protector
    and auditing settings), SQL databases 8% (each with its own server; + TDE), web apps 9% and
    function apps 5% (+ ``config/web`` + diagnostic setting), managed disks 12%, VMs 4% (+ an OS
    disk, customer-managed for PHI unless it violates P1), private endpoints 5%, Log Analytics workspaces 3% (+ 2 tables), Front Door WAF
    policies 2%, Application Gateway WAF policies 2%, Front Door profiles 3% (+ diagnostic
    setting). Roughly 2.7 documents per resource.

    Violations: each PHI-scoped resource that a pattern concerns violates it with probability
    ``violation_rate``: P1 Microsoft-managed storage keys or a platform-key disk; P2 a
    service-managed TDE protector; P3 a PHI subscription without the initiative; P4 an access
    policy with keys ``all`` and certificates ``purge``; P5 a vault, blob service, NSG or web app
    without diagnostic settings, or a workspace with 30-day tables and no audit setting of its
    own; P6 a WAF policy in Detection mode. ``ground_truth`` lists exactly those. Non-PHI
    resources never break P2-P6 outright (their vaults use RBAC, their WAFs prevent); they keep
    Microsoft-managed keys and short retention, which the patterns only forbid for PHI. About 4%
    of NSGs open RDP to the Internet and 5% of storage accounts accept TLS 1.0 (not in
    ``ground_truth``: no pattern covers them).
    """
    if resources < 0 or role_assignments < 0:
        raise ValueError("resources and role_assignments must not be negative")
    if not 0.0 <= violation_rate <= 1.0:
        raise ValueError("violation_rate must be between 0 and 1")
    generator = _Generator(resources, role_assignments, seed, violation_rate)
    # Hundreds of thousands of small dicts: cyclic GC passes would dominate the run time, and
    # nothing built here forms a cycle.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return generator.build()
    finally:
        if was_enabled:
            gc.enable()


# --- files and specs -----------------------------------------------------------------------


def save_estate(estate: Estate, path: str | Path) -> None:
    """Writes the estate as JSON.

    The documents go under ``value`` (an ARM list body), so ``phiguard evaluate FILE`` reads a
    saved estate as it is; :func:`load_estate` reads it back.
    """
    payload = {
        "kind": ESTATE_FORMAT,
        "version": ESTATE_VERSION,
        "tenantId": estate.tenant_id,
        "subscriptions": estate.subscriptions,
        "groundTruth": estate.ground_truth,
        "value": estate.documents,
    }
    Path(path).write_text(json.dumps(payload, separators=(",", ":")), encoding="utf-8")


def load_estate(path: str | Path) -> Estate:
    """Reads an estate file written by :func:`save_estate` (or a bare list of documents)."""
    source = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ValueError(f"{source}: cannot read estate file: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if isinstance(data, list):
        data = {"value": data}
    if not isinstance(data, dict):
        raise ValueError(f"{source}: $: an estate file must be a JSON object")
    documents = data.get("value", data.get("documents"))
    if not isinstance(documents, list):
        raise ValueError(f"{source}: $.value: must be a list of ARM documents")
    for index, doc in enumerate(documents):
        if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
            raise ValueError(f"{source}: $.value[{index}]: not an ARM document with a string id")
    subscriptions = data.get("subscriptions")
    if subscriptions is None:
        subscriptions = [d for d in documents if _is_subscription(d["id"])]
    if not isinstance(subscriptions, list):
        raise ValueError(f"{source}: $.subscriptions: must be a list")
    truth = data.get("groundTruth", data.get("ground_truth", {}))
    if not isinstance(truth, dict) or not all(
        isinstance(v, list) and all(isinstance(i, str) for i in v) for v in truth.values()
    ):
        raise ValueError(f"{source}: $.groundTruth: must map names to lists of ids")
    tenant = data.get("tenantId", data.get("tenant_id"))
    if tenant is None:
        tenant = next((s.get("tenantId") for s in subscriptions if isinstance(s, dict)), "")
    if not isinstance(tenant, str):
        raise ValueError(f"{source}: $.tenantId: must be a string")
    return Estate(tenant, subscriptions, documents, {k: list(v) for k, v in truth.items()})


def _is_subscription(resource_id: str) -> bool:
    parts = [p for p in resource_id.split("/") if p]
    return len(parts) == 2 and parts[0].lower() == "subscriptions"


def estate_from_spec(spec: str) -> Estate:
    """An estate from a command-line spec.

    ``demo`` → :func:`demo_estate`; ``N`` or ``N:M`` or ``N:M:SEED`` → :func:`generated_estate`
    with N resources, M role assignments and the seed; anything else is a path to a file
    written by :func:`save_estate`.
    """
    text = spec.strip()
    if text.lower() == "demo":
        return demo_estate()
    parts = text.split(":")
    if parts and all(p.strip().isdigit() for p in parts) and len(parts) <= 3:
        numbers = [int(p) for p in parts]
        return generated_estate(numbers[0], *numbers[1:])
    path = Path(text)
    if not path.is_file():
        raise ValueError(
            f"estate {spec!r}: not 'demo', a resource count (N[:M[:SEED]]) or an existing file"
        )
    return load_estate(path)
