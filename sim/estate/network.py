"""Microsoft.Network: NSGs and their rules, VNets and subnets, private endpoints, the network
watcher and flow logs, NICs, public IPs and Azure Firewall.

Children share their parent's weak etag and are both embedded in the parent and documents of
their own, as ARM returns them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sim.estate.common import NETWORK, Doc, guid, header, net_etag, resource_id

RuleSpec = dict[str, Any]
SubnetSpec = tuple[str, str, str | None, Sequence[str]]  # name, prefix, nsg id, service endpoints

_NSG = "Microsoft.Network/networkSecurityGroups"
WATCHER_RG = "NetworkWatcherRG"  # where Azure puts a subscription's network watchers


def rule(
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
        **header(
            f"{nsg_id}/securityRules/{name}",
            name,
            f"{_NSG}/securityRules",
            etag=etag,
            order=NETWORK,
        ),
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
    (
        "DenyAllOutBound",
        "Deny all outbound traffic",
        "*",
        "*",
        "Deny",
        65500,
        "Outbound",
    ),
)


def default_security_rules(nsg_id: str, etag: str | None = None) -> list[Doc]:
    """Azure's six default rules of an NSG, as ARM embeds them in the NSG body."""
    return [
        {
            **header(
                f"{nsg_id}/defaultSecurityRules/{name}",
                name,
                f"{_NSG}/defaultSecurityRules",
                etag=etag,
                order=NETWORK,
            ),
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


def nsg(
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
    rid = resource_id(sub, rg, _NSG, name)
    etag = net_etag(rid)
    props: Doc = {
        "provisioningState": "Succeeded",
        "resourceGuid": guid(rid, "resourceGuid"),
        "securityRules": [rule(rid, etag, **spec) for spec in rules],
        "defaultSecurityRules": default_security_rules(rid, etag),
    }
    if subnets:
        props["subnets"] = [{"id": s} for s in subnets]
    if flow_logs:
        props["flowLogs"] = [{"id": f} for f in flow_logs]
    doc: Doc = {
        **header(rid, name, _NSG, location, tags, etag=etag, order=NETWORK),
        "properties": props,
    }
    return [doc, *(rule(rid, etag, **spec) for spec in rules)]


def subnet(vnet_id: str, etag: str, spec: SubnetSpec) -> Doc:
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
        **header(
            f"{vnet_id}/subnets/{name}",
            name,
            "Microsoft.Network/virtualNetworks/subnets",
            etag=etag,
            order=NETWORK,
        ),
        "properties": props,
    }


def vnet(
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    prefix: str,
    subnets: Sequence[SubnetSpec],
) -> list[Doc]:
    """VirtualNetworks_Get (subnets embedded) plus one Subnets_Get document per subnet."""
    rtype = "Microsoft.Network/virtualNetworks"
    rid = resource_id(sub, rg, rtype, name)
    etag = net_etag(rid)
    doc: Doc = {
        **header(rid, name, rtype, location, tags, etag=etag, order=NETWORK),
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": guid(rid, "resourceGuid"),
            "addressSpace": {"addressPrefixes": [prefix]},
            "dhcpOptions": {"dnsServers": []},
            "subnets": [subnet(rid, etag, s) for s in subnets],
            "virtualNetworkPeerings": [],
            "enableDdosProtection": False,
            "privateEndpointVNetPolicies": "Disabled",
        },
    }
    return [doc, *(subnet(rid, etag, s) for s in subnets)]


def pe_connection(target_id: str, target_type: str, pe_id: str, status: str = "Approved") -> Doc:
    """A private endpoint connection as the target resource embeds it."""
    pe_name = pe_id.rsplit("/", 1)[-1]
    name = f"{pe_name}.{guid(pe_id, target_id)}"
    return {
        **header(
            f"{target_id}/privateEndpointConnections/{name}",
            name,
            f"{target_type}/privateEndpointConnections",
        ),
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


def private_endpoint(
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
    rtype = "Microsoft.Network/privateEndpoints"
    rid = resource_id(sub, rg, rtype, name)
    etag = net_etag(rid)
    nic_name = f"{name}.nic.{guid(rid, 'nic')}"
    manual = status != "Approved"
    connection = {
        **header(
            f"{rid}/{'manualP' if manual else 'p'}rivateLinkServiceConnections/{name}",
            name,
            f"{rtype}/privateLinkServiceConnections",
            etag=etag,
            order=NETWORK,
        ),
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
        **header(rid, name, rtype, location, tags, etag=etag, order=NETWORK),
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": guid(rid, "resourceGuid"),
            "privateLinkServiceConnections": [] if manual else [connection],
            "manualPrivateLinkServiceConnections": [connection] if manual else [],
            "subnet": {"id": subnet_id},
            "networkInterfaces": [
                {"id": resource_id(sub, rg, "Microsoft.Network/networkInterfaces", nic_name)}
            ],
            "customDnsConfigs": [{"fqdn": private_fqdn(target_id, group_id), "ipAddresses": [ip]}],
            "applicationSecurityGroups": [],
            "ipConfigurations": [],
            "customNetworkInterfaceName": "",
        },
    }


def private_fqdn(target_id: str, group_id: str) -> str:
    name = target_id.rsplit("/", 1)[-1]
    zone = {
        "blob": "blob.core.windows.net",
        "sqlServer": "database.windows.net",
        "vault": "vault.azure.net",
    }.get(group_id, "privatelink.azure.com")
    return f"{name}.{zone}"


def network_watcher(sub: str, location: str) -> Doc:
    name = f"NetworkWatcher_{location}"
    rtype = "Microsoft.Network/networkWatchers"
    rid = resource_id(sub, WATCHER_RG, rtype, name)
    return {
        **header(rid, name, rtype, location, {}, etag=net_etag(rid), order=NETWORK),
        "properties": {"provisioningState": "Succeeded"},
    }


def flow_log(
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
        **header(
            rid,
            name,
            "Microsoft.Network/networkWatchers/FlowLogs",
            location,
            etag=net_etag(rid),
            order=NETWORK,
        ),
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


def nic(
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
    rtype = "Microsoft.Network/networkInterfaces"
    rid = resource_id(sub, rg, rtype, name)
    etag = net_etag(rid)
    return {
        **header(rid, name, rtype, location, tags, etag=etag, order=NETWORK),
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": guid(rid, "resourceGuid"),
            "ipConfigurations": [
                {
                    **header(
                        f"{rid}/ipConfigurations/ipconfig1",
                        "ipconfig1",
                        f"{rtype}/ipConfigurations",
                        etag=etag,
                        order=NETWORK,
                    ),
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


def public_ip(sub: str, rg: str, name: str, location: str, tags: dict[str, str]) -> Doc:
    """PublicIPAddresses_Get (2024-05-01 field set), documentation-range address."""
    rtype = "Microsoft.Network/publicIPAddresses"
    rid = resource_id(sub, rg, rtype, name)
    return {
        **header(rid, name, rtype, location, tags, etag=net_etag(rid), order=NETWORK),
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


def azure_firewall(
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
    rtype = "Microsoft.Network/azureFirewalls"
    rid = resource_id(sub, rg, rtype, name)
    etag = net_etag(rid)
    return {
        **header(rid, name, rtype, location, tags, etag=etag, order=NETWORK),
        "zones": ["1", "2", "3"],
        "properties": {
            "provisioningState": "Succeeded",
            "sku": {"name": "AZFW_VNet", "tier": "Premium"},
            "threatIntelMode": "Deny",
            "additionalProperties": {},
            "ipConfigurations": [
                {
                    **header(
                        f"{rid}/azureFirewallIpConfigurations/fw-ipconfig",
                        "fw-ipconfig",
                        f"{rtype}/azureFirewallIpConfigurations",
                        etag=etag,
                        order=NETWORK,
                    ),
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
