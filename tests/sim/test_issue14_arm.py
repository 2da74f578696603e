"""Issue 14 in the simulated tenant: service-default singletons and the backup alias list."""

from __future__ import annotations

from sim.fixture import SimHandle
from tests.sim.helpers import all_of, arm


def test_a_never_written_singleton_answers_its_service_default(sim: SimHandle) -> None:
    site = next(s for s in all_of(sim, "Microsoft.Web/sites") if s["name"] == "app-chs-storefront")
    resp = arm(sim, "GET", site["id"] + "/config/authsettingsV2", api_version="2024-04-01")
    assert resp.status_code == 200
    body = resp.json()
    assert body["id"].endswith("/config/authsettingsV2")
    assert body["properties"]["login"]["cookieExpiration"]["timeToExpiration"] == "08:00:00"
    # Only the singleton's own name answers; another config name, or a missing parent, 404s.
    assert (
        arm(sim, "GET", site["id"] + "/config/nosuch", api_version="2024-04-01").status_code == 404
    )
    gone = site["id"] + "x/config/authsettingsV2"
    assert arm(sim, "GET", gone, api_version="2024-04-01").status_code == 404


def test_a_written_singleton_wins_over_the_default(sim: SimHandle) -> None:
    storage = [
        s for s in all_of(sim, "Microsoft.Storage/storageAccounts") if s["name"] == "stchsphidocs"
    ]
    resp = arm(sim, "GET", storage[0]["id"] + "/fileServices/default", api_version="2025-01-01")
    assert resp.status_code == 200
    assert resp.json()["properties"]["shareDeleteRetentionPolicy"] == {"enabled": False}


def test_backup_protected_items_list_under_their_vault(sim: SimHandle) -> None:
    vaults = all_of(sim, "Microsoft.RecoveryServices/vaults")
    assert len(vaults) == 2
    seen = []
    for vault in vaults:
        resp = arm(sim, "GET", vault["id"] + "/backupProtectedItems", api_version="2024-04-01")
        assert resp.status_code == 200
        items = resp.json()["value"]
        assert len(items) == 1
        assert items[0]["id"].lower().startswith(vault["id"].lower() + "/backupfabrics/")
        seen.append(items[0]["properties"]["sourceResourceId"])
    assert len(set(seen)) == 2


def test_jit_policies_list_per_subscription_across_locations(sim: SimHandle) -> None:
    vm = next(
        v
        for v in all_of(sim, "Microsoft.Compute/virtualMachines")
        if v["name"] == "vm-chs-phi-etl01"
    )
    subscription = vm["id"].split("/resourceGroups/")[0]
    path = subscription + "/providers/Microsoft.Security/jitNetworkAccessPolicies"
    resp = arm(sim, "GET", path, api_version="2020-01-01")
    assert resp.status_code == 200
    (policy,) = resp.json()["value"]
    assert policy["type"] == "Microsoft.Security/locations/jitNetworkAccessPolicies"
    assert [v["id"] for v in policy["properties"]["virtualMachines"]] == [vm["id"]]
