"""End to end: the simulated tenant's events through the real Function entry points, Azurite
and the real azure-core / azure-data-tables clients."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

import function_app
from shared.config import Settings
from shared.context import AppContext, reset_app_context
from shared.kernel.changes import Cause
from shared.kernel.resource_id import normalize, parse
from sim.azurite import AzuriteEndpoints
from sim.estate import demo_estate, open_rdp_rule
from sim.fixture import running_sim
from tests.conftest import APP_FUNCTIONS, indexed_functions
from tests.e2e.world import World
from tests.e2e.world import find as _find

pytestmark = pytest.mark.slow

WEBHOOK = function_app.events_webhook.build().get_user_function()
EVENT_TRIGGER = function_app.on_resource_change.build().get_user_function()
FINDINGS = function_app.findings.build().get_user_function()


RECORDS = "stchsphirecords"


def _set_tls(world: World, version: str) -> tuple[str, list[dict[str, Any]]]:
    rid = str(_find("microsoft.storage/storageaccounts", RECORDS)["id"])
    world.drain_events()
    world.sim.change_as_user(
        "PATCH", rid, {"properties": {"minimumTlsVersion": version}}, api_version="2025-01-01"
    )
    return rid, world.drain_events()


def test_user_change_is_detected_then_fixed_with_history(world: World) -> None:
    rid, broke = _set_tls(world, "TLS1_0")
    assert broke, "the sim emitted no events"
    response = world.post(broke)
    assert response.status_code == 200, response.get_body()
    assert world.status(rid, "storage_account_min_tls_1_2") == "FAIL"
    _, fixed = _set_tls(world, "TLS1_2")
    assert world.post(fixed).status_code == 200
    assert world.status(rid, "storage_account_min_tls_1_2") == "PASS"
    history = [
        t for t in world.ctx.store.history(rid) if t.check_id == "storage_account_min_tls_1_2"
    ]
    assert [(t.from_status, t.to_status) for t in history][-1] == ("FAIL", "PASS")
    request = func.HttpRequest(
        "GET", "https://x/api/findings", body=b"", params={"resource": rid, "status": "pass"}
    )
    body = json.loads(FINDINGS(request).get_body())
    assert any(f["check_id"] == "storage_account_min_tls_1_2" for f in body["findings"])


def test_duplicated_and_shuffled_events_converge_without_duplicate_history(world: World) -> None:
    rid, broke = _set_tls(world, "TLS1_0")
    _, fixed = _set_tls(world, "TLS1_2")
    # Event Grid's worst: every event three times, shuffled, in small batches.
    noisy = (broke * 3) + (fixed * 3)
    random.Random(7).shuffle(noisy)
    for start in range(0, len(noisy), 4):
        assert world.post(noisy[start : start + 4]).status_code == 200
    world.post(fixed)
    assert world.status(rid, "storage_account_min_tls_1_2") == "PASS"
    history = world.ctx.store.history(rid)
    keys = [(t.check_id, t.from_status, t.to_status, t.at) for t in history]
    assert len(keys) == len(set(keys))


def test_event_grid_trigger_and_delete_closes_findings(world: World) -> None:
    vault = _find("microsoft.keyvault/vaults", "kv-chs-phi-app")
    world.ctx.pipeline.evaluate_resource(vault["id"], Cause(kind="cli"))
    assert world.status(vault["id"], "keyvault_vault_purge_protection_enabled") == "FAIL"
    world.drain_events()
    world.sim.change_as_user("DELETE", vault["id"], api_version="2024-11-01")
    events = world.drain_events()
    deletes = [e for e in events if e["eventType"].endswith("ResourceDeleteSuccess")]
    assert deletes
    for event in deletes:
        EVENT_TRIGGER(
            func.EventGridEvent(
                id=event["id"],
                data=event["data"],
                topic=event["topic"],
                subject=event["subject"],
                event_type=event["eventType"],
                data_version=event["dataVersion"],
                event_time=datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00")),
            )
        )
    rows = world.ctx.store.current(resource_id=vault["id"], include_inactive=True)
    assert rows and all(r.status == "RESOURCE_DELETED" for r in rows)


def test_poison_event_is_recorded_and_the_batch_goes_on(world: World) -> None:
    rid, broke = _set_tls(world, "TLS1_0")
    poison = {
        "id": "bad-1",
        "eventType": "Microsoft.Resources.ResourceWriteSuccess",
        "subject": "/subscriptions/x",
        "eventTime": "2026-01-01T00:00:00Z",
        "dataVersion": "",
        "data": "not an object",
        "topic": "/subscriptions/x",
    }
    response = world.post([poison, *broke])
    assert response.status_code == 200
    assert world.status(rid, "storage_account_min_tls_1_2") == "FAIL"
    assert any(
        "bad-1" in (p.raw if isinstance(p.raw, str) else "") or p.error
        for p in world.ctx.store.poison()
    )


def test_arm_outage_answers_503_and_redelivery_completes(world: World) -> None:
    rid, broke = _set_tls(world, "TLS1_0")
    world.sim.set_faults("error5xx=1.0")
    response = world.post(broke)
    assert response.status_code == 503  # Event Grid retries with backoff
    assert world.status(rid, "storage_account_min_tls_1_2") is None
    world.sim.set_faults("")
    assert world.post(broke).status_code == 200  # the redelivery
    assert world.status(rid, "storage_account_min_tls_1_2") == "FAIL"


def test_webhook_handshakes(world: World) -> None:
    validation = [
        {
            "id": "v1",
            "topic": "/subscriptions/x",
            "subject": "",
            "data": {
                "validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6",
                "validationUrl": "https://rp-eastus2.eventgrid.azure.net:553/x",
            },
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": "2018-01-25T22:12:19.4556811Z",
            "metadataVersion": "1",
            "dataVersion": "1",
        }
    ]
    request = func.HttpRequest(
        "POST",
        "https://x/api/events",
        body=json.dumps(validation).encode(),
        headers={"aeg-event-type": "SubscriptionValidation"},
    )
    response = WEBHOOK(request)
    assert json.loads(response.get_body()) == {
        "validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"
    }
    options = func.HttpRequest(
        "OPTIONS",
        "https://x/api/events",
        body=b"",
        headers={"WebHook-Request-Origin": "eventgrid.azure.net"},
    )
    response = WEBHOOK(options)
    assert response.status_code == 200
    assert response.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"


def test_triggers_are_registered_and_every_http_one_requires_a_function_key() -> None:
    functions = indexed_functions()
    assert {f.get_function_name() for f in functions} == APP_FUNCTIONS
    for function in functions:
        for binding in function.get_bindings():
            if binding.type == "httpTrigger":
                level = str(binding.get_dict_repr().get("authLevel", "")).lower()
                assert level.endswith("function"), function.get_function_name()
            if binding.type in ("queueTrigger", "queue"):
                # The queues infra/ creates (Event Grid delivers to the first; the daily timer
                # fills the second), on the host's storage.
                spec = binding.get_dict_repr()
                assert spec["queueName"] in ("resource-events", "subscription-sweeps")
                assert spec["connection"] == "AzureWebJobsStorage"


def test_reconcile_sweep_finds_the_demo_violations(world: World) -> None:
    from shared import api

    api.reconcile_all()
    nsg = _find("microsoft.network/networksecuritygroups", "nsg-chs-phi-app")
    assert world.status(nsg["id"], "network_nsg_management_ports_internet_closed") == "FAIL"
    assert normalize(nsg["id"])


def test_reconcile_sweep_records_every_supported_resource_of_the_estate(world: World) -> None:
    """Including children of a parent no check covers (FHIR services in a Health Data Services
    workspace): a regression, they were never listed."""
    from shared import api

    store = world.ctx.store
    loads: list[str] = []
    real_load = store._load

    def counted(pk: str) -> Any:
        loads.append(pk)
        return real_load(pk)

    store._load = counted  # type: ignore[method-assign]
    try:
        api.reconcile_all()
    finally:
        del store._load
    supported = world.ctx.engine.supported_types()
    swept = set(world.ctx.settings.subscriptions)
    expected = [
        d["id"]
        for d in demo_estate().documents
        if parse(d["id"]).type in supported
        and (parse(d["id"]).subscription or "") in swept
        and d.get("name") != "master"
    ]
    assert any(parse(r).type.endswith("/fhirservices") for r in expected)
    unrecorded = [r for r in expected if world.ctx.store.marker(r) is None]
    assert unrecorded == []
    # Each resource group's rows come in one query, not one per resource: only resources
    # outside a group (the subscription) read their own.
    assert len(loads) < len(expected) / 4, loads


def test_resource_group_tag_change_moves_its_resources_into_phi_scope(world: World) -> None:
    nsg = _find("microsoft.network/networksecuritygroups", "nsg-chs-shop-dev")
    group_id = nsg["id"].split("/providers/")[0]
    world.ctx.pipeline.evaluate_resource(nsg["id"], Cause(kind="cli"))
    assert world.status(nsg["id"], "network_nsg_phi_internet_inbound_denied") is None
    world.drain_events()
    world.sim.change_as_user(
        "PATCH", group_id, {"tags": {"data-classification": "PHI"}}, api_version="2021-04-01"
    )
    events = world.drain_events()
    assert events
    assert world.post(events).status_code == 200
    assert world.status(nsg["id"], "network_nsg_phi_internet_inbound_denied") == "FAIL"


def test_a_group_tag_change_reaches_child_resources_too(world: World) -> None:
    """Regression: the group's re-evaluation listed only ``/resources``, which holds no proxy
    child (a CDN custom domain) — they kept their old PHI scope until the next sweep."""
    domains = [
        d["id"]
        for d in demo_estate().documents
        if parse(d["id"]).type == "microsoft.cdn/profiles/customdomains"
        and "/resourcegroups/rg-chs-shop-prod/" in d["id"].lower()
    ]
    assert domains
    group_id = domains[0].split("/providers/")[0]
    for rid in domains:
        world.ctx.pipeline.evaluate_resource(rid, Cause(kind="cli"))
        marker = world.ctx.store.marker(rid)
        assert marker is not None and not marker.phi
    world.drain_events()
    world.sim.change_as_user(
        "PATCH", group_id, {"tags": {"data-classification": "PHI"}}, api_version="2021-04-01"
    )
    events = world.drain_events()
    assert world.post(events).status_code == 200
    for rid in domains:
        marker = world.ctx.store.marker(rid)
        assert marker is not None and marker.phi, rid


def test_event_path_fixes_an_open_rdp_rule_and_logs_unsafe_fixes(
    azurite: AzuriteEndpoints, tmp_path: Path
) -> None:
    """With the NSG fix allow-listed in enforce mode, a user's RDP rule is closed within the
    delivery; failures without a safe fix are logged ACTION_REQUIRED instead."""
    events_file = tmp_path / "events.ndjson"
    with running_sim(estate="demo", events_to=str(events_file)) as sim:
        ctx = AppContext(
            Settings(
                storage_connection_string=azurite.connection_string,
                table_prefix="fix" + uuid.uuid4().hex[:10],
                **sim.settings_kwargs(),
                remediation_modes=(("network_nsg_restrict_internet_inbound", "enforce"),),
                remediation_allow=("network_nsg_restrict_internet_inbound",),
            )
        )
        reset_app_context(ctx)
        world = World(sim, ctx, events_file)
        try:
            nsg = _find("microsoft.network/networksecuritygroups", "nsg-chs-phi-data")
            world.drain_events()
            sim.change_as_user(
                "PUT",
                f"{nsg['id']}/securityRules/OpenRdp",
                open_rdp_rule(150),
                api_version="2024-05-01",
            )
            assert world.post(world.drain_events()).status_code == 200
            records = ctx.remediator.records(days=1, resource_id=nsg["id"])
            assert [r.status for r in records] == ["VERIFIED"]
            rule = sim.admin("GET", "document", id=f"{nsg['id']}/securityRules/OpenRdp")
            assert rule["properties"]["access"] == "Deny"
            assert world.status(nsg["id"], "network_nsg_management_ports_internet_closed") == "PASS"
            # The fix's own events come back: evaluated, never fixed again.
            sim.reset_counters()
            assert world.post(world.drain_events()).status_code == 200
            assert sim.counters()["by_method"].get("PUT", 0) == 0
            assert len(ctx.remediator.records(days=1, resource_id=nsg["id"])) == 1

            vault = _find("microsoft.keyvault/vaults", "kv-chs-cmk-prod")
            world.drain_events()
            sim.change_as_user(
                "PATCH",
                vault["id"],
                {"properties": {"enablePurgeProtection": None}},
                api_version="2024-11-01",
            )
            world.post(world.drain_events())
            manual = ctx.remediator.records(days=1, resource_id=vault["id"])
            assert any(
                r.status == "ACTION_REQUIRED"
                and r.check_ids == ("keyvault_vault_purge_protection_enabled",)
                for r in manual
            )
        finally:
            reset_app_context(None)


PURGE = "keyvault_vault_purge_protection_enabled"


def _disable_purge_protection(world: World) -> tuple[str, list[dict[str, Any]]]:
    vault = str(_find("microsoft.keyvault/vaults", "kv-chs-cmk-prod")["id"])
    world.drain_events()
    world.sim.change_as_user(
        "PATCH", vault, {"properties": {"enablePurgeProtection": None}}, api_version="2024-11-01"
    )
    return vault, world.drain_events()


def _action_required(world: World, rid: str, check_id: str) -> int:
    return sum(
        1
        for r in world.ctx.remediator.records(days=1, resource_id=rid)
        if r.status == "ACTION_REQUIRED" and r.check_ids == (check_id,)
    )


def test_a_follow_up_that_fails_stays_pending_until_a_redelivery_after_the_lease(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the FAIL was recorded, the ACTION_REQUIRED write failed, and Event Grid's
    redelivery was coalesced, so nobody was ever told."""
    from azure.core.exceptions import ServiceRequestError

    from shared.remediation_log import TableRemediationLog

    vault, events = _disable_purge_protection(world)
    real_insert, real_insert_many = TableRemediationLog.insert, TableRemediationLog.insert_many

    def unreachable(self: TableRemediationLog, record: Any) -> Any:
        raise ServiceRequestError("storage unreachable")

    # One or several ACTION_REQUIRED rows (the vault may fail more than one manual check).
    monkeypatch.setattr(TableRemediationLog, "insert", unreachable)
    monkeypatch.setattr(TableRemediationLog, "insert_many", unreachable)
    assert world.post(events).status_code == 503
    assert world.status(vault, PURGE) == "FAIL"
    marker = world.ctx.store.marker(vault)
    assert marker is not None and PURGE in marker.actions_pending

    monkeypatch.setattr(TableRemediationLog, "insert", real_insert)
    monkeypatch.setattr(TableRemediationLog, "insert_many", real_insert_many)
    # Back within the lease (Event Grid's first retries come after 10 and 30 s): not coalesced
    # away, asked to come back later.
    assert world.post(events).status_code == 503
    assert _action_required(world, vault, PURGE) == 0

    later = datetime.now(UTC) + timedelta(seconds=61)
    world.ctx.pipeline.clock = lambda: later
    assert world.post(events).status_code == 200
    assert _action_required(world, vault, PURGE) == 1
    marker = world.ctx.store.marker(vault)
    assert marker is not None and marker.actions_pending == ()
    # Done means done: a further redelivery is coalesced, nothing logged twice.
    assert world.post(events).status_code == 200
    assert _action_required(world, vault, PURGE) == 1


