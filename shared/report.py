"""Rendering findings and the catalog for people (rich tables, Markdown) and machines (JSON, CSV)."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from checks import FAILURE_PATTERNS, Check
from shared.engine import Evaluation
from shared.findings import Finding, Severity, Status
from shared.hipaa import PART_NAMES, SECTIONS, sort_key

FINDING_FIELDS = (
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
)
_STATUS_STYLE = {
    Status.FAIL: "bold red",
    Status.ERROR: "bold magenta",
    Status.PASS: "green",
    Status.NOT_APPLICABLE: "dim",
}
_SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def all_findings(evaluations: Iterable[Evaluation]) -> list[Finding]:
    return [f for e in evaluations for f in e.findings]


def findings_json(findings: Iterable[Finding]) -> str:
    return json.dumps([f.to_json() for f in findings], indent=2, sort_keys=False)


def findings_csv(findings: Iterable[Finding]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FINDING_FIELDS)
    for f in findings:
        row = f.to_json()
        row["hipaa"] = ";".join(f.hipaa)
        row["evidence"] = json.dumps(row["evidence"], sort_keys=True, default=str)
        writer.writerow([row[k] for k in FINDING_FIELDS])
    return out.getvalue()


def render_evaluations(
    console: Console,
    evaluations: Sequence[Evaluation],
    *,
    show_passed: bool = False,
    title: str = "phiguard evaluation",
) -> None:
    findings = all_findings(evaluations)
    counts = Counter(f.status for f in findings)
    phi = sum(1 for e in evaluations if e.phi)
    not_assessed = sum(len(e.not_assessed) for e in evaluations)
    console.print(
        f"[bold]{title}[/]: {len(evaluations)} resources ({phi} in PHI scope), "
        f"{len(findings)} findings — [red]{counts[Status.FAIL]} FAIL[/], "
        f"[magenta]{counts[Status.ERROR]} ERROR[/], [green]{counts[Status.PASS]} PASS[/], "
        f"{counts[Status.NOT_APPLICABLE]} not applicable"
    )
    if not_assessed:
        console.print(
            f"[yellow]{not_assessed} check(s) not assessed[/]: their related documents "
            "(diagnostic settings, site config, TDE, ...) were not in the input."
        )
    shown = [f for f in findings if show_passed or f.status in (Status.FAIL, Status.ERROR)]
    if shown:
        console.print(findings_table(shown))
    render_hipaa_summary(console, findings)


def findings_table(rows: Sequence[Any]) -> Table:
    """Findings or stored findings, FAIL first, then by severity: one row each, the HIPAA
    citations under the check id so the table stays readable in an 80-column terminal."""
    table = Table(header_style="bold", show_lines=False)
    table.add_column("Severity / status", no_wrap=True)
    table.add_column("Resource", overflow="fold", ratio=2)
    table.add_column("Check / HIPAA", overflow="fold", ratio=3)
    table.add_column("Reason", overflow="fold", ratio=4)
    ordered = sorted(
        rows,
        key=lambda r: (
            str(r.status) != "FAIL",
            Severity(r.severity).rank,
            r.resource_id.lower(),
            r.check_id,
        ),
    )
    for r in ordered:
        sev, status = Severity(r.severity), str(r.status)
        style = _STATUS_STYLE.get(Status(status), "") if status in Status.__members__ else "dim"
        table.add_row(
            f"[{_SEVERITY_STYLE[sev]}]{sev.value}[/]\n[{style}]{status}[/]",
            r.resource_id.rstrip("/").rsplit("/", 1)[-1]
            + (" [bold](PHI)[/]" if r.phi else "")
            + f"\n[dim]{r.resource_type.split('/', 1)[-1]}[/]",
            f"{r.check_id}\n[dim]{', '.join(r.hipaa)}[/]",
            r.reason,
        )
    return table


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
    out = io.StringIO()
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
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    for row in catalog_rows(catalog):
        writer.writerow(
            [";".join(v) if isinstance(v, list) else v for v in (row[k] for k in fields)]
        )
    return out.getvalue()


def render_catalog(console: Console, catalog: Mapping[str, Check]) -> None:
    table = Table(title=f"phiguard check catalog ({len(catalog)} checks)", header_style="bold")
    for column in ("Check", "Severity", "HIPAA", "PHI only", "Pattern", "Title"):
        table.add_column(column, overflow="fold")
    for row in catalog_rows(catalog):
        sev = Severity(row["severity"])
        table.add_row(
            row["id"],
            f"[{_SEVERITY_STYLE[sev]}]{sev.value}[/]",
            ", ".join(row["hipaa"]),
            "yes" if row["phi_only"] else "",
            ", ".join(row["patterns"]),
            row["title"],
        )
    console.print(table)


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
    for pattern, text in FAILURE_PATTERNS.items():
        ids = sorted(c.id for c in catalog.values() if pattern in c.patterns)
        lines.append(f"| {pattern} | {text} | {', '.join(f'`{i}`' for i in ids)} |")
    lines += ["", "## By HIPAA section", ""]
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


def render_stored(console: Console, rows: Sequence[Any]) -> None:
    """Current state from the store: failing findings by severity, then a HIPAA summary."""
    failing = [r for r in rows if r.status == "FAIL"]
    counts = Counter(r.status for r in rows)
    console.print(
        f"  [red]{counts['FAIL']} FAIL[/], [magenta]{counts['ERROR']} ERROR[/], "
        f"[green]{counts['PASS']} PASS[/], {counts['NOT_APPLICABLE']} not applicable"
    )
    if failing:
        console.print(findings_table(failing))
