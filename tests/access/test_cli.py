"""``phiguard access-review`` and ``phiguard access-review decide`` through ``shared.cli.main``
against the simulated tenant, writing to a directory (``--out``) or to Azurite."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.cli import main
from sim.estate.access import DEPLOY_SP, GUEST, PHIGUARD_APP_ID, PHIGUARD_OBJECT_ID
from sim.fixture import SimHandle, running_sim

WEEK = "2026-W49"


@pytest.fixture()
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimHandle]:
    with running_sim(estate="demo") as handle:
        for name in list(__import__("os").environ):
            if name.startswith("PHIGUARD_"):
                monkeypatch.delenv(name)
        monkeypatch.setenv("PHIGUARD_ARM_URL", handle.arm_url)
        monkeypatch.setenv("PHIGUARD_CA_CERT", handle.ca_cert)
        monkeypatch.setenv("PHIGUARD_GRAPH_URL", handle.graph_url)
        monkeypatch.setenv("PHIGUARD_SUBSCRIPTIONS", ",".join(handle.subscriptions))
        monkeypatch.setenv("PHIGUARD_IDENTITY_APP_ID", PHIGUARD_APP_ID)
        yield handle


def _rows(out: Path, week: str = WEEK) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((out / week / "access-review.csv").read_text())))


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_access_review_to_a_directory_exit_1_and_the_summary(
    sim: SimHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["access-review", "--week", WEEK, "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"access review {WEEK}:" in out and "access_phi_no_guest_access" in out
    assert (tmp_path / WEEK / "access-review.html").is_file()
    body = json.loads((tmp_path / WEEK / "access-review.json").read_text())
    assert body["self_ids"] == [PHIGUARD_OBJECT_ID]
    assert len(_rows(tmp_path)) == len(body["paths"])


def test_missing_graph_permission_is_exit_3_naming_it(
    sim: SimHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.grant_graph("User.Read.All", "GroupMember.Read.All", "Application.Read.All")
    assert main(["access-review", "--week", WEEK, "--out", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "AuditLog.Read.All" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["access-review", "--week", "2026-49"], "--week: '2026-49' is not an ISO week"),
        (["access-review", "--week", "2025-W53"], "2025 has no week 53"),
        (["access-review", "--week", "2099-W01"], "2099-W01 has not begun"),
        (["access-review", "--week", "2026-W10"], "nowhere to write the review"),
        (["access-review", "--graph-url", "http://graph.example"], "--graph-url"),
    ],
)
def test_usage_errors_are_exit_2_with_one_line(
    sim: SimHandle, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def _review_with_deploy_sp_named(sim: SimHandle, tmp_path: Path, name: str) -> Path:
    """The week's review written to ``tmp_path`` with the deploying service principal's
    display name set to ``name`` in the directory; the week's folder."""
    sim.admin(
        "POST",
        "graph/directory",
        {
            "servicePrincipals": [
                {
                    "id": DEPLOY_SP,
                    "appId": "x",
                    "displayName": name,
                    "servicePrincipalType": "Application",
                    "accountEnabled": True,
                }
            ]
        },
    )
    main(["access-review", "--week", WEEK, "--out", str(tmp_path)])
    return tmp_path / WEEK


def test_csv_cells_cannot_start_a_formula(sim: SimHandle, tmp_path: Path) -> None:
    week = _review_with_deploy_sp_named(sim, tmp_path, '=HYPERLINK("http://evil.example","x")')
    text = (week / "access-review.csv").read_text()
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text
    html = (week / "access-review.html").read_text()
    assert "=HYPERLINK(&#34;http://evil.example&#34;" in html  # autoescaped, as data


def _decide(rows: list[dict[str, str]], choose: Any) -> list[dict[str, str]]:
    for row in rows:
        row["decision"], row["comment"] = choose(row)
    return rows


