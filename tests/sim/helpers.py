"""Helpers for the simulated-tenant tests: raw ARM calls, a test webhook, reference payloads."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from sim.arm import versions
from sim.fixture import SimHandle

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference"
TOKEN = {"Authorization": "Bearer fake"}


def url(sim: SimHandle, resource_id: str, api_version: str | None = None, **params: str) -> str:
    """The URL of an ARM path; without ``api_version``, a version the path's type registers."""
    api_version = api_version or versions.newest_for(resource_id.split("?")[0])
    query = "&".join([f"api-version={api_version}", *(f"{k}={v}" for k, v in params.items())])
    return f"{sim.arm_url}{quote(resource_id, safe='/')}?{query}"


def arm(
    sim: SimHandle,
    method: str,
    resource_id: str,
    body: Any = None,
    api_version: str | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> requests.Response:
    return requests.request(
        method,
        url(sim, resource_id, api_version, **(params or {})),
        json=body,
        headers={**TOKEN, **(headers or {})},
        verify=sim.ca_cert,
        timeout=30,
    )


def error_code(resp: requests.Response) -> str:
    return str(resp.json()["error"]["code"])


def reference(name: str) -> Any:
    """A published payload from ../shared/reference; skips the test where it is not laid out."""
    import pytest

    path = REFERENCE / name
    if not path.is_file():
        pytest.skip(f"reference payloads not found at {REFERENCE}")
    return json.loads(path.read_text(encoding="utf-8"))


def first(sim: SimHandle, type_name: str) -> dict[str, Any]:
    """The first document of a type in the tenant (a resource of the demo estate)."""
    assert sim.server is not None and sim.server.tenant is not None
    for doc in sim.server.tenant.arm.documents():
        if str(doc.get("type", "")).lower() == type_name.lower():
            return doc
    raise AssertionError(f"no {type_name} in the estate")


def all_of(sim: SimHandle, type_name: str) -> list[dict[str, Any]]:
    assert sim.server is not None and sim.server.tenant is not None
    return [
        d
        for d in sim.server.tenant.arm.documents()
        if str(d.get("type", "")).lower() == type_name.lower()
    ]


def same_shape(
    actual: Any, expected: Any, path: str = "$", optional: frozenset[str] = frozenset()
) -> list[str]:
    """Differences in keys and value types between two JSON values (values themselves ignored).

    ``optional`` names keys (anywhere) that may be missing on either side.
    """
    problems: list[str] = []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {type(actual).__name__}"]
        for k in expected.keys() - actual.keys() - optional:
            problems.append(f"{path}.{k}: missing")
        for k in actual.keys() - expected.keys() - optional:
            problems.append(f"{path}.{k}: unexpected")
        for k in expected.keys() & actual.keys():
            problems += same_shape(actual[k], expected[k], f"{path}.{k}", optional)
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected an array, got {type(actual).__name__}"]
        if expected and actual:
            for i, item in enumerate(actual):
                problems += same_shape(item, expected[0], f"{path}[{i}]", optional)
        return problems
    if type(actual) is not type(expected):
        return [f"{path}: expected {type(expected).__name__}, got {type(actual).__name__}"]
    return problems


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up on a kept-alive connection is no test failure to print."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class WebhookReceiver:
    """A local webhook that answers Event Grid's handshakes and records what it gets.

    ``fail_first`` POSTs of notifications are answered with ``fail_status``; ``delay`` seconds
    of sleep before answering a notification.
    """

    fail_first: int = 0
    fail_status: int = 503
    delay: float = 0.0
    answer_validation: bool = True
    requests: list[Received] = field(default_factory=list)
    _cv: threading.Condition = field(default_factory=threading.Condition)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/api/events"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _reply(
                self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def do_OPTIONS(self) -> None:
                receiver._record(Received("OPTIONS", self.path, dict(self.headers.items()), None))
                origin = self.headers.get("WebHook-Request-Origin", "")
                self._reply(200, headers={"WebHook-Allowed-Origin": origin, "Allow": "POST"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                body: Any = json.loads(raw) if raw else None
                headers = dict(self.headers.items())
                receiver._record(Received("POST", self.path, headers, body))
                if headers.get("aeg-event-type") == "SubscriptionValidation":
                    if not receiver.answer_validation:
                        self._reply(403)
                        return
                    code = body[0]["data"]["validationCode"]
                    answer = json.dumps({"validationResponse": code}).encode()
                    self._reply(200, answer, {"Content-Type": "application/json"})
                    return
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver._cv:
                    failing = receiver.fail_first > 0
                    if failing:
                        receiver.fail_first -= 1
                self._reply(receiver.fail_status if failing else 200)

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _record(self, item: Received) -> None:
        with self._cv:
            self.requests.append(item)
            self._cv.notify_all()

    def notifications(self) -> list[Received]:
        with self._cv:
            return [
                r
                for r in self.requests
                if r.method == "POST"
                and r.headers.get("aeg-event-type") != "SubscriptionValidation"
            ]

    def events(self) -> list[dict[str, Any]]:
        """Every delivered event (arrays flattened), in arrival order."""
        out: list[dict[str, Any]] = []
        for r in self.notifications():
            out += r.body if isinstance(r.body, list) else [r.body]
        return out

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                events = self.events_unlocked()
                if predicate(events):
                    return events
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"webhook did not get the expected events: {events}")
                self._cv.wait(left)

    def events_unlocked(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for r in self.requests:
            if r.method == "POST" and r.headers.get("aeg-event-type") != "SubscriptionValidation":
                out += r.body if isinstance(r.body, list) else [r.body]
        return out
