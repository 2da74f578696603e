"""Remediation latency: seconds from a user's change in the simulated tenant to a verified fix.

Each round opens RDP (3389) from the Internet on an NSG "as a user", delivers the resulting
Event Grid events to the webhook handler (as Event Grid would), and waits for the remediation
log to show the fix VERIFIED (re-read and re-evaluated). Azurite + the simulated tenant, the
real azure-core / azure-data-tables clients, the same handler the Functions app runs.

    python -m bench.remediation [--changes 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    from shared import api
    from shared.config import Settings
    from shared.context import AppContext, reset_app_context
    from sim.azurite import running_azurite
    from sim.estate import demo_estate, open_rdp_rule
    from sim.fixture import running_sim

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=100)
    args = parser.parse_args(argv)

    estate = demo_estate()
    nsgs = [
        d["id"]
        for d in estate.documents
        if str(d.get("type", "")).lower() == "microsoft.network/networksecuritygroups"
    ]
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_azurite() as azurite,
        running_sim(estate=estate, events_to=str(Path(tmp) / "events.ndjson")) as sim,
    ):
        events_file = Path(tmp) / "events.ndjson"
        settings = Settings(
            storage_connection_string=azurite.connection_string,
            table_prefix="bench" + uuid.uuid4().hex[:8],
            **sim.settings_kwargs(),
            remediation_modes=(("network_nsg_restrict_internet_inbound", "enforce"),),
            remediation_allow=("network_nsg_restrict_internet_inbound",),
            # The bench re-opens the same NSGs on purpose: keep the flap guard and cap out of it.
            remediation_flap_limit=1000,
            remediation_hourly_cap=100_000,
        )
        ctx = AppContext(settings)
        reset_app_context(ctx)
        seconds: list[float] = []
        seen: set[str] = set()
        outcomes: dict[str, int] = {}
        sim.reset_counters()
        for i in range(args.changes):
            nsg = nsgs[i % len(nsgs)]
            # Each new rule outranks the earlier (now Deny) ones, or the check would rightly
            # see it shadowed and pass.
            sim.wait_for_events(10)
            events_file.write_text("")
            started = time.monotonic()
            sim.change_as_user(
                "PUT",
                f"{nsg}/securityRules/bench-rdp-{i}",
                open_rdp_rule(299 - i // len(nsgs)),
                api_version="2024-05-01",
            )
            sim.wait_for_events(10)
            events = [json.loads(x) for x in events_file.read_text().splitlines() if x.strip()]
            api.handle_webhook(
                "POST", {"aeg-event-type": "Notification"}, json.dumps(events).encode()
            )
            record = _latest(ctx, nsg)
            fresh = record is not None and record.id not in seen
            status = str(record.status) if fresh and record is not None else "NO_NEW_RECORD"
            if record is not None:
                seen.add(record.id)
            outcomes[status] = outcomes.get(status, 0) + 1
            if status == "VERIFIED":
                seconds.append(time.monotonic() - started)
        counters = sim.counters()
        reset_app_context(None)
    writes = counters.get("by_method", {}).get("PUT", 0)
    print(f"command: python -m bench.remediation --changes {args.changes}")
    print(
        f"outcomes: {outcomes}; PUTs through the ARM API (the fixes; user changes go through the admin API): {writes}"
    )
    if seconds:
        ordered = sorted(seconds)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        print(
            f"user change → verified fix: p50 {statistics.median(ordered):.3f}s, "
            f"p99 {p99:.3f}s, max {ordered[-1]:.3f}s over {len(ordered)} fixes"
        )
    return 0 if len(seconds) == args.changes else 1


def _latest(ctx: Any, resource_id: str) -> Any:
    records = ctx.remediator.records(days=1, resource_id=resource_id, limit=5)
    return max(records, key=lambda r: r.created_at) if records else None


if __name__ == "__main__":
    raise SystemExit(main())
