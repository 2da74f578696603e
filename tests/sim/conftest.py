"""Fixtures for the simulated tenant: one server per test session, reset before every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sim.fixture import SimHandle, running_sim
from tests.sim.helpers import WebhookReceiver

# Small pages so that every list in the tests goes through nextLink paging.
PAGE_SIZE = 5


@pytest.fixture(scope="session")
def sim_server() -> Iterator[SimHandle]:
    with running_sim(estate="demo", seed=0, page_size=PAGE_SIZE) as handle:
        yield handle


@pytest.fixture
def sim(sim_server: SimHandle) -> Iterator[SimHandle]:
    """The demo tenant, freshly reset: no faults, no event subscriptions, counters at zero."""
    sim_server.clear_event_subscriptions()
    sim_server.set_faults("")
    sim_server.reset()
    sim_server.reset_counters()
    yield sim_server
    sim_server.clear_event_subscriptions()
    sim_server.set_faults("")


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()