def test_the_sweep_takes_over_follow_ups_a_crashed_worker_left(world: World) -> None:
    from shared.events import parse_delivery

    vault, events = _disable_purge_protection(world)
    pipeline = world.ctx.pipeline
    real_actions = pipeline.after_record

    class WorkerKilled(BaseException):
        """Not an Exception: a worker dying is not one resource's error to isolate."""

    def killed(*args: Any) -> None:
        raise WorkerKilled("worker killed between the record and its follow-up")

    pipeline.after_record = killed
    body = json.dumps(events).encode()
    headers = {"aeg-event-type": "Notification", "content-type": "application/json"}
    delivery = parse_delivery(body, headers, supported_types=world.ctx.engine.supported_types())
    with pytest.raises(WorkerKilled, match="worker killed"):
        pipeline.handle(delivery)
    assert world.status(vault, PURGE) == "FAIL"
    assert _action_required(world, vault, PURGE) == 0

    pipeline.after_record = real_actions
    later = datetime.now(UTC) + timedelta(seconds=61)
    pipeline.clock = lambda: later
    subscription = parse(vault).subscription
    assert subscription is not None
    pipeline.sweep(subscription)
    assert _action_required(world, vault, PURGE) == 1
    marker = world.ctx.store.marker(vault)
    assert marker is not None and PURGE not in marker.actions_pending


