"""The pipeline of one delivery: events → freshness → ARM read → checks → state store.

Exactly-once *in effect*: Event Grid delivers at least once, out of order, for up to 24 hours.
Changes are grouped per affected resource, so a burst of events on one resource costs one read;
a resource whose stored state was read after the newest event is skipped without an ARM call
(coalesced); the store writes only what changed, under an ETag, so duplicates, reordering and
concurrent workers converge on the same state and history. A transient failure on one resource
does not stop the others: it is raised at the end so Event Grid redelivers the batch, and the
resources already recorded are then coalesced.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.changes import Cause, ResourceChange
from shared.resource_id import normalize, parse

if TYPE_CHECKING:
    from shared.arm_reader import ArmReader
    from shared.engine import Engine
    from shared.events import Delivery
    from shared.state_store import StateStore

log = logging.getLogger("phiguard.pipeline")


class RedeliverError(RuntimeError):
    """Some resources of the delivery hit transient failures; Event Grid must redeliver."""


@dataclass
class Outcome:
    resource_id: str
    action: str  # "recorded", "unchanged", "coalesced", "duplicate", "deleted", "stale", "failed"
    transitions: int = 0
    latency_seconds: float | None = None  # newest event time → state recorded


@dataclass
class BatchResult:
    events: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)
    poison: int = 0
    transient: list[str] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for o in self.outcomes if o.action == action)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Pipeline:
    def __init__(
        self,
        engine: Engine,
        reader: ArmReader,
        store: StateStore,
        *,
        workers: int = 8,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.reader = reader
        self.store = store
        self.workers = workers
        self.clock = clock

    def handle(self, delivery: Delivery) -> BatchResult:
        """Processes a parsed delivery; raises RedeliverError after recording what it could."""
        result = BatchResult(events=len(delivery.changes) + sum(delivery.ignored.values()))
        result.ignored.update(delivery.ignored)
        for poison in delivery.poison:
            self.store.record_poison(poison.raw, poison.error, "event", self.clock())
            result.poison += 1
            log.warning("poison event recorded: %s", poison.error)
        groups: dict[str, list[ResourceChange]] = {}
        for change in delivery.changes:
            groups.setdefault(normalize(change.resource_id), []).append(change)
        ordered = [sorted(g, key=lambda c: c.event_time) for g in groups.values()]
        if self.workers > 1 and len(ordered) > 1:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(ordered))) as pool:
                outcomes = list(pool.map(self._safe_process, ordered))
        else:
            outcomes = [self._safe_process(g) for g in ordered]
        for outcome in outcomes:
            result.outcomes.append(outcome)
            if outcome.action == "failed":
                result.transient.append(outcome.resource_id)
        if result.transient:
            raise RedeliverError(
                f"{len(result.transient)} resource(s) hit transient failures; redeliver: "
                + ", ".join(result.transient[:5])
            )
        return result

    def _safe_process(self, changes: Sequence[ResourceChange]) -> Outcome:
        from shared.arm_reader import ArmError, TransientArmError

        newest = changes[-1]
        try:
            return self._process(changes)
        except TransientArmError as exc:
            log.warning("transient ARM failure for %s: %s", newest.resource_id, exc)
            return Outcome(newest.resource_id, "failed")
        except ArmError as exc:
            # Not retryable (403, 400, ...): keep the event, say why, go on with the batch.
            self.store.record_poison(
                _change_summary(newest), f"ARM refused the read: {exc}", "arm", self.clock()
            )
            return Outcome(newest.resource_id, "poison")
        except Exception as exc:
            if _is_transient_storage_error(exc):
                log.warning("transient storage failure for %s: %s", newest.resource_id, exc)
                return Outcome(newest.resource_id, "failed")
            raise

    def _process(self, changes: Sequence[ResourceChange]) -> Outcome:
        newest = changes[-1]
        rid = newest.resource_id
        if all(self.store.event_processed(c.event_id) for c in changes):
            return Outcome(rid, "duplicate")
        marker = self.store.marker(rid)
        if marker is not None and marker.last_read_at >= newest.event_time:
            self._mark(changes)
            return Outcome(rid, "coalesced")
        cause = Cause(
            kind="event",
            event_id=newest.event_id,
            event_time=newest.event_time,
            caller_appid=newest.caller_appid,
            correlation_id=newest.correlation_id,
        )
        if parse(rid).type == "microsoft.resources/resourcegroups":
            # Its tags decide the PHI scope of everything in it: re-evaluate its resources.
            outcome = self._reevaluate_group(rid, cause)
            self._mark(changes)
            return outcome
        if parse(rid).type == "microsoft.network/networkwatchers/flowlogs":
            # A flow log's checks live on what it covers: evaluate its target instead.
            flow_log = self.reader.resource(rid)
            props = flow_log.get("properties") if flow_log else None
            target = props.get("targetResourceId") if isinstance(props, dict) else None
            if not isinstance(target, str):
                self._mark(changes)
                return Outcome(rid, "unchanged")
            rid = target
        outcome = self.evaluate_resource(rid, cause)
        self._mark(changes)
        outcome.latency_seconds = (self.clock() - newest.event_time).total_seconds()
        return outcome

    def evaluate_resource(
        self, resource_id: str, cause: Cause, body: dict[str, object] | None = None
    ) -> Outcome:
        """Read (unless ``body`` is given), evaluate and record one resource."""
        read_at = self.clock()
        snapshot = self.reader.snapshot(resource_id, self.engine, body)
        if snapshot is None:
            record = self.store.record_deleted(resource_id, at=read_at, cause=cause)
            return Outcome(resource_id, "deleted", len(record.transitions))
        evaluation = self.engine.evaluate(snapshot)
        record = self.store.record_evaluation(evaluation, read_at=read_at, cause=cause)
        action = "recorded" if record.outcome == "changed" else record.outcome
        return Outcome(resource_id, action, len(record.transitions))

    def _reevaluate_group(self, group_id: str, cause: Cause) -> Outcome:
        from shared import api_versions

        self.reader.forget_resource_group(group_id)
        outcome = self.evaluate_resource(group_id, cause)
        if outcome.action == "deleted":
            return outcome  # its resources' own delete events close their findings
        supported = self.engine.supported_types()
        transitions = outcome.transitions
        for item in self.reader.list_items(f"{group_id}/resources", api_versions.DEFAULT):
            rid = item.get("id")
            if isinstance(rid, str) and parse(rid).type in supported:
                transitions += self.evaluate_resource(rid, cause).transitions
        return Outcome(group_id, "recorded", transitions)

    def _mark(self, changes: Iterable[ResourceChange]) -> None:
        now = self.clock()
        for change in changes:
            self.store.mark_event_processed(change.event_id, now)

    # --- the sweep ---------------------------------------------------------------------------

    def sweep(
        self, subscription: str, progress: Callable[[int, int], None] | None = None
    ) -> BatchResult:
        """Evaluates every supported resource of a subscription (the daily reconciliation).

        Full bodies come from list-by-subscription calls (ARM returns full properties there);
        per-resource reads are made only for the related documents checks need.
        """
        from shared import api_versions

        started = time.monotonic()
        cause = Cause(kind="sweep", event_time=self.clock())
        bodies: list[dict[str, object]] = []
        for rtype in sorted(self.engine.supported_types()):
            if rtype == "microsoft.resources/subscriptions":
                sub = self.reader.resource(f"/subscriptions/{subscription}")
                if sub is not None:
                    bodies.append(sub)
                continue
            path = _list_path(subscription, rtype, self.reader, bodies)
            if path is None:
                continue
            for body in self.reader.list_items(path, api_versions.for_type(rtype)):
                bodies.append(body)
        result = BatchResult(events=0)
        done = 0

        def one(body: dict[str, object]) -> Outcome:
            return self._safe_sweep_one(str(body["id"]), cause, body)

        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            for outcome in pool.map(one, bodies):
                result.outcomes.append(outcome)
                if outcome.action == "failed":
                    result.transient.append(outcome.resource_id)
                done += 1
                if progress is not None:
                    progress(done, len(bodies))
        log.info(
            "sweep of %s: %d resources in %.1fs",
            subscription,
            len(bodies),
            time.monotonic() - started,
        )
        return result

    def _safe_sweep_one(self, rid: str, cause: Cause, body: dict[str, object]) -> Outcome:
        from shared.arm_reader import ArmError, TransientArmError

        try:
            return self.evaluate_resource(rid, cause, body)
        except TransientArmError:
            return Outcome(rid, "failed")
        except ArmError as exc:
            self.store.record_poison(rid, f"ARM refused the read: {exc}", "sweep", self.clock())
            return Outcome(rid, "poison")


def _list_path(
    subscription: str, rtype: str, reader: ArmReader, bodies: list[dict[str, object]]
) -> str | None:
    """Where a type is listed: per subscription for top-level types; child types are listed
    under each parent already collected (types are visited sorted, so parents come first) and
    appended to ``bodies`` directly."""
    from shared import api_versions

    parts = rtype.split("/")
    if len(parts) == 2:
        namespace, name = parts
        return f"/subscriptions/{subscription}/providers/{namespace}/{name}"
    parent_type, child = "/".join(parts[:-1]), parts[-1]
    parents = [b for b in bodies if parse(str(b["id"])).type == parent_type]
    for owner in parents:
        for item in reader.list_items(f"{owner['id']}/{child}", api_versions.for_type(rtype)):
            if rtype == "microsoft.sql/servers/databases" and str(item.get("name")) == "master":
                continue  # the system database: its TDE is managed by Azure and not settable
            bodies.append(item)
    return None


def _change_summary(change: ResourceChange) -> str:
    return (
        f'{{"id": "{change.event_id}", "eventType": "{change.event_type}", '
        f'"subject": "{change.source_id}"}}'
    )


def _is_transient_storage_error(exc: Exception) -> bool:
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    from shared.state_store import ConcurrentUpdateError

    if isinstance(exc, ServiceRequestError | ServiceResponseError | ConcurrentUpdateError):
        return True
    return isinstance(exc, HttpResponseError) and (exc.status_code or 0) >= 500
