"""Compute checks: managed disks and virtual machines holding PHI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from checks.common import Evidence, as_list
from checks.registry import check, register_policy_definitions
from shared.kernel.findings import Result, Severity, failed, passed
from shared.kernel.resource_id import normalize
from shared.kernel.snapshot import MalformedResource, Snapshot

DISKS = ("microsoft.compute/disks",)
VIRTUAL_MACHINES = ("microsoft.compute/virtualmachines",)

# Built-in definitions verified in Azure/azure-policy, built-in-policies/policyDefinitions/Compute/:
register_policy_definitions(
    {
        # OSAndDataDiskCMKRequired_Deny.json
        "702dd420-7fcc-42c5-afe8-4026edd20fe0": (
            "OS and data disks should be encrypted with a customer-managed key"
        ),
        # Disks_ExportLimitNetworkAccess_Audit.json
        "8405fdab-1faf-48aa-b702-999c9c172094": (
            "Managed disks should disable public network access"
        ),
        # HostBasedEncryptionRequired_Deny.json
        "fc4d8e41-e223-45ea-9bf5-eada37891d87": (
            "Virtual machines and virtual machine scale sets should have encryption at host enabled"
        ),
    }
)

_CMK_TYPES = frozenset(
    {"encryptionatrestwithcustomerkey", "encryptionatrestwithplatformandcustomerkeys"}
)
_CVM_CMK = "confidentialvm_diskencryptedwithcustomerkey"
_PLATFORM_KEY = "EncryptionAtRestWithPlatformKey"


def _optional_text(ev: Evidence, path: str, assumed: str | None = None) -> str | None:
    """A string under ``properties``; None when null, absent or empty (the evidence records
    ``assumed`` as the default); other types are malformed."""
    value = ev.text(f"properties.{path}", assumed, empty_is_default=True)
    return None if value is assumed else value


@check(
    id="compute_disk_customer_managed_key_enabled",
    title="PHI managed disks are encrypted at rest with a customer-managed key",
    severity=Severity.HIGH,
    resource_types=DISKS,
    hipaa=("164.312(a)(2)(iv)",),
    azure_policy=("702dd420-7fcc-42c5-afe8-4026edd20fe0",),
    phi_only=True,
    patterns=("P1",),
    guidance=(
        "Create a disk encryption set with a Key Vault or Managed HSM key and assign it to the "
        "disk (Disk > Encryption > Customer-managed key); the disk must be detached or its VM "
        "deallocated while the key type changes."
    ),
    limitations=(
        "The disk encryption set's key, its rotation and its vault's purge protection are not "
        "read. Azure Disk Encryption inside the guest (encryptionSettingsCollection) is shown "
        "in the evidence but does not count as server-side customer-managed encryption."
    ),
)
def compute_disk_customer_managed_key_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.encryption.type`` is EncryptionAtRestWithCustomerKey or
    EncryptionAtRestWithPlatformAndCustomerKeys (case-insensitive), when it is absent but
    ``encryption.diskEncryptionSetId`` names a disk encryption set (a set always holds a
    customer key), or when ``securityProfile.securityType`` is
    ConfidentialVM_DiskEncryptedWithCustomerKey; FAIL for EncryptionAtRestWithPlatformKey, since
    PHI is then protected only by Microsoft-managed keys the organization cannot rotate or
    revoke. Absent encryption.type without a disk encryption set means
    EncryptionAtRestWithPlatformKey: managed disks are encrypted with platform-managed keys by
    default (Azure managed disk server-side encryption docs)."""
    ev = Evidence(snapshot)
    security_type = _optional_text(ev, "securityProfile.securityType")
    if security_type is not None and security_type.lower() == _CVM_CMK:
        return ev.passed("The confidential VM disk is encrypted with a customer-managed key.")
    key_type = _optional_text(ev, "encryption.type")
    encryption_set = _optional_text(ev, "encryption.diskEncryptionSetId")
    if key_type is None and encryption_set is not None:
        return ev.passed("The disk is encrypted with a customer key from a disk encryption set.")
    key_type = key_type or _PLATFORM_KEY
    if key_type.lower() in _CMK_TYPES:
        return ev.passed(f"The disk is encrypted at rest with {key_type}.")
    ade = ev.prop("encryptionSettingsCollection.enabled", False)
    if ade is True:
        return ev.failed(
            f"Server-side encryption uses {key_type}; Azure Disk Encryption in the guest does "
            "not make it customer-managed."
        )
    return ev.failed(f"The disk is encrypted at rest with {key_type}, not a customer key.")


