"""Compute: managed disks and disk encryption sets, virtual machines and AKS clusters."""

from __future__ import annotations

from collections.abc import Sequence

from sim.estate.common import (
    COMPUTE,
    Doc,
    guid,
    header,
    resource_id,
    system_identity,
    ts,
)


def disk_encryption_set(
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
    rtype = "Microsoft.Compute/diskEncryptionSets"
    rid = resource_id(sub, rg, rtype, name)
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
        **header(rid, name, rtype, location, tags, order=COMPUTE),
    }


def disk(
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
    rid = resource_id(sub, rg, "Microsoft.Compute/disks", name)
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
            "timeCreated": ts(created),
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
            **header(rid, name, "Microsoft.Compute/disks", location, tags, order=COMPUTE),
        }
    )
    return doc


def virtual_machine(
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
    rtype = "Microsoft.Compute/virtualMachines"
    rid = resource_id(sub, rg, rtype, name)
    return {
        **header(
            rid,
            name,
            rtype,
            location,
            tags,
            etag='"1"',
            order=("name", "id", "type", "location", "tags", "etag"),
        ),
        "identity": system_identity(rid, tenant),
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
                        "managedDisk": {
                            "storageAccountType": "Premium_LRS",
                            "id": disk,
                        },
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
            "timeCreated": ts(created),
        },
    }


def aks_cluster(
    sub: str, rg: str, name: str, location: str, tags: dict[str, str], tenant: str
) -> Doc:
    """ManagedClusters_Get (2024-09-01 field set): Entra ID + Azure RBAC, no local accounts."""
    rid = resource_id(sub, rg, "Microsoft.ContainerService/managedClusters", name)
    fqdn = f"{name}-{guid(rid, 'dns')[:8]}.hcp.{location}.azmk8s.io"
    return {
        **header(
            rid,
            name,
            "Microsoft.ContainerService/ManagedClusters",
            location,
            tags,
            order=("id", "location", "name", "type", "tags"),
        ),
        "sku": {"name": "Base", "tier": "Standard"},
        "identity": system_identity(rid, tenant),
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
            "aadProfile": {
                "managed": True,
                "enableAzureRBAC": True,
                "tenantID": tenant,
            },
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
            "autoUpgradeProfile": {
                "upgradeChannel": "patch",
                "nodeOSUpgradeChannel": "NodeImage",
            },
        },
    }
