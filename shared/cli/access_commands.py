"""``phiguard access-review``: the weekly access review (the timer's engine) and
``phiguard access-review decide FILE.csv``: the reviewers' decisions back, as evidence and a
removal plan.

Exit codes: 0 nothing failing; 1 a rule FAILs (INFO rules — new and removed grants — never
set it); 2 bad usage or input (the message names the flag, the setting or file:line); 3
incomplete: a rule could not judge (a Graph permission missing: named), ARM or the store
unreachable.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.cli.exit_codes import IncompleteError, Outcome, UsageError
from shared.cli.services import probe_arm, settings_from_args, subscription_ids
from shared.safe_text import console as make_console
from shared.safe_text import inert, text

if TYPE_CHECKING:
    from shared.access.store import ReviewStore
    from shared.config import Settings


def _settings(args: argparse.Namespace) -> Settings:
    settings = settings_from_args(args)
    graph_url = getattr(args, "graph_url", None)
    if graph_url is not None:
        if not graph_url.startswith("https://"):
            raise UsageError(f"--graph-url: {inert(graph_url)!r} must be an https:// URL")
        settings = settings.with_overrides(graph_url=graph_url.rstrip("/"))
    return settings


def _stores(settings: Settings, out: str | None) -> tuple[ReviewStore, list[ReviewStore]]:
    """The Blob store (and a local copy with ``--out``), or only the local directory when no
    storage is configured."""
    from shared.access.store import BlobReviewStore, LocalReviewStore

    local: list[ReviewStore] = [LocalReviewStore(Path(out))] if out else []
    if out:
        target = Path(out)
        if target.exists() and not target.is_dir():
            raise UsageError(f"--out: {inert(out)!r} is not a directory")
    if settings.has_storage:
        try:
            return BlobReviewStore.from_settings(settings), local
        except (ValueError, TypeError) as exc:
            raise UsageError(f"PHIGUARD_STORAGE_CONNECTION_STRING: {inert(exc)}") from None
    if local:
        return local[0], []
    raise UsageError(
        "nowhere to write the review: set PHIGUARD_STORAGE_CONNECTION_STRING (or "
        "PHIGUARD_STORAGE_ACCOUNT_URL), or pass --out DIR"
    )


def _service_failure(exc: Exception) -> IncompleteError | None:
    from shared.errors import ServiceError, is_transient

    if isinstance(exc, ServiceError) or is_transient(exc):
        return IncompleteError(f"access review incomplete: {str(exc)[:400]}")
    from azure.core.exceptions import AzureError

    if isinstance(exc, AzureError):
        return IncompleteError(f"storage: {type(exc).__name__}: {str(exc)[:300]}")
    return None


def access_review(args: argparse.Namespace) -> Outcome:
    from shared.access.engine import run_weekly
    from shared.access.report import parse_week
    from shared.kernel.findings import Status

    if args.week is not None:
        from shared.access.report import week_of
        from shared.kernel.clock import utcnow

        try:
            week = parse_week(args.week)
        except ValueError as exc:
            raise UsageError(f"--week: {inert(exc)}") from None
        if week > week_of(utcnow()):
            raise UsageError(
                f"--week: {week} has not begun; a review shows what is, not what will be"
            )
    settings = _settings(args)
    subscriptions = subscription_ids(args.subscription, settings)
    if subscriptions:
        settings = settings.with_overrides(subscriptions=tuple(subscriptions))
    store, extra = _stores(settings, args.out)
    probe_arm(settings, subscriptions, flag=getattr(args, "arm_url", None) is not None)
    try:
        outcome = run_weekly(settings, week=args.week, store=store, extra=extra)
    except Exception as exc:
        failure = _service_failure(exc)
        if failure is None:
            raise
        raise failure from None
    review = outcome.review
    console = make_console(soft_wrap=True)
    s = outcome.summary
    if args.format == "json":
        console.print_json(json.dumps({"summary": s, "files": outcome.locations}))
    else:
        console.print(
            text(
                f"access review {outcome.week}: {s['paths']} paths to PHI, {s['principals']} "
                f"principals, {s['privileged_paths']} privileged ({s['standing_privileged']} "
                f"standing), {s['new']} new, {s['removed']} removed since last review"
            )
        )
        for rule in review["rules"]:
            console.print(
                text(
                    f"  {rule['status']:<14} {rule['severity']:<6} {rule['rule_id']}: "
                    f"{rule['reason']}"
                )
            )
        for unknown in review["unknowns"]:
            console.print(text(f"  unknown: {unknown['what']} — {unknown['why']}"))
        console.print(text(f"  ARM calls {outcome.arm_calls}, Graph calls {outcome.graph_calls}"))
        for name, where in outcome.locations.items():
            console.print(text(f"  {name}: {where}"))
    result = Outcome(
        failing=sum(
            1 for r in review["rules"] if r["status"] == Status.FAIL and r["severity"] != "INFO"
        )
    )
    for rule in review["rules"]:
        if rule["status"] in (Status.NOT_ASSESSED, Status.ERROR):
            result.incomplete.append(f"{rule['rule_id']}: {rule['reason']}")
    for error in review["errors"][:20]:
        result.incomplete.append(error)
    return result


def decide(args: argparse.Namespace) -> Outcome:
    from shared.access.decisions import (
        REVOKE,
        DecisionFileError,
        apply_plan,
        attach_bodies,
        evidence_name,
        parse_decisions,
        plan_removals,
    )
    from shared.kernel.clock import utcnow

    reviewer = (args.reviewer or "").strip()
    if not reviewer or len(reviewer) > 200 or any(ord(c) < 0x20 for c in reviewer):
        raise UsageError("--reviewer: name the reviewer (UPN or email, one line, ≤ 200 chars)")
    path = Path(args.file)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{inert(path)}: cannot read: {exc.strerror or exc}") from None
    try:
        parsed = parse_decisions(raw, str(path))
    except DecisionFileError as exc:
        raise UsageError(inert(exc)) from None
    settings = _settings(args)
    store, extra = _stores(settings, args.out)
    try:
        stored = store.read(parsed.week, "access-review.json")
    except Exception as exc:
        failure = _service_failure(exc)
        if failure is None:
            raise
        raise failure from None
    if stored is None:
        raise UsageError(
            f"{inert(path)}: no access review of week {inert(parsed.week)} in {store.where}"
        )
    review = json.loads(stored)
    known = {str(p["key"]): p for p in review.get("paths") or []}
    invalid = list(parsed.invalid)
    decisions = []
    for d in parsed.decisions:
        if d.path_key not in known:
            invalid.append(f"{path}:{d.line}: path_key is not a path of the {parsed.week} review")
        else:
            decisions.append(d)
    now = utcnow()
    plan = plan_removals(decisions, review)
    apply = bool(args.apply)
    notes: list[str] = []
    if apply and REVOKE not in settings.remediation_allow:
        apply = False
        notes.append(f"--apply ignored: {REVOKE} is not in PHIGUARD_REMEDIATION_ALLOW")
    if any(step.get("action") == "delete" for step in plan):
        from shared.arm import ArmReader, ArmWriter
        from shared.credentials import arm_credential

        credential = arm_credential(settings)
        reader = ArmReader.from_settings(settings, credential)
        try:
            attach_bodies(plan, reader)
            if apply:
                writer = ArmWriter.from_settings(settings, credential)
                try:
                    apply_plan(plan, writer, now)
                finally:
                    writer.close()
        except Exception as exc:
            failure = _service_failure(exc)
            if failure is None:
                raise
            raise failure from None
        finally:
            reader.close()
    evidence: dict[str, Any] = {
        "format": "phiguard-access-review-decisions",
        "week": parsed.week,
        "reviewer": reviewer,
        "recorded_at": now.isoformat(),
        "file": path.name,
        "file_sha256": parsed.sha256,
        "mode": "apply" if apply else "dry-run",
        "decisions": [
            {
                "line": d.line,
                "path_key": d.path_key,
                "decision": d.decision,
                "comment": d.comment,
                # What the path is, from the review itself (the CSV's other cells are the
                # reviewer's copy and may have been edited).
                **{
                    k: known[d.path_key].get(k)
                    for k in ("principal_id", "principal_name", "role", "scope", "access")
                },
            }
            for d in decisions
        ],
        "undecided": parsed.undecided,
        "invalid": invalid,
        "plan": plan,
        "notes": notes,
    }
    name = evidence_name(now, reviewer)
    data = json.dumps(evidence, indent=1).encode()
    where = store.write(parsed.week, name, data)
    for copy in extra:
        copy.write(parsed.week, name, data)
    console = make_console(soft_wrap=True)
    counts = {
        k: sum(1 for d in decisions if d.decision == k) for k in ("keep", "remove", "justify")
    }
    console.print(
        text(
            f"decisions for {parsed.week} by {reviewer}: {counts['keep']} keep, "
            f"{counts['remove']} remove, {counts['justify']} justify, {parsed.undecided} "
            f"undecided, {len(invalid)} invalid; recorded at {where}"
        )
    )
    for step in plan:
        what = (
            step.get("refused")
            or step.get("step")
            or step.get("result")
            or (f"would DELETE {step.get('target')}" if step["action"] == "delete" else "")
        )
        console.print(text(f"  line {step['line']}: {step['action']}: {what}"))
    for note in notes:
        console.print(text(f"  note: {note}"))
    for problem in invalid:
        console.print(text(f"  invalid: {problem}"), style="yellow")
    if invalid:
        raise UsageError(f"{len(invalid)} row(s) not recorded (see above); the others were")
    return Outcome()


def rollback(args: argparse.Namespace) -> Outcome:
    """Recreates the role assignments a decisions file deleted (``--apply``)."""
    from shared.access.decisions import rollback_plan
    from shared.access.report import parse_week
    from shared.arm import ArmReader, ArmWriter
    from shared.credentials import arm_credential
    from shared.kernel.clock import utcnow

    try:
        week = parse_week(args.week)
    except ValueError as exc:
        raise UsageError(f"--week: {inert(exc)}") from None
    name = str(args.evidence).strip()
    if not name.startswith("decisions/") or ".." in name or not name.endswith(".json"):
        raise UsageError(f"{inert(name)}: name a decisions file, decisions/<time>-<who>.json")
    settings = _settings(args)
    store, _ = _stores(settings, args.out)
    raw = store.read(week, name)
    if raw is None:
        raise UsageError(f"{inert(name)}: not found in week {week} at {store.where}")
    try:
        evidence = json.loads(raw)
    except ValueError:
        raise UsageError(f"{inert(name)}: not JSON") from None
    credential = arm_credential(settings)
    reader = ArmReader.from_settings(settings, credential)
    writer = ArmWriter.from_settings(settings, credential)
    now = utcnow()
    try:
        steps = rollback_plan(evidence, reader, writer, now)
    finally:
        reader.close()
        writer.close()
    record = {
        "format": "phiguard-access-review-rollback",
        "week": week,
        "of": name,
        "recorded_at": now.isoformat(),
        "steps": steps,
    }
    where = store.write(
        week,
        name.replace(".json", f"-rollback-{now:%Y%m%dT%H%M%SZ}.json"),
        json.dumps(record).encode(),
    )
    console = make_console(soft_wrap=True)
    for step in steps:
        console.print(text(f"  {step['target']}: {step['result']}"))
    console.print(text(f"rollback of {name}: {len(steps)} step(s), recorded at {where}"))
    failed = [s for s in steps if str(s["result"]).startswith(("failed", "no rollback"))]
    return Outcome(incomplete=[f"{len(failed)} assignment(s) not recreated"] if failed else [])


def add_parser(sub: Any) -> None:
    """``access-review`` and ``access-review decide``."""
    review = sub.add_parser(
        "access-review",
        help="the weekly access review: every path to PHI, diffed against last week",
        description="Reads role assignments, PIM schedules, Key Vault access policies (ARM) and "
        "the directory (Microsoft Graph); writes HTML, CSV and JSON to Blob Storage "
        "(access-reviews/YYYY-Www/) and, with --out, to a directory.",
    )
    review.add_argument("--week", metavar="YYYY-Www", help="the ISO week (default: this week)")
    review.add_argument("--out", metavar="DIR", help="also write the files here")
    review.add_argument(
        "--subscription",
        action="append",
        metavar="ID",
        help="(repeatable; default PHIGUARD_SUBSCRIPTIONS, else every subscription visible)",
    )
    review.add_argument("--format", choices=("table", "json"), default="table")
    review.add_argument("--arm-url", help="ARM endpoint (PHIGUARD_ARM_URL)")
    review.add_argument("--graph-url", help="Microsoft Graph endpoint (PHIGUARD_GRAPH_URL)")
    review.add_argument("--ca-cert", help="extra CA bundle (PHIGUARD_CA_CERT)")
    review.add_argument(
        "--storage-connection-string",
        help="where reviews are kept (PHIGUARD_STORAGE_CONNECTION_STRING; prefer the variable)",
    )
    review.set_defaults(handler=access_review)
    actions = review.add_subparsers(dest="access_command", metavar="ACTION")
    dec = actions.add_parser(
        "decide",
        help="record the reviewers' decisions (the CSV's decision and comment columns) and plan "
        "the removals",
    )
    dec.add_argument("file", metavar="FILE.csv")
    dec.add_argument("--reviewer", required=True, metavar="WHO", help="who decided (UPN/email)")
    dec.add_argument(
        "--apply",
        action="store_true",
        help="delete the planned role assignments (needs access_review_revoke in "
        "PHIGUARD_REMEDIATION_ALLOW); default: dry-run",
    )
    dec.add_argument("--out", metavar="DIR", help="where the review is, without Blob Storage")
    dec.add_argument("--arm-url", help="ARM endpoint (PHIGUARD_ARM_URL)")
    dec.add_argument("--ca-cert", help="extra CA bundle (PHIGUARD_CA_CERT)")
    dec.add_argument("--storage-connection-string", help="(PHIGUARD_STORAGE_CONNECTION_STRING)")
    dec.set_defaults(handler=decide)
    back = actions.add_parser(
        "rollback",
        help="recreate the role assignments a decisions file deleted, from the bodies it kept",
    )
    back.add_argument("evidence", metavar="decisions/FILE.json")
    back.add_argument("--week", required=True, metavar="YYYY-Www")
    back.add_argument("--out", metavar="DIR", help="where the review is, without Blob Storage")
    back.add_argument("--arm-url", help="ARM endpoint (PHIGUARD_ARM_URL)")
    back.add_argument("--ca-cert", help="extra CA bundle (PHIGUARD_CA_CERT)")
    back.add_argument("--storage-connection-string", help="(PHIGUARD_STORAGE_CONNECTION_STRING)")
    back.set_defaults(handler=rollback)
