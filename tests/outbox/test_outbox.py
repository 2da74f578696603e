"""The outbox on Azurite: idempotent enqueue, due/claim/mark, the dispatcher's backoff,
dead-lettering, throttling and a crash between the send and the mark."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.errors import TransientServiceError
from shared.outbox.dispatcher import Dispatcher
from shared.outbox.model import (
    Channel,
    ErrorSummary,
    ItemStatus,
    Kind,
    OutboxItem,
    PayloadTooLarge,
    RetryLater,
    new_item,
    scrub,
)
from shared.outbox.store import ClaimLost, TableOutbox, row_key
from sim.azurite import AzuriteEndpoints

T0 = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)


@pytest.fixture
def outbox(azurite: AzuriteEndpoints) -> TableOutbox:
    box = TableOutbox.from_connection_string(
        azurite.connection_string, prefix=f"t{uuid.uuid4().hex[:12]}"
    )
    box.ensure_tables()
    return box


class Recorder:
    """A sender that records what it sent, failing as told."""

    def __init__(self, *failures: BaseException | None) -> None:
        self.failures = list(failures)
        self.sent: list[str] = []

    def send(self, item: OutboxItem) -> str:
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure
        self.sent.append(item.key)
        return f"receipt-{len(self.sent)}"


class Crash(BaseException):
    """The process dies (not an Exception: nothing catches it)."""


def item(key: str = "k1", channel: Channel = Channel.TEAMS, **payload: Any) -> OutboxItem:
    return new_item(key, channel, Kind.NEW_FAILURE, payload or {"title": "t"}, now=T0)


def test_enqueue_twice_is_a_no_op(outbox: TableOutbox) -> None:
    assert outbox.enqueue(item("a/b c", title="first")) is True
    assert outbox.enqueue(item("a/b c", title="second")) is False
    stored = outbox.get(Channel.TEAMS, "a/b c")
    assert stored is not None
    assert stored.payload == {"title": "first"}
    assert stored.status is ItemStatus.PENDING and stored.attempts == 0
    assert [i.key for i in outbox.pending()] == ["a/b c"]
    # the same key on another channel is another item
    assert outbox.enqueue(item("a/b c", Channel.EMAIL)) is True


def test_keys_escape_and_hash_like_the_state_store(outbox: TableOutbox) -> None:
    long_a, long_b = "x" * 600 + "a", "x" * 600 + "b"
    assert row_key("a/B") == "a|!0042"
    assert row_key(long_a) != row_key(long_b) and len(row_key(long_a)) < 500
    for key in (long_a, long_b, "#?\\'\u202e", "%2F"):
        assert outbox.enqueue(item(key))
        stored = outbox.get(Channel.TEAMS, key)
        assert stored is not None and stored.key == key


def test_payload_too_large_is_refused(outbox: TableOutbox) -> None:
    with pytest.raises(PayloadTooLarge):
        outbox.enqueue(item(body="x" * 40_000))


def test_due_respects_not_before_and_status(outbox: TableOutbox) -> None:
    outbox.enqueue(item("now"))
    outbox.enqueue(
        OutboxItem("later", Channel.TEAMS, Kind.DIGEST, {}, T0, not_before=T0 + timedelta(hours=1))
    )
    assert [i.key for i in outbox.due(T0)] == ["now"]
    assert {i.key for i in outbox.due(T0 + timedelta(hours=2))} == {"now", "later"}
    sent = outbox.mark_sent(outbox.due(T0)[0], "r1", T0)
    assert sent.status is ItemStatus.SENT
    assert [i.key for i in outbox.due(T0 + timedelta(hours=2))] == ["later"]


def test_claims_and_marks_are_etag_conditional(outbox: TableOutbox) -> None:
    outbox.enqueue(item())
    [read] = outbox.due(T0)
    claimed = outbox.claim(read, T0, timedelta(minutes=5))
    assert claimed.attempts == 1
    with pytest.raises(ClaimLost):  # a second dispatcher holding the same read loses
        outbox.claim(read, T0, timedelta(minutes=5))
    assert outbox.due(T0) == []  # held for the lease
    assert outbox.mark_sent(claimed, "r", T0).receipt == "r"


def test_dispatcher_sends_and_marks_sent(outbox: TableOutbox) -> None:
    for key in ("a", "b"):
        outbox.enqueue(item(key))
    outbox.enqueue(item("m", Channel.EMAIL))
    teams = Recorder()
    report = Dispatcher(outbox, {Channel.TEAMS: teams}, lambda: T0, 3).run_once(T0)
    assert (report.sent, report.by_channel) == (2, {"teams": 2})
    email = outbox.get(Channel.EMAIL, "m")  # no sender: not even read, left pending
    assert email is not None and email.status is ItemStatus.PENDING and email.attempts == 0
    assert sorted(teams.sent) == ["a", "b"]
    stored = outbox.get(Channel.TEAMS, "a")
    assert stored is not None and stored.status is ItemStatus.SENT and stored.sent_at == T0
    assert stored.receipt.startswith("receipt-")
    assert [i.key for i in outbox.pending()] == ["m"]  # no email sender: left pending
    # a second run sends nothing again
    assert Dispatcher(outbox, {Channel.TEAMS: teams}, lambda: T0, 3).run_once(T0).sent == 0
    assert len(teams.sent) == 2


def test_transient_failures_back_off_exponentially_then_dead_letter(outbox: TableOutbox) -> None:
    outbox.enqueue(item())
    failure = TransientServiceError("Teams 503 for POST /workflows after retries")
    sender = Recorder(failure, failure, failure)
    dispatcher = Dispatcher(outbox, {Channel.TEAMS: sender}, lambda: T0, 3, base_delay=10)
    now = T0
    waits = []
    for _ in range(2):
        assert dispatcher.run_once(now).retried == 1
        stored = outbox.get(Channel.TEAMS, "k1")
        assert stored is not None and stored.not_before is not None
        assert dispatcher.run_once(stored.not_before - timedelta(seconds=1)).sent == 0  # not due
        waits.append((stored.not_before - now).total_seconds())
        now = stored.not_before
    assert waits == [10, 20]
    assert stored is not None
    assert stored.last_error == ErrorSummary("TransientServiceError", str(failure))
    report = dispatcher.run_once(now)
    assert (report.retried, report.dead) == (0, 1)
    [dead] = outbox.dead()
    assert dead.attempts == 3 and dead.last_error is not None
    assert outbox.due(now + timedelta(days=1)) == []


def test_retry_after_is_honoured_and_throttles_the_channel(outbox: TableOutbox) -> None:
    for key in ("a", "b", "c"):
        outbox.enqueue(item(key))
    sender = Recorder(RetryLater("ACS 429: 30 per minute", retry_after=120))
    dispatcher = Dispatcher(outbox, {Channel.TEAMS: sender}, lambda: T0, 5, base_delay=10)
    report = dispatcher.run_once(T0)
    assert (report.sent, report.retried, report.skipped) == (0, 1, 2)  # the rest wait
    throttled = [i for i in outbox.pending() if i.attempts == 1]
    assert len(throttled) == 1 and throttled[0].not_before == T0 + timedelta(seconds=120)
    assert dispatcher.run_once(T0).sent == 2


def test_a_refusal_is_dead_lettered_at_once(outbox: TableOutbox) -> None:
    outbox.enqueue(item())
    sender = Recorder(ValueError("400 bad card"))
    report = Dispatcher(outbox, {Channel.TEAMS: sender}, lambda: T0, 5).run_once(T0)
    assert report.dead == 1
    [dead] = outbox.dead()
    assert dead.last_error == ErrorSummary("ValueError", "400 bad card")


def test_a_crash_between_send_and_mark_leaves_at_most_one_duplicate(
    outbox: TableOutbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox.enqueue(item())
    sender = Recorder()
    lease = timedelta(minutes=5)
    dispatcher = Dispatcher(outbox, {Channel.TEAMS: sender}, lambda: T0, 5, lease=lease)

    def crash(*args: object, **kwargs: object) -> None:
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(outbox, "mark_sent", crash)
        with pytest.raises(Crash):
            dispatcher.run_once(T0)
    assert sender.sent == ["k1"]
    # a restarted dispatcher within the lease sends nothing
    assert dispatcher.run_once(T0 + lease - timedelta(seconds=1)).sent == 0
    # after the lease, exactly one more send, then never again
    assert dispatcher.run_once(T0 + lease).sent == 1
    for minutes in (10, 60, 600):
        assert dispatcher.run_once(T0 + timedelta(minutes=minutes)).sent == 0
    assert sender.sent == ["k1", "k1"]
    stored = outbox.get(Channel.TEAMS, "k1")
    assert stored is not None and stored.status is ItemStatus.SENT and stored.attempts == 2


def test_two_dispatchers_racing_send_once(outbox: TableOutbox) -> None:
    outbox.enqueue(item())
    sender = Recorder()
    first = Dispatcher(outbox, {Channel.TEAMS: sender}, lambda: T0, 5)
    stale = outbox.due(T0)
    assert first.run_once(T0).sent == 1

    class StaleOutbox:
        def __getattr__(self, name: str) -> Any:
            return getattr(outbox, name)

        def due(self, now: datetime, limit: int = 100, limits: object = None) -> list[OutboxItem]:
            return stale  # read before the first dispatcher claimed it

    report = Dispatcher(StaleOutbox(), {Channel.TEAMS: sender}, lambda: T0, 5).run_once(T0)
    assert (report.sent, report.lost) == (0, 1)
    assert sender.sent == ["k1"]


def test_stored_errors_carry_no_secrets() -> None:
    text = (
        "POST https://prod.westus.logic.azure.com/workflows/abc/triggers/manual/paths/invoke"
        "?api-version=2016-06-01&sig=SECRETSIG failed; Authorization: Bearer eyJSECRET "
        "conn AccountKey=SECRETKEY; https://user:pw@smtp.example.com"
    )
    summary = ErrorSummary.of(RuntimeError(text * 3))
    assert "SECRET" not in summary.text and "pw@" not in summary.text
    assert len(summary.text) <= 200
    assert scrub("line\nbreak") == "line break"


def test_rate_limits_keep_a_channel_under_its_quota(outbox: TableOutbox) -> None:
    for n in range(6):
        outbox.enqueue(item(f"m{n}", Channel.EMAIL))
    outbox.enqueue(item("t"))
    sender = Recorder()
    now = [T0]
    limits = {Channel.EMAIL: [(2, timedelta(minutes=1)), (3, timedelta(hours=1))]}
    dispatcher = Dispatcher(
        outbox,
        {Channel.EMAIL: sender, Channel.TEAMS: sender},
        lambda: now[0],
        5,
        rate_limits=limits,
    )

    def run(at: datetime) -> tuple[int, int]:
        now[0] = at
        report = dispatcher.run_once(at)
        return report.sent, len([i for i in outbox.pending() if i.channel is Channel.EMAIL])

    assert run(T0) == (3, 4)  # two emails (and the Teams item, no limit)
    assert run(T0 + timedelta(seconds=30)) == (0, 4)
    assert run(T0 + timedelta(seconds=61)) == (1, 3)  # the hour allows one more
    assert run(T0 + timedelta(minutes=30)) == (0, 3)
    assert run(T0 + timedelta(minutes=61)) == (2, 1)
    assert all(i.attempts == 0 for i in outbox.pending())  # waiting is not an attempt


def test_the_acs_quota_is_30_a_minute_and_100_an_hour() -> None:
    from shared.outbox.dispatcher import ACS_EMAIL_QUOTA

    assert ((30, timedelta(minutes=1)), (100, timedelta(hours=1))) == ACS_EMAIL_QUOTA


def test_purge_removes_only_old_sent_items(outbox: TableOutbox) -> None:
    for key in ("old", "new", "dead", "pending"):
        outbox.enqueue(item(key))
    old = outbox.get(Channel.TEAMS, "old")
    new = outbox.get(Channel.TEAMS, "new")
    dead = outbox.get(Channel.TEAMS, "dead")
    assert old and new and dead
    outbox.mark_sent(old, "r", T0 - timedelta(days=40))
    outbox.mark_sent(new, "r", T0)
    outbox.mark_dead(dead, ErrorSummary("X", "y"))
    assert outbox.purge_sent(T0 - timedelta(days=30)) == 1
    assert outbox.get(Channel.TEAMS, "old") is None
    assert {i.key for i in outbox.sent()} == {"new"}
    assert [i.key for i in outbox.dead()] == ["dead"]
    assert [i.key for i in outbox.pending()] == ["pending"]


def test_a_backlog_on_one_channel_never_starves_another(outbox: TableOutbox) -> None:
    for n in range(5):
        outbox.enqueue(item(f"m{n}", Channel.EMAIL))
    outbox.enqueue(item("t"))
    due = outbox.due(T0, limit=2)
    assert sorted(i.channel for i in due) == [Channel.EMAIL, Channel.EMAIL, Channel.TEAMS]
    sender = Recorder()
    limits = {Channel.EMAIL: [(0, timedelta(minutes=1))]}  # email over its quota
    dispatcher = Dispatcher(
        outbox,
        {Channel.EMAIL: sender, Channel.TEAMS: sender},
        lambda: T0,
        5,
        batch=2,
        rate_limits=limits,
    )
    assert dispatcher.run_once(T0).sent == 1 and sender.sent == ["t"]


def test_the_teams_quota_is_a_connectors_and_the_app_applies_it() -> None:
    """msteams-docs "Rate limiting for connectors": 60 in 30 s, 100 an hour, 150 in 2 h,
    1,800 a day (4 a second is the client's spacing); the app's dispatcher holds Teams to it."""
    from shared.config import Settings
    from shared.context import AppContext
    from shared.outbox.dispatcher import TEAMS_WEBHOOK_QUOTA

    assert (
        (60, timedelta(seconds=30)),
        (100, timedelta(hours=1)),
        (150, timedelta(hours=2)),
        (1800, timedelta(days=1)),
    ) == TEAMS_WEBHOOK_QUOTA
    settings = Settings.from_env(
        {
            "PHIGUARD_SUBSCRIPTIONS": "s1",
            "PHIGUARD_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
        }
    )
    context = AppContext(settings)
    context.__dict__["outbox"] = object()  # the dispatcher's wiring, not the tables
    dispatcher = context.dispatcher
    assert dispatcher.rate_limits[Channel.TEAMS] == TEAMS_WEBHOOK_QUOTA
