"""The API decides "redeliver" from shared.errors.is_transient alone: the webhook answers 503 to
any transient failure, and reconcile_all goes on past a subscription that failed transiently."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError

from shared import api
from shared.arm import ArmError, TransientArmError
from shared.config import Settings
from shared.context import AppContext, reset_app_context
from shared.errors import RedeliverError, StoreUnavailableError
from shared.events.model import Delivery
from shared.outcomes import BatchResult


class FakePipeline:
    def __init__(self, failures: dict[str, BaseException]) -> None:
        self.failures = failures
        self.swept: list[str] = []

    def handle(self, delivery: Delivery) -> BatchResult:
        raise self.failures["handle"]

    def sweep(self, subscription: str) -> BatchResult:
        self.swept.append(subscription)
        failure = self.failures.get(subscription)
        if failure is not None:
            raise failure
        return BatchResult()


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePipeline]:
    fake = FakePipeline({})
    ctx = AppContext(Settings.from_env({"PHIGUARD_SUBSCRIPTIONS": "s1,s2,s3"}))
    ctx.pipeline = fake  # type: ignore[assignment]
    ctx.engine = type("E", (), {"supported_types": lambda self: frozenset()})()
    reset_app_context(ctx)

    def parse_delivery(*args: Any, **kwargs: Any) -> Delivery:
        return Delivery(changes=[object()], total=1)  # type: ignore[list-item]

    monkeypatch.setattr("shared.events.parse_delivery", parse_delivery)
    yield fake
    reset_app_context(None)


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (RedeliverError("2 resource(s) hit transient failures; redeliver: /x"), "redeliver: /x"),
        (ServiceRequestError("connection refused to https://acct.table/?sig=secret"), "Service"),
    ],
)
def test_the_webhook_answers_503_to_a_transient_failure(
    pipeline: FakePipeline, failure: BaseException, error: str
) -> None:
    pipeline.failures["handle"] = failure
    status, _, body = api.handle_webhook("POST", {}, b"[]")
    assert status == 503 and error in json.loads(body)["error"]
    assert "secret" not in body  # another failure's text is not echoed, only its type


def test_the_webhook_raises_anything_else(pipeline: FakePipeline) -> None:
    pipeline.failures["handle"] = KeyError("bug")
    with pytest.raises(KeyError):
        api.handle_webhook("POST", {}, b"[]")


def test_reconcile_goes_on_past_a_subscription_that_failed_and_then_asks_for_a_retry(
    pipeline: FakePipeline,
) -> None:
    pipeline.failures["s1"] = TransientArmError("ARM 429 for GET /subscriptions/s1 after retries")
    pipeline.failures["s2"] = ArmError(403, "AuthorizationFailed", "no", "https://arm/s2")
    with pytest.raises(RedeliverError, match="2 resource"):
        api.reconcile_all()
    assert pipeline.swept == ["s1", "s2", "s3"]


def test_reconcile_stops_when_the_store_is_down(pipeline: FakePipeline) -> None:
    pipeline.failures["s1"] = StoreUnavailableError("state store unreachable")
    with pytest.raises(StoreUnavailableError):
        api.reconcile_all()
    assert pipeline.swept == ["s1"]


def _message(subscription: str = "s2", planned_at: str | None = None) -> bytes:
    from shared.kernel.clock import utcnow

    planned = planned_at or utcnow().isoformat()
    return json.dumps({"subscription": subscription, "planned_at": planned}).encode()


def test_the_timer_plans_one_sweep_per_subscription(pipeline: FakePipeline) -> None:
    messages = [json.loads(m) for m in api.planned_sweeps()]
    assert [m["subscription"] for m in messages] == ["s1", "s2", "s3"]
    assert len({m["planned_at"] for m in messages}) == 1 and messages[0]["planned_at"][-1] == "Z"
    assert pipeline.swept == []
    assert api.sweep_queued(api.planned_sweeps()[1].encode()) is not None
    assert pipeline.swept == ["s2"]


@pytest.mark.parametrize(
    ("body", "logged"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[" * 100_000, "nested too deep"),
        (b"[1, 2]", "a JSON list"),
        (b'{"subscription": "s1"}', "planned_at"),
        (_message("s9"), "'s9' is not one of PHIGUARD_SUBSCRIPTIONS"),
        (_message("../s1"), "is not one of PHIGUARD_SUBSCRIPTIONS"),
        (_message("s1", "yesterday"), "is not an ISO 8601 time"),
        (_message("s1", "2026-12-07T01:00:00"), "has no UTC offset"),
        (_message("s1", "2020-01-01T00:00:00Z"), "dropped: the next daily sweep reads it"),
        (_message("s1", "9999-12-31T00:00:00Z"), "is in the future"),
    ],
    ids=[
        "bytes",
        "deep",
        "list",
        "no-time",
        "unwatched",
        "path",
        "bad-time",
        "naive-time",
        "stale",
        "future",
    ],
)
def test_a_sweep_message_it_cannot_act_on_is_logged_and_dropped(
    pipeline: FakePipeline, caplog: pytest.LogCaptureFixture, body: bytes, logged: str
) -> None:
    assert api.sweep_queued(body) is None
    assert pipeline.swept == []
    assert logged in caplog.text and "Traceback" not in caplog.text


def test_a_queued_sweep_is_redelivered_only_when_the_whole_subscription_failed_transiently(
    pipeline: FakePipeline, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline.failures["s1"] = TransientArmError("ARM 429 for GET /subscriptions/s1 after retries")
    with pytest.raises(RedeliverError, match="sweep of s1"):
        api.sweep_queued(_message("S1"))  # the configured spelling is swept
    assert pipeline.swept == ["s1"]
    pipeline.failures["s2"] = ArmError(403, "AuthorizationFailed", "no", "https://arm/s2")
    assert api.sweep_queued(_message("s2")) == {
        "subscription": "s2",
        "error": pipeline.failures["s2"].__str__()[:500],
    }
    assert "refused by ARM" in caplog.text
    pipeline.failures["s3"] = StoreUnavailableError("state store unreachable")
    with pytest.raises(StoreUnavailableError):
        api.sweep_queued(_message("s3"))
