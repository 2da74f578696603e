from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.azurite import AzuriteEndpoints
from tests.e2e.world import World, running_world


@pytest.fixture()
def world(azurite: AzuriteEndpoints, tmp_path: Path) -> Iterator[World]:
    with running_world(azurite, tmp_path) as built:
        yield built
