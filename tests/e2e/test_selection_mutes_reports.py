"""Check selection, muted findings and report files through the CLI, against the sim and Azurite:
what a selection reads (the sim's request counters), a mute's life (add, apply, expire, remove)
and the report files of a scan and of ``status``."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from shared.cli import main
from shared.context import reset_app_context
from shared.mutes import MuteRule
from sim.azurite import AzuriteEndpoints
from sim.estate import demo_estate
from sim.fixture import SimHandle, running_sim
from tests.conftest import NOWHERE_STORAGE

pytestmark = pytest.mark.slow

TLS = "storage_account_min_tls_1_2"
NSG_MGMT = "network_nsg_management_ports_internet_closed"


def _doc(name: str) -> dict[str, Any]:
    return next(d for d in demo_estate().documents if d.get("name") == name)


@pytest.fixture()
def env(azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimHandle]:
    with running_sim(estate="demo") as sim:
        monkeypatch.setenv("PHIGUARD_STORAGE_CONNECTION_STRING", azurite.connection_string)
        monkeypatch.setenv("PHIGUARD_TABLE_PREFIX", "sel" + uuid.uuid4().hex[:10])
        monkeypatch.setenv("PHIGUARD_ARM_URL", sim.arm_url)
        monkeypatch.setenv("PHIGUARD_CA_CERT", sim.ca_cert)
        monkeypatch.setenv("PHIGUARD_OPERATOR", "oncall@contoso.example")
        monkeypatch.setenv("COLUMNS", "400")
        try:
            yield sim
        finally:
            reset_app_context(None)


def _types(counters: dict[str, Any]) -> set[str]:
    return {t.lower() for t in counters["by_type"]}


def _status_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[Any]]:
    code = main(["status", "--format", "json", *args])
    return code, json.loads(capsys.readouterr().out)


# --- selection --------------------------------------------------------------------------------


def test_selection_decides_what_is_read_and_leaves_other_rows_alone(
    env: SimHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = env
    sub = sim.subscriptions[0]
    sim.reset_counters()
    assert main(["scan", "--subscription", sub]) == 1
    everything = sim.counters()
    capsys.readouterr()
    code, before = _status_json(capsys, "--all")
    assert code == 1
    network_rows = {
        (r["resource_id"], r["check_id"]) for r in before if r["check_id"].startswith("network_")
    }
    assert network_rows

    sim.reset_counters()
    assert main(["scan", "--subscription", sub, "--checks", TLS]) == 0  # the demo's pass TLS
    one = sim.counters()
    out = capsys.readouterr().out
    assert "3 resources evaluated" in out and "3 PASS" in out and NSG_MGMT not in out
    # Only storage accounts are listed and read, and none of their related documents: the one
    # selected check needs none (the full scan read diagnostic settings, NSGs, vaults, ...).
    read = _types(one)
    assert not any(t.startswith(("microsoft.network/", "microsoft.keyvault/")) for t in read)
    assert not any("diagnosticsettings" in t for t in read), read
    assert any("diagnosticsettings" in t for t in _types(everything))
    assert any(t.startswith("microsoft.network/") for t in _types(everything))
    assert one["total"] < everything["total"] / 3, (one["total"], everything["total"])
    # The preflight probe is the resource-group list the sweep needs: listed once, and no
    # separate GET of the subscription (issue 15: no call Custodian does not make but that one).
    calls = {k.lower(): n for k, n in one["by_call"].items()}
    assert calls.get("get list microsoft.resources/resourcegroups") == 1, calls
    assert not any("microsoft.resources/subscriptions" in k for k in calls), calls

    # A storage-only scan reads the storage accounts' related documents, nothing of other types.
    sim.reset_counters()
    assert main(["scan", "--subscription", sub, "--services", "storage"]) == 1
    storage = _types(sim.counters())
    capsys.readouterr()
    assert any(t.startswith("microsoft.storage/") for t in storage)
    assert not any(t.startswith(("microsoft.network/", "microsoft.sql/")) for t in storage)

    # The network rows were not closed by the narrower scans.
    code, after = _status_json(capsys, "--all", "--services", "network")
    assert {(r["resource_id"], r["check_id"]) for r in after} == network_rows
    assert all(r["status"] != "CLOSED" for r in after)
    # status narrows by the same model; exit 1 comes only from the selected checks' FAILs.
    code, tls = _status_json(capsys, "--checks", TLS)
    assert {r["check_id"] for r in tls} == {TLS}
    assert main(["status", "--checks", TLS, "--excluded-checks", TLS]) == 2
    assert "matches no check" in capsys.readouterr().err


def test_unknown_checks_and_services_are_usage_errors_before_any_service(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("PHIGUARD_STORAGE_CONNECTION_STRING", NOWHERE_STORAGE)
    sub = "00000000-0000-0000-0000-000000000001"
    cases = [
        (["scan", "--subscription", sub, "--checks", "storage_nope,network_nope"], "network_nope"),
        (["scan", "--subscription", sub, "--services", "storage,mainframe"], "'mainframe'"),
        (["scan", "--subscription", sub, "--excluded-checks", "x_y"], "--excluded-checks"),
        (["scan", "--subscription", sub, "--severity", "URGENT"], "--severity"),
        (["scan", "--subscription", sub, "--hipaa", "164.999"], "164.999"),
        (["status", "--services", "dns"], "--services: unknown service 'dns'"),
        (["evaluate", str(tmp_path), "--checks", "a_b"], "--checks: unknown check id 'a_b'"),
        (["scan", "--subscription", sub, "--output-formats", "pdf"], "--output-formats"),
    ]
    for argv, expected in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err, (argv, err)
    monkeypatch.setenv("PHIGUARD_CHECKS", "storage,not_a_check")
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert "PHIGUARD_CHECKS" in err and "not_a_check" in err


def test_the_sweep_settings_select_for_the_app_too(
    env: SimHandle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = env
    monkeypatch.setenv("PHIGUARD_CHECKS", "storage")
    monkeypatch.setenv("PHIGUARD_EXCLUDED_CHECKS", TLS)
    sim.reset_counters()
    assert main(["scan", "--subscription", sim.subscriptions[0]]) in (1, 3)
    capsys.readouterr()
    assert not any(t.startswith("microsoft.network/") for t in _types(sim.counters()))
    _, rows = _status_json(capsys, "--all")
    checks = {r["check_id"] for r in rows}
    assert checks and all(c.startswith("storage_") for c in checks) and TLS not in checks


# --- mutes ------------------------------------------------------------------------------------


def test_a_mute_rule_from_creation_to_expiry(
    env: SimHandle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = env
    sub = sim.subscriptions[0]
    account = str(_doc("stchsphirecords")["id"])
    scan = ["scan", "--subscription", sub, "--checks", TLS]
    sim.change_as_user(
        "PATCH", account, {"properties": {"minimumTlsVersion": "TLS1_0"}}, api_version="2023-05-01"
    )
    assert main(scan) == 1
    capsys.readouterr()
    code, rows = _status_json(capsys, "--resource", account, "--checks", TLS)
    assert code == 1 and rows[0]["status"] == "FAIL"

    until = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    add = [
        "mute",
        "add",
        "--check",
        TLS,
        "--resource",
        account,
        "--approver",
        "ciso@contoso.example",
    ]
    refused = [
        ([*add, "--until", until], "--reason"),
        ([*add, "--until", "2001-01-01", "--reason", "r"], "in the past"),
        ([*add, "--until", "2999-01-01", "--reason", "r"], "PHIGUARD_MUTE_MAX_DAYS"),
        ([*add, "--until", "2026-02-30", "--reason", "r"], "--until"),
        (
            [
                "mute",
                "add",
                "--check",
                "nope",
                "--resource",
                account,
                "--until",
                until,
                "--approver",
                "a",
                "--reason",
                "r",
            ],
            "'nope' is not a check id",
        ),
        (
            [
                "mute",
                "add",
                "--check",
                "*",
                "--resource",
                "/subscriptions/*",
                "--until",
                until,
                "--approver",
                "a",
                "--reason",
                "r",
            ],
            "mutes everything",
        ),
        (
            [
                "mute",
                "add",
                "--check",
                TLS,
                "--resource",
                "/subscriptions/x/../y?z",
                "--until",
                until,
                "--approver",
                "a",
                "--reason",
                "r",
            ],
            "--resource",
        ),
        ([*add, "--until", until, "--reason", "ok\x1b[31m"], "control"),
    ]
    for argv, expected in refused:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err, (argv, err)

    # A pattern: every storage account of the PHI resource group.
    group = account.split("/providers/")[0]
    pattern = f"{group}/providers/Microsoft.Storage/storageAccounts/*"
    assert (
        main(
            [
                "mute",
                "add",
                "--check",
                TLS,
                "--resource",
                pattern,
                "--until",
                until,
                "--approver",
                "ciso@contoso.example",
                "--reason",
                "legacy client until migration",
            ]
        )
        == 0
    )
    added = capsys.readouterr().out
    assert "added by oncall@contoso.example" in added
    assert main(["mute", "list", "--format", "json"]) == 0
    (rule,) = json.loads(capsys.readouterr().out)
    assert rule["state"] == "active" and rule["created_by"] == "oncall@contoso.example"

    # Applied at the next evaluation: MUTED with the rule, no exit 1 from it, still recorded.
    reset_app_context(None)
    assert main(scan) in (0, 1)
    capsys.readouterr()
    code, rows = _status_json(capsys, "--resource", account, "--checks", TLS)
    assert code == 0, rows
    (row,) = rows
    assert row["status"] == "MUTED"
    assert row["evidence"]["muted_by"]["rule"] == rule["id"]
    assert row["evidence"]["properties.minimumTlsVersion"] == "TLS1_0"
    assert rule["id"] in row["reason"]
    assert main(["status", "--all", "--resource", account]) in (0, 1)
    table = capsys.readouterr().out
    assert "MUTED" in table and rule["id"] in table

    # The rule ends (written with a past expiry, as time would): status already counts the
    # MUTED row as a FAIL and says why; the next scan records FAIL naming the expired mute.
    from shared.context import app_context

    store = app_context().mutes
    store.remove(rule["id"])
    past = datetime.now(UTC) - timedelta(days=1)
    expired = MuteRule(
        id=rule["id"],
        check=TLS,
        resource=pattern,
        reason="legacy client",
        approver="ciso@contoso.example",
        expires_at=past,
        created_at=past - timedelta(days=10),
        created_by="oncall@contoso.example",
    )
    store.add(expired)
    assert main(["status", "--resource", account, "--checks", TLS]) == 1
    assert "mute rule has ended" in capsys.readouterr().err
    assert main(["mute", "list"]) == 0
    assert "expired" in capsys.readouterr().out
    reset_app_context(None)
    assert main(scan) == 1
    capsys.readouterr()
    code, rows = _status_json(capsys, "--resource", account, "--checks", TLS)
    assert code == 1 and rows[0]["status"] == "FAIL"
    assert rows[0]["evidence"]["mute_expired"]["rule"] == rule["id"]
    assert "no longer applies" in rows[0]["reason"]

    assert main(["mute", "remove", rule["id"]]) == 0
    assert main(["mute", "remove", rule["id"]]) == 2
    assert "no mute rule" in capsys.readouterr().err

    from shared.context import app_context as ctx_of

    history = [
        (t.from_status, t.to_status) for t in ctx_of().store.history(account) if t.check_id == TLS
    ]
    assert ("FAIL", "MUTED") in history and ("MUTED", "FAIL") in history


# --- reports ----------------------------------------------------------------------------------

SUB = "00000000-0000-0000-0000-0000000000aa"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-phi"
HOSTILE = 'nsg-<img src=x onerror=alert(1)>&"q"'


def _hostile_nsg() -> dict[str, Any]:
    return {
        "id": f"{RG}/providers/Microsoft.Network/networkSecurityGroups/{HOSTILE}",
        "name": HOSTILE,
        "type": "Microsoft.Network/networkSecurityGroups",
        "location": "eastus",
        "tags": {},
        "properties": {
            "securityRules": [
                {
                    "name": "=HYPERLINK(1)",
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


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


# OCSF Compliance Finding (class_uid 2003): the attributes the class requires as published in the
# OCSF schema (base_event, finding, compliance_finding, the compliance object, the cloud profile),
# checked beside py-ocsf-models' validation.
OCSF_REQUIRED = (
    "activity_id",
    "category_uid",
    "class_uid",
    "type_uid",
    "severity_id",
    "time",
    "metadata",
    "finding_info",
    "compliance",
    "cloud",
)


def test_scan_and_status_write_every_report_format_with_hostile_names_inert(
    azurite: AzuriteEndpoints,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
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
            _hostile_nsg(),
        ],
    }
    with running_sim(estate=estate) as sim:
        monkeypatch.setenv("PHIGUARD_STORAGE_CONNECTION_STRING", azurite.connection_string)
        monkeypatch.setenv("PHIGUARD_TABLE_PREFIX", "rep" + uuid.uuid4().hex[:10])
        monkeypatch.setenv("PHIGUARD_ARM_URL", sim.arm_url)
        monkeypatch.setenv("PHIGUARD_CA_CERT", sim.ca_cert)
        try:
            out_dir = tmp_path / "scan"
            assert main(["scan", "--subscription", SUB, "--output", str(out_dir)]) in (1, 3)
            capsys.readouterr()
            files = sorted(p.name for p in out_dir.iterdir())
            assert files == [
                "phiguard-assessment-results.oscal.json",
                "phiguard-findings.csv",
                "phiguard-findings.json",
                "phiguard-findings.ocsf.json",
                "phiguard-report.html",
            ]
            rows = json.loads((out_dir / "phiguard-findings.json").read_text())
            failing = [r for r in rows if r["status"] == "FAIL"]
            assert any(r["check_id"] == NSG_MGMT and HOSTILE in r["resource_id"] for r in failing)

            table = list(
                csv.DictReader(io.StringIO((out_dir / "phiguard-findings.csv").read_text()))
            )
            assert list(table[0]) == [
                "resource_id",
                "resource_type",
                "check_id",
                "service",
                "status",
                "muted_by",
                "severity",
                "hipaa",
                "title",
                "reason",
                "evidence",
                "phi",
                "first_failed_at",
                "last_changed_at",
                "last_evaluated_at",
            ]
            assert len(table) == len(rows)
            for line in table:
                for cell in line.values():
                    assert not cell.startswith(("=", "+", "-", "@")), cell

            events = json.loads((out_dir / "phiguard-findings.ocsf.json").read_text())
            assert len(events) == len(rows)
            import jsonschema  # type: ignore[import-untyped]
            from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding

            # The OCSF 1.5.0 Compliance Finding, hand-checked from the OCSF schema source.
            ocsf_schema = json.loads(
                (
                    Path(__file__).parents[1]
                    / "shared"
                    / "schemas"
                    / "ocsf_1.5.0_compliance_finding.schema.json"
                ).read_text()
            )
            for event in events:
                jsonschema.Draft202012Validator(ocsf_schema).validate(event)
                ComplianceFinding.model_validate(event)  # OCSF 1.5.0's published class
                for name in OCSF_REQUIRED:
                    assert name in event, name
                assert event["class_uid"] == 2003 and event["category_uid"] == 2
                assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]
                assert 0 <= event["severity_id"] <= 6 and isinstance(event["time"], int)
                assert event["metadata"]["version"] and event["metadata"]["product"]["vendor_name"]
                assert event["finding_info"]["uid"] and event["finding_info"]["title"]
                assert event["compliance"]["standards"] and event["cloud"]["provider"] == "Azure"
                assert event["compliance"]["status_id"] in (1, 2, 3, 99)
            mgmt = next(e for e in events if e["compliance"]["control"] == NSG_MGMT)
            assert mgmt["compliance"]["status_id"] == 3
            assert all(r.startswith("45 CFR 164.") for r in mgmt["compliance"]["requirements"])
            assert mgmt["resources"][0]["uid"].endswith(HOSTILE)

            page = (out_dir / "phiguard-report.html").read_text()
            assert HOSTILE not in page and "<img" not in page
            assert "&lt;img src=x onerror=alert(1)&gt;&amp;&#34;q&#34;" in page
            parser = _Tags()
            parser.feed(page)
            names = {t for t, _ in parser.tags}
            assert "script" not in names and "link" not in names and "img" not in names
            assert not any(
                v and v.startswith(("http:", "https:", "//")) for _, a in parser.tags for _, v in a
            )
            text = "".join(parser.text)
            for heading in ("By HIPAA section", "By service", "By severity"):
                assert heading in text
            assert HOSTILE in text  # shown as text, once unescaped

            # status: the same files, and OCSF / HTML on stdout.
            assert main(["status", "--output", str(tmp_path / "status")]) == 1
            capsys.readouterr()
            assert (tmp_path / "status" / "phiguard-findings.ocsf.json").is_file()
            assert main(["status", "--format", "ocsf"]) == 1
            assert json.loads(capsys.readouterr().out)[0]["class_uid"] == 2003
            assert main(["status", "--format", "oscal"]) == 1
            oscal = json.loads(capsys.readouterr().out)["assessment-results"]
            assert any(
                f["target"]["status"]["state"] == "not-satisfied"
                for f in oscal["results"][0]["findings"]
            )
            assert main(["status", "--format", "html", "--services", "network"]) == 1
            assert capsys.readouterr().out.startswith("<!DOCTYPE html>")
            (tmp_path / "afile").write_text("")
            assert main(["status", "--output", str(tmp_path / "afile")]) == 2
            assert "not a directory" in capsys.readouterr().err
        finally:
            reset_app_context(None)


# --- report only ------------------------------------------------------------------------------


def _verdicts(path: Path) -> set[tuple[str, str, str]]:
    rows = json.loads(path.read_text())
    return {(r["resource_id"].lower(), r["check_id"], r["status"]) for r in rows}


def test_a_report_only_scan_writes_nothing_and_reports_what_a_stored_scan_records(
    env: SimHandle,
    azurite: AzuriteEndpoints,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    sim = env
    sub = sim.subscriptions[0]
    # No store at all: the report-only scan needs none.
    monkeypatch.delenv("PHIGUARD_STORAGE_CONNECTION_STRING")
    sim.reset_counters()
    assert main(["scan", "--subscription", sub, "--no-store", "--output", str(tmp_path / "a")]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out
    report_only = sim.counters()
    assert set(report_only["by_method"]) == {"GET"}, report_only["by_method"]  # fixed nothing
    unstored = _verdicts(tmp_path / "a" / "phiguard-findings.json")
    assert any(status == "FAIL" for _, _, status in unstored)

    # With a store configured, a report-only scan still writes no row to it.
    monkeypatch.setenv("PHIGUARD_STORAGE_CONNECTION_STRING", azurite.connection_string)
    assert main(["scan", "--subscription", sub, "--no-store"]) == 1
    capsys.readouterr()
    code = main(["status", "--all", "--format", "json"])
    captured = capsys.readouterr()
    assert (code, json.loads(captured.out)) == (3, []), captured
    assert "the state store has no findings" in captured.err, captured.err

    # The stored scan records the same verdicts the report-only one reported.
    assert main(["scan", "--subscription", sub, "--output", str(tmp_path / "b")]) == 1
    capsys.readouterr()
    assert _verdicts(tmp_path / "b" / "phiguard-findings.json") == unstored


def test_status_reports_a_damaged_row_as_an_error_and_every_other_row(
    env: SimHandle,
    azurite: AzuriteEndpoints,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Regression: one stored row edited by hand stopped `status` (exit 3, nothing shown)."""
    from azure.data.tables import TableServiceClient

    from shared.config import Settings
    from shared.state.tables import TableStateStore
    from shared.tables import table_service

    sim = env
    assert main(["scan", "--subscription", sim.subscriptions[0], "--services", "storage"]) == 1
    capsys.readouterr()
    code, before = _status_json(capsys, "--all")
    assert code == 1 and before
    settings = Settings.from_env()
    store = TableStateStore(table_service(settings), prefix=settings.table_prefix)
    table = TableServiceClient.from_connection_string(azurite.connection_string).get_table_client(
        store.state_table
    )
    account = str(_doc("stchsphirecords")["id"])
    row = next(
        r
        for r in table.query_entities(f"check_id eq '{TLS}'")
        if str(r["resource_id"]).lower() == account.lower()
    )
    row["last_evaluated_at"] = "yesterday, roughly"
    table.upsert_entity(row)
    code, after = _status_json(capsys, "--all")
    assert code == 3  # incomplete: a row could not be judged, never an all-clear
    assert len(after) == len(before)
    (damaged,) = [r for r in after if r["status"] == "ERROR"]
    assert damaged["check_id"] == TLS and damaged["resource_id"].lower() == account.lower()
    assert "cannot be read" in damaged["reason"]
    assert "Traceback" not in capsys.readouterr().err
