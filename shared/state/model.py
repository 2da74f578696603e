"""The state store's model: what a record did, the stored shapes, and the store's protocol.

Importing this module costs no storage SDK (``azure.data.tables`` is imported by
:mod:`shared.state.tables` only), so callers that only name these types stay light.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol

from shared.kernel.changes import Cause
from shared.kernel.errors import PhiguardError, TransientError
from shared.kernel.findings import Severity, Status, finding_json

if TYPE_CHECKING:
    from shared.engine import Evaluation

PROCESSING_CHECK = "phiguard_processing"
"""The pseudo-check whose ERROR row says phiguard itself could not process a resource."""

CLOSED = "CLOSED"
RESOURCE_DELETED = "RESOURCE_DELETED"
INACTIVE_STATUSES = frozenset({CLOSED, RESOURCE_DELETED})
COUNTED_STATUSES = (
    Status.PASS,
    Status.FAIL,
    Status.ERROR,
    Status.NOT_APPLICABLE,
    Status.NOT_ASSESSED,
    Status.MUTED,
)
"""The statuses a resource's marker counts open rows of (``count_<status>``)."""


class RecordResult(StrEnum):
    """What a record did (a value compares equal to its string)."""

    CHANGED = "changed"  # something was written
    UNCHANGED = "unchanged"  # nothing new: at most the marker moved
    STALE = "stale"  # the store holds a newer read: nothing was written


class ConcurrentUpdateError(TransientError, RuntimeError):
    """Other writers kept changing the resource's partition; retrying later will succeed."""


class StoredRowError(PhiguardError, ValueError):
    """A stored check row that cannot be read as a finding (edited by hand, or damaged)."""


@dataclass(frozen=True)
class ResourceMarker:
    resource_id: str
    resource_type: str
    phi: bool
    deleted: bool
    last_read_at: datetime
    last_recorded_at: datetime
    last_event_id: str | None
    last_event_time: datetime | None
    counts: Mapping[str, int]  # open rows by status (PASS, FAIL, ERROR, NOT_APPLICABLE)
    version: int
    # Checks that turned FAIL and whose follow-up (fix or ACTION_REQUIRED) has not completed.
    actions_pending: tuple[str, ...] = ()
    actions_pending_since: datetime | None = None  # when the set last grew
    etag: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class StoredFinding:
    """A check's current state on a resource: the finding shape plus when and why.

    ``status`` is a :class:`~shared.kernel.findings.Status` value or ``CLOSED`` / ``RESOURCE_DELETED``.
    ``last_evaluated_at`` of an open row is the resource's ``last_read_at``: an evaluation that
    changes nothing only moves the marker, and it confirmed every open row.
    """

    # The finding's fields (kernel.findings.FINDING_FIELDS, in that order; a test checks), then
    # the state's.
    resource_id: str
    resource_type: str
    check_id: str
    status: str
    severity: Severity
    hipaa: tuple[str, ...]
    title: str
    reason: str
    evidence: Mapping[str, Any]
    phi: bool
    evidence_truncated: bool
    first_failed_at: datetime | None
    last_changed_at: datetime
    last_evaluated_at: datetime
    cause: Cause

    @property
    def active(self) -> bool:
        return self.status not in INACTIVE_STATUSES

    def to_json(self) -> dict[str, Any]:
        """The finding JSON (``Finding.to_json``) plus the state fields (ISO 8601 UTC times)."""
        return {
            **finding_json(self),
            "evidence_truncated": self.evidence_truncated,
            "first_failed_at": _iso(self.first_failed_at),
            "last_changed_at": _iso(self.last_changed_at),
            "last_evaluated_at": _iso(self.last_evaluated_at),
            "cause": _cause_json(self.cause),
        }


@dataclass(frozen=True)
class Transition:
    """One status change of one check on one resource; ``from_status`` is None on first sight."""

    resource_id: str
    check_id: str
    from_status: str | None
    to_status: str
    severity: str
    reason: str
    at: datetime
    cause: Cause
    recorded_at: datetime


def transition_json(t: Transition) -> dict[str, Any]:
    """A transition as evidence (ISO 8601 UTC times)."""
    return {
        "resource_id": t.resource_id,
        "check_id": t.check_id,
        "from_status": t.from_status,
        "to_status": t.to_status,
        "severity": t.severity,
        "reason": t.reason,
        "at": _iso(t.at),
        "recorded_at": _iso(t.recorded_at),
        "cause": _cause_json(t.cause),
    }


