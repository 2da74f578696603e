"""Rendering findings and the catalog for people (rich tables, Markdown) and machines (JSON, CSV)."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from checks import CATALOG, FAILURE_PATTERNS, Check
from shared.engine import Evaluation
from shared.kernel.findings import FINDING_FIELDS, Finding, Severity, Status
from shared.kernel.hipaa import PART_NAMES, SECTIONS, sort_key
from shared.safe_text import csv_cell, inert, text

# ``phiguard status --format csv``: the finding fields, then the state store's own.
STORED_FIELDS = (
    *FINDING_FIELDS,
    "evidence_truncated",
    "first_failed_at",
    "last_changed_at",
    "last_evaluated_at",
    "cause",
)
_STATUS_STYLE = {
    Status.FAIL: "bold red",
    Status.ERROR: "bold magenta",
    Status.NOT_ASSESSED: "dim yellow",
    Status.PASS: "green",
    Status.NOT_APPLICABLE: "dim",
    Status.MUTED: "cyan",
}
# Table order: what needs attention first.
_STATUS_RANK = {
    Status.FAIL: 0,
    Status.ERROR: 1,
    Status.NOT_ASSESSED: 2,
    Status.PASS: 3,
    Status.NOT_APPLICABLE: 4,
    Status.MUTED: 1,
}
# Shown by default (without ``--all``): a check that failed, or that broke.
ATTENTION = frozenset({Status.FAIL.value, Status.ERROR.value, Status.MUTED.value})
_SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def all_findings(
    evaluations: Iterable[Evaluation], catalog: Mapping[str, Check] | None = None
) -> list[Finding]:
    """Every finding of the evaluations, a NOT_ASSESSED one included for each applicable check
    whose related documents were missing (``Evaluation.not_assessed``) unless the engine already
    reported that check as a finding: one row per resource and check, never two."""
    known = CATALOG if catalog is None else catalog
    out: list[Finding] = []
    for e in evaluations:
        out.extend(e.findings)
        reported = {f.check_id for f in e.findings}
        for item in e.not_assessed:
            if item.check_id not in reported:
                out.append(not_assessed_finding(e, item.check_id, item.missing, known))
    return out


def not_assessed_finding(
    evaluation: Evaluation, check_id: str, missing: Sequence[str], catalog: Mapping[str, Check]
) -> Finding:
    check = catalog.get(check_id)
    return Finding(
        resource_id=evaluation.resource_id,
        resource_type=evaluation.resource_type,
        check_id=check_id,
        status=Status.NOT_ASSESSED,
        severity=check.severity if check is not None else Severity.INFO,
        hipaa=check.hipaa if check is not None else (),
        title=check.title if check is not None else check_id,
        reason=f"Not assessed: the related documents it needs were not in the input "
        f"({', '.join(missing)}).",
        evidence={"missing": list(missing)},
        phi=evaluation.phi,
    )


def findings_json(findings: Iterable[Finding]) -> str:
    return json.dumps([f.to_json() for f in findings], indent=2, sort_keys=False)


def findings_csv(findings: Iterable[Finding]) -> str:
    return _csv(FINDING_FIELDS, (f.to_json() for f in findings))


def stored_csv(rows: Iterable[Any]) -> str:
    """Stored findings (``StoredFinding``) as CSV, with the state fields."""
    return _csv(STORED_FIELDS, (r.to_json() for r in rows))


def _csv(fields: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """CSV whose every cell is terminal-safe and never starts a spreadsheet formula."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    for row in rows:
        writer.writerow([csv_cell(_cell(row.get(k))) for k in fields])
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def status_counts(statuses: Iterable[str]) -> Counter[str]:
    return Counter(str(s) for s in statuses)


def summary_text(counts: Mapping[str, int]) -> Text:
    """``3 FAIL, 1 ERROR, 2 NOT ASSESSED, 40 PASS, 7 not applicable`` with the table's styles."""
    parts: list[tuple[str, str]] = [
        (f"{counts.get('FAIL', 0)} FAIL", "red"),
        (f"{counts.get('ERROR', 0)} ERROR", "magenta"),
        (f"{counts.get('NOT_ASSESSED', 0)} NOT ASSESSED", "yellow"),
        (f"{counts.get('PASS', 0)} PASS", "green"),
        (f"{counts.get('NOT_APPLICABLE', 0)} not applicable", ""),
    ]
    if counts.get("MUTED"):
        parts.insert(1, (f"{counts['MUTED']} MUTED", "cyan"))
    out = Text()
    for index, (label, style) in enumerate(parts):
        if index:
            out.append(", ")
        out.append(label, style=style)
    return out


