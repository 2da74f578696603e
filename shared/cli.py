"""``phiguard``: the command line. It drives the same engine as the Functions triggers.

Exit codes (docs/EXIT_CODES.md), the same for every command and computed in one place,
:func:`exit_code`; when several apply the highest-precedence one wins, 2 > 3 > 1 > 0:

* 0 — nothing failing, and everything in scope was judged;
* 1 — at least one check FAILs;
* 2 — usage or input error: the message names the file and JSON path, or the flag / setting;
* 3 — incomplete: a check could not judge (ERROR, NOT_ASSESSED), resources could not be read,
  no resources were found, a subscription is unknown, the state store or ARM is unreachable,
  or phiguard itself failed unexpectedly (one line on stderr, never a traceback);
* 130 — interrupted (Ctrl-C); 141 — stdout closed early (``phiguard ... | head``).

Everything printed for people is terminal-safe (``shared.safe_text``): names, tags, reasons and
evidence from Azure are shown as data, never interpreted as Rich markup or terminal escapes.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from rich.text import Text

from shared.safe_text import console as make_console
from shared.safe_text import inert, markup, one_line, text

if TYPE_CHECKING:
    from rich.console import Console

    from shared.arm_reader import ArmReader
    from shared.config import Settings
    from shared.context import AppContext

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141

# The preflight probes of the state store and ARM: one attempt each, this long at most, so an
# unreachable service is reported in seconds instead of after every resource's retries.
PROBE_SECONDS = 5.0
# ``replay``: the longest line read (Event Grid deliveries are at most 1 MB).
MAX_EVENT_LINE = 16 * 1024 * 1024
_TABLE_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9]{0,55}")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class UsageError(Exception):
    """Bad usage or bad input; printed without a traceback, exit code 2."""


class IncompleteError(Exception):
    """The command could not do its work: a service unreachable, a subscription unknown; exit 3."""


@dataclass
class Outcome:
    """What a command found, for :func:`exit_code`.

    ``failing`` counts FAIL findings (exit 1). ``unjudged`` counts findings of checks that could
    not judge, ERROR and NOT_ASSESSED (exit 3). ``incomplete`` says why the run itself is
    incomplete (exit 3, always). ``exit_zero`` (``evaluate --exit-zero``) lets the findings never
    set the code, the run's own problems still do. ``code`` is a code a command decided itself
    (``sim serve``).
    """

    failing: int = 0
    unjudged: dict[str, int] = field(default_factory=dict)
    incomplete: list[str] = field(default_factory=list)
    exit_zero: bool = False
    code: int | None = None

    @classmethod
    def of_statuses(cls, statuses: Iterable[str], **kwargs: Any) -> Outcome:
        from shared.kernel.findings import Status

        outcome = cls(**kwargs)
        for status in statuses:
            if status == Status.FAIL:
                outcome.failing += 1
            elif status in (Status.ERROR, Status.NOT_ASSESSED):
                outcome.unjudged[str(status)] = outcome.unjudged.get(str(status), 0) + 1
        return outcome


def exit_code(outcome: Outcome | None = None, error: BaseException | None = None) -> int:
    """The exit code of every command: from the exception that ended it, else its outcome.
    Precedence 2 > 3 > 1 > 0."""
    if error is not None:
        from shared.loader import InputError

        if isinstance(error, UsageError | InputError):
            return EXIT_USAGE
        if isinstance(error, KeyboardInterrupt):
            return EXIT_INTERRUPTED
        if isinstance(error, BrokenPipeError):
            return EXIT_BROKEN_PIPE
        return EXIT_INCOMPLETE
    if outcome is None:
        return EXIT_OK
    if outcome.code is not None:
        return outcome.code
    if outcome.incomplete:
        return EXIT_INCOMPLETE
    if outcome.exit_zero:
        return EXIT_OK
    if outcome.unjudged:
        return EXIT_INCOMPLETE
    return EXIT_FAIL if outcome.failing else EXIT_OK


# --- evaluate and catalog (offline) -------------------------------------------------------------


def _evaluate(args: argparse.Namespace) -> Outcome:
    from shared import report
    from shared.engine import Engine
    from shared.loader import load_paths

    snapshots = load_paths(args.paths)
    evaluations = Engine().evaluate_all(snapshots)
    findings = report.all_findings(evaluations)
    if args.format == "json":
        sys.stdout.write(report.findings_json(findings) + "\n")
    elif args.format == "csv":
        sys.stdout.write(report.findings_csv(findings))
    else:
        report.render_evaluations(make_console(), evaluations, show_passed=args.all)
    outcome = Outcome.of_statuses((f.status for f in findings), exit_zero=args.exit_zero)
    if not snapshots:
        outcome.incomplete.append(f"no resources found in {', '.join(args.paths)}")
    return outcome


def _catalog(args: argparse.Namespace) -> Outcome:
    from checks import CATALOG
    from shared import report

    if args.format == "json":
        sys.stdout.write(report.catalog_json(CATALOG) + "\n")
    elif args.format == "csv":
        sys.stdout.write(report.catalog_csv(CATALOG))
    elif args.format == "md":
        sys.stdout.write(report.catalog_markdown(CATALOG))
    else:
        report.render_catalog(make_console(), CATALOG)
    return Outcome()


# --- settings and the preflight probes ----------------------------------------------------------


def _settings(args: argparse.Namespace) -> Settings:
    """Settings from the environment, with the command's flags on top; bad values are usage
    errors naming the setting or flag."""
    from shared.config import Settings, SettingsError

    arm_url = getattr(args, "arm_url", None)
    if arm_url is not None and not arm_url.startswith("https://"):
        raise UsageError(
            f"--arm-url: {inert(arm_url)!r} must be an https:// URL "
            "(bearer tokens are never sent over plain http)"
        )
    try:
        settings = Settings.from_env().with_overrides(
            arm_url=arm_url.rstrip("/") if arm_url else None,
            ca_cert=getattr(args, "ca_cert", None),
            storage_connection_string=getattr(args, "storage_connection_string", None),
        )
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    if settings.ca_cert is not None and not Path(settings.ca_cert).is_file():
        raise UsageError(f"--ca-cert: no such file {settings.ca_cert!r}")
    return settings


def _context(
    args: argparse.Namespace,
    *,
    arm: bool = False,
    subscriptions: Sequence[str] = (),
    settings: Settings | None = None,
) -> AppContext:
    """The composition root for a command that uses the state store (and ARM with ``arm``),
    after probing them: exit 3 within seconds when one is unreachable."""
    from shared.config import SettingsError
    from shared.context import AppContext, reset_app_context

    settings = settings or _settings(args)
    try:
        settings.require_storage()
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    if not _TABLE_PREFIX.fullmatch(settings.table_prefix):
        raise UsageError(
            f"PHIGUARD_TABLE_PREFIX: {inert(settings.table_prefix)!r} must be 1-56 letters and "
            "digits, starting with a letter"
        )
    _probe_store(settings, flag=getattr(args, "storage_connection_string", None) is not None)
    if arm:
        _probe_arm(settings, subscriptions, flag=getattr(args, "arm_url", None) is not None)
    context = AppContext(settings)
    reset_app_context(context)
    return context


def connection_string_problem(value: str) -> str | None:
    """What is wrong with a storage connection string's shape, never quoting it (it holds a
    key); None when it has the parts a Tables client needs."""
    pairs: dict[str, str] = {}
    for part in (p.strip() for p in value.split(";")):
        if not part:
            continue
        key, sep, val = part.partition("=")
        if not sep or not key.strip():
            return "expected `Name=value;` pairs"
        pairs[key.strip().lower()] = val.strip()
    if pairs.get("usedevelopmentstorage", "").lower() == "true":
        return None
    if not pairs.get("accountkey") and not pairs.get("sharedaccesssignature"):
        return "no AccountKey or SharedAccessSignature"
    if not pairs.get("accountname") and not pairs.get("tableendpoint"):
        return "no AccountName or TableEndpoint"
    return None


def _probe_store(settings: Settings, *, flag: bool) -> None:
    """One short request to the state store: a usage error for a malformed setting, an
    :class:`IncompleteError` naming the endpoint when it cannot be reached or refuses us."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )
    from azure.data.tables import TableServiceClient

    from shared.http import transport

    http = transport(timeout_seconds=PROBE_SECONDS, pool_size=1)
    if settings.storage_connection_string:
        setting = "--storage-connection-string" if flag else "PHIGUARD_STORAGE_CONNECTION_STRING"
        problem = connection_string_problem(settings.storage_connection_string)
        if problem is not None:
            raise UsageError(f"{setting}: not a storage connection string: {problem}")
        try:
            client = TableServiceClient.from_connection_string(
                settings.storage_connection_string, transport=http, retry_total=0
            )
        except (ValueError, TypeError) as exc:
            raise UsageError(
                f"{setting}: not a valid storage connection string ({one_line(exc)})"
            ) from None
    else:
        from shared.credentials import storage_credential

        setting = "PHIGUARD_STORAGE_ACCOUNT_URL"
        url = str(settings.storage_account_url)
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
            raise UsageError(f"{setting}: {inert(url)!r} is not an https:// table endpoint")
        try:
            client = TableServiceClient(
                endpoint=url,
                credential=storage_credential(settings),
                transport=http,
                retry_total=0,
            )
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{setting}: {one_line(exc)}") from None
    found = urlsplit(client.url)
    endpoint = f"{found.scheme}://{found.netloc}{found.path}"  # never the query (a SAS)
    try:
        pages = client.query_tables(
            "TableName eq @name",
            parameters={"name": f"{settings.table_prefix}state"},
            results_per_page=1,
        )
        next(iter(pages), None)
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise IncompleteError(
            f"state store unreachable at {endpoint} ({setting}): {_cause(exc)}"
        ) from None
    except ClientAuthenticationError as exc:
        raise IncompleteError(
            f"state store at {endpoint} ({setting}) refused access: {_cause(exc)}"
        ) from None
    except HttpResponseError as exc:
        status = exc.status_code or 0
        if status in (401, 403) or status >= 500:
            raise IncompleteError(
                f"state store at {endpoint} ({setting}) answered HTTP {status}: {_cause(exc)}"
            ) from None
        # Any other answer: the store is there; the command's own requests will tell more.
    finally:
        client.close()


