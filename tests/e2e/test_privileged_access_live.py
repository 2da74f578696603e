"""Issue 14, area 3 on the live path: a role assignment written at a PHI subscription is an
Event Grid event; phiguard re-reads the subscription's assignments and judges them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.azurite import AzuriteEndpoints

from .world import World, running_world

OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CHECK = "governance_subscription_owner_count_in_range"


@pytest.fixture
def world(azurite: AzuriteEndpoints, tmp_path: Path) -> Iterator[World]:
    with running_world(azurite, tmp_path) as world:
        yield world


def _grant_owner(world: World, subscription: str) -> list[dict[str, object]]:
    world.drain_events()
    sub = f"/subscriptions/{subscription}"
    world.sim.change_as_user(
        "PUT",
        f"{sub}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}",
        {
            "properties": {
                "roleDefinitionId": f"{sub}/providers/Microsoft.Authorization/roleDefinitions/{OWNER}",
                "principalId": str(uuid.uuid4()),
                "principalType": "User",
            }
        },
        api_version="2022-04-01",
    )
    return world.drain_events()


def test_owners_added_by_events_turn_the_owner_count_check_to_fail(world: World) -> None:
    from shared import api

    api.reconcile_all()
    prod = world.sim.subscriptions[0]
    sub = f"/subscriptions/{prod}"
    assert world.status(sub, CHECK) == "PASS"
    for _ in range(2):
        events = _grant_owner(world, prod)
        assert events, "no event for the role assignment"
        assert world.post(events).status_code == 200
    assert world.status(sub, CHECK) == "FAIL"
    assert world.status(sub, "governance_subscription_privileged_roles_through_groups") == "FAIL"
