"""``phiguard``: the command line. It drives the same engine as the Functions triggers.

Exit codes: 0 ok / no FAIL, 1 FAIL found, 2 bad usage or bad input (the message names the file
and the JSON path).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from shared.context import AppContext

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage or bad input; printed without a traceback, exit code 2."""


def _evaluate(args: argparse.Namespace) -> int:
    from shared import report
    from shared.engine import Engine
    from shared.findings import Status
    from shared.loader import load_paths

    snapshots = load_paths(args.paths)
    evaluations = Engine().evaluate_all(snapshots)
    findings = report.all_findings(evaluations)
    if args.format == "json":
        sys.stdout.write(report.findings_json(findings) + "\n")
    elif args.format == "csv":
        sys.stdout.write(report.findings_csv(findings))
    else:
        report.render_evaluations(Console(), evaluations, show_passed=args.all)
    failing = any(f.status == Status.FAIL for f in findings)
    return EXIT_FAIL if failing and not args.exit_zero else EXIT_OK


def _catalog(args: argparse.Namespace) -> int:
    from checks import CATALOG
    from shared import report

    if args.format == "json":
        sys.stdout.write(report.catalog_json(CATALOG) + "\n")
    elif args.format == "csv":
        sys.stdout.write(report.catalog_csv(CATALOG))
    elif args.format == "md":
        sys.stdout.write(report.catalog_markdown(CATALOG))
    else:
        report.render_catalog(Console(), CATALOG)
    return EXIT_OK


def _context(args: argparse.Namespace) -> AppContext:
    """Settings from the environment, with the command's flags on top."""
    from shared.config import Settings, SettingsError
    from shared.context import AppContext, reset_app_context

    try:
        settings = Settings.from_env().with_overrides(
            arm_url=getattr(args, "arm_url", None),
            ca_cert=getattr(args, "ca_cert", None),
            storage_connection_string=getattr(args, "storage_connection_string", None),
        )
        settings.require_storage()
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    if settings.ca_cert is not None and not Path(settings.ca_cert).is_file():
        raise UsageError(f"--ca-cert: no such file {settings.ca_cert!r}")
    context = AppContext(settings)
    reset_app_context(context)
    return context


def _scan(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from shared import report

    ctx = _context(args)
    subscriptions = args.subscription or list(ctx.settings.subscriptions)
    if not subscriptions:
        raise UsageError("no subscription: pass --subscription ID or set PHIGUARD_SUBSCRIPTIONS")
    console = Console()
    transient: list[str] = []
    for subscription in subscriptions:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"sweeping {subscription}", total=None)

            def advance(done: int, total: int, task: Any = task, progress: Any = progress) -> None:
                progress.update(task, completed=done, total=total)

            result = ctx.pipeline.sweep(subscription, progress=advance)
        transient += result.transient
        console.print(
            f"{subscription}: {len(result.outcomes)} resources evaluated, "
            f"{result.count('recorded')} changed, {len(result.transient)} could not be read"
        )
    rows = [
        r
        for r in ctx.store.current()
        if any(
            r.resource_id.lower().startswith(f"/subscriptions/{s.lower()}") for s in subscriptions
        )
    ]
    report.render_stored(console, rows)
    if transient:
        console.print(
            f"[yellow]{len(transient)} resource(s) hit throttling or errors; "
            "run the scan again to finish them.[/]"
        )
    return EXIT_FAIL if any(r.status == "FAIL" for r in rows) else EXIT_OK


def _replay(args: argparse.Namespace) -> int:
    import json

    from shared.events import parse_delivery
    from shared.pipeline import RedeliverError

    ctx = _context(args)
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    supported = ctx.engine.supported_types()
    events: list[Any] = []
    totals: dict[str, int] = {}
    retry: list[Any] = []

    def flush() -> None:
        if not events:
            return
        delivery = parse_delivery(list(events), supported_types=supported)
        try:
            result = ctx.pipeline.handle(delivery)
        except RedeliverError:
            retry.extend(events)
        else:
            for outcome in result.outcomes:
                totals[outcome.action] = totals.get(outcome.action, 0) + 1
            totals["poison"] = totals.get("poison", 0) + result.poison
            totals["ignored"] = totals.get("ignored", 0) + sum(result.ignored.values())
        events.clear()

    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
            events.extend(item if isinstance(item, list) else [item])
            if len(events) >= args.batch:
                flush()
    flush()
    console = Console()
    console.print(f"replayed {path}: " + ", ".join(f"{k} {v}" for k, v in sorted(totals.items())))
    if retry:
        console.print(f"[yellow]{len(retry)} event(s) hit transient failures; replay again.[/]")
        return EXIT_FAIL
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    import json

    from shared import report

    ctx = _context(args)
    rows = ctx.store.current(
        resource_id=args.resource,
        status=args.status.upper() if args.status else None,
        severity=args.severity.upper() if args.severity else None,
        hipaa=args.hipaa,
    )
    if args.format == "json":
        sys.stdout.write(json.dumps([r.to_json() for r in rows], indent=2, default=str) + "\n")
    else:
        report.render_stored(Console(), rows)
    return EXIT_FAIL if any(r.status == "FAIL" for r in rows) else EXIT_OK


