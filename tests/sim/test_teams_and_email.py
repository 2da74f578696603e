"""The Teams webhook stand-in (``requests``) and ACS Email (the real azure-communication-email
``EmailClient`` over HMAC and bearer auth): shapes, refusals, operation polling and faults."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from azure.communication.email import EmailClient
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

from sim.acs_email import sign
from sim.channels import ACS_ACCESS_KEY
from sim.credentials import StaticTokenCredential
from sim.fixture import SimHandle
from tests.sim.helpers import reference

# --- Teams ---------------------------------------------------------------------------------


def post_card(sim: SimHandle, body: Any, url: str | None = None) -> requests.Response:
    return requests.post(url or sim.teams_webhook_url, json=body, verify=sim.ca_cert, timeout=30)


def test_teams_accepts_the_published_message(sim: SimHandle) -> None:
    message = reference("teams/teams-webhook-message__adaptive-card-attachment__msteams-docs.json")
    resp = post_card(sim, message)
    assert resp.status_code == 202 and resp.content == b""
    received = sim.received("teams")
    assert received["count"] == 1
    assert received["messages"][0]["message"] == message
    assert received["messages"][0]["webhook"] == "phiguard"


def test_teams_accepts_a_published_sample_card(sim: SimHandle) -> None:
    card = reference(
        "teams/adaptive-card__sample-v1.5-Scenarios-ActivityUpdate__AdaptiveCards.json"
    )
    message = {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }
    assert post_card(sim, message).status_code == 202


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"type": "card"},
        {"type": "message", "attachments": []},
        {"type": "message", "attachments": [{"contentType": "text/plain", "content": {}}]},
        {
            "type": "message",
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": {"a": 1}}
            ],
        },
        {"@type": "MessageCard", "text": "the retired connector format"},
    ],
)
def test_teams_rejects_other_shapes(sim: SimHandle, body: Any) -> None:
    resp = post_card(sim, body)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "InvalidRequestContent"
    assert sim.received("teams")["count"] == 0


def test_teams_needs_the_signature_and_limits_size(sim: SimHandle) -> None:
    unsigned = sim.teams_webhook_url.split("?")[0]
    assert post_card(sim, {"type": "message"}, url=unsigned).status_code == 401
    big = {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {"type": "AdaptiveCard", "body": [{"text": "x" * 30_000}]},
            }
        ],
    }
    assert post_card(sim, big).status_code == 413


@pytest.mark.parametrize(("spec", "status"), [("teams:429@1", 429), ("teams:5xx@1", None)])
def test_teams_faults(sim: SimHandle, spec: str, status: int | None) -> None:
    sim.set_faults(spec)
    message = reference("teams/teams-webhook-message__adaptive-card-attachment__msteams-docs.json")
    resp = post_card(sim, message)
    if status is None:
        assert resp.status_code >= 500
    else:
        assert resp.status_code == status and resp.headers["Retry-After"] == "1"
    sim.set_faults("teams:reset@1")
    with pytest.raises(requests.ConnectionError):
        post_card(sim, message)
    sim.set_faults("teams:quota=1/min")
    assert [post_card(sim, message).status_code for _ in range(2)] == [202, 429]
    assert sim.received("teams")["count"] == 1


# --- ACS Email -----------------------------------------------------------------------------

MESSAGE = {
    "senderAddress": "DoNotReply@phiguard.example",
    "content": {"subject": "HIPAA finding", "plainText": "Storage account open to the internet"},
    "recipients": {"to": [{"address": "secops@contoso.example", "displayName": "SecOps"}]},
}


def client(sim: SimHandle) -> EmailClient:
    return EmailClient.from_connection_string(
        sim.acs_connection_string, connection_verify=sim.ca_cert, retry_total=0
    )


def test_email_sdk_send_with_a_connection_string(sim: SimHandle) -> None:
    succeeded = reference(
        "azure-email/Communication.Email__emails_operations__GetStatus-Succeeded__2023-03-31.json"
    )
    poller = client(sim).begin_send(MESSAGE, polling_interval=0.01)
    result = poller.result(timeout=30)
    assert set(result) == set(succeeded["responses"]["200"]["body"])
    assert result["status"] == "Succeeded"
    received = sim.received("email")
    assert received["count"] == 1
    sent = received["messages"][0]
    assert sent["id"] == result["id"] and sent["status"] == "Succeeded"
    assert sent["content"]["subject"] == "HIPAA finding"
    assert received["counters"]["by_route"]["GET /emails/operations/{id}"] >= 2  # Running first


def test_email_sdk_with_a_bearer_token(sim: SimHandle) -> None:
    email = EmailClient(
        sim.acs_endpoint, StaticTokenCredential(), connection_verify=sim.ca_cert, retry_total=0
    )
    assert email.begin_send(MESSAGE, polling_interval=0.01).result(timeout=30)["status"] == (
        "Succeeded"
    )


def test_email_refuses_a_wrong_key(sim: SimHandle) -> None:
    wrong = base64.b64encode(b"not the sim's key").decode()
    endpoint = sim.acs_connection_string.split(";")[0]
    email = EmailClient.from_connection_string(
        f"{endpoint};accesskey={wrong}", connection_verify=sim.ca_cert, retry_total=0
    )
    with pytest.raises(ClientAuthenticationError):
        email.begin_send(MESSAGE)
    assert sim.received("email")["count"] == 0


def _raw_send(
    sim: SimHandle, body: bytes, date: str | None = None, content_hash: str | None = None
) -> requests.Response:
    target = "/emails:send?api-version=2023-03-31"
    host = urlsplit(sim.acs_endpoint).netloc
    date = date or formatdate(usegmt=True)
    headers = {
        "Content-Type": "application/json",
        "x-ms-date": date,
        "x-ms-content-sha256": content_hash
        or base64.b64encode(hashlib.sha256(body).digest()).decode(),
        "Authorization": sign("POST", target, date, host, body, ACS_ACCESS_KEY),
    }
    return requests.post(
        sim.acs_endpoint + target, data=body, headers=headers, verify=sim.ca_cert, timeout=30
    )


def test_email_hmac_checks_date_and_content_hash(sim: SimHandle) -> None:
    body = json.dumps(MESSAGE).encode()
    ok = _raw_send(sim, body)
    assert ok.status_code == 202
    send = reference("azure-email/Communication.Email__emails__Send__2023-03-31.json")
    assert set(send["responses"]["202"]["body"]) == set(ok.json())
    assert ok.headers["operation-id"] == ok.json()["id"]
    assert ok.headers["Operation-Location"].endswith(
        f"/emails/operations/{ok.json()['id']}?api-version=2023-03-31"
    )
    stale = formatdate(time.time() - 3600, usegmt=True)
    assert _raw_send(sim, body, date=stale).status_code == 401
    forged = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    assert _raw_send(sim, body, content_hash=forged).status_code == 401
    plain = requests.post(
        sim.acs_endpoint + "/emails:send?api-version=2023-03-31",
        json=MESSAGE,
        verify=sim.ca_cert,
        timeout=30,
    )
    assert plain.status_code == 401 and plain.json()["error"]["code"] == "Denied"


def test_email_operation_goes_running_then_succeeded(sim: SimHandle) -> None:
    running = reference(
        "azure-email/Communication.Email__emails_operations__GetStatus-Running__2023-03-31.json"
    )
    sent = _raw_send(sim, json.dumps(MESSAGE).encode())
    location = sent.headers["Operation-Location"]
    auth = {"Authorization": "Bearer t"}
    first = requests.get(location, headers=auth, verify=sim.ca_cert, timeout=30).json()
    assert set(first) == set(running["responses"]["200"]["body"])
    assert first["status"] == "Running"
    second = requests.get(location, headers=auth, verify=sim.ca_cert, timeout=30).json()
    assert second["status"] == "Succeeded"
    unknown = location.replace(sent.json()["id"], "nope")
    assert requests.get(unknown, headers=auth, verify=sim.ca_cert, timeout=30).status_code == 404


def test_email_validates_the_message(sim: SimHandle) -> None:
    for broken in (
        {**MESSAGE, "senderAddress": ""},
        {**MESSAGE, "content": {"subject": "s"}},
        {**MESSAGE, "recipients": {"to": []}},
    ):
        resp = _raw_send(sim, json.dumps(broken).encode())
        assert resp.status_code == 400, broken
    with pytest.raises(HttpResponseError):
        client(sim).begin_send({**MESSAGE, "recipients": {"to": [{"address": "nobody"}]}})
    assert sim.received("email")["count"] == 0


def test_email_quota_gives_429_with_retry_after(sim: SimHandle) -> None:
    sim.set_faults("email:quota=2/min+100/h")
    body = json.dumps(MESSAGE).encode()
    statuses = [_raw_send(sim, body).status_code for _ in range(3)]
    assert statuses == [202, 202, 429]
    throttled = _raw_send(sim, body)
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    with pytest.raises(HttpResponseError) as caught:
        client(sim).begin_send(MESSAGE)
    assert caught.value.status_code == 429
    assert sim.received("email")["count"] == 2


def test_email_fail_fault_ends_the_operation_failed(sim: SimHandle) -> None:
    failed = reference(
        "azure-email/Communication.Email__emails_operations__GetStatus-Failed__2023-03-31.json"
    )
    sim.set_faults("email:fail@1")
    poller = client(sim).begin_send(MESSAGE, polling_interval=0.01)
    with pytest.raises(HttpResponseError):
        poller.result(timeout=30)
    assert sim.received("email")["messages"][0]["status"] == "Failed"
    op_id = sim.received("email")["messages"][0]["id"]
    status = requests.get(
        f"{sim.acs_endpoint}/emails/operations/{op_id}?api-version=2023-03-31",
        headers={"Authorization": "Bearer t"},
        verify=sim.ca_cert,
        timeout=30,
    ).json()
    assert status == {**failed["responses"]["200"]["body"], "id": op_id}


@pytest.mark.parametrize("spec", ["email:429@1", "email:5xx@1", "email:reset@1"])
def test_email_injected_faults(sim: SimHandle, spec: str) -> None:
    sim.set_faults(spec)
    body = json.dumps(MESSAGE).encode()
    if spec.endswith("reset@1"):
        with pytest.raises(requests.ConnectionError):
            _raw_send(sim, body)
    else:
        resp = _raw_send(sim, body)
        assert resp.status_code == 429 or resp.status_code >= 500
        if resp.status_code == 429:
            assert resp.headers["Retry-After"] == "1"
    assert sim.received("email")["count"] == 0
    assert sim.received("email")["counters"]["faults"]


def test_email_follows_the_spec_recipients_rules_and_error_header(sim: SimHandle) -> None:
    """2023-03-31 ``EmailRecipients`` requires ``to``; ACS takes at most 50 recipients (To, Cc
    and Bcc together); an error answer carries ``x-ms-error-code`` equal to the body's code."""
    bcc_only = {**MESSAGE, "recipients": {"bcc": [{"address": "secops@contoso.example"}]}}
    resp = _raw_send(sim, json.dumps(bcc_only).encode())
    assert resp.status_code == 400 and "recipients.to" in resp.json()["error"]["message"]
    assert resp.headers["x-ms-error-code"] == resp.json()["error"]["code"]
    people = [{"address": f"p{n}@contoso.example"} for n in range(51)]
    too_many = {**MESSAGE, "recipients": {"to": people[:30], "cc": people[30:]}}
    resp = _raw_send(sim, json.dumps(too_many).encode())
    assert resp.status_code == 400 and "50" in resp.json()["error"]["message"]
    fifty = {**MESSAGE, "recipients": {"to": people[:30], "bcc": people[30:50]}}
    assert _raw_send(sim, json.dumps(fifty).encode()).status_code == 202
    assert sim.received("email")["count"] == 1
