"""Faults and limits: ARM throttling with Retry-After, latency, injected 5xx, connection resets."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineResponse
from azure.mgmt.network import NetworkManagementClient

from sim.faults import FaultSpec, FaultSpecError, TokenBuckets
from sim.fixture import SimHandle
from tests.sim.helpers import arm, first


def test_fault_spec_parses_the_documented_example() -> None:
    spec = FaultSpec.parse("latency=20ms,error5xx=0.02,reset=0.01,dup=0.1,reorder=0.2,throttle=on")
    assert spec.latency == pytest.approx(0.02)
    assert (spec.error5xx, spec.reset, spec.dup, spec.reorder) == (0.02, 0.01, 0.1, 0.2)
    assert spec.throttle is True
    assert (spec.reads, spec.read_refill, spec.writes, spec.write_refill) == (250, 25.0, 200, 10.0)
    assert FaultSpec.parse("").throttle is False  # off by default
    assert FaultSpec.parse("latency=0.5s").latency == 0.5


@pytest.mark.parametrize("bad", ["latency", "nope=1", "error5xx=2", "throttle=maybe", "reads=x"])
def test_fault_spec_rejects_bad_specs(bad: str) -> None:
    with pytest.raises(FaultSpecError):
        FaultSpec.parse(bad)


def test_token_buckets_follow_arm_limits() -> None:
    buckets = TokenBuckets(FaultSpec.parse("throttle=on,reads=3,read_refill=1"))
    verdicts = [buckets.take("sub", "app", "reads") for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert [v.remaining for v in verdicts[:3]] == [2, 1, 0]
    assert verdicts[3].retry_after == 1
    assert buckets.take("sub", "other-app", "reads").allowed  # per principal
    assert buckets.take("other-sub", "app", "reads").allowed  # per subscription
    assert buckets.take("sub", "app", "writes").allowed  # separate write bucket


def test_the_global_bucket_is_shared_by_all_principals_and_15_times_larger() -> None:
    """ARM throttles a subscription's requests from all principals together at 15 times one
    principal's limit (x-ms-ratelimit-remaining-subscription-global-reads)."""
    buckets = TokenBuckets(FaultSpec.parse("throttle=on,reads=2,read_refill=0.001"))
    first_take = buckets.take("sub", "app-0", "reads")
    assert (first_take.remaining, first_take.global_remaining) == (1, 29)
    verdicts = [buckets.take("sub", f"app-{n // 2}", "reads") for n in range(1, 30)]
    assert all(v.allowed for v in verdicts) and verdicts[-1].global_remaining == 0
    fresh = buckets.take("sub", "app-new", "reads")  # its own bucket is full, the global empty
    assert not fresh.allowed and fresh.remaining == 2 and fresh.retry_after >= 1
    assert buckets.take("other-sub", "app-new", "reads").allowed


def test_429_makes_azure_core_wait_for_retry_after(sim: SimHandle) -> None:
    sim.set_faults("throttle=on,reads=3,read_refill=1")
    nsg = first(sim, "Microsoft.Network/networkSecurityGroups")
    net = NetworkManagementClient(sim.credential, nsg["id"].split("/")[2], **sim.client_kwargs())
    rg = nsg["id"].split("/")[4]
    for _ in range(3):
        net.network_security_groups.get(rg, nsg["name"])
    statuses: list[int] = []
    retry_after: list[str] = []

    def hook(response: PipelineResponse[Any, Any]) -> None:
        statuses.append(response.http_response.status_code)
        retry_after.append(response.http_response.headers.get("Retry-After", ""))

    started = time.monotonic()
    got = net.network_security_groups.get(rg, nsg["name"], raw_response_hook=hook)
    elapsed = time.monotonic() - started
    assert got.name == nsg["name"]
    assert statuses == [429, 200]  # one retry
    assert retry_after[0] == "1"
    assert 1.0 <= elapsed < 3.0  # waited the Retry-After, not the exponential back-off
    counters = sim.counters()
    assert counters["by_status"]["429"] == 1


