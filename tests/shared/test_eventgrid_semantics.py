"""Event Grid / CloudEvents delivery semantics checked against the published specs:

* CloudEvents "HTTP 1.1 Web Hooks for Event Delivery" 4.2 (the OPTIONS abuse-protection answer),
  https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/http-webhook.md#42-validation-response
* CloudEvents HTTP protocol binding 3 (mode by ``Content-Type``) and 3.1.3.2 (``ce-*`` header
  values are percent-decoded),
  https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/http-protocol-binding.md
* "Event Grid message delivery and retry": the webhook codes Event Grid does not retry,
  https://learn.microsoft.com/azure/event-grid/delivery-and-retry
"""

from __future__ import annotations

import json
import time
from typing import Any

import azure.functions as func
import pytest

import function_app
from shared import api
from shared.events import parse_delivery
from shared.kernel.changes import ChangeKind
from sim.events import ORIGIN, Caller, Sink, build_event
from sim.faults import Dice, FaultSpec
from tests.sim.helpers import WebhookReceiver

WRITE = "Microsoft.Resources.ResourceWriteSuccess"
# Resource group names may hold Unicode letters; in a ce-* header they must be percent-encoded.
RG = "/subscriptions/sub1/resourceGroups/rg-café"
RG_ENCODED = "/subscriptions/sub1/resourceGroups/rg-caf%C3%A9"
SA = f"{RG}/providers/Microsoft.Storage/storageAccounts/sa1"
SA_ENCODED = f"{RG_ENCODED}/providers/Microsoft.Storage/storageAccounts/sa1"
DATA = {
    "subscriptionId": "sub1",
    "resourceUri": SA,
    "operationName": "Microsoft.Storage/storageAccounts/write",
    "status": "Succeeded",
}


def _headers(**extra: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "ce-specversion": "1.0",
        "ce-id": "b1",
        "ce-type": WRITE,
        "ce-source": RG_ENCODED,
        "ce-time": "2024-05-01T10:00:00.1234567Z",
        "ce-subject": SA_ENCODED,
        **extra,
    }


# --------------------------------------------------------------------------------------------
# CloudEvents webhook abuse protection (OPTIONS)


@pytest.mark.parametrize("rate", [None, "120"])
def test_options_answer_grants_origin_and_rate_and_allows_post(rate: str | None) -> None:
    request = {"WebHook-Request-Origin": ORIGIN, "WebHook-Request-Callback": "https://x/cb?k=1"}
    if rate is not None:
        request["WebHook-Request-Rate"] = rate
    status, headers, body = api.handle_webhook("OPTIONS", request, b"")
    assert (status, body) == (200, "")
    assert headers["WebHook-Allowed-Origin"] == ORIGIN
    # 4.2.2: MUST when the request named a rate; "*" or a positive integer.
    allowed_rate = headers["WebHook-Allowed-Rate"]
    assert allowed_rate == "*" or int(allowed_rate) > 0
    # 4.2: the OPTIONS response SHOULD include Allow naming POST.
    assert "POST" in [m.strip() for m in headers["Allow"].split(",")]


@pytest.mark.parametrize(
    "origin",
    ["eventgrid.azure.net\r\nSet-Cookie: a=b", "\u202eeventgrid.azure.net", "x" * 300, "a b"],
)
def test_an_origin_that_is_no_host_name_is_refused_not_echoed(origin: str) -> None:
    """The origin goes back in a response header: a line break, a control or direction
    character or a megabyte value is refused (400, naming the header), never echoed."""
    status, headers, body = api.handle_webhook("OPTIONS", {"WebHook-Request-Origin": origin}, b"")
    assert status == 400 and "WebHook-Request-Origin" in body
    assert "WebHook-Allowed-Origin" not in headers


def test_options_answer_keeps_its_headers_through_the_function() -> None:
    webhook = function_app.events_webhook.build().get_user_function()
    response = webhook(
        func.HttpRequest(
            "OPTIONS",
            "https://x/api/events",
            body=b"",
            headers={"webhook-request-origin": ORIGIN, "webhook-request-rate": "120"},
        )
    )
    assert response.status_code == 200
    assert response.headers["WebHook-Allowed-Origin"] == ORIGIN
    assert response.headers["WebHook-Allowed-Rate"] == "*"
    assert "POST" in response.headers["Allow"]


