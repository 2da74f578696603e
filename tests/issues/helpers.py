"""A failing finding with hostile names and evidence, its check, and the tags it carries."""

from __future__ import annotations

from checks import CATALOG
from shared.issues.model import Fingerprint
from shared.kernel.findings import Finding, Severity, Status

CHECK = CATALOG["network_nsg_management_ports_internet_closed"]
RG = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-phi"
HOSTILE_NAME = (
    "nsg-@attacker-<img src=x onerror=alert(1)>-[click](javascript:alert(1))-www.evil.example"
)
NSG = f"{RG}/providers/Microsoft.Network/networkSecurityGroups/{HOSTILE_NAME}"
TAGS = {
    "owner": "alice-ops",
    "patient-name": "Jane",
    "data-classification": "phi",
    "mrn": "MRN-4711-SECRETVALUE",
}
TOKEN = "ghp_0123456789abcdefTOKENVALUE"
PAT = "adopat0123456789PATVALUE"


def finding(resource_id: str = NSG, **evidence: object) -> Finding:
    return Finding(
        resource_id=resource_id,
        resource_type="microsoft.network/networksecuritygroups",
        check_id=CHECK.id,
        status=Status.FAIL,
        severity=Severity.HIGH,
        hipaa=CHECK.hipaa,
        title=CHECK.title,
        reason="Rule `allow-rdp` opens 3389 to the Internet @everyone <b>now</b>",
        evidence=evidence
        or {
            "properties.securityRules[0].name": "allow-rdp @root <script>x</script>",
            "properties.securityRules[0].destinationPortRange": "3389",
            "tags.patient-name": "Jane",
            "properties.securityRules[0].description": "see [here](javascript:alert(1)) `x`",
        },
        phi=True,
    )


def fingerprint() -> Fingerprint:
    return Fingerprint.of(NSG, CHECK.id)


FORBIDDEN = ["Jane", "MRN-4711-SECRETVALUE"]  # tag values that are not the owner's
