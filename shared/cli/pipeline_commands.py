"""The commands of the event pipeline and the state store: ``scan`` (the daily sweep),
``replay`` (recorded Event Grid events through the handler) and ``status`` (stored findings)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.cli.exit_codes import IncompleteError, Outcome, UsageError
from shared.cli.report_commands import (
    describe,
    output_formats,
    selected_catalog,
    selection_from_args,
    write_output,
)
from shared.cli.services import app_context, resource_arg, settings_from_args, subscription_ids
from shared.kernel.resource_id import normalize
from shared.safe_text import console as make_console
from shared.safe_text import inert, markup, text

if TYPE_CHECKING:
    from shared.context import AppContext
    from shared.outcomes import BatchResult

# ``replay``: the longest line read (Event Grid deliveries are at most 1 MB).
MAX_EVENT_LINE = 16 * 1024 * 1024
# ``scan``: subscriptions swept at once.
PARALLEL_SWEEPS = 4
# The most severe failing findings a scan prints; the rest are counted. On a large estate the
# full list is thousands of table rows, which a terminal cannot show usefully and which took a
# tenth of a cold scan's wall time to render (bench.peers); `status` and --output have them all.
SCAN_ROWS = 50


def scan(args: argparse.Namespace) -> Outcome:
    from shared import report

    settings = settings_from_args(args)
    selection = selection_from_args(args, settings)
    chosen = selected_catalog(selection)
    formats = output_formats(args)
    subscriptions = subscription_ids(args.subscription, settings)
    if not subscriptions:
        raise UsageError("no subscription: pass --subscription ID or set PHIGUARD_SUBSCRIPTIONS")
    report_only = bool(getattr(args, "no_store", False))
    ctx = app_context(
        args,
        arm=True,
        subscriptions=subscriptions,
        settings=settings,
        selection=selection,
        report_only=report_only,
        sweeps=True,
    )
    console = make_console()
    unread: list[str] = []
    refused: list[str] = []
    results = _sweep_all(ctx, subscriptions, console)
    for subscription in subscriptions:
        result = results[subscription]
        unread += result.transient
        refused += [o.resource_id for o in result.outcomes if o.action == "poison"]
        deleted = result.count("deleted")
        console.print(
            text(
                f"{subscription}: {len(result.outcomes)} resources evaluated, "
                f"{result.count('recorded')} changed, "
                + (f"{deleted} found deleted, " if deleted else "")
                + f"{len(result.transient)} could not be read"
            )
        )
    rows = [
        r
        for r in _swept_findings(ctx, subscriptions, results)
        if selection.everything or _selected(r.check_id, chosen)
    ]
    report.render_stored(
        console,
        rows,
        limit=SCAN_ROWS,
        rest="`--output DIR` writes every finding"
        if report_only
        else "`phiguard status` lists them; `--output DIR` writes every finding",
    )
    write_output(args, formats, rows, describe(selection, chosen), settings.arm_url)
    outcome = Outcome.of_statuses(r.status for r in rows)
    if unread:
        outcome.incomplete.append(
            f"{len(unread)} resource(s) could not be read (throttling or errors); "
            "run the scan again to finish them"
        )
    if refused:
        outcome.incomplete.append(
            f"ARM refused to read {len(refused)} resource(s); they are recorded as poison"
        )
    return outcome


def _swept_findings(
    ctx: AppContext, subscriptions: Sequence[str], results: Mapping[str, BatchResult]
) -> list[Any]:
    """The stored findings of the swept subscriptions, as ``current(subscriptions=...)`` reads
    them: from what each record left in the store when every resource's is known, instead of
    reading the subscriptions back (a query over every row just written: a fifth of a cold
    scan's wall time in ``bench.peers``). A resource the sweep could not read or record, a list
    that failed, or a record another writer overtook leaves a gap only the store can fill: then
    the store is read back."""
    current: dict[str, Callable[[], list[Any]]] = {}
    for subscription in subscriptions:
        for outcome in results[subscription].outcomes:
            if outcome.current is None:
                return ctx.pipeline.store.current(subscriptions=subscriptions)
            current[normalize(outcome.resource_id)] = outcome.current
    found = [finding for findings in current.values() for finding in findings()]
    found.sort(key=lambda f: (normalize(f.resource_id), f.check_id))
    return found


def _sweep_all(ctx: AppContext, subscriptions: Sequence[str], console: Any) -> dict[str, Any]:
    """Sweeps the subscriptions side by side (:data:`PARALLEL_SWEEPS` at a time), each with its
    own progress bar: ARM paces reads per subscription, the partitions are disjoint, and one
    subscription's listing (a few sequential pages) overlaps another's recording."""
    from concurrent.futures import ThreadPoolExecutor

    from rich.progress import Progress

    from shared.pipeline import StoreUnavailableError

    pipeline = ctx.pipeline  # built here, once, not by the first of several threads
    with Progress(console=console, transient=True) as progress:
        tasks = {s: progress.add_task(f"sweeping {markup(s)}", total=None) for s in subscriptions}

        def sweep(subscription: str) -> Any:
            def advance(done: int, total: int) -> None:
                progress.update(tasks[subscription], completed=done, total=total)

            return pipeline.sweep(subscription, progress=advance, keep_current=True)

        workers = max(1, min(PARALLEL_SWEEPS, len(subscriptions)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="phiguard-scan") as pool:
            futures = {s: pool.submit(sweep, s) for s in subscriptions}
            results: dict[str, Any] = {}
            for subscription, future in futures.items():
                try:
                    results[subscription] = future.result()
                except StoreUnavailableError as exc:  # the store went away during the sweep
                    for other in futures.values():
                        other.cancel()
                    raise IncompleteError(str(exc)) from None
    return results


def event_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) of an NDJSON file; a usage error names the file and line of
    anything that is not UTF-8 JSON (a binary or compressed file, a truncated line)."""
    from shared.loader import InputError, parse_json

    try:
        handle = path.open("rb")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with handle:
        if handle.read(2) == b"\x1f\x8b":
            raise UsageError(f"{path}:1: gzip-compressed; decompress it first (gunzip)")
        handle.seek(0)
        number = 0
        while raw := handle.readline(MAX_EVENT_LINE + 1):
            number += 1
            if len(raw) > MAX_EVENT_LINE:
                raise UsageError(f"{path}:{number}: line longer than {MAX_EVENT_LINE} bytes")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UsageError(
                    f"{path}:{number}: not UTF-8 text (byte {exc.start + 1} of the line); "
                    "a binary or compressed file?"
                ) from None
            if number == 1:
                line = line.removeprefix("\ufeff")
            if not line.strip():
                continue
            try:
                yield number, parse_json(line, f"{path}:{number}")
            except InputError as exc:
                where = "" if exc.path == "$" else f" at {exc.path}"
                raise UsageError(f"{path}:{number}: {exc.message}{where}") from None


def replay(args: argparse.Namespace) -> Outcome:
    from shared.events import parse_delivery
    from shared.pipeline import RedeliverError

    if args.batch < 1:
        raise UsageError(f"--batch: {args.batch} must be at least 1")
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    for _ in event_lines(path):  # the whole file is checked before anything is replayed
        pass
    ctx = app_context(args, arm=True)
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

    for _, item in event_lines(path):
        events.extend(item if isinstance(item, list) else [item])
        if len(events) >= args.batch:
            flush()
    flush()
    summary = ", ".join(f"{k} {v}" for k, v in sorted(totals.items()))
    make_console().print(text(f"replayed {path}: {summary}"))
    outcome = Outcome()
    if retry:
        outcome.incomplete.append(f"{len(retry)} event(s) hit transient failures; replay again")
    if totals.get("poison"):
        outcome.incomplete.append(
            f"{totals['poison']} event(s) were malformed and recorded as poison, not applied"
        )
    return outcome


def status(args: argparse.Namespace) -> Outcome:
    import json

    from shared import report
    from shared.kernel.findings import Severity, Status
    from shared.state.model import INACTIVE_STATUSES

    status = args.status.strip().upper() if args.status else None
    known = {s.value for s in Status} | set(INACTIVE_STATUSES)
    if status is not None and status not in known:
        raise UsageError(
            f"--status: {inert(args.status)!r} is not one of {', '.join(sorted(known))}"
        )
    severity = args.severity.strip().upper() if args.severity else None
    if severity is not None and severity not in {s.value for s in Severity}:
        raise UsageError(
            f"--severity: {inert(args.severity)!r} is not one of "
            + ", ".join(s.value for s in Severity)
        )
    resource = resource_arg(args.resource) if args.resource else None
    settings = settings_from_args(args)
    selection = selection_from_args(args, settings)
    chosen = selected_catalog(selection)
    formats = output_formats(args)
    ctx = app_context(args, settings=settings, selection=selection)
    rows = [
        r
        for r in ctx.store.current(
            resource_id=resource, status=status, severity=severity, hipaa=args.hipaa_filter
        )
        if selection.everything or _selected(r.check_id, chosen)
    ]
    if args.format == "json":
        sys.stdout.write(json.dumps([r.to_json() for r in rows], indent=2, default=str) + "\n")
    elif args.format == "csv":
        sys.stdout.write(report.stored_csv(rows))
    elif args.format in ("ocsf", "html", "oscal"):
        from datetime import UTC, datetime

        from shared import report_files, report_oscal

        found = report_files.report_rows(rows)
        now = datetime.now(UTC)
        sys.stdout.write(
            report_files.ocsf_report(found, now, report_files.cloud_partition(settings.arm_url))
            if args.format == "ocsf"
            else report_oscal.oscal_report(found, now, describe(selection, chosen))
            if args.format == "oscal"
            else report_files.html_report(found, now, describe(selection, chosen))
        )
    else:
        report.render_stored(make_console(), rows, show_all=args.all)
    write_output(args, formats, rows, describe(selection, chosen), settings.arm_url)
    outcome = Outcome.of_statuses(r.status for r in rows)
    lapsed = _lapsed_mutes(ctx, rows)
    if lapsed:
        outcome.failing += len(lapsed)
        make_console(stderr=True).print(
            text(
                f"phiguard: {len(lapsed)} MUTED finding(s) whose mute rule has ended or was "
                "removed count as FAIL (the next evaluation records them so): "
                + "; ".join(lapsed[:5])
            ),
            soft_wrap=True,
        )
    if not rows and status is None and severity is None and args.hipaa_filter is None:
        where = f" for {inert(args.resource)}" if args.resource else ""
        outcome.incomplete.append(
            f"the state store has no findings{where}: nothing was judged (run `phiguard scan`)"
        )
    return outcome


def _selected(check_id: str, chosen: Mapping[str, object]) -> bool:
    """A stored row of a selected check, or phiguard's own processing-error row."""
    from shared.state.model import PROCESSING_CHECK

    return check_id in chosen or check_id == PROCESSING_CHECK


def _lapsed_mutes(ctx: Any, rows: Sequence[Any]) -> list[str]:
    """MUTED rows whose rule no longer holds (ended, removed, over PHIGUARD_MUTE_MAX_DAYS):
    they are failures until the next evaluation records them as FAIL."""
    from datetime import UTC, datetime

    from shared.kernel.findings import Status
    from shared.mutes import muted_by

    muted = [r for r in rows if r.status == Status.MUTED.value]
    if not muted:
        return []
    now = datetime.now(UTC)
    rules = {r.id: r for r in ctx.mutes.rules()}
    lapsed: list[str] = []
    for row in muted:
        rule = rules.get(muted_by(row.evidence) or "")
        if rule is None or not rule.holds(now, ctx.settings.mute_max_days):
            lapsed.append(f"{row.check_id} on {inert(row.resource_id)}")
    return lapsed
