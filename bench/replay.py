"""Replay benchmark: a recorded burst of Event Grid events through the webhook's handler.

Starts Azurite and the simulated tenant (a generated estate, in its own process as ARM is remote,
events to an NDJSON file), runs the baseline sweep so state exists, then records a burst: >= 1,000 changes on >= 200 resources made
"as a user" (PATCHes of storage accounts, key vaults and web apps, PUTs of NSG security rules,
creates — two write events each — and deletes). Its events get Event Grid's manners (10% of them
delivered twice, shuffled within 20-event windows), are saved as NDJSON, and are replayed in
deliveries of 1-50 events, several at once, through ``parse_delivery`` + ``Pipeline.handle`` — what
the ``/api/events`` webhook runs. A delivery that answers "redeliver" is retried.

Figures, from the simulated tenant's request counters (reset before the replay) and the
benchmark's own clock:

* ARM reads per event: GETs the tenant served during the replay ÷ events in the trace;
* events/s end to end: events ÷ seconds from the first delivery to the last answer;
* latency. ``--mode backlog`` (default): the whole trace is waiting when the replay starts
  (Event Grid catching up after a burst), with the times ARM stamped; latency is per delivery,
  from the handler receiving it to its answer, by which time every resource it names is recorded.
  ``--mode realtime``: the trace is re-enacted on the clock, event times moved so the burst
  starts now (``--speed`` times faster than recorded), each delivery sent once its newest event
  has happened; latency is the pipeline's own ``ResourceOutcome.latency_seconds``, from the newest event
  time of a resource in a delivery to its state being recorded.

Also printed: the CPU each process spent during the replay (this one runs the pipeline), and the
pipeline's outcomes. Afterwards every touched resource's stored findings are compared with a
fresh evaluation of ARM's final state.

``--instances N`` replays through N processes, each with its own pipeline and memory, the
deliveries dealt out in turn: N function instances on one machine, sharing nothing but the store
and ARM (what Event Grid does when the app scales out). Coalescing across them goes through the
stored markers, so ARM reads per event show what scale-out costs, and the convergence check shows
no instance lost another's update.

    python -m bench.replay [--estate 1000] [--mode backlog|realtime] [--concurrency 4]
                           [--instances 1] [--scale 1.0] [--seed 0] [--trace FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.trace import (
    BurstMix,
    batches,
    imitate_event_grid,
    plan_burst,
    record_burst,
    write_ndjson,
)
from shared.config import Settings
from shared.context import AppContext, reset_app_context

READS_TARGET = 0.6
RATE_TARGET = 200.0
HEADERS = {"aeg-event-type": "Notification", "content-type": "application/json"}


@dataclass
class Delivery:
    body: bytes
    events: int
    due: float = 0.0  # seconds after the replay starts


@dataclass
class ReplayResult:
    seconds: float = 0.0
    deliveries: int = 0
    redeliveries: int = 0
    delivery_latency: list[float] = field(default_factory=list)
    resource_latency: list[float] = field(default_factory=list)
    actions: Counter[str] = field(default_factory=Counter)
    ignored: Counter[str] = field(default_factory=Counter)
    cpu_seconds: float = 0.0  # of the replaying process(es)
    reads_by_kind: Counter[str] = field(default_factory=Counter)  # from --instances processes

    def merge(self, other: ReplayResult) -> None:
        self.deliveries += other.deliveries
        self.redeliveries += other.redeliveries
        self.delivery_latency += other.delivery_latency
        self.resource_latency += other.resource_latency
        self.actions.update(other.actions)
        self.ignored.update(other.ignored)
        self.cpu_seconds += other.cpu_seconds
        self.reads_by_kind.update(other.reads_by_kind)


def _stamp(moment: datetime) -> str:
    """Event Grid's shape: seven fractional digits."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def _event_time(event: dict[str, Any]) -> datetime:
    from shared.events import parse_event_time

    return parse_event_time(event["eventTime"])


