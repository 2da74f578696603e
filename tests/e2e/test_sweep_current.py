"""What a sweep's records say they left in the store (``ResourceOutcome.current``, the scan's
report) is what the store reads back (``current(subscriptions=...)``): after a first sweep,
an unchanged one, a change, a deletion without an event and a processing error."""

from __future__ import annotations

from typing import Any

import pytest

from shared.cli.pipeline_commands import _swept_findings
from shared.kernel.resource_id import normalize, parse
from shared.outcomes import BatchResult
from tests.e2e.world import World
from tests.e2e.world import find as _find

pytestmark = pytest.mark.slow

RECORDS = _find("microsoft.storage/storageaccounts", "stchsphirecords")["id"]
NSG = _find("microsoft.network/networksecuritygroups", "nsg-chs-phi-app")["id"]
SUBSCRIPTION = parse(RECORDS).subscription or ""


def _kept(result: BatchResult) -> list[Any]:
    found = [f for o in result.outcomes if o.current is not None for f in o.current()]
    return sorted(found, key=lambda f: (normalize(f.resource_id), f.check_id))


def _check(world: World) -> BatchResult:
    result = world.ctx.pipeline.sweep(SUBSCRIPTION, keep_current=True)
    assert result.outcomes and all(o.current is not None for o in result.outcomes)
    stored = world.ctx.store.current(subscriptions=[SUBSCRIPTION])
    assert stored, "the demo estate has findings"
    assert _kept(result) == stored
    assert _swept_findings(world.ctx, [SUBSCRIPTION], {SUBSCRIPTION: result}) == stored
    return result


def test_what_the_records_left_is_what_the_store_reads_back(world: World) -> None:
    first = _check(world)  # an empty store: every row new
    assert first.count("recorded") > len(first.outcomes) / 2
    warm = _check(world)  # nothing changed: every row confirmed
    assert warm.count("recorded") == 0
    world.drain_events()
    world.sim.change_as_user(
        "PATCH", RECORDS, {"properties": {"minimumTlsVersion": "TLS1_0"}}, api_version="2025-01-01"
    )
    world.sim.change_as_user("DELETE", NSG, api_version="2024-05-01")
    world.drain_events()  # lost: the sweep finds both
    changed = _check(world)
    assert changed.count("recorded") == 1 and changed.count("deleted") == 1
    assert any(
        f.check_id == "storage_account_min_tls_1_2" and f.status == "FAIL"
        for f in _kept(changed)
        if normalize(f.resource_id) == normalize(RECORDS)
    )
    assert not any(normalize(f.resource_id) == normalize(NSG) for f in _kept(changed))


def test_without_keep_current_a_sweep_holds_no_rows(world: World) -> None:
    result = world.ctx.pipeline.sweep(SUBSCRIPTION)
    assert result.outcomes and all(o.current is None for o in result.outcomes)


def test_a_gap_in_what_the_sweep_knows_reads_the_store_back(world: World) -> None:
    """A resource the sweep could not record (here: a transient failure of its record) has no
    ``current``: the report falls back to the store, which still has its last state."""
    _check(world)
    store = world.ctx.store
    real = store.record_evaluation

    def flaky(evaluation: Any, **kw: Any) -> Any:
        if normalize(evaluation.resource_id) == normalize(RECORDS):
            from azure.core.exceptions import ServiceResponseError

            raise ServiceResponseError("connection reset")
        return real(evaluation, **kw)

    confirm = store.confirm_unchanged_input

    def flaky_confirm(resource_id: str, digest: str, **kw: Any) -> Any:
        if normalize(resource_id) == normalize(RECORDS):
            from azure.core.exceptions import ServiceResponseError

            raise ServiceResponseError("connection reset")
        return confirm(resource_id, digest, **kw)

    store.record_evaluation = flaky  # type: ignore[method-assign]
    store.confirm_unchanged_input = flaky_confirm  # type: ignore[method-assign,assignment]
    try:
        result = world.ctx.pipeline.sweep(SUBSCRIPTION, keep_current=True)
    finally:
        del store.record_evaluation
        del store.confirm_unchanged_input
    assert RECORDS in result.transient
    rows = _swept_findings(world.ctx, [SUBSCRIPTION], {SUBSCRIPTION: result})
    assert rows == store.current(subscriptions=[SUBSCRIPTION])
    assert any(normalize(f.resource_id) == normalize(RECORDS) for f in rows)
