"""The remediation commands: ``plan`` (what the fixes would change, offline or live),
``remediations`` (the log, or the RBAC actions), ``rollback``, ``remediate`` (catch-up) and
``exempt`` (table exemptions)."""

from __future__ import annotations

import argparse
import sys

from rich.text import Text

from shared.cli.exit_codes import Outcome, UsageError
from shared.cli.offline_commands import PlanPreview, offline_previews
from shared.cli.services import app_context, resource_arg, settings_from_args, subscription_ids
from shared.safe_text import console as make_console
from shared.safe_text import inert, text


def plan(args: argparse.Namespace) -> Outcome:
    """What the remediations would change, as a readable diff; never writes."""
    console = make_console()
    missing: list[str] = []
    if args.paths:
        previews, problems = offline_previews(args.paths)
    else:
        previews, problems, missing = _live_previews(args)
    gone = f"{len(missing)} resource(s) not found through ARM: " + "; ".join(missing[:5])
    if not previews:
        if missing:
            return Outcome(incomplete=[gone])
        console.print("Nothing to remediate: no failing check has a safe fix.")
        return Outcome()
    for resource_id, rem_id, mode, lines in previews:
        console.print(
            Text.assemble(
                (inert(rem_id), "bold"),
                " on ",
                inert(resource_id),
                (f" (mode: {inert(mode)})", "dim"),
            )
        )
        for line in lines:
            style = "red" if line.startswith("- ") else "green" if line.startswith("+ ") else ""
            console.print(Text("  ") + text(line, style))
    outcome = Outcome(failing=len(previews) - len(problems))
    if missing:
        outcome.incomplete.append(gone)
    if problems:
        outcome.incomplete.append(
            f"{len(problems)} fix(es) could not be planned: " + "; ".join(problems[:5])
        )
    return outcome


def _live_previews(
    args: argparse.Namespace,
) -> tuple[list[PlanPreview], list[str], list[str]]:
    """``plan --resource ID`` / ``--subscription ID``: the fixes of live resources read through
    ARM (of a subscription: those the state store has failing), and those that could not be
    planned, and the ``--resource`` ids that ARM does not know."""
    from shared.operations import failing_resources

    previews: list[PlanPreview] = []
    problems: list[str] = []
    missing: list[str] = []
    targets = [resource_arg(r) for r in args.resource or []]
    settings = settings_from_args(args)
    subscriptions = subscription_ids(args.subscription, None) if args.subscription else []
    if not targets and not subscriptions:
        raise UsageError("give PATH... to plan offline, or --resource / --subscription")
    ctx = app_context(args, arm=True, subscriptions=subscriptions, settings=settings)
    named = len(targets)
    if subscriptions:
        # The resources the store knows to be failing there (from sweeps and events).
        targets += failing_resources(ctx, subscriptions)
    for index, resource_id in enumerate(targets):
        snapshot = ctx.remediator.read_snapshot(resource_id)
        if snapshot is None:
            if index < named:  # one the operator named; the store's may be gone since
                missing.append(resource_id)
            continue
        for p in ctx.remediator.preview(snapshot):
            lines = [p.plan.summary, *p.plan.diff_lines()] if p.plan else [f"{p.error}"]
            if p.plan is None:
                problems.append(f"{p.remediation_id} on {resource_id}")
            mode = p.mode + ("" if p.allowed else ", not allow-listed")
            previews.append((resource_id, p.remediation_id, mode, lines))
    return previews, problems, missing


def show_remediations(args: argparse.Namespace) -> Outcome:
    import json

    if args.permissions:
        from remediations import permissions

        for action in permissions():
            print(inert(action))
        return Outcome()
    from shared.remediation_log import MAX_DAYS

    if not 1 <= args.days <= MAX_DAYS or args.limit < 1:
        raise UsageError(f"--days and --limit must be at least 1, and --days at most {MAX_DAYS}")
    resource = resource_arg(args.resource) if args.resource else None
    ctx = app_context(args)
    records = ctx.remediator.records(days=args.days, resource_id=resource, limit=args.limit)
    if args.format == "json":
        sys.stdout.write(json.dumps([r.to_json() for r in records], indent=2, default=str) + "\n")
        return Outcome()
    from rich.table import Table

    table = Table(header_style="bold")
    for column in ("Id", "When", "Remediation", "Resource", "Mode", "Status", "Summary"):
        table.add_column(column, overflow="fold")
    for r in records:
        table.add_row(
            text(r.id),
            f"{r.created_at:%Y-%m-%d %H:%M:%S}",
            text(r.remediation_id),
            text(r.resource_id.rstrip("/").rsplit("/", 1)[-1]),
            text(r.mode),
            text(r.status),
            text(r.summary or r.reason),
        )
    make_console().print(table)
    return Outcome()


