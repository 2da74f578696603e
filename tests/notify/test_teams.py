"""TeamsNotifier over `responses`: the message posted as rendered, the receipt, throttling
with Retry-After, refusals, and the webhook URL (a credential) in no error and no log line."""

from __future__ import annotations

import json
import logging

import pytest
import requests
import responses

from shared.errors import is_transient
from shared.notify.model import outbox_item
from shared.notify.teams import TeamsError, TeamsNotifier, TeamsUnavailable
from shared.outbox.dispatcher import Dispatcher
from shared.outbox.model import Channel, ItemStatus, RetryLater

from .samples import T0, WEBHOOK, notices

pytestmark = pytest.mark.usefixtures("via_requests")  # `responses` stands in for the service

SECRET_PARTS = ("S3CR3TSIGNATURE", "/workflows/0123456789abcdef", "sig=")


def notifier() -> TeamsNotifier:
    return TeamsNotifier(WEBHOOK, max_retries=0)


def _no_secret(text: str) -> None:
    for part in SECRET_PARTS:
        assert part not in text, text


@responses.activate
def test_posts_the_rendered_message_and_returns_the_run_id() -> None:
    responses.post(WEBHOOK, status=202, headers={"x-ms-workflow-run-id": "08584"})
    teams = notifier()
    for notice in notices():
        item = outbox_item(teams, notice, T0)
        assert teams.send(item) == "teams:08584"
    assert len(responses.calls) == 6
    sent = responses.calls[0].request
    assert sent.method == "POST" and sent.url == WEBHOOK
    assert sent.headers["Content-Type"].startswith("application/json")
    assert json.loads(sent.body or b"") == teams.render(notices()[0])


@responses.activate
def test_a_legacy_webhook_answering_1_is_a_receipt_too() -> None:
    responses.post(WEBHOOK, status=200, body="1")
    assert notifier().send(outbox_item(notifier(), notices()[0], T0)) == "teams:HTTP 200"


@pytest.mark.parametrize(
    ("status", "body", "headers", "retry_after"),
    [
        (429, "", {"Retry-After": "120"}, 120.0),
        (503, "", {}, None),
        (200, "Microsoft Teams endpoint returned HTTP error 429", {}, None),
    ],
)
@responses.activate
def test_throttling_and_outages_are_transient_with_retry_after(
    status: int, body: str, headers: dict[str, str], retry_after: float | None
) -> None:
    responses.post(WEBHOOK, status=status, body=body, headers=headers)
    teams = notifier()
    with pytest.raises(TeamsUnavailable) as caught:
        teams.send(outbox_item(teams, notices()[0], T0))
    assert is_transient(caught.value) and isinstance(caught.value, RetryLater)
    assert caught.value.retry_after == retry_after
    _no_secret(str(caught.value))


@pytest.mark.parametrize("status", [400, 403, 404])
@responses.activate
def test_a_refusal_is_not_transient_and_names_no_url(status: int) -> None:
    responses.post(WEBHOOK, status=status, body=f"refused {WEBHOOK}")
    teams = notifier()
    with pytest.raises(TeamsError) as caught:
        teams.send(outbox_item(teams, notices()[0], T0))
    assert not is_transient(caught.value) and caught.value.status == status
    _no_secret(str(caught.value))


@responses.activate
def test_unreachable_is_transient_and_names_no_url(caplog: pytest.LogCaptureFixture) -> None:
    responses.post(WEBHOOK, body=requests.ConnectionError(f"cannot reach {WEBHOOK}"))
    teams = notifier()
    with caplog.at_level(logging.DEBUG), pytest.raises(TeamsUnavailable) as caught:
        teams.send(outbox_item(teams, notices()[0], T0))
    _no_secret(str(caught.value))
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    _no_secret(caplog.text)


@responses.activate
def test_nothing_logged_carries_the_webhook(caplog: pytest.LogCaptureFixture) -> None:
    responses.post(WEBHOOK, status=429, headers={"Retry-After": "0"})
    responses.post(WEBHOOK, status=202)
    teams = TeamsNotifier(WEBHOOK, max_retries=2)
    with caplog.at_level(logging.DEBUG):
        teams.send(outbox_item(teams, notices()[0], T0))
    assert len(responses.calls) == 2  # retried once within the client
    _no_secret(caplog.text)
    _no_secret(repr(teams))


def test_the_webhook_must_be_https() -> None:
    with pytest.raises(ValueError, match="https"):
        TeamsNotifier("http://example.com/hook")


@responses.activate
def test_through_the_outbox_dispatcher_with_a_fake_outbox() -> None:
    """The notifier is the outbox's Teams sender: a 429 backs off by its Retry-After."""
    from datetime import timedelta

    from shared.outbox.model import ErrorSummary, OutboxItem

    class MemoryOutbox:
        def __init__(self, items: list[OutboxItem]) -> None:
            self.items = {i.key: i for i in items}

        def due(self, now: object, limit: int = 100, limits: object = None) -> list[OutboxItem]:
            return [i for i in self.items.values() if i.due(T0 + timedelta(hours=1))][:limit]

        def claim(self, item: OutboxItem, now: object, lease: timedelta) -> OutboxItem:
            self.items[item.key] = item.with_(attempts=item.attempts + 1)
            return self.items[item.key]

        def mark_sent(self, item: OutboxItem, receipt: str, now: object = None) -> OutboxItem:
            self.items[item.key] = item.with_(status=ItemStatus.SENT, receipt=receipt)
            return self.items[item.key]

        def mark_retry(
            self, item: OutboxItem, error: ErrorSummary, not_before: object
        ) -> OutboxItem:
            self.items[item.key] = item.with_(last_error=error, not_before=not_before)
            return self.items[item.key]

        def mark_dead(self, item: OutboxItem, error: ErrorSummary) -> OutboxItem:
            self.items[item.key] = item.with_(status=ItemStatus.DEAD, last_error=error)
            return self.items[item.key]

    teams = notifier()
    box = MemoryOutbox([outbox_item(teams, n, T0) for n in notices()[:2]])
    responses.post(WEBHOOK, status=429, headers={"Retry-After": "90"})
    report = Dispatcher(box, {Channel.TEAMS: teams}, lambda: T0, 3).run_once(T0)
    assert (report.retried, report.skipped, report.sent) == (1, 1, 0)
    retried = next(i for i in box.items.values() if i.attempts == 1)
    assert retried.not_before == T0 + timedelta(seconds=90)
    assert retried.last_error is not None and retried.last_error.type == "TeamsUnavailable"
    _no_secret(str(retried.last_error))


@responses.activate
def test_a_long_retry_after_is_not_slept_on_in_process() -> None:
    responses.post(WEBHOOK, status=429, headers={"Retry-After": "120"})
    teams = TeamsNotifier(WEBHOOK, max_retries=3)
    with pytest.raises(TeamsUnavailable) as caught:
        teams.send(outbox_item(teams, notices()[0], T0))
    assert caught.value.retry_after == 120.0
    assert len(responses.calls) == 1