def render_evaluations(
    console: Console,
    evaluations: Sequence[Evaluation],
    *,
    show_passed: bool = False,
    title: str = "phiguard evaluation",
) -> None:
    findings = all_findings(evaluations)
    counts = status_counts(f.status for f in findings)
    phi = sum(1 for e in evaluations if e.phi)
    head = Text.assemble(
        (inert(title), "bold"),
        f": {len(evaluations)} resources ({phi} in PHI scope), {len(findings)} findings — ",
    )
    console.print(head + summary_text(counts))
    if counts[Status.NOT_ASSESSED.value]:
        console.print(
            Text.assemble(
                (f"{counts[Status.NOT_ASSESSED.value]} check(s) not assessed", "yellow"),
                ": what they need (diagnostic settings, site config, TDE, ...) was not in the "
                "input" + ("." if show_passed else "; --all lists them."),
            )
        )
    shown = [f for f in findings if show_passed or f.status in ATTENTION]
    if shown:
        console.print(findings_table(shown))
    render_hipaa_summary(console, findings)


def findings_table(rows: Sequence[Any], *, limit: int | None = None) -> Table:
    """Findings or stored findings, FAIL first, then by severity: one row each (the first
    ``limit``), the HIPAA citations under the check id so the table stays readable in an
    80-column terminal.

    Every cell is a ``Text`` of inert data: names, reasons and ids are never parsed as markup
    and their control characters are shown, not sent (``shared.safe_text``)."""
    table = Table(header_style="bold", show_lines=False)
    table.add_column("Severity / status", no_wrap=True)
    table.add_column("Resource", overflow="fold", ratio=2)
    table.add_column("Check / HIPAA", overflow="fold", ratio=3)
    table.add_column("Reason", overflow="fold", ratio=4)

    def rank(status: str) -> int:
        return _STATUS_RANK.get(Status(status), 5) if status in _STATUS_VALUES else 5

    for r in _ordered(rows, rank)[:limit]:
        sev, status = Severity(r.severity), str(r.status)
        style = _STATUS_STYLE[Status(status)] if status in _STATUS_VALUES else "dim"
        resource = text(r.resource_id.rstrip("/").rsplit("/", 1)[-1])
        if r.phi:
            resource.append(" (PHI)", style="bold")
        resource.append("\n")
        resource.append(inert(r.resource_type.split("/", 1)[-1]), style="dim")
        check = text(r.check_id)
        check.append("\n")
        check.append(inert(", ".join(r.hipaa)), style="dim")
        table.add_row(
            Text.assemble((sev.value, _SEVERITY_STYLE[sev]), "\n", (inert(status), style)),
            resource,
            check,
            text(r.reason),
        )
    return table


_STATUS_VALUES = frozenset(s.value for s in Status)


def render_hipaa_summary(console: Console, findings: Sequence[Finding]) -> None:
    failing: Counter[str] = Counter()
    passing: Counter[str] = Counter()
    for f in findings:
        for citation in f.hipaa:
            if f.status == Status.FAIL:
                failing[citation] += 1
            elif f.status == Status.PASS:
                passing[citation] += 1
    if not failing and not passing:
        return
    table = Table(title="By HIPAA Security Rule section", header_style="bold")
    table.add_column("Section")
    table.add_column("Name")
    table.add_column("FAIL", justify="right")
    table.add_column("PASS", justify="right")
    for citation in sorted(failing.keys() | passing.keys(), key=sort_key):
        table.add_row(
            citation,
            SECTIONS[citation].name,
            f"[red]{failing[citation]}[/]" if failing[citation] else "0",
            str(passing[citation]),
        )
    console.print(table)


def catalog_rows(catalog: Mapping[str, Check]) -> list[dict[str, Any]]:
    return [c.metadata() for c in sorted(catalog.values(), key=lambda c: (c.service, c.id))]


def catalog_json(catalog: Mapping[str, Check]) -> str:
    return json.dumps(
        {"checks": catalog_rows(catalog), "failure_patterns": FAILURE_PATTERNS}, indent=2
    )


def catalog_csv(catalog: Mapping[str, Check]) -> str:
    fields = (
        "id",
        "service",
        "severity",
        "title",
        "resource_types",
        "hipaa",
        "azure_policy",
        "phi_only",
        "remediation",
        "needs",
        "patterns",
    )
    return _csv(fields, catalog_rows(catalog))


def render_catalog(console: Console, catalog: Mapping[str, Check]) -> None:
    table = Table(title=f"phiguard check catalog ({len(catalog)} checks)", header_style="bold")
    for column in ("Check", "Severity", "HIPAA", "PHI only", "Pattern", "Title"):
        table.add_column(column, overflow="fold")
    for row in catalog_rows(catalog):
        sev = Severity(row["severity"])
        table.add_row(
            text(row["id"]),
            text(sev.value, _SEVERITY_STYLE[sev]),
            text(", ".join(row["hipaa"])),
            "yes" if row["phi_only"] else "",
            text(", ".join(row["patterns"])),
            text(row["title"]),
        )
    console.print(table)


