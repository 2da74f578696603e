"""The report files without services: CSV cells that would start a formula, HTML that escapes
everything and reaches nothing outside itself, the OCSF mapping of a muted finding."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.kernel.findings import Finding, Severity, Status
from shared.report_files import (
    FILE_NAMES,
    OCSF_VERSION,
    cloud_partition,
    csv_report,
    html_report,
    ocsf_finding,
    report_rows,
    write_reports,
)

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
RID = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/"
    "Microsoft.Network/networkSecurityGroups/<script>alert(1)</script>"
)


def _finding(status: Status, reason: str, evidence: dict[str, object] | None = None) -> Finding:
    return Finding(
        resource_id=RID,
        resource_type="microsoft.network/networksecuritygroups",
        check_id="network_nsg_management_ports_internet_closed",
        status=status,
        severity=Severity.HIGH,
        hipaa=("164.312(e)(1)", "164.308(a)(1)(ii)(B)"),
        title="NSGs do not open management ports to the Internet",
        reason=reason,
        evidence=evidence or {},
        phi=True,
    )


def test_csv_cells_never_start_a_formula_and_show_control_characters() -> None:
    rows = report_rows(
        [
            _finding(Status.FAIL, '=HYPERLINK("http://evil","x")'),
            _finding(Status.FAIL, "+cmd|' /C calc'!A0\x1b[31m"),
            _finding(Status.FAIL, "@SUM(1)", {"-1+1": "=1"}),
        ]
    )
    table = list(csv.reader(io.StringIO(csv_report(rows))))
    assert table[0][:5] == ["resource_id", "resource_type", "check_id", "service", "status"]
    for line in table[1:]:
        for cell in line:
            assert not cell.startswith(("=", "+", "-", "@")), cell
            assert "\x1b" not in cell
    reasons = {line[9] for line in table[1:]}
    assert '\'=HYPERLINK("http://evil","x")' in reasons


def test_html_escapes_names_and_reasons_and_is_self_contained() -> None:
    muted = _finding(
        Status.MUTED,
        'Muted by mute-0000000a until 2027-01-01: <img src=x onerror="alert(2)">',
        {"muted_by": {"rule": "mute-0000000a"}},
    )
    page = html_report(report_rows([_finding(Status.FAIL, "<b>x</b>"), muted]), NOW, "all")
    assert "<script>" not in page and "<img" not in page and "<b>x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "rule mute-0000000a" in page
    assert "http" not in page.lower().replace("http-equiv", "")
    assert "<style>" in page and "<link" not in page
    assert "164.312(e)(1)" in page and "Transmission security" in page


def test_html_shows_direction_and_control_characters_instead_of_sending_them() -> None:
    """A name or reason with a right-to-left override (U+202E) or an escape sequence would make
    the page display something else than what Azure holds; the report shows them as escapes,
    as the terminal and the CSV do."""
    page = html_report(
        report_rows([_finding(Status.FAIL, "allowed \u202etxt.exe\x1b[2J from 0.0.0.0/0")]),
        NOW,
        "scope\u2066",
    )
    assert "\u202e" not in page and "\u2066" not in page and "\x1b" not in page
    assert "\\u202e" in page  # shown, not sent


def test_ocsf_maps_status_requirements_and_the_mute_rule() -> None:
    muted = ocsf_finding(
        report_rows(
            [
                _finding(
                    Status.MUTED, "Muted by mute-0000000a", {"muted_by": {"rule": "mute-0000000a"}}
                )
            ]
        )[0],
        NOW,
    )
    assert muted["class_uid"] == 2003 and muted["type_uid"] == 200301
    assert muted["metadata"]["version"] == OCSF_VERSION
    assert muted["status_id"] == 3 and muted["status"] == "Suppressed"
    # A muted finding failed its check (a rule accepted the risk): OCSF compliance status 3 Fail,
    # not 2 Warning ("did not yield a result due to missing information").
    assert muted["compliance"]["status_id"] == 3 and muted["compliance"]["status"] == "Fail"
    assert muted["compliance"]["status_code"] == "MUTED"
    assert muted["compliance"]["status_details"] == [
        "Muted by mute-0000000a: Muted by mute-0000000a"
    ]
    assert "status_detail" not in muted["compliance"]  # deprecated since OCSF 1.4.0
    assert muted["compliance"]["requirements"] == [
        "45 CFR 164.312(e)(1)",
        "45 CFR 164.308(a)(1)(ii)(B)",
    ]
    assert muted["unmapped"]["muted_by"] == "mute-0000000a"
    assert muted["cloud"]["account"] == {
        "uid": "00000000-0000-0000-0000-000000000001",
        "name": "00000000-0000-0000-0000-000000000001",
        "type_id": 13,
        "type": "Azure Subscription",
    }
    assert muted["resources"][0]["group"]["name"] == "rg"
    assert muted["severity_id"] == 4 and muted["time"] == int(NOW.timestamp() * 1000)
    failed = ocsf_finding(report_rows([_finding(Status.FAIL, "open")])[0], NOW)
    assert failed["compliance"]["status_id"] == 3 and failed["status_id"] == 1
    assert failed["remediation"]["desc"]
    assert failed["finding_info"]["uid"] == muted["finding_info"]["uid"]  # one per resource+check
    # Nothing to judge is no missing information: 99 Other with the source's label, never the
    # Warning that ERROR and NOT_ASSESSED get.
    na = ocsf_finding(report_rows([_finding(Status.NOT_APPLICABLE, "n/a")])[0], NOW)
    assert (na["compliance"]["status_id"], na["compliance"]["status"]) == (99, "Not Applicable")
    assert (na["status_id"], na["status"]) == (99, "Not Applicable")
    unknown = ocsf_finding(report_rows([_finding(Status.NOT_ASSESSED, "unread")])[0], NOW)
    assert (unknown["compliance"]["status_id"], unknown["status_id"]) == (2, 1)
    assert _ocsf_validator().is_valid(na) and _ocsf_validator().is_valid(unknown)


def test_write_reports_writes_only_what_is_asked(tmp_path: Path) -> None:
    written = write_reports(
        tmp_path / "new", [_finding(Status.FAIL, "r")], formats=("json", "ocsf"), generated_at=NOW
    )
    assert [p.name for p in written] == [FILE_NAMES["json"], FILE_NAMES["ocsf"]]
    (row,) = json.loads(written[0].read_text())
    assert row["service"] == "network" and row["muted_by"] is None and row["resource_id"] == RID


OCSF_SCHEMA = Path(__file__).parent / "schemas" / "ocsf_1.5.0_compliance_finding.schema.json"


def _ocsf_validator() -> Any:
    import jsonschema  # type: ignore[import-untyped]

    schema = json.loads(OCSF_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_every_ocsf_finding_validates_against_the_ocsf_compliance_finding_schema() -> None:
    """Against OCSF 1.5.0's Compliance Finding, a JSON schema hand-checked from the OCSF schema
    source (required attributes, enums with their captions, no unknown attribute), and against
    py-ocsf-models' pydantic class (the models Prowler writes its OCSF output with)."""
    from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding

    validator = _ocsf_validator()
    for severity in Severity:
        for status in Status:
            finding = _finding(status, "why", {"muted_by": {"rule": "mute-0000000a"}})
            finding = replace(finding, severity=severity)
            event = ocsf_finding(report_rows([finding])[0], NOW)
            errors = [e.message for e in validator.iter_errors(event)]
            assert not errors, (severity, status, errors)
            model = ComplianceFinding.model_validate(event)
            assert int(model.class_uid) == 2003 and int(model.type_uid) == 200301
            assert model.compliance.standards and model.compliance.requirements
            assert model.metadata.product.vendor_name == "phiguard"
            assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]
            assert event["time"] == int(NOW.timestamp() * 1000)  # epoch milliseconds


