from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.azurite import AzuriteEndpoints, running_azurite

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
# Published Azure examples live beside the checkout (../shared/reference), read-only.
REFERENCE = REPO.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference payloads not found at {REFERENCE}")
    return REFERENCE


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteEndpoints]:
    """Azurite in memory on OS-chosen ports, one per test session (per xdist worker).

    Fails (does not skip) when ``node_modules`` is missing: the message says to run
    ``npm install``.
    """
    with running_azurite() as endpoints:
        yield endpoints