def _coverage_markdown(catalog: Mapping[str, Check]) -> list[str]:
    """The coverage table of issue 14's areas against the three references."""
    from shared.coverage import AREAS

    lines = [
        "## Coverage against the references",
        "",
        "Against the Azure HITRUST/HIPAA initiative, Prowler's `hipaa_azure` and Powerpipe's "
        "HIPAA HITRUST 9.2 benchmark, per area of issue 14 (what phiguard covers, covers in "
        "part, and cannot see through ARM).",
        "",
        "| Area | Checks | Covered | Partly covered | Not visible through ARM |",
        "| --- | --- | --- | --- | --- |",
    ]
    for area in AREAS:
        count = sum(1 for c in catalog if any(c.startswith(p) for p in area.checks))
        lines.append(
            f"| {area.name} | {count} | {area.covered} | {area.partial} | {area.invisible} |"
        )
    return [*lines, ""]


def catalog_markdown(catalog: Mapping[str, Check]) -> str:
    """docs/CHECKS.md: HIPAA section → checks, and check → sections. Generated; a test keeps it."""
    lines = [
        "# phiguard check catalog",
        "",
        "Generated by `phiguard catalog --format md` (`make catalog-docs`); a test fails when this",
        "file differs from the catalog. Do not edit by hand.",
        "",
        f"{len(catalog)} checks. Citations are to 45 CFR Part 164, Subpart C (HIPAA Security Rule).",
        "",
        "## Failure patterns",
        "",
        "| Pattern | What auditors find | Checks |",
        "| --- | --- | --- |",
    ]
    for pattern, description in FAILURE_PATTERNS.items():
        ids = sorted(c.id for c in catalog.values() if pattern in c.patterns)
        lines.append(f"| {pattern} | {description} | {', '.join(f'`{i}`' for i in ids)} |")
    lines += ["", *_coverage_markdown(catalog), "## By HIPAA section", ""]
    by_section: dict[str, list[str]] = {}
    for c in catalog.values():
        for citation in c.hipaa:
            by_section.setdefault(citation, []).append(c.id)
    ordered = sorted(by_section, key=sort_key)
    for part in dict.fromkeys(SECTIONS[c].part for c in ordered):
        lines += [
            f"### §{part} {PART_NAMES[part]}",
            "",
            "| Section | Name | Checks |",
            "| --- | --- | --- |",
        ]
        for citation in (c for c in ordered if SECTIONS[c].part == part):
            section = SECTIONS[citation]
            listed = ", ".join(f"`{i}`" for i in sorted(by_section[citation]))
            lines.append(f"| {citation} | {section.name} ({section.kind}) | {listed} |")
        lines.append("")
    lines += ["## Checks", ""]
    for row in catalog_rows(catalog):
        lines += [
            f"### `{row['id']}`",
            "",
            f"**{row['title']}** — {row['severity']}"
            + (", PHI-scoped resources only" if row["phi_only"] else ""),
            "",
            f"- Resource types: {', '.join(f'`{t}`' for t in row['resource_types'])}",
            f"- HIPAA: {'; '.join(f'{c} {SECTIONS[c].name}' for c in row['hipaa'])}",
        ]
        if row["azure_policy"]:
            lines.append(f"- Azure Policy: {', '.join(f'`{p}`' for p in row['azure_policy'])}")
        if row["needs"]:
            lines.append(f"- Reads: {', '.join(f'`{n}`' for n in row['needs'])}")
        if row["patterns"]:
            lines.append(f"- Failure pattern: {', '.join(row['patterns'])}")
        if row["remediation"]:
            lines.append(f"- Auto-fix: `{row['remediation']}`")
        lines += ["", row["description"], "", f"Fix: {row['guidance']}"]
        if row["limitations"]:
            lines += ["", f"Limitations: {row['limitations']}"]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _ordered(rows: Sequence[Any], rank: Callable[[str], int]) -> list[Any]:
    return sorted(
        rows,
        key=lambda r: (
            rank(str(r.status)),
            Severity(r.severity).rank,
            r.resource_id.lower(),
            r.check_id,
        ),
    )


def render_stored(
    console: Console,
    rows: Sequence[Any],
    *,
    show_all: bool = False,
    limit: int | None = None,
    rest: str = "`phiguard status` lists them",
) -> None:
    """Current state from the store: a count by status, then the failing and broken findings
    (every row with ``show_all``) by severity; the ``limit`` most severe, the rest counted
    (``rest`` says where to find them)."""
    counts = status_counts(r.status for r in rows)
    console.print(Text("  ") + summary_text(counts))
    shown = [r for r in rows if show_all or r.status in ATTENTION]
    if shown:
        console.print(findings_table(shown, limit=limit))
    if limit is not None and len(shown) > limit:
        console.print(text(f"  … and {len(shown) - limit} more ({rest})"))