def test_the_ocsf_schema_rejects_what_ocsf_1_5_0_does_not_allow() -> None:
    """The hand-checked schema is not a rubber stamp: a wrong caption, account type, deprecated
    or made-up attribute, or a missing required one, each fails."""
    validator = _ocsf_validator()
    good = ocsf_finding(report_rows([_finding(Status.FAIL, "open")])[0], NOW)
    assert validator.is_valid(good)
    bad: list[dict[str, Any]] = []
    for path, value in (
        (("severity",), "Info"),
        (("severity_id",), 7),
        (("status",), "Open"),
        (("type_uid",), 200300),
        (("compliance", "status"), "Warning"),
        (("compliance", "complianceStatus"), "FAIL"),
        (("cloud", "account", "type"), "Azure AD Account"),
        (("metadata", "version"), "1.1.0"),
        (("made_up",), 1),
    ):
        event = json.loads(json.dumps(good))
        target = event
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        bad.append(event)
    for required in ("finding_info", "compliance", "cloud", "metadata", "time"):
        event = json.loads(json.dumps(good))
        del event[required]
        bad.append(event)
    for event in bad:
        assert not validator.is_valid(event), event


def test_ocsf_severity_captions_and_the_subscription_account() -> None:
    """OCSF severity_id 1 is "Informational" (not "Info"); the subscription is an account of
    type_id 13 "Azure Subscription"; a resource outside a subscription names no account."""
    info = replace(_finding(Status.FAIL, "x"), severity=Severity.INFO)
    event = ocsf_finding(report_rows([info])[0], NOW)
    assert (event["severity_id"], event["severity"]) == (1, "Informational")
    captions = {
        s: ocsf_finding(report_rows([replace(info, severity=s)])[0], NOW)["severity"]
        for s in Severity
    }
    assert captions == {
        Severity.CRITICAL: "Critical",
        Severity.HIGH: "High",
        Severity.MEDIUM: "Medium",
        Severity.LOW: "Low",
        Severity.INFO: "Informational",
    }
    assert event["cloud"]["account"]["type_id"] == 13
    assert event["metadata"]["profiles"] == ["cloud", "datetime"]  # time_dt is emitted
    tenant = replace(info, resource_id="/providers/Microsoft.Management/managementGroups/mg1")
    event = ocsf_finding(report_rows([tenant])[0], NOW)
    assert event["cloud"] == {"provider": "Azure"}
    assert "group" not in event["resources"][0]
    assert _ocsf_validator().is_valid(event)


