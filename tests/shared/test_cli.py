"""The CLI through its public surface: arguments in, output and exit code out."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from checks import CATALOG, FAILURE_PATTERNS
from shared.cli import main
from tests.conftest import NOWHERE_STORAGE, in_fresh_interpreter

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


# --- output is data, never markup ---------------------------------------------------------------

# Rich markup, an OSC 8 hyperlink, clear-screen, CR, BS, BEL, a C1 CSI, bidi overrides/isolates.
HOSTILE = (
    "[bold]evil[red]\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\"
    "\x1b[2J\r\b\x07\x9b31m\u202egpj.exe\u2066"
)
HOSTILE_NAME = "nsg-[bold]x[red]y\x1b[2J\u202egpj"  # an ARM name holds no '/'
SUB = "00000000-0000-0000-0000-0000000000aa"
RAW_CONTROLS = ("\x1b", "\x9b", "\r", "\b", "\x07", "\u202e", "\u2066")


def hostile_nsg() -> dict[str, object]:
    nsg_id = (
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/"
        f"networkSecurityGroups/{HOSTILE_NAME}"
    )
    rule = "rdp" + HOSTILE
    return {
        "resource": {
            "id": nsg_id,
            "name": HOSTILE_NAME,
            "type": "Microsoft.Network/networkSecurityGroups",
            "tags": {"owner": HOSTILE, HOSTILE: "x"},
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
        },
        "phi": True,
    }


def assert_inert(output: str, *literal: str) -> None:
    """No control character of the data reached the output; its markup text shows as typed."""
    for raw in RAW_CONTROLS:
        assert raw not in output, f"raw {raw!r} in the output"
    for text in literal:
        assert text in output, f"{text!r} not shown literally"


@pytest.fixture()
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wide console, so long names are not folded across table lines."""
    monkeypatch.setenv("COLUMNS", "400")


def test_evaluate_table_and_csv_print_hostile_names_inert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], wide: None
) -> None:
    path = tmp_path / "nsg.json"
    path.write_text(json.dumps(hostile_nsg()))
    code, out, _ = _run(capsys, "evaluate", str(path), "--all")
    assert code in (1, 3)
    assert_inert(out, "nsg-[bold]x[red]y\\x1b[2J\\u202egpj", "[bold]evil[red]\\x1b]8;;", "\\x9b31m")
    code, out, _ = _run(capsys, "evaluate", str(path), "--format", "csv")
    assert_inert(out, "nsg-[bold]x[red]y\\x1b[2J\\u202egpj")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert any("\\x1b]8;;" in r["reason"] for r in rows)


def test_evaluate_json_stays_faithful(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nsg.json"
    doc = hostile_nsg()
    path.write_text(json.dumps(doc))
    _, out, _ = _run(capsys, "evaluate", str(path), "--format", "json")
    assert_inert(out)  # json.dumps escapes control characters and non-ASCII itself
    findings = json.loads(out)
    assert {f["resource_id"] for f in findings} == {doc["resource"]["id"]}  # type: ignore[index]
    names = [r.get("name") for f in findings for r in f["evidence"].values() if isinstance(r, dict)]
    assert "rdp" + HOSTILE in names


def test_plan_offline_prints_hostile_names_inert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], wide: None
) -> None:
    path = tmp_path / "nsg.json"
    path.write_text(json.dumps(hostile_nsg()))
    code, out, err = _run(capsys, "plan", str(path))
    assert code in (1, 3)
    assert_inert(out + err, "nsg-[bold]x[red]y\\x1b[2J\\u202egpj", "[bold]evil[red]")


def test_catalog_table_and_csv_are_inert(capsys: pytest.CaptureFixture[str], wide: None) -> None:
    from dataclasses import replace

    from shared import report
    from shared.safe_text import console

    first = next(iter(CATALOG.values()))
    hostile = {first.id: replace(first, title="=cmd|' /C calc'!A0 " + HOSTILE)}
    report.render_catalog(console(), hostile)
    out = capsys.readouterr().out
    assert_inert(out, "[bold]evil[red]\\x1b]8;;")
    rows = list(csv.DictReader(io.StringIO(report.catalog_csv(hostile))))
    assert rows[0]["title"].startswith("'=cmd|")


def test_error_messages_are_inert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "bad[bold]\x1b[2J.json").write_text('{"id": "/subscriptions/[red]x\\u001b[2J//y"}')
    code, _, err = _run(capsys, "evaluate", str(folder))
    assert code == 2
    assert_inert(err, "bad[bold]\\x1b[2J.json", "$.id")
    assert len(err.strip().splitlines()) == 1


