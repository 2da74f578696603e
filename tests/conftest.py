from __future__ import annotations

import functools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sim.azurite import AzuriteEndpoints, running_azurite

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
# Published Azure examples live beside the checkout (../shared/reference), read-only.
REFERENCE = REPO.parent / "shared" / "reference"
# A storage connection string that reaches nothing: tests never use the well-known development
# storage (`UseDevelopmentStorage=true`, ports 10000-10002), which may be a user's own Azurite.
NOWHERE_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
    "BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:1/devstoreaccount1;"
)


# The functions function_app registers, by name (the host's function names).
APP_FUNCTIONS = frozenset(
    {
        "on_resource_change",
        "on_queued_resource_change",
        "events_webhook",
        "reconcile",
        "sweep_subscription",
        "outbox",
        "digest",
        "access_review",
        "evidence",
        "health",
        "findings",
    }
)


@functools.cache
def indexed_functions() -> tuple[Any, ...]:
    """``function_app.app.get_functions()``, as the Python worker indexes the app: once per
    process (a second call rejects the names the first one built), shared by every test."""
    import function_app

    return tuple(function_app.app.get_functions())


def in_fresh_interpreter(code: str) -> str:
    """What ``code`` prints when run by a new interpreter in the checkout: what an import
    loads, or how logging is set up at start, without this test process's modules."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


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


@pytest.fixture
def via_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request through ``requests`` (``shared.transport``'s fallback), where the
    ``responses`` library stands in for a service: it intercepts ``requests`` only."""
    from azure.core.rest import HttpRequest

    from shared.transport import PooledTransport

    def fetch_via_send(
        transport: PooledTransport, method: str, url: str, headers: dict[str, str]
    ) -> object:
        return transport.send(HttpRequest(method, url, headers=headers))

    monkeypatch.setattr(PooledTransport, "_handles", staticmethod(lambda *_: False))
    monkeypatch.setattr(PooledTransport, "fetch", fetch_via_send)
