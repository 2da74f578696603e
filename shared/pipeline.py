"""The pipeline of one delivery: events → freshness → ARM read → checks → state store.

Exactly-once *in effect*: Event Grid delivers at least once, out of order, for up to 24 hours.
Changes are grouped per affected resource, so a burst of events on one resource costs one read;
a resource whose stored state was read after the newest event is skipped without an ARM call
(coalesced); the store writes only what changed, under an ETag, so duplicates, reordering and
concurrent workers converge on the same state and history. A transient failure on one resource
does not stop the others: it is raised at the end so Event Grid redelivers the batch, and the
resources already recorded are then coalesced.

Storage calls per resource, not per event: a process remembers (bounded) the read times it
recorded or saw in markers and the event ids it processed, so a later delivery naming an
already-read resource is coalesced without asking the store; concurrent deliveries naming the
same resource take turns in the process, so it is read once. Freshness is checked with one query
that also loads the rows the record then diffs against. The store's event table is kept for the
events a marker cannot vouch for (see ``Pipeline._mark``).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from shared.arm import ArmError
from shared.errors import RedeliverError as RedeliverError
from shared.errors import StoreUnavailableError as StoreUnavailableError
from shared.errors import TransientError, is_transient
from shared.follow_up_batch import DeferredFollowUp, FollowUpBatch
from shared.kernel.changes import Cause, ResourceChange
from shared.kernel.clock import utcnow as utcnow
from shared.kernel.findings import Status
from shared.kernel.resource_id import normalize, parse
from shared.outcomes import Action as Action
from shared.outcomes import BatchResult as BatchResult
from shared.outcomes import ResourceOutcome as ResourceOutcome

if TYPE_CHECKING:
    from shared.arm import ArmReader
    from shared.engine import Engine, Evaluation
    from shared.events import Delivery
    from shared.kernel.snapshot import Snapshot
    from shared.state.model import RecordOutcome, ResourceMarker, StateStore

log = logging.getLogger("phiguard.pipeline")


# Called with (snapshot, evaluation, cause, check ids) after a record, for the failing checks
# whose follow-up is due: remediation and ACTION_REQUIRED (shared.actions). It must be safe to
# call again for the same checks (a redelivery after a crash does). In a sweep it is also given
# a DeferredFollowUp that may take what waits for its ACTION_REQUIRED records (the batch).
class AfterRecord(Protocol):
    def __call__(
        self,
        snapshot: Snapshot,
        evaluation: Evaluation,
        cause: Cause,
        checks: tuple[str, ...],
        later: DeferredFollowUp | None = None,
        /,
    ) -> object: ...


# Called by the sweep with (snapshot, evaluation, cause) for a resource with failures that are
# not new: applies the fixes that may write now (shared.actions.PostRecordActions.catch_up).
CatchUp = Callable[["Snapshot", "Evaluation", Cause], object]
# Called with (resource id, evaluation or None when deleted, record outcome) after every record
# that changed something: closes issues of checks that stopped failing (shared.actions). It
# must not raise.
Recorded = Callable[[str, "Evaluation | None", "RecordOutcome"], object]

_FOLLOW_UP_STAGE = "following up its failures (fix or action required)"

# How long a check's pending follow-up is left to the worker that recorded it (it normally takes
# well under a second) before a redelivery or the sweep takes it over: the outbox's lease.
ACTIONS_LEASE = timedelta(seconds=60)


class _PendingElsewhere(TransientError):
    """The resource has follow-ups another worker is within its lease to finish."""


class _Memory:
    """What this process knows about the store without asking it again (bounded, thread-safe).

    ``horizon(key)`` is a lower bound of the resource's stored ``last_read_at``, learnt from
    markers this process read and from records it made: the store never moves ``last_read_at``
    back, so an event older than the horizon is coalesced exactly as the stored marker would
    decide, without reading the marker. ``processed`` holds event ids this process marked.
    ``hold(key)`` serializes the processing of one resource across the concurrent deliveries of
    this process, so the second of two deliveries naming a resource finds the first one's read
    and is coalesced instead of reading ARM again (and neither loses an ETag race to the other).
    """

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._horizon: OrderedDict[str, datetime] = OrderedDict()
        self._processed: OrderedDict[str, None] = OrderedDict()
        self._holds: dict[str, _Hold] = {}

    def horizon(self, key: str) -> datetime | None:
        with self._lock:
            return self._horizon.get(key)

    def forget(self, key: str) -> None:
        with self._lock:
            self._horizon.pop(key, None)

    def learn(self, key: str, read_at: datetime) -> None:
        with self._lock:
            known = self._horizon.get(key)
            if known is None or read_at > known:
                self._horizon[key] = read_at
            self._horizon.move_to_end(key)
            while len(self._horizon) > self.size:
                self._horizon.popitem(last=False)

    def processed(self, event_id: str) -> bool:
        with self._lock:
            return event_id in self._processed

    def remember_processed(self, event_id: str) -> None:
        with self._lock:
            self._processed[event_id] = None
            self._processed.move_to_end(event_id)
            while len(self._processed) > self.size:
                self._processed.popitem(last=False)

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._lock:
            entry = self._holds.setdefault(key, _Hold())
            entry.users += 1
        try:
            with entry.lock:
                yield
        finally:
            with self._lock:
                entry.users -= 1
                if entry.users == 0:
                    del self._holds[key]


@dataclass
class _Hold:
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


class Pipeline:
    def __init__(
        self,
        engine: Engine,
        reader: ArmReader,
        store: StateStore,
        *,
        workers: int = 8,
        clock: Callable[[], datetime] = utcnow,
        after_record: AfterRecord | None = None,
        catch_up: CatchUp | None = None,
        may_catch_up: Callable[[str, bool], bool] | None = None,
        recorded: Recorded | None = None,
        follow_up_batch: Callable[[], FollowUpBatch] | None = None,
    ) -> None:
        self.engine = engine
        self.follow_up_batch = follow_up_batch
        self.after_record = after_record
        self.catch_up = catch_up
        # Whether catch_up could act on a resource of a type and PHI scope; unknown: it could.
        self.may_catch_up = may_catch_up
        self.recorded = recorded
        self.reader = reader
        self.store = store
        self.workers = workers
        self.clock = clock
        self._memory = _Memory()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._patient: ArmReader | None = None

    def _executor(self) -> ThreadPoolExecutor:
        """One pool of ``workers`` threads for every delivery this pipeline handles: concurrent
        deliveries share it (threads beyond that only contend for the interpreter lock)."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=max(1, self.workers), thread_name_prefix="phiguard-pipeline"
                )
            return self._pool

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
            outcomes = list(self._executor().map(self._safe_process, ordered))
        else:
            outcomes = [self._safe_process(g) for g in ordered]
        for outcome in outcomes:
            result.add(outcome)
        if result.transient:
            raise RedeliverError(
                f"{len(result.transient)} resource(s) hit transient failures; redeliver: "
                + ", ".join(result.transient[:5])
            )
        return result

    def _safe_process(self, changes: Sequence[ResourceChange]) -> ResourceOutcome:
        """One resource's changes processed; what it raised decides its outcome, never the
        batch's: transient (``is_transient``) → failed (redeliver), ARM's refusal → poison,
        anything else → the resource's ERROR."""
        newest = changes[-1]
        try:
            return self._process(changes)
        except _PendingElsewhere:
            return ResourceOutcome(newest.resource_id, Action.FAILED)
        except ArmError as exc:
            # Not retryable (403, 400, ...): keep the event, say why, go on with the batch.
            self.store.record_poison(
                _change_summary(newest), f"ARM refused the read: {exc}", "arm", self.clock()
            )
            return ResourceOutcome(newest.resource_id, Action.POISON)
        except Exception as exc:
            if is_transient(exc):
                log.warning(
                    "transient failure for %s (%s): %s",
                    newest.resource_id,
                    type(exc).__name__,
                    exc,
                )
                return ResourceOutcome(newest.resource_id, Action.FAILED)
            return self.isolate(newest.resource_id, exc, Cause(kind="event"))

    def isolate(self, resource_id: str, exc: Exception, cause: Cause) -> ResourceOutcome:
        """One resource raised something unexpected: record it as that resource's ERROR (the
        exception's type and the stage, never its text: it may quote resource data) and go on.
        Recording it failing too is transient: the delivery is redelivered."""
        stage = str(getattr(exc, "phiguard_stage", "processing"))
        log.error("could not process %s while %s: %s", resource_id, stage, type(exc).__name__)
        try:
            self.store.record_error(resource_id, stage=stage, error=exc, cause=cause)
        except Exception as store_exc:
            log.warning(
                "could not record the error of %s: %s", resource_id, type(store_exc).__name__
            )
            return ResourceOutcome(resource_id, Action.FAILED)
        return ResourceOutcome(resource_id, Action.ERROR)

    def _process(self, changes: Sequence[ResourceChange]) -> ResourceOutcome:
        key = normalize(changes[-1].resource_id)
        with self._memory.hold(key):
            return self._process_held(changes, key)

    def _process_held(self, changes: Sequence[ResourceChange], key: str) -> ResourceOutcome:
        newest = changes[-1]
        rid = newest.resource_id
        memory = self._memory
        unknown = [c for c in changes if not memory.processed(c.event_id)]
        if not unknown:
            return ResourceOutcome(rid, Action.DUPLICATE)
        known = memory.horizon(key)
        overdue = False
        if known is None or known < newest.event_time:
            marker = self.store.marker(rid, prefetch=True)
            if marker is not None:
                if marker.actions_pending and self.after_record is not None:
                    if not self._lease_expired(marker.actions_pending_since):
                        # Another worker recorded these failures a moment ago and is acting
                        # on them, or failed to: come back once its lease is over (and ask the
                        # store again then: the horizon is not learnt).
                        raise _PendingElsewhere(rid)
                    overdue = True
                memory.learn(key, marker.last_read_at)
                known = memory.horizon(key)
            if (
                not overdue
                and (known is None or known < newest.event_time)
                and self._all_recorded(marker, unknown)
            ):
                return ResourceOutcome(rid, Action.DUPLICATE)
        if not overdue and known is not None and known >= newest.event_time:
            self._mark(unknown, key)
            return ResourceOutcome(rid, Action.COALESCED)
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
            self._mark(unknown, key)
            return outcome
        if parse(rid).type == "microsoft.network/networkwatchers/flowlogs":
            # A flow log's checks live on what it covers: evaluate its target instead.
            flow_log = self.reader.resource(rid)
            props = flow_log.get("properties") if flow_log else None
            target = props.get("targetResourceId") if isinstance(props, dict) else None
            if not isinstance(target, str):
                self._mark(unknown, key)
                return ResourceOutcome(rid, Action.UNCHANGED)
            rid = target
        outcome = self.evaluate_resource(rid, cause)
        self._mark(unknown, key)
        outcome.latency_seconds = (self.clock() - newest.event_time).total_seconds()
        return outcome

    def evaluate_resource(
        self, resource_id: str, cause: Cause, body: dict[str, object] | None = None
    ) -> ResourceOutcome:
        """Read (unless ``body`` is given), evaluate and record one resource."""
        return self.evaluate_with(self.reader, resource_id, cause, body)

    def evaluate_with(
        self,
        reader: ArmReader,
        resource_id: str,
        cause: Cause,
        body: dict[str, object] | None = None,
        group: Mapping[str, object] | None = None,
        batch: FollowUpBatch | None = None,
    ) -> ResourceOutcome:
        """:meth:`evaluate_resource` through ``reader`` (the sweep's patient one), with the body
        of the resource's group when known; follows up failures as configured, what waits for
        ACTION_REQUIRED records through ``batch`` when given (the sweep's)."""
        read_at = self.clock()
        with _stage("reading it from ARM"):
            snapshot = reader.snapshot(
                resource_id, self.engine, body, group, fresh_lists=cause.kind != "sweep"
            )
        body_id = snapshot.resource.get("id") if snapshot is not None else None
        if snapshot is not None and (
            not isinstance(body_id, str) or normalize(body_id) != normalize(resource_id)
        ):
            # ARM answered for another resource than the one asked for: judging it under this
            # id would file one resource's verdict, scope and fixes under another's name.
            raise ArmError(200, "ResourceIdMismatch", f"the body's id is {body_id!r:.200}", "")
        if snapshot is None:
            record = self.store.record_deleted(resource_id, at=read_at, cause=cause)
            self._memory.learn(normalize(resource_id), read_at)
            if self.recorded is not None and record.transitions:
                self.recorded(resource_id, None, record)
            return ResourceOutcome(
                resource_id, Action.DELETED, len(record.transitions), current=record.current
            )
        engine = self.engine
        if cause.kind == "sweep" and engine.remember_inputs and self.store.remembers_inputs:
            with _stage("evaluating its checks"):
                digest = engine.input_digest(snapshot)
            if digest:
                with _stage("recording its findings"):
                    # A failure a fix may catch up on is judged again to find it.
                    confirmed = self.store.confirm_unchanged_input(
                        resource_id,
                        digest,
                        read_at=read_at,
                        cause=cause,
                        unless_failing=self._catches_up(snapshot),
                    )
                if confirmed is not None:
                    return ResourceOutcome(resource_id, Action.UNCHANGED, current=confirmed.current)
        with _stage("evaluating its checks"):
            evaluation = engine.evaluate(snapshot)
        follow_up = self.after_record if cause.kind != "remediation" else None
        with _stage("recording its findings"):
            record = self.store.record_evaluation(
                evaluation, read_at=read_at, cause=cause, track_actions=follow_up is not None
            )
        # Recorded, unchanged or stale: the stored last_read_at is now at least read_at (unless
        # the evaluation was partial, or a sweep's read was confirmed beside the marker: then
        # it did not move).
        key = normalize(resource_id)
        if not evaluation.partial and record.read_on_marker:
            self._memory.learn(key, read_at)
        if self.recorded is not None and record.outcome == "changed":
            self.recorded(resource_id, evaluation, record)
        due = self._due_actions(record) if follow_up is not None else ()
        if due and follow_up is not None:
            later = DeferredFollowUp(resource_id) if batch is not None else None
            try:
                with _stage(_FOLLOW_UP_STAGE):
                    follow_up(snapshot, evaluation, cause, due, later)
            except BaseException:
                # The store still lists them: make a redelivery ask it instead of coalescing.
                self._memory.forget(key)
                raise
            if batch is not None and later is not None and later.records:
                later.then(lambda _: self.store.clear_actions_pending(resource_id, due, record))
                later.failed = lambda exc: self._follow_up_failed(resource_id, key, exc, cause)
                batch.add(later)
            else:
                self.store.clear_actions_pending(resource_id, due, record)
        if (
            cause.kind == "sweep"
            and self.catch_up is not None
            and record.outcome != "stale"
            and any(f.status == Status.FAIL and f.check_id not in due for f in evaluation.findings)
        ):
            with _stage("catching up on fixes allowed since the failure was found"):
                self.catch_up(snapshot, evaluation, cause)
        action = Action.RECORDED if record.outcome == "changed" else Action(record.outcome)
        return ResourceOutcome(resource_id, action, len(record.transitions), current=record.current)

    def _catches_up(self, snapshot: Snapshot) -> bool:
        """Whether a sweep's catch-up could fix something on this resource (then one with a
        failure is judged even when its inputs are those its record was made from)."""
        if self.catch_up is None:
            return False
        if self.may_catch_up is None:
            return True
        return self.may_catch_up(snapshot.type, self.engine.phi_scope.is_phi(snapshot))

    def _follow_up_failed(self, resource_id: str, key: str, exc: Exception, cause: Cause) -> None:
        """A follow-up the sweep's batch could not finish: it stays pending in the store, a
        redelivery asks the store again, and what is not transient is recorded as the
        resource's processing ERROR, as :meth:`evaluate_with` would have had it raised."""
        self._memory.forget(key)
        if not is_transient(exc):
            _tag(exc, _FOLLOW_UP_STAGE)
            self.isolate(resource_id, exc, cause)

    def _due_actions(self, record: RecordOutcome) -> tuple[str, ...]:
        """The pending follow-ups this worker takes: those its own record added, and any whose
        lease expired (a worker that crashed or failed before finishing them)."""
        if record.outcome == "stale" or not record.actions_pending:
            return ()
        if self._lease_expired(record.actions_pending_since):
            return record.actions_pending
        mine = {t.check_id for t in record.transitions if t.to_status == "FAIL"}
        return tuple(c for c in record.actions_pending if c in mine)

    def _lease_expired(self, since: datetime | None) -> bool:
        return since is None or self.clock() - since >= ACTIONS_LEASE

    def _reevaluate_group(self, group_id: str, cause: Cause) -> ResourceOutcome:
        from shared.kernel import api_versions
        from shared.sweep import child_types, is_system_child

        self.reader.forget_resource_group(group_id)
        started = self.clock()
        outcome = self.evaluate_resource(group_id, cause)
        if outcome.action == "deleted":
            return outcome  # its resources' own delete events (or the sweep) close their findings
        supported = self.engine.supported_types()
        # ``/resources`` lists tracked resources (a SQL database, a FHIR service) but no proxy
        # children (a CDN custom domain): those are listed under each parent, as the sweep does.
        children = child_types(supported)
        transitions = outcome.transitions
        seen: set[str] = set()

        def evaluate(rid: str) -> None:
            nonlocal transitions
            key = normalize(rid)
            try:
                rtype = parse(rid).type
            except ValueError:
                return  # not a resource id: nothing a check could judge
            if key not in seen and rtype in supported:
                seen.add(key)
                transitions += self.evaluate_resource(rid, cause).transitions

        for item in self.reader.list_items(f"{group_id}/resources", api_versions.DEFAULT):
            rid = item.get("id")
            if not isinstance(rid, str):
                continue
            evaluate(rid)
            for child_type in children.get(parse(rid).type, ()):
                path = f"{rid}/{child_type.rpartition('/')[2]}"
                for child in self.reader.list_items(path, api_versions.for_type(child_type)):
                    child_id = child.get("id")
                    if isinstance(child_id, str) and not is_system_child(child_type, child):
                        evaluate(child_id)
        # Recorded in the group but no longer listed in it: moved out (a moveResources action on
        # the group is this event) or deleted with the event lost. A GET decides (see the sweep).
        # (The group's own marker was just read, and its type is no check's: never re-read here.)
        for resource_id in self.store.resources_unread_since(group_id, started):
            evaluate(resource_id)
        return ResourceOutcome(group_id, Action.RECORDED, transitions)

    def _all_recorded(
        self, marker: ResourceMarker | None, changes: Sequence[ResourceChange]
    ) -> bool:
        """Whether the store's event table lists every change (a redelivery the marker cannot
        vouch for). It holds only events that were newer than the resource's read when they were
        processed (see ``_mark``), and the record of that read carried the newest of them as its
        cause, so unless the marker's newest recorded event is at least as new as these, they
        were not recorded and the table is not asked."""
        if marker is not None and (
            marker.last_event_time is None
            or marker.last_event_time < max(c.event_time for c in changes)
        ):
            return False
        return all(self.store.event_processed(c.event_id) for c in changes)

    def _mark(self, changes: Iterable[ResourceChange], key: str) -> None:
        """Remembers the events as processed. The store's event table gets only those the
        resource's marker cannot vouch for (newer than its ``last_read_at``: clock skew, a flow
        log evaluated through its target): a redelivery of the others is coalesced by the marker
        without reading ARM, so a row per event would cost a write and save nothing."""
        now = self.clock()
        vouched = self._memory.horizon(key)
        for change in changes:
            if vouched is None or change.event_time > vouched:
                self.store.mark_event_processed(change.event_id, now)
            self._memory.remember_processed(change.event_id)

    # --- the sweep ---------------------------------------------------------------------------

    def sweep(
        self,
        subscription: str,
        progress: Callable[[int, int], None] | None = None,
        *,
        keep_current: bool = False,
    ) -> BatchResult:
        """Evaluates every supported resource of a subscription (the daily reconciliation; see
        ``shared.sweep``). ``progress(done, listed so far)`` follows the records;
        ``keep_current``: each outcome keeps its resource's stored findings (``scan``'s report)."""
        from shared.sweep import sweep

        return sweep(self, subscription, progress, keep_current=keep_current)

    def sweep_reader(self) -> ArmReader:
        """The reader with the sweep's retry budget (see ``ArmReader.patient``), built once."""
        with self._pool_lock:
            if self._patient is None:
                self._patient = self.reader.patient()
            return self._patient


@contextmanager
def _stage(name: str) -> Iterator[None]:
    """Tags an exception escaping the block with the stage it escaped from (first one wins)."""
    try:
        yield
    except Exception as exc:
        _tag(exc, name)
        raise


def _tag(exc: Exception, stage: str) -> None:
    if not hasattr(exc, "phiguard_stage"):
        with suppress(AttributeError):  # an exception type with __slots__
            exc.phiguard_stage = stage  # type: ignore[attr-defined]


def _change_summary(change: ResourceChange) -> str:
    return (
        f'{{"id": "{change.event_id}", "eventType": "{change.event_type}", '
        f'"subject": "{change.source_id}"}}'
    )