# --- exit codes ---------------------------------------------------------------------------------


def test_exit_code_precedence() -> None:
    from shared.cli import IncompleteError, Outcome, UsageError, exit_code
    from shared.loader import InputError

    assert exit_code(Outcome()) == 0
    assert exit_code(Outcome(failing=2)) == 1
    assert exit_code(Outcome(failing=2, unjudged={"ERROR": 1})) == 3
    assert exit_code(Outcome(failing=2, incomplete=["x"])) == 3
    assert exit_code(Outcome(failing=2, unjudged={"NOT_ASSESSED": 1}, exit_zero=True)) == 0
    assert exit_code(Outcome(failing=2, incomplete=["x"], exit_zero=True)) == 3
    assert exit_code(error=UsageError("x")) == 2
    assert exit_code(error=InputError("f", "$", "x")) == 2
    assert exit_code(error=IncompleteError("x")) == 3
    assert exit_code(error=RuntimeError("x")) == 3
    assert exit_code(error=KeyboardInterrupt()) == 130
    assert exit_code(error=BrokenPipeError()) == 141


@pytest.mark.parametrize("depth", [10_000, 200])
def test_deeply_nested_json_exits_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], depth: int
) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"value": ' + "[" * depth + "]" * depth + "}")
    code, _, err = _run(capsys, "evaluate", str(deep))
    assert code == 2
    assert str(deep) in err and "nested too deeply" in err
    assert "Traceback" not in err and "RecursionError" not in err


@pytest.mark.parametrize(
    ("rid", "problem"),
    [
        (f"/subscriptions/{SUB}//resourceGroups/rg/providers/Microsoft.Web/sites/a", "empty"),
        (f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Web/sites/a/", "ends with"),
        ("/subscriptions//resourceGroups/rg/providers/Microsoft.Web/sites/a", "empty"),
        (f" /subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Web/sites/a", "whitespace"),
    ],
)
def test_ids_with_empty_or_trailing_segments_are_input_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rid: str, problem: str
) -> None:
    path = tmp_path / "ids.json"
    path.write_text(json.dumps({"value": [{"id": rid, "type": "Microsoft.Web/sites"}]}))
    code, _, err = _run(capsys, "evaluate", str(path))
    assert code == 2
    assert f"{path}: $.value[0].id:" in err and problem in err
    assert "Traceback" not in err


def test_every_finding_error_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.json"
    path.write_text(
        json.dumps(
            {
                "id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/"
                "Microsoft.Network/networkSecurityGroups/n",
                "type": "Microsoft.Network/networkSecurityGroups",
                "properties": {"securityRules": "not a list"},
            }
        )
    )
    code, out, err = _run(capsys, "evaluate", str(path), "--format", "json")
    assert {f["status"] for f in json.loads(out)} == {"ERROR"}
    assert code == 3
    assert "ERROR" in err and "incomplete" in err


def test_empty_directory_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "nothing"
    empty.mkdir()
    code, _, err = _run(capsys, "evaluate", str(empty))
    assert code == 3
    assert f"no resources found in {empty}" in err
    code, out, _ = _run(capsys, "evaluate", str(empty), "--format", "json", "--exit-zero")
    assert code == 3 and json.loads(out) == []  # --exit-zero never hides a run that found nothing


def test_not_assessed_in_every_format(capsys: pytest.CaptureFixture[str], wide: None) -> None:
    path = FIXTURES / "appservice_site_https_only" / "fail.json"
    code, out, err = _run(capsys, "evaluate", str(path), "--format", "json")
    assert code == 3  # a check could not judge: no all-clear, even beside the FAIL
    findings = json.loads(out)
    unjudged = [f for f in findings if f["status"] == "NOT_ASSESSED"]
    assert unjudged and all(f["evidence"]["missing"] for f in unjudged)
    assert len({f["check_id"] for f in findings}) == len(findings)  # never counted twice
    assert "NOT_ASSESSED" in err
    code, out, _ = _run(capsys, "evaluate", str(path), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["check_id"] for r in rows if r["status"] == "NOT_ASSESSED"} == {
        f["check_id"] for f in unjudged
    }
    assert all("web_config" in r["evidence"] for r in rows if r["status"] == "NOT_ASSESSED")
    code, out, _ = _run(capsys, "evaluate", str(path))
    assert f"{len(unjudged)} NOT ASSESSED" in out and "NOT_ASSESSED" not in out
    code, out, _ = _run(capsys, "evaluate", str(path), "--all")
    assert "NOT_ASSESSED" in out
    assert _run(capsys, "evaluate", str(path), "--exit-zero")[0] == 0


