"""The ``phiguard`` argument parser: every command, its flags and its handler."""

from __future__ import annotations

import argparse

from shared.cli import (
    access_commands,
    dev,
    evidence_commands,
    offline_commands,
    people_commands,
    pipeline_commands,
    remediation_commands,
    report_commands,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="phiguard",
        description="Continuous HIPAA compliance for Azure.",
        epilog="Exit codes: 0 nothing failing, 1 a FAIL, 2 usage or input error, 3 incomplete "
        "(a check could not judge, resources unread, a service unreachable); "
        "see docs/EXIT_CODES.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ev = sub.add_parser(
        "evaluate",
        help="evaluate ARM documents (files or directories) against the catalog",
        description="Reads ARM GET bodies, list bodies, x-ms-examples files, snapshot and estate "
        "files, ARM templates and Bicep files (before deployment: each declared resource as ARM "
        "will return it; <template>.parameters.json beside it is read), and directories of them; "
        "prints findings.",
    )
    ev.add_argument("paths", nargs="+", metavar="PATH")
    ev.add_argument("--format", choices=("table", "json", "csv"), default="table")
    ev.add_argument(
        "--all", action="store_true", help="table: every finding, PASS and NOT_ASSESSED too"
    )
    ev.add_argument(
        "--exit-zero",
        action="store_true",
        help="findings never set the exit code (FAIL, ERROR, NOT_ASSESSED); "
        "input errors (2) and a run that found nothing (3) still do",
    )
    report_commands.add_selection_flags(ev)
    report_commands.add_output_flags(ev)
    ev.set_defaults(handler=offline_commands.evaluate)

    cat = sub.add_parser("catalog", help="list every check with its metadata")
    cat.add_argument("--format", choices=("table", "json", "csv", "md"), default="table")
    report_commands.add_selection_flags(cat)
    cat.set_defaults(handler=offline_commands.catalog)

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
    report_commands.add_selection_flags(scan)
    report_commands.add_output_flags(scan)
    scan.add_argument(
        "--no-store",
        action="store_true",
        help="report only: keep the findings in memory for the report and --output, write "
        "nothing to the state store, fix nothing and notify no one (mute rules are still read "
        "when a store is configured)",
    )
    scan.set_defaults(handler=pipeline_commands.scan)

    replay = sub.add_parser("replay", help="feed recorded Event Grid events through the handler")
    replay.add_argument("file", metavar="FILE.ndjson")
    replay.add_argument("--batch", type=int, default=50, help="events per delivery (default 50)")
    connection_flags(replay, arm=True)
    replay.set_defaults(handler=pipeline_commands.replay)

    status = sub.add_parser("status", help="current findings from the state store")
    status.add_argument(
        "--format", choices=("table", "json", "csv", "ocsf", "html", "oscal"), default="table"
    )
    status.add_argument(
        "--all", action="store_true", help="table: every row, not only FAIL and ERROR"
    )
    status.add_argument("--resource", help="one resource id")
    status.add_argument(
        "--status", help="PASS, FAIL, ERROR, NOT_ASSESSED, NOT_APPLICABLE, CLOSED, ..."
    )
    status.add_argument("--severity")
    status.add_argument("--hipaa", dest="hipaa_filter", help="citation or prefix, e.g. 164.312(b)")
    connection_flags(status, arm=False)
    report_commands.add_selection_flags(status, status=True)
    report_commands.add_output_flags(status)
    status.set_defaults(handler=pipeline_commands.status)

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
    plan.set_defaults(handler=remediation_commands.plan)

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
    rems.set_defaults(handler=remediation_commands.show_remediations)

    rollback = sub.add_parser("rollback", help="apply a remediation's inverse patch (If-Match)")
    rollback.add_argument("remediation_id", metavar="REMEDIATION_ID")
    connection_flags(rollback, arm=True)
    rollback.set_defaults(handler=remediation_commands.rollback)

    remediate = sub.add_parser(
        "remediate",
        help="plan and, where allowed, apply the safe fixes of resources already failing",
    )
    remediate.add_argument(
        "--subscription",
        action="append",
        metavar="ID",
        help="every resource the state store has failing there (repeatable)",
    )
    remediate.add_argument("--resource", action="append", metavar="ID", help="(repeatable)")
    connection_flags(remediate, arm=True)
    remediate.set_defaults(handler=remediation_commands.remediate_failing)

    exempt = sub.add_parser(
        "exempt",
        help="table exemptions of a fix or check on one resource (stop the fix, keep the finding)",
    )
    exempt.add_argument("resource_id", metavar="RESOURCE_ID")
    exempt.add_argument(
        "--target", action="append", metavar="ID", help="remediation or check id (repeatable)"
    )
    exempt.add_argument("--until", metavar="YYYY-MM-DD", help="last day the exemption holds")
    exempt.add_argument("--approver", metavar="WHO", help="who approved it (UPN or email)")
    exempt.add_argument("--reason", metavar="WHY", help="the justification, for the auditor")
    exempt.add_argument("--list", action="store_true", help="list the resource's exemptions")
    exempt.add_argument("--remove", action="store_true", help="remove the --target exemptions")
    connection_flags(exempt, arm=False)
    exempt.set_defaults(handler=remediation_commands.exempt)
    report_commands.add_mute_parser(sub, connection_flags)

    notify = sub.add_parser(
        "notify",
        help="send a test message or the digest through the configured channels",
        description="Enqueues the message in the outbox and runs the dispatcher once: the same "
        "path as the timers. Channels come from the PHIGUARD_TEAMS_* / EMAIL / ACS / SMTP "
        "settings.",
    )
    notify.add_argument("--test", action="store_true", help="a test message (no resource data)")
    notify.add_argument("--digest", action="store_true", help="the digest of the period now")
    notify.add_argument(
        "--channel", action="append", choices=("teams", "email"), help="only this channel"
    )
    notify.add_argument("--note", help="a line of text for the test message")
    connection_flags(notify, arm=False)
    notify.set_defaults(handler=people_commands.notify)

    issues = sub.add_parser("issues", help="the GitHub / Azure DevOps issues phiguard keeps")
    issues_sub = issues.add_subparsers(dest="issues_command", required=True, metavar="ACTION")
    sync = issues_sub.add_parser(
        "sync",
        help="reconcile the trackers with the current state: open what fails, close what passes",
    )
    sync.add_argument(
        "--no-send", action="store_true", help="only enqueue the operations (the timer sends)"
    )
    connection_flags(sync, arm=False)
    sync.set_defaults(handler=people_commands.issues)

    box = sub.add_parser("outbox", help="messages and issue operations pending or dead-lettered")
    box.add_argument("--retry", action="store_true", help="make every dead letter pending again")
    box.add_argument("--send", action="store_true", help="run the dispatcher once now")
    box.add_argument("--format", choices=("table", "json"), default="table")
    connection_flags(box, arm=False)
    box.set_defaults(handler=people_commands.outbox)
    access_commands.add_parser(sub)

    evidence = sub.add_parser("evidence", help="the write-once evidence container")
    evidence_sub = evidence.add_subparsers(dest="evidence_command", required=True, metavar="ACTION")
    export = evidence_sub.add_parser(
        "export",
        help="copy each day's history and remediation log to the evidence container",
        description="Exports every full UTC day of the last --days without a manifest (the "
        "timer's run), or --day again; blobs are created, never overwritten.",
    )
    export.add_argument("--day", metavar="YYYY-MM-DD", help="this day (again)")
    export.add_argument("--days", type=int, default=7, help="days looked back (default 7)")
    connection_flags(export, arm=False)
    export.set_defaults(handler=evidence_commands.export)

    demo = sub.add_parser("demo", help="run the demo on the embedded sample tenant")
    demo.set_defaults(handler=dev.demo)

    sim = sub.add_parser("sim", help="the simulated tenant (local ARM + Event Grid)")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True, metavar="SIM_COMMAND")
    serve = sim_sub.add_parser("serve", help="serve the simulated tenant over HTTPS")
    dev.add_sim_arguments(serve)
    serve.set_defaults(handler=dev.sim_serve)
    return parser
