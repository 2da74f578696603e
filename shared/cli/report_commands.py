"""Check selection and report flags shared by ``scan``, ``evaluate`` and ``status``, and the
``mute`` command (accepted risks: ``phiguard mute add|list|remove``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.cli.exit_codes import Outcome, UsageError
from shared.cli.services import app_context
from shared.safe_text import console as make_console
from shared.safe_text import inert, text

if TYPE_CHECKING:
    from checks import Check
    from shared.config import Settings
    from shared.mutes import MuteRule
    from shared.selection import Selection

_FLAGS = (
    ("checks", "--checks"),
    ("services", "--services"),
    ("severities", "--severity"),
    ("hipaa", "--hipaa"),
    ("phi_only", "--phi-only"),
    ("excluded_checks", "--excluded-checks"),
    ("excluded_services", "--excluded-services"),
)


def add_selection_flags(command: argparse.ArgumentParser, *, status: bool = False) -> None:
    """``--checks/--services/--severity/--hipaa/--phi-only/--excluded-*`` (``status`` already
    has its own ``--severity`` and ``--hipaa`` row filters)."""
    group = command.add_argument_group(
        "check selection (default: PHIGUARD_CHECKS / PHIGUARD_EXCLUDED_CHECKS, else every check)"
    )
    group.add_argument("--checks", action="append", metavar="ID[,ID]", help="only these checks")
    group.add_argument(
        "--services", action="append", metavar="S[,S]", help="only checks of these services"
    )
    if not status:
        group.add_argument(
            "--severity",
            dest="severities",
            action="append",
            metavar="S[,S]",
            help="only checks of these severities (CRITICAL, HIGH, MEDIUM, LOW, INFO)",
        )
        group.add_argument(
            "--hipaa",
            action="append",
            metavar="SECTION",
            help="only checks citing a section or its prefix, e.g. 164.312(b) or 164.312",
        )
    group.add_argument("--phi-only", action="store_true", help="only the checks marked PHI only")
    group.add_argument("--excluded-checks", action="append", metavar="ID[,ID]")
    group.add_argument("--excluded-services", action="append", metavar="S[,S]")


def add_output_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--output",
        metavar="DIR",
        help="also write report files there: CSV, JSON, JSON-OCSF, an HTML summary and OSCAL "
        "assessment results",
    )
    command.add_argument(
        "--output-formats",
        metavar="F[,F]",
        default="csv,json,ocsf,html,oscal",
        help="which report files --output writes (csv, json, ocsf, html, oscal; default all)",
    )


def selection_from_args(args: argparse.Namespace, settings: Settings | None) -> Selection:
    """The selection of the command's flags when any is given, else of the settings."""
    from shared.selection import Selection, split_values

    given = {
        name: getattr(args, name, None)
        for name, _ in _FLAGS
        if getattr(args, name, None) not in (None, False, [])
    }
    if not given:
        if settings is None:
            return Selection()
        return settings.selection()
    return Selection(
        checks=split_values(given.get("checks")),
        services=split_values(given.get("services")),
        severities=split_values(given.get("severities")),
        hipaa=split_values(given.get("hipaa")),
        phi_only=bool(given.get("phi_only")),
        excluded_checks=split_values(given.get("excluded_checks")),
        excluded_services=split_values(given.get("excluded_services")),
        where=tuple(_FLAGS),
    )


def selected_catalog(selection: Selection) -> dict[str, Check]:
    """The selected checks; a usage error (2) names unknown ids, services or sections."""
    from checks import CATALOG
    from shared.selection import SelectionError

    try:
        chosen = selection.apply(CATALOG)
    except SelectionError as exc:
        raise UsageError(inert(str(exc))) from None
    if not chosen:
        raise UsageError("the check selection matches no check")
    return chosen


def describe(selection: Selection, chosen: Iterable[str]) -> str:
    from checks import CATALOG

    count = len(list(chosen))
    return "every check" if selection.everything else f"{count} of {len(CATALOG)} checks"


def output_formats(args: argparse.Namespace) -> tuple[str, ...] | None:
    """The report formats ``--output`` writes (checked before any service is contacted)."""
    from shared.report_files import FORMATS

    formats = tuple(dict.fromkeys(f.strip().lower() for f in args.output_formats.split(",")))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise UsageError(
            f"--output-formats: {inert(bad[0] if bad else '')!r} is not one of {', '.join(FORMATS)}"
        )
    if not getattr(args, "output", None):
        return None
    target = Path(args.output)
    if target.exists() and not target.is_dir():
        raise UsageError(f"--output: {inert(args.output)!r} exists and is not a directory")
    return formats


