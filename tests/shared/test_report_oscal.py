"""The OSCAL 1.1.2 Assessment Results report (``shared.report_oscal``): validated against NIST's
published schema when ``../shared/reference`` is there, and, without it, the mapping itself:
statuses to finding states, muted failures as approved deviations, token and UUID patterns,
determinism, references that resolve, and hostile resource names kept inert."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared import report_oscal
from shared.kernel.findings import Finding, Severity, Status
from shared.kernel.hipaa import SECTIONS
from shared.report_files import FILE_NAMES, FORMATS, report_rows, write_reports
from shared.report_oscal import assessment_results, citation_token, oscal_report

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
SUB = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/"
NSG = "network_nsg_management_ports_internet_closed"
TLS = "storage_account_min_tls_1_2"
MUTE = {
    "muted_by": {
        "rule": "mute-0123abcd",
        "until": "2027-01-31",
        "approver": "ciso@contoso.example",
        "reason": "legacy jump host, replaced in January",
    }
}
HOSTILE = (
    "<script>alert(1)</script>\x1b[2J\x1b]8;;http://evil\x07link\x1b]8;;\x07\r\n"
    "\u202egnp.exe\u2028\x00\x9b31m " + "A" * 20_000
)

# The schema's patterns (oscal_assessment-results_schema v1.1.2 definitions): UUIDDatatype,
# TokenDatatype (its \p{L} / \p{N} narrowed to Python's classes), StringDatatype, and the
# date-time pattern's shape (a zone is required).
UUID = re.compile(
    r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[45][0-9A-Fa-f]{3}-[89ABab][0-9A-Fa-f]{3}-[0-9A-Fa-f]{12}$"
)
TOKEN = re.compile(r"^([^\W\d_]|_)([^\W\d_]|\d|[.\-_])*$")
STRING = re.compile(r"^\S(.*\S)?$")
DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
# What shared.safe_text.inert shows as escapes: C0, DEL, C1, bidi controls, line separators.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _finding(
    status: Status,
    *,
    resource: str = "nsg-1",
    check: str = NSG,
    hipaa: tuple[str, ...] = ("164.312(e)(1)", "164.308(a)(1)(ii)(B)"),
    evidence: dict[str, Any] | None = None,
    reason: str = "Inbound rule allow-ssh opens 22 to *.",
) -> Finding:
    return Finding(
        resource_id=SUB + "Microsoft.Network/networkSecurityGroups/" + resource,
        resource_type="microsoft.network/networksecuritygroups",
        check_id=check,
        status=status,
        severity=Severity.HIGH,
        hipaa=hipaa,
        title="NSGs do not open management ports to the Internet",
        reason=reason,
        evidence=evidence if evidence is not None else {"properties.securityRules[0].port": 22},
        phi=True,
    )


def _doc(findings: list[Finding], at: datetime = NOW, scope: str = "") -> dict[str, Any]:
    document = assessment_results(report_rows(findings), at, scope)
    return dict(document["assessment-results"])


def _result(findings: list[Finding], **kwargs: Any) -> dict[str, Any]:
    (result,) = _doc(findings, **kwargs)["results"]
    return dict(result)


def _finding_for(result: dict[str, Any], citation: str) -> dict[str, Any]:
    token = citation_token(citation)
    return next(f for f in result.get("findings", ()) if f["target"]["target-id"] == token)


def _walk(node: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v, key)
    else:
        yield key, node


def _mixed() -> list[Finding]:
    return [
        _finding(Status.FAIL, resource="nsg-fail"),
        _finding(Status.PASS, resource="nsg-pass-1"),
        _finding(Status.PASS, resource="nsg-pass-2"),
        _finding(Status.MUTED, resource="nsg-muted", evidence=dict(MUTE)),
        _finding(Status.ERROR, resource="st-1", check=TLS, hipaa=("164.312(a)(2)(iv)",)),
        _finding(Status.NOT_ASSESSED, resource="st-2", check=TLS, hipaa=("164.312(a)(2)(iv)",)),
        _finding(Status.NOT_APPLICABLE, resource="st-3", check="x_y", hipaa=("164.312(b)",)),
        _finding(Status.PASS, resource="st-4", check="x_z", hipaa=("164.312(c)(1)",)),
    ]


# --- the published schema -----------------------------------------------------------------


def _python_patterns(node: Any) -> Any:
    """The schema with its ``\\p{L}`` / ``\\p{N}`` token classes as Python ``re`` classes (``re``,
    which jsonschema uses, has no ``\\p``); in memory only, the file is never changed."""
    if isinstance(node, dict):
        return {
            k: v.replace(r"\p{L}", r"[^\W\d_]").replace(r"\p{N}", r"\d")
            if k == "pattern" and isinstance(v, str)
            else _python_patterns(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_python_patterns(v) for v in node]
    return node


@pytest.fixture(scope="module")
def oscal_validator(reference_dir: Path) -> Any:
    import jsonschema  # type: ignore[import-untyped]

    path = reference_dir / "oscal" / "oscal_assessment-results_schema__v1.1.2.json"
    if not path.is_file():
        pytest.skip(f"OSCAL assessment-results schema not found at {path}")
    schema = json.loads(path.read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    schema = _python_patterns(schema)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    # The validator as set up accepts NIST's own example (and so is no stricter than the schema).
    example = reference_dir / "oscal" / "ifa_assessment-results-example__oscal-content__v1.1.2.json"
    assert not [e.message for e in validator.iter_errors(json.loads(example.read_text()))]
    return validator


def _errors(validator: Any, text: str) -> list[str]:
    return [f"{e.json_path}: {e.message[:200]}" for e in validator.iter_errors(json.loads(text))]


def test_documents_validate_against_the_published_oscal_1_1_2_schema(
    oscal_validator: Any,
) -> None:
    cases: dict[str, list[Finding]] = {
        "mixed": _mixed(),
        "empty": [],
        "only not applicable": [_finding(Status.NOT_APPLICABLE)],
        "only muted": [_finding(Status.MUTED, evidence=dict(MUTE))],
        "hostile": [
            _finding(Status.FAIL, resource=HOSTILE, reason=HOSTILE, evidence={HOSTILE: HOSTILE}),
            _finding(Status.MUTED, resource=HOSTILE, evidence={"muted_by": {"rule": HOSTILE}}),
            _finding(Status.PASS, resource=HOSTILE, check="x_" + HOSTILE[:40]),
        ],
        "every status and severity": [
            replace(_finding(status, resource=f"r-{status.value}-{sev.value}"), severity=sev)
            for status in Status
            for sev in Severity
        ],
    }
    for name, findings in cases.items():
        errors = _errors(oscal_validator, oscal_report(report_rows(findings), NOW, name))
        assert not errors, (name, errors[:5])


def test_stored_rows_validate_with_their_times_and_inactive_statuses(oscal_validator: Any) -> None:
    rows = report_rows([_finding(Status.FAIL), _finding(Status.PASS, resource="b")])
    rows[0].update(last_evaluated_at="2026-12-05T08:00:00", first_failed_at="2026-12-01T00:00:00Z")
    rows[1]["last_evaluated_at"] = "0001-01-01T00:00:00+01:00"  # outside the schema's years
    closed = dict(rows[0], resource_id=rows[0]["resource_id"] + "-gone", status="CLOSED")
    errors = _errors(oscal_validator, oscal_report([*rows, closed], NOW, "1 of 2 checks"))
    assert not errors, errors


# --- the mapping, without the schema --------------------------------------------------------


def test_findings_are_per_hipaa_section_with_the_documented_states() -> None:
    result = _result(_mixed())
    # FAIL (with PASS and MUTED beside it): not satisfied, a failure.
    status = _finding_for(result, "164.312(e)(1)")["target"]["status"]
    assert status == {"state": "not-satisfied", "reason": "fail"}
    # ERROR / NOT_ASSESSED only: not shown satisfied, reason other.
    status = _finding_for(result, "164.312(a)(2)(iv)")["target"]["status"]
    assert status == {"state": "not-satisfied", "reason": "other"}
    # PASS only: satisfied.
    status = _finding_for(result, "164.312(c)(1)")["target"]["status"]
    assert status == {"state": "satisfied", "reason": "pass"}
    # NOT_APPLICABLE only: no finding, named in the remarks; still a reviewed control.
    with pytest.raises(StopIteration):
        _finding_for(result, "164.312(b)")
    assert "45 CFR 164.312(b)" in result["remarks"]
    selected = result["reviewed-controls"]["control-selections"][0]["include-controls"]
    cited = ("164.312(e)(1)", "164.308(a)(1)(ii)(B)", "164.312(a)(2)(iv)", "164.312(b)")
    assert {c["control-id"] for c in selected} == {
        citation_token(c) for c in (*cited, "164.312(c)(1)")
    }
    for finding in result["findings"]:
        target = finding["target"]
        assert target["type"] == "objective-id"
        citation = next(p["value"] for p in finding["props"] if p["name"] == "hipaa-citation")
        assert citation in finding["title"] and citation in target["title"]
        assert target["target-id"] == citation_token(citation)


def test_a_muted_failure_stays_not_satisfied_as_an_approved_deviation() -> None:
    result = _result(
        [_finding(Status.MUTED, evidence=dict(MUTE)), _finding(Status.PASS, resource="b")]
    )
    finding = _finding_for(result, "164.312(e)(1)")
    assert finding["target"]["status"] == {"state": "not-satisfied", "reason": "fail"}
    assert "mute-0123abcd" in finding["remarks"]
    (risk,) = result["risks"]
    assert risk["status"] == "deviation-approved"
    for text in ("mute-0123abcd", "2027-01-31", "ciso@contoso.example", "legacy jump host"):
        assert text in risk["statement"], text
    assert finding["related-risks"] == [{"risk-uuid": risk["uuid"]}]
    muted = next(o for o in result["observations"] if o["uuid"] in _related(risk))
    props = {p["name"]: p["value"] for p in muted["props"]}
    assert props["status"] == "MUTED" and props["muted-by"] == "mute-0123abcd"
    assert "mute-0123abcd" in muted["remarks"] and muted["types"] == ["finding"]


def _related(item: dict[str, Any]) -> set[str]:
    return {r["observation-uuid"] for r in item.get("related-observations", ())}


def test_every_non_pass_result_is_observed_and_passes_are_summarized_per_check() -> None:
    findings = [_finding(Status.PASS, resource=f"p{i}") for i in range(40)]
    findings += [_finding(Status.PASS, resource=f"s{i}", check=TLS) for i in range(7)]
    findings += [_finding(Status.NOT_APPLICABLE, resource=f"n{i}", check=TLS) for i in range(3)]
    findings += [_finding(Status.FAIL, resource=f"f{i}") for i in range(5)]
    findings += [_finding(Status.ERROR, resource="e", check=TLS)]
    result = _result(findings)
    observations = result["observations"]
    assert len(observations) == 5 + 1 + 3  # each non-PASS, and one per check and status
    individual = [o for o in observations if "subjects" in o]
    assert len(individual) == 6
    assert {o["methods"][0] for o in observations} == {"TEST"}
    summaries = {
        (p["check-id"], p["status"]): p
        for p in (
            {q["name"]: q["value"] for q in o["props"]} for o in observations if "subjects" not in o
        )
    }
    assert summaries[(NSG, "PASS")]["result-count"] == "40"
    assert summaries[(TLS, "PASS")]["result-count"] == "7"
    assert summaries[(TLS, "NOT_APPLICABLE")]["result-count"] == "3"
    # Each failing resource is an inventory item the observation's subject references.
    items = {i["uuid"]: i for i in result["local-definitions"]["inventory-items"]}
    assert len(items) == 6
    for observation in individual:
        (subject,) = observation["subjects"]
        assert subject["type"] == "inventory-item"
        asset = next(p for p in items[subject["subject-uuid"]]["props"] if p["name"] == "asset-id")
        assert asset["value"] == subject["title"] and asset["value"].startswith(SUB)
        assert observation["relevant-evidence"][0]["description"]
    counts = {p["class"]: p["value"] for p in result["props"] if p["name"] == "status-count"}
    assert counts == {"PASS": "47", "NOT_APPLICABLE": "3", "FAIL": "5", "ERROR": "1"}


def test_every_reference_resolves_within_the_document() -> None:
    document = _doc(_mixed())
    (result,) = document["results"]
    observations = {o["uuid"] for o in result["observations"]}
    risks = {r["uuid"] for r in result["risks"]}
    items = {i["uuid"] for i in result["local-definitions"]["inventory-items"]}
    assets = result["local-definitions"]["assessment-assets"]
    tools = {c["uuid"] for c in assets["components"]}
    for finding in result["findings"]:
        assert _related(finding) <= observations
        assert {r["risk-uuid"] for r in finding.get("related-risks", ())} <= risks
    for risk in result["risks"]:
        assert _related(risk) <= observations
    for observation in result["observations"]:
        assert {s["subject-uuid"] for s in observation.get("subjects", ())} <= items
    for item in [*result["observations"], *result["risks"], *result["findings"]]:
        for origin in item["origins"]:
            assert {a["actor-uuid"] for a in origin["actors"]} <= tools
    # import-ap names the back-matter resource describing phiguard's catalog (the plan).
    href = document["import-ap"]["href"]
    assert href == "#" + document["back-matter"]["resources"][0]["uuid"]
    assert document["metadata"]["oscal-version"] == "1.1.2"


def test_tokens_uuids_and_times_match_the_schema_patterns() -> None:
    tokens = {citation_token(c) for c in SECTIONS}
    assert len(tokens) == len(SECTIONS)  # no two sections share a token
    assert all(TOKEN.match(t) for t in tokens), sorted(t for t in tokens if not TOKEN.match(t))
    assert citation_token("164.312(e)(1)") == "hipaa-164.312-e-1"
    assert citation_token("164.312(a)(2)(iv)") == "hipaa-164.312-a-2-iv"
    rows = report_rows(_mixed())
    rows[0]["last_evaluated_at"] = "2026-12-05T08:00:00"  # no offset: UTC
    rows[1]["last_evaluated_at"] = "not a time"
    document = assessment_results(rows, NOW, "")["assessment-results"]
    uuids = []
    for key, value in _walk(document):
        if key == "uuid" or key.endswith("-uuid"):
            assert UUID.match(value) and value[14] == "5", (key, value)
            uuids.append(value)
        if key in ("target-id", "control-id", "class", "name", "state", "reason", "types"):
            assert TOKEN.match(value), (key, value)
        if key in ("last-modified", "start", "end", "collected"):
            assert DATE_TIME.match(value), (key, value)
        if key == "value":
            assert STRING.match(value), value
    defined = [v for k, v in _walk(document) if k == "uuid"]
    assert len(defined) == len(set(defined))
    (result,) = document["results"]
    assert result["start"] == "2026-12-05T08:00:00Z" and result["end"] == "2026-12-06T12:00:00Z"


def test_reports_of_the_same_state_are_identical_and_comparable() -> None:
    findings = _mixed()
    first = oscal_report(report_rows(findings), NOW, "every check")
    assert first == oscal_report(report_rows(list(reversed(findings))), NOW, "every check")
    # A later report of the same state names the same observations, findings, risks and items.
    later = _result(findings, at=NOW + timedelta(days=1))
    now = _result(findings)

    def ids(result: dict[str, Any]) -> list[str]:
        return [v for k, v in _walk(result) if k == "uuid"][1:]  # all but the result's own

    assert ids(now) == ids(later)
    assert now["uuid"] != later["uuid"]
    # A changed state is a different result and document.
    changed = _doc([*findings[:-1], _finding(Status.FAIL, resource="st-4", check="x_z")])
    assert changed["uuid"] != _doc(findings)["uuid"]


def test_hostile_resource_names_stay_inert_and_bounded() -> None:
    findings = [
        _finding(Status.FAIL, resource=HOSTILE, reason=HOSTILE, evidence={HOSTILE: HOSTILE}),
        _finding(Status.MUTED, resource=HOSTILE + "2", evidence={"muted_by": {"rule": HOSTILE}}),
        _finding(Status.PASS, resource=HOSTILE + "3"),
    ]
    text = oscal_report(report_rows(findings), NOW, HOSTILE)
    document = json.loads(text)
    strings = [v for _, v in _walk(document) if isinstance(v, str)]
    assert not [s for s in strings if UNSAFE.search(s)]  # no control character is sent
    assert max(len(s) for s in strings) <= 4000
    # Shown, not acted on: the escapes are visible text and the markup is plain data.
    assert any("<script>alert(1)</script>\\x1b[2J" in s for s in strings)
    assert any("\\u202egnp.exe" in s for s in strings)
    for key, value in _walk(document):
        if key == "value":
            assert STRING.match(value), value[:80]
    assert text.endswith("}\n") and text.count("\n") == 1


def test_write_reports_writes_the_oscal_file(tmp_path: Path) -> None:
    assert "oscal" in FORMATS
    assert FILE_NAMES["oscal"] == report_oscal.FILE_NAME
    (path,) = write_reports(tmp_path, _mixed(), formats=("oscal",), generated_at=NOW, scope="s")
    assert path.name == "phiguard-assessment-results.oscal.json"
    document = json.loads(path.read_text())["assessment-results"]
    assert document["metadata"]["last-modified"] == "2026-12-06T12:00:00Z"
    assert "scope: s." in document["results"][0]["description"]


# --- the CLI path ---------------------------------------------------------------------------

CHECK_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checks"
HOSTILE_NAME = "<img src=x onerror=alert(1)>\x1b[2J\u202enim-dda\x07" + "n" * 3000


def _evaluate_to_oscal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """``phiguard evaluate ... --output DIR --output-formats oscal`` on published-shape ARM
    documents (the checks' fixtures) plus an NSG whose name is hostile."""
    from shared.cli import main

    nsg = CHECK_FIXTURES / NSG
    document = json.loads((nsg / "fail_ssh_from_any.json").read_text())
    resource = document["resource"]
    resource["id"] = resource["id"].rsplit("/", 1)[0] + "/" + HOSTILE_NAME
    resource["name"] = HOSTILE_NAME
    hostile = tmp_path / "hostile.json"
    hostile.write_text(json.dumps(document))
    inputs = [
        str(nsg / "pass_reference.json"),
        str(CHECK_FIXTURES / "storage_account_secure_transfer_required"),
        str(hostile),
    ]
    out = tmp_path / "out"
    argv = ["evaluate", *inputs, "--output", str(out), "--output-formats", "oscal"]
    assert main([*argv, "--format", "json"]) == 1
    assert "wrote" in capsys.readouterr().err
    path = out / "phiguard-assessment-results.oscal.json"
    assert [p.name for p in out.iterdir()] == [path.name]
    return dict(json.loads(path.read_text()))


def test_evaluate_writes_the_oscal_report_with_the_hostile_name_inert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _evaluate_to_oscal(tmp_path, capsys)["assessment-results"]
    (result,) = document["results"]
    finding = _finding_for(result, "164.312(e)(1)")
    assert finding["target"]["status"]["state"] == "not-satisfied"
    items = result["local-definitions"]["inventory-items"]
    hostile = [
        i
        for i in items
        if any("<img src=x onerror=alert(1)>\\x1b[2J" in p["value"] for p in i["props"])
    ]
    assert len(hostile) == 1
    strings = [v for _, v in _walk(document) if isinstance(v, str)]
    assert not [s for s in strings if UNSAFE.search(s)]


def test_evaluate_oscal_report_validates_against_the_published_schema(
    oscal_validator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _evaluate_to_oscal(tmp_path, capsys)
    errors = [e.message[:200] for e in oscal_validator.iter_errors(document)]
    assert not errors, errors[:5]
