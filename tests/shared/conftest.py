"""Fixtures the shared/ tests have in common."""

from __future__ import annotations

import uuid

import pytest

from shared.state.tables import TableStateStore
from sim.azurite import AzuriteEndpoints


@pytest.fixture
def store(azurite: AzuriteEndpoints) -> TableStateStore:
    """A state store of its own (a fresh table prefix) on the session's Azurite."""
    s = TableStateStore.from_connection_string(
        azurite.connection_string, prefix=f"t{uuid.uuid4().hex[:12]}"
    )
    s.ensure_tables()
    return s
