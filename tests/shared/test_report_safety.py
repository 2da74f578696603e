"""Terminal-safe text (shared.safe_text) and the report's handling of hostile data and of
NOT_ASSESSED findings."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from shared import report
from shared.engine import Evaluation, NotAssessed
from shared.kernel.findings import Finding, Severity, Status
from shared.safe_text import console, csv_cell, inert, markup, one_line, text

HOSTILE = "[bold]x[/bold]\x1b]8;;http://evil/\x1b\\y\x1b]8;;\x1b\\\x1b[2J\r\b\x07\x9b\u202ez\u2066"
NAME = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/app[bold]\x1b[2J"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("\x1b]8;;http://e\x1b\\", "\\x1b]8;;http://e\\x1b\\"),
        ("a\rb\bc\x07\x00\x7f", "a\\x0db\\x08c\\x07\\x00\\x7f"),
        ("\n\t", "\\x0a\\x09"),
        ("\x9b31m\x85", "\\x9b31m\\x85"),
        ("\u202a\u202b\u202c\u202d\u202e", "\\u202a\\u202b\\u202c\\u202d\\u202e"),
        ("\u2066\u2067\u2068\u2069", "\\u2066\\u2067\\u2068\\u2069"),
        ("\u200e\u200f\u061c\u2028\u2029", "\\u200e\\u200f\\u061c\\u2028\\u2029"),
        ("plain naïve café 名前 [bold]", "plain naïve café 名前 [bold]"),
    ],
)
def test_inert_shows_controls_instead_of_sending_them(raw: str, shown: str) -> None:
    assert inert(raw) == shown


def test_markup_and_text_never_style_data() -> None:
    out = io.StringIO()
    con = console(file=out, width=200)
    con.print(f"[green]ok[/] {markup(HOSTILE)}")
    con.print(text(HOSTILE, "red"))
    con.print(text(":warning: :smile:"))
    con.print(f"{markup(':warning:')}")
    printed = out.getvalue()
    assert "\x1b" not in printed
    assert printed.count("[bold]x[/bold]\\x1b]8;;http://evil/") == 2
    assert ":warning: :smile:" in printed and "⚠" not in printed


def test_markup_survives_trailing_backslashes_and_unbalanced_tags() -> None:
    out = io.StringIO()
    con = console(file=out, width=200)
    for value in ("x\\", "[/]", "[/bold]", "\\[bold]", "[link=http://evil]x"):
        con.print(f"[bold]{markup(value)}[/]")
    assert out.getvalue().splitlines() == [
        "x\\",
        "[/]",
        "[/bold]",
        "\\[bold]",
        "[link=http://evil]x",
    ]


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "\\x09x"),  # shown, not sent: can no longer start a formula
        ("\r=x", "\\x0d=x"),
        ("\uff1dcmd", "'\uff1dcmd"),
        ("/subscriptions/s", "/subscriptions/s"),
        (None, ""),
        (True, "True"),
    ],
)
def test_csv_cell_neutralises_formulas(value: Any, cell: str) -> None:
    assert csv_cell(value) == cell


def test_one_line_joins_lines_and_cuts() -> None:
    assert one_line("a\n\n b \r\nc") == "a | b | c"
    assert len(one_line("x" * 1000, limit=50)) == 50
    assert one_line("\x1b[2J") == "\\x1b[2J"


def _finding(**changes: Any) -> Finding:
    values: dict[str, Any] = {
        "resource_id": NAME,
        "resource_type": "microsoft.web/sites",
        "check_id": "appservice_site_https_only",
        "status": Status.FAIL,
        "severity": Severity.HIGH,
        "hipaa": ("164.312(e)(1)",),
        "title": "t",
        "reason": HOSTILE,
        "evidence": {"properties.x": HOSTILE},
        "phi": True,
    }
    values.update(changes)
    return Finding(**values)


def test_findings_table_emits_only_its_own_styles() -> None:
    """In a colour terminal the only escape sequences are the table's own SGR styles."""
    out = io.StringIO()
    con = console(file=out, width=250, force_terminal=True, color_system="truecolor")
    con.print(report.findings_table([_finding(), _finding(status=Status.NOT_ASSESSED)]))
    printed = out.getvalue()
    assert re.sub(r"\x1b\[[0-9;]*m", "", printed).count("\x1b") == 0
    for raw in ("\x9b", "\r", "\b", "\x07", "\u202e", "\u2066"):
        assert raw not in printed
    plain = re.sub(r"\x1b\[[0-9;]*m", "", printed)
    assert "app[bold]\\x1b[2J" in plain and "[bold]x[/bold]\\x1b]8;;http://evil/" in plain


