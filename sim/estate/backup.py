"""Azure Backup (issue 14): Recovery Services vaults (Vaults_Get 2024-04-01) and the protected
items of VMs (ProtectedItems_Get), and SQL long-term retention policies."""

from __future__ import annotations

from sim.estate.common import Doc, guid, resource_id, system_identity, ts


def recovery_vault(
    sub: str, rg: str, name: str, location: str, tags: dict[str, str], tenant: str, *, secure: bool
) -> Doc:
    rtype = "Microsoft.RecoveryServices/vaults"
    rid = resource_id(sub, rg, rtype, name)
    on = "Enabled" if secure else "Disabled"
    return {
        "location": location,
        "name": name,
        "etag": f"W/\"datetime'{ts(90).replace(':', '%3A')}'\"",
        "tags": dict(tags),
        "identity": system_identity(rid, tenant),
        "properties": {
            "provisioningState": "Succeeded",
            "privateEndpointStateForBackup": "None",
            "privateEndpointStateForSiteRecovery": "None",
            "publicNetworkAccess": "Disabled" if secure else "Enabled",
            "monitoringSettings": {
                "azureMonitorAlertSettings": {
                    "alertsForAllJobFailures": on,
                    "alertsForAllReplicationIssues": on,
                    "alertsForAllFailoverIssues": on,
                },
                "classicAlertSettings": {
                    "alertsForCriticalOperations": "Disabled",
                    "emailNotificationsForSiteRecovery": "Enabled",
                },
            },
            "redundancySettings": {
                "standardTierStorageRedundancy": "GeoRedundant" if secure else "LocallyRedundant",
                "crossRegionRestore": on,
            },
            "securitySettings": {
                "softDeleteSettings": {
                    "softDeleteState": "AlwaysON" if secure else "Disabled",
                    "softDeleteRetentionPeriodInDays": 14,
                    "enhancedSecurityState": on,
                },
                "immutabilitySettings": {"state": "Locked" if secure else "Disabled"},
                "multiUserAuthorization": "Disabled",
            },
            "secureScore": "Adequate" if secure else "Minimum",
            "bcdrSecurityLevel": "Good" if secure else "Poor",
        },
        "id": rid,
        "type": rtype,
        "sku": {"name": "RS0", "tier": "Standard"},
    }


def vm_protection(vault_id: str, vm_id: str, *, state: str, hours: int) -> list[Doc]:
    """An Azure VM's protection in a vault: the Azure fabric, the VM's protection container and
    its protected item (``protectedItems/VM;iaasvmcontainerv2;{rg};{vm}``)."""
    rg = vm_id.split("/resourceGroups/", 1)[1].split("/", 1)[0]
    vm = vm_id.rstrip("/").rsplit("/", 1)[-1]
    container = f"iaasvmcontainerv2;{rg};{vm}"
    fabric: Doc = {
        "id": f"{vault_id}/backupFabrics/Azure",
        "name": "Azure",
        "type": "Microsoft.RecoveryServices/vaults/backupFabrics",
        "properties": {"friendlyName": "Azure", "fabricType": "Azure"},
    }
    holder: Doc = {
        "id": f"{vault_id}/backupFabrics/Azure/protectionContainers/IaasVMContainer;{container}",
        "name": f"IaasVMContainer;{container}",
        "type": "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers",
        "properties": {
            "friendlyName": vm,
            "backupManagementType": "AzureIaasVM",
            "registrationStatus": "Registered",
            "healthStatus": "Healthy",
            "containerType": "Microsoft.Compute/virtualMachines",
            "virtualMachineId": vm_id,
        },
    }
    return [fabric, holder, _item(vault_id, vm_id, container, state, hours)]


def _item(vault_id: str, vm_id: str, container: str, state: str, hours: int) -> Doc:
    vm = vm_id.rstrip("/").rsplit("/", 1)[-1]
    return {
        "id": (
            f"{vault_id}/backupFabrics/Azure/protectionContainers/IaasVMContainer;{container}"
            f"/protectedItems/VM;{container}"
        ),
        "name": f"VM;{container}",
        "type": "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems",
        "properties": {
            "friendlyName": vm,
            "virtualMachineId": vm_id,
            "protectionStatus": "Healthy",
            "protectionState": state,
            "healthStatus": "Passed",
            "lastBackupStatus": "Completed",
            "lastBackupTime": ts(hours),
            "protectedItemDataId": str(int(guid(vm_id, "item")[:8], 16)),
            "protectedItemType": "Microsoft.Compute/virtualMachines",
            "backupManagementType": "AzureIaasVM",
            "workloadType": "VM",
            "containerName": container,
            "sourceResourceId": vm_id,
            "policyId": f"{vault_id}/backupPolicies/DefaultPolicy",
        },
    }


def sql_ltr_policy(database_id: str, weekly: str, monthly: str, yearly: str) -> Doc:
    """LongTermRetentionPolicies_Get."""
    return {
        "properties": {
            "weeklyRetention": weekly,
            "monthlyRetention": monthly,
            "yearlyRetention": yearly,
            "weekOfYear": 1 if yearly != "PT0S" else 0,
            "makeBackupsImmutable": False,
        },
        "id": f"{database_id}/backupLongTermRetentionPolicies/default",
        "name": "default",
        "type": "Microsoft.Sql/servers/databases/backupLongTermRetentionPolicies",
    }
