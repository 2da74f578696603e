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


@dataclass(frozen=True)
class Cause:
    """Why a state record was written: kept on every current-state row and history transition."""

    kind: str  # "event", "sweep", "cli", "remediation"
    event_id: str | None = None
    event_time: datetime | None = None
    caller_appid: str | None = None
    correlation_id: str | None = None
