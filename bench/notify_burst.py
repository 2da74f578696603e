"""A burst of failures and the people side: 1,000 new failures across 100 resources.

What it measures: how long enqueueing the follow-ups takes (rendering, the PHI / secret guard,
Azure Tables inserts), how the outbox drains when the dispatcher timer runs once a minute and
paces GitHub at half of GitHub's secondary limits (80 content-creating requests a minute, 500 an
hour), whether any minute went over, how many messages were sent at once (new CRITICAL / HIGH
failures on PHI resources) and what the digest grouped instead.

The failures are built from the catalog (ten storage account checks, with their severities and
HIPAA sections; half of the accounts PHI-scoped), handed to the follow-up as the pipeline would
after recording them with no fix applied (none safe, or dry-run); the outbox is Azurite's, GitHub and
Teams are the simulated tenant's, email goes to a local SMTP server. Time is simulated per
dispatcher run (one run = one timer minute), so a 25-minute drain takes seconds.

    python -m bench.notify_burst [--resources 100] [--failures-per-resource 10]
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta


def main(argv: list[str] | None = None) -> int:
    from checks import CATALOG
    from shared.config import Settings
    from shared.context import AppContext
    from shared.engine import Evaluation
    from shared.followup import FollowUpCounts, digest_notice
    from shared.kernel.changes import Cause
    from shared.kernel.findings import Finding, Status
    from shared.kernel.snapshot import Snapshot
    from shared.outbox.dispatcher import GITHUB_CONTENT_QUOTA, Dispatcher
    from shared.outbox.model import Channel
    from shared.state.model import StoredFinding
    from sim.azurite import running_azurite
    from sim.fixture import running_sim
    from sim.smtp import running_smtp

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--resources", type=int, default=100)
    parser.add_argument("--failures-per-resource", type=int, default=10)
    args = parser.parse_args(argv)

    rtype = "microsoft.storage/storageaccounts"
    checks = [c for c in CATALOG.values() if rtype in c.resource_types]
    checks = checks[: args.failures_per_resource]
    t0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

    with running_azurite() as azurite, running_sim(estate="demo") as sim, running_smtp() as smtp:
        settings = Settings(
            storage_connection_string=azurite.connection_string,
            table_prefix="burst" + uuid.uuid4().hex[:8],
            **sim.settings_kwargs(),
        )
        ctx = AppContext(
            settings,
            environ={
                "PHIGUARD_ISSUES_ROUTES": "*=github:contoso/phi-compliance",
                "PHIGUARD_GITHUB_TOKEN": sim.github_token,
                "PHIGUARD_GITHUB_API_URL": sim.github_url,
                "PHIGUARD_TEAMS_WEBHOOK_URL": sim.teams_webhook_url,
                "PHIGUARD_SMTP_HOST": smtp.host,
                "PHIGUARD_SMTP_PORT": str(smtp.port),
                "PHIGUARD_SMTP_STARTTLS": "off",
                "PHIGUARD_EMAIL_SENDER": "phiguard@contoso.com",
                "PHIGUARD_NOTIFY_EMAIL_TO": "secops@contoso.com",
            },
        )
        followups = ctx.followups
        assert followups is not None
        sim.reset_received("github")
        sim.reset_received("teams")

        rows: list[StoredFinding] = []
        counts = FollowUpCounts()
        started = time.perf_counter()
        for n in range(args.resources):
            rid = (
                f"/subscriptions/{sim.subscriptions[0]}/resourceGroups/rg-burst-{n % 7}/providers/"
                f"Microsoft.Storage/storageAccounts/stburst{n:04d}"
            )
            phi = n % 2 == 0
            findings = tuple(
                Finding(
                    rid,
                    rtype,
                    check.id,
                    Status.FAIL,
                    check.severity,
                    check.hipaa,
                    check.title,
                    f"burst failure {i}",
                    {"properties.setting": f"value-{i}"},
                    phi,
                )
                for i, check in enumerate(checks)
            )
            unique = {f.check_id: f for f in findings}
            snapshot = Snapshot(
                {"id": rid, "type": rtype, "name": rid.rsplit("/", 1)[1], "tags": {}}
            )
            evaluation = Evaluation(rid, rtype, phi, tuple(unique.values()))
            ctx.store.record_evaluation(
                evaluation, read_at=t0, cause=Cause(kind="sweep"), track_actions=True
            )
            stored = {row.check_id: row for row in ctx.store.current(rid)}
            rows += stored.values()
            counts.add(followups.failures(snapshot, evaluation, list(unique), [], stored))
        enqueue_seconds = time.perf_counter() - started
        failures = len(rows)
        print(f"{args.resources} resources, {failures} failing (resource, check) pairs")
        print(
            f"enqueue: {counts.issues} issue operations + {counts.notices} notices "
            f"({counts.skipped} skipped) in {enqueue_seconds:.2f}s "
            f"({1000 * enqueue_seconds / max(failures, 1):.2f} ms per failure)"
        )

        now = [t0]
        dispatcher = Dispatcher(
            ctx.outbox,
            ctx.senders(),
            clock=lambda: now[0],
            rate_limits={Channel.GITHUB: GITHUB_CONTENT_QUOTA},
            batch=200,
        )
        per_minute: list[int] = []
        wall = time.perf_counter()
        minute = 0
        while True:
            report = dispatcher.run_once(now[0])
            per_minute.append(report.by_channel.get("github", 0))
            pending = len(ctx.outbox.pending())
            if not pending or minute > 24 * 60:
                break
            minute += 1
            now[0] = t0 + timedelta(minutes=minute)
        drain_wall = time.perf_counter() - wall
        received = sim.received("github")
        print(
            f"drain: {len(per_minute)} dispatcher run(s) (one per simulated minute), "
            f"{received['count']} GitHub issues created, at most {max(per_minute)} issue "
            f"operations in any minute (GitHub allows 80 content requests/min, 500/h), "
            f"{drain_wall:.1f}s of wall time"
        )
        hourly = max(sum(per_minute[i : i + 60]) for i in range(max(len(per_minute) - 59, 1)))
        print(
            f"        at most {hourly} issue operations in any 60 minutes; every issue open "
            f"{len(per_minute) - 1} simulated minutes after the burst"
        )
        print(
            f"at once: {sim.received('teams')['count']} Teams cards, {len(smtp.messages)} emails "
            "(new CRITICAL/HIGH failures on PHI resources)"
        )
        notice = digest_notice(rows, [], period_end=t0 + timedelta(hours=1), hours=24)
        if notice is not None:
            before = sim.received("teams")["count"]
            digest_counts = FollowUpCounts()
            followups.notify(notice, digest_counts)
            dispatcher.run_once(now[0] + timedelta(minutes=1))
            listed = len(getattr(notice, "new_failures", ()))
            more = getattr(notice, "more_new_failures", 0)
            print(
                f"digest: {sim.received('teams')['count'] - before} Teams card + 1 email "
                f"grouping {listed + more} new failures ({listed} named, {more} counted)"
            )
        counters = received["counters"]
        print(f"GitHub requests by kind (sim counters): {counters}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