@check(
    id="compute_disk_public_network_access_disabled",
    title="PHI managed disks cannot be exported or uploaded over the public Internet",
    severity=Severity.HIGH,
    resource_types=DISKS,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    azure_policy=("8405fdab-1faf-48aa-b702-999c9c172094",),
    phi_only=True,
    guidance=(
        "Set networkAccessPolicy to DenyAll, or to AllowPrivate with a disk access resource and "
        "private endpoint, and set publicNetworkAccess to Disabled (Disk > Networking)."
    ),
    limitations="Existing SAS export URIs and the disk access resource's endpoints are not read.",
)
def compute_disk_public_network_access_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.networkAccessPolicy`` is DenyAll (the disk cannot be exported) or
    AllowPrivate (export and upload only through a disk access resource's private endpoints),
    or when ``properties.publicNetworkAccess`` is Disabled (the disk's data cannot be reached
    from the Internet even with AllowAll); FAIL otherwise, because anyone holding an export SAS
    URI could download a full copy of the PHI disk from anywhere. Absent networkAccessPolicy
    means AllowAll and absent publicNetworkAccess means Enabled: the values ARM reports for a
    disk created without them (as in ``az disk show`` output in the Azure docs); Azure Policy
    8405fdab also treats a missing networkAccessPolicy as non-compliant. Values compare
    case-insensitively."""
    ev = Evidence(snapshot)
    policy = _optional_text(ev, "networkAccessPolicy", "AllowAll") or "AllowAll"
    public = _optional_text(ev, "publicNetworkAccess", "Enabled") or "Enabled"
    if policy.lower() == "denyall":
        return ev.passed("The disk cannot be exported (network access policy DenyAll).")
    if policy.lower() == "allowprivate":
        return ev.passed("The disk can be exported only through private endpoints.")
    if public.lower() == "disabled":
        return ev.passed("Public network access to the disk's data is disabled.")
    return ev.failed(
        f"The network access policy is {policy} and public network access is {public}, so the "
        "disk can be exported from any network."
    )


@check(
    id="compute_virtual_machine_encryption_at_host_enabled",
    title="PHI virtual machines encrypt temporary disks and disk caches at the host",
    severity=Severity.MEDIUM,
    resource_types=VIRTUAL_MACHINES,
    hipaa=("164.312(a)(2)(iv)",),
    azure_policy=("fc4d8e41-e223-45ea-9bf5-eada37891d87",),
    phi_only=True,
    guidance=(
        "Register the EncryptionAtHost feature for the subscription, deallocate the VM and set "
        "securityProfile.encryptionAtHost to true (Disks > Additional settings)."
    ),
    limitations="Whether the VM size supports encryption at host is not checked.",
)
def compute_virtual_machine_encryption_at_host_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.securityProfile.encryptionAtHost`` is true, so the temporary disk,
    ephemeral OS disk and OS/data disk caches (which can hold PHI) are encrypted at rest on the
    host; FAIL when it is false, because those are otherwise not covered by managed-disk
    server-side encryption. Absent (or null) means false: the Compute REST API says "the
    Encryption at host will be disabled unless this property is set to true for the
    resource"."""
    ev = Evidence(snapshot)
    if ev.flag("properties.securityProfile.encryptionAtHost", False):
        return ev.passed("Encryption at host is enabled.")
    return ev.failed("Encryption at host is not enabled.")


# --- issue 14, area 6: just-in-time VM access ------------------------------------------------------


@check(
    id="compute_virtual_machine_jit_access_enabled",
    title="PHI virtual machines open management ports only just in time",
    severity=Severity.MEDIUM,
    resource_types=VIRTUAL_MACHINES,
    hipaa=("164.312(a)(1)", "164.308(a)(4)(ii)(B)"),
    phi_only=True,
    needs=("jit_policies",),
    guidance="Enable just-in-time VM access for the VM (Defender for Cloud > Workload "
    "protections > Just-in-time VM access), covering RDP/SSH with a short maximum duration.",
    limitations="The built-in policy b0f33259 (an assessment of VMs whose management ports are "
    "reachable) is not cited: this check asks JIT of every PHI VM, reachable or not. Only the "
    "VM's own subscription's policies are read; which ports each policy covers is recorded, "
    "not judged.",
)
def compute_virtual_machine_jit_access_enabled(snapshot: Snapshot) -> Result:
    """PASS when a just-in-time network access policy of the subscription lists the VM (by id,
    case-insensitively) in ``properties.virtualMachines``; FAIL when none does, because the
    VM's management ports are then either closed for good or open all the time, the latter a
    standing door to PHI for anyone holding a password. No policy exists by default."""
    target = normalize(snapshot.id)
    evidence: dict[str, Any] = {}
    policies = snapshot.docs("jit_policies")
    for index, policy in enumerate(policies):
        props = policy.get("properties")
        where = f"related.jit_policies[{index}]"
        if not isinstance(props, Mapping):
            raise MalformedResource(f"{where}.properties is missing or not an object")
        for vm in as_list(props.get("virtualMachines"), f"{where}.properties.virtualMachines"):
            if isinstance(vm, Mapping) and normalize(str(vm.get("id", ""))) == target:
                ports = [
                    p.get("number")
                    for p in as_list(vm.get("ports"), f"{where}.virtualMachines.ports")
                    if isinstance(p, Mapping)
                ]
                evidence[where] = {"name": policy.get("name"), "ports": ports}
                return passed(
                    f"Just-in-time policy {policy.get('name')!r} covers ports {ports}.", evidence
                )
    evidence["related.jit_policies.count"] = len(policies)
    return failed("No just-in-time access policy covers the VM.", evidence)
