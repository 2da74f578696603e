"""The daily sweep and resources the store has that ARM no longer lists: deleted while their
delete event was lost (dead-lettered, the event route down), or missed by a list that lags.
Through the real sweep, the simulated tenant and Azurite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shared.arm import TransientArmError
from shared.arm.reader import RESOURCE_GROUPS_VERSION
from shared.context import AppContext
from shared.kernel.resource_id import normalize, parse
from shared.outcomes import Action, BatchResult
from shared.selection import Selection
from shared.state.model import RESOURCE_DELETED
from tests.e2e.world import World
from tests.e2e.world import find as _find

pytestmark = pytest.mark.slow

RECORDS = _find("microsoft.storage/storageaccounts", "stchsphirecords")["id"]
SERVER = _find("microsoft.sql/servers", "sql-chs-phi-records")["id"]
DATABASE = _find("microsoft.sql/servers/databases", "sqldb-patient-records")["id"]
SUBSCRIPTION = parse(RECORDS).subscription or ""


def _sweep(world: World) -> BatchResult:
    return world.ctx.pipeline.sweep(SUBSCRIPTION)


def _outcome(result: BatchResult, rid: str) -> Action | None:
    return next(
        (o.action for o in result.outcomes if normalize(o.resource_id) == normalize(rid)), None
    )


def _delete_without_event(world: World, rid: str, api_version: str) -> None:
    world.drain_events()
    world.sim.change_as_user("DELETE", rid, api_version=api_version)
    assert world.drain_events(), "the sim emitted no delete event"  # and it is never delivered


def _gets(world: World, rtype: str) -> int:
    """GETs of one resource of the type (lists are not counted)."""
    return int(world.sim.counters()["by_call"].get(f"GET one {rtype}", 0))


def _list_items_filtered(
    world: World, refuse: Callable[[str], bool] = lambda _: False, drop: str = ""
) -> Callable[[], None]:
    """Wraps the sweep reader's lists: paths ``refuse`` names fail as a throttled list would;
    an item whose id is ``drop`` is left out (a list that lags). Returns the undo."""
    reader = world.ctx.pipeline.sweep_reader()
    real = reader.list_items

    def list_items(path: str, api_version: str, *args: Any) -> Iterator[dict[str, Any]]:
        if refuse(path):
            raise TransientArmError(f"ARM 429 for GET {path} after retries")
        for item in real(path, api_version, *args):
            if not drop or normalize(str(item.get("id"))) != normalize(drop):
                yield item

    reader.list_items = list_items  # type: ignore[method-assign,assignment]
    return lambda: delattr(reader, "list_items")


def test_a_resource_deleted_while_its_event_was_lost_is_recorded_deleted_by_the_sweep(
    world: World,
) -> None:
    _sweep(world)
    assert world.status(RECORDS, "storage_account_min_tls_1_2") is not None
    _delete_without_event(world, RECORDS, "2025-01-01")
    world.sim.reset_counters()
    result = _sweep(world)
    assert _outcome(result, RECORDS) == Action.DELETED
    # Read once more before it was taken for deleted, not judged from the list alone.
    assert _gets(world, "microsoft.storage/storageaccounts") == 1
    marker = world.ctx.store.marker(RECORDS)
    assert marker is not None and marker.deleted
    rows = world.ctx.store.current(resource_id=RECORDS, include_inactive=True)
    assert rows and {r.status for r in rows} == {RESOURCE_DELETED}
    assert world.ctx.store.current(resource_id=RECORDS) == []
    # Nothing is left to reconcile: the next sweep reads it no more.
    world.sim.reset_counters()
    assert _outcome(_sweep(world), RECORDS) is None
    assert _gets(world, "microsoft.storage/storageaccounts") == 0


def test_a_resource_a_lagging_list_left_out_is_read_and_judged_not_deleted(
    world: World,
) -> None:
    _sweep(world)
    undo = _list_items_filtered(world, drop=RECORDS)
    try:
        world.sim.reset_counters()
        result = _sweep(world)
    finally:
        undo()
    assert _outcome(result, RECORDS) in (Action.UNCHANGED, Action.RECORDED)
    assert _gets(world, "microsoft.storage/storageaccounts") == 1
    marker = world.ctx.store.marker(RECORDS)
    assert marker is not None and not marker.deleted
    assert world.status(RECORDS, "storage_account_min_tls_1_2") not in (None, RESOURCE_DELETED)


def test_children_of_a_parent_whose_list_failed_wait_for_the_next_sweep(world: World) -> None:
    _sweep(world)
    assert world.ctx.store.marker(DATABASE) is not None
    _delete_without_event(world, DATABASE, "2023-08-01")
    databases = f"{SERVER}/databases".lower()
    undo = _list_items_filtered(world, refuse=lambda path: path.lower() == databases)
    try:
        world.sim.reset_counters()
        result = _sweep(world)
    finally:
        undo()
    assert _outcome(result, f"{SERVER}/databases") == Action.FAILED
    assert _outcome(result, DATABASE) is None
    assert _gets(world, "microsoft.sql/servers/databases") == 0
    marker = world.ctx.store.marker(DATABASE)
    assert marker is not None and not marker.deleted
    # The list answers again: the deletion is found.
    assert _outcome(_sweep(world), DATABASE) == Action.DELETED
    marker = world.ctx.store.marker(DATABASE)
    assert marker is not None and marker.deleted


def test_resources_of_types_the_sweep_does_not_list_are_left_alone(world: World) -> None:
    """A sweep of selected checks (``scan --checks``) lists only their types: the store's other
    resources are not its to reconcile."""
    _sweep(world)
    _delete_without_event(world, RECORDS, "2025-01-01")
    selected = AppContext(world.ctx.settings, selection=Selection(services=("network",)))
    world.sim.reset_counters()
    result = selected.pipeline.sweep(SUBSCRIPTION)
    assert result.outcomes and _outcome(result, RECORDS) is None
    assert _gets(world, "microsoft.storage/storageaccounts") == 0
    marker = world.ctx.store.marker(RECORDS)
    assert marker is not None and not marker.deleted


def test_an_event_on_a_resource_group_reconciles_the_resources_it_no_longer_holds(
    world: World,
) -> None:
    """A group's event (its tags changed, or a ``moveResources`` action moved resources out)
    re-evaluates what it holds, and reads again what the store has in it that it no longer
    lists: moved out or deleted, ARM answers 404 at the old id."""
    _sweep(world)
    _delete_without_event(world, RECORDS, "2025-01-01")
    group = parse(RECORDS).resource_group_id or ""
    world.drain_events()
    world.sim.change_as_user(
        "PATCH", group, {"tags": {"owner": "records-team"}}, api_version=RESOURCE_GROUPS_VERSION
    )
    events = world.drain_events()
    assert events and all(
        normalize(e["data"]["resourceUri"]) == normalize(group) for e in events
    ), "the sim's group write should be the only event"
    world.sim.reset_counters()
    assert world.post(events).status_code == 200
    marker = world.ctx.store.marker(RECORDS)
    assert marker is not None and marker.deleted
    assert world.ctx.store.current(resource_id=RECORDS) == []
    deletions = [t for t in world.ctx.store.history(RECORDS) if t.to_status == RESOURCE_DELETED]
    assert deletions and {t.cause.event_id for t in deletions} <= {e["id"] for e in events}
    # What the group still holds was judged as before.
    others = world.ctx.store.current(subscriptions=[SUBSCRIPTION])
    assert any(normalize(f.resource_id).startswith(normalize(group) + "/") for f in others)


def test_a_store_that_cannot_list_its_resources_leaves_the_reconciliation_for_the_next_sweep(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    from azure.core.exceptions import ServiceRequestError

    _sweep(world)
    _delete_without_event(world, RECORDS, "2025-01-01")
    store = world.ctx.store

    def unreachable(scope_id: str, since: Any) -> list[Any]:
        raise ServiceRequestError("connection refused")

    store.resources_unread_since = unreachable  # type: ignore[method-assign]
    try:
        result = _sweep(world)
    finally:
        del store.resources_unread_since
    assert result.outcomes and _outcome(result, RECORDS) is None and not result.transient
    assert "resources deleted without an event wait for the next sweep" in caplog.text
    assert "connection refused" not in caplog.text  # the type only: no service text in logs
    assert _outcome(_sweep(world), RECORDS) == Action.DELETED