def _probe_arm(settings: Settings, subscriptions: Sequence[str], *, flag: bool) -> None:
    """One short GET per subscription (or of ``/subscriptions``): ARM unreachable, refusing or
    not knowing a subscription is an :class:`IncompleteError` naming the endpoint."""
    from shared.arm_reader import ArmReader
    from shared.credentials import arm_credential

    setting = "--arm-url" if flag else "PHIGUARD_ARM_URL"
    endpoint = settings.arm_url
    reader = ArmReader(
        endpoint,
        arm_credential(settings),
        ca_cert=settings.ca_cert,
        max_retries=0,
        retry_budget_seconds=PROBE_SECONDS,
        timeout_seconds=PROBE_SECONDS,
        pool_size=1,
    )
    try:
        _probe_subscriptions(reader, endpoint, setting, subscriptions)
    finally:
        # The probe's own connection pool (ArmReader has no close() of its own yet).
        client = getattr(reader, "_client", None)
        if client is not None:
            client.close()


def _probe_subscriptions(
    reader: ArmReader, endpoint: str, setting: str, subscriptions: Sequence[str]
) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    from shared.arm_reader import ArmError, TransientArmError
    from shared.kernel import api_versions

    version = api_versions.for_type("microsoft.resources/subscriptions")
    targets: list[str | None] = list(subscriptions) or [None]
    for subscription in targets:
        path = f"/subscriptions/{subscription}" if subscription else "/subscriptions"
        try:
            found = reader.get(path, version, "probe")
        except TransientArmError as exc:
            raise IncompleteError(
                f"ARM unreachable at {endpoint} ({setting}): {_cause(exc)}"
            ) from None
        except ClientAuthenticationError as exc:
            raise IncompleteError(f"no token for ARM at {endpoint}: {_cause(exc)}") from None
        except ArmError as exc:
            if subscription is None:
                continue  # ARM answered: it is reachable
            raise IncompleteError(
                f"subscription {subscription}: ARM at {endpoint} refused it: {_cause(exc)}"
            ) from None
        if subscription is not None and found is None:
            raise IncompleteError(
                f"subscription {subscription} not found at {endpoint} (ARM answered 404)"
            )


