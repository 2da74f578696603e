"""Backup and disaster recovery (§164.308(a)(7)): Recovery Services vaults (Vaults_Get
2024-04-01) and the Azure Backup protection of PHI virtual machines.

Whether a VM is backed up is a fact of the vaults, not of the VM: the check reads the protected
items of every vault of the subscription, listed once per sweep (the ``backup_protected_items``
cross-resource read), and looks for the VM's id among their ``sourceResourceId``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from checks.common import Evidence
from checks.registry import check, register_policy_definitions
from shared.kernel.findings import Result, Severity, failed, not_applicable, passed
from shared.kernel.resource_id import normalize
from shared.kernel.snapshot import MalformedResource, Snapshot

# Issue 14: ids and display names cross-checked against Azure's built-in policy
# reference tables and public policy sets that cite them (not read from
# Azure/azure-policy itself).
register_policy_definitions(
    {"013e242c-8828-4970-87b3-ab247555486d": "Azure Backup should be enabled for Virtual Machines"}
)

VAULTS = ("microsoft.recoveryservices/vaults",)
VIRTUAL_MACHINES = ("microsoft.compute/virtualmachines",)
MIN_SOFT_DELETE_DAYS = 14
# protectionState values under which recovery points are still being taken.
_PROTECTING = frozenset({"protected", "irpending"})


@check(
    id="backup_vault_soft_delete_enabled",
    title=f"Recovery Services vaults keep deleted backups for at least {MIN_SOFT_DELETE_DAYS} days",
    severity=Severity.HIGH,
    resource_types=VAULTS,
    hipaa=("164.308(a)(7)(ii)(A)", "164.312(c)(1)"),
    guidance="Set securitySettings.softDeleteSettings.softDeleteState to Enabled (or AlwaysON, "
    "which cannot be turned off) with a retention of 14-180 days.",
    limitations="Soft delete of backups in Backup vaults (Microsoft.DataProtection) is not read.",
)
def backup_vault_soft_delete_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.securitySettings.softDeleteSettings.softDeleteState`` is Enabled
    or AlwaysON and ``softDeleteRetentionPeriodInDays`` is at least 14; FAIL when Disabled,
    because an attacker or a mistake that deletes the backup items of PHI systems would then
    destroy the recovery points at once. Absent state means Enabled (soft delete is on for new
    vaults; the evidence marks the assumption); absent retention means 14 days, the minimum and
    default."""
    ev = Evidence(snapshot)
    base = "properties.securitySettings.softDeleteSettings"
    state = ev.text(f"{base}.softDeleteState", "Enabled", empty_is_default=True)
    if state.lower() not in ("enabled", "alwayson"):
        return ev.failed(f"Soft delete of backups is {state}: deleted backups are gone at once.")
    days = ev.number(f"{base}.softDeleteRetentionPeriodInDays", MIN_SOFT_DELETE_DAYS)
    assert days is not None
    if days < MIN_SOFT_DELETE_DAYS:
        return ev.failed(f"Deleted backups are kept only {days} days.")
    return ev.passed(f"Soft delete of backups is {state} ({days} days).")


@check(
    id="backup_vault_immutability_locked",
    title="Recovery Services vaults are immutable, with the setting locked",
    severity=Severity.MEDIUM,
    resource_types=VAULTS,
    hipaa=("164.308(a)(7)(ii)(A)", "164.312(c)(1)"),
    guidance="Enable immutable vault and lock it (Properties > Immutable vault > Lock), so that "
    "no one can delete recovery points before they expire or reduce their retention.",
    limitations="Multi-user authorization (Resource Guard), which also protects critical "
    "operations, is not read.",
)
def backup_vault_immutability_locked(snapshot: Snapshot) -> Result:
    """PASS when ``properties.securitySettings.immutabilitySettings.state`` is Locked; FAIL when
    Unlocked (immutability that an administrator, or an attacker holding one, can switch off)
    or Disabled, because recovery points of PHI could then be deleted or shortened before their
    expiry (ransomware deletes backups first). Absent means Disabled, the default."""
    ev = Evidence(snapshot)
    state = ev.text(
        "properties.securitySettings.immutabilitySettings.state", "Disabled", empty_is_default=True
    )
    if state.lower() == "locked":
        return ev.passed("The vault is immutable and the setting is locked.")
    if state.lower() == "unlocked":
        return ev.failed("The vault is immutable but not locked: immutability can be turned off.")
    return ev.failed("The vault is not immutable: recovery points can be deleted early.")


def _redundancy(ev: Evidence) -> str:
    return ev.text(
        "properties.redundancySettings.standardTierStorageRedundancy",
        "GeoRedundant",
        empty_is_default=True,
    )


@check(
    id="backup_vault_geo_redundant_storage",
    title="Recovery Services vaults store backups geo-redundantly",
    severity=Severity.MEDIUM,
    resource_types=VAULTS,
    hipaa=("164.308(a)(7)(ii)(B)", "164.308(a)(7)(ii)(C)"),
    guidance="Choose GeoRedundant backup storage before the first item is protected (Properties "
    "> Backup configuration); it cannot be changed once items are protected.",
)
def backup_vault_geo_redundant_storage(snapshot: Snapshot) -> Result:
    """PASS when ``properties.redundancySettings.standardTierStorageRedundancy`` is
    GeoRedundant; FAIL when LocallyRedundant or ZoneRedundant, because a regional disaster would
    then take the PHI systems and their backups together. Absent means GeoRedundant, the default
    of a new vault (the evidence marks the assumption)."""
    ev = Evidence(snapshot)
    value = _redundancy(ev)
    if value.lower() == "georedundant":
        return ev.passed("Backups are stored geo-redundantly.")
    return ev.failed(f"Backups are stored {value}: one region's loss takes them too.")


