"""AcsEmailNotifier over `responses` (the SDK's requests go through the seam's requests
transport, which `responses` intercepts): the send request against the published example, the
operation polled to Succeeded, Failed and refusals permanent, the quota's 429 transient with
its Retry-After, and the access key in no error."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
import responses

from shared.errors import is_transient
from shared.notify.acs import AcsEmailNotifier, AcsError, AcsUnavailable, operation_id
from shared.notify.guard import PayloadLeak
from shared.notify.model import outbox_item
from shared.notify.routing import Routing

from .samples import T0, notices

pytestmark = pytest.mark.usefixtures("via_requests")  # `responses` stands in for the service

ENDPOINT = "https://contoso.westus.communications.azure.com"
ACCESS_KEY = base64.b64encode(b"acs-secret-access-key-0123456789").decode()
CONNECTION = f"endpoint={ENDPOINT}/;accesskey={ACCESS_KEY}"
ROUTING = Routing(default=("secops@contoso.com",), owner_domains=frozenset({"contoso.com"}))
SEND = re.compile(re.escape(f"{ENDPOINT}/emails:send") + r"\?api-version=.+")
OPERATION = f"{ENDPOINT}/emails/operations/"


def _reference(reference_dir: Path, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        (
            reference_dir / "azure-email" / f"Communication.Email__{name}__2023-03-31.json"
        ).read_text()
    )
    return found


def notifier() -> AcsEmailNotifier:
    return AcsEmailNotifier.from_connection_string(
        CONNECTION, "phiguard@contoso.com", ROUTING, polling_interval=0
    )


def _accept(op: str, *statuses: dict[str, Any]) -> None:
    location = f"{OPERATION}{op}?api-version=2025-09-01"
    responses.post(
        SEND,
        status=202,
        json={"id": op, "status": "Running"},
        headers={"Operation-Location": location, "retry-after": "0"},
    )
    for body in statuses:
        responses.get(
            re.compile(re.escape(f"{OPERATION}{op}") + r".*"),
            json=body,
            headers={"retry-after": "0"},
        )


@responses.activate
def test_send_matches_the_reference_and_polls_to_succeeded(reference_dir: Path) -> None:
    acs = notifier()
    item = outbox_item(acs, notices()[2], T0)
    op = operation_id(item.key)
    running = _reference(reference_dir, "emails_operations__GetStatus-Running")["responses"]["200"][
        "body"
    ]
    succeeded = _reference(reference_dir, "emails_operations__GetStatus-Succeeded")["responses"][
        "200"
    ]["body"]
    _accept(op, {**running, "id": op}, {**succeeded, "id": op})
    assert acs.send(item) == f"acs:{op}"
    send, *polls = responses.calls
    assert len(polls) == 2 and all(p.request.method == "GET" for p in polls)
    request = send.request
    assert request.headers["Operation-Id"] == op  # ACS deduplicates a repeated send by it
    assert request.headers["Authorization"].startswith("HMAC-SHA256 ")
    assert {"x-ms-date", "x-ms-content-sha256"} <= {h.lower() for h in request.headers}
    body = json.loads(request.body or b"")
    reference = _reference(reference_dir, "emails__Send")["parameters"]["emailMessage"]
    assert set(body) <= set(reference)
    assert set(body["content"]) == set(reference["content"])
    assert set(body["recipients"]) <= set(reference["recipients"])
    assert all(set(r) <= set(reference["recipients"]["to"][0]) for r in body["recipients"]["to"])
    assert body["senderAddress"] == "phiguard@contoso.com"
    assert [r["address"] for r in body["recipients"]["to"]] == item.payload["to"]
    assert body["content"] == {
        "subject": item.payload["subject"],
        "plainText": item.payload["text"],
        "html": item.payload["html"],
    }
    assert body["userEngagementTrackingDisabled"] is True
    raw = request.body
    assert ACCESS_KEY not in (raw.decode() if isinstance(raw, bytes) else str(raw))


def test_the_operation_id_is_stable_per_key() -> None:
    assert operation_id("fix_applied:r1") == operation_id("fix_applied:r1")
    assert operation_id("fix_applied:r1") != operation_id("fix_applied:r2")


@responses.activate
def test_a_failed_operation_is_permanent(reference_dir: Path) -> None:
    acs = notifier()
    item = outbox_item(acs, notices()[0], T0)
    op = operation_id(item.key)
    failed = _reference(reference_dir, "emails_operations__GetStatus-Failed")["responses"]["200"][
        "body"
    ]
    _accept(op, {**failed, "id": op})
    with pytest.raises(AcsError, match="EmailDropped") as caught:
        acs.send(item)
    assert not is_transient(caught.value)


@responses.activate
def test_the_send_quota_is_transient_with_retry_after() -> None:
    responses.post(
        SEND,
        status=429,
        json={"error": {"code": "TooManyRequests", "message": "quota"}},
        headers={"Retry-After": "60"},
    )
    acs = AcsEmailNotifier(
        _client(retry_total=0), "phiguard@contoso.com", ROUTING, polling_interval=0
    )
    with pytest.raises(AcsUnavailable) as caught:
        acs.send(outbox_item(acs, notices()[0], T0))
    assert is_transient(caught.value) and caught.value.retry_after == 60.0
    assert ACCESS_KEY not in str(caught.value)


@responses.activate
def test_a_refusal_is_permanent() -> None:
    responses.post(
        SEND,
        status=400,
        json={"error": {"code": "InvalidSenderAddress", "message": "sender not verified"}},
    )
    acs = notifier()
    with pytest.raises(AcsError, match="400") as caught:
        acs.send(outbox_item(acs, notices()[0], T0))
    assert not is_transient(caught.value)


def test_the_access_key_is_a_secret_to_the_guard() -> None:
    acs = notifier()
    item = outbox_item(acs, notices()[0], T0)
    leaky = item.with_(payload={**item.payload, "text": f"key {ACCESS_KEY}"})
    with pytest.raises(PayloadLeak):
        acs.send(leaky)


def _client(**options: Any) -> Any:
    from azure.communication.email import EmailClient

    from shared.http import transport

    return EmailClient.from_connection_string(CONNECTION, transport=transport(), **options)


def test_an_operation_still_running_after_the_poll_timeout_counts_as_accepted() -> None:
    class Poller:
        def result(self, timeout: float | None = None) -> None:
            assert timeout == 0.5
            return

        def done(self) -> bool:
            return False

    class Client:
        def begin_send(self, message: dict[str, Any], **options: Any) -> Poller:
            self.options = options
            return Poller()

    client = Client()
    acs = AcsEmailNotifier(client, "phiguard@contoso.com", ROUTING, poll_timeout=0.5)  # type: ignore[arg-type]
    item = outbox_item(acs, notices()[0], T0)
    assert acs.send(item) == f"acs:{operation_id(item.key)}:accepted"
    assert client.options["operation_id"] == operation_id(item.key)


def _accept_any() -> list[dict[str, Any]]:
    """A service taking every send (202, keyed by its Operation-Id) and answering every status
    poll Succeeded; the sent bodies, in order."""
    sent: list[dict[str, Any]] = []

    def send(request: Any) -> tuple[int, dict[str, str], str]:
        op = request.headers["Operation-Id"]
        sent.append({"op": op, **json.loads(request.body)})
        location = f"{OPERATION}{op}?api-version=2025-09-01"
        body = json.dumps({"id": op, "status": "Running"})
        return 202, {"Operation-Location": location, "retry-after": "0"}, body

    def status(request: Any) -> tuple[int, dict[str, str], str]:
        op = request.path_url.split("/emails/operations/")[1].split("?")[0]
        return 200, {}, json.dumps({"id": op, "status": "Succeeded"})

    responses.add_callback(responses.POST, SEND, callback=send)
    responses.add_callback(responses.GET, re.compile(re.escape(OPERATION) + r".+"), callback=status)
    return sent


@responses.activate
def test_more_than_50_recipients_go_as_emails_of_at_most_50() -> None:
    """ACS service limits: "Number of recipients in email (To/Cc/Bcc combined): 50"."""
    sent = _accept_any()
    acs = notifier()
    item = outbox_item(acs, notices()[0], T0)
    everyone = [f"person{n:03}@contoso.com" for n in range(120)]
    item = item.with_(payload={**item.payload, "to": everyone})
    receipt = acs.send(item)
    sizes = [len(body["recipients"]["to"]) for body in sent]
    assert sizes == [50, 50, 20]
    assert [a["address"] for body in sent for a in body["recipients"]["to"]] == everyone
    ops = [body["op"] for body in sent]
    assert ops[0] == operation_id(item.key) and len(set(ops)) == 3
    assert ops == [operation_id(item.key, n) for n in range(3)]  # stable across a retry
    assert receipt == ",".join(f"acs:{op}" for op in ops)


@pytest.mark.parametrize("poll_status", [429, 503])
@responses.activate
def test_trouble_polling_after_the_202_is_accepted_and_never_resent(poll_status: int) -> None:
    """202 means "the service has accepted the request" (Email_Send, REST 2023-03-31): a
    throttled or failed status poll must not make the outbox send the email again."""
    acs = notifier()
    item = outbox_item(acs, notices()[0], T0)
    op = operation_id(item.key)
    responses.post(
        SEND,
        status=202,
        json={"id": op, "status": "Running"},
        headers={"Operation-Location": f"{OPERATION}{op}?api-version=2025-09-01"},
    )
    responses.get(
        re.compile(re.escape(f"{OPERATION}{op}") + r".*"),
        status=poll_status,
        json={"error": {"code": "TooManyRequests", "message": "status quota"}},
        headers={"Retry-After": "60"},
    )
    assert acs.send(item) == f"acs:{op}:accepted"
    assert [c.request.method for c in responses.calls].count("POST") == 1


@responses.activate
def test_a_canceled_operation_is_permanent() -> None:
    """``Canceled`` is the other non-success terminal status of ``EmailSendResult``."""
    acs = notifier()
    item = outbox_item(acs, notices()[0], T0)
    op = operation_id(item.key)
    _accept(op, {"id": op, "status": "Canceled"})
    with pytest.raises(AcsError) as caught:
        acs.send(item)
    assert not is_transient(caught.value)
