"""The commands that need no service: ``evaluate`` and ``catalog``, and what ``plan PATH...``
plans offline."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from shared.cli.exit_codes import Outcome, UsageError
from shared.safe_text import console as make_console

# One fix shown by ``phiguard plan``: resource id, remediation id, mode, the summary and diff lines.
PlanPreview = tuple[str, str, str, list[str]]


def evaluate(args: argparse.Namespace) -> Outcome:
    from shared import iac, report
    from shared.cli.report_commands import (
        describe,
        output_formats,
        selected_catalog,
        selection_from_args,
        write_output,
    )
    from shared.config import Settings, SettingsError
    from shared.engine import Engine
    from shared.loader import load_documents

    try:
        # The same PHI scope as the app and `plan` (PHIGUARD_PHI_SUBSCRIPTIONS, ..._GROUPS, _TAGS).
        settings = Settings.from_env()
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    selection = selection_from_args(args, settings)
    chosen = selected_catalog(selection)
    formats = output_formats(args)
    # ARM templates and Bicep files are deployed offline and judged by the same engine.
    given = iac.split_inputs(args.paths)
    snapshots = load_documents(given.documents)
    engine = Engine.selected(selection, settings.phi_scope())
    evaluations = engine.evaluate_all(snapshots)
    if given.any_template:
        templated = iac.load(given)
        snapshots += templated
        evaluations += iac.evaluate(engine, templated)
    findings = report.all_findings(evaluations, engine.catalog)
    if args.format == "json":
        sys.stdout.write(report.findings_json(findings) + "\n")
    elif args.format == "csv":
        sys.stdout.write(report.findings_csv(findings))
    else:
        report.render_evaluations(make_console(), evaluations, show_passed=args.all)
    write_output(args, formats, findings, describe(selection, chosen), settings.arm_url)
    outcome = Outcome.of_statuses((f.status for f in findings), exit_zero=args.exit_zero)
    if not snapshots:
        outcome.incomplete.append(f"no resources found in {', '.join(args.paths)}")
    return outcome


def catalog(args: argparse.Namespace) -> Outcome:
    """The catalog, or the checks a selection picks (what ``scan`` with the same flags runs)."""
    from shared import report
    from shared.cli.report_commands import selected_catalog, selection_from_args

    chosen = selected_catalog(selection_from_args(args, None))
    if args.format == "json":
        sys.stdout.write(report.catalog_json(chosen) + "\n")
    elif args.format == "csv":
        sys.stdout.write(report.catalog_csv(chosen))
    elif args.format == "md":
        sys.stdout.write(report.catalog_markdown(chosen))
    else:
        report.render_catalog(make_console(), chosen)
    return Outcome()


def offline_previews(paths: Sequence[str]) -> tuple[list[PlanPreview], list[str]]:
    """The fixes of the failing checks of ARM documents read from ``paths``, planned with the
    settings of the environment (PHI scope, modes, the fixes' options), and the fixes that could
    not be planned."""
    from remediations import REMEDIATIONS
    from shared.config import Settings, SettingsError
    from shared.engine import Engine
    from shared.kernel.findings import Status
    from shared.loader import load_paths
    from shared.remediation.remediator import remediation_options

    previews: list[PlanPreview] = []
    problems: list[str] = []
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    engine = Engine(phi_scope=settings.phi_scope())
    options = remediation_options(settings)
    for snapshot in load_paths(paths):
        evaluation = engine.evaluate(snapshot)
        failing = {f.check_id for f in evaluation.findings if f.status == Status.FAIL}
        ids = {engine.catalog[c].remediation for c in failing} - {None}
        for rem_id in sorted(i for i in ids if i is not None):
            try:
                plan = REMEDIATIONS[rem_id].plan(snapshot, options)
            except ValueError as exc:
                problems.append(f"{rem_id} on {snapshot.id}")
                previews.append((snapshot.id, rem_id, "-", [f"cannot plan: {exc}"]))
                continue
            if plan is not None:
                mode = settings.remediation_mode or dict(settings.remediation_modes).get(
                    rem_id, REMEDIATIONS[rem_id].default_mode
                )
                previews.append((snapshot.id, rem_id, mode, [plan.summary, *plan.diff_lines()]))
    return previews, problems