# --------------------------------------------------------------------------------------------
# CloudEvents HTTP binding: binary mode header values, mode by Content-Type


def test_binary_mode_header_values_are_percent_decoded() -> None:
    delivery = parse_delivery(json.dumps(DATA).encode(), _headers())
    assert delivery.poison == []
    (change,) = delivery.changes
    assert (change.kind, change.resource_id, change.event_id) == (ChangeKind.WRITE, SA, "b1")
    assert change.subscription_id == "sub1"


def test_binary_mode_double_quoted_header_values_are_unescaped() -> None:
    # RFC 7230 3.2.6 quoted strings: older senders quote instead of percent-encoding.
    headers = _headers(**{"ce-id": '"b\\"1"', "ce-subject": f'"{SA_ENCODED}"'})
    (change,) = parse_delivery(json.dumps(DATA).encode(), headers).changes
    assert (change.event_id, change.resource_id) == ('b"1', SA)


def test_binary_mode_header_with_bytes_that_are_not_utf8_is_poison_naming_the_header() -> None:
    # "%C0%A0" is an overlong encoding of a space: the binding says it MUST be rejected.
    headers = _headers(**{"ce-subject": SA_ENCODED + "%C0%A0"})
    delivery = parse_delivery(json.dumps(DATA).encode(), headers)
    assert delivery.changes == [] and delivery.total == 1
    (poison,) = delivery.poison
    assert poison.error.startswith("headers.ce-subject: percent-encoded bytes that are not UTF-8")
    assert poison.event_id == "b1"
    assert json.loads(poison.raw)["subject"] == SA_ENCODED + "%C0%A0"


def _ce(event_id: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": RG,
        "subject": SA,
        "type": WRITE,
        "time": "2024-05-01T10:00:00Z",
        "data": DATA,
    }


def test_batched_mode_is_chosen_by_content_type_even_with_ce_headers() -> None:
    body = json.dumps([_ce("a"), _ce("b")]).encode()
    headers = _headers(**{"Content-Type": "application/cloudevents-batch+json; charset=UTF-8"})
    delivery = parse_delivery(body, headers)
    assert delivery.poison == []
    assert sorted(c.event_id for c in delivery.changes) == ["a", "b"]


def test_structured_mode_is_chosen_by_content_type_even_with_ce_headers() -> None:
    body = json.dumps(_ce("s1")).encode()
    headers = _headers(**{"Content-Type": "application/cloudevents+json; charset=UTF-8"})
    headers["ce-id"] = "s1"  # 3.2.3: structured mode MAY repeat the attributes as headers
    (change,) = parse_delivery(body, headers).changes
    assert (change.event_id, change.resource_id) == ("s1", SA)


# --------------------------------------------------------------------------------------------
# The simulator's Event Grid: which webhook answers are not retried


def _event() -> dict[str, Any]:
    caller = Caller(claims={"appid": "app-1"}, principal_id="p1", principal_type="User")
    return build_event(
        WRITE,
        "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/sa1",
        "Microsoft.Storage/storageAccounts/write",
        "sub1",
        "tenant1",
        caller,
        "corr-1",
        None,
    )


@pytest.mark.parametrize(("status", "retried"), [(401, False), (403, False), (503, True)])
def test_sim_event_grid_dead_letters_401_and_403_from_a_webhook(status: int, retried: bool) -> None:
    hook = WebhookReceiver(fail_first=1, fail_status=status).start()
    sink = Sink(hook.url, dice=Dice(1), faults=FaultSpec, compression=1e6)
    try:
        deadline = time.monotonic() + 10
        while sink.stats.handshake == "pending" and time.monotonic() < deadline:
            time.sleep(0.01)
        sink.emit([_event()])
        assert sink.wait_idle(10)
        stats = sink.stats
        if retried:
            assert (stats.attempts, stats.delivered, stats.dead_lettered) == (2, 1, 0)
        else:
            assert (stats.attempts, stats.delivered, stats.dead_lettered) == (1, 0, 1)
    finally:
        sink.stop()
        hook.stop()