def test_unexpected_exception_is_one_line_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared.engine import Engine

    def boom(self: Engine, snapshots: object) -> None:
        raise RuntimeError("disk on fire\n[bold]second line\x1b[2J")

    monkeypatch.setattr(Engine, "evaluate_all", boom)
    path = FIXTURES / "storage_account_secure_transfer_required" / "fail.json"
    code, _, err = _run(capsys, "evaluate", str(path))
    assert code == 3
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("phiguard: error: disk on fire")
    assert err.rstrip().endswith("(RuntimeError)")
    assert_inert(err, "[bold]second line\\x1b[2J")

    def interrupted(self: Engine, snapshots: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Engine, "evaluate_all", interrupted)
    assert _run(capsys, "evaluate", str(path))[0] == 130


def test_subprocess_never_shows_a_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 10_000 + "]" * 10_000)
    phiguard = Path(sys.executable).parent / "phiguard"
    done = subprocess.run(
        [str(phiguard), "evaluate", str(deep)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "nested too deeply" in done.stderr


# --- settings and inputs of the store commands (no store needed: they fail before it) ---------


SECRET = "c2VjcmV0LWtleS1kby1ub3Qtc2hvdw=="


@pytest.mark.parametrize("value", ["garbage", "AccountName=x;", f"AccountKey={SECRET}"])
@pytest.mark.parametrize("command", [["status"], ["scan", "--subscription", SUB], ["replay"]])
def test_malformed_connection_string_exits_2_naming_the_setting(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    value: str,
    command: list[str],
) -> None:
    monkeypatch.setenv("PHIGUARD_STORAGE_CONNECTION_STRING", value)
    monkeypatch.delenv("PHIGUARD_ARM_URL", raising=False)
    if command == ["replay"]:
        events = tmp_path / "events.ndjson"
        events.write_text('{"id": "e1"}\n')
        command = ["replay", str(events)]
    code, _, err = _run(capsys, *command)
    assert code == 2
    assert "PHIGUARD_STORAGE_CONNECTION_STRING" in err
    assert SECRET not in err  # the key is never echoed


def test_connection_string_flag_is_named_when_given(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "status", "--storage-connection-string", "AccountName=x;")
    assert code == 2 and "--storage-connection-string" in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (bytes(range(128, 256)) * 8, ":1: not UTF-8 text"),
        (bytes(range(256)) * 8, ":1: invalid JSON"),  # the first line, up to b"\n", is UTF-8
        (b'{"id": "e1"}\n\xff\xfe\x00garbage\n', ":2: not UTF-8 text"),
        (__import__("gzip").compress(b'{"id": "e1"}\n', mtime=0), ":1: gzip-compressed"),
        (b'{"id": "e1"}\n{"id": "e2"\n', ":2: invalid JSON"),
        (b"[" * 5000 + b"]" * 5000 + b"\n", ":1: nested too deeply"),
        (b"\x00\x00\x00\n", ":1: invalid JSON"),
    ],
)
def test_replay_rejects_binary_files_naming_file_and_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    expected: str,
) -> None:
    # The store setting points nowhere: the file is checked before anything is contacted.
    monkeypatch.setenv("PHIGUARD_STORAGE_CONNECTION_STRING", NOWHERE_STORAGE)
    path = tmp_path / "events.ndjson"
    path.write_bytes(content)
    code, _, err = _run(capsys, "replay", str(path))
    assert code == 2
    assert f"{path}{expected}" in err and "Traceback" not in err


