"""Trust under hostile input, end to end: what a tag writer, an event poster or a name can and
cannot make phiguard do (README "Trust model"). Each test is a regression of a finding made by
trying it as an attacker would, through the webhook, the Event Grid trigger and the sweep,
against the simulated tenant and Azurite."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.kernel.resource_id import parse
from sim.azurite import AzuriteEndpoints
from sim.estate import open_rdp_rule
from tests.e2e.world import World, find, running_world

pytestmark = pytest.mark.slow

NSG_FIX = "network_nsg_restrict_internet_inbound"
MGMT = "network_nsg_management_ports_internet_closed"
PHI_NSG = find("microsoft.network/networksecuritygroups", "nsg-chs-phi-data")
DEV_NSG = find("microsoft.network/networksecuritygroups", "nsg-chs-shop-dev")
DEV_ACCOUNT = find("microsoft.storage/storageaccounts", "stchsdevassets")
PROD_SUB = str(parse(str(PHI_NSG["id"])).subscription)
DEV_SUB = str(parse(str(DEV_NSG["id"])).subscription)


@pytest.fixture()
def enforcing(azurite: AzuriteEndpoints, tmp_path: Path) -> Iterator[World]:
    """The NSG fix in enforce mode and allow-listed: phiguard writes to the tenant."""
    with running_world(
        azurite,
        tmp_path,
        remediation_modes=((NSG_FIX, "enforce"),),
        remediation_allow=(NSG_FIX,),
    ) as built:
        yield built


def _open_rdp(world: World, nsg: dict[str, Any], name: str = "OpenRdp") -> list[dict[str, Any]]:
    world.drain_events()
    world.sim.change_as_user(
        "PUT", f"{nsg['id']}/securityRules/{name}", open_rdp_rule(150), api_version="2024-05-01"
    )
    return world.drain_events()


def _tag(world: World, rid: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    world.drain_events()
    world.sim.change_as_user("PATCH", rid, {"tags": tags}, api_version="2024-05-01")
    return world.drain_events()


def _writes(world: World) -> int:
    by_method = world.sim.counters()["by_method"]
    return sum(n for m, n in by_method.items() if m in ("PUT", "PATCH", "DELETE", "POST"))


def test_an_exemption_tag_dated_9999_12_31_stops_nothing(world: World) -> None:
    """Regression: OverflowError from the day after 9999-12-31 failed the whole batch and
    aborted the sweep (dry-run, the deployed default)."""
    nsg = str(PHI_NSG["id"])
    hostile = f"{NSG_FIX};until=9999-12-31;approver=mallory@example.com;reason=x"
    world.post(_tag(world, nsg, {"phiguard-exempt": hostile}))
    response = world.post(_open_rdp(world, PHI_NSG))
    assert response.status_code == 200, response.get_body()
    assert world.status(nsg, MGMT) == "FAIL"
    (record,) = world.ctx.remediator.records(days=1, resource_id=nsg)
    assert record.status != "EXEMPT"
    assert "phiguard-exempt tag is not honoured" in record.reason
    assert "9999-12-31" in record.reason

    for subscription in (PROD_SUB, DEV_SUB):
        result = world.ctx.pipeline.sweep(subscription)
        assert result.errors == [] and result.transient == []
        assert {o.action for o in result.outcomes} <= {"recorded", "unchanged", "stale"}


@pytest.mark.parametrize(
    ("until", "why"),
    [
        ("2026-02-30", "not a date"),
        ("+2026-01-01", "not YYYY-MM-DD"),
        ("20270101", "not YYYY-MM-DD"),
        ("2099-01-01", "PHIGUARD_EXEMPTION_MAX_DAYS"),
    ],
)
def test_a_malformed_or_too_long_exemption_is_not_honoured_and_says_why(
    world: World, until: str, why: str
) -> None:
    nsg = str(PHI_NSG["id"])
    tag = f"{NSG_FIX};until={until};approver=ciso@example.com;reason=vendor access"
    world.post(_tag(world, nsg, {"phiguard-exempt": tag}))
    assert world.post(_open_rdp(world, PHI_NSG)).status_code == 200
    (record,) = world.ctx.remediator.records(days=1, resource_id=nsg)
    assert record.status == "PLANNED"  # dry-run default: planned, not exempt
    assert why in record.reason
    # The finding is recorded whatever the exemption: an exemption only stops the follow-up.
    assert world.status(nsg, MGMT) == "FAIL"


def test_a_dot_segment_subject_cannot_steer_a_read_or_a_fix(enforcing: World) -> None:
    """Regression: the event named a PHI resource group, the HTTP client resolved `/../` and
    read (and in enforce mode changed) a non-PHI NSG in another subscription, recorded with
    false PHI failures."""
    world = enforcing
    events = _open_rdp(world, DEV_NSG)
    assert events
    phi_group = "/".join(str(PHI_NSG["id"]).split("/")[:5])
    for event in events:
        dev_path = str(event["subject"])
        steered = (
            f"{phi_group}/providers/Microsoft.Network/networkSecurityGroups/x/../../../../../.."
        )
        event["subject"] = steered + dev_path
        event["data"]["resourceUri"] = steered + dev_path
    world.sim.reset_counters()
    response = world.post(events)
    body = json.loads(response.get_body())
    assert body.get("resources", {}) == {} or set(body["resources"]) <= {"poison"}
    assert world.sim.counters()["total"] == 0  # not a single ARM call, read or write
    assert world.ctx.store.current(resource_id=str(DEV_NSG["id"])) == []
    poison = world.ctx.store.poison()
    assert poison and all("dot segment" in p.error for p in poison)


def test_events_of_other_subscriptions_are_counted_and_ignored(
    azurite: AzuriteEndpoints, tmp_path: Path
) -> None:
    with running_world(azurite, tmp_path, subscriptions=(PROD_SUB,)) as world:
        events = _open_rdp(world, DEV_NSG)
        world.sim.reset_counters()
        response = world.post(events)
        assert response.status_code == 200
        body = json.loads(response.get_body())
        assert body["ignored"] == {"outside_subscriptions": len(events)}
        assert world.sim.counters()["total"] == 0
        assert world.ctx.store.current(resource_id=str(DEV_NSG["id"])) == []


def test_an_event_whose_id_and_topic_disagree_is_poison(world: World) -> None:
    events = _open_rdp(world, DEV_NSG)
    for event in events:
        event["topic"] = f"/subscriptions/{PROD_SUB}"
    world.sim.reset_counters()
    response = world.post(events)
    assert response.status_code == 400  # nothing processable: Event Grid dead-letters it
    assert world.sim.counters()["total"] == 0
    assert all("names subscription" in p.error for p in world.ctx.store.poison())


def test_a_batch_over_the_event_grid_maximum_is_refused_whole(world: World) -> None:
    """Regression: 200 for 10,000 events while 5,000 of them went into one poison record."""
    (event,) = _open_rdp(world, PHI_NSG)[:1]
    batch = [dict(event, id=str(uuid.uuid4())) for _ in range(10_000)]
    world.sim.reset_counters()
    response = world.post(batch)
    assert response.status_code == 413
    assert json.loads(response.get_body())["processed"] == 0
    assert world.sim.counters()["total"] == 0
    assert world.ctx.store.poison() == []


def test_a_validation_event_is_answered_and_the_rest_of_its_batch_processed(
    world: World,
) -> None:
    """Regression: the events beside a validation event were dropped."""
    events = _open_rdp(world, PHI_NSG)
    validation = {
        "id": str(uuid.uuid4()),
        "topic": f"/subscriptions/{PROD_SUB}",
        "subject": "",
        "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "eventTime": "2026-12-06T00:00:00Z",
        "metadataVersion": "1",
        "dataVersion": "1",
    }
    response = world.post([validation, *events])
    assert response.status_code == 200
    body = json.loads(response.get_body())
    assert body["validationResponse"] == "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"
    assert world.status(str(PHI_NSG["id"]), MGMT) == "FAIL"


def test_poison_records_keep_no_caller_identity(world: World) -> None:
    events = _open_rdp(world, PHI_NSG)
    event = events[0]
    event["data"]["claims"] = {
        "name": "Dr. Jane Example",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "jane@contoso.example",
        "ipaddr": "203.0.113.7",
    }
    event["data"]["httpRequest"] = {"clientIpAddress": "203.0.113.7", "method": "PUT"}
    event["eventTime"] = "not a time"
    response = world.post([event])
    assert response.status_code == 400
    (poison,) = world.ctx.store.poison()
    assert event["id"] in poison.raw and "eventTime" in poison.error
    for secret in ("Jane", "jane@contoso.example", "203.0.113.7"):
        assert secret not in poison.raw
    assert "data.claims" in poison.raw  # says what was dropped


def test_one_resource_raising_is_recorded_as_its_error_and_the_batch_goes_on(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.state.model import PROCESSING_CHECK

    phi_events = _open_rdp(world, PHI_NSG)
    dev_events = _open_rdp(world, DEV_NSG, "OpenRdpDev")
    real = world.ctx.engine.evaluate

    def evaluate(snapshot: Any) -> Any:
        if snapshot.id.lower() == str(PHI_NSG["id"]).lower():
            raise RecursionError("resource data that must not reach the finding")
        return real(snapshot)

    monkeypatch.setattr(world.ctx.engine, "evaluate", evaluate)
    response = world.post(phi_events + dev_events)
    assert response.status_code == 200
    body = json.loads(response.get_body())
    assert body["resources"].get("error") == 1
    assert world.status(str(DEV_NSG["id"]), MGMT) == "FAIL"
    (row,) = [
        r
        for r in world.ctx.store.current(resource_id=str(PHI_NSG["id"]))
        if r.check_id == PROCESSING_CHECK
    ]
    assert row.status == "ERROR" and "RecursionError" in row.reason
    assert "must not reach" not in row.reason + json.dumps(dict(row.evidence))

    # The sweep isolates it the same way and names it in what it could not do.
    result = world.ctx.pipeline.sweep(PROD_SUB)
    assert result.errors == [str(PHI_NSG["id"])]
    monkeypatch.setattr(world.ctx.engine, "evaluate", real)
    world.ctx.pipeline.sweep(PROD_SUB)
    rows = world.ctx.store.current(resource_id=str(PHI_NSG["id"]), include_inactive=True)
    (row,) = [r for r in rows if r.check_id == PROCESSING_CHECK]
    assert row.status == "CLOSED" and row.reason == "Processed without error again."


def test_the_sweep_fixes_what_was_failing_before_the_fix_was_allowed(
    azurite: AzuriteEndpoints, tmp_path: Path
) -> None:
    """Regression: fixes ran only on a new FAIL transition, so allow-listing the NSG fix after
    the first sweep fixed nothing that sweep had found."""
    with running_world(azurite, tmp_path) as world:
        world.post(_open_rdp(world, PHI_NSG))
        nsg = str(PHI_NSG["id"])
        assert world.status(nsg, MGMT) == "FAIL"
        prefix = world.ctx.settings.table_prefix
        assert [r.status for r in world.ctx.remediator.records(days=1, resource_id=nsg)] == [
            "PLANNED"
        ]
    with running_world(
        azurite,
        tmp_path,
        table_prefix=prefix,
        remediation_modes=((NSG_FIX, "enforce"),),
        remediation_allow=(NSG_FIX,),
    ) as world:
        world.sim.change_as_user(
            "PUT", f"{nsg}/securityRules/OpenRdp", open_rdp_rule(150), api_version="2024-05-01"
        )
        assert world.status(nsg, MGMT) == "FAIL"
        world.sim.reset_counters()
        world.ctx.pipeline.sweep(PROD_SUB)
        statuses = [r.status for r in world.ctx.remediator.records(days=1, resource_id=nsg)]
        assert "VERIFIED" in statuses
        assert world.status(nsg, MGMT) == "PASS"
        rule = world.sim.admin("GET", "document", id=f"{nsg}/securityRules/OpenRdp")
        assert rule["properties"]["access"] == "Deny"
        # Only the allow-listed fix on the failing resource wrote.
        assert 0 < _writes(world) <= 2
        # A second sweep finds nothing left to fix.
        world.sim.reset_counters()
        world.ctx.pipeline.sweep(PROD_SUB)
        assert _writes(world) == 0


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_sweep_with_the_store_down_says_so_once_naming_it(world: World) -> None:
    """Regression: per-resource warnings for two minutes when the state store was down."""
    import time

    from shared.pipeline import Pipeline, StoreUnavailableError
    from shared.state.tables import TableStateStore

    port = _closed_port()
    dead = TableStateStore.from_connection_string(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="
        + "a2V5" * 22
        + f"==;TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match=f"127.0.0.1:{port}"):
        Pipeline(world.ctx.engine, world.ctx.reader, dead).sweep(PROD_SUB)
    assert time.monotonic() - started < 20


def test_a_store_lost_mid_sweep_stops_the_sweep_after_a_few_failures(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.core.exceptions import ServiceRequestError

    from shared.errors import StoreUnavailableError
    from shared.sweep import STORE_BREAKER_LIMIT

    store = world.ctx.store
    calls = []

    def down(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        raise ServiceRequestError("connection refused")

    monkeypatch.setattr(store, "record_evaluation", down)
    with pytest.raises(StoreUnavailableError, match="consecutive storage failures"):
        world.ctx.pipeline.sweep(PROD_SUB)
    workers = world.ctx.pipeline.workers
    assert STORE_BREAKER_LIMIT <= len(calls) <= STORE_BREAKER_LIMIT + workers
