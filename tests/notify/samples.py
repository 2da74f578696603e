"""Notices of every kind over resources whose tags and evidence carry planted PHI and secrets,
and the values that must never reach a payload."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.kernel.changes import Cause
from shared.kernel.findings import Finding, Severity, Status
from shared.notify.model import (
    Digest,
    Escalation,
    FixApplied,
    NewFailure,
    Notice,
    TestMessage,
    escalation,
    fix_applied,
    new_failure,
)
from shared.remediation_log import RecordStatus, RemediationRecord

T0 = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
SUB = "00000000-0000-0000-0000-000000000001"
STORAGE = (
    f"/subscriptions/{SUB}/resourceGroups/rg-phi-data/providers/Microsoft.Storage/"
    "storageAccounts/stphirecords"
)
NSG = f"/subscriptions/{SUB}/resourceGroups/rg-phi-net/providers/Microsoft.Network/networkSecurityGroups/nsg-[evil](javascript:alert(1))*x*"
OWNER = "dana@contoso.com"
WEBHOOK = (
    "https://prod-12.westus.logic.azure.com:443/workflows/0123456789abcdef/triggers/manual/"
    "paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=S3CR3TSIGNATURE"
)
# Planted: must never appear in any payload.
TAGS = {
    "data-classification": "phi",
    "patient": "Jane Q. Public",
    "mrn": "MRN-0042-7781",
    "Owner": OWNER,
    "service": "storage",  # found in the resource type: metadata, not a leak
}
EVIDENCE = {
    "properties.minimumTlsVersion": "TLS1_0",
    "properties.primaryEndpoints.blob": "https://stphirecords.blob.core.windows.net/patient-scans",
    "related.diagnostic.workspace": "law-secret-workspace-name",
}
PLANTED = ("Jane Q. Public", "MRN-0042-7781", "TLS1_0", "patient-scans", "law-secret-workspace")


def finding(resource_id: str = STORAGE, severity: Severity = Severity.CRITICAL) -> Finding:
    return Finding(
        resource_id,
        "microsoft.storage/storageaccounts",
        "storage_minimum_tls",
        Status.FAIL,
        severity,
        ("164.312(e)(1)", "164.312(e)(2)(ii)"),
        "PHI storage accepts TLS below 1.2 <script>alert(1)</script>",
        "minimumTlsVersion is TLS1_0 for patient Jane Q. Public",
        EVIDENCE,
        True,
    )


def record(
    status: RecordStatus = RecordStatus.VERIFIED, resource_id: str = STORAGE
) -> RemediationRecord:
    return RemediationRecord(
        id="20261206T040000000000Z-a1b2c3",
        remediation_id="storage_account_secure_transport",
        resource_id=resource_id,
        check_ids=("storage_minimum_tls",),
        mode="enforce",
        status=status,
        reason="flapping: 3 fixes within 60 minutes" if status is RecordStatus.ESCALATED else "",
        cause=Cause("sweep"),
        created_at=T0,
        updated_at=T0,
        summary="minimumTlsVersion raised to TLS1_2",
        before={
            "properties.minimumTlsVersion": "TLS1_1",
            "properties.supportsHttpsTrafficOnly": False,
            "tags.patient": "Jane Q. Public",
        },
        after={
            "properties.minimumTlsVersion": "TLS1_2",
            "properties.supportsHttpsTrafficOnly": True,
            "tags.patient": "Jane Q. Public",
        },
    )


def notices() -> list[Notice]:
    failure = new_failure(finding(), detected_at=T0, tags=TAGS, owner=OWNER, owner_tag="owner")
    hostile = new_failure(finding(NSG, Severity.HIGH), detected_at=T0, tags=TAGS, owner_tag="owner")
    fix = fix_applied(record(), phi=True, tags=TAGS, owner=OWNER, owner_tag="owner")
    held = escalation(record(RecordStatus.ESCALATED), phi=True, tags=TAGS, owner_tag="owner")
    digest = Digest(
        T0.replace(hour=0),
        T0,
        {Severity.CRITICAL: 2, Severity.HIGH: 5, Severity.LOW: 1},
        (failure, hostile) * 6,
        fixes=3,
        escalations=1,
        more_new_failures=4,
    )
    return [failure, hostile, fix, held, digest, TestMessage(T0, "sent by <ops> [check](x)")]


__all__ = ["Digest", "Escalation", "FixApplied", "NewFailure"]