def test_store_unreachable_exits_3_within_seconds(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import time

    endpoint = "http://127.0.0.1:1/devstoreaccount1"
    monkeypatch.setenv(
        "PHIGUARD_STORAGE_CONNECTION_STRING",
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={SECRET};"
        f"TableEndpoint={endpoint};",
    )
    for command in (["status"], ["scan", "--subscription", SUB], ["remediations"]):
        started = time.monotonic()
        code, _, err = _run(capsys, *command)
        assert code == 3, command
        assert time.monotonic() - started < 10
        assert f"state store unreachable at {endpoint}" in err and SECRET not in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["status", "--status", "bogus"], "--status: 'bogus'"),
        (["status", "--severity", "urgent"], "--severity: 'urgent'"),
        (["scan", "--subscription", "../../providers"], "--subscription: '../../providers'"),
        (["scan", "--subscription", SUB, "--arm-url", "http://arm.example"], "--arm-url"),
        (["replay", "events.ndjson", "--batch", "0"], "--batch"),
        (["plan", "--resource", "/subscriptions/x//y"], "--resource: resource id has an empty"),
        (["status", "--resource", "/subscriptions/x/"], "--resource: resource id ends with"),
        (["remediations", "--resource", "nope"], "--resource: resource id must start"),
        (["remediations", "--days", "0"], "--days and --limit"),
        (["status", "--storage-connection-string", "x"], "--storage-connection-string"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    expected: str,
) -> None:
    monkeypatch.setenv("PHIGUARD_STORAGE_CONNECTION_STRING", NOWHERE_STORAGE)
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert expected in err


def test_warnings_during_a_command_are_inert_one_liners(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    from shared.engine import Engine

    original = Engine.evaluate_all

    def noisy(self: Engine, snapshots: Any) -> Any:
        logging.getLogger("phiguard.pipeline").warning("transient failure for %s", HOSTILE)
        return original(self, snapshots)

    monkeypatch.setattr(Engine, "evaluate_all", noisy)
    path = FIXTURES / "storage_account_secure_transfer_required" / "fail.json"
    _, _, err = _run(capsys, "evaluate", str(path), "--format", "json")
    assert err.startswith("phiguard: warning: transient failure for ")
    assert err.count("\n") == 1
    assert_inert(err, "[bold]evil[red]\\x1b]8;;")
    logging.getLogger("phiguard.pipeline").warning("after the command")
    assert "after the command" not in capsys.readouterr().err  # the handler left with it


def test_a_bad_table_prefix_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PHIGUARD_STORAGE_CONNECTION_STRING", NOWHERE_STORAGE)
    monkeypatch.setenv("PHIGUARD_TABLE_PREFIX", "bad-prefix[bold]")
    code, _, err = _run(capsys, "status")
    assert code == 2 and "PHIGUARD_TABLE_PREFIX: 'bad-prefix[bold]'" in err


def test_subscriptions_are_deduplicated_case_insensitively() -> None:
    from shared.cli.services import subscription_ids as _subscriptions

    upper = SUB.upper()
    assert _subscriptions([SUB, upper, f" {SUB} "], None) == [SUB]
    assert _subscriptions([upper, SUB], None) == [upper]


def test_evaluate_uses_the_phi_scope_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: `evaluate` ignored PHIGUARD_PHI_* (the app and `plan` honour them), so a
    resource PHI-scoped by its subscription was judged without the PHI-only checks."""
    path = FIXTURES / "storage_account_secure_transfer_required" / "pass.json"
    _, out, _ = _run(capsys, "evaluate", str(path), "--format", "json")
    plain = json.loads(out)
    assert plain and not any(f["phi"] for f in plain)
    monkeypatch.setenv("PHIGUARD_PHI_SUBSCRIPTIONS", "{subscription-id}")
    _, out, _ = _run(capsys, "evaluate", str(path), "--format", "json")
    scoped = json.loads(out)
    assert scoped and all(f["phi"] for f in scoped)
    assert len(scoped) > len(plain)  # the PHI-only checks ran too
    monkeypatch.setenv("PHIGUARD_ARM_URL", "http://plain.example")
    code, _, err = _run(capsys, "evaluate", str(path))
    assert code == 2 and "PHIGUARD_ARM_URL" in err


def test_building_the_command_line_leaves_the_simulated_tenant_unloaded() -> None:
    """Every ``phiguard`` command builds the whole parser; ``sim serve``'s options must not pull
    in the simulated tenant's server (ARM model, estates, TLS) on each start."""
    probe = (
        "import json, sys\n"
        "from shared.cli.parser import build_parser\n"
        "parser = build_parser()\n"
        "serve = parser.parse_args(['sim', 'serve', '--port', '0', '--estate', 'empty'])\n"
        "print(json.dumps([serve.estate, sorted(m for m in sys.modules if m.startswith('sim'))]))"
    )
    estate, loaded = json.loads(in_fresh_interpreter(probe))
    assert estate == "empty"  # the options are there all the same
    assert loaded == ["sim", "sim.options"]
