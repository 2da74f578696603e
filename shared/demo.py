"""``phiguard demo``: the product end to end on the embedded sample tenant, no Azure account.

It starts Azurite and the simulated tenant, runs the baseline sweep that the daily timer runs,
then makes changes "as a user" in the simulated tenant and shows each one detected through the
event path (Event Grid event → webhook → ARM read → checks → Azure Tables), with the time from
the change to the recorded finding.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from shared.safe_text import inert, markup, text

NSG_DATA = "nsg-chs-phi-data"
DEMO_ROWS = 12  # the most severe failures of the baseline; the rest are counted
STORAGE = "stchsphirecords"
NSG_FIX = "network_nsg_restrict_internet_inbound"
WORKSPACE = "log-chs-audit-prod"
ARCHIVE = "stchsauditprod"


def run_demo(console: Console, args: argparse.Namespace) -> int:
    from shared import api, report
    from shared.config import Settings
    from shared.context import AppContext, reset_app_context
    from sim.azurite import running_azurite
    from sim.estate import demo_estate, open_rdp_rule
    from sim.fixture import running_sim
    from sim.smtp import running_smtp

    estate = demo_estate()
    console.rule("[bold]phiguard demo — Contoso Health Shop (simulated tenant)")
    with tempfile.TemporaryDirectory(prefix="phiguard-demo-") as tmp:
        events_file = Path(tmp) / "events.ndjson"
        console.print(
            "Starting Azurite (Azure Tables), the simulated tenant (ARM, Event Grid, GitHub, "
            "Teams) and a local SMTP server…"
        )
        with (
            running_azurite() as azurite,
            running_sim(estate=estate, events_to=str(events_file)) as sim,
            running_smtp() as smtp,
        ):
            settings = Settings(
                # The demo lets phiguard close Internet-open NSG rules itself (enforce, allow-
                # listed); the storage transport fix stays in its default dry-run mode.
                remediation_modes=((NSG_FIX, "enforce"),),
                remediation_allow=(NSG_FIX,),
                remediation_workspace_id=_doc(
                    estate.documents, "microsoft.operationalinsights/workspaces", WORKSPACE
                )["id"],
                remediation_archive_storage_id=_doc(
                    estate.documents, "microsoft.storage/storageaccounts", ARCHIVE
                )["id"],
                storage_connection_string=azurite.connection_string,
                **sim.settings_kwargs(),
            )
            ctx = AppContext(settings, environ=_people_environ(sim, smtp))
            reset_app_context(ctx)
            console.print(
                text(
                    f"  ARM: {sim.arm_url}   Tables: {azurite.table_url}   "
                    f"subscriptions: {', '.join(sim.subscriptions)}"
                )
            )

            started = time.monotonic()
            sim.reset_counters()
            api.reconcile_all()
            swept = time.monotonic() - started
            reads = _arm_reads(sim.counters())
            rows = ctx.store.current()
            console.print(
                f"\n[bold]1. Baseline sweep[/] (the daily reconciliation timer): "
                f"{len({r.resource_id.lower() for r in rows})} resources, {len(rows)} findings "
                f"in {swept:.1f}s with {reads} ARM reads."
            )
            report.render_stored(console, rows, limit=DEMO_ROWS)
            for record in ctx.remediator.records(days=1, limit=1000):
                if record.writes_applied:
                    console.print(
                        f"  [green]auto-fixed during the sweep[/]: {markup(record.summary)} "
                        f"→ {markup(record.status)}"
                    )
            _print_outbox(console, ctx, sim, smtp, "the sweep's failures")

            console.print(
                "\n[bold]2. Changes made as a user, detected through Event Grid events[/]"
            )
            nsg = _doc(estate.documents, "microsoft.network/networksecuritygroups", NSG_DATA)
            account = _doc(estate.documents, "microsoft.storage/storageaccounts", STORAGE)
            changes: list[tuple[str, str, str, Callable[[], Any]]] = [
                (
                    f"open RDP (3389) from the Internet on the PHI NSG {NSG_DATA}",
                    nsg["id"],
                    "network_nsg_management_ports_internet_closed",
                    lambda: sim.change_as_user(
                        "PUT",
                        f"{nsg['id']}/securityRules/AllowRdpFromInternet",
                        open_rdp_rule(200),
                        api_version="2024-05-01",
                    ),
                ),
                (
                    f"lower the minimum TLS of PHI storage account {STORAGE} to TLS 1.0",
                    account["id"],
                    "storage_account_min_tls_1_2",
                    lambda: sim.change_as_user(
                        "PATCH",
                        account["id"],
                        {"properties": {"minimumTlsVersion": "TLS1_0"}},
                        api_version="2025-01-01",
                    ),
                ),
                (
                    f"restore TLS 1.2 on {STORAGE} (the user's own fix)",
                    account["id"],
                    "storage_account_min_tls_1_2",
                    lambda: sim.change_as_user(
                        "PATCH",
                        account["id"],
                        {"properties": {"minimumTlsVersion": "TLS1_2"}},
                        api_version="2025-01-01",
                    ),
                ),
            ]
            table = Table(header_style="bold")
            for column in ("Change", "Detected", "Response", "Change → done"):
                table.add_column(column, overflow="fold")
            fixes: list[Any] = []
            for description, rid, check_id, make in changes:
                events_file.write_text("")
                known = {r.id for r in ctx.remediator.records(days=1, resource_id=rid)}
                changed_at = time.monotonic()
                make()
                events = _await_events(sim, events_file)
                status, _, _ = api.handle_webhook(
                    "POST", {"aeg-event-type": "Notification"}, json.dumps(events).encode()
                )
                elapsed = time.monotonic() - changed_at
                _drain(ctx)  # the outbox timer's runs, at once (it runs every minute)
                detected = [
                    t
                    for t in ctx.store.history(rid)
                    if t.check_id == check_id and t.cause.kind == "event"
                ]
                new = [
                    r for r in ctx.remediator.records(days=1, resource_id=rid) if r.id not in known
                ]
                fixes += [r for r in new if r.writes_applied]
                response = (
                    "; ".join(
                        markup(f"{r.remediation_id or 'manual'}: {r.status} ({r.mode})")
                        for r in new
                    )
                    or "recorded"
                )
                table.add_row(
                    markup(description),
                    f"{markup(check_id)}: {_styled(detected[-1].to_status if detected else None)} "
                    f"({len(events)} event(s), HTTP {status})",
                    response + f"; now {_styled(_status(ctx, rid, check_id))}",
                    f"{elapsed:.2f}s",
                )
            console.print(table)
            _print_people(console, ctx, sim, smtp, account["id"], fixes)
            for fix in fixes:
                console.print(f"\n[bold]Auto-fix {markup(fix.id)}[/] — {markup(fix.summary)}")
                for line in _diff(fix):
                    console.print(Text("  ") + line)
                rolled = ctx.remediator.rollback(fix.id)
                console.print(
                    text(
                        f"  rollback (`phiguard rollback {fix.id}`): {rolled.status} — the "
                        "inverse patch was applied with If-Match; the log keeps both records."
                    )
                )
            counts: dict[str, int] = {}
            for record in ctx.remediator.records(days=1, limit=1000):
                counts[str(record.status)] = counts.get(str(record.status), 0) + 1
            console.print(
                "\nRemediation log (kept ≥ 6 years): "
                + markup(", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
                + ". PLANNED = dry-run or not allow-listed; ACTION_REQUIRED = no safe automatic "
                "fix (customer-managed keys, purge protection, private endpoints, ...)."
            )
            history = ctx.store.history(nsg["id"])
            console.print(f"\nHistory of {NSG_DATA} (append-only, kept ≥ 6 years, §164.316(b)(2)):")
            for t in [t for t in history if t.cause.kind != "sweep"][-6:]:
                console.print(
                    text(
                        f"  {t.at:%H:%M:%S} {t.check_id}: {t.from_status or '(new)'} → "
                        f"{t.to_status} (cause: {t.cause.kind} {t.cause.event_id or ''})"
                    )
                )
            review = _access_review(console, settings, sim)
            _announce_access_review(console, ctx, sim, smtp, review)
            reset_app_context(None)
    console.print(
        "\nNext: [bold]phiguard evaluate PATH[/] on your own ARM exports, "
        "[bold]phiguard catalog[/] for the checks and their HIPAA sections."
    )
    return 0


REPOSITORY = "contoso/phi-compliance"
EMAIL_TO = "secops@contoso.com"


def _people_environ(sim: Any, smtp: Any) -> dict[str, str]:
    """The channels of the demo: the sim's GitHub and Teams, the local SMTP server."""
    return {
        "PHIGUARD_ISSUES_ROUTES": f"*=github:{REPOSITORY}",
        "PHIGUARD_GITHUB_TOKEN": sim.github_token,
        "PHIGUARD_GITHUB_API_URL": sim.github_url,
        "PHIGUARD_TEAMS_WEBHOOK_URL": sim.teams_webhook_url,
        "PHIGUARD_SMTP_HOST": smtp.host,
        "PHIGUARD_SMTP_PORT": str(smtp.port),
        "PHIGUARD_SMTP_STARTTLS": "off",  # a loopback server with no TLS: the demo only
        "PHIGUARD_EMAIL_SENDER": "phiguard@contoso.com",
        "PHIGUARD_NOTIFY_EMAIL_TO": EMAIL_TO,
    }


