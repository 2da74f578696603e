"""The CLI through its public surface: arguments in, output and exit code out."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from checks import CATALOG, FAILURE_PATTERNS
from shared.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checks"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "CHECKS.md"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_json_has_the_finding_shape(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "storage_account_secure_transfer_required" / "fail.json"
    code, out, _ = _run(capsys, "evaluate", str(path), "--format", "json")
    assert code == 1
    findings = json.loads(out)
    target = next(
        f for f in findings if f["check_id"] == "storage_account_secure_transfer_required"
    )
    assert set(target) == {
        "resource_id",
        "resource_type",
        "check_id",
        "status",
        "severity",
        "hipaa",
        "title",
        "reason",
        "evidence",
        "phi",
    }
    assert target["status"] == "FAIL"
    assert target["evidence"] == {"properties.supportsHttpsTrafficOnly": False}


def test_exit_zero_and_pass_only_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    fail = FIXTURES / "storage_account_secure_transfer_required" / "fail.json"
    assert _run(capsys, "evaluate", str(fail), "--exit-zero", "--format", "json")[0] == 0


def test_evaluate_csv(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "storage_account_secure_transfer_required" / "fail.json"
    code, out, _ = _run(capsys, "evaluate", str(path), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 1
    assert any(
        r["check_id"] == "storage_account_secure_transfer_required" and r["status"] == "FAIL"
        for r in rows
    )


def test_evaluate_table_reads_directories(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys, "evaluate", str(FIXTURES / "storage_account_secure_transfer_required")
    )
    assert code == 1
    assert "FAIL" in out and "Transmission security" in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "invalid JSON at line 1 column 2"),
        ('{"value": [{"id": "/subscriptions/s"}, {"name": "x"}]}', "$.value[1]"),
        (
            '{"resource": {"id": "/subscriptions/s/resourceGroups/r/providers/a.b/c/d"},'
            ' "related": {"nope": []}}',
            "$.related.nope",
        ),
        ('{"id": 5}', "$.id"),
        ("[1]", "$[0]: expected a JSON object or array"),
    ],
)
def test_bad_input_exits_2_naming_file_and_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    code, _, err = _run(capsys, "evaluate", str(bad))
    assert code == 2
    assert str(bad) in err.replace("\n", "")
    assert expected in err.replace("\n", "")


def test_catalog_json_lists_every_check_and_all_patterns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(capsys, "catalog", "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert {c["id"] for c in data["checks"]} == set(CATALOG)
    assert {p for c in data["checks"] for p in c["patterns"]} == set(FAILURE_PATTERNS)
    assert all(c["hipaa"] and c["hipaa_names"] for c in data["checks"])


def test_catalog_csv_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "catalog", "--format", "csv")
    assert code == 0 and len(out.strip().splitlines()) == len(CATALOG) + 1
    code, out, _ = _run(capsys, "catalog")
    assert code == 0 and "check catalog" in out


def test_docs_checks_md_is_in_sync(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _run(capsys, "catalog", "--format", "md")
    assert DOCS.read_text() == out, "docs/CHECKS.md is stale: run `make catalog-docs`"


def test_plan_offline_shows_the_diff_and_permissions_list_actions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fixture = next((FIXTURES / "network_nsg_management_ports_internet_closed").glob("fail*.json"))
    code, out, _ = _run(capsys, "plan", str(fixture))
    assert code == 1
    assert "network_nsg_restrict_internet_inbound" in out
    assert "+ properties.securityRules" in out and '"Deny"' in out
    passing = next((FIXTURES / "network_nsg_management_ports_internet_closed").glob("pass*.json"))
    assert _run(capsys, "plan", str(passing))[0] == 0
    code, out, _ = _run(capsys, "remediations", "--permissions")
    assert code == 0
    assert "Microsoft.Network/networkSecurityGroups/securityRules/write" in out.splitlines()