def rollback(args: argparse.Namespace) -> Outcome:
    from shared.remediation.rollback import RollbackRefused
    from shared.remediation_log import RecordNotFound

    ctx = app_context(args, arm=True)
    try:
        record = ctx.remediator.rollback(args.remediation_id)
    except RecordNotFound:
        raise UsageError(f"no remediation {inert(args.remediation_id)!r} in the log") from None
    except RollbackRefused as exc:
        raise UsageError(f"rollback refused: {inert(exc)}") from None
    make_console().print(
        text(f"rolled back {args.remediation_id}: {record.status} ({record.reason})")
    )
    return Outcome()


def remediate_failing(args: argparse.Namespace) -> Outcome:
    """Catch-up: plan and, where allowed, apply the safe fixes of resources already failing."""
    from shared.operations import failing_resources, remediate

    settings = settings_from_args(args)
    subscriptions = subscription_ids(args.subscription, None) if args.subscription else []
    targets = [resource_arg(r) for r in args.resource or []]
    if not subscriptions and not targets:
        raise UsageError("give --subscription ID or --resource ID")
    ctx = app_context(args, arm=True, subscriptions=subscriptions, settings=settings)
    targets += [r for r in failing_resources(ctx, subscriptions) if r not in targets]
    report = remediate(ctx, targets)
    console = make_console()
    if not report.records and not report.unreadable:
        console.print(text(f"Nothing to remediate on {len(targets)} failing resource(s)."))
    from rich.table import Table

    if report.records:
        table = Table(header_style="bold")
        for column in ("Resource", "Remediation", "Mode", "Status", "Reason"):
            table.add_column(column, overflow="fold")
        for r in report.records:
            table.add_row(
                text(r.resource_id.rstrip("/").rsplit("/", 1)[-1]),
                text(r.remediation_id),
                text(r.mode),
                text(r.status),
                text(r.reason),
            )
        console.print(table)
    for problem in report.unreadable:
        console.print(text(f"could not remediate {problem}"))
    not_verified = [r for r in report.records if r.status not in ("VERIFIED",)]
    return Outcome(
        failing=len(not_verified),
        incomplete=[f"{len(report.unreadable)} resource(s) could not be read"]
        if report.unreadable
        else [],
    )


def exempt(args: argparse.Namespace) -> Outcome:
    """Table exemptions: add (with the operator's identity), list, remove."""
    from shared.operations import add_exemption
    from shared.remediation.exemptions import ExemptionError

    resource = resource_arg(args.resource_id, "RESOURCE_ID")
    ctx = app_context(args)
    console = make_console()
    if args.remove:
        for target in args.target or []:
            ctx.remediator.log.remove_exemption(resource, target)
            console.print(text(f"removed the exemption of {target} on {resource}"))
        return Outcome()
    if args.list or not args.target:
        for e in ctx.remediator.log.exemptions(resource):
            until = e.expires_at.date().isoformat() if e.expires_at else "?"
            console.print(
                text(
                    f"{e.target} until {until}, approved by {e.approver}, added by "
                    f"{e.created_by or '?'}: {e.justification}"
                )
            )
        return Outcome()
    if not (args.until and args.approver and args.reason):
        raise UsageError("an exemption needs --until YYYY-MM-DD, --approver and --reason")
    try:
        added = add_exemption(
            ctx, resource, list(args.target), args.until, args.approver, args.reason
        )
    except (ExemptionError, ValueError) as exc:
        raise UsageError(inert(str(exc))) from None
    for e in added:
        console.print(
            text(
                f"exempted {e.target} on {resource} until {args.until} "
                f"(approved by {e.approver}, added by {e.created_by}); the finding stays recorded"
            )
        )
    return Outcome()
