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


def _sleeps() -> tuple[ArmWriter, list[float]]:
    slept: list[float] = []
    writer = ArmWriter(ARM, StaticTokenCredential(), max_retries=0, sleep=slept.append)
    return writer, slept


@responses.activate
def test_a_201_with_only_location_is_polled_until_it_stops_answering_202() -> None:
    """ARM RPC (async-api-reference, "Creating/Updating using PUT"): a PUT answered 201 with a
    non-terminal provisioningState carries a Location header and/or Azure-AsyncOperation."""
    target = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Contoso/widgets/w1"
    location = (
        f"{ARM}/subscriptions/s1/providers/Microsoft.Contoso/locations/eastus/operationResults/o1"
    )
    responses.put(
        f"{ARM}{target}",
        status=201,
        json={"id": target, "properties": {"provisioningState": "Creating"}},
        headers={"Location": location, "Retry-After": "17"},
    )
    responses.get(location, status=202, headers={"Location": location, "Retry-After": "17"})
    responses.get(location, status=200, json={"id": target})
    done = {"id": target, "properties": {"provisioningState": "Succeeded"}}
    responses.get(f"{ARM}{target}", json=done)
    writer, slept = _sleeps()
    result = writer.put(target, "2024-01-01", {"properties": {}})
    assert result.polls == 2 and result.body == done
    # Retry-After is honoured as asked between polls (it used to be cut to 10 s).
    assert slept == [17.0]


@responses.activate
def test_a_provisioning_answer_without_monitor_headers_is_re_read_until_terminal() -> None:
    """Learn, "Track asynchronous Azure operations": provisioningState values other than
    Succeeded, Failed and Canceled mean the operation is still running."""
    target = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Contoso/widgets/w2"
    responses.put(
        f"{ARM}{target}", status=200, json={"properties": {"provisioningState": "Updating"}}
    )
    responses.get(
        f"{ARM}{target}",
        json={"properties": {"provisioningState": "Updating"}},
        headers={"Retry-After": "2"},
    )
    responses.get(f"{ARM}{target}", json={"properties": {"provisioningState": "Succeeded", "x": 1}})
    writer, slept = _sleeps()
    result = writer.put(target, "2024-01-01", {"properties": {"x": 1}})
    assert result.polls == 2 and slept == [2.0]
    assert result.body == {"properties": {"provisioningState": "Succeeded", "x": 1}}

    responses.patch(
        f"{ARM}{target}", status=200, json={"properties": {"provisioningState": "Updating"}}
    )
    responses.replace(
        responses.GET, f"{ARM}{target}", json={"properties": {"provisioningState": "Failed"}}
    )
    with pytest.raises(ArmError, match="ProvisioningFailed"):
        writer.patch(target, "2024-01-01", {"properties": {"x": 2}})


@responses.activate
def test_an_unreadable_operation_status_is_transient_at_once() -> None:
    """ARM RPC: a 4xx/5xx from the Azure-AsyncOperation URL is a failure to read the status,
    not of the operation; the writer says so instead of polling a 404 until its deadline."""
    responses.put(f"{ARM}{RULE}", status=201, json={}, headers={"Azure-AsyncOperation": OP})
    responses.get(OP, status=404, json={"error": {"code": "NotFound", "message": "no"}})
    writer = ArmWriter(
        ARM, StaticTokenCredential(), max_retries=0, sleep=lambda _: None, lro_timeout_seconds=1
    )
    with pytest.raises(TransientArmError, match="outcome is unknown"):
        writer.put(RULE, "2024-05-01", {"properties": {}})
    assert writer.stats.polls == 1


@responses.activate
def test_poll_urls_naming_arm_with_its_default_port_or_another_casing_are_followed() -> None:
    """ARM hands out monitors as https://management.azure.com:443/...; the host is the same."""
    spelled = OP.replace("https://management.example", "https://Management.Example:443")
    responses.put(f"{ARM}{RULE}", status=201, json={}, headers={"Azure-AsyncOperation": spelled})
    responses.get(spelled, json={"status": "Succeeded"})
    responses.get(f"{ARM}{RULE}", json={"id": RULE})
    assert _writer().put(RULE, "2024-05-01", {"properties": {}}).polls == 1
