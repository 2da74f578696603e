"""The CLI's pipeline commands (scan, replay, status) against the sim and Azurite."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.cli import main
from shared.context import reset_app_context
from sim.azurite import AzuriteEndpoints
from sim.estate import demo_estate
from sim.fixture import SimHandle, running_sim

pytestmark = pytest.mark.slow


@pytest.fixture()
def env(
    azurite: AzuriteEndpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[SimHandle, Path]]:
    events = tmp_path / "events.ndjson"
    with running_sim(estate="demo", events_to=str(events)) as sim:
        monkeypatch.setenv("PHIGUARD_STORAGE_CONNECTION_STRING", azurite.connection_string)
        monkeypatch.setenv("PHIGUARD_TABLE_PREFIX", "cli" + uuid.uuid4().hex[:10])
        monkeypatch.setenv("PHIGUARD_ARM_URL", sim.arm_url)
        monkeypatch.setenv("PHIGUARD_CA_CERT", sim.ca_cert)
        try:
            yield sim, events
        finally:
            reset_app_context(None)


def test_scan_then_status_then_replay(
    env: tuple[SimHandle, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    sim, events = env
    assert main(["scan", "--subscription", sim.subscriptions[0]]) == 1  # the demo has FAILs
    out = capsys.readouterr().out
    assert "resources evaluated" in out

    assert main(["plan", "--subscription", sim.subscriptions[0]]) == 1
    assert "network_nsg_restrict_internet_inbound" in capsys.readouterr().out
    assert main(["status", "--format", "json", "--status", "fail"]) == 1
    failing = json.loads(capsys.readouterr().out)
    nsg = next(d for d in demo_estate().documents if d.get("name") == "nsg-chs-phi-data")
    assert failing and all(f["status"] == "FAIL" for f in failing)
    assert not any(
        f["resource_id"] == nsg["id"] and f["check_id"].startswith("network_nsg_man")
        for f in failing
    )

    sim.wait_for_events(5)
    events.write_text("")
    sim.change_as_user(
        "PUT",
        f"{nsg['id']}/securityRules/AllowSshFromInternet",
        {
            "properties": {
                "protocol": "Tcp",
                "sourcePortRange": "*",
                "destinationPortRange": "22",
                "sourceAddressPrefix": "Internet",
                "destinationAddressPrefix": "*",
                "access": "Allow",
                "priority": 210,
                "direction": "Inbound",
            }
        },
        api_version="2024-05-01",
    )
    sim.wait_for_events(10)
    assert main(["replay", str(events)]) == 0
    assert "recorded 1" in capsys.readouterr().out
    assert main(["status", "--format", "json", "--resource", nsg["id"], "--status", "FAIL"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert {r["check_id"] for r in rows} >= {"network_nsg_management_ports_internet_closed"}


def test_bad_usage_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PHIGUARD_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.delenv("PHIGUARD_STORAGE_ACCOUNT_URL", raising=False)
    assert main(["status"]) == 2
    assert "PHIGUARD_STORAGE_CONNECTION_STRING" in capsys.readouterr().err
    monkeypatch.setenv("PHIGUARD_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true")
    bad = tmp_path / "bad.ndjson"
    bad.write_text("{oops\n")
    monkeypatch.setenv("PHIGUARD_ARM_URL", "https://127.0.0.1:1")
    assert main(["replay", str(bad), "--batch", "1"]) == 2
    assert f"{bad}:1: invalid JSON" in capsys.readouterr().err.replace("\n", "")
    good = tmp_path / "good.ndjson"
    good.write_text('{"id": "e1"}\n')
    assert main(["replay", str(good)]) == 2  # nothing listens on the storage endpoint
    assert "cannot connect" in capsys.readouterr().err