def _cause(exc: BaseException) -> str:
    """An exception's message on one line, for a probe's error (azure-core's are long)."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return one_line(message, limit=300)


def _resource_arg(value: str, flag: str = "--resource") -> str:
    """A resource id given on the command line, refused (2) unless ARM could have returned it."""
    from shared.kernel.resource_id import ResourceIdError, parse
    from shared.loader import id_problem

    problem = id_problem(value)
    if problem is None:
        try:
            parse(value)
        except ResourceIdError as exc:
            problem = str(exc)
    if problem is not None:
        raise UsageError(f"{flag}: {inert(problem)}")
    return value


def _subscriptions(given: Sequence[str] | None, settings: Settings | None) -> list[str]:
    """Subscription ids from ``--subscription`` (else the settings), each a GUID."""
    source = "--subscription" if given else "PHIGUARD_SUBSCRIPTIONS"
    found = list(given or (settings.subscriptions if settings else ()))
    for subscription in found:
        if not _GUID.fullmatch(subscription.strip()):
            raise UsageError(f"{source}: {inert(subscription)!r} is not a subscription id (a GUID)")
    unique = {s.strip().lower(): s.strip() for s in reversed(found)}  # first spelling kept
    return [unique[k] for k in dict.fromkeys(s.strip().lower() for s in found)]


# --- pipeline commands ------------------------------------------------------------------------


def _scan(args: argparse.Namespace) -> Outcome:
    from rich.progress import Progress

    from shared import report
    from shared.pipeline import StoreUnavailableError

    settings = _settings(args)
    subscriptions = _subscriptions(args.subscription, settings)
    if not subscriptions:
        raise UsageError("no subscription: pass --subscription ID or set PHIGUARD_SUBSCRIPTIONS")
    ctx = _context(args, arm=True, subscriptions=subscriptions, settings=settings)
    console = make_console()
    unread: list[str] = []
    refused: list[str] = []
    for subscription in subscriptions:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"sweeping {markup(subscription)}", total=None)

            def advance(done: int, total: int, task: Any = task, progress: Any = progress) -> None:
                progress.update(task, completed=done, total=total)

            try:
                result = ctx.pipeline.sweep(subscription, progress=advance)
            except StoreUnavailableError as exc:  # the store went away during the sweep
                raise IncompleteError(str(exc)) from None
        unread += result.transient
        refused += [o.resource_id for o in result.outcomes if o.action == "poison"]
        console.print(
            text(
                f"{subscription}: {len(result.outcomes)} resources evaluated, "
                f"{result.count('recorded')} changed, {len(result.transient)} could not be read"
            )
        )
    prefixes = tuple(f"/subscriptions/{s.lower()}/" for s in subscriptions)
    rows = [r for r in ctx.store.current() if (r.resource_id.lower() + "/").startswith(prefixes)]
    report.render_stored(console, rows)
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


def _event_lines(path: Path) -> Iterator[tuple[int, Any]]:
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


def _replay(args: argparse.Namespace) -> Outcome:
    from shared.events import parse_delivery
    from shared.pipeline import RedeliverError

    if args.batch < 1:
        raise UsageError(f"--batch: {args.batch} must be at least 1")
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    for _ in _event_lines(path):  # the whole file is checked before anything is replayed
        pass
    ctx = _context(args, arm=True)
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

    for _, item in _event_lines(path):
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


def _status(args: argparse.Namespace) -> Outcome:
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
    resource = _resource_arg(args.resource) if args.resource else None
    ctx = _context(args)
    rows = ctx.store.current(
        resource_id=resource, status=status, severity=severity, hipaa=args.hipaa
    )
    if args.format == "json":
        sys.stdout.write(json.dumps([r.to_json() for r in rows], indent=2, default=str) + "\n")
    elif args.format == "csv":
        sys.stdout.write(report.stored_csv(rows))
    else:
        report.render_stored(make_console(), rows, show_all=args.all)
    outcome = Outcome.of_statuses(r.status for r in rows)
    if not rows and status is None and severity is None and args.hipaa is None:
        where = f" for {inert(args.resource)}" if args.resource else ""
        outcome.incomplete.append(
            f"the state store has no findings{where}: nothing was judged (run `phiguard scan`)"
        )
    return outcome


# --- remediation commands ---------------------------------------------------------------------


def _plan(args: argparse.Namespace) -> Outcome:
    """What the remediations would change, as a readable diff; never writes."""
    from remediations import REMEDIATIONS
    from shared.config import Settings, SettingsError
    from shared.engine import Engine
    from shared.kernel.findings import Status
    from shared.loader import load_paths
    from shared.remediation import remediation_options

    console = make_console()
    previews: list[tuple[str, str, str, list[str]]] = []  # resource, remediation, mode, lines
    problems: list[str] = []
    if args.paths:
        try:
            settings = Settings.from_env()
        except SettingsError as exc:
            raise UsageError(str(exc)) from None
        engine = Engine(phi_scope=settings.phi_scope())
        options = remediation_options(settings)
        for snapshot in load_paths(args.paths):
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
    else:
        targets = [_resource_arg(r) for r in args.resource or []]
        settings = _settings(args)
        subscriptions = _subscriptions(args.subscription, None) if args.subscription else []
        if not targets and not subscriptions:
            raise UsageError("give PATH... to plan offline, or --resource / --subscription")
        ctx = _context(args, arm=True, subscriptions=subscriptions, settings=settings)
        if subscriptions:
            # The resources the store knows to be failing there (from sweeps and events).
            prefixes = tuple(f"/subscriptions/{s.lower()}/" for s in subscriptions)
            failing_rows = ctx.store.current(status="FAIL")
            targets += sorted(
                {r.resource_id for r in failing_rows if r.resource_id.lower().startswith(prefixes)}
            )
        for resource_id in targets:
            for p in ctx.remediator.preview(resource_id):
                lines = [p.plan.summary, *p.plan.diff_lines()] if p.plan else [f"{p.error}"]
                if p.plan is None:
                    problems.append(f"{p.remediation_id} on {resource_id}")
                mode = p.mode + ("" if p.allowed else ", not allow-listed")
                previews.append((resource_id, p.remediation_id, mode, lines))
    if not previews:
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
    if problems:
        outcome.incomplete.append(
            f"{len(problems)} fix(es) could not be planned: " + "; ".join(problems[:5])
        )
    return outcome


def _remediations(args: argparse.Namespace) -> Outcome:
    import json

    if args.permissions:
        from remediations import permissions

        for action in permissions():
            print(inert(action))
        return Outcome()
    if args.days < 1 or args.limit < 1:
        raise UsageError("--days and --limit must be at least 1")
    resource = _resource_arg(args.resource) if args.resource else None
    ctx = _context(args)
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


def _rollback(args: argparse.Namespace) -> Outcome:
    from shared.remediation import RollbackRefused
    from shared.remediation_log import RecordNotFound

    ctx = _context(args, arm=True)
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


def _remediate(args: argparse.Namespace) -> Outcome:
    """Catch-up: plan and, where allowed, apply the safe fixes of resources already failing."""
    from shared.operations import failing_resources, remediate

    settings = _settings(args)
    subscriptions = _subscriptions(args.subscription, None) if args.subscription else []
    targets = [_resource_arg(r) for r in args.resource or []]
    if not subscriptions and not targets:
        raise UsageError("give --subscription ID or --resource ID")
    ctx = _context(args, arm=True, subscriptions=subscriptions, settings=settings)
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
    still = [r for r in report.records if r.status not in ("VERIFIED",)]
    return Outcome(
        failing=len(still),
        incomplete=[f"{len(report.unreadable)} resource(s) could not be read"]
        if report.unreadable
        else [],
    )


def _exempt(args: argparse.Namespace) -> Outcome:
    """Table exemptions: add (with the operator's identity), list, remove."""
    from shared.operations import add_exemption
    from shared.remediation import ExemptionError

    resource = _resource_arg(args.resource_id, "RESOURCE_ID")
    ctx = _context(args)
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


def _demo(args: argparse.Namespace) -> Outcome:
    from shared.demo import run_demo

    code = run_demo(make_console(), args)
    return Outcome() if code == EXIT_OK else Outcome(incomplete=["the demo did not complete"])


def _sim(args: argparse.Namespace) -> Outcome:
    from sim.cli import run

    return Outcome(code=int(run(args)))


# --- the parser and main ------------------------------------------------------------------------


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
        "files, and directories of them; prints findings.",
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
    status.add_argument("--format", choices=("table", "json", "csv"), default="table")
    status.add_argument(
        "--all", action="store_true", help="table: every row, not only FAIL and ERROR"
    )
    status.add_argument("--resource", help="one resource id")
    status.add_argument(
        "--status", help="PASS, FAIL, ERROR, NOT_ASSESSED, NOT_APPLICABLE, CLOSED, ..."
    )
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
    remediate.set_defaults(handler=_remediate)

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
    exempt.set_defaults(handler=_exempt)

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


class _InertStderrHandler(logging.Handler):
    """Warnings of phiguard and the SDKs during a command: one inert line each on the current
    ``sys.stderr`` (Python's last-resort handler would print resource names raw)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = one_line(record.getMessage(), limit=500)
            sys.stderr.write(f"phiguard: {record.levelname.lower()}: {message}\n")
        except Exception:  # logging must never break the command
            self.handleError(record)


@contextlib.contextmanager
def _inert_warnings(enabled: bool) -> Iterator[None]:
    """For the length of a command, warnings go to stderr inert (see _InertStderrHandler)."""
    root = logging.getLogger()
    if not enabled or any(isinstance(h, _InertStderrHandler) for h in root.handlers):
        yield
        return
    handler = _InertStderrHandler(logging.WARNING)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def _report(outcome: Outcome, err: Console) -> None:
    """The reasons behind an exit code 3, on stderr (stdout may be JSON or CSV)."""
    for reason in outcome.incomplete:
        err.print(
            Text.assemble(("phiguard: incomplete:", "bold yellow"), " ", one_line(reason, 2000)),
            soft_wrap=True,
        )
    if outcome.unjudged and not outcome.exit_zero and not outcome.incomplete:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(outcome.unjudged.items()))
        err.print(
            Text.assemble(
                ("phiguard: incomplete:", "bold yellow"),
                f" {counts}: some checks could not judge, so this is no all-clear",
            ),
            soft_wrap=True,
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    err = make_console(stderr=True)
    try:
        # ``sim serve`` configures its own logging.
        with _inert_warnings(args.command != "sim"):
            outcome: Outcome = args.handler(args)
    except KeyboardInterrupt as exc:
        return exit_code(error=exc)
    except BrokenPipeError as exc:
        _silence_stdout()
        return exit_code(error=exc)
    except (UsageError, IncompleteError) as exc:
        err.print(
            Text.assemble(("phiguard: error:", "bold red"), " ", one_line(exc, 2000)),
            soft_wrap=True,
        )
        return exit_code(error=exc)
    except Exception as exc:
        from shared.loader import InputError

        if isinstance(exc, InputError):
            line = one_line(exc, 2000)
        else:
            line = f"{one_line(exc, 500) or 'unexpected failure'} ({type(exc).__name__})"
        err.print(Text.assemble(("phiguard: error:", "bold red"), " ", line), soft_wrap=True)
        return exit_code(error=exc)
    try:
        _report(outcome, err)
    except BrokenPipeError as exc:
        return exit_code(error=exc)
    return exit_code(outcome)


def _silence_stdout() -> None:
    """After stdout's reader went away: no second BrokenPipeError when Python flushes it."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(main())