@check(
    id="backup_vault_cross_region_restore_enabled",
    title="Geo-redundant Recovery Services vaults allow cross-region restore",
    severity=Severity.LOW,
    resource_types=VAULTS,
    hipaa=("164.308(a)(7)(ii)(B)", "164.308(a)(7)(ii)(C)"),
    guidance="Enable cross-region restore (Properties > Backup configuration > Cross Region "
    "Restore), so that backups can be restored in the paired region during an outage.",
)
def backup_vault_cross_region_restore_enabled(snapshot: Snapshot) -> Result:
    """NOT_APPLICABLE unless the vault is GeoRedundant (cross-region restore needs it). PASS
    when ``properties.redundancySettings.crossRegionRestore`` is Enabled; FAIL when Disabled or
    absent, because without it the geo-replicated copy can only be restored after Microsoft
    declares a regional disaster. Absent means Disabled, the default."""
    ev = Evidence(snapshot)
    if _redundancy(ev).lower() != "georedundant":
        return not_applicable("Backups are not geo-redundant, so there is no secondary copy.")
    value = ev.text(
        "properties.redundancySettings.crossRegionRestore", "Disabled", empty_is_default=True
    )
    if value.lower() == "enabled":
        return ev.passed("Backups can be restored in the paired region.")
    return ev.failed("Cross-region restore is disabled.")


@check(
    id="backup_vault_job_failure_alerts_enabled",
    title="Recovery Services vaults raise Azure Monitor alerts for every failed backup job",
    severity=Severity.MEDIUM,
    resource_types=VAULTS,
    hipaa=("164.308(a)(7)(ii)(D)", "164.308(a)(1)(ii)(D)"),
    guidance="Set monitoringSettings.azureMonitorAlertSettings.alertsForAllJobFailures to "
    "Enabled and route the alerts to the operations team with an alert processing rule.",
    limitations="Whether an alert processing rule or action group delivers the alerts to anyone "
    "is not visible from the vault.",
)
def backup_vault_job_failure_alerts_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.monitoringSettings.azureMonitorAlertSettings.
    alertsForAllJobFailures`` is Enabled; FAIL when Disabled or absent, because failed backups
    of PHI systems would go unnoticed until a restore is needed. Absent is read as Disabled:
    the check does not assume alerts it cannot see."""
    ev = Evidence(snapshot)
    value = ev.text(
        "properties.monitoringSettings.azureMonitorAlertSettings.alertsForAllJobFailures",
        "Disabled",
        empty_is_default=True,
    )
    if value.lower() == "enabled":
        return ev.passed("Every failed backup job raises an Azure Monitor alert.")
    return ev.failed("Failed backup jobs raise no Azure Monitor alert.")


def _item_props(item: Mapping[str, Any], index: int) -> Mapping[str, Any]:
    props = item.get("properties")
    if not isinstance(props, Mapping):
        raise MalformedResource(f"related.backup_protected_items[{index}].properties is missing")
    return props


@check(
    id="backup_virtual_machine_protected",
    title="PHI virtual machines are protected by Azure Backup",
    severity=Severity.HIGH,
    resource_types=VIRTUAL_MACHINES,
    hipaa=("164.308(a)(7)(ii)(A)", "164.308(a)(7)(ii)(B)", "164.310(d)(2)(iv)"),
    azure_policy=("013e242c-8828-4970-87b3-ab247555486d",),
    phi_only=True,
    needs=("backup_protected_items",),
    guidance="Enable backup for the VM in a Recovery Services vault with a daily policy "
    "(Backup > Enable backup), or resume protection if it was stopped.",
    limitations="Only Recovery Services vaults of the VM's own subscription are read. The "
    "built-in policy counts any protected item; this check also FAILs protection that was "
    "stopped (ProtectionStopped/ProtectionPaused), so the two can differ. Other backup tools "
    "(agents, snapshots by script) are invisible.",
)
def backup_virtual_machine_protected(snapshot: Snapshot) -> Result:
    """PASS when a protected item of a Recovery Services vault in the subscription has
    ``properties.sourceResourceId`` equal (case-insensitively) to the VM's id and a
    ``protectionState`` of Protected or IRPending (first backup pending); FAIL when none names
    the VM, or its protection is stopped or paused, because the PHI the VM processes and stores
    could then not be restored after a disk loss, a corruption or ransomware. No backup exists
    by default."""
    target = normalize(snapshot.id)
    evidence: dict[str, Any] = {}
    items = snapshot.docs("backup_protected_items")
    found: list[tuple[str, str]] = []
    for index, item in enumerate(items):
        props = _item_props(item, index)
        source = props.get("sourceResourceId") or props.get("virtualMachineId")
        if not isinstance(source, str) or normalize(source) != target:
            continue
        state = str(props.get("protectionState") or "Unknown")
        vault = str(item.get("id", "")).split("/backupFabrics/", 1)[0].rsplit("/", 1)[-1]
        evidence[f"related.backup_protected_items[{index}]"] = {
            "name": item.get("name"),
            "vault": vault,
            "protectionState": state,
            "policyId": props.get("policyId"),
            "lastBackupTime": props.get("lastBackupTime"),
        }
        found.append((vault, state))
    evidence["related.backup_protected_items.count"] = len(items)
    active = [(v, s) for v, s in found if s.lower() in _PROTECTING]
    if active:
        vault, state = active[0]
        return passed(f"The VM is backed up by vault {vault!r} ({state}).", evidence)
    if found:
        vault, state = found[0]
        return failed(
            f"The VM's backup in vault {vault!r} is {state}: no new recovery points.", evidence
        )
    return failed("No Recovery Services vault in the subscription backs up the VM.", evidence)
