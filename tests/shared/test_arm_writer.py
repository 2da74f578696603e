"""ArmWriter unit tests over `responses`: conditional headers, 412, LRO polling in both styles,
failed operations and poll URLs that leave ARM. The end-to-end behaviour against the simulated
tenant is in test_remediation.py."""

from __future__ import annotations

import json

import pytest
import responses
from azure.core import MatchConditions

from shared.arm import ArmError, ArmWriter, PreconditionFailed, TransientArmError
from sim.credentials import StaticTokenCredential

pytestmark = pytest.mark.usefixtures("via_requests")  # `responses` stands in for the service

ARM = "https://management.example"
RULE = (
    "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/"
    "networkSecurityGroups/n1/securityRules/r1"
)
OP = f"{ARM}/subscriptions/s1/providers/Microsoft.Network/locations/eastus/operations/op1"


def _writer() -> ArmWriter:
    return ArmWriter(ARM, StaticTokenCredential(), max_retries=0, sleep=lambda _: None)


@responses.activate
def test_put_sends_conditions_and_follows_azure_async_operation() -> None:
    responses.put(
        f"{ARM}{RULE}",
        json={"id": RULE, "etag": 'W/"new"', "properties": {"provisioningState": "Updating"}},
        status=200,
        headers={"Azure-AsyncOperation": OP, "Retry-After": "1", "ETag": 'W/"new"'},
    )
    responses.get(OP, json={"status": "InProgress"}, headers={"Retry-After": "1"})
    responses.get(OP, json={"status": "Succeeded"})
    responses.get(f"{ARM}{RULE}", json={"id": RULE, "etag": 'W/"new"', "properties": {}})
    writer = _writer()
    result = writer.put(
        RULE,
        "2024-05-01",
        {"properties": {"access": "Deny"}},
        etag='W/"old"',
        match_condition=MatchConditions.IfNotModified,
        correlation_id="c-1",
    )
    sent = responses.calls[0].request
    assert sent.headers["If-Match"] == 'W/"old"'
    assert sent.headers["x-ms-correlation-request-id"] == "c-1"
    assert json.loads(sent.body or b"{}") == {"properties": {"access": "Deny"}}
    assert result.etag == 'W/"new"' and result.polls == 2
    assert result.body is not None and result.body["id"] == RULE
    assert writer.stats.by_method == {"PUT": 1}


@responses.activate
def test_location_polling_and_if_none_match() -> None:
    target = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a"
    location = f"{ARM}/subscriptions/s1/providers/Microsoft.Storage/operations/x"
    responses.put(f"{ARM}{target}", status=202, headers={"Location": location})
    responses.get(location, status=202, headers={"Location": location, "Retry-After": "0"})
    responses.get(location, status=200, json={"id": target})
    responses.get(f"{ARM}{target}", json={"id": target, "properties": {}})
    result = _writer().put(
        target, "2025-01-01", {"location": "x"}, match_condition=MatchConditions.IfMissing
    )
    assert responses.calls[0].request.headers["If-None-Match"] == "*"
    assert result.polls == 2 and result.body == {"id": target, "properties": {}}


@responses.activate
def test_412_raises_precondition_failed() -> None:
    responses.put(
        f"{ARM}{RULE}",
        status=412,
        json={"error": {"code": "PreconditionFailed", "message": "etag mismatch"}},
    )
    with pytest.raises(PreconditionFailed) as info:
        _writer().put(
            RULE,
            "2024-05-01",
            {"properties": {}},
            etag='W/"old"',
            match_condition=MatchConditions.IfNotModified,
        )
    assert info.value.status == 412


@responses.activate
def test_a_failed_operation_raises_with_its_error() -> None:
    responses.put(f"{ARM}{RULE}", status=201, json={}, headers={"Azure-AsyncOperation": OP})
    responses.get(
        OP, json={"status": "Failed", "error": {"code": "SecurityRuleInvalid", "message": "bad"}}
    )
    with pytest.raises(ArmError, match="SecurityRuleInvalid"):
        _writer().put(RULE, "2024-05-01", {"properties": {}})


@responses.activate
def test_poll_urls_must_stay_on_arm() -> None:
    responses.delete(
        f"{ARM}{RULE}", status=202, headers={"Azure-AsyncOperation": "https://evil.example/op"}
    )
    with pytest.raises(ArmError, match="InvalidPollingUrl"):
        _writer().delete(RULE, "2024-05-01")
    assert len(responses.calls) == 1  # the token never went to the other host


@responses.activate
def test_throttling_and_conflicts_are_transient_and_read_returns_the_etag_header() -> None:
    responses.patch(f"{ARM}{RULE}", status=429, headers={"Retry-After": "3"})
    with pytest.raises(TransientArmError):
        _writer().patch(RULE, "2024-05-01", {"properties": {}})
    responses.put(
        f"{ARM}{RULE}",
        status=409,
        json={"error": {"code": "AnotherOperationInProgress", "message": "busy"}},
    )
    with pytest.raises(TransientArmError, match="AnotherOperationInProgress"):
        _writer().put(RULE, "2024-05-01", {"properties": {}})
    responses.get(f"{ARM}{RULE}", json={"id": RULE}, headers={"ETag": '"0x8D"'})
    assert _writer().read(RULE, "2024-05-01") == ({"id": RULE}, '"0x8D"')
