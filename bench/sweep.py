"""Sweep benchmark: the daily reconciliation over a generated estate, under ARM's throttling.

Starts Azurite and the simulated tenant in its own process with ARM's read limits enforced
(``throttle=on``: a token bucket of 250 reads per subscription and principal, refilled at 25/s;
a read beyond it gets 429 with ``Retry-After``), then sweeps every subscription one after the
other, as the reconciliation timer does (``Pipeline.sweep``), into an empty store.

Figures, per subscription and in total, from the tenant's request counters:

* ARM calls per resource: calls the tenant answered (429s not counted; they are shown apart)
  ÷ resources recorded;
* sweep time against the throttle-limited minimum. Each subscription has its own bucket, full
  when its sweep starts (the previous sweeps did not touch it), so the minimum for one is
  ``max(0, calls - 250) / 25`` seconds — its burst is spent at once, every further call waits for
  a token — and the minimum for the whole sweep is the sum over subscriptions (they are swept one
  after the other). The ratio is wall time ÷ that minimum (target <= 1.2);
* resources that could not be read (retry budget exhausted: they would wait for the next sweep).

    python -m bench.sweep [--resources 10000] [--seed 0] [--warm] [--table-per-subscription]

``--warm`` sweeps once without throttling first, so the measured sweep finds state to diff
against (the daily case) instead of an empty store (the first run after deployment).

``--table-per-subscription`` records each subscription in tables of its own. Azurite keeps a
table in one in-memory collection and answers a partition query by scanning it (3 ms per query
in an empty table, 7 ms at 24,000 entities, 13 ms at 72,000 on the reference machine), so the
subscriptions swept last pay for the rows the first ones wrote; Azure Table Storage looks a
partition up by its key. The option takes that emulator artefact out of the figures; without it
the sweep runs exactly as deployed (one set of tables).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections import Counter

from bench.replay import cpu_seconds
from shared.config import Settings
from shared.context import AppContext, reset_app_context

TARGET_RATIO = 1.2
BURST = 250
REFILL = 25.0


def main(argv: list[str] | None = None) -> int:
    from sim.azurite import running_azurite
    from sim.fixture import spawned_sim

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warm", action="store_true", help="sweep once unthrottled first")
    parser.add_argument(
        "--table-per-subscription",
        action="store_true",
        help="record each subscription in tables of its own (see the module docstring)",
    )
    args = parser.parse_args(argv)
    shown = sys.argv[1:] if argv is None else argv
    print(" ".join(["$ python -m bench.sweep", *shown]))

    with (
        running_azurite() as azurite,
        spawned_sim(estate=str(args.resources), seed=args.seed, timeout=300) as sim,
    ):
        settings = Settings(
            storage_connection_string=azurite.connection_string,
            table_prefix="sweep" + uuid.uuid4().hex[:8],
            **sim.settings_kwargs(),
        )
        shared_ctx = AppContext(settings)
        contexts = {
            s: (
                AppContext(settings.with_overrides(table_prefix=f"sweep{i}{uuid.uuid4().hex[:8]}"))
                if args.table_per_subscription
                else shared_ctx
            )
            for i, s in enumerate(sim.subscriptions)
        }
        try:
            for ctx in contexts.values():
                ctx.store.ensure_tables()
            if args.warm:
                started = time.perf_counter()
                warmed = sum(len(c.pipeline.sweep(s).outcomes) for s, c in contexts.items())
                print(
                    f"warm-up sweep (unthrottled): {warmed:,} resources in "
                    f"{time.perf_counter() - started:.0f}s"
                )
            sim.set_faults("throttle=on")  # fresh buckets: 250 reads per subscription
            print(
                f"estate: generated {args.resources:,} resources (seed {args.seed}) in "
                f"{len(sim.subscriptions)} subscriptions; ARM throttling on: {BURST} reads burst, "
                f"{REFILL:g}/s refill per subscription; "
                + (
                    "each subscription in tables of its own"
                    if args.table_per_subscription
                    else "one set of tables"
                )
                + (", state from the warm-up sweep" if args.warm else ", empty store")
            )
            total_calls = total_429 = total_resources = failed = 0
            total_seconds = total_minimum = 0.0
            by_kind: Counter[str] = Counter()
            for subscription, ctx in contexts.items():
                reset_app_context(ctx)
                sim.reset_counters()
                kinds_before = Counter(ctx.reader.stats.by_kind)
                cpu_before = (cpu_seconds(), cpu_seconds(azurite.pid))
                started = time.perf_counter()
                result = ctx.pipeline.sweep(subscription)
                seconds = time.perf_counter() - started
                cpu = (cpu_seconds() - cpu_before[0], cpu_seconds(azurite.pid) - cpu_before[1])
                by_kind.update(ctx.reader.stats.by_kind)
                by_kind.subtract(kinds_before)
                counters = sim.counters()
                throttled = int(counters["by_status"].get("429", 0))
                calls = int(counters["total"]) - throttled
                minimum = max(0, calls - BURST) / REFILL
                resources = len(result.outcomes)
                print(
                    f"  {subscription}: {resources:,} resources, {calls:,} ARM calls "
                    f"({calls / max(1, resources):.2f} per resource) + {throttled:,} answered "
                    f"429, {seconds:.0f}s vs {minimum:.0f}s minimum "
                    f"({seconds / minimum if minimum else float('nan'):.2f}x), "
                    f"{len(result.transient)} unread; CPU: phiguard {cpu[0]:.0f}s, Azurite "
                    f"{cpu[1]:.0f}s"
                )
                total_calls += calls
                total_429 += throttled
                total_resources += resources
                total_seconds += seconds
                total_minimum += minimum
                failed += len(result.transient)
            ratio = total_seconds / total_minimum if total_minimum else float("nan")
            print(
                f"sweep: {total_resources:,} resources, {total_calls:,} ARM calls = "
                f"{total_calls / max(1, total_resources):.2f} per resource ({total_429:,} more "
                f"answered 429 and were retried after Retry-After); by kind: "
                + ", ".join(f"{k} {n}" for k, n in by_kind.most_common() if n)
            )
            print(
                f"time: {total_seconds:.0f}s vs the throttle-limited minimum {total_minimum:.0f}s "
                f"(sum over subscriptions of (calls - {BURST}) / {REFILL:g}/s) = {ratio:.2f}x "
                f"(target <= {TARGET_RATIO}x); {failed} resources left unread"
            )
        finally:
            reset_app_context(None)
    return 0 if failed == 0 and ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
