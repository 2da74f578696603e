"""An Internet-facing NIC created in a PHI resource group is judged on the event path, with
its subnet's NSG read from the subscription's virtual networks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sim.azurite import AzuriteEndpoints
from sim.estate import demo_estate

from .world import World, running_world

CHECK = "network_nic_internet_facing_has_nsg"


@pytest.fixture
def world(azurite: AzuriteEndpoints, tmp_path: Path) -> Iterator[World]:
    with running_world(azurite, tmp_path) as world:
        yield world


def _phi_subnets() -> list[tuple[str, bool]]:
    """(subnet id, has an NSG) of the demo's PHI production VNets."""
    found = []
    for doc in demo_estate().documents:
        if str(doc.get("type", "")).lower() != "microsoft.network/virtualnetworks":
            continue
        if "/resourcegroups/rg-chs-phi-prod/" not in doc["id"].lower():
            continue
        for subnet in doc["properties"].get("subnets", []):
            nsg = subnet.get("properties", {}).get("networkSecurityGroup")
            found.append((subnet["id"], bool(nsg)))
    return found


def _put_nic(world: World, name: str, subnet_id: str, public_ip: bool) -> str:
    rg = subnet_id.split("/providers/")[0]
    rid = f"{rg}/providers/Microsoft.Network/networkInterfaces/{name}"
    config: dict[str, Any] = {"subnet": {"id": subnet_id}, "privateIPAllocationMethod": "Dynamic"}
    if public_ip:
        config["publicIPAddress"] = {
            "id": f"{rg}/providers/Microsoft.Network/publicIPAddresses/pip-{name}"
        }
    world.drain_events()
    world.sim.change_as_user(
        "PUT",
        rid,
        {
            "location": "eastus2",
            "tags": {"data-classification": "phi"},
            "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": config}]},
        },
        api_version="2024-05-01",
    )
    assert world.post(world.drain_events()).status_code == 200
    return rid


def test_public_nics_are_judged_by_their_subnets_nsg(world: World) -> None:
    subnets = _phi_subnets()
    filtered = next(s for s in subnets if s[1])
    open_subnet = next(s for s in subnets if not s[1])  # the demo's firewall subnet has no NSG
    for index, (subnet_id, has_nsg) in enumerate([filtered, open_subnet]):
        rid = _put_nic(world, f"nic-public-{index}", subnet_id, public_ip=True)
        assert world.status(rid, CHECK) == ("PASS" if has_nsg else "FAIL"), subnet_id
    private = _put_nic(world, "nic-private", subnets[0][0], public_ip=False)
    assert world.status(private, CHECK) == "NOT_APPLICABLE"