def test_decide_records_evidence_and_plans_removals_safely(
    sim: SimHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["access-review", "--week", WEEK, "--out", str(tmp_path)])
    capsys.readouterr()

    def choose(row: dict[str, str]) -> tuple[str, str]:
        if row["principal_id"] == GUEST:
            return "remove", "no business need"
        if row["role"] == "Owner" and not row["via_group"]:
            return "remove", "too many owners"
        if row["principal_id"] == PHIGUARD_OBJECT_ID:
            return "remove", "try to remove phiguard"
        if row["principal_kind"] == "ServicePrincipal":
            return "justify", "ETL pipeline, ticket CHG-1234"
        return "keep", ""

    decided = _write(tmp_path / "decided.csv", _decide(_rows(tmp_path), choose))
    assert (
        main(
            [
                "access-review",
                "decide",
                str(decided),
                "--reviewer",
                "co@contosohealth.example",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    evidence_files = list((tmp_path / WEEK / "decisions").glob("*.json"))
    assert len(evidence_files) == 1
    evidence = json.loads(evidence_files[0].read_text())
    assert evidence["reviewer"] == "co@contosohealth.example" and evidence["mode"] == "dry-run"
    assert len(evidence["file_sha256"]) == 64 and evidence["recorded_at"]
    plan = {step["principal_id"]: step for step in evidence["plan"]}
    assert (
        plan[GUEST]["action"] == "delete"
        and plan[GUEST]["body"]["properties"]["principalId"] == GUEST
    )
    assert plan[GUEST]["rollback"]["method"] == "PUT"
    assert plan[PHIGUARD_OBJECT_ID]["refused"] == "phiguard's own access is never removed"
    refused = [s for s in evidence["plan"] if "last Owner" in str(s.get("refused"))]
    assert len(refused) == 1  # every direct Owner marked remove: the last one is kept
    # Dry-run: nothing was deleted.
    doc = sim.admin("GET", "document", id=plan[GUEST]["target"])
    assert doc["properties"]["principalId"] == GUEST


def test_decide_applies_only_when_allow_listed(
    sim: SimHandle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["access-review", "--week", WEEK, "--out", str(tmp_path)])
    rows = _decide(
        _rows(tmp_path),
        lambda r: ("remove", "guest") if r["principal_id"] == GUEST else ("keep", ""),
    )
    decided = _write(tmp_path / "d.csv", rows)
    argv = [
        "access-review",
        "decide",
        str(decided),
        "--reviewer",
        "co@x.example",
        "--apply",
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 0
    assert "--apply ignored" in capsys.readouterr().out
    monkeypatch.setenv("PHIGUARD_REMEDIATION_ALLOW", "access_review_revoke")
    assert main(argv) == 0
    target = next(r["assignment_id"] for r in rows if r["principal_id"] == GUEST)
    with pytest.raises(RuntimeError, match="404"):
        sim.admin("GET", "document", id=target)
    latest = sorted((tmp_path / WEEK / "decisions").glob("*.json"))[-1]
    step = next(s for s in json.loads(latest.read_text())["plan"] if s["action"] == "delete")
    assert step["result"].startswith("deleted") and step["body"]["id"] == target
    # The deleted assignment comes back from the body the evidence kept.
    name = f"decisions/{latest.name}"
    back = ["access-review", "rollback", name, "--week", WEEK, "--out", str(tmp_path)]
    assert main(back) == 0
    restored = sim.admin("GET", "document", id=target)
    assert restored["properties"]["principalId"] == GUEST
    assert (
        restored["properties"]["roleDefinitionId"] == step["body"]["properties"]["roleDefinitionId"]
    )
    assert main(back) == 0  # twice: the second finds it there and leaves it alone
    assert "exists already" in capsys.readouterr().out
    assert (
        main(["access-review", "rollback", "../x.json", "--week", WEEK, "--out", str(tmp_path)])
        == 2
    )


def test_decide_names_bad_rows_and_records_the_rest(
    sim: SimHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["access-review", "--week", WEEK, "--out", str(tmp_path)])
    rows = _rows(tmp_path)
    rows[0]["decision"] = "delete-it"
    rows[1]["decision"] = "justify"  # no comment
    rows[2]["decision"] = "keep"
    rows[3]["path_key"] = "not|a|path"
    rows[3]["decision"] = "keep"
    decided = _write(tmp_path / "bad.csv", rows)
    assert (
        main(
            [
                "access-review",
                "decide",
                str(decided),
                "--reviewer",
                "r@x.example",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    out = capsys.readouterr()
    assert f"{decided}:2: decision 'delete-it' is not one of keep, remove, justify" in out.out
    assert f"{decided}:3: justify needs a comment" in out.out
    assert f"{decided}:5: path_key is not a path" in out.out
    evidence = json.loads(next((tmp_path / WEEK / "decisions").glob("*.json")).read_text())
    assert [d["line"] for d in evidence["decisions"]] == [4] and len(evidence["invalid"]) == 3
    not_csv = tmp_path / "x.csv"
    not_csv.write_text("a,b\n1,2\n")
    assert (
        main(
            [
                "access-review",
                "decide",
                str(not_csv),
                "--reviewer",
                "r@x.example",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "not an access-review CSV" in capsys.readouterr().err


def test_management_group_grants_are_inherited_into_the_review(
    sim: SimHandle, tmp_path: Path
) -> None:
    sub = sim.subscription_id
    root = "/providers/Microsoft.Management/managementGroups/tenant-root"
    group = "/providers/Microsoft.Management/managementGroups/mg-chs"
    sim.load(
        [
            {
                "id": root,
                "type": "Microsoft.Management/managementGroups",
                "name": "tenant-root",
                "properties": {
                    "displayName": "Tenant Root Group",
                    "details": {"parent": None},
                    "children": [{"id": group, "type": "Microsoft.Management/managementGroups"}],
                },
            },
            {
                "id": group,
                "type": "Microsoft.Management/managementGroups",
                "name": "mg-chs",
                "properties": {
                    "displayName": "Contoso Health",
                    "details": {"parent": {"id": root}},
                    "children": [{"id": f"/subscriptions/{sub}", "type": "/subscriptions"}],
                },
            },
            {
                "id": f"{root}/providers/Microsoft.Authorization/roleAssignments/"
                "0c9f7a55-0000-4000-8000-000000000001",
                "type": "Microsoft.Authorization/roleAssignments",
                "name": "0c9f7a55-0000-4000-8000-000000000001",
                "properties": {
                    "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/"
                    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
                    "principalId": DEPLOY_SP,
                    "principalType": "ServicePrincipal",
                    "scope": root,
                },
            },
        ]
    )
    main(["access-review", "--week", WEEK, "--out", str(tmp_path)])
    body = json.loads((tmp_path / WEEK / "access-review.json").read_text())
    inherited = [p for p in body["paths"] if p["scope_kind"] == "managementGroup"]
    assert [p["scope"] for p in inherited] == [root]
    rule = next(
        r
        for r in body["rules"]
        if r["rule_id"] == "access_service_principal_no_subscription_privilege"
    )
    assert any(root in s["reason"] for s in rule["subjects"])


def test_html_shows_direction_characters_in_names_instead_of_sending_them(
    sim: SimHandle, tmp_path: Path
) -> None:
    """A directory name with a right-to-left override would make the page show another name
    than the one Entra ID holds: shown as an escape, as the terminal and the CSV do."""
    week = _review_with_deploy_sp_named(sim, tmp_path, "deploy\u202etxt.exe")
    html = (week / "access-review.html").read_text()
    assert "\u202e" not in html
    assert "deploy\\u202etxt.exe" in html