def write_output(
    args: argparse.Namespace,
    formats: Sequence[str] | None,
    findings: Sequence[Any],
    scope: str,
    arm_url: str,
) -> None:
    """Writes the report files ``--output`` asks for; ``arm_url`` names the Azure cloud."""
    from shared.report_files import cloud_partition, write_reports

    if not formats:
        return
    try:
        paths = write_reports(
            Path(args.output),
            findings,
            formats=formats,
            scope=scope,
            partition=cloud_partition(arm_url),
        )
    except OSError as exc:
        raise UsageError(
            f"--output: cannot write to {inert(args.output)!r}: {exc.strerror or exc}"
        ) from None
    err = make_console(stderr=True)
    for path in paths:
        err.print(text(f"wrote {path}"))


# -- mute --------------------------------------------------------------------------------------


def mute(args: argparse.Namespace) -> Outcome:
    """``phiguard mute add|list|remove``: mute rules in the store, with the operator's name."""
    from shared.mutes import MuteError, new_rule
    from shared.operations import operator_identity
    from shared.remediation.exemptions import ExemptionError, expiry_of

    action = args.mute_command
    if action == "add":
        if not (args.until and args.approver and args.reason):
            raise UsageError("a mute needs --until YYYY-MM-DD, --approver and --reason")
        if not (args.check or args.resource):
            raise UsageError("a mute needs --check ID (or *) and/or --resource ID|PATTERN")
        try:
            expires = expiry_of(args.until, "--until ")
        except ExemptionError as exc:
            raise UsageError(inert(str(exc))) from None
    ctx = app_context(args)
    console = make_console()
    store = ctx.mutes
    if action == "add":
        from checks import CATALOG

        try:
            rule = new_rule(
                check=args.check or "*",
                resource=args.resource or "/subscriptions/*",
                reason=args.reason,
                approver=args.approver,
                expires_at=expires,
                created_by=operator_identity(),
                known_checks=CATALOG,
                now=datetime.now(UTC),
                max_days=ctx.settings.mute_max_days,
            )
        except MuteError as exc:
            raise UsageError(inert(str(exc))) from None
        store.add(rule)
        console.print(
            text(
                f"added {rule.id}: {rule.check} on {rule.resource} muted until "
                f"{args.until} (approved by {rule.approver}, added by {rule.created_by}). "
                "Findings change at the next evaluation (event or scan); they stay recorded "
                "as MUTED."
            )
        )
        return Outcome()
    if action == "remove":
        missing = [r for r in args.rule_ids if not store.remove(r)]
        for rule_id in args.rule_ids:
            if rule_id not in missing:
                console.print(
                    text(f"removed {rule_id}; its findings fail again at the next evaluation")
                )
        if missing:
            raise UsageError(f"no mute rule {inert(missing[0])!r} (`phiguard mute list`)")
        return Outcome()
    rules = store.rules()
    now = datetime.now(UTC)
    if args.format == "json":
        sys.stdout.write(
            json.dumps(
                [
                    {**r.to_json(), "state": _state(r, now, ctx.settings.mute_max_days)}
                    for r in rules
                ],
                indent=2,
            )
            + "\n"
        )
        return Outcome()
    from rich.table import Table

    table = Table(header_style="bold")
    for column in ("Rule", "Check", "Resource", "Until", "State", "Approver", "Added by", "Reason"):
        table.add_column(column, overflow="fold")
    for r in rules:
        table.add_row(
            text(r.id),
            text(r.check),
            text(r.resource),
            r.expires_at.date().isoformat(),
            text(_state(r, now, ctx.settings.mute_max_days)),
            text(r.approver),
            text(r.created_by),
            text(r.reason),
        )
    console.print(table)
    return Outcome()


def _state(rule: MuteRule, now: datetime, max_days: int) -> str:
    if rule.holds(now, max_days):
        return "active"
    if now >= rule.expires_at:
        return "expired"
    return "not honoured (longer than PHIGUARD_MUTE_MAX_DAYS)"


def add_mute_parser(sub: Any, connection_flags: Any) -> None:
    mute_parser = sub.add_parser(
        "mute",
        help="mute rules: accepted risks recorded as MUTED, not FAIL (with expiry and approver)",
    )
    actions = mute_parser.add_subparsers(dest="mute_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a mute rule (the operator is recorded)")
    add.add_argument("--check", metavar="ID", help="check id, or * for every check")
    add.add_argument(
        "--resource",
        metavar="ID|PATTERN",
        help="resource id, or a pattern with * and ? (e.g. /subscriptions/*/resourceGroups/rg-dev/*)",
    )
    add.add_argument("--until", metavar="YYYY-MM-DD", help="last day the mute holds")
    add.add_argument("--approver", metavar="WHO", help="who accepted the risk (UPN or email)")
    add.add_argument("--reason", metavar="WHY", help="the justification, for the auditor")
    connection_flags(add, arm=False)
    add.set_defaults(handler=mute)
    listing = actions.add_parser("list", help="every mute rule, expired ones too")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    connection_flags(listing, arm=False)
    listing.set_defaults(handler=mute)
    remove = actions.add_parser("remove", help="remove mute rules by id")
    remove.add_argument("rule_ids", nargs="+", metavar="RULE_ID")
    connection_flags(remove, arm=False)
    remove.set_defaults(handler=mute)
