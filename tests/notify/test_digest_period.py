"""The digest's period: what is new in it, what was fixed, and quiet when nothing happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from shared.followup import digest_notice
from shared.kernel.findings import Severity

END = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
RID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st{}"


def _row(n: int, first_failed: datetime | None, status: str = "FAIL") -> Any:
    return SimpleNamespace(
        resource_id=RID.format(n),
        resource_type="microsoft.storage/storageaccounts",
        check_id="storage_account_min_tls_1_2",
        status=status,
        severity=Severity.HIGH,
        hipaa=("164.312(e)(1)",),
        title="TLS 1.2",
        reason="r",
        evidence={},
        phi=True,
        first_failed_at=first_failed,
    )


def _record(status: str, at: datetime) -> Any:
    return SimpleNamespace(status=status, updated_at=at)


def test_only_what_happened_in_the_period_is_new_and_a_quiet_period_sends_nothing() -> None:
    old = _row(1, END - timedelta(days=3))  # failing for days: counted open, not new
    new = _row(2, END - timedelta(hours=2))
    later = _row(3, END + timedelta(minutes=5))  # the next period's
    notice = digest_notice(
        [old, new, later],
        [
            _record("VERIFIED", END - timedelta(hours=1)),
            _record("ESCALATED", END - timedelta(days=2)),
        ],
        period_end=END,
        hours=24,
    )
    assert notice is not None
    assert [f.resource.name for f in notice.new_failures] == ["st2"]  # type: ignore[union-attr]
    assert notice.fixes == 1 and notice.escalations == 0  # type: ignore[union-attr]
    assert notice.open_by_severity[Severity.HIGH] == 3  # type: ignore[union-attr]
    assert digest_notice([old], [], period_end=END, hours=24) is None  # nothing new: quiet
