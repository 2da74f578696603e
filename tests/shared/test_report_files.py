"""The report files without services: CSV cells that would start a formula, HTML that escapes
everything and reaches nothing outside itself, the OCSF mapping of a muted finding."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

from shared.kernel.findings import Finding, Severity, Status
from shared.report_files import (
    FILE_NAMES,
    OCSF_VERSION,
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
    assert muted["compliance"]["status_id"] == 2
    assert muted["compliance"]["requirements"] == [
        "45 CFR 164.312(e)(1)",
        "45 CFR 164.308(a)(1)(ii)(B)",
    ]
    assert muted["unmapped"]["muted_by"] == "mute-0000000a"
    assert muted["cloud"]["account"]["uid"] == "00000000-0000-0000-0000-000000000001"
    assert muted["resources"][0]["group"]["name"] == "rg"
    assert muted["severity_id"] == 4 and muted["time"] == int(NOW.timestamp() * 1000)
    failed = ocsf_finding(report_rows([_finding(Status.FAIL, "open")])[0], NOW)
    assert failed["compliance"]["status_id"] == 3 and failed["status_id"] == 1
    assert failed["remediation"]["desc"]
    assert failed["finding_info"]["uid"] == muted["finding_info"]["uid"]  # one per resource+check


def test_write_reports_writes_only_what_is_asked(tmp_path: Path) -> None:
    written = write_reports(
        tmp_path / "new", [_finding(Status.FAIL, "r")], formats=("json", "ocsf"), generated_at=NOW
    )
    assert [p.name for p in written] == [FILE_NAMES["json"], FILE_NAMES["ocsf"]]
    (row,) = json.loads(written[0].read_text())
    assert row["service"] == "network" and row["muted_by"] is None and row["resource_id"] == RID


def test_every_ocsf_finding_validates_against_the_ocsf_compliance_finding_schema() -> None:
    """Against OCSF 1.5.0's Compliance Finding as published in py-ocsf-models (the models
    Prowler writes its OCSF output with): the pydantic models, and the JSON schema they give."""
    import jsonschema  # type: ignore[import-untyped]
    from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding
    from py_ocsf_models.objects.cloud import Cloud

    schema = ComplianceFinding.model_json_schema()
    assert set(schema["required"]) >= {"activity_id", "compliance", "finding_info", "metadata"}
    for status in Status:
        event = ocsf_finding(
            report_rows([_finding(status, "why", {"muted_by": {"rule": "mute-0000000a"}})])[0], NOW
        )
        jsonschema.validate(event, schema)
        model = ComplianceFinding.model_validate(event)
        assert int(model.class_uid) == 2003 and int(model.type_uid) == 200301
        assert model.compliance.standards and model.compliance.requirements
        assert model.metadata.product.vendor_name == "phiguard"
        assert Cloud.model_validate(event["cloud"]).provider == "Azure"