def _print_outbox(console: Console, ctx: Any, sim: Any, smtp: Any, what: str) -> None:

    runs = _drain(ctx)
    github = sim.received("github")
    opened = sum(1 for i in github["issues"] if i["state"] == "open")
    dead = len(ctx.outbox.dead())
    console.print(
        text(
            f"  People told about {what} (through the outbox): {opened} open GitHub issue(s) in "
            f"{REPOSITORY} (one per failing resource and check with no automatic fix), "
            f"{sim.received('teams')['count']} Teams card(s), {len(smtp.messages)} email(s)"
            + (
                f"; GitHub's pacing (40 issue operations a minute) took {runs} outbox runs, "
                "simulated a minute apart"
                if runs > 1
                else ""
            )
            + (f"; {dead} dead-lettered" if dead else "")
            + "."
        )
    )


def _print_people(
    console: Console, ctx: Any, sim: Any, smtp: Any, account_id: str, fixes: list[Any]
) -> None:
    from shared.issues.model import Fingerprint

    _drain(ctx)
    console.print("\n[bold]3. People hear about it[/] (outbox → GitHub, Teams, email)")
    marker = Fingerprint.of(account_id, "storage_account_min_tls_1_2").marker
    github = sim.received("github")
    for issue in github["issues"]:
        if marker in [label["name"] for label in issue["labels"]]:
            comments = [c for c in github["comments"] if c["issue_url"] == issue["url"]]
            console.print(
                text(
                    f"  GitHub {REPOSITORY}#{issue['number']} “{issue['title']}”: opened by the "
                    f"TLS downgrade (its fix is dry-run), now {issue['state']} "
                    f"({issue.get('state_reason') or '-'}) after the user's fix; "
                    f"{len(comments)} comment(s): "
                    + " | ".join(str(c["body"])[:90] for c in comments)
                )
            )
    cards = sim.received("teams")["messages"]
    for fix in fixes:
        card = next((c for c in cards if fix.id in json.dumps(c).replace("\\\\", "")), None)
        if card is None:
            continue
        content = card["message"]["attachments"][0]["content"]
        console.print(text(f"  Teams card (Adaptive Card {content['version']}) for fix {fix.id}:"))
        for block in content["body"]:
            if block.get("type") == "TextBlock":
                console.print(text(f"    {_unescape(block['text'])}"))
            elif block.get("type") == "FactSet":
                facts = "; ".join(
                    f"{f['title']}: {_unescape(f['value'])}" for f in block["facts"][:5]
                )
                console.print(text(f"    {facts}"))
            elif block.get("type") == "Container":
                for item in block.get("items", []):
                    console.print(text(f"    {_unescape(item.get('text', ''))}"))
    saved = Path(".demo")
    saved.mkdir(exist_ok=True)
    for fix in fixes:
        mail = next((m for m in smtp.messages if fix.id in str(m.get_body(("plain",)))), None)
        if mail is None:
            continue
        html = mail.get_body(("html",))
        plain = mail.get_body(("plain",))
        path = saved / f"email-{fix.id}.html"
        if html is not None:
            path.write_text(html.get_content(), encoding="utf-8")
        console.print(text(f"  Email to {EMAIL_TO}: “{mail['Subject']}” (HTML saved as {path})"))
        if plain is not None:
            for line in plain.get_content().splitlines()[:14]:
                console.print(text(f"    {line}"))