def _plan(args: argparse.Namespace) -> int:
    """What the remediations would change, as a readable diff; never writes."""
    from rich.markup import escape

    from remediations import REMEDIATIONS
    from remediations.registry import RemediationOptions
    from shared.config import Settings, SettingsError
    from shared.engine import Engine
    from shared.findings import Status
    from shared.loader import load_paths

    console = Console()
    previews: list[tuple[str, str, str, list[str]]] = []  # resource, remediation, mode, lines
    if args.paths:
        try:
            settings = Settings.from_env()
        except SettingsError as exc:
            raise UsageError(str(exc)) from None
        engine = Engine(phi_scope=settings.phi_scope())
        options = RemediationOptions.from_settings(settings)
        for snapshot in load_paths(args.paths):
            evaluation = engine.evaluate(snapshot)
            failing = {f.check_id for f in evaluation.findings if f.status == Status.FAIL}
            ids = {engine.catalog[c].remediation for c in failing} - {None}
            for rem_id in sorted(i for i in ids if i is not None):
                try:
                    plan = REMEDIATIONS[rem_id].plan(snapshot, options)
                except ValueError as exc:
                    previews.append((snapshot.id, rem_id, "-", [f"cannot plan: {exc}"]))
                    continue
                if plan is not None:
                    mode = settings.remediation_mode or dict(settings.remediation_modes).get(
                        rem_id, REMEDIATIONS[rem_id].default_mode
                    )
                    previews.append((snapshot.id, rem_id, mode, [plan.summary, *plan.diff_lines()]))
    else:
        ctx = _context(args)
        targets = list(args.resource or [])
        if args.subscription:
            # The resources the store knows to be failing there (from sweeps and events).
            prefixes = tuple(f"/subscriptions/{s.lower()}/" for s in args.subscription)
            failing_rows = ctx.store.current(status="FAIL")
            targets += sorted(
                {r.resource_id for r in failing_rows if r.resource_id.lower().startswith(prefixes)}
            )
        if not targets:
            raise UsageError("give PATH... to plan offline, or --resource / --subscription")
        for resource_id in targets:
            for p in ctx.remediator.preview(resource_id):
                lines = [p.plan.summary, *p.plan.diff_lines()] if p.plan else [f"{p.error}"]
                mode = p.mode + ("" if p.allowed else ", not allow-listed")
                previews.append((resource_id, p.remediation_id, mode, lines))
    if not previews:
        console.print("Nothing to remediate: no failing check has a safe fix.")
        return EXIT_OK
    for resource_id, rem_id, mode, lines in previews:
        console.print(f"[bold]{rem_id}[/] on {resource_id} [dim](mode: {mode})[/]")
        for line in lines:
            style = "red" if line.startswith("- ") else "green" if line.startswith("+ ") else ""
            text = escape(line)
            console.print(f"  [{style}]{text}[/]" if style else f"  {text}", highlight=False)
    return EXIT_FAIL


def _remediations(args: argparse.Namespace) -> int:
    import json

    if args.permissions:
        from remediations import permissions

        for action in permissions():
            print(action)
        return EXIT_OK
    ctx = _context(args)
    records = ctx.remediator.records(days=args.days, resource_id=args.resource, limit=args.limit)
    if args.format == "json":
        sys.stdout.write(json.dumps([r.to_json() for r in records], indent=2, default=str) + "\n")
        return EXIT_OK
    from rich.table import Table

    table = Table(header_style="bold")
    for column in ("Id", "When", "Remediation", "Resource", "Mode", "Status", "Summary"):
        table.add_column(column, overflow="fold")
    for r in records:
        table.add_row(
            r.id,
            f"{r.created_at:%Y-%m-%d %H:%M:%S}",
            r.remediation_id,
            r.resource_id.rsplit("/", 1)[-1],
            r.mode,
            r.status,
            r.summary or r.reason,
        )
    Console().print(table)
    return EXIT_OK


def _rollback(args: argparse.Namespace) -> int:
    from shared.remediation import RollbackRefused
    from shared.remediation_log import RecordNotFound

    ctx = _context(args)
    try:
        record = ctx.remediator.rollback(args.remediation_id)
    except RecordNotFound:
        raise UsageError(f"no remediation {args.remediation_id!r} in the log") from None
    except RollbackRefused as exc:
        raise UsageError(f"rollback refused: {exc}") from None
    Console().print(f"rolled back {args.remediation_id}: {record.status} ({record.reason})")
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from shared.demo import run_demo

    return run_demo(Console(), args)


