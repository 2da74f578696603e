"""What processing came to: one resource's :class:`ResourceOutcome`, a delivery's or a
sweep's :class:`BatchResult` (shared by ``shared.pipeline`` and ``shared.sweep``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    """What happened to one resource of a delivery or a sweep."""

    RECORDED = "recorded"  # read, judged, and something new written
    UNCHANGED = "unchanged"  # read and judged; nothing new to write
    STALE = "stale"  # a newer read was already recorded
    COALESCED = "coalesced"  # the stored state was read after the event: no ARM call
    DUPLICATE = "duplicate"  # every event of it was processed before
    DELETED = "deleted"  # ARM answered 404: its findings closed
    FAILED = "failed"  # transient: redeliver / the next sweep retries
    POISON = "poison"  # ARM refused the read (403, 400, a body of another id): recorded
    ERROR = "error"  # an unexpected exception, recorded as the resource's ERROR row


@dataclass
class ResourceOutcome:
    resource_id: str
    action: Action
    transitions: int = 0
    latency_seconds: float | None = None  # newest event time → state recorded
    # The resource's active stored findings after this outcome, built when called
    # (``RecordOutcome.current``); None when unknown or not kept (see ``shared.sweep``).
    current: Callable[[], list[Any]] | None = field(default=None, compare=False, repr=False)


@dataclass
class BatchResult:
    events: int = 0
    outcomes: list[ResourceOutcome] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)
    poison: int = 0
    transient: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "<resource id>: <stage> (<type>)"

    def add(self, outcome: ResourceOutcome) -> None:
        """Counts one resource's outcome in (a failed one is transient, an error one isolated)."""
        self.outcomes.append(outcome)
        if outcome.action == Action.FAILED:
            self.transient.append(outcome.resource_id)
        elif outcome.action == Action.ERROR:
            self.errors.append(outcome.resource_id)

    def count(self, action: str) -> int:
        return sum(1 for o in self.outcomes if o.action == action)
