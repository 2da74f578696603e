"""The notification services' fault entries (``SERVICE:KIND@P``, ``SERVICE:NAME=VALUE``), their
window quotas, and the admin API and handle helpers that go with the services."""

from __future__ import annotations

import pytest
import requests

from sim.faults import FaultSpec, FaultSpecError, ServiceFaults, WindowQuota
from sim.fixture import SimHandle


def test_service_entries_parse_and_describe() -> None:
    spec = FaultSpec.parse(
        "latency=5ms,github:429@0.2,github:secondary@0.1,devops:5xx@0.05,teams:reset@0.01,"
        "email:quota=30/min+100/h,email:fail@0.5,github:retry_after=3,teams:latency=20ms"
    )
    assert spec.latency == pytest.approx(0.005)
    github = spec.for_service("github")
    assert (github.throttle, github.secondary, github.retry_after) == (0.2, 0.1, 3)
    assert spec.for_service("devops").error5xx == 0.05
    assert spec.for_service("teams") == ServiceFaults(reset=0.01, latency=0.02)
    assert spec.for_service("email").quota == ((30, 60.0), (100, 3600.0))
    assert spec.for_service("email").fail == 0.5
    assert FaultSpec.parse("").for_service("github") == ServiceFaults()
    again = FaultSpec.parse(spec.describe())
    assert again == spec  # describe() is a spec that parses back to the same faults


@pytest.mark.parametrize(
    "bad",
    [
        "slack:429@0.1",
        "github:418@0.1",
        "github:429@2",
        "github:429",
        "github:quota=30/day",
        "github:quota=0/min",
        "github:colour=red",
        "email:latency=soon",
    ],
)
def test_bad_service_entries_are_refused(bad: str) -> None:
    with pytest.raises(FaultSpecError):
        FaultSpec.parse(bad)


def test_window_quota_counts_every_window() -> None:
    quota = WindowQuota()
    windows = ((2, 60.0), (3, 3600.0))
    assert [quota.take("email", windows) for _ in range(2)] == [0, 0]
    wait = quota.take("email", windows)
    assert 59 <= wait <= 60
    assert quota.take("teams", windows) == 0  # per service
    assert quota.take("email", ()) == 0  # no quota, no limit
    quota.clear()
    assert quota.take("email", windows) == 0


def test_admin_rejects_a_bad_service_fault(sim: SimHandle) -> None:
    resp = requests.post(
        sim.admin_url + "/faults", json={"spec": "github:nope@1"}, verify=sim.ca_cert, timeout=30
    )
    assert resp.status_code == 400
    assert "github:429@1" in sim.set_faults("github:429@1")["faults"]


def test_handle_exposes_service_urls_and_admin_info(sim: SimHandle) -> None:
    info = sim.admin("GET", "info")["services"]
    assert info["github_url"] == sim.github_url == sim.arm_url + "/github"
    assert info["devops_url"] == sim.devops_url
    assert info["teams_webhook_url"] == sim.teams_webhook_url
    assert (
        sim.acs_connection_string
        == f"endpoint={sim.acs_endpoint}/;accesskey="
        + (info["acs_connection_string"].split("accesskey=")[1])
    )
    assert sim.github_token and sim.devops_pat
    for service in ("github", "devops", "teams", "email"):
        received = sim.received(service)
        assert received["count"] == 0
        assert received["counters"] == {"total": 0, "by_route": {}, "by_status": {}, "faults": {}}
    with pytest.raises(RuntimeError):
        sim.admin("POST", "slack/reset")


def test_arm_is_untouched_by_service_faults(sim: SimHandle) -> None:
    sim.set_faults("github:5xx@1,devops:reset@1,teams:429@1,email:5xx@1")
    resp = requests.get(
        f"{sim.arm_url}/subscriptions/{sim.subscription_id}/resourcegroups",
        params={"api-version": "2021-04-01"},
        headers={"Authorization": "Bearer fake"},
        verify=sim.ca_cert,
        timeout=30,
    )
    assert resp.status_code == 200
    assert sim.counters()["faults"] == {}


def test_concurrent_creates_get_distinct_numbers(sim: SimHandle) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def create(n: int) -> int:
        resp = requests.post(
            f"{sim.github_url}/repos/contoso/phi/issues",
            json={"title": f"finding {n}"},
            headers={"Authorization": f"Bearer {sim.github_token}"},
            verify=sim.ca_cert,
            timeout=30,
        )
        return int(resp.json()["number"])

    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(create, range(24)))
    assert sorted(numbers) == list(range(1, 25))
    assert sim.received("github")["counters"]["by_status"] == {"201": 24}


def test_a_spawned_sim_serves_the_notification_services() -> None:
    from sim.fixture import spawned_sim

    message = {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {"type": "AdaptiveCard", "version": "1.5", "body": []},
            }
        ],
    }
    with spawned_sim(estate="empty", faults="teams:latency=1ms") as handle:
        resp = requests.post(
            handle.teams_webhook_url, json=message, verify=handle.ca_cert, timeout=30
        )
        assert resp.status_code == 202
        assert handle.received("teams")["count"] == 1
        assert "teams:latency=1ms" in handle.admin("GET", "faults")["faults"]