def _sim(args: argparse.Namespace) -> int:
    from sim.cli import run

    code: int = run(args)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="phiguard", description="Continuous HIPAA compliance for Azure."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ev = sub.add_parser(
        "evaluate",
        help="evaluate ARM documents (files or directories) against the catalog",
        description="Reads ARM GET bodies, list bodies, x-ms-examples files, snapshot and estate "
        "files, and directories of them; prints findings.",
    )
    ev.add_argument("paths", nargs="+", metavar="PATH")
    ev.add_argument("--format", choices=("table", "json", "csv"), default="table")
    ev.add_argument("--all", action="store_true", help="table: show PASS findings too")
    ev.add_argument("--exit-zero", action="store_true", help="exit 0 even when a check fails")
    ev.set_defaults(handler=_evaluate)

    cat = sub.add_parser("catalog", help="list every check with its metadata")
    cat.add_argument("--format", choices=("table", "json", "csv", "md"), default="table")
    cat.set_defaults(handler=_catalog)

    def connection_flags(command: argparse.ArgumentParser, arm: bool) -> None:
        if arm:
            command.add_argument("--arm-url", help="ARM endpoint (PHIGUARD_ARM_URL)")
            command.add_argument("--ca-cert", help="extra CA bundle for ARM (PHIGUARD_CA_CERT)")
        command.add_argument(
            "--storage-connection-string",
            help="state store (PHIGUARD_STORAGE_CONNECTION_STRING; prefer the variable: "
            "flags are visible in the process list)",
        )

    scan = sub.add_parser(
        "scan", help="sweep subscriptions and record their state (the daily timer)"
    )
    scan.add_argument(
        "--subscription",
        action="append",
        metavar="ID",
        help="subscription id (repeatable; default PHIGUARD_SUBSCRIPTIONS)",
    )
    connection_flags(scan, arm=True)
    scan.set_defaults(handler=_scan)

    replay = sub.add_parser("replay", help="feed recorded Event Grid events through the handler")
    replay.add_argument("file", metavar="FILE.ndjson")
    replay.add_argument("--batch", type=int, default=50, help="events per delivery (default 50)")
    connection_flags(replay, arm=True)
    replay.set_defaults(handler=_replay)

    status = sub.add_parser("status", help="current findings from the state store")
    status.add_argument("--format", choices=("table", "json"), default="table")
    status.add_argument("--resource", help="one resource id")
    status.add_argument("--status", help="PASS, FAIL, ERROR, NOT_APPLICABLE, CLOSED, ...")
    status.add_argument("--severity")
    status.add_argument("--hipaa", help="citation or prefix, e.g. 164.312(b)")
    connection_flags(status, arm=False)
    status.set_defaults(handler=_status)

    plan = sub.add_parser("plan", help="show what the safe auto-fixes would change (no writes)")
    plan.add_argument(
        "paths", nargs="*", metavar="PATH", help="ARM documents to plan offline (as for evaluate)"
    )
    plan.add_argument(
        "--resource",
        action="append",
        metavar="ID",
        help="plan for a live resource read through ARM (repeatable)",
    )
    plan.add_argument(
        "--subscription",
        action="append",
        metavar="ID",
        help="plan for every resource the state store has failing in a subscription",
    )
    connection_flags(plan, arm=True)
    plan.set_defaults(handler=_plan)

    rems = sub.add_parser("remediations", help="the remediation log, or the RBAC actions needed")
    rems.add_argument(
        "--permissions",
        action="store_true",
        help="print the RBAC actions every remediation needs (for a custom role)",
    )
    rems.add_argument("--format", choices=("table", "json"), default="table")
    rems.add_argument("--days", type=int, default=30)
    rems.add_argument("--resource", metavar="ID")
    rems.add_argument("--limit", type=int, default=100)
    connection_flags(rems, arm=False)
    rems.set_defaults(handler=_remediations)

    rollback = sub.add_parser("rollback", help="apply a remediation's inverse patch (If-Match)")
    rollback.add_argument("remediation_id", metavar="REMEDIATION_ID")
    connection_flags(rollback, arm=True)
    rollback.set_defaults(handler=_rollback)

    demo = sub.add_parser("demo", help="run the demo on the embedded sample tenant")
    demo.set_defaults(handler=_demo)

    sim = sub.add_parser("sim", help="the simulated tenant (local ARM + Event Grid)")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True, metavar="SIM_COMMAND")
    serve = sim_sub.add_parser("serve", help="serve the simulated tenant over HTTPS")
    try:
        from sim.cli import add_arguments
    except ImportError:  # the simulated tenant is not shipped in the Functions package
        pass
    else:
        add_arguments(serve)
    serve.set_defaults(handler=_sim)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from shared.loader import InputError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except (InputError, UsageError) as exc:
        Console(stderr=True).print(f"[bold red]phiguard: error:[/] {exc}", highlight=False)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from azure.core.exceptions import ServiceRequestError

        if not isinstance(exc, ServiceRequestError):
            raise
        Console(stderr=True).print(
            f"[bold red]phiguard: error:[/] cannot connect: {exc.message}", highlight=False
        )
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
