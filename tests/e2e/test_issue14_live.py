"""Issue 14 through the live path: the demo's planted violations of the new areas FAIL and their
compliant twins do not, after a sweep through ARM (the simulated tenant) into the state store
(Azurite); then user changes arrive as Event Grid events and are judged within the delivery."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from checks import CATALOG
from shared.kernel.resource_id import normalize, parse
from sim.estate import demo_estate
from sim.estate.demo_context import (
    DEMO_DEV,
    DEMO_PROD,
    backup_ids,
    data_service_ids,
    demo_ground_truth,
    issue14_ground_truth,
)
from tests.e2e.world import World

pytestmark = pytest.mark.slow

TRUTH = {k: v for k, v in issue14_ground_truth().items() if not k.startswith("P")}
NEW_CHECKS = set(TRUTH) | {
    c for c in CATALOG if c.split("_", 1)[0] in ("cosmosdb", "postgresql", "mysql", "redis")
}
TWINS = [v for k, v in data_service_ids(DEMO_PROD).items() if k.endswith("_ok")] + [
    backup_ids(DEMO_PROD)["vault_ok"]
]


def _rows(world: World) -> list[Any]:
    return world.ctx.store.current(include_inactive=False)


def _sweep(world: World) -> None:
    for subscription in (DEMO_PROD, DEMO_DEV):
        result = world.ctx.pipeline.sweep(subscription)
        assert result.errors == [] and result.transient == [], result


def test_a_sweep_fails_every_planted_violation_and_passes_the_twins(world: World) -> None:
    _sweep(world)
    rows = _rows(world)
    status = {(r.check_id, normalize(r.resource_id)): r.status for r in rows}
    missing = [
        (check_id, rid)
        for check_id, ids in TRUTH.items()
        for rid in ids
        if status.get((check_id, normalize(rid))) != "FAIL"
    ]
    assert missing == []
    expected = {
        (c, normalize(r))
        for c, ids in demo_ground_truth().items()
        if not c.startswith("P")
        for r in ids
    }
    unplanned = sorted(
        key
        for key, value in status.items()
        if value == "FAIL" and key[0] in NEW_CHECKS and key not in expected
    )
    assert unplanned == []
    twins = {normalize(t) for t in TWINS}
    twin_rows = [r for r in rows if normalize(r.resource_id) in twins]
    assert twin_rows and {r.status for r in twin_rows} <= {"PASS", "NOT_APPLICABLE"}
    unjudged = [
        (r.check_id, r.resource_id)
        for r in rows
        if r.check_id in NEW_CHECKS and r.status in ("ERROR", "NOT_ASSESSED")
    ]
    assert unjudged == []


def _change(world: World, method: str, rid: str, body: Any, version: str) -> list[Any]:
    world.drain_events()
    world.sim.change_as_user(method, rid, body, api_version=version)
    events = world.drain_events()
    assert events, f"no event for {rid}"
    response = world.post(events)
    assert response.status_code == 200, response.get_body()
    return events


def test_events_turn_a_twin_into_a_violation_and_back(world: World) -> None:
    _sweep(world)
    cosmos = data_service_ids(DEMO_PROD)["cosmos_ok"]
    check_id = "cosmosdb_account_public_network_access_disabled"
    assert world.status(cosmos, check_id) == "PASS"
    _change(
        world, "PATCH", cosmos, {"properties": {"publicNetworkAccess": "Enabled"}}, "2024-11-15"
    )
    assert world.status(cosmos, check_id) == "FAIL"
    _change(
        world, "PATCH", cosmos, {"properties": {"publicNetworkAccess": "Disabled"}}, "2024-11-15"
    )
    assert world.status(cosmos, check_id) == "PASS"


def test_a_stopped_backup_reaches_its_vm_through_the_protected_items_event(world: World) -> None:
    """The protected item's event names the vault's child; it is mapped to the VM, whose check
    re-reads the vaults' protected items instead of a cached list."""
    _sweep(world)
    vm = next(
        d["id"]
        for d in demo_estate().documents
        if d.get("type") == "Microsoft.Compute/virtualMachines" and d["name"] == "vm-chs-phi-etl01"
    )
    check_id = "backup_virtual_machine_protected"
    assert world.status(vm, check_id) == "PASS"
    item = next(
        d
        for d in demo_estate().documents
        if d.get("type", "").lower().endswith("/protecteditems")
        and normalize(d["properties"]["sourceResourceId"]) == normalize(vm)
    )
    stopped = copy.deepcopy(item)
    stopped["properties"]["protectionState"] = "ProtectionStopped"
    assert parse(item["id"]).subscription == DEMO_PROD
    _change(world, "PUT", item["id"], stopped, "2024-04-01")
    assert world.status(vm, check_id) == "FAIL"
