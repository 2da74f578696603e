"""Where phiguard's own diagnostic setting sends the logs, against the documented limits of
the destinations: "Storage accounts must be in the same region as the resource being monitored
if the resource is regional" and "The workspace doesn't need to be in the same region"
(Learn, "Diagnostic settings in Azure Monitor", Destinations). A PUT naming an archive account
in another region is refused by Azure, so no setting would be created at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from remediations import REMEDIATIONS
from remediations.plan import PlanError
from remediations.registry import RemediationOptions
from shared.kernel.snapshot import Snapshot

ITEM = REMEDIATIONS["monitoring_diagnostic_settings_audit"]
WORKSPACE = (
    "/subscriptions/s1/resourceGroups/rg-mon/providers/Microsoft.OperationalInsights/workspaces/law"
)
ARCHIVE = "/subscriptions/s1/resourceGroups/rg-mon/providers/Microsoft.Storage/storageAccounts/arch"
VAULT_EXAMPLE = "arm/Microsoft.KeyVault__vaults__Get__2024-11-01.json"


def _vault(reference_dir: Path, location: str | None) -> Snapshot:
    """KeyVault Vaults_Get as published, in ``location``, with no diagnostic setting."""
    published = json.loads((reference_dir / VAULT_EXAMPLE).read_text())
    body: dict[str, Any] = dict(published["responses"]["200"]["body"])
    if location is None:
        body.pop("location", None)
    else:
        body["location"] = location
    return Snapshot(body, {"diagnostic_settings": []}, phi=True)


def _properties(snapshot: Snapshot, options: RemediationOptions) -> dict[str, Any]:
    plan = ITEM.plan(snapshot, options)
    assert plan is not None
    (write,) = plan.writes
    assert write.method == "PUT"
    body: Any = write.body
    return dict(body["properties"])


def test_an_archive_in_another_region_is_left_out_and_the_workspace_kept(
    reference_dir: Path,
) -> None:
    options = RemediationOptions(
        workspace_id=WORKSPACE, archive_storage_id=ARCHIVE, archive_storage_location="eastus"
    )
    props = _properties(_vault(reference_dir, "westus"), options)
    assert props == {
        "workspaceId": WORKSPACE,
        "logs": [{"categoryGroup": "audit", "enabled": True}],
    }


def test_an_archive_in_another_region_and_no_workspace_cannot_be_planned(
    reference_dir: Path,
) -> None:
    options = RemediationOptions(archive_storage_id=ARCHIVE, archive_storage_location="eastus")
    with pytest.raises(PlanError, match="only in the region of the resource"):
        ITEM.plan(_vault(reference_dir, "westus"), options)


@pytest.mark.parametrize(
    ("resource_location", "archive_location"),
    [
        ("East US", "eastus"),  # ARM region names: case and spaces do not matter
        ("westus", None),  # the archive's region is unknown: planned as before
        (None, "eastus"),
        ("global", "eastus"),  # not regional (Front Door, CDN profiles)
    ],
)
def test_the_archive_is_kept_where_azure_accepts_it(
    reference_dir: Path, resource_location: str | None, archive_location: str | None
) -> None:
    options = RemediationOptions(
        workspace_id=WORKSPACE,
        archive_storage_id=ARCHIVE,
        archive_storage_location=archive_location,
    )
    props = _properties(_vault(reference_dir, resource_location), options)
    assert props["storageAccountId"] == ARCHIVE and props["workspaceId"] == WORKSPACE


def test_the_body_is_the_published_shape_without_retention(reference_dir: Path) -> None:
    """DiagnosticSettings_CreateOrUpdate 2021-05-01-preview: ``logs[]`` items carry a
    ``categoryGroup`` (never with ``category``) and ``enabled``; no ``retentionPolicy`` (a
    category group cannot carry one, and storage retention is retired), no metrics."""
    options = RemediationOptions(workspace_id=WORKSPACE, archive_storage_id=ARCHIVE)
    props = _properties(_vault(reference_dir, "eastus"), options)
    assert set(props) == {"workspaceId", "storageAccountId", "logs"}
    for item in props["logs"]:
        assert set(item) == {"categoryGroup", "enabled"} and item["enabled"] is True


class _Reader:
    """Stands in for ArmReader: answers the archive account in ``location``, counting reads."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.reads: list[str] = []

    def resource(self, resource_id: str) -> dict[str, Any]:
        self.reads.append(resource_id)
        return {"id": resource_id, "location": self.location}


