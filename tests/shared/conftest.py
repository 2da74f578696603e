"""Fixtures for the engine's storage-facing tests: a real Azurite, one per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sim.azurite import AzuriteEndpoints, running_azurite


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteEndpoints]:
    """Azurite in memory on OS-chosen ports; stopped when the session ends.

    Fails (does not skip) when ``node_modules`` is missing: the message says to run
    ``npm install``.
    """
    with running_azurite() as endpoints:
        yield endpoints
