"""``phiguard evidence export``: the daily evidence export, run by hand (a missed day, a check)."""

from __future__ import annotations

import argparse
from datetime import date

from shared.cli.exit_codes import Outcome, UsageError
from shared.cli.services import app_context
from shared.safe_text import console as make_console
from shared.safe_text import text


def export(args: argparse.Namespace) -> Outcome:
    from shared.evidence import export as run_export

    day: date | None = None
    if args.day is not None:
        try:
            day = date.fromisoformat(args.day)
        except ValueError:
            raise UsageError(f"--day: {args.day[:40]!r} is not a date (YYYY-MM-DD)") from None
    if not 1 <= args.days <= 366:
        raise UsageError(f"--days: {args.days} is not between 1 and 366")
    ctx = app_context(args)
    try:
        results = run_export(ctx, day=day, days=args.days)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    console = make_console()
    container = ctx.settings.evidence_container
    if not results:
        console.print(text(f"evidence: every day of the last {args.days} is exported already"))
    for result in results:
        state = "unchanged" if result.unchanged else f"{len(result.written)} blob(s) written"
        console.print(
            text(
                f"{result.day}: {result.counts.get('history', 0)} transitions, "
                f"{result.counts.get('remediations', 0)} remediation records → "
                f"{container}/{result.files['manifest']} ({state})"
            )
        )
    return Outcome()