def test_an_event_older_than_a_narrower_scan_is_still_processed(world: World) -> None:
    """A scan of fewer checks than the app runs does not vouch for the resource: an event for a
    change only an unselected check judges, delivered after that scan read, is still processed
    (it was coalesced away, the change waiting a day for the sweep)."""
    from shared.selection import Selection

    rid = str(_find("microsoft.storage/storageaccounts", RECORDS)["id"])
    world.ctx.pipeline.evaluate_resource(rid, Cause(kind="cli"))
    assert world.status(rid, "storage_account_min_tls_1_2") == "PASS"
    rid, broke = _set_tls(world, "TLS1_0")
    assert broke

    narrower = AppContext(
        world.ctx.settings, selection=Selection(checks=("storage_account_geo_redundant",))
    )
    assert narrower.engine.partial
    narrower.pipeline.evaluate_resource(rid, Cause(kind="cli"))  # reads after the change
    assert world.status(rid, "storage_account_min_tls_1_2") == "PASS"  # not its to judge

    assert world.post(broke).status_code == 200
    assert world.status(rid, "storage_account_min_tls_1_2") == "FAIL"


def test_a_scan_of_the_apps_checks_or_more_vouches_for_the_read(world: World) -> None:
    from shared.selection import Selection

    settings = world.ctx.settings
    assert not AppContext(settings).engine.partial
    assert not AppContext(settings, selection=Selection()).engine.partial
    narrowed_app = settings.with_overrides(checks=("storage",))
    assert not AppContext(narrowed_app, selection=Selection(services=("storage",))).engine.partial
    assert not AppContext(narrowed_app, selection=Selection()).engine.partial
    assert AppContext(
        narrowed_app, selection=Selection(checks=("storage_account_min_tls_1_2",))
    ).engine.partial

    rid = str(_find("microsoft.storage/storageaccounts", RECORDS)["id"])
    world.ctx.pipeline.evaluate_resource(rid, Cause(kind="cli"))
    rid, broke = _set_tls(world, "TLS1_0")
    AppContext(settings, selection=Selection()).pipeline.evaluate_resource(rid, Cause(kind="cli"))
    assert world.status(rid, "storage_account_min_tls_1_2") == "FAIL"
    assert world.post(broke).status_code == 200  # coalesced: the full read already saw it
    history = [
        t for t in world.ctx.store.history(rid) if t.check_id == "storage_account_min_tls_1_2"
    ]
    assert [t.to_status for t in history].count("FAIL") == 1


