"""What processing came to: one resource's :class:`Outcome`, a delivery's or a sweep's
:class:`BatchResult` (shared by ``shared.pipeline`` and ``shared.sweep``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Outcome:
    resource_id: str
    # "recorded", "unchanged", "coalesced", "duplicate", "deleted", "stale", "failed"
    # (transient: redeliver / next sweep), "poison" (ARM refused), "error" (an unexpected
    # exception, recorded as the resource's ERROR row; the rest went on)
    action: str
    transitions: int = 0
    latency_seconds: float | None = None  # newest event time → state recorded


@dataclass
class BatchResult:
    events: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)
    poison: int = 0
    transient: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "<resource id>: <stage> (<type>)"

    def add(self, outcome: Outcome) -> None:
        """Counts one resource's outcome in (a failed one is transient, an error one isolated)."""
        self.outcomes.append(outcome)
        if outcome.action == "failed":
            self.transient.append(outcome.resource_id)
        elif outcome.action == "error":
            self.errors.append(outcome.resource_id)

    def count(self, action: str) -> int:
        return sum(1 for o in self.outcomes if o.action == action)
