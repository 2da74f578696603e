"""The CLI's pipeline commands (scan, replay, status, plan, remediations, rollback) against the
sim and Azurite: their output with hostile names, and their exit codes."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.cli import main
from shared.cli.pipeline_commands import SCAN_ROWS
from shared.context import reset_app_context
from shared.report import ATTENTION
from sim.azurite import AzuriteEndpoints
from sim.estate import demo_estate
from sim.fixture import SimHandle, running_sim
from tests.conftest import NOWHERE_STORAGE

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
    assert main(["status", "--format", "json"]) == 1  # only this subscription is stored
    attention = [r for r in json.loads(capsys.readouterr().out) if r["status"] in ATTENTION]
    assert len(attention) > SCAN_ROWS  # the scan prints the most severe, counts the rest
    shown = " ".join(out.split())
    assert f"… and {len(attention) - SCAN_ROWS} more (`phiguard status` lists them" in shown

    # 3: some fixes cannot be planned here (no audit-log destination configured)
    assert main(["plan", "--subscription", sim.subscriptions[0]]) == 3
    planned = capsys.readouterr()
    assert "network_nsg_restrict_internet_inbound" in planned.out
    assert "could not be planned: monitoring_diagnostic_settings_audit" in planned.err
    # status's own --hipaa row filter (was read as a selection flag, one character at a time)
    assert main(["status", "--format", "json", "--hipaa", "164.312(e)"]) == 1
    transmission = json.loads(capsys.readouterr().out)
    assert transmission and all(
        any(c.startswith("164.312(e)") for c in r["hipaa"]) for r in transmission
    )
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
    monkeypatch.setenv("PHIGUARD_STORAGE_CONNECTION_STRING", NOWHERE_STORAGE)
    bad = tmp_path / "bad.ndjson"
    bad.write_text("{oops\n")
    monkeypatch.setenv("PHIGUARD_ARM_URL", "https://127.0.0.1:1")
    assert main(["replay", str(bad), "--batch", "1"]) == 2
    assert f"{bad}:1: invalid JSON" in capsys.readouterr().err.replace("\n", "")
    good = tmp_path / "good.ndjson"
    good.write_text('{"id": "e1"}\n')
    monkeypatch.setenv(
        "PHIGUARD_STORAGE_CONNECTION_STRING",
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "TableEndpoint=http://127.0.0.1:1/devstoreaccount1;",
    )
    assert main(["replay", str(good)]) == 3  # nothing listens on the storage endpoint
    assert "state store unreachable at http://127.0.0.1:1/" in capsys.readouterr().err


# --- hostile names through every command that prints them ---------------------------------------

SUB = "0f0e0d0c-0b0a-4909-8807-060504030201"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-phi"
# Markup, an OSC 8 hyperlink, clear-screen, CR, BS, a C1 CSI, a right-to-left override.
EVIL = "[bold]evil[red]\x1b]8;;evil\x1b\\click\x1b]8;;\x1b\\\x1b[2J\r\b\u202e\x9b"
RAW = ("\x1b", "\x9b", "\r", "\b", "\x07", "\u202e", "\u2066")
NSG_FIX = "network_nsg_restrict_internet_inbound"


def _nsg(name: str, rule: str) -> dict[str, Any]:
    nsg_id = f"{RG}/providers/Microsoft.Network/networkSecurityGroups/{name}"
    return {
        "id": nsg_id,
        "name": name,
        "type": "Microsoft.Network/networkSecurityGroups",
        "location": "eastus",
        "tags": {"owner": EVIL},
        "properties": {
            "securityRules": [
                {
                    "name": rule,
                    "id": f"{nsg_id}/securityRules/{rule}",
                    "properties": {
                        "protocol": "Tcp",
                        "sourcePortRange": "*",
                        "destinationPortRange": "3389",
                        "sourceAddressPrefix": "Internet",
                        "destinationAddressPrefix": "*",
                        "access": "Allow",
                        "priority": 100,
                        "direction": "Inbound",
                    },
                }
            ]
        },
    }


# An ARM name holds no '/', so no closing tag; ids hold no C0 control, rule names can.
NSG_A = _nsg("nsg-[bold]a[red]x\u202egpj", "rdp" + EVIL)
# ARM refuses control characters in a rule name, and so does the NSG fix (the rule of NSG A is
# not fixed, and says so, inert); NSG B's rule holds markup only, and is fixed.
NSG_B = _nsg("nsg-b[link=evil]\u2066", "rdp[link=evil]b[bold]")


def _assert_inert(output: str, *literal: str) -> None:
    for raw in RAW:
        assert raw not in output, f"raw {raw!r} in the output"
    for text in literal:
        assert text in output, f"{text!r} not shown literally"


@pytest.fixture()
def hostile(azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimHandle]:
    """A PHI resource group with two NSGs whose names and rule names are hostile; the NSG fix
    allow-listed so the sweep applies it where it can."""
    estate = {
        "subscriptions": [
            {"id": f"/subscriptions/{SUB}", "subscriptionId": SUB, "state": "Enabled", "tags": {}}
        ],
        "documents": [
            {
                "id": RG,
                "name": "rg-phi",
                "type": "Microsoft.Resources/resourceGroups",
                "location": "eastus",
                "tags": {"data-classification": "phi"},
                "properties": {},
            },
            NSG_A,
            NSG_B,
        ],
    }
    with running_sim(estate=estate) as sim:
        monkeypatch.setenv("COLUMNS", "400")  # no folding of long names across table lines
        monkeypatch.setenv("PHIGUARD_STORAGE_CONNECTION_STRING", azurite.connection_string)
        monkeypatch.setenv("PHIGUARD_TABLE_PREFIX", "cli" + uuid.uuid4().hex[:10])
        monkeypatch.setenv("PHIGUARD_ARM_URL", sim.arm_url)
        monkeypatch.setenv("PHIGUARD_CA_CERT", sim.ca_cert)
        monkeypatch.setenv("PHIGUARD_REMEDIATION_ALLOW", NSG_FIX)
        try:
            yield sim
        finally:
            reset_app_context(None)


def test_every_command_prints_hostile_names_inert(
    hostile: SimHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    name_a = "nsg-[bold]a[red]x\\u202egpj"
    name_b = "nsg-b[link=evil]\\u2066"
    assert main(["scan", "--subscription", SUB]) == 1
    out = capsys.readouterr()
    _assert_inert(out.out + out.err, name_a)

    assert main(["status", "--all"]) == 1
    out = capsys.readouterr()
    _assert_inert(out.out + out.err, name_a, name_b)

    assert main(["status", "--format", "csv"]) == 1
    out = capsys.readouterr()
    _assert_inert(out.out, name_a, name_b)
    assert {r["status"] for r in csv.DictReader(io.StringIO(out.out))} >= {"FAIL", "PASS"}

    # NSG B was fixed by the sweep (allow-listed), its bracketed rule name too (regression:
    # a ']' ended the fix's path selector); NSG A's rule name holds control characters, which
    # no ARM rule name can: not fixed, and the log says so, inert.
    assert main(["remediations"]) == 0
    out = capsys.readouterr()
    _assert_inert(
        out.out + out.err,
        "nsg-b[link=evil]",
        "rdp[link=evil]b[bold]",
        name_a,
        "[bold]evil[red]\\x1b]8;;",
    )
    assert main(["remediations", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    fixed = next(
        r for r in records if r["resource_id"] == NSG_B["id"] and r["status"] == "VERIFIED"
    )
    assert "rdp[link=evil]b[bold]" in fixed["summary"]  # JSON stays faithful
    assert main(["rollback", fixed["id"]]) == 0
    out = capsys.readouterr()
    _assert_inert(out.out + out.err, f"rolled back {fixed['id']}")


# --- exit codes against live services -----------------------------------------------------------


def test_scan_of_an_unknown_subscription_exits_3_naming_it(
    hostile: SimHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    unknown = "99999999-9999-4999-8999-999999999999"
    assert main(["scan", "--subscription", unknown]) == 3
    err = capsys.readouterr().err
    assert f"subscription {unknown} not found at {hostile.arm_url}" in err


def test_scan_with_arm_unreachable_exits_3_within_seconds(
    hostile: SimHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    assert main(["scan", "--subscription", SUB, "--arm-url", "https://127.0.0.1:1"]) == 3
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert "ARM unreachable at https://127.0.0.1:1 (--arm-url)" in err
    assert "Traceback" not in err


def test_status_exit_code_reflects_error_and_not_assessed_rows(
    hostile: SimHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared.engine import Engine
    from shared.kernel.changes import Cause
    from shared.loader import load_documents, load_paths
    from shared.state.tables import TableStateStore
    from tests.conftest import FIXTURES

    assert main(["status"]) == 3  # an empty store judged nothing
    assert "the state store has no findings" in capsys.readouterr().err
    assert main(["status", "--status", "FAIL"]) == 0  # a filter that matches nothing is fine
    capsys.readouterr()

    import os

    store = TableStateStore.from_connection_string(
        os.environ["PHIGUARD_STORAGE_CONNECTION_STRING"], os.environ["PHIGUARD_TABLE_PREFIX"]
    )
    store.ensure_tables()
    site = FIXTURES / "checks" / "appservice_site_https_only" / "fail.json"
    (snapshot,) = load_paths([site])
    store.record_evaluation(
        Engine().evaluate(snapshot), read_at=datetime.now(UTC), cause=Cause(kind="cli")
    )
    assert main(["status"]) == 3  # FAIL and NOT_ASSESSED rows: incomplete wins
    out = capsys.readouterr()
    assert "NOT ASSESSED" in out.out and "NOT_ASSESSED" in out.err
    assert main(["status", "--format", "json"]) == 3
    rows = json.loads(capsys.readouterr().out)
    unjudged = [r for r in rows if r["status"] == "NOT_ASSESSED"]
    assert unjudged and all(r["evidence"]["missing"] for r in unjudged)
    assert main(["status", "--format", "csv"]) == 3
    table = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert {r["check_id"] for r in table if r["status"] == "NOT_ASSESSED"} == {
        r["check_id"] for r in unjudged
    }
    assert main(["status", "--status", "fail"]) == 1
    assert main(["status", "--status", "not_assessed"]) == 3
    assert main(["status", "--status", "error"]) == 0  # none yet
    broken = load_documents(
        [
            (
                {
                    "id": f"{RG}/providers/Microsoft.Network/networkSecurityGroups/broken",
                    "type": "Microsoft.Network/networkSecurityGroups",
                    "properties": {"securityRules": "not a list"},
                },
                "broken",
            )
        ]
    )[0]
    store.record_evaluation(
        Engine().evaluate(broken), read_at=datetime.now(UTC), cause=Cause(kind="cli")
    )
    capsys.readouterr()
    assert main(["status", "--status", "error"]) == 3
    assert "ERROR" in capsys.readouterr().err


NSG_FIX = "network_nsg_restrict_internet_inbound"


def test_remediate_catches_up_on_failures_found_before_the_fix_was_allowed(
    env: tuple[SimHandle, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sim.estate import open_rdp_rule

    sim, _ = env
    nsg = next(d for d in demo_estate().documents if d.get("name") == "nsg-chs-phi-data")
    sim.change_as_user(
        "PUT", f"{nsg['id']}/securityRules/OpenRdp", open_rdp_rule(150), api_version="2024-05-01"
    )
    subscription = sim.subscriptions[0]
    assert main(["scan", "--subscription", subscription]) == 1
    capsys.readouterr()
    assert main(["remediate"]) == 2  # says what to give
    capsys.readouterr()

    monkeypatch.setenv("PHIGUARD_REMEDIATION_MODES", f"{NSG_FIX}=enforce")
    monkeypatch.setenv("PHIGUARD_REMEDIATION_ALLOW", NSG_FIX)
    sim.reset_counters()
    code = main(["remediate", "--subscription", subscription])
    out = capsys.readouterr().out
    assert "VERIFIED" in out and "nsg-chs-phi-data" in out
    assert code == 1  # other failures remain planned only (not allow-listed)
    rule = sim.admin("GET", "document", id=f"{nsg['id']}/securityRules/OpenRdp")
    assert rule["properties"]["access"] == "Deny"
    puts = sim.counters()["by_method"].get("PUT", 0)
    assert puts >= 1
    # Nothing left for the allowed fix: a second run writes nothing.
    sim.reset_counters()
    main(["remediate", "--subscription", subscription])
    assert sim.counters()["by_method"].get("PUT", 0) == 0


def test_exempt_records_the_operator_and_honours_the_policy(
    env: tuple[SimHandle, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nsg = str(next(d for d in demo_estate().documents if d.get("name") == "nsg-chs-phi-data")["id"])
    monkeypatch.setenv("PHIGUARD_OPERATOR", "oncall@contoso.example")
    until = datetime.now(UTC).date().replace(year=datetime.now(UTC).year + 5).isoformat()
    base = ["exempt", nsg, "--target", NSG_FIX, "--approver", "ciso@contoso.example"]
    assert main([*base, "--until", until, "--reason", "vendor"]) == 2
    assert "PHIGUARD_EXEMPTION_MAX_DAYS" in capsys.readouterr().err
    assert main([*base, "--until", "9999-12-31", "--reason", "x"]) == 2
    assert main([*base, "--until", "2026-02-30", "--reason", "x"]) == 2
    assert main(["exempt", nsg, "--target", "no_such_fix", "--until", "2027-01-01"]) == 2
    capsys.readouterr()
    soon = datetime.now(UTC).date().replace(day=1).isoformat()
    next_month = datetime.fromisoformat(soon).replace(tzinfo=UTC)
    target_day = (next_month + timedelta(days=40)).date().isoformat()
    assert main([*base, "--until", target_day, "--reason", "vendor maintenance"]) == 0
    assert "added by oncall@contoso.example" in capsys.readouterr().out
    assert main(["exempt", nsg, "--list"]) == 0
    listed = capsys.readouterr().out
    assert NSG_FIX in listed and "oncall@contoso.example" in listed
    assert main(["exempt", nsg, "--remove", "--target", NSG_FIX]) == 0
    capsys.readouterr()
    assert main(["exempt", nsg, "--list"]) == 0
    assert NSG_FIX not in capsys.readouterr().out


def test_plan_of_a_resource_that_does_not_exist_is_incomplete(
    env: tuple[SimHandle, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: `plan --resource <gone>` printed "nothing to remediate" and exited 0."""
    sim, _ = env
    gone = (
        f"/subscriptions/{sim.subscriptions[0]}/resourceGroups/rg-nowhere/providers/"
        "Microsoft.Network/networkSecurityGroups/nsg-gone"
    )
    assert main(["plan", "--resource", gone]) == 3
    err = capsys.readouterr().err
    assert "1 resource(s) not found through ARM" in err and "nsg-gone" in err


