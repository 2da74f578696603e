"""Notices through the real outbox (Azurite) to Teams (`responses`): enqueued once however often
the same notice comes, sent once, a crash between the send and the mark resent at most once,
a 429 backed off by its Retry-After, a refusal dead-lettered."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import responses

from shared.notify.model import outbox_item
from shared.notify.teams import TeamsNotifier
from shared.outbox.dispatcher import Dispatcher
from shared.outbox.model import Channel, ItemStatus
from shared.outbox.store import TableOutbox
from sim.azurite import AzuriteEndpoints

from .samples import T0, WEBHOOK, notices

pytestmark = pytest.mark.usefixtures("via_requests")  # `responses` stands in for the service


@pytest.fixture
def outbox(azurite: AzuriteEndpoints) -> TableOutbox:
    box = TableOutbox.from_connection_string(
        azurite.connection_string, prefix=f"t{uuid.uuid4().hex[:12]}"
    )
    box.ensure_tables()
    return box


@pytest.fixture
def http(azurite: AzuriteEndpoints) -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru(azurite.table_url.rsplit("/", 1)[0])  # the tables stay real
        yield mock


def _posts(http: responses.RequestsMock) -> list[dict[str, object]]:
    return [json.loads(c.request.body or b"") for c in http.calls if c.request.url == WEBHOOK]


def test_a_notice_is_enqueued_once_and_sent_once(
    outbox: TableOutbox, http: responses.RequestsMock
) -> None:
    http.post(WEBHOOK, status=202)
    teams = TeamsNotifier(WEBHOOK, max_retries=0)
    for _ in range(3):  # the same notices from three redeliveries
        for notice in notices():
            outbox.enqueue(outbox_item(teams, notice, T0))
    assert len(outbox.pending()) == 6
    dispatcher = Dispatcher(outbox, {Channel.TEAMS: teams}, lambda: T0, 5)
    assert dispatcher.run_once(T0).sent == 6
    assert dispatcher.run_once(T0 + timedelta(hours=1)).sent == 0
    posts = _posts(http)
    assert len(posts) == 6
    rendered = [teams.render(n) for n in notices()]
    assert sorted(json.dumps(p, sort_keys=True) for p in posts) == sorted(
        json.dumps(r, sort_keys=True) for r in rendered
    )
    assert {i.status for i in outbox.sent()} == {ItemStatus.SENT} and len(outbox.sent()) == 6


def test_a_crash_after_the_post_resends_at_most_once(
    outbox: TableOutbox, http: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    http.post(WEBHOOK, status=202)
    teams = TeamsNotifier(WEBHOOK, max_retries=0)
    outbox.enqueue(outbox_item(teams, notices()[2], T0))
    lease = timedelta(minutes=5)
    dispatcher = Dispatcher(outbox, {Channel.TEAMS: teams}, lambda: T0, 5, lease=lease)

    class Crash(BaseException):
        pass

    def crash(*args: object, **kwargs: object) -> None:
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(outbox, "mark_sent", crash)
        with pytest.raises(Crash):
            dispatcher.run_once(T0)
    assert len(_posts(http)) == 1
    for minutes in (1, 5, 6, 60, 600):
        dispatcher.run_once(T0 + timedelta(minutes=minutes))
    assert len(_posts(http)) == 2  # one duplicate, no more
    [sent] = outbox.sent()
    assert sent.attempts == 2


def test_throttling_backs_off_and_a_refusal_is_dead_lettered(
    outbox: TableOutbox, http: responses.RequestsMock
) -> None:
    teams = TeamsNotifier(WEBHOOK, max_retries=0)
    for notice in notices()[:2]:
        outbox.enqueue(outbox_item(teams, notice, T0))
    http.post(WEBHOOK, status=429, headers={"Retry-After": "300"})
    dispatcher = Dispatcher(outbox, {Channel.TEAMS: teams}, lambda: T0, 5, base_delay=10)
    report = dispatcher.run_once(T0)
    assert (report.retried, report.skipped) == (1, 1)  # the channel waits out the 429
    http.replace(responses.POST, WEBHOOK, status=400)
    later = T0 + timedelta(seconds=300)
    report = dispatcher.run_once(later)
    assert report.dead == 2
    dead = outbox.dead()
    assert {d.last_error.type for d in dead if d.last_error} == {"TeamsError"}
    for item in dead:
        assert "S3CR3T" not in str(item.last_error) and "/workflows/" not in str(item.last_error)
