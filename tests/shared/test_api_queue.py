"""The storage-queue path the deployment uses (infra: Event Grid → queue → function): one event
per message, poison recorded, failures raised so the queue redelivers."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from shared import api
from shared.config import Settings
from shared.context import AppContext, reset_app_context
from shared.errors import RedeliverError
from shared.events.model import Delivery
from shared.outcomes import BatchResult

WRITE: dict[str, Any] = {
    "subject": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st",
    "eventType": "Microsoft.Resources.ResourceWriteSuccess",
    "eventTime": "2026-07-19T18:38:04.6117357Z",
    "id": "4db48cba-50a2-455a-93b4-de41a3b5b7f6",
    "topic": "/subscriptions/s1",
    "dataVersion": "2",
    "data": {
        "resourceProvider": "Microsoft.Storage",
        "resourceUri": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st",
        "operationName": "Microsoft.Storage/storageAccounts/write",
        "status": "Succeeded",
        "subscriptionId": "s1",
    },
}


class FakePipeline:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.failure: BaseException | None = None

    def handle(self, delivery: Delivery) -> BatchResult:
        self.deliveries.append(delivery)
        if self.failure is not None:
            raise self.failure
        return BatchResult()


class FakeStore:
    def __init__(self) -> None:
        self.poison: list[tuple[Any, ...]] = []

    def record_poison(self, *args: Any) -> None:
        self.poison.append(args)


@pytest.fixture
def ctx() -> Iterator[AppContext]:
    context = AppContext(Settings.from_env({"PHIGUARD_SUBSCRIPTIONS": "s1"}))
    context.pipeline = FakePipeline()  # type: ignore[assignment]
    context.store = FakeStore()  # type: ignore[assignment]
    context.engine = type(
        "E", (), {"supported_types": lambda self: frozenset({"microsoft.storage/storageaccounts"})}
    )()
    reset_app_context(context)
    yield context
    reset_app_context(None)


def test_a_queued_event_reaches_the_pipeline(ctx: AppContext) -> None:
    api.handle_queued_event(json.dumps(WRITE).encode())
    [delivery] = ctx.pipeline.deliveries  # type: ignore[attr-defined]
    assert [c.resource_id for c in delivery.changes] == [WRITE["subject"]]


def test_a_malformed_message_is_recorded_as_poison_and_not_retried(ctx: AppContext) -> None:
    broken = json.loads(json.dumps(WRITE).replace("/rg/", "/../"))
    summary = api.handle_queued_event(json.dumps(broken).encode())
    assert summary["poison"] == 1
    assert [p[2] for p in ctx.store.poison] == ["queue"]  # type: ignore[attr-defined]
    assert ctx.pipeline.deliveries == []  # type: ignore[attr-defined]


def test_an_event_of_an_unwatched_subscription_is_ignored(ctx: AppContext) -> None:
    other = json.loads(json.dumps(WRITE).replace("s1", "s9"))
    summary = api.handle_queued_event(json.dumps(other).encode())
    assert summary == {"processed": 0, "poison": 0, "ignored": 1}


def test_a_transient_failure_raises_so_the_queue_redelivers(ctx: AppContext) -> None:
    ctx.pipeline.failure = RedeliverError("1 resource(s) hit transient failures")  # type: ignore[attr-defined]
    with pytest.raises(RedeliverError):
        api.handle_queued_event(json.dumps(WRITE).encode())


def test_a_base64_queue_message_is_read_as_the_event_it_encodes(ctx: AppContext) -> None:
    """A producer (or a queue binding's default) may write the event base64-encoded
    (MicrosoftDocs/azure-docs#102923): the same event reaches the pipeline, not the poison table."""
    encoded = base64.b64encode(json.dumps(WRITE).encode())
    api.handle_queued_event(encoded)
    [delivery] = ctx.pipeline.deliveries  # type: ignore[attr-defined]
    assert [c.resource_id for c in delivery.changes] == [WRITE["subject"]]
    store: Any = ctx.store
    assert store.poison == []


@pytest.mark.parametrize(
    "body",
    [b"not json at all", base64.b64encode(b"plain text, not an event"), b"  ", b"%%%"],
)
def test_a_message_that_is_neither_json_nor_base64_json_is_poison(
    ctx: AppContext, body: bytes
) -> None:
    summary = api.handle_queued_event(body)
    assert summary["poison"] == 1
    assert ctx.pipeline.deliveries == []  # type: ignore[attr-defined]
