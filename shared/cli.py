"""``phiguard``: the command line. It drives the same engine as the Functions triggers.

Exit codes: 0 ok / no FAIL, 1 FAIL found, 2 bad usage or bad input (the message names the file
and the JSON path).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console

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
    return code


if __name__ == "__main__":
    sys.exit(main())