_SIMULATED_MINUTES = [0]


def _drain(ctx: Any) -> int:
    """Runs the outbox timer until nothing it can send is left, each run a simulated minute
    after the last (so GitHub's pacing, 40 operations a minute, does not hold the demo up):
    how many runs it took."""
    from datetime import UTC, datetime, timedelta

    from shared.messaging import dispatch

    runs = 0
    while runs < 60:
        now = datetime.now(UTC) + timedelta(minutes=_SIMULATED_MINUTES[0])
        report = dispatch(ctx, now)
        runs += 1
        _SIMULATED_MINUTES[0] += 1
        if not report.sent and not report.skipped:
            break
    return runs


def _unescape(value: str) -> str:
    """A Teams markdown text as a person reads it (the backslash escapes removed)."""
    import re

    return re.sub(r"\\(.)", r"\1", value)


def _announce_access_review(console: Console, ctx: Any, sim: Any, smtp: Any, review: Any) -> None:
    """The review's Teams card and email, as the weekly timer sends them (through the outbox)."""
    from shared import api
    from shared.access.engine import announcement

    cards, mails = sim.received("teams")["count"], len(smtp.messages)
    summary = announcement(review)
    api.announce_access_review(summary)
    _drain(ctx)
    console.print(
        text(
            f"  announced: {sim.received('teams')['count'] - cards} Teams card and "
            f"{len(smtp.messages) - mails} email with the counts and the report's location "
            f"({summary['link']}), never the report itself"
        )
    )