def test_findings_csv_is_inert_and_formula_safe() -> None:
    rows = [_finding(resource_id="=cmd|' /C calc'!A0", reason="@SUM(1)"), _finding()]
    out = report.findings_csv(rows)
    assert "\x1b" not in out and "\u202e" not in out
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert parsed[0]["resource_id"].startswith("'=") and parsed[0]["reason"] == "'@SUM(1)"
    assert parsed[1]["reason"] == inert(HOSTILE)
    assert json.loads(parsed[1]["evidence"]) == {"properties.x": HOSTILE}  # JSON keeps the value


def test_not_assessed_findings_are_added_once() -> None:
    engine_made = _finding(check_id="appservice_site_min_tls_1_2", status=Status.NOT_ASSESSED)
    evaluations = [
        # The engine reported it as a finding and in not_assessed: one row.
        Evaluation(
            NAME,
            "microsoft.web/sites",
            True,
            (_finding(), engine_made),
            (NotAssessed("appservice_site_min_tls_1_2", ("web_config",)),),
        ),
        # Only in not_assessed (an engine that does not emit the finding): added from it.
        Evaluation(
            NAME + "2",
            "microsoft.web/sites",
            False,
            (),
            (NotAssessed("appservice_scm_min_tls_1_2", ("web_config",)),),
        ),
    ]
    findings = report.all_findings(evaluations)
    keys = [(f.resource_id, f.check_id) for f in findings]
    assert len(keys) == len(set(keys)) == 3
    added = findings[-1]
    assert added.status == Status.NOT_ASSESSED and added.evidence == {"missing": ["web_config"]}
    assert added.severity != Severity.INFO and added.hipaa  # from the catalog
    assert "web_config" in added.reason

    out = io.StringIO()
    report.render_evaluations(console(file=out, width=200), evaluations)
    assert "2 NOT ASSESSED" in out.getvalue() and "NOT_ASSESSED" not in out.getvalue()
    out = io.StringIO()
    report.render_evaluations(console(file=out, width=200), evaluations, show_passed=True)
    assert out.getvalue().count("NOT_ASSESSED") == 2


class _Stored:
    """The fields of a StoredFinding the report reads."""

    def __init__(self, status: str) -> None:
        self.resource_id = NAME
        self.resource_type = "microsoft.web/sites"
        self.check_id = "appservice_site_https_only"
        self.status = status
        self.severity = Severity.HIGH
        self.hipaa = ("164.312(e)(1)",)
        self.reason = HOSTILE
        self.phi = False

    def to_json(self) -> dict[str, Any]:
        return {
            "resource_id": self.resource_id,
            "status": self.status,
            "reason": self.reason,
            "evidence": {"missing": ["web_config"]},
            "hipaa": list(self.hipaa),
            "last_changed_at": datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
        }


def test_render_stored_counts_and_lists_every_status() -> None:
    rows = [_Stored("FAIL"), _Stored("NOT_ASSESSED"), _Stored("ERROR"), _Stored("PASS")]
    out = io.StringIO()
    report.render_stored(console(file=out, width=250), rows)
    shown = out.getvalue()
    assert "1 FAIL, 1 ERROR, 1 NOT ASSESSED, 1 PASS" in shown
    assert "NOT_ASSESSED" not in shown and "\x1b" not in shown
    out = io.StringIO()
    report.render_stored(console(file=out, width=250), rows, show_all=True)
    assert "NOT_ASSESSED" in out.getvalue() and "PASS" in out.getvalue()
    parsed = list(csv.DictReader(io.StringIO(report.stored_csv(rows))))
    assert [r["status"] for r in parsed] == ["FAIL", "NOT_ASSESSED", "ERROR", "PASS"]
    assert parsed[1]["evidence"] == '{"missing": ["web_config"]}'


def test_demo_diff_is_inert() -> None:
    from types import SimpleNamespace

    from shared.demo import _diff

    path = f"properties.securityRules[name={HOSTILE}].properties.access"
    record = SimpleNamespace(before={path: "Allow"}, after={path: "Deny"})
    out = io.StringIO()
    con = console(file=out, width=400)
    for line in _diff(record):
        con.print(line)
    printed = out.getvalue()
    assert "\x1b" not in printed and "[bold]x[/bold]\\x1b]8;;" in printed
