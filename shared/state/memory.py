"""A state store that keeps one run's findings in memory and writes nothing: ``phiguard scan
--no-store`` (a report-only sweep, as Prowler and Custodian run).

It answers what a report needs — the current finding of every check on every resource the run
evaluated, processing errors as ERROR rows, refused reads as poison — and keeps no history, no
markers and no follow-up state: a report-only run opens no issues, sends no notices and fixes
nothing, so nothing downstream reads them. Every evaluation is "changed" (there is nothing to
compare with), and nothing is ever stale.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.kernel.changes import Cause
from shared.kernel.findings import Finding, Status
from shared.kernel.resource_id import normalize, parse
from shared.selection import cites
from shared.state.entities import _poison_record, _processing_finding
from shared.state.model import (
    PROCESSING_CHECK,
    RESOURCE_DELETED,
    PoisonRecord,
    RecordOutcome,
    RecordResult,
    ResourceMarker,
    StoredFinding,
    Transition,
)

if TYPE_CHECKING:
    from shared.engine import Evaluation


class ReportOnlyStore:
    """:class:`~shared.state.model.StateStore` in memory for one run (thread-safe)."""

    remembers_inputs = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: dict[str, dict[str, StoredFinding]] = {}
        self._poison: list[PoisonRecord] = []

    def record_evaluation(
        self,
        evaluation: Evaluation,
        *,
        read_at: datetime,
        cause: Cause,
        track_actions: bool = False,
    ) -> RecordOutcome:
        rows = {f.check_id: _row(f, read_at, cause) for f in evaluation.findings}
        with self._lock:
            self._current[normalize(evaluation.resource_id)] = rows
        return RecordOutcome(RecordResult.CHANGED, changed_checks=tuple(sorted(rows)))

    def confirm_unchanged_input(
        self,
        resource_id: str,
        input_digest: str,
        *,
        read_at: datetime,
        cause: Cause,
        unless_failing: bool = False,
    ) -> RecordOutcome | None:
        return None  # a report holds each resource's findings: every one is judged

    def clear_actions_pending(
        self, resource_id: str, done: Iterable[str], record: RecordOutcome | None = None
    ) -> None:
        return None

    def preload_group(self, group_id: str, *, checks: bool = False) -> int:
        return 0

    def preload_if_empty(self, scope_id: str) -> bool:
        return False

    def discard_preloaded(self, subscription: str | None = None) -> None:
        return None

    def flush_reads(self, scope_id: str | None = None) -> list[str]:
        return []

    def record_deleted(self, resource_id: str, *, at: datetime, cause: Cause) -> RecordOutcome:
        with self._lock:
            self._current.pop(normalize(resource_id), None)
        return RecordOutcome(RecordResult.UNCHANGED)

    def record_error(
        self, resource_id: str, *, stage: str, error: BaseException, cause: Cause
    ) -> RecordOutcome:
        marker_type = parse(resource_id).type if resource_id.startswith("/") else ""
        finding = _processing_finding(resource_id, marker_type, False, stage, type(error).__name__)
        row = _row(finding, datetime.now(UTC), cause)
        with self._lock:
            self._current.setdefault(normalize(resource_id), {})[PROCESSING_CHECK] = row
        return RecordOutcome(RecordResult.CHANGED, changed_checks=(PROCESSING_CHECK,))

    def marker(self, resource_id: str, *, prefetch: bool = False) -> ResourceMarker | None:
        return None

    def current(
        self,
        resource_id: str | None = None,
        status: str | None = None,
        severity: str | None = None,
        hipaa: str | None = None,
        *,
        include_inactive: bool = False,
        subscriptions: Sequence[str] = (),
    ) -> list[StoredFinding]:
        with self._lock:
            if resource_id is None:
                rows = [r for per in self._current.values() for r in per.values()]
            else:
                rows = list(self._current.get(normalize(resource_id), {}).values())
        wanted_severity = severity.upper() if severity is not None else None
        prefixes = tuple(f"/subscriptions/{s.lower()}/" for s in subscriptions)
        return [
            r
            for r in rows
            if (not prefixes or (normalize(r.resource_id) + "/").startswith(prefixes))
            and (status is None or r.status == status)
            and (wanted_severity is None or r.severity == wanted_severity)
            and (hipaa is None or any(cites(c, hipaa) for c in r.hipaa))
            and r.status != RESOURCE_DELETED
        ]

    def resources_unread_since(self, scope_id: str, since: datetime) -> list[str]:
        return []  # no markers: nothing from before this run to reconcile

    def history(self, resource_id: str) -> list[Transition]:
        return []

    def record_poison(
        self, raw: str | bytes, error: str, source: str, at: datetime
    ) -> PoisonRecord:
        record, _parts = _poison_record(raw, error, source, at, datetime.now(UTC))
        with self._lock:
            self._poison.append(record)
        return record

    def poison(self) -> list[PoisonRecord]:
        with self._lock:
            return list(self._poison)

    def mark_event_processed(self, event_id: str, at: datetime) -> bool:
        return True

    def event_processed(self, event_id: str) -> bool:
        return False


def _row(finding: Finding, at: datetime, cause: Cause) -> StoredFinding:
    return StoredFinding(
        resource_id=finding.resource_id,
        resource_type=finding.resource_type,
        check_id=finding.check_id,
        status=str(finding.status),
        severity=finding.severity,
        hipaa=finding.hipaa,
        title=finding.title,
        reason=finding.reason,
        evidence=finding.evidence,
        phi=finding.phi,
        evidence_truncated=False,
        first_failed_at=at if finding.status == Status.FAIL else None,
        last_changed_at=at,
        last_evaluated_at=at,
        cause=cause,
    )
