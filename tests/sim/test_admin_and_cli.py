"""The admin API, ``phiguard sim serve`` (as a subprocess) and the in-process fixture."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import requests

from sim import cli, options
from sim.estate import demo_estate
from sim.fixture import SimHandle, running_sim, spawned_sim
from tests.sim.helpers import TOKEN, arm, first, url


def test_counters_count_arm_requests_by_method_and_type(sim: SimHandle) -> None:
    nsg = first(sim, "Microsoft.Network/networkSecurityGroups")
    arm(sim, "GET", nsg["id"])
    arm(sim, "GET", nsg["id"])
    arm(sim, "PATCH", nsg["id"], {"tags": {"a": "b"}})
    arm(sim, "GET", nsg["id"] + "/securityRules")
    sim.change_as_user("PATCH", nsg["id"], {"tags": {"a": "c"}})  # not an ARM call of ours
    counters = sim.counters()
    assert counters["total"] == 4
    assert counters["by_method"] == {"GET": 3, "PATCH": 1}
    assert counters["by_method_and_type"]["GET microsoft.network/networksecuritygroups"] == 2
    assert (
        counters["by_method_and_type"]["GET microsoft.network/networksecuritygroups/securityrules"]
        == 1
    )
    assert counters["by_type"]["microsoft.network/networksecuritygroups"] == 3
    assert counters["by_status"] == {"200": 4}
    # a list (a collection path, paged by nextLink) apart from a read of one document
    assert counters["by_call"] == {
        "GET one microsoft.network/networksecuritygroups": 2,
        "PATCH one microsoft.network/networksecuritygroups": 1,
        "GET list microsoft.network/networksecuritygroups/securityrules": 1,
    }
    assert sim.reset_counters()["total"] == 0


def test_ground_truth_is_the_estates(sim: SimHandle) -> None:
    assert sim.ground_truth() == demo_estate().ground_truth


def test_reset_load_document_and_info(sim: SimHandle) -> None:
    info = sim.admin("GET", "info")
    assert info["arm_url"] == sim.arm_url and info["documents"] == len(demo_estate().documents)
    nsg = first(sim, "Microsoft.Network/networkSecurityGroups")
    assert sim.admin("GET", "document", id=nsg["id"].upper()) == nsg
    sim.reset("empty")
    assert sim.admin("GET", "info")["documents"] == 0
    assert arm(sim, "GET", nsg["id"]).status_code == 404
    loaded = sim.load([nsg])
    assert loaded["loaded"] == 1
    # the subscription and resource group a loaded document needs are created with it
    assert (
        arm(sim, "GET", "/".join(nsg["id"].split("/")[:5]), api_version="2021-04-01").status_code
        == 200
    )
    assert arm(sim, "GET", nsg["id"]).json() == nsg
    sim.reset()
    assert sim.admin("GET", "info")["documents"] == len(demo_estate().documents)


def test_change_as_user_answers_like_arm(sim: SimHandle) -> None:
    nsg = first(sim, "Microsoft.Network/networkSecurityGroups")
    result = sim.change_as_user("PATCH", nsg["id"], {"tags": {"owner": "someone"}})
    assert result["status"] == 200 and result["body"]["tags"] == {"owner": "someone"}
    missing = sim.change_as_user("GET", nsg["id"] + "x")
    assert missing["status"] == 404 and missing["body"]["error"]["code"] == "ResourceNotFound"


def test_unknown_admin_route_is_404(sim: SimHandle) -> None:
    resp = requests.get(f"{sim.admin_url}/nope", verify=sim.ca_cert, timeout=10)
    assert resp.status_code == 404
    bad = requests.post(
        f"{sim.admin_url}/faults", json={"spec": "nope=1"}, verify=sim.ca_cert, timeout=10
    )
    assert bad.status_code == 400


def test_running_sim_accepts_an_estate_dict_and_options() -> None:
    sub = "5e1b0c7e-0000-4000-8000-000000000003"
    estate = {"tenant_id": "t", "subscriptions": [{"subscriptionId": sub}], "documents": []}
    with running_sim(estate=estate, page_size=1) as sim:
        assert sim.subscriptions == [sub]
        assert sim.arm_url.startswith("https://127.0.0.1:")
        assert Path(sim.ca_cert).is_file()
        body = requests.get(
            url(sim, "/subscriptions", "2022-12-01"), headers=TOKEN, verify=sim.ca_cert, timeout=10
        ).json()
        assert [s["subscriptionId"] for s in body["value"]] == [sub]


def test_generated_estates_load(tmp_path: Path) -> None:
    with running_sim(estate="200:20", seed=3) as sim:
        info = sim.admin("GET", "info")
        assert info["documents"] >= 200 and not info["load_errors"]
        assert len(sim.subscriptions) >= 1


def test_cli_parses_its_options() -> None:
    parser = argparse.ArgumentParser()
    options.add_arguments(parser)
    args = parser.parse_args(
        [
            "--estate",
            "empty",
            "--faults",
            "throttle=on",
            "--events-to",
            "x.ndjson",
            "--events-to",
            "cloudevents:http://127.0.0.1:1/e",
            "--seed",
            "4",
        ]
    )
    assert args.events_to == ["x.ndjson", "cloudevents:http://127.0.0.1:1/e"]
    assert (args.estate, args.faults, args.seed, args.port, args.host) == (
        "empty",
        "throttle=on",
        4,
        0,
        "127.0.0.1",
    )
    bad = parser.parse_args(["--faults", "what=1"])
    assert cli.run(bad) == 2


def test_sim_serve_prints_one_ready_line_and_stops_on_sigterm(tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    with spawned_sim(estate="demo", events_to=str(events)) as sim:
        assert sim.process is not None
        assert set(sim.ready) == {"arm_url", "ca_cert", "admin_url", "subscriptions"}
        assert sim.ready["admin_url"] == sim.ready["arm_url"] + "/_admin"
        assert sim.subscriptions == [s["subscriptionId"] for s in demo_estate().subscriptions]
        nsg = next(
            d
            for d in demo_estate().documents
            if d.get("type") == "Microsoft.Network/networkSecurityGroups"
        )
        assert arm(sim, "GET", nsg["id"]).json() == nsg
        sim.change_as_user("PATCH", nsg["id"], {"tags": {"via": "subprocess"}})
        assert sim.wait_for_events()["idle"]
        process = sim.process
    assert process.returncode == 0
    assert "ResourceWriteSuccess" in events.read_text()


@pytest.mark.parametrize("value", ["99999", "-1", "abc", "8080\x00"])
def test_a_port_out_of_range_is_a_usage_error_naming_the_flag(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: --proxy-port 99999 reached bind() and failed with its OverflowError."""
    parser = argparse.ArgumentParser()
    options.add_arguments(parser)
    for flag in ("--port", "--proxy-port"):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([flag, value])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert flag in err and "Traceback" not in err
