"""What a resource's failure comes to, on the event path and in the sweep, decided by
shared.errors.is_transient: transient → failed (redeliver / next sweep), ARM's refusal → poison,
anything else → the resource's ERROR; only storage failures count toward the sweep's breaker."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError

from shared.arm import ArmError, TransientArmError
from shared.kernel.changes import Cause, ChangeKind, ResourceChange
from shared.pipeline import Pipeline
from shared.state.model import ConcurrentUpdateError
from shared.sweep import STORE_BREAKER_LIMIT, _Sweep

RID = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a"


class FakeStore:
    def __init__(self) -> None:
        self.poison: list[str] = []
        self.errors: list[str] = []

    def record_poison(self, raw: str, error: str, source: str, at: datetime) -> None:
        self.poison.append(error)

    def record_error(self, resource_id: str, *, stage: str, error: Exception, cause: Cause) -> None:
        self.errors.append(type(error).__name__)


def _http(status: int) -> HttpResponseError:
    error = HttpResponseError("storage says no")
    error.status_code = status
    return error


def _pipeline(raised: BaseException) -> tuple[Pipeline, FakeStore]:
    store = FakeStore()
    pipeline = Pipeline(engine=None, reader=None, store=store, workers=1)  # type: ignore[arg-type]

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise raised

    pipeline._process = fail  # type: ignore[method-assign]
    pipeline.evaluate_with = fail  # type: ignore[method-assign]
    return pipeline, store


def _change() -> ResourceChange:
    kind = next(iter(ChangeKind))
    now = datetime.now(UTC)
    return ResourceChange(
        RID, RID, kind, "e1", "Microsoft.Resources.ResourceWriteSuccess", now, "s1"
    )


@pytest.mark.parametrize(
    ("raised", "action"),
    [
        (TransientArmError("throttled"), "failed"),
        (ServiceRequestError("refused"), "failed"),
        (_http(503), "failed"),
        (_http(429), "failed"),
        (ConcurrentUpdateError("raced"), "failed"),
        (ArmError(403, "AuthorizationFailed", "no", RID), "poison"),
        (_http(400), "error"),
        (KeyError("bug"), "error"),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_what_a_failure_comes_to(raised: BaseException, action: str) -> None:
    pipeline, store = _pipeline(raised)
    assert pipeline._safe_process([_change()]).action == action
    sweep = _Sweep(pipeline, "s1")
    assert sweep.safe_one(None, RID, Cause(kind="sweep"), {"id": RID}, None).action == action  # type: ignore[arg-type]
    assert len(store.errors) == (2 if action == "error" else 0)
    assert len(store.poison) == (2 if action == "poison" else 0)


@pytest.mark.parametrize(
    ("raised", "trips"),
    [
        (TransientArmError("ARM throttling past the patient budget"), False),
        (ServiceRequestError("storage refused"), True),
        (_http(503), True),
        (ConcurrentUpdateError("raced"), True),
    ],
    ids=lambda v: str(v) if isinstance(v, bool) else type(v).__name__,
)
def test_only_storage_failures_trip_the_sweeps_breaker(raised: BaseException, trips: bool) -> None:
    pipeline, _ = _pipeline(raised)
    sweep = _Sweep(pipeline, "s1")
    for _ in range(STORE_BREAKER_LIMIT):
        sweep.safe_one(None, RID, Cause(kind="sweep"), {"id": RID}, None)  # type: ignore[arg-type]
    assert sweep.breaker.open is trips
