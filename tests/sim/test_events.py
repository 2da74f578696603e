"""Writes reach a webhook as Event Grid events shaped like the published ones, in both schemas."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.storage import StorageManagementClient

from sim.credentials import StaticTokenCredential, fake_jwt
from sim.fixture import SimHandle
from tests.sim.helpers import WebhookReceiver, arm, first, reference, same_shape

EG = "eventgrid/eventgrid-schema__Microsoft.Resources.{}__azure-docs-subscription-topic-array.json"
CE = "eventgrid/cloudevents-1.0__Microsoft.Resources.{}__rest-api-specs.json"
# Claims a user token may or may not carry (groups overage, device, on-premises sync).
OPTIONAL_USER_CLAIMS = frozenset(
    {
        "_claim_names",
        "_claim_sources",
        "http://schemas.microsoft.com/2012/01/devicecontext/claims/identifier",
        "e_exp",
        "onprem_sid",
    }
)
APP_ID = "6f1c6c2e-8a7b-4c39-9d1e-0c5b2f6a7e11"
SP_CLAIMS = {
    "aud": "https://management.azure.com/",
    "iss": "https://sts.windows.net/d1cc1aa1-9a7d-55fc-a951-3fe3e801c779/",
    "aio": "E2ZgYJh",
    "appid": APP_ID,
    "appidacr": "2",
    "idp": "https://sts.windows.net/d1cc1aa1-9a7d-55fc-a951-3fe3e801c779/",
    "oid": "2b1f7c4e-3f7a-4b8e-9e55-6f1d2a3b4c5d",
    "sub": "2b1f7c4e-3f7a-4b8e-9e55-6f1d2a3b4c5d",
    "tid": "d1cc1aa1-9a7d-55fc-a951-3fe3e801c779",
    "uti": "abc",
    "ver": "1.0",
}


def _expected(schema: str, kind: str, claims_from: str = "user") -> dict[str, Any]:
    """The published event for ``kind`` with the complete ``data`` every sim event carries:
    ``httpRequest`` (from the published delete event), the full ``evidence`` of the published
    action event, and user claims (write example) or service-principal claims (action example).
    """
    if schema == "eventgrid":
        event = copy.deepcopy(reference(EG.format(kind))[0])
        action = reference(EG.format("ResourceActionSuccess"))[0]
        delete = reference(EG.format("ResourceDeleteSuccess"))[0]
    else:
        event = copy.deepcopy(reference(CE.format(kind)))
        action = reference(CE.format("ResourceActionSuccess"))
        delete = reference(CE.format("ResourceDeleteSuccess"))
        if "specVersion" in event:  # the published delete example spells it specVersion
            event["specversion"] = event.pop("specVersion")
    event["data"]["httpRequest"] = delete["data"]["httpRequest"]
    event["data"]["authorization"]["evidence"] = action["data"]["authorization"]["evidence"]
    if claims_from == "app":
        event["data"]["claims"] = action["data"]["claims"]
    else:
        user = reference(EG.format("ResourceWriteSuccess"))[0]["data"]["claims"]
        event["data"]["claims"] = user
    assert isinstance(event, dict)
    return event


def _check(event: dict[str, Any], schema: str, kind: str, claims_from: str = "user") -> None:
    expected = _expected(schema, kind, claims_from)
    optional = OPTIONAL_USER_CLAIMS if claims_from == "user" else frozenset()
    assert same_shape(event, expected, optional=optional) == []
    assert all(isinstance(v, str) for v in event["data"]["claims"].values())
    assert event["data"]["status"] == "Succeeded"


def _rule_body(port: str) -> dict[str, Any]:
    return {
        "properties": {
            "protocol": "Tcp",
            "sourceAddressPrefix": "Internet",
            "sourcePortRange": "*",
            "destinationAddressPrefix": "*",
            "destinationPortRange": port,
            "access": "Allow",
            "priority": 320,
            "direction": "Inbound",
        }
    }


def _subject(e: dict[str, Any]) -> str:
    return str(e["subject"]).lower()


def test_user_change_and_sdk_write_reach_an_event_grid_webhook(
    sim: SimHandle, webhook: WebhookReceiver
) -> None:
    sim.add_event_subscription(webhook.url, "eventgrid")
    nsg = first(sim, "Microsoft.Network/networkSecurityGroups")
    rule_id = f"{nsg['id']}/securityRules/open-rdp-by-hand"
    result = sim.change_as_user("PUT", rule_id, _rule_body("3389"), user={"name": "Riley Admin"})
    assert result["status"] == 201

    events = webhook.wait_for(lambda es: len(es) >= 2)
    # The handshake came first, as an Event Grid schema array.
    handshake = webhook.requests[0]
    assert (
        handshake.method == "POST"
        and handshake.headers["aeg-event-type"] == "SubscriptionValidation"
    )
    published = reference(
        "eventgrid/eventgrid-schema__Microsoft.EventGrid.SubscriptionValidationEvent__azure-docs.json"
    )
    assert same_shape(handshake.body, published) == []
    # A create emits two write events, each its own POST of a one-event array.
    assert all(isinstance(r.body, list) and len(r.body) == 1 for r in webhook.notifications())
    assert all(r.headers["aeg-event-type"] == "Notification" for r in webhook.notifications())
    writes = [e for e in events if _subject(e) == rule_id.lower()]
    assert len(writes) == 2 and writes[0]["id"] != writes[1]["id"]
    assert writes[0]["data"]["correlationId"] == writes[1]["data"]["correlationId"]
    for e in writes:
        _check(e, "eventgrid", "ResourceWriteSuccess", "user")
        assert e["eventType"] == "Microsoft.Resources.ResourceWriteSuccess"
        assert e["topic"] == f"/subscriptions/{nsg['id'].split('/')[2]}"
        assert (
            e["data"]["operationName"]
            == "Microsoft.Network/networkSecurityGroups/securityRules/write"
        )
        assert e["data"]["resourceProvider"] == "Microsoft.Network"
        assert e["data"]["claims"]["name"] == "Riley Admin"
        assert e["data"]["claims"]["appid"]

    # The product's own write, through the SDK, with the caller's app id in the claims.
    credential = StaticTokenCredential(fake_jwt(SP_CLAIMS))
    net = NetworkManagementClient(credential, nsg["id"].split("/")[2], **sim.client_kwargs())
    net.network_security_groups.update_tags(
        nsg["id"].split("/")[4], nsg["name"], {"tags": {"fixed": "1"}}
    )
    events = webhook.wait_for(lambda es: any(_subject(e) == nsg["id"].lower() for e in es))
    patch = [e for e in events if _subject(e) == nsg["id"].lower()]
    assert len(patch) == 1  # an update is one event
    _check(patch[0], "eventgrid", "ResourceWriteSuccess", "app")
    assert patch[0]["data"]["claims"]["appid"] == APP_ID
    assert patch[0]["data"]["operationName"] == "Microsoft.Network/networkSecurityGroups/write"
    assert patch[0]["data"]["httpRequest"]["method"] == "PATCH"
    assert patch[0]["data"]["httpRequest"]["url"].startswith(sim.arm_url + "/subscriptions/")


def test_user_change_and_sdk_write_reach_a_cloudevents_webhook(
    sim: SimHandle, webhook: WebhookReceiver
) -> None:
    sim.add_event_subscription(webhook.url, "cloudevents")
    nsg = first(sim, "Microsoft.Network/networkSecurityGroups")
    rule_id = f"{nsg['id']}/securityRules/open-ssh-by-hand"
    sim.change_as_user("PUT", rule_id, _rule_body("22"))
    events = webhook.wait_for(lambda es: len(es) >= 2)
    handshake = webhook.requests[0]
    assert handshake.method == "OPTIONS"
    assert handshake.headers["WebHook-Request-Origin"] == "eventgrid.azure.net"
    for r in webhook.notifications():
        assert r.headers["Content-Type"].startswith("application/cloudevents+json")
        assert isinstance(r.body, dict)
    for e in events:
        _check(e, "cloudevents", "ResourceWriteSuccess", "user")
        assert e["type"] == "Microsoft.Resources.ResourceWriteSuccess"
        assert e["specversion"] == "1.0"
        assert e["source"] == f"/subscriptions/{nsg['id'].split('/')[2]}"

    credential = StaticTokenCredential(fake_jwt(SP_CLAIMS))
    net = NetworkManagementClient(credential, nsg["id"].split("/")[2], **sim.client_kwargs())
    net.security_rules.begin_delete(
        nsg["id"].split("/")[4], nsg["name"], "open-ssh-by-hand"
    ).result()
    events = webhook.wait_for(lambda es: any(e["type"].endswith("DeleteSuccess") for e in es))
    delete = [e for e in events if e["type"] == "Microsoft.Resources.ResourceDeleteSuccess"]
    assert len(delete) == 1 and _subject(delete[0]) == rule_id.lower()
    _check(delete[0], "cloudevents", "ResourceDeleteSuccess", "app")
    assert delete[0]["data"]["claims"]["appid"] == APP_ID
    assert (
        delete[0]["data"]["operationName"]
        == "Microsoft.Network/networkSecurityGroups/securityRules/delete"
    )


def test_actions_and_deletes_are_shaped_like_the_published_events(
    sim: SimHandle, webhook: WebhookReceiver
) -> None:
    sim.add_event_subscription(webhook.url)
    account = first(sim, "Microsoft.Storage/storageAccounts")
    sub, rg = account["id"].split("/")[2], account["id"].split("/")[4]
    st = StorageManagementClient(
        StaticTokenCredential(fake_jwt(SP_CLAIMS)), sub, **sim.client_kwargs()
    )
    st.storage_accounts.list_keys(rg, account["name"])
    st.storage_accounts.delete(rg, account["name"])
    events = webhook.wait_for(lambda es: len(es) >= 2)
    action = next(
        e for e in events if e["eventType"] == "Microsoft.Resources.ResourceActionSuccess"
    )
    _check(action, "eventgrid", "ResourceActionSuccess", "app")
    assert action["data"]["operationName"] == "Microsoft.Storage/storageAccounts/listKeys/action"
    assert action["data"]["httpRequest"]["method"] == "POST"
    delete = next(
        e for e in events if e["eventType"] == "Microsoft.Resources.ResourceDeleteSuccess"
    )
    _check(delete, "eventgrid", "ResourceDeleteSuccess", "app")
    assert delete["data"]["operationName"] == "Microsoft.Storage/storageAccounts/delete"
    assert _subject(delete) == account["id"].lower()


def test_events_append_to_an_ndjson_file(sim: SimHandle, tmp_path: Path) -> None:
    out = tmp_path / "events.ndjson"
    sim.add_event_subscription(str(out))
    nsg = first(sim, "Microsoft.Network/networkSecurityGroups")
    sim.change_as_user("PATCH", nsg["id"], {"tags": {"a": "b"}})
    sim.change_as_user("PATCH", nsg["id"], {"tags": {"a": "c"}})
    assert sim.wait_for_events()["idle"]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 2 and all(e["eventType"].endswith("WriteSuccess") for e in lines)


def test_failed_deliveries_are_retried_on_a_compressed_schedule(sim: SimHandle) -> None:
    hook = WebhookReceiver(fail_first=2).start()
    try:
        sim.add_event_subscription(hook.url)
        nsg = first(sim, "Microsoft.Network/networkSecurityGroups")
        sim.change_as_user("PATCH", nsg["id"], {"tags": {"retry": "1"}})
        events = hook.wait_for(lambda es: len(es) >= 3)
        assert len({e["id"] for e in events}) == 1  # the same event, redelivered
        counts = [int(r.headers["aeg-delivery-count"]) for r in hook.notifications()]
        assert counts == [0, 1, 2]
        stats = sim.wait_for_events()["subscriptions"][0]["stats"]
        assert stats["failed_attempts"] == 2 and stats["delivered"] == 1
    finally:
        hook.stop()


def test_bad_request_is_dead_lettered_not_retried(sim: SimHandle) -> None:
    hook = WebhookReceiver(fail_first=5, fail_status=400).start()
    try:
        sim.add_event_subscription(hook.url)
        nsg = first(sim, "Microsoft.Network/networkSecurityGroups")
        sim.change_as_user("PATCH", nsg["id"], {"tags": {"dead": "1"}})
        stats = sim.wait_for_events()["subscriptions"][0]["stats"]
        assert stats["dead_lettered"] == 1 and stats["attempts"] == 1
        assert len(hook.notifications()) == 1
    finally:
        hook.stop()


def test_a_failed_handshake_delivers_nothing(sim: SimHandle) -> None:
    hook = WebhookReceiver(answer_validation=False).start()
    try:
        sim.admin("POST", "events/subscriptions", {"destination": hook.url})
        nsg = first(sim, "Microsoft.Network/networkSecurityGroups")
        sim.change_as_user("PATCH", nsg["id"], {"tags": {"x": "1"}})
        time.sleep(0.3)
        assert hook.notifications() == []
    finally:
        sim.clear_event_subscriptions()
        hook.stop()


@pytest.mark.parametrize("spec", ["dup=1", "reorder=1,reorder_window=30ms"])
def test_duplication_and_reordering_faults(
    sim: SimHandle, webhook: WebhookReceiver, spec: str
) -> None:
    sim.set_faults(spec)
    sim.add_event_subscription(webhook.url)
    nsg = first(sim, "Microsoft.Network/networkSecurityGroups")
    for i in range(3):
        sim.change_as_user("PATCH", nsg["id"], {"tags": {"n": str(i)}})
    assert sim.wait_for_events()["idle"]
    events = webhook.events()
    ids = [e["id"] for e in events]
    if spec.startswith("dup"):
        assert len(ids) == 6 and len(set(ids)) == 3
    else:
        assert len(ids) == 3 and len(set(ids)) == 3
        assert sim.admin("GET", "events")["subscriptions"][0]["stats"]["held_back"] == 3


def test_delivery_never_blocks_the_arm_response(sim: SimHandle) -> None:
    slow = WebhookReceiver(delay=1.5).start()
    try:
        sim.add_event_subscription(slow.url)
        nsg = first(sim, "Microsoft.Network/networkSecurityGroups")
        started = time.monotonic()
        for i in range(2):
            assert arm(sim, "PATCH", nsg["id"], {"tags": {"slow": str(i)}}).status_code == 200
        assert time.monotonic() - started < 1.0
    finally:
        sim.clear_event_subscriptions()
        slow.stop()


def test_events_to_at_start_with_batching_in_cloudevents(webhook: WebhookReceiver) -> None:
    from sim.fixture import running_sim

    with running_sim(events_to=f"cloudevents:{webhook.url}", max_events_per_batch=10) as sim:
        nsg = first(sim, "Microsoft.Network/networkSecurityGroups")
        sim.change_as_user("PUT", f"{nsg['id']}/securityRules/batched", _rule_body("443"))
        assert sim.wait_for_events()["idle"]
    batch = webhook.notifications()
    assert len(batch) == 1  # the two events of the create, in one delivery
    assert batch[0].headers["Content-Type"].startswith("application/cloudevents-batch+json")
    assert isinstance(batch[0].body, list) and len(batch[0].body) == 2
    for e in batch[0].body:
        _check(e, "cloudevents", "ResourceWriteSuccess", "user")
