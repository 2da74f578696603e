"""A sweep's ACTION_REQUIRED records and the exemptions table: an approved exemption turns a
failing check's record into EXEMPT, and the sweep reads the table once for all its resources
instead of once per failing resource. Through the real sweep, the simulated tenant and Azurite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.kernel.resource_id import normalize, parse
from shared.remediation_log import Exemption, RecordStatus
from tests.counting import counted_queries
from tests.e2e.world import World
from tests.e2e.world import find as _find

pytestmark = pytest.mark.slow

DOCS = _find("microsoft.storage/storageaccounts", "stchsphidocs")["id"]
VAULT = _find("microsoft.keyvault/vaults", "kv-chs-phi-app")["id"]
EXEMPTED = "storage_account_geo_redundant"


def test_a_sweep_honours_table_exemptions_read_once_for_all_its_failures(world: World) -> None:
    log = world.ctx.remediation_log
    log.add_exemption(
        Exemption(
            resource_id=DOCS,
            target=EXEMPTED,
            justification="replicated by the backup vault instead",
            approver="compliance@contosohealth.example",
            expires_at=datetime.now(UTC) + timedelta(days=30),
            source="table",
        )
    )
    queries = counted_queries(log._exemptions)
    world.ctx.pipeline.sweep(parse(DOCS).subscription or "")

    def status(resource_id: str, check_id: str) -> str:
        (record,) = [
            r
            for r in log.records(days=1, resource_id=resource_id, limit=1000)
            if r.check_ids == (check_id,)
        ]
        return str(record.status)

    assert status(DOCS, EXEMPTED) == RecordStatus.EXEMPT
    # The exemption names one check of one resource: the rest still ask for action.
    assert status(DOCS, "storage_account_blob_versioning_enabled") == (RecordStatus.ACTION_REQUIRED)
    assert status(VAULT, "keyvault_vault_purge_protection_enabled") == (
        RecordStatus.ACTION_REQUIRED
    )
    failing = {
        normalize(r.resource_id)
        for r in log.records(days=1, limit=1000)
        if r.status == RecordStatus.ACTION_REQUIRED
    }
    assert len(failing) > 3  # several failing resources, and one read of the table for them
    whole = [q for q in queries if "PartitionKey eq" not in q]
    assert len(whole) == 1
    # Only a fix reads one resource's exemptions, just before it would write.
    fixes = [r for r in log.records(days=1, limit=1000) if r.mode != "manual"]
    assert len(queries) - 1 <= len(fixes) < len(failing)
