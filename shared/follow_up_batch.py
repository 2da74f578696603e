"""A sweep's ACTION_REQUIRED records written together.

On the event path each resource's follow-up inserts its ACTION_REQUIRED records, enqueues its
issues and notices, and clears the marker's pending follow-ups, one resource at a time. A cold
sweep finds hundreds of newly failing resources: their records (one partition per UTC day in
the remediation log) would cost one request each, when a transaction holds up to 100.

So within a sweep a resource's follow-up is split: fixes run at once (they write to the tenant
and re-read), and the rest — inserting its records, then what comes after them (the issues
and notices that cite them, clearing the pending follow-ups) — waits in a :class:`FollowUpBatch`
until 100 records are waiting or the oldest has waited ``max_age`` seconds, or the sweep ends.
The marker lists the checks as pending all the while (the outbox), so a crash before the batch
is written loses nothing: a redelivery or the next sweep takes them over once the lease ends
(``shared.pipeline.ACTIONS_LEASE``, far longer than ``max_age``). An event for such a resource
in the meantime is asked to come back, as for any follow-up in progress.

A transaction the service refuses is retried resource by resource, so one resource's unwritable
record costs only that resource's follow-up, which stays pending and is recorded as the
resource's processing ERROR, as on the event path. A transient failure (the
store unreachable, throttled) is not retried here: every waiting follow-up stays pending for a
redelivery or the next sweep, instead of paying the storage client's retries once per resource.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shared.errors import is_transient

if TYPE_CHECKING:
    from shared.remediation_log import RemediationRecord

log = logging.getLogger("phiguard.actions")

BATCH_RECORDS = 100  # a Table Storage transaction's limit
MAX_AGE_SECONDS = 5.0

Inserter = Callable[[Sequence["RemediationRecord"]], list["RemediationRecord"]]


@dataclass
class DeferredFollowUp:
    """One resource's follow-up after its records are written: ``steps`` run in order with the
    records as stored; ``failed`` runs instead, with what was raised, when they could not be
    written or a step raised."""

    resource_id: str
    records: list[RemediationRecord] = field(default_factory=list)
    steps: list[Callable[[list[RemediationRecord]], object]] = field(default_factory=list)
    failed: Callable[[Exception], object] | None = None

    def then(self, step: Callable[[list[RemediationRecord]], object]) -> None:
        self.steps.append(step)


class FollowUpBatch:
    """See the module's doc. Thread-safe: the sweep's workers add, any of them may write."""

    def __init__(
        self,
        insert_many: Inserter,
        *,
        size: int = BATCH_RECORDS,
        max_age: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._insert_many = insert_many
        self.size = size
        self.max_age = max_age
        self._clock = clock
        self._waiting: list[DeferredFollowUp] = []
        self._count = 0
        self._since: float | None = None
        self._lock = threading.Lock()
        self._writing = threading.Lock()

    def add(self, item: DeferredFollowUp) -> None:
        """Queues ``item``; writes the batch when it is full or old enough."""
        with self._lock:
            self._waiting.append(item)
            self._count += len(item.records)
            if self._since is None:
                self._since = self._clock()
        self.flush_if_due()

    def flush_if_due(self) -> None:
        """Writes the batch if it is full or old enough, unless another thread is writing one
        (this one then goes on; what it added waits for the next look or the final flush)."""
        with self._lock:
            due = self._count >= self.size or (
                self._since is not None and self._clock() - self._since >= self.max_age
            )
        if due and self._writing.acquire(blocking=False):
            try:
                self._write()
            finally:
                self._writing.release()

    def flush(self) -> None:
        """Writes what waits, then runs each resource's steps. Never raises: what fails is
        logged and left pending in the store."""
        with self._writing:
            self._write()

    def _write(self) -> None:
        with self._lock:
            items, self._waiting = self._waiting, []
            self._count, self._since = 0, None
        if not items:
            return
        stored = self._insert(items)
        for item in items:
            records = stored[id(item)]
            if isinstance(records, Exception):
                self._fail(item, records)
                continue
            try:
                for step in item.steps:
                    step(records)
            except Exception as exc:
                self._fail(item, exc)

    def _insert(
        self, items: list[DeferredFollowUp]
    ) -> dict[int, list[RemediationRecord] | Exception]:
        """The records of each item as stored, or what writing them raised, by the item's id."""
        everything = [r for item in items for r in item.records]
        try:
            inserted = self._insert_many(everything) if everything else []
        except Exception as exc:
            if len(items) == 1 or is_transient(exc):
                # The store or the network, not one record: trying each resource would only
                # pay the storage client's retries once per resource.
                return {id(item): exc for item in items}
            return self._one_by_one(items)
        out: dict[int, list[RemediationRecord] | Exception] = {}
        start = 0
        for item in items:
            out[id(item)] = inserted[start : start + len(item.records)]
            start += len(item.records)
        return out

    def _one_by_one(
        self, items: list[DeferredFollowUp]
    ) -> dict[int, list[RemediationRecord] | Exception]:
        out: dict[int, list[RemediationRecord] | Exception] = {}
        transient: Exception | None = None
        for item in items:
            if transient is not None:  # the rest wait for the next sweep too
                out[id(item)] = transient
                continue
            try:
                out[id(item)] = self._insert_many(item.records) if item.records else []
            except Exception as exc:
                out[id(item)] = exc
                if is_transient(exc):
                    transient = exc
        return out

    @staticmethod
    def _fail(item: DeferredFollowUp, exc: Exception) -> None:
        log.warning(
            "follow-up of %s not finished (%s); it stays pending for a redelivery or the next "
            "sweep",
            item.resource_id,
            type(exc).__name__,
        )
        if item.failed is not None:
            try:
                item.failed(exc)
            except Exception as failed_exc:  # recording the error failed too: logged, pending
                log.warning(
                    "%s while recording the failed follow-up of %s",
                    type(failed_exc).__name__,
                    item.resource_id,
                )