@dataclass(frozen=True)
class RecordOutcome:
    """What a record did. ``transitions`` are the status changes it committed (the pipeline acts
    on new FAILs and on PASS after FAIL); ``writes`` counts entity operations sent."""

    outcome: RecordResult
    transitions: tuple[Transition, ...] = ()
    changed_checks: tuple[str, ...] = ()
    writes: int = 0
    transactions: int = 0
    attempts: int = 1
    actions_pending: tuple[str, ...] = ()  # the resource's, as stored by (or before) this record
    actions_pending_since: datetime | None = None
    marker_etag: str | None = field(default=None, compare=False, repr=False)
    # The resource's active findings as this record left them in the store (what ``current``
    # would read back), built when called; None when unknown (stale: another writer's state).
    current: Callable[[], list[StoredFinding]] | None = field(
        default=None, compare=False, repr=False
    )
    # Whether the marker's ``last_read_at`` now vouches for this read; False when a sweep's
    # unchanged read was confirmed in the reads table only (the event path's freshness check
    # reads the marker alone, so it must not be taught that read).
    read_on_marker: bool = True


@dataclass(frozen=True)
class PoisonRecord:
    source: str
    error: str
    raw: str  # the payload as text; base64 when ``raw_encoding`` says so
    raw_encoding: Literal["utf-8", "base64"]
    raw_length: int  # of the original payload (bytes for bytes, characters for str)
    raw_sha256: str  # of the original payload's bytes (UTF-8 for str)
    truncated: bool
    at: datetime
    recorded_at: datetime


class StateStore(Protocol):
    """Where evaluations become current state and history (see :mod:`shared.state`)."""

    # Whether records keep what their verdicts were decided on (``Evaluation.input_digest``),
    # so that a sweep's unchanged read can be confirmed without judging it again.
    remembers_inputs: bool

    def record_evaluation(
        self,
        evaluation: Evaluation,
        *,
        read_at: datetime,
        cause: Cause,
        track_actions: bool = False,
    ) -> RecordOutcome: ...

    def confirm_unchanged_input(
        self,
        resource_id: str,
        input_digest: str,
        *,
        read_at: datetime,
        cause: Cause,
        unless_failing: bool = False,
    ) -> RecordOutcome | None: ...

    def clear_actions_pending(
        self, resource_id: str, done: Iterable[str], record: RecordOutcome | None = None
    ) -> None: ...

    def preload_group(self, group_id: str, *, checks: bool = False) -> int: ...

    def preload_if_empty(self, scope_id: str) -> bool: ...

    def discard_preloaded(self, subscription: str | None = None) -> None: ...

    def flush_reads(self, scope_id: str | None = None) -> list[str]: ...

    def record_deleted(self, resource_id: str, *, at: datetime, cause: Cause) -> RecordOutcome: ...

    def record_error(
        self, resource_id: str, *, stage: str, error: BaseException, cause: Cause
    ) -> RecordOutcome: ...

    def marker(self, resource_id: str, *, prefetch: bool = False) -> ResourceMarker | None: ...

    def current(
        self,
        resource_id: str | None = None,
        status: str | None = None,
        severity: str | None = None,
        hipaa: str | None = None,
        *,
        include_inactive: bool = False,
        subscriptions: Sequence[str] = (),
    ) -> list[StoredFinding]: ...

    def resources_unread_since(self, scope_id: str, since: datetime) -> list[str]: ...

    def history(self, resource_id: str) -> list[Transition]: ...

    def record_poison(
        self, raw: str | bytes, error: str, source: str, at: datetime
    ) -> PoisonRecord: ...

    def poison(self) -> list[PoisonRecord]: ...

    def mark_event_processed(self, event_id: str, at: datetime) -> bool: ...

    def event_processed(self, event_id: str) -> bool: ...


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _cause_json(cause: Cause) -> dict[str, Any]:
    return {
        "kind": cause.kind.value,
        "event_id": cause.event_id,
        "event_time": _iso(cause.event_time),
        "caller_appid": cause.caller_appid,
        "correlation_id": cause.correlation_id,
    }