def _access_review(console: Console, settings: Any, sim: Any) -> Any:
    """The week's access review (what the weekly timer runs), kept in ``.demo/access-reviews``."""
    from shared.access.engine import run_weekly
    from shared.access.store import LocalReviewStore
    from sim.estate.access import PHIGUARD_APP_ID

    out = Path(".demo") / "access-reviews"
    outcome = run_weekly(
        settings.with_overrides(graph_url=sim.graph_url, identity_app_id=PHIGUARD_APP_ID),
        extra=[LocalReviewStore(out)],
    )
    s = outcome.summary
    console.print()
    console.print(
        text(
            f"Weekly access review {outcome.week}: {s['paths']} paths to PHI held by "
            f"{s['principals']} principals, {s['privileged_paths']} privileged "
            f"({s['standing_privileged']} standing), {s['failing_rules']} rules failing on "
            f"{s['failing_subjects']} grants, {s['unknowns']} unknowns; "
            f"{outcome.arm_calls} ARM and {outcome.graph_calls} Graph calls"
        )
    )
    for rule in outcome.review["rules"]:
        if rule["status"] == "FAIL" and rule["severity"] != "INFO":
            console.print(text(f"  {rule['severity']:<6} {rule['rule_id']}: {rule['reason']}"))
    html = Path(outcome.locations["local:access-review.html"]).resolve()
    console.print(text(f"  report: {html}  (and CSV, JSON beside it; Blob: access-reviews/)"))
    return outcome


def _doc(documents: list[dict[str, Any]], rtype: str, name: str) -> dict[str, Any]:
    return next(
        d for d in documents if str(d.get("type", "")).lower() == rtype and d.get("name") == name
    )


def _status(ctx: Any, resource_id: str, check_id: str) -> str | None:
    rows = ctx.store.current(resource_id=resource_id)
    return next((r.status for r in rows if r.check_id == check_id), None)


def _styled(status: str | None) -> str:
    """A status for a markup string: styled when known, else inert."""
    known = {"FAIL": "[bold red]FAIL[/]", "PASS": "[green]PASS[/]"}
    return known.get(status or "", markup(status or "-"))


def _await_events(sim: Any, events_file: Path) -> list[dict[str, Any]]:
    sim.wait_for_events(10)
    lines = events_file.read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _diff(record: Any) -> list[Text]:
    """The before/after values of a fix, as inert text (values come from the tenant)."""
    lines = []
    for path, value in record.after.items():
        before = json.dumps(record.before.get(path), default=str)
        lines.append(text(f"- {inert(path)}: {before}", "red"))
        lines.append(text(f"+ {inert(path)}: {json.dumps(value, default=str)}", "green"))
    return lines


def _arm_reads(counters: dict[str, Any]) -> int:
    return int(counters.get("by_method", {}).get("GET", 0))