def plan_deliveries(
    trace: list[dict[str, Any]], mode: str, speed: float, seed: int, lead: float
) -> tuple[list[Delivery], datetime | None]:
    """The deliveries, and in realtime mode the wall-clock instant their ``due`` counts from
    (the re-enacted burst starts ``lead`` seconds after it)."""
    chunks = list(batches(trace, seed=seed))
    if mode == "backlog":
        return [Delivery(json.dumps(c).encode(), len(c)) for c in chunks], None
    first = min(_event_time(e) for e in trace)
    origin = datetime.now(UTC)
    start = origin + timedelta(seconds=lead)
    deliveries = []
    for chunk in chunks:
        moved = []
        offsets = []
        for event in chunk:
            offset = (_event_time(event) - first).total_seconds() / speed
            offsets.append(offset)
            moved.append({**event, "eventTime": _stamp(start + timedelta(seconds=offset))})
        deliveries.append(Delivery(json.dumps(moved).encode(), len(chunk), lead + max(offsets)))
    return deliveries, origin


def replay(
    ctx: AppContext,
    deliveries: list[Delivery],
    concurrency: int,
    origin: datetime | None = None,
) -> ReplayResult:
    """Sends every delivery through the webhook's handler, ``concurrency`` at a time, none before
    its ``due`` (seconds after ``origin``, the wall-clock instant the dues count from; now by
    default). ``seconds`` runs from the first delivery sent to the last answer."""
    from shared.events import parse_delivery
    from shared.pipeline import RedeliverError

    supported = ctx.engine.supported_types()
    pipeline = ctx.pipeline
    result = ReplayResult(deliveries=len(deliveries))
    lock = threading.Lock()
    started = time.perf_counter()
    if origin is not None:
        started -= (datetime.now(UTC) - origin).total_seconds()
    first_sent: list[float] = []

    def send(delivery: Delivery) -> None:
        wait = started + delivery.due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        received = time.perf_counter()
        with lock:
            first_sent.append(received)
        for attempt in range(10):
            try:
                parsed = parse_delivery(delivery.body, HEADERS, supported_types=supported)
                batch = pipeline.handle(parsed)
                break
            except RedeliverError:
                with lock:
                    result.redeliveries += 1
                time.sleep(0.1 * 2**attempt)  # Event Grid backs off (10 s, 30 s, ...): compressed
        else:
            raise RuntimeError("a delivery kept failing after 10 attempts")
        answered = time.perf_counter()
        with lock:
            result.delivery_latency.append(answered - max(received, started + delivery.due))
            result.ignored.update(batch.ignored)
            for outcome in batch.outcomes:
                result.actions[outcome.action] += 1
                if outcome.latency_seconds is not None:
                    result.resource_latency.append(outcome.latency_seconds)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(send, d) for d in deliveries]:
            future.result()
    result.seconds = time.perf_counter() - min(first_sent, default=started)
    return result


def _instance(
    settings: Settings,
    workers: int,
    deliveries: list[Delivery],
    concurrency: int,
    origin: datetime | None,
    ready: Any,
    go: Any,
    results: Any,
) -> None:
    """One function instance: its own context, warmed up, then its share of the deliveries."""
    ctx = AppContext(settings)
    ctx.pipeline.workers = workers
    reset_app_context(ctx)
    ctx.store.ensure_tables()
    ctx.engine.supported_types()
    ready.set()
    go.wait()
    cpu_before = cpu_seconds()
    result = replay(ctx, deliveries, concurrency, origin)
    result.cpu_seconds = cpu_seconds() - cpu_before
    result.reads_by_kind = Counter(ctx.reader.stats.by_kind)
    results.put(result)


