"""The commands of the people side: ``notify`` (a test message, the digest), ``issues sync`` and
``outbox`` (what is pending or dead-lettered; retry; send now)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from shared.cli.exit_codes import Outcome, UsageError
from shared.cli.services import app_context
from shared.safe_text import console as make_console
from shared.safe_text import markup, text

MAX_NOTE = 500  # a line for the test message, not a document

if TYPE_CHECKING:
    from shared.context import AppContext
    from shared.outbox.dispatcher import DispatchReport
    from shared.outbox.model import OutboxItem


def _people(args: argparse.Namespace) -> AppContext:
    """The context, with the notification and tracker settings read now: a bad one is a usage
    error naming it."""
    ctx = app_context(args)
    if ctx.people_error is not None:
        raise UsageError(ctx.people_error)
    return ctx


def _dispatch_line(report: DispatchReport) -> str:
    by = ", ".join(f"{k} {v}" for k, v in sorted(report.by_channel.items())) or "nothing"
    return (
        f"outbox: sent {report.sent} ({by}), retrying {report.retried}, "
        f"dead-lettered {report.dead}, left for later {report.skipped}"
    )


def notify(args: argparse.Namespace) -> Outcome:
    from shared.messaging import dispatch, enqueue_digest, enqueue_test
    from shared.outbox.model import Channel, ItemStatus

    if not args.test and not args.digest:
        raise UsageError("say what to send: --test (a test message) or --digest")
    if args.note is not None and len(args.note) > MAX_NOTE:
        raise UsageError(f"--note: at most {MAX_NOTE} characters, got {len(args.note)}")
    ctx = _people(args)
    console = make_console()
    outcome = Outcome()
    if not ctx.notifiers:
        raise UsageError(
            "no notification channel is configured: set PHIGUARD_TEAMS_WEBHOOK_URL, or "
            "PHIGUARD_EMAIL_SENDER with PHIGUARD_ACS_* or PHIGUARD_SMTP_HOST (README, Channels)"
        )
    channels = tuple(Channel(c) for c in (args.channel or []))
    missing = [c.value for c in channels if c not in ctx.notifiers]
    if missing:
        raise UsageError(f"--channel {missing[0]} is not configured")
    test_keys = enqueue_test(ctx, channels, note=args.note or "") if args.test else {}
    if args.digest:
        count = enqueue_digest(ctx)
        console.print(
            text(
                f"digest: enqueued on {count} channel(s)"
                if count
                else "digest: nothing happened in the period, nothing to send"
            )
        )
    report = dispatch(ctx)
    console.print(text(_dispatch_line(report)))
    for channel, key in test_keys.items():
        item = ctx.outbox.get(channel, key)
        if item is not None and item.status is ItemStatus.SENT:
            console.print(text(f"{channel.value}: test message delivered ({item.receipt[:120]})"))
        else:
            error = str(item.last_error) if item and item.last_error else "not sent yet"
            console.print(text(f"{channel.value}: test message NOT delivered: {error}", "red"))
            outcome.incomplete.append(f"the {channel.value} test message was not delivered")
    return outcome


def issues(args: argparse.Namespace) -> Outcome:
    from shared.messaging import dispatch, sync_issues

    ctx = _people(args)
    console = make_console()
    if ctx.trackers is None:
        raise UsageError("no issue tracker is configured: set PHIGUARD_ISSUES_ROUTES (README)")
    report = sync_issues(ctx)
    console.print(
        text(
            f"issues sync: {report.opened} to open or reopen, {report.closed} to close, "
            f"{report.unchanged} open and still failing"
        )
    )
    for reason in report.skipped[:20]:
        console.print(text(f"  left alone: {reason}"))
    outcome = Outcome()
    if not args.no_send:
        sent = dispatch(ctx)
        console.print(text(_dispatch_line(sent)))
        if sent.dead:
            outcome.incomplete.append(f"{sent.dead} issue operation(s) dead-lettered")
    return outcome


def _row(item: OutboxItem) -> dict[str, Any]:
    return {
        "channel": item.channel.value,
        "kind": item.kind.value,
        "status": item.status.value,
        "key": item.key,
        "attempts": item.attempts,
        "created_at": item.created_at.isoformat(),
        "not_before": item.not_before.isoformat() if item.not_before else None,
        "last_error": str(item.last_error) if item.last_error else None,
        "receipt": item.receipt or None,
    }


def outbox(args: argparse.Namespace) -> Outcome:
    from rich.table import Table

    from shared.messaging import dispatch

    ctx = _people(args)
    console = make_console()
    box = ctx.outbox
    if args.retry:
        revived = [box.revive(item) for item in box.dead()]
        console.print(text(f"outbox: {len(revived)} dead letter(s) made pending again"))
    if args.send:
        console.print(text(_dispatch_line(dispatch(ctx))))
    pending, dead = box.pending(), box.dead()
    rows = [_row(i) for i in sorted(dead + pending, key=lambda i: i.created_at)]
    if args.format == "json":
        print(json.dumps({"pending": len(pending), "dead": len(dead), "items": rows}, indent=2))
    else:
        console.print(text(f"outbox: {len(pending)} pending, {len(dead)} dead-lettered"))
        if rows:
            table = Table(header_style="bold")
            for column in ("Status", "Channel", "Kind", "Attempts", "Next try", "Last error"):
                table.add_column(column, overflow="fold")
            for row in rows[:200]:
                table.add_row(
                    markup(row["status"]),
                    markup(row["channel"]),
                    markup(row["kind"]),
                    str(row["attempts"]),
                    markup(row["not_before"] or "-"),
                    markup(row["last_error"] or ""),
                )
            console.print(table)
    outcome = Outcome()
    if dead:
        outcome.incomplete.append(
            f"{len(dead)} outbox item(s) dead-lettered: fix the cause, then `phiguard outbox "
            "--retry --send`"
        )
    return outcome