def test_rate_limit_headers_are_on_every_response(sim: SimHandle) -> None:
    # No refill, so the count drops however slowly the machine runs (it flaked under load).
    nsg = first(sim, "Microsoft.Network/networkSecurityGroups")
    # Without a limit (throttle off) the count stays full: a client pacing by it is not slowed.
    unlimited = [arm(sim, "GET", nsg["id"]) for _ in range(3)]
    assert {r.headers["x-ms-ratelimit-remaining-subscription-reads"] for r in unlimited} == {"250"}
    assert {r.headers["x-ms-ratelimit-remaining-subscription-global-reads"] for r in unlimited} == {
        "3750"
    }
    tenant = arm(sim, "GET", "/subscriptions")  # a tenant-level request: the tenant's names
    assert tenant.headers["x-ms-ratelimit-remaining-tenant-reads"] == "250"
    assert "x-ms-ratelimit-remaining-subscription-reads" not in tenant.headers
    sim.set_faults("throttle=on,read_refill=0,write_refill=0,delete_refill=0")
    read = arm(sim, "GET", nsg["id"])
    write = arm(sim, "PATCH", nsg["id"], {"tags": {"a": "1"}})
    missing = arm(sim, "GET", nsg["id"] + "-missing")
    reads = [int(r.headers["x-ms-ratelimit-remaining-subscription-reads"]) for r in (read, missing)]
    assert reads[0] > reads[1] and reads[0] <= 250
    assert int(write.headers["x-ms-ratelimit-remaining-subscription-writes"]) == 199
    delete = arm(sim, "DELETE", nsg["id"] + "/securityRules/not-there")
    assert delete.status_code == 204
    assert int(delete.headers["x-ms-ratelimit-remaining-subscription-deletes"]) == 199


def test_writes_are_throttled_separately(sim: SimHandle) -> None:
    sim.set_faults("throttle=on,writes=2,write_refill=0.5")
    nsg = first(sim, "Microsoft.Network/networkSecurityGroups")
    codes = [arm(sim, "PATCH", nsg["id"], {"tags": {"n": str(i)}}).status_code for i in range(3)]
    assert codes == [200, 200, 429]
    throttled = arm(sim, "PATCH", nsg["id"], {"tags": {"n": "x"}})
    assert throttled.json()["error"]["code"] == "SubscriptionRequestsThrottled"
    assert throttled.headers["Retry-After"] == "2"
    assert arm(sim, "GET", nsg["id"]).status_code == 200  # reads still fine


def test_latency_is_added(sim: SimHandle) -> None:
    nsg = first(sim, "Microsoft.Network/networkSecurityGroups")
    sim.set_faults("latency=150ms")
    started = time.monotonic()
    assert arm(sim, "GET", nsg["id"]).status_code == 200
    assert time.monotonic() - started >= 0.15


def test_injected_server_errors_use_arm_error_bodies(sim: SimHandle) -> None:
    nsg = first(sim, "Microsoft.Network/networkSecurityGroups")
    sim.set_faults("error5xx=1")
    resp = arm(sim, "GET", nsg["id"])
    assert resp.status_code in (500, 502, 503, 504)
    assert resp.json()["error"]["code"] in (
        "InternalServerError",
        "BadGateway",
        "ServiceUnavailable",
        "GatewayTimeout",
    )
    net = NetworkManagementClient(
        sim.credential, nsg["id"].split("/")[2], retry_total=0, **sim.client_kwargs()
    )
    with pytest.raises(HttpResponseError) as caught:
        net.network_security_groups.get(nsg["id"].split("/")[4], nsg["name"])
    assert caught.value.status_code in (500, 502, 503, 504)
    assert sim.counters()["faults"]["error5xx"] == 2


def test_connection_resets(sim: SimHandle) -> None:
    nsg = first(sim, "Microsoft.Network/networkSecurityGroups")
    sim.set_faults("reset=1")
    with pytest.raises(requests.ConnectionError):
        arm(sim, "GET", nsg["id"])
    sim.set_faults("")
    assert arm(sim, "GET", nsg["id"]).status_code == 200


def test_faults_are_seeded() -> None:
    from sim.faults import Dice

    a, b = Dice(7), Dice(7)
    assert [a.chance(0.5) for _ in range(50)] == [b.chance(0.5) for _ in range(50)]