def test_remediate_and_exempt_refuse_hostile_arguments_clearly(
    env: tuple[SimHandle, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by trying them as an attacker would: a dot-segment id was read at the resolved
    path and reported "nothing to remediate" (exit 0); a resource ARM does not know exited 0;
    --until 9999-12-31 was called "not a date"; a 100,000-character reason was cut silently."""
    sim, _ = env
    sub = sim.subscriptions[0]
    steered = f"/subscriptions/{sub}/resourceGroups/rg/../providers/Microsoft.Network/x/y"
    assert main(["remediate", "--resource", steered]) == 2
    assert "dot segment" in capsys.readouterr().err
    gone = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/x/y"
    assert main(["remediate", "--resource", gone]) == 3
    assert "not found through ARM" in capsys.readouterr().out
    nsg = str(next(d for d in demo_estate().documents if d.get("name") == "nsg-chs-phi-data")["id"])
    base = ["exempt", nsg, "--target", NSG_FIX, "--approver", "ciso@contoso.example"]
    assert main([*base, "--until", "9999-12-31", "--reason", "x"]) == 2
    assert "not a date phiguard can honour" in capsys.readouterr().err
    assert main([*base, "--until", "2027-01-01", "--reason", "r" * 100_000]) == 2
    assert "at most 1,000" in capsys.readouterr().err
    assert main(["exempt", nsg, "--list"]) == 0
    assert NSG_FIX not in capsys.readouterr().out  # nothing was recorded


def test_remediations_look_back_is_bounded_and_cheap(
    env: tuple[SimHandle, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: `remediations --days 99999999999` ran one table query per day (it hung);
    six years of look-back is now a few range queries."""
    started = time.monotonic()
    assert main(["remediations", "--days", "99999999999"]) == 2
    assert "--days at most 3660" in capsys.readouterr().err
    assert main(["remediations", "--days", "2200"]) == 0
    assert time.monotonic() - started < 30


def test_a_scan_of_several_subscriptions_records_what_scanning_each_alone_records(
    env: tuple[SimHandle, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The subscriptions of one scan are swept side by side: same rows as one after the other."""
    sim, _ = env
    first, second = sim.subscriptions[:2]
    assert main(["scan", "--subscription", first, "--subscription", second]) == 1
    out = capsys.readouterr().out
    assert out.index(f"{first}: ") < out.index(f"{second}: ")  # reported in the order given
    assert main(["status", "--all", "--format", "json"]) == 1
    together = {
        (r["resource_id"], r["check_id"], r["status"]) for r in json.loads(capsys.readouterr().out)
    }

    monkeypatch.setenv("PHIGUARD_TABLE_PREFIX", "alone" + uuid.uuid4().hex[:10])
    reset_app_context(None)
    for subscription in (first, second):
        assert main(["scan", "--subscription", subscription]) == 1
    capsys.readouterr()
    assert main(["status", "--all", "--format", "json"]) == 1
    alone = {
        (r["resource_id"], r["check_id"], r["status"]) for r in json.loads(capsys.readouterr().out)
    }
    assert together == alone
    assert {rid.split("/")[2] for rid, _, _ in together} == {first, second}


def test_a_scan_says_what_it_found_deleted_and_reports_it_no_more(
    env: tuple[SimHandle, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A resource deleted while its delete event was lost (no event reaches phiguard here)."""
    sim, _ = env
    subscription = sim.subscriptions[0]
    nsg = next(d for d in demo_estate().documents if d.get("name") == "nsg-chs-phi-app")
    assert main(["scan", "--subscription", subscription]) == 1
    first = capsys.readouterr().out
    assert "found deleted" not in first and "nsg-chs-phi-app" in first
    sim.change_as_user("DELETE", nsg["id"], api_version="2024-05-01")
    assert main(["scan", "--subscription", subscription]) in (0, 1)
    out = " ".join(capsys.readouterr().out.split())  # the console wraps at its width
    assert f"{subscription}: " in out and ", 1 found deleted, " in out
    # No open finding is left (3: nothing to vouch for); its rows say why.
    assert main(["status", "--format", "json", "--resource", nsg["id"]]) == 3
    assert json.loads(capsys.readouterr().out) == []
    argv = ["status", "--format", "json", "--resource", nsg["id"], "--status", "RESOURCE_DELETED"]
    main(argv)
    closed = json.loads(capsys.readouterr().out)
    assert closed and all(r["status"] == "RESOURCE_DELETED" for r in closed)