def replay_instances(
    settings: Settings,
    workers: int,
    deliveries: list[Delivery],
    instances: int,
    concurrency: int,
    origin: datetime | None = None,
) -> ReplayResult:
    """The replay through ``instances`` processes (see the module docstring); ``seconds`` runs
    from releasing them, all warmed up, to the last one's answer."""
    import multiprocessing

    from bench.replay import _instance as target  # by its module name: run as __main__ too

    mp = multiprocessing.get_context("spawn")
    results = mp.Queue()
    go = mp.Event()
    readies = []
    processes = []
    for i in range(instances):
        ready = mp.Event()
        share = deliveries[i::instances]
        process = mp.Process(
            target=target,
            args=(settings, workers, share, concurrency, origin, ready, go, results),
        )
        process.start()
        readies.append(ready)
        processes.append(process)
    for ready, process in zip(readies, processes, strict=True):
        while not ready.wait(1):
            if not process.is_alive():
                raise RuntimeError(f"instance {process.pid} died during start-up")
    started = time.perf_counter()
    go.set()
    merged = ReplayResult()
    for _ in processes:
        merged.merge(results.get(timeout=600))
    merged.seconds = time.perf_counter() - started
    for process in processes:
        process.join()
    return merged


def verify(ctx: AppContext, resource_ids: set[str]) -> list[str]:
    """Resources whose stored open findings differ from a fresh evaluation of ARM's state."""
    wrong = []
    for rid in sorted(resource_ids):
        snapshot = ctx.reader.snapshot(rid, ctx.engine)
        stored = {f.check_id: f.status for f in ctx.store.current(resource_id=rid)}
        if snapshot is None:
            expected: dict[str, str] = {}
        else:
            evaluation = ctx.engine.evaluate(snapshot)
            expected = {f.check_id: f.status.value for f in evaluation.findings}
        if stored != expected:
            wrong.append(rid)
    return wrong


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU of a process (this one by default), from /proc; 0 where unavailable."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def main(argv: list[str] | None = None) -> int:
    from sim.azurite import running_azurite
    from sim.estate import generated_estate
    from sim.fixture import spawned_sim

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--estate", type=int, default=1000, help="generated resources")
    parser.add_argument("--mode", choices=("backlog", "realtime"), default="backlog")
    parser.add_argument("--speed", type=float, default=1.0, help="realtime: x recorded pace")
    parser.add_argument("--concurrency", type=int, default=4, help="deliveries at once")
    parser.add_argument("--instances", type=int, default=1, help="processes sharing the deliveries")
    parser.add_argument("--workers", type=int, default=8, help="pipeline worker threads")
    parser.add_argument("--users", type=int, default=4, help="users making the burst at once")
    parser.add_argument("--scale", type=float, default=1.0, help="burst size factor")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--trace",
        type=Path,
        default=Path(tempfile.gettempdir()) / "phiguard-replay-trace.ndjson",
        help="where the recorded trace is saved",
    )
    args = parser.parse_args(argv)
    shown = sys.argv[1:] if argv is None else argv
    print(" ".join(["$ python -m bench.replay", *shown]))

    estate = generated_estate(args.estate, 0, args.seed)
    mix = BurstMix().scaled(args.scale)
    with (
        tempfile.TemporaryDirectory(prefix="phiguard-replay-") as tmp,
        running_azurite() as azurite,
        spawned_sim(
            estate=str(args.estate), seed=args.seed, events_to=str(Path(tmp) / "events.ndjson")
        ) as sim,
    ):
        settings = Settings(
            storage_connection_string=azurite.connection_string,
            table_prefix="replay" + uuid.uuid4().hex[:8],
            **sim.settings_kwargs(),
        )
        ctx = AppContext(settings)
        ctx.pipeline.workers = args.workers
        reset_app_context(ctx)
        try:
            ctx.store.ensure_tables()
            started = time.perf_counter()
            swept = sum(len(ctx.pipeline.sweep(s).outcomes) for s in sim.subscriptions)
            print(
                f"estate: generated {args.estate:,} resources (seed {args.seed}); baseline sweep "
                f"recorded {swept:,} resources in {time.perf_counter() - started:.1f}s"
            )

            scripts = plan_burst(estate, mix, args.seed)
            burst = record_burst(
                sim, Path(tmp) / "events.ndjson", scripts, threads=args.users, seed=args.seed
            )
            trace = imitate_event_grid(burst.events, seed=args.seed)
            write_ndjson(trace, args.trace)
            kinds = Counter(c.kind for s in scripts for c in s)
            print(
                f"burst: {burst.changes:,} changes on {burst.resources:,} resources by "
                f"{args.users} users in {burst.seconds:.1f}s ("
                + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
                + f") -> {len(burst.events):,} events ({len(burst.events) - burst.changes} more "
                "than changes: ARM reports a create, of a resource or a rule, with two)"
            )
            print(
                f"trace: {len(trace):,} events ({len(trace) - len(burst.events)} redelivered, "
                f"shuffled within 20-event windows) saved to {args.trace}"
            )

            deliveries, origin = plan_deliveries(trace, args.mode, args.speed, args.seed, 0.5)
            sim.reset_counters()
            reads_before = Counter(ctx.reader.stats.by_kind)
            pids = {"phiguard": None, "sim": sim.process.pid if sim.process else 0}
            pids["azurite"] = azurite.pid
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            if args.instances > 1:
                result = replay_instances(
                    settings, args.workers, deliveries, args.instances, args.concurrency, origin
                )
            else:
                result = replay(ctx, deliveries, args.concurrency, origin)
            cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
            counters = sim.counters()
            by_kind = Counter(ctx.reader.stats.by_kind)
            by_kind.subtract(reads_before)
            if args.instances > 1:
                cpu["phiguard"] = result.cpu_seconds
                by_kind.update(result.reads_by_kind)

            gets = int(counters["by_method"].get("GET", 0))
            total = int(counters["total"])
            per_event = gets / len(trace)
            distinct = len({str(e["id"]) for e in trace})
            rate = len(trace) / result.seconds
            print(
                f"replay ({args.mode}{f', x{args.speed:g} speed' if args.mode == 'realtime' else ''}"
                f"): {result.deliveries} deliveries of 1-50 events, {args.concurrency} at once "
                + (
                    f"in each of {args.instances} instances (processes)"
                    if args.instances > 1
                    else "in one instance"
                )
                + f", {result.redeliveries} redelivered"
            )
            print(
                f"  ARM reads: {gets:,} GETs ({total:,} requests) for {len(trace):,} events = "
                f"{per_event:.2f} per event (target <= {READS_TARGET}; "
                f"{gets / distinct:.2f} per distinct event); by kind: "
                + ", ".join(f"{k} {n}" for k, n in by_kind.most_common() if n)
            )
            print(
                f"  throughput: {len(trace):,} events in {result.seconds:.2f}s = {rate:,.0f} "
                f"events/s end to end (target >= {RATE_TARGET:.0f}/s)"
            )
            print(
                "  CPU during the replay: "
                + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in cpu.items())
                + f" ({os.cpu_count()} cores)"
            )
            d50, d99 = (percentile(result.delivery_latency, p) for p in (50, 99))
            print(
                f"  delivery latency (handler receives a delivery -> answers, every resource in it "
                f"recorded): p50 {d50 * 1000:.0f} ms, p99 {d99 * 1000:.0f} ms"
            )
            if args.mode == "realtime":
                r50, r99 = (percentile(result.resource_latency, p) for p in (50, 99))
                print(
                    f"  event -> recorded (ResourceOutcome.latency_seconds, {len(result.resource_latency)} "
                    f"resource reads): p50 {r50 * 1000:.0f} ms, p99 {r99 * 1000:.0f} ms, mean "
                    f"{statistics.fmean(result.resource_latency) * 1000:.0f} ms"
                )
            print(
                "  outcomes per resource and delivery: "
                + ", ".join(f"{k} {n}" for k, n in result.actions.most_common())
                + "; events ignored in parsing: "
                + (", ".join(f"{k} {n}" for k, n in result.ignored.most_common()) or "none")
            )
            touched = {c.resource for s in scripts for c in s}
            wrong = verify(ctx, touched)
            print(
                f"  converged: {len(touched) - len(wrong)}/{len(touched)} touched resources' stored "
                "findings equal a fresh evaluation of ARM's final state"
                + (f"; differ: {', '.join(wrong[:5])}" if wrong else "")
            )
        finally:
            reset_app_context(None)
    return 0 if not wrong else 1


if __name__ == "__main__":
    raise SystemExit(main())
