"""phiguard's counters reach the logs (and so Application Insights) as one line per invocation,
with numbers only: never a resource id, a name or a tag value."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared import api
from shared.telemetry import PREFIX, numbers
from sim.azurite import AzuriteEndpoints
from sim.estate import open_rdp_rule

from .world import World, find, running_world

NSG = find("microsoft.network/networksecuritygroups", "nsg-chs-phi-data")
NSG_FIX = "network_nsg_restrict_internet_inbound"


@pytest.fixture
def world(azurite: AzuriteEndpoints, tmp_path: Path) -> Iterator[World]:
    with running_world(
        azurite,
        tmp_path,
        remediation_modes=((NSG_FIX, "enforce"),),
        remediation_allow=(NSG_FIX,),
    ) as world:
        yield world


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for record in caplog.records:
        message = record.getMessage()
        if message.startswith(PREFIX):
            found.append((message, json.loads(message[len(PREFIX) :])))
    return found


def test_an_event_batch_and_its_fix_are_counted_without_names(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="phiguard.metrics")
    world.drain_events()
    world.sim.change_as_user(
        "PUT",
        f"{NSG['id']}/securityRules/AllowRdpFromInternet",
        open_rdp_rule(200),
        api_version="2024-05-01",
    )
    assert world.post(world.drain_events()).status_code == 200
    ((line, metrics),) = _lines(caplog)
    assert metrics["kind"] == "events" and metrics["events"] >= 1
    assert metrics["resources"] == {"recorded": 1}
    assert metrics["transitions"] >= 2 and metrics["arm_requests_total"] > 0
    assert metrics["remediations"] == {"VERIFIED": 1}
    assert 0 < metrics["latency_seconds_max"] < 60
    for secret in ("nsg-chs-phi-data", "subscriptions", "AllowRdp", world.sim.subscriptions[0]):
        assert secret not in line
    api.dispatch_outbox()  # the people side is off here; the outbox is still measured
    (_, outbox) = _lines(caplog)[-1]
    assert outbox["kind"] == "outbox" and outbox["pending"] == 0 and outbox["dead_letters"] == 0


def test_only_numbers_under_plain_names_leave() -> None:
    assert numbers(
        {
            "events": 3,
            "reason": "patient Jane Doe",
            "/subscriptions/x": 1,
            "resources": {"recorded": 2, "id": "/subscriptions/x/rg"},
            "ok": True,
        }
    ) == {"events": 3, "resources": {"recorded": 2}, "ok": 1}
