"""Behaviour of the compute checks: disk encryption keys, disk network access, encryption at host."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from checks import CATALOG
from shared.kernel.findings import Finding, Status
from shared.kernel.snapshot import Snapshot
from tests.checks.helpers import ENGINE, result

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checks"

CMK = "compute_disk_customer_managed_key_enabled"
NETWORK = "compute_disk_public_network_access_disabled"
AT_HOST = "compute_virtual_machine_encryption_at_host_enabled"


def _resource(check_id: str, name: str) -> dict[str, Any]:
    doc = json.loads((FIXTURES / check_id / f"{name}.json").read_text())
    resource: dict[str, Any] = doc["resource"]
    return resource


# The published Disks_Get body (platform key, Azure Disk Encryption in the guest), PHI-tagged,
# and the published VirtualMachines_Get body (no securityProfile), PHI-tagged.
DISK = _resource(CMK, "fail")
VM = _resource(AT_HOST, "fail-absent")
DES_ID = (
    "/subscriptions/{subscriptionId}/resourceGroups/myResourceGroup/providers/"
    "Microsoft.Compute/diskEncryptionSets/myDiskEncryptionSet"
)


def _disk(**props: Any) -> dict[str, Any]:
    """The disk body with top-level ``properties`` keys replaced (None value = remove)."""
    resource = copy.deepcopy(DISK)
    for key, value in props.items():
        if value is None:
            resource["properties"].pop(key, None)
        else:
            resource["properties"][key] = value
    return resource


def _run(check_id: str, resource: dict[str, Any], phi: bool | None = True) -> Finding:
    return result(check_id, resource, phi=phi)


# --- disk customer-managed key ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("encryption", "expected"),
    [
        ({"type": "EncryptionAtRestWithCustomerKey", "diskEncryptionSetId": DES_ID}, Status.PASS),
        ({"type": "encryptionatrestwithplatformandcustomerkeys"}, Status.PASS),
        ({"diskEncryptionSetId": DES_ID}, Status.PASS),
        ({"type": "", "diskEncryptionSetId": DES_ID}, Status.PASS),
        ({"type": "EncryptionAtRestWithPlatformKey"}, Status.FAIL),
        ({"type": "EncryptionAtRestWithPlatformKey", "diskEncryptionSetId": DES_ID}, Status.FAIL),
        ({}, Status.FAIL),
        ({"type": 1}, Status.ERROR),
        ({"diskEncryptionSetId": {"id": DES_ID}}, Status.ERROR),
        ("EncryptionAtRestWithCustomerKey", Status.ERROR),
    ],
)
def test_disk_key_types(encryption: Any, expected: Status) -> None:
    finding = _run(CMK, _disk(encryption=encryption, encryptionSettingsCollection=None))
    assert finding.status == expected, finding.reason


def test_disk_without_encryption_block_defaults_to_platform_key() -> None:
    finding = _run(CMK, _disk(encryption=None, encryptionSettingsCollection=None))
    assert finding.status == Status.FAIL
    assert "EncryptionAtRestWithPlatformKey" in finding.reason
    assert finding.evidence["properties.encryption.type"] == {"absent": True, "assumed": None}


def test_guest_disk_encryption_is_not_counted_as_customer_managed() -> None:
    finding = _run(CMK, copy.deepcopy(DISK))
    assert finding.status == Status.FAIL
    assert "Azure Disk Encryption" in finding.reason
    assert finding.evidence["properties.encryptionSettingsCollection.enabled"] is True


def test_confidential_vm_disk_with_customer_key_passes() -> None:
    resource = _disk(
        securityProfile={"securityType": "ConfidentialVM_DiskEncryptedWithCustomerKey"}
    )
    assert _run(CMK, resource).status == Status.PASS


def test_disk_checks_are_phi_only_and_cite_p1() -> None:
    evaluation = ENGINE.evaluate(Snapshot(copy.deepcopy(DISK), {}, None, False))
    assert evaluation.findings == ()
    assert CATALOG[CMK].patterns == ("P1",)
    assert CATALOG[CMK].phi_only and CATALOG[NETWORK].phi_only and CATALOG[AT_HOST].phi_only


def test_phi_tag_on_the_disk_selects_the_checks() -> None:
    evaluation = ENGINE.evaluate(Snapshot(copy.deepcopy(DISK)))
    assert evaluation.phi
    assert {f.check_id for f in evaluation.findings} == {CMK, NETWORK}


# --- disk network access ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "public", "expected"),
    [
        ("DenyAll", "Enabled", Status.PASS),
        ("denyall", None, Status.PASS),
        ("AllowPrivate", "Enabled", Status.PASS),
        ("ALLOWPRIVATE", "Disabled", Status.PASS),
        ("AllowAll", "Disabled", Status.PASS),
        ("AllowAll", "disabled", Status.PASS),
        ("AllowAll", "Enabled", Status.FAIL),
        ("AllowAll", None, Status.FAIL),
        (None, None, Status.FAIL),
        (None, "Disabled", Status.PASS),
        ("SomethingNew", "Enabled", Status.FAIL),
        (3, "Enabled", Status.ERROR),
        ("AllowAll", False, Status.ERROR),
    ],
)
def test_disk_network_access(policy: Any, public: Any, expected: Status) -> None:
    finding = _run(NETWORK, _disk(networkAccessPolicy=policy, publicNetworkAccess=public))
    assert finding.status == expected, finding.reason


def test_disk_network_defaults_in_evidence() -> None:
    finding = _run(NETWORK, _disk(networkAccessPolicy=None, publicNetworkAccess=None))
    assert finding.evidence == {
        "properties.networkAccessPolicy": {"absent": True, "assumed": "AllowAll"},
        "properties.publicNetworkAccess": {"absent": True, "assumed": "Enabled"},
    }
    nulled = _disk()
    nulled["properties"]["networkAccessPolicy"] = None
    finding = _run(NETWORK, nulled)
    assert finding.status == Status.FAIL
    assert finding.evidence["properties.networkAccessPolicy"]["assumed"] == "AllowAll"


# --- VM encryption at host -------------------------------------------------------------------


def _vm(security_profile: Any) -> dict[str, Any]:
    resource = copy.deepcopy(VM)
    if security_profile is not None:
        resource["properties"]["securityProfile"] = security_profile
    return resource


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ({"encryptionAtHost": True}, Status.PASS),
        ({"encryptionAtHost": True, "securityType": "TrustedLaunch"}, Status.PASS),
        ({"encryptionAtHost": False}, Status.FAIL),
        ({"encryptionAtHost": None}, Status.FAIL),
        ({"securityType": "TrustedLaunch"}, Status.FAIL),
        (None, Status.FAIL),
        ({"encryptionAtHost": "true"}, Status.ERROR),
        ({"encryptionAtHost": 1}, Status.ERROR),
        (["encryptionAtHost"], Status.ERROR),
    ],
)
def test_encryption_at_host(profile: Any, expected: Status) -> None:
    assert _run(AT_HOST, _vm(profile)).status == expected


def test_encryption_at_host_absent_evidence() -> None:
    finding = _run(AT_HOST, _vm(None))
    assert finding.evidence == {
        "properties.securityProfile.encryptionAtHost": {"absent": True, "assumed": False}
    }


@pytest.mark.parametrize("properties", [[], "Succeeded"])
def test_garbage_properties_never_pass(properties: Any) -> None:
    disk = _disk()
    disk["properties"] = properties
    vm = copy.deepcopy(VM)
    vm["properties"] = properties
    statuses = {_run(CMK, disk).status, _run(NETWORK, disk).status, _run(AT_HOST, vm).status}
    assert statuses == {Status.ERROR}
