"""The daily sweep over an unchanged tenant confirms its reads in the reads table, a transaction
per resource group, and rewrites no marker; the evidence still says every open finding was
read by it. Through the real sweep, the simulated tenant (demo estate) and Azurite."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from shared.kernel.resource_id import normalize, parse
from shared.state.model import INACTIVE_STATUSES
from tests.e2e.world import World
from tests.e2e.world import find as _find
from tests.shared.test_content_digest import count_loads

pytestmark = pytest.mark.slow

RECORDS = _find("microsoft.storage/storageaccounts", "stchsphirecords")["id"]
SUBSCRIPTION = parse(RECORDS).subscription or ""


def _service(world: World) -> TableServiceClient:
    connection = world.ctx.settings.storage_connection_string
    assert connection is not None  # the world runs on Azurite
    return TableServiceClient.from_connection_string(connection)


def _markers(world: World) -> dict[str, str]:
    store: Any = world.ctx.store
    table = _service(world).get_table_client(store.state_table)
    rows = table.query_entities("RowKey eq 'marker'")
    return {str(r["PartitionKey"]): str(r.metadata["etag"]) for r in rows}


def test_an_unchanged_sweep_confirms_every_read_without_rewriting_markers(world: World) -> None:
    store: Any = world.ctx.store
    world.ctx.pipeline.sweep(SUBSCRIPTION)
    before = _markers(world)
    assert len(before) > 20, "the demo estate's subscription has its resources recorded"

    started = datetime.now(UTC)
    result = world.ctx.pipeline.sweep(SUBSCRIPTION)

    after = _markers(world)
    rewritten = {pk for pk in before if after.get(pk) != before[pk]}
    confirmed = list(_service(world).get_table_client(store.reads_table).list_entities())
    # Only a resource the sweep found changed (its own fixes, a follow-up's marker) is rewritten.
    assert len(rewritten) < len(before) // 4, sorted(rewritten)
    assert {str(r["RowKey"]) for r in confirmed} >= set(before) - rewritten
    groups = {str(r["PartitionKey"]) for r in confirmed}
    assert len(groups) < len(confirmed), "confirmations share their group's partition"
    assert all(r["read_at"] >= started for r in confirmed)
    # Every open finding of the subscription was read by this sweep, as the evidence says.
    open_rows = [
        f for f in store.current(subscriptions=[SUBSCRIPTION]) if f.status not in INACTIVE_STATUSES
    ]
    assert open_rows and all(f.last_evaluated_at >= started for f in open_rows)
    assert len(result.outcomes) >= len(before) - 1


def test_a_read_another_writer_overtook_is_read_again_by_the_sweep(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    store: Any = world.ctx.store
    world.ctx.pipeline.sweep(SUBSCRIPTION)
    group = normalize(parse(RECORDS).resource_group_id or "")
    real = store.flush_reads
    answered: list[str] = []

    def flush_reads(scope_id: str | None = None) -> list[str]:
        stale: list[str] = real(scope_id)
        if scope_id is not None and normalize(scope_id) == group and not answered:
            answered.append(scope_id)  # as if another instance had recorded it meanwhile
            return [*stale, RECORDS]
        return stale

    store.flush_reads = flush_reads
    world.sim.reset_counters()
    try:
        with caplog.at_level(logging.INFO, logger="phiguard.pipeline"):
            result = world.ctx.pipeline.sweep(SUBSCRIPTION)
    finally:
        del store.flush_reads
    assert answered, "the sweep flushes each resource group's confirmations at its end"
    assert [o.resource_id for o in result.outcomes].count(RECORDS) == 2
    # Read once more, alone: listed the first time, a GET of its own the second.
    assert world.sim.counters()["by_call"].get("GET one microsoft.storage/storageaccounts") == 1
    assert "1 resource(s) recorded by another writer while this sweep read them" in caplog.text


def test_an_unchanged_sweep_reads_markers_only_and_a_scan_reports_without_reading_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daily sweep preloads each group's markers and reads no resource's check rows when
    its verdicts hash to the marker's digest; a scan that reports what its records left
    (``keep_current``) preloads the rows with them, so the report costs no query per resource."""
    store: Any = world.ctx.store
    world.ctx.pipeline.sweep(SUBSCRIPTION)
    loaded = count_loads(store, monkeypatch)
    swept = world.ctx.pipeline.sweep(SUBSCRIPTION)
    unchanged = [o for o in swept.outcomes if o.transitions == 0]
    assert len(unchanged) > 20
    # Only resources whose verdicts moved (the sweep's own fixes, a follow-up) read their rows.
    assert len(loaded) < len(unchanged) // 4, loaded

    loaded.clear()
    scanned = world.ctx.pipeline.sweep(SUBSCRIPTION, keep_current=True)
    reported = [f for o in scanned.outcomes if o.current is not None for f in o.current()]
    assert reported, "the scan reports the findings its records left"
    assert len(loaded) < len(scanned.outcomes) // 4, loaded
