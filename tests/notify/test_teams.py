"""TeamsNotifier over `responses`: the message posted as rendered, the receipt, throttling
with Retry-After, refusals, and the webhook URL (a credential) in no error and no log line."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from shared.errors import is_transient
from shared.notify.cards import MAX_MESSAGE_BYTES, card, message_bytes, teams_message
from shared.notify.model import DiffLine, FixApplied, Notice, outbox_item
from shared.notify.teams import MessageTooLarge, TeamsError, TeamsNotifier, TeamsUnavailable
from shared.outbox.dispatcher import Dispatcher
from shared.outbox.model import Channel, ItemStatus, RetryLater

from .samples import T0, WEBHOOK, finding, notices

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


@pytest.mark.parametrize(
    ("body", "error", "status"),
    [
        # A legacy incoming webhook reports a failure in a 200 answer's text
        # (msteams-docs connectors-using.md: "Connectors do not throw 429s"; a message over
        # 28 KB is answered with "... returned HTTP error 413").
        (
            "Webhook message delivery failed with error: Microsoft Teams endpoint returned "
            "HTTP error 413 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=x",
            TeamsError,
            413,
        ),
        ("Microsoft Teams endpoint returned HTTP error 400", TeamsError, 400),
        ("Microsoft Teams endpoint returned HTTP error 504", TeamsUnavailable, None),
        ("Webhook message delivery failed with error: unknown", TeamsUnavailable, None),
    ],
)
@responses.activate
def test_a_legacy_200_reporting_a_failure_is_never_a_receipt(
    body: str, error: type[Exception], status: int | None
) -> None:
    responses.post(WEBHOOK, status=200, body=body)
    teams = notifier()
    with pytest.raises(error) as caught:
        teams.send(outbox_item(teams, notices()[0], T0))
    assert is_transient(caught.value) is (error is TeamsUnavailable)
    if status is not None:
        assert isinstance(caught.value, TeamsError) and caught.value.status == status
    _no_secret(str(caught.value))


def _oversized_fix() -> FixApplied:
    """A fix whose diff renders past Teams' 28 KB: 20 lines of 200-character values made of
    Markdown specials (each escaped, then JSON-escaped)."""
    fix = next(n for n in notices() if isinstance(n, FixApplied))
    lines = tuple(
        DiffLine(f"properties.networkAcls.ipRules[{n}]", "{[.]}" * 40, "(-.-)" * 40)
        for n in range(20)
    )
    return replace(fix, diff=lines, summary="x." * 400)


def test_a_message_over_28_kb_is_cut_to_fit_and_stays_a_valid_card(
    reference_dir: Path,
) -> None:
    import jsonschema  # type: ignore[import-untyped]

    notice = _oversized_fix()
    assert message_bytes(teams_message(card(notice))) > MAX_MESSAGE_BYTES  # not vacuous
    message = notifier().render(notice)
    assert message_bytes(message) <= MAX_MESSAGE_BYTES == 28_000
    content = message["attachments"][0]["content"]
    schema = json.loads((reference_dir / "teams" / "adaptive-card__schema__1.5.0.json").read_text())
    jsonschema.validate(content, schema)
    shown = json.dumps(content)
    assert "more not shown" in shown and "phiguard rollback" in shown
    small = notices()[0]  # a message that fits is sent as rendered
    assert notifier().render(small) == teams_message(card(small))


class _OversizedTeams(TeamsNotifier):
    def render(self, notice: Notice) -> dict[str, Any]:
        raise MessageTooLarge("the Teams message is 40000 bytes, over the limit, even cut down")


def test_a_teams_message_too_large_skips_teams_and_the_email_still_goes() -> None:
    """A notice Teams would refuse (over 28 KB even cut down) is skipped on that channel,
    said in the counts and the log; the follow-up does not raise and the email is enqueued."""
    from shared.followup import FollowUpCounts, FollowUps
    from shared.notify.model import new_failure
    from shared.notify.routing import Routing
    from shared.notify.smtp import SmtpNotifier
    from shared.outbox.model import Channel, OutboxItem

    class Outbox:
        def __init__(self) -> None:
            self.items: list[OutboxItem] = []

        def enqueue(self, item: OutboxItem) -> bool:
            self.items.append(item)
            return True

        def created_since(self, channel: Channel, kind: Any, since: Any) -> int:
            return 0

    routing = Routing(default=("secops@contoso.com",), owner_domains=frozenset({"contoso.com"}))
    outbox = Outbox()
    followups = FollowUps(
        {},
        outbox,
        {
            Channel.TEAMS: _OversizedTeams(WEBHOOK),
            Channel.EMAIL: SmtpNotifier(
                "smtp.invalid", 587, "phiguard@contoso.com", routing, starttls="off"
            ),
        },
        routing=routing,
        clock=lambda: T0,
    )
    counts = FollowUpCounts()
    followups.notify(new_failure(finding(), detected_at=T0), counts)
    assert [item.channel for item in outbox.items] == [Channel.EMAIL]
    assert (counts.notices, counts.skipped) == (1, 1)


@responses.activate
def test_posts_to_one_webhook_are_spaced_to_four_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """Teams throttles a connector past 4 requests a second: the client spaces its posts."""
    import time

    from shared.notify.teams import TeamsWebhookClient

    clock = [1000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(time, "sleep", sleep)
    responses.add(responses.POST, WEBHOOK, body="1", status=200)
    client = TeamsWebhookClient(WEBHOOK)
    for _ in range(3):
        client.post({"type": "message", "attachments": []})
    assert slept == [pytest.approx(0.25), pytest.approx(0.25)]
    clock[0] += 5.0  # a quiet moment: the next post goes at once
    client.post({"type": "message", "attachments": []})
    assert len(slept) == 2