class _Out:
    def __init__(self) -> None:
        self.value: Any = None

    def set(self, value: Any) -> None:
        self.value = value

    def get(self) -> Any:
        return self.value


def test_the_daily_timer_queues_one_sweep_per_subscription_and_each_is_swept(
    world: World,
) -> None:
    functions = {f.get_function_name(): f.get_user_function() for f in indexed_functions()}
    timer = TimerRequest(past_due=False)
    sweeps = _Out()
    functions["reconcile"](timer, sweeps)
    messages = sweeps.get()
    assert isinstance(messages, list) and all(isinstance(m, str) for m in messages)
    assert [json.loads(m)["subscription"] for m in messages] == list(
        world.ctx.settings.subscriptions
    )
    assert world.ctx.store.current() == []  # nothing swept by the timer itself
    for message in messages:
        functions["sweep_subscription"](func.QueueMessage(body=message.encode()))
    nsg = _find("microsoft.network/networksecuritygroups", "nsg-chs-phi-app")
    assert world.status(nsg["id"], "network_nsg_management_ports_internet_closed") == "FAIL"
    # A message for a subscription the app does not watch sweeps nothing.
    planned = json.loads(messages[0])["planned_at"]
    other = json.dumps({"subscription": str(uuid.uuid4()), "planned_at": planned})
    before = len(world.ctx.store.current(include_inactive=True))
    functions["sweep_subscription"](func.QueueMessage(body=other.encode()))
    assert len(world.ctx.store.current(include_inactive=True)) == before
