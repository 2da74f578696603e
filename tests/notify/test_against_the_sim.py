"""The notifiers against the simulated tenant's Teams webhook and ACS Email stand-ins (real
HTTPS, the real azure-communication-email client with HMAC auth), through the real outbox: every
kind delivered once, an ACS send repeated after a crash deduplicated by its operation id, and
the ACS quota (a 429) waited out by the dispatcher."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from shared.notify.model import outbox_item
from shared.notify.settings import NotifySettings, build_senders
from shared.outbox.dispatcher import Dispatcher
from shared.outbox.model import Channel
from shared.outbox.store import TableOutbox
from sim.azurite import AzuriteEndpoints
from sim.fixture import SimHandle, running_sim

from .samples import T0, notices


@pytest.fixture(scope="module")
def sim_server() -> Iterator[SimHandle]:
    with running_sim(estate="empty", seed=0) as handle:
        yield handle


@pytest.fixture
def sim(sim_server: SimHandle) -> Iterator[SimHandle]:
    sim_server.set_faults("")
    sim_server.reset()
    sim_server.reset_counters()
    yield sim_server
    sim_server.set_faults("")


@pytest.fixture
def outbox(azurite: AzuriteEndpoints) -> TableOutbox:
    box = TableOutbox.from_connection_string(
        azurite.connection_string, prefix=f"t{uuid.uuid4().hex[:12]}"
    )
    box.ensure_tables()
    return box


def senders(sim: SimHandle) -> dict[Channel, object]:
    settings = NotifySettings.from_env(
        {
            "PHIGUARD_TEAMS_WEBHOOK_URL": sim.teams_webhook_url,
            "PHIGUARD_ACS_CONNECTION_STRING": sim.acs_connection_string,
            "PHIGUARD_EMAIL_SENDER": "phiguard@contoso.com",
            "PHIGUARD_NOTIFY_EMAIL_TO": "secops@contoso.com",
        }
    )
    found: dict[Channel, object] = dict(build_senders(settings, ca_cert=sim.ca_cert, max_retries=0))
    email = found[Channel.EMAIL]
    email.polling_interval = 0  # type: ignore[attr-defined]
    return found


def test_every_kind_reaches_teams_and_email_once(sim: SimHandle, outbox: TableOutbox) -> None:
    channels = senders(sim)
    for _ in range(2):
        for notifier in channels.values():
            for notice in notices():
                outbox.enqueue(outbox_item(notifier, notice, T0))  # type: ignore[arg-type]
    dispatcher = Dispatcher(outbox, channels, lambda: T0, 3)  # type: ignore[arg-type]
    report = dispatcher.run_once(T0)
    assert (report.sent, report.dead, report.retried) == (12, 0, 0), outbox.dead()
    teams = sim.received("teams")
    email = sim.received("email")
    assert teams["count"] == 6
    assert len(email["messages"]) == 6
    assert {m["status"] for m in email["messages"]} == {"Succeeded"}


def test_an_acs_send_repeated_after_a_crash_is_one_email(
    sim: SimHandle, outbox: TableOutbox
) -> None:
    email = senders(sim)[Channel.EMAIL]
    item = outbox_item(email, notices()[2], T0)  # type: ignore[arg-type]
    email.send(item)  # type: ignore[attr-defined]
    email.send(item)  # type: ignore[attr-defined]  # the dispatcher's one duplicate
    assert len(sim.received("email")["messages"]) == 1


def test_the_acs_quota_is_waited_out(sim: SimHandle, outbox: TableOutbox) -> None:
    sim.set_faults("email:quota=2/min")
    email = senders(sim)[Channel.EMAIL]
    for notice in notices()[:4]:
        outbox.enqueue(outbox_item(email, notice, T0))  # type: ignore[arg-type]
    dispatcher = Dispatcher(outbox, {Channel.EMAIL: email}, lambda: T0, 5)  # type: ignore[dict-item]
    report = dispatcher.run_once(T0)
    assert (report.sent, report.retried, report.skipped) == (2, 1, 1)  # the rest wait
    waiting = [i for i in outbox.pending() if i.attempts == 1]
    assert waiting and waiting[0].not_before is not None
    assert waiting[0].not_before > T0 and waiting[0].last_error is not None
    assert waiting[0].last_error.type == "AcsUnavailable"
