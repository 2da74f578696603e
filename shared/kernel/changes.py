"""What the pipeline passes between its stages: a normalized change and the cause of a record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ChangeKind(StrEnum):
    WRITE = "write"
    DELETE = "delete"
    ACTION = (
        "action"  # a state-changing POST action (e.g. regenerateKey); read-only ones are ignored
    )


@dataclass(frozen=True)
class ResourceChange:
    """One Event Grid event, normalized.

    ``resource_id`` is the resource whose checks the change affects (an NSG rule's NSG, a site's
    config's site, a diagnostic setting's target, ...); ``source_id`` is the id the event named.
    """

    resource_id: str
    source_id: str
    kind: ChangeKind
    event_id: str
    event_type: str
    event_time: datetime  # timezone-aware UTC
    subscription_id: str
    caller_appid: str | None = None
    correlation_id: str | None = None
    operation_name: str | None = None


class CauseKind(StrEnum):
    """What made phiguard write a record (a value compares equal to its string)."""

    EVENT = "event"  # an Event Grid event (the webhook or the trigger)
    SWEEP = "sweep"  # the daily reconciliation sweep
    CLI = "cli"  # an operator's command
    REMEDIATION = "remediation"  # the verified re-read after one of phiguard's own fixes
    ROLLBACK = "rollback"  # an operator's rollback of a fix


@dataclass(frozen=True, init=False)
class Cause:
    """Why a state record was written: kept on every current-state row and history transition.

    ``kind`` may be given as its string (``Cause("sweep")``); it is always held as a
    :class:`CauseKind`, and an unknown kind raises ``ValueError``.
    """

    kind: CauseKind
    event_id: str | None = None
    event_time: datetime | None = None
    caller_appid: str | None = None
    correlation_id: str | None = None

    def __init__(
        self,
        kind: CauseKind | str,
        event_id: str | None = None,
        event_time: datetime | None = None,
        caller_appid: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        object.__setattr__(self, "kind", CauseKind(kind))
        object.__setattr__(self, "event_id", event_id)
        object.__setattr__(self, "event_time", event_time)
        object.__setattr__(self, "caller_appid", caller_appid)
        object.__setattr__(self, "correlation_id", correlation_id)