def test_the_remediator_reads_the_archive_region_once_and_only_for_this_fix() -> None:
    from shared.remediation import Remediator

    reader = _Reader("eastus")
    remediator = Remediator.__new__(Remediator)  # only the option resolution is exercised
    remediator.reader = reader  # type: ignore[assignment]
    remediator.options = RemediationOptions(workspace_id=WORKSPACE, archive_storage_id=ARCHIVE)
    remediator._archive_location = None
    nsg_fix = REMEDIATIONS["network_nsg_restrict_internet_inbound"]
    assert remediator.plan_options(nsg_fix).archive_storage_location is None
    assert reader.reads == []
    for _ in range(3):
        assert remediator.plan_options(ITEM).archive_storage_location == "eastus"
    assert reader.reads == [ARCHIVE]


class _RefusingReader:
    """A reader refused the archive account (403: no Reader on phiguard's own group)."""

    def __init__(self) -> None:
        self.reads = 0

    def resource(self, resource_id: str) -> dict[str, Any]:
        from shared.arm import ArmError

        self.reads += 1
        raise ArmError(403, "AuthorizationFailed", "no read", resource_id)


def test_an_unreadable_archive_region_plans_as_before_and_is_not_read_again() -> None:
    from shared.remediation import Remediator

    reader = _RefusingReader()
    remediator = Remediator.__new__(Remediator)
    remediator.reader = reader  # type: ignore[assignment]
    remediator.options = RemediationOptions(workspace_id=WORKSPACE, archive_storage_id=ARCHIVE)
    remediator._archive_location = None
    assert remediator.plan_options(ITEM) == remediator.options
    assert remediator.plan_options(ITEM) == remediator.options
    assert reader.reads == 1


@pytest.mark.parametrize(
    "kind",
    [
        "Microsoft.DocumentDB/databaseAccounts",
        "Microsoft.Sql/managedInstances",
        "Microsoft.DBforPostgreSQL/flexibleServers",
        "Microsoft.Network/azureFirewalls",
        "Microsoft.OperationalInsights/workspaces",
    ],
)
def test_the_data_services_with_category_groups_get_all_their_logs(kind: str) -> None:
    rid = f"/subscriptions/s1/resourceGroups/rg/providers/{kind}/phi1"
    body = {"id": rid, "name": "phi1", "type": kind, "location": "eastus"}
    snapshot = Snapshot(body, {"diagnostic_settings": []}, phi=True)
    options = RemediationOptions(
        workspace_id=WORKSPACE, archive_storage_id=ARCHIVE, archive_storage_location="eastus"
    )
    plan = ITEM.plan(snapshot, options)
    assert plan is not None
    (write,) = plan.writes
    assert (
        write.target_id == f"{rid}/providers/Microsoft.Insights/diagnosticSettings/phiguard-audit"
    )
    body_written: Any = write.body
    assert body_written["properties"] == {
        "workspaceId": WORKSPACE,
        "storageAccountId": ARCHIVE,
        "logs": [{"categoryGroup": "allLogs", "enabled": True}],
    }


def test_a_type_without_category_groups_is_not_planned() -> None:
    rid = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks"
    body = {"id": rid, "name": "aks", "type": "Microsoft.ContainerService/managedClusters"}
    snapshot = Snapshot(body, {"diagnostic_settings": []}, phi=True)
    assert "microsoft.containerservice/managedclusters" not in ITEM.resource_types
    options = RemediationOptions(workspace_id=WORKSPACE)
    assert ITEM.plan(snapshot, options) is None