def test_ocsf_times_are_utc_epoch_milliseconds_whatever_the_host_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """OCSF ``time`` is milliseconds since the epoch; a stored time without an offset is UTC,
    not the host's local time."""
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        row = report_rows([_finding(Status.FAIL, "open")])[0]
        row["last_evaluated_at"] = "2026-12-06T12:00:00"
        row["first_failed_at"] = "2026-12-01T08:30:00Z"
        event = ocsf_finding(row, datetime(2027, 1, 1, tzinfo=UTC))
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert event["time"] == int(NOW.timestamp() * 1000) == 1_796_558_400_000
    assert event["time_dt"] == "2026-12-06T12:00:00Z"
    assert event["finding_info"]["last_seen_time"] == event["time"]
    first = int(datetime(2026, 12, 1, 8, 30, tzinfo=UTC).timestamp() * 1000)
    assert (
        event["finding_info"]["created_time"] == event["finding_info"]["first_seen_time"] == first
    )


@pytest.mark.parametrize(
    ("arm_url", "partition"),
    [
        ("https://management.azure.com", "AzureCloud"),
        ("https://MANAGEMENT.usgovcloudapi.net/", "AzureUSGovernment"),
        ("https://management.chinacloudapi.cn:443", "AzureChinaCloud"),
        ("https://127.0.0.1:8443", None),  # the simulated tenant: not a cloud to name
        ("https://management.azure.com.evil.example", None),
    ],
)
def test_the_ocsf_cloud_partition_follows_the_arm_endpoint(
    arm_url: str, partition: str | None, tmp_path: Path
) -> None:
    assert cloud_partition(arm_url) == partition
    (path,) = write_reports(
        tmp_path,
        [_finding(Status.FAIL, "r")],
        formats=("ocsf",),
        generated_at=NOW,
        partition=cloud_partition(arm_url),
    )
    (finding,) = json.loads(path.read_text())
    assert finding["resources"][0].get("cloud_partition") == partition
    assert _ocsf_validator().is_valid(finding)
