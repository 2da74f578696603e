"""Storage account checks."""

from __future__ import annotations

from checks.common import Evidence
from checks.registry import check
from shared.findings import Result, Severity
from shared.snapshot import Snapshot

STORAGE = ("microsoft.storage/storageaccounts",)


@check(
    id="storage_account_secure_transfer_required",
    title="Storage accounts accept only secure (HTTPS) transfer",
    severity=Severity.HIGH,
    resource_types=STORAGE,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    azure_policy=("404c3081-a854-4457-ae30-26a93ef643f9",),
    guidance="Set supportsHttpsTrafficOnly to true (Configuration > Secure transfer required).",
)
def storage_account_secure_transfer_required(snapshot: Snapshot) -> Result:
    """PASS when ``properties.supportsHttpsTrafficOnly`` is true; FAIL when it is false, because
    plain HTTP exposes PHI in transit. Absent means true: the default since API 2019-04-01."""
    ev = Evidence(snapshot)
    if ev.prop("supportsHttpsTrafficOnly", True) is True:
        return ev.passed("Only HTTPS requests are accepted.")
    return ev.failed("The account accepts unencrypted HTTP requests.")
