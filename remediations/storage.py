"""Storage remediations: secure transport on PHI storage accounts.

One PATCH of the account sets only the properties whose checks fail: ``supportsHttpsTrafficOnly``
true, ``minimumTlsVersion`` TLS1_2 (never lowering TLS1_3), ``allowBlobPublicAccess`` false. The
account body carries no etag, so the write states what it expects (the values the plan saw); the
remediator re-reads the account, compares, and writes with the ETag header it got.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediations.plan import Change, PlanError, Write
from remediations.registry import RemediationOptions, check_statuses, remediation
from shared.kernel import api_versions
from shared.kernel.findings import Status
from shared.kernel.snapshot import Snapshot

STORAGE = "microsoft.storage/storageaccounts"
API_VERSION = api_versions.for_type(STORAGE)

# check id → (property, compliant value)
FIXES: dict[str, tuple[str, Any]] = {
    "storage_account_secure_transfer_required": ("supportsHttpsTrafficOnly", True),
    "storage_account_min_tls_1_2": ("minimumTlsVersion", "TLS1_2"),
    "storage_account_blob_public_access_disabled": ("allowBlobPublicAccess", False),
}
# What an absent property means (the checks' documented defaults). A PATCH cannot remove a
# property, so restoring "absent" writes the value Azure assumed for it: the same behaviour.
ABSENT_MEANS: dict[str, Any] = {
    "supportsHttpsTrafficOnly": True,
    "minimumTlsVersion": "TLS1_0",
    "allowBlobPublicAccess": True,
}


def _account_patch(snapshot: Snapshot, values: Mapping[str, Any]) -> list[Write]:
    props: dict[str, Any] = {}
    expect: dict[str, Any] = {}
    for path, value in values.items():
        name = path.removeprefix("properties.")
        if name not in ABSENT_MEANS or "." in name:
            raise PlanError(f"not a secure-transport property: {path}")
        props[name] = ABSENT_MEANS[name] if value is None else value
        expect[path] = snapshot.prop(name)
    return [
        Write(
            method="PATCH",
            target_id=snapshot.id,
            api_version=API_VERSION,
            body={"properties": props},
            paths=tuple(values),
            expect=expect,
        )
    ]


@remediation(
    id="storage_account_secure_transport",
    title="PHI storage accounts require HTTPS and TLS 1.2 and refuse anonymous blob access",
    fixes=tuple(FIXES),
    resource_types=(STORAGE,),
    writes=tuple(f"properties.{prop}" for prop, _ in FIXES.values()),
    reversible=True,
    disruptive=(
        "Clients that still use plain HTTP or TLS 1.0/1.1 (old SDKs, old Java or .NET runtimes, "
        "legacy devices and scripts) can no longer connect, and anyone reading blobs "
        "anonymously through public containers is refused. Test the account's clients first: "
        "this is why the default mode is dry-run."
    ),
    rbac_actions=("Microsoft.Storage/storageAccounts/write",),
    default_mode="dry-run",
    writes_for=_account_patch,
)
def storage_account_secure_transport(
    snapshot: Snapshot, options: RemediationOptions
) -> Change | None:
    """Sets, in one PATCH of a PHI storage account, each transport property whose check fails:
    HTTPS only, minimum TLS 1.2, no anonymous blob access. A property whose check passes (or
    errs on a value it cannot read) is not touched, so TLS1_3 is never lowered. None when all
    three checks pass (or do not apply, like blob access on FileStorage accounts)."""
    statuses = check_statuses(FIXES, snapshot)
    after = {
        f"properties.{prop}": value
        for check_id, (prop, value) in FIXES.items()
        if statuses.get(check_id) == Status.FAIL
    }
    if not after:
        return None
    shown = ", ".join(f"{p.removeprefix('properties.')}={v}" for p, v in after.items())
    return Change(f"Secure transport on storage account {snapshot.name}: {shown}", after)
