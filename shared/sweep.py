"""The sweep: the daily reconciliation of every supported resource of a subscription.

Full bodies come from list-by-subscription calls (ARM returns full properties there);
per-resource reads are made only for the related documents checks need. Child resources (SQL
databases, Front Door custom domains, FHIR services) are listed under their parent by the worker
that evaluates it, so those per-parent list calls run in parallel with the rest. Resources are
evaluated one resource group after the other, with their types spread evenly within each (see
``_spread``), so the reads ARM throttles and the recording the CPU limits overlap all along;
each group's stored markers are read in one query when its first resource comes up
(``StateStore.preload_group``) instead of one query per resource, and a resource's check rows
only when its verdicts may have changed (the marker's ``content_digest``); a resource whose
inputs are those its marker was recorded from (``input_digest``: the code, the checks, its PHI
scope, its documents, the mute rules) is not judged at all, unless a fix allowed to write could
catch up on one of its failures. Once ARM's read
bucket is spent and its refill sets the pace, only as many workers work at once as keep up with
it (``shared.arm.throttle.PacedPool``): more would only add CPU.

Each resource is recorded through the pipeline (``Pipeline.evaluate_with``) with the sweep's
patient reader; its ACTION_REQUIRED records and what waits for them are written with other
resources' (``shared.follow_up_batch``), at the latest when the sweep ends. A transient failure
(``shared.errors.is_transient``) leaves a resource for the next sweep and the others go on;
storage failures in a row stop the sweep (:class:`StoreUnavailableError`) instead of costing
every remaining resource the storage client's retries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING

from shared.arm import ArmError
from shared.arm.throttle import PacedPool
from shared.errors import StoreUnavailableError, TransientServiceError, is_transient
from shared.kernel import api_versions
from shared.kernel.changes import Cause
from shared.kernel.resource_id import normalize, parse
from shared.outcomes import Action, BatchResult, ResourceOutcome

if TYPE_CHECKING:
    from shared.arm import ArmReader
    from shared.pipeline import Pipeline

log = logging.getLogger("phiguard.pipeline")

# Consecutive transient storage failures after which a sweep stops trying its remaining
# resources (each try costs the storage client's retries, ~5 s): they wait for the next sweep.
STORE_BREAKER_LIMIT = 8
# A resource group with more resources than this is not preloaded (its rows would all be held
# in memory at once); its resources read their own rows.
PRELOAD_LIMIT = 2000


class _StoreBreaker:
    def __init__(self, limit: int = STORE_BREAKER_LIMIT) -> None:
        self.limit = limit
        self.consecutive = 0
        self._lock = threading.Lock()

    @property
    def open(self) -> bool:
        with self._lock:
            return self.consecutive >= self.limit

    def record(self, storage_failed: bool) -> None:
        with self._lock:
            self.consecutive = self.consecutive + 1 if storage_failed else 0


def store_endpoint(store: object) -> str:
    """Where the store lives, for messages (no credentials: the URL has none)."""
    service = getattr(store, "service", None)
    url = getattr(service, "url", None)
    return str(url).split("?")[0] if url else type(store).__name__


def sweep(
    pipeline: Pipeline,
    subscription: str,
    progress: Callable[[int, int], None] | None = None,
    *,
    keep_current: bool = False,
) -> BatchResult:
    """Evaluates every supported resource of ``subscription`` through ``pipeline`` (see the
    module's doc). ``progress(done, listed so far)`` follows the records. ``keep_current``: each
    outcome keeps what its record left in the store (``ResourceOutcome.current``) for a report
    of this sweep, instead of reading the store back; otherwise it is dropped as the outcome
    comes in (held for a whole sweep, it would be every row of the subscription in memory)."""
    return _Sweep(pipeline, subscription, keep_current).run(progress)


class _Sweep:
    """One sweep of one subscription."""

    def __init__(self, pipeline: Pipeline, subscription: str, keep_current: bool = False) -> None:
        self.keep_current = keep_current
        self.pipeline = pipeline
        self.store = pipeline.store
        self.engine = pipeline.engine
        self.subscription = subscription
        self.breaker = _StoreBreaker()
        factory = pipeline.follow_up_batch
        self.batch = factory() if factory is not None else None

    def run(self, progress: Callable[[int, int], None] | None) -> BatchResult:
        subscription = self.subscription
        pipeline = self.pipeline
        started = time.monotonic()
        cause = Cause(kind="sweep", event_time=pipeline.clock())
        try:
            self.store.marker(f"/subscriptions/{subscription}")
        except Exception as exc:
            if is_transient(exc):
                raise StoreUnavailableError(
                    f"state store unreachable at {store_endpoint(self.store)} "
                    f"({type(exc).__name__}); nothing swept"
                ) from None
            raise
        breaker = self.breaker
        reader = pipeline.sweep_reader()
        groups = reader.resource_groups(subscription)
        children = child_types(self.engine.supported_types())
        supported = self.engine.supported_types()
        result = BatchResult(events=0)
        listed = [0]
        lock = threading.Lock()

        preloads: dict[str, threading.Lock] = {}

        def preload(group_key: str) -> None:
            """The group's stored rows in one query, by whichever worker needs them first."""
            if group_key not in preloads or group_counts.get(group_key, 0) > PRELOAD_LIMIT:
                return
            with preloads[group_key]:
                if group_key in preloaded:
                    return
                try:
                    # A scan that reports what its records left wants every row at hand.
                    self.store.preload_group(group_key, checks=self.keep_current)
                except Exception as exc:  # a per-resource query then reads what is needed
                    if not is_transient(exc):
                        raise
                    log.warning("could not preload %s: %s", group_key, exc)
                preloaded.add(group_key)

        listed_keys: set[str] = set()  # every resource the listing named, found or not
        unlisted_parents: set[str] = set()  # parents whose child list failed

        def one(body: dict[str, object]) -> ResourceOutcome:
            rid = str(body["id"])
            group_id = parse(rid).resource_group_id
            group = groups.get(normalize(group_id)) if group_id is not None else None
            if breaker.open:
                return ResourceOutcome(rid, Action.FAILED)
            if group_id is not None:
                preload(normalize(group_id))
            return self.safe_one(reader, rid, cause, body, group)

        def family(body: dict[str, object]) -> list[ResourceOutcome]:
            """The resource, then its child resources as ARM lists them under it, and theirs.
            A list that fails counts as one unread (or poison) entry named by its path."""
            body_type = parse(str(body["id"])).type
            # A parent of no check of its own (a Health Data Services workspace) is listed only
            # to reach its children (FHIR services).
            outcomes = [one(body)] if body_type in supported else []
            for child_type in children.get(body_type, ()):
                path = f"{body['id']}/{child_type.rpartition('/')[2]}"
                try:
                    items = list(reader.list_items(path, api_versions.for_type(child_type)))
                except ArmError as exc:
                    self.store.record_poison(
                        path, f"ARM refused the list: {exc}", "sweep", pipeline.clock()
                    )
                    outcomes.append(ResourceOutcome(path, Action.POISON))
                    with lock:
                        unlisted_parents.add(normalize(str(body["id"])))
                    continue
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    outcomes.append(ResourceOutcome(path, Action.FAILED))
                    with lock:
                        unlisted_parents.add(normalize(str(body["id"])))
                    continue
                for item in items:
                    if is_system_child(child_type, item):
                        continue
                    with lock:
                        listed[0] += 1
                        listed_keys.add(normalize(str(item["id"])))
                    outcomes.extend(family(item))
            return outcomes

        def collect(future: Future[list[ResourceOutcome]]) -> None:
            outcomes = future.result()
            if self.batch is not None:
                self.batch.flush_if_due()
            for outcome in outcomes:
                if not self.keep_current:
                    outcome.current = None
                result.add(outcome)
                if progress is not None:
                    with lock:
                        total = listed[0]
                    progress(len(result.outcomes), max(total, len(result.outcomes)))

        bodies = _by_group(_spread(list(self.listed(reader, set(children)))))
        listed[0] = sum(1 for b in bodies if parse(str(b["id"])).type in supported)
        listed_keys.update(normalize(str(b["id"])) for b in bodies)
        group_counts = Counter(_group_key(b) for b in bodies)
        preloaded: set[str] = set()
        preloads.update((g, threading.Lock()) for g in group_counts if g)
        try:
            # A first sweep: one query instead of one per resource group, each finding nothing.
            self.store.preload_if_empty(f"/subscriptions/{subscription}")
        except Exception as exc:  # each group's preload then asks for itself
            if not is_transient(exc):
                raise
        pool = PacedPool(reader.gates, subscription, pipeline.workers)
        try:
            with pool:
                futures = [pool.submit(family, body) for body in bodies]
                group_ends = {_group_key(body): i for i, body in enumerate(bodies)}
                stale: list[str] = []
                for i, future in enumerate(futures):
                    collect(future)
                    group = _group_key(bodies[i])
                    if group and group_ends[group] == i:
                        stale += self.store.flush_reads(group)  # the group is recorded
                # The reads confirmed so far are what the search for unlisted resources asks.
                # (This subscription's only: another's sweep in this process reads its own.)
                own = f"/subscriptions/{subscription}"
                stale += self.store.flush_reads(own)
                if stale and not breaker.open:
                    # Compared with rows preloaded before another writer recorded them: read
                    # again and recorded against what is stored now.
                    log.info(
                        "sweep of %s: %d resource(s) recorded by another writer while this sweep "
                        "read them; reading each again",
                        self.subscription,
                        len(set(stale)),
                    )
                    for future in [
                        pool.submit(self.reread, reader, rid, cause, groups)
                        for rid in sorted(set(stale), key=normalize)
                    ]:
                        collect(future)
                    self._left_unconfirmed(self.store.flush_reads(own))
                if not breaker.open:
                    unlisted = self.unlisted(cause, supported, listed_keys, unlisted_parents)
                    with lock:
                        listed[0] += len(unlisted)
                    for future in [
                        pool.submit(self.reread, reader, rid, cause, groups) for rid in unlisted
                    ]:
                        collect(future)
        finally:
            if self.batch is not None:
                self.batch.flush()  # never raises: what it cannot write stays pending
            # Never raises: an unconfirmed read keeps its older time.
            self._left_unconfirmed(self.store.flush_reads(f"/subscriptions/{subscription}"))
            self.store.discard_preloaded(subscription)
        log.info(
            "sweep of %s: %d resources in %.1fs; at most %d of %d workers at once (%d now)",
            subscription,
            len(result.outcomes),
            time.monotonic() - started,
            pool.most_active,
            pool.workers,
            pool.limit(),
        )
        if breaker.open:
            raise StoreUnavailableError(
                f"state store unreachable at {store_endpoint(self.store)}: the sweep of "
                f"{subscription} stopped after {breaker.limit} consecutive storage failures; "
                f"{len(result.transient)} resource(s) left for the next sweep"
            )
        return result

    def _left_unconfirmed(self, stale: list[str]) -> None:
        if stale:
            log.info(
                "sweep of %s: %d resource(s) recorded by another writer again while read; "
                "left to their event or the next sweep",
                self.subscription,
                len(set(stale)),
            )

    def unlisted(
        self,
        cause: Cause,
        supported: Iterable[str],
        listed_keys: set[str],
        unlisted_parents: set[str],
    ) -> list[str]:
        """The resources the store has as existing, of a type this sweep lists, that the
        listing did not name and nothing read since the sweep began: deleted while their delete
        event was lost (dead-lettered, or the subscription's event route down), or missed by an
        ARM list that lags. Each is read again (:meth:`reread`) rather than taken for deleted.
        Children of a parent whose list failed are left for the next sweep."""
        assert cause.event_time is not None
        types = set(supported) - {"microsoft.resources/subscriptions"}
        try:
            recorded = self.store.resources_unread_since(
                f"/subscriptions/{self.subscription}", cause.event_time
            )
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning(
                "sweep of %s: could not list the recorded resources (%s); resources deleted "
                "without an event wait for the next sweep",
                self.subscription,
                type(exc).__name__,
            )
            return []
        found: list[str] = []
        parents = tuple(f"{p}/" for p in unlisted_parents)
        for resource_id in recorded:
            key = normalize(resource_id)
            try:
                rtype = parse(resource_id).type
            except ValueError:
                continue  # not an id this sweep could have listed
            under_failed_list = bool(parents) and key.startswith(parents)
            if rtype in types and key not in listed_keys and not under_failed_list:
                found.append(resource_id)
        if found:
            log.info(
                "sweep of %s: %d recorded resource(s) no longer listed; reading each again",
                self.subscription,
                len(found),
            )
        return sorted(found, key=normalize)

    def reread(
        self,
        reader: ArmReader,
        rid: str,
        cause: Cause,
        groups: Mapping[str, Mapping[str, object]],
    ) -> list[ResourceOutcome]:
        """One unlisted resource read from ARM and recorded: deleted if ARM no longer has it."""
        group_id = parse(rid).resource_group_id
        group = groups.get(normalize(group_id)) if group_id is not None else None
        return [self.safe_one(reader, rid, cause, None, group)]

    def listed(self, reader: ArmReader, parents: Iterable[str] = ()) -> Iterator[dict[str, object]]:
        """The subscription and every resource of a supported top-level type, or of a top-level
        type in ``parents`` (types whose child types are supported), as ARM lists them per
        subscription (child types are listed under their parents, see ``run``)."""
        subscription = self.subscription
        for rtype in sorted(set(self.engine.supported_types()) | set(parents)):
            if rtype == "microsoft.resources/subscriptions":
                sub = reader.resource(f"/subscriptions/{subscription}")
                if sub is not None:
                    yield sub
                continue
            parts = rtype.split("/")
            if len(parts) != 2:
                continue
            namespace, name = parts
            yield from reader.list_items(
                f"/subscriptions/{subscription}/providers/{namespace}/{name}",
                api_versions.for_type(rtype),
            )

    def safe_one(
        self,
        reader: ArmReader,
        rid: str,
        cause: Cause,
        body: dict[str, object] | None,
        group: Mapping[str, object] | None,
    ) -> ResourceOutcome:
        """One resource recorded (read from ARM when ``body`` is None); what it raised decides
        its outcome, never the sweep's."""
        pipeline = self.pipeline
        try:
            outcome = pipeline.evaluate_with(reader, rid, cause, body, group, self.batch)
            self.breaker.record(False)
            return outcome
        except ArmError as exc:
            self.store.record_poison(rid, f"ARM refused the read: {exc}", "sweep", pipeline.clock())
            return ResourceOutcome(rid, Action.POISON)
        except Exception as exc:
            if not is_transient(exc):
                return pipeline.isolate(rid, exc, cause)
            # As on the event path: one resource's hiccup leaves it for the next sweep (reported
            # in ``transient``) instead of abandoning the thousands after it. A service's
            # (ARM throttling past the patient reader's budget) is no sign of the store's health.
            if not isinstance(exc, TransientServiceError):
                self.breaker.record(True)
                log.warning("transient storage failure for %s: %s", rid, type(exc).__name__)
            return ResourceOutcome(rid, Action.FAILED)


def child_types(supported: Iterable[str]) -> dict[str, list[str]]:
    """The supported child types by parent type: ARM lists them only under each parent."""
    children: dict[str, list[str]] = {}
    for rtype in sorted(supported):
        parent_type = rtype.rpartition("/")[0]
        if parent_type.count("/"):
            children.setdefault(parent_type, []).append(rtype)
    return children


def is_system_child(child_type: str, item: Mapping[str, object]) -> bool:
    """The ``master`` database of a SQL server: managed by Azure (its TDE is not settable)."""
    return child_type == "microsoft.sql/servers/databases" and item.get("name") == "master"


def _group_key(body: Mapping[str, object]) -> str:
    group_id = parse(str(body["id"])).resource_group_id
    return normalize(group_id) if group_id is not None else ""


def _by_group(bodies: list[dict[str, object]]) -> list[dict[str, object]]:
    """The bodies one resource group after the other, each group in the order given (a stable
    sort): the rows ``preload_group`` keeps are used soon and only a few groups' at a time."""
    return sorted(bodies, key=_group_key)


def _spread(bodies: list[dict[str, object]]) -> list[dict[str, object]]:
    """The bodies with each type spread evenly over the order (the i-th of a type's n at
    (i + 0.5) / n), instead of type after type: some types need related reads for every
    resource (SQL, web apps) and others none (disks, VMs), and a long run of either leaves the
    read limit or the CPU idle — while ARM's bucket, capped, cannot save up unused reads."""
    by_type: dict[str, list[dict[str, object]]] = {}
    for body in bodies:
        by_type.setdefault(parse(str(body["id"])).type, []).append(body)
    keyed = [
        ((i + 0.5) / len(group), rtype, i, body)
        for rtype, group in by_type.items()
        for i, body in enumerate(group)
    ]
    keyed.sort(key=lambda k: (k[0], k[1], k[2]))
    return [k[3] for k in keyed]
