"""The real Azure SDK clients read, list (with paging), write and poll through the sim."""

from __future__ import annotations

import time
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.core.pipeline import PipelineResponse
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import NetworkSecurityGroup, SecurityRule
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.storage.models import ImmutabilityPolicy

from sim.fixture import SimHandle, running_sim
from tests.sim.conftest import PAGE_SIZE
from tests.sim.helpers import all_of, arm, first


def _rg(resource_id: str | None) -> str:
    return _s(resource_id).split("/")[4]


def _s(value: str | None) -> str:
    """SDK models type every field Optional; the sim always fills these."""
    assert value is not None
    return value


def _statuses(into: list[int]) -> Any:
    def hook(response: PipelineResponse[Any, Any]) -> None:
        into.append(response.http_response.status_code)

    return hook


def test_network_reads_lists_and_writes_a_rule_through_an_lro(sim: SimHandle) -> None:
    sub = sim.subscription_id
    net = NetworkManagementClient(sim.credential, sub, **sim.client_kwargs())
    expected = {
        d["id"].lower()
        for d in all_of(sim, "Microsoft.Network/networkSecurityGroups")
        if d["id"].split("/")[2] == sub
    }
    listed = list(net.network_security_groups.list_all())
    assert {_s(n.id).lower() for n in listed} == expected
    nsg = listed[0]
    rg, name = _rg(nsg.id), _s(nsg.name)
    got = net.network_security_groups.get(rg, name)
    assert got.etag and got.etag.startswith('W/"')
    assert [r.name for r in got.security_rules or []] == [
        r.name for r in net.security_rules.list(rg, name)
    ]
    rule = net.security_rules.begin_create_or_update(
        rg,
        name,
        "deny-rdp-internet",
        SecurityRule(
            {
                "properties": {
                    "protocol": "Tcp",
                    "sourceAddressPrefix": "Internet",
                    "sourcePortRange": "*",
                    "destinationAddressPrefix": "*",
                    "destinationPortRange": "3389",
                    "access": "Deny",
                    "priority": 100,
                    "direction": "Inbound",
                }
            }
        ),
    ).result()
    assert rule.provisioning_state == "Succeeded"
    after = net.network_security_groups.get(rg, name)
    assert "deny-rdp-internet" in [r.name for r in after.security_rules or []]
    assert after.etag != got.etag and after.etag == rule.etag
    net.security_rules.begin_delete(rg, name, "deny-rdp-internet").result()
    with pytest.raises(ResourceNotFoundError):
        net.security_rules.get(rg, name, "deny-rdp-internet")
    final = net.network_security_groups.get(rg, name)
    assert "deny-rdp-internet" not in [r.name for r in final.security_rules or []]


def test_nsg_create_is_a_long_running_operation_that_polls_to_succeeded() -> None:
    # lro_duration keeps the operation InProgress for a while, so the SDK really polls.
    estate = {
        "tenant_id": "t",
        "subscriptions": [{"subscriptionId": "5e1b0c7e-0000-4000-8000-000000000001"}],
        "documents": [
            {
                "id": "/subscriptions/5e1b0c7e-0000-4000-8000-000000000001/resourceGroups/rg1",
                "name": "rg1",
                "type": "Microsoft.Resources/resourceGroups",
                "location": "eastus",
                "properties": {"provisioningState": "Succeeded"},
            }
        ],
    }
    with running_sim(estate=estate, lro_duration=0.3, lro_retry_after=1) as sim:
        net = NetworkManagementClient(sim.credential, sim.subscription_id, **sim.client_kwargs())
        statuses: list[int] = []
        started = time.monotonic()
        poller = net.network_security_groups.begin_create_or_update(
            "rg1",
            "nsg-new",
            NetworkSecurityGroup(location="eastus"),
            raw_response_hook=_statuses(statuses),
        )
        assert poller.status() == "InProgress"
        nsg = poller.result()
        elapsed = time.monotonic() - started
        assert nsg.provisioning_state == "Succeeded"
        assert [r.name for r in nsg.default_security_rules][:1] == ["AllowVnetInBound"]
        # initial 201, first poll (still running), Retry-After: 1 s, second poll, final GET
        assert statuses[0] == 201 and elapsed >= 1.0
        body = sim.counters()["by_method_and_type"]
        assert body["GET microsoft.network/locations/operations"] >= 2
        net.network_security_groups.begin_delete("rg1", "nsg-new").result()
        with pytest.raises(ResourceNotFoundError):
            net.network_security_groups.get("rg1", "nsg-new")


def test_storage_lists_pages_creates_updates_and_lists_keys(sim: SimHandle) -> None:
    sub = sim.subscription_id
    st = StorageManagementClient(sim.credential, sub, **sim.client_kwargs())
    accounts = list(st.storage_accounts.list())
    assert len(accounts) == len(
        [
            d
            for d in all_of(sim, "Microsoft.Storage/storageAccounts")
            if d["id"].split("/")[2] == sub
        ]
    )
    rg = _rg(accounts[0].id)
    created = st.storage_accounts.begin_create(
        rg,
        "stsimtest01",
        {
            "sku": {"name": "Standard_LRS"},
            "kind": "StorageV2",
            "location": "eastus",
            "properties": {"minimumTlsVersion": "TLS1_0", "supportsHttpsTrafficOnly": True},
        },
    ).result()
    assert created.provisioning_state == "Succeeded"
    assert created.minimum_tls_version == "TLS1_0"
    updated = st.storage_accounts.update(
        rg, "stsimtest01", {"properties": {"minimumTlsVersion": "TLS1_2"}}
    )
    assert updated.minimum_tls_version == "TLS1_2"
    assert updated.enable_https_traffic_only is True  # PATCH merged, did not replace
    keys = st.storage_accounts.list_keys(rg, "stsimtest01")
    assert [k["keyName"] for k in keys["keys"]] == ["key1", "key2"]
    st.storage_accounts.delete(rg, "stsimtest01")
    with pytest.raises(ResourceNotFoundError):
        st.storage_accounts.get_properties(rg, "stsimtest01")


def test_stale_if_match_raises_resource_modified_error(sim: SimHandle) -> None:
    account = first(sim, "Microsoft.Storage/storageAccounts")
    sub, rg, name = account["id"].split("/")[2], _rg(account["id"]), account["name"]
    container = f"{account['id']}/blobServices/default/containers/phi-archive"
    assert arm(sim, "PUT", container, {"properties": {}}, "2025-01-01").status_code in (200, 201)
    st = StorageManagementClient(sim.credential, sub, **sim.client_kwargs())
    policy = st.blob_containers.create_or_update_immutability_policy(
        rg,
        name,
        "phi-archive",
        ImmutabilityPolicy({"properties": {"immutabilityPeriodSinceCreationInDays": 7}}),
    )
    stale = policy.etag
    fresh = st.blob_containers.create_or_update_immutability_policy(
        rg,
        name,
        "phi-archive",
        ImmutabilityPolicy({"properties": {"immutabilityPeriodSinceCreationInDays": 30}}),
        etag=stale,
        match_condition=MatchConditions.IfNotModified,
    )
    assert fresh.etag != stale
    with pytest.raises(ResourceModifiedError):
        st.blob_containers.create_or_update_immutability_policy(
            rg,
            name,
            "phi-archive",
            ImmutabilityPolicy({"properties": {"immutabilityPeriodSinceCreationInDays": 1}}),
            etag=stale,
            match_condition=MatchConditions.IfNotModified,
        )


def test_stale_if_match_on_an_nsg_is_412_precondition_failed(sim: SimHandle) -> None:
    nsg = first(sim, "Microsoft.Network/networkSecurityGroups")
    sub, rg = nsg["id"].split("/")[2], _rg(nsg["id"])
    net = NetworkManagementClient(sim.credential, sub, **sim.client_kwargs())
    current = net.network_security_groups.get(rg, nsg["name"])
    net.network_security_groups.update_tags(rg, nsg["name"], {"tags": {"touched": "yes"}})
    with pytest.raises(ResourceModifiedError) as caught:
        net.network_security_groups.begin_create_or_update(
            rg,
            nsg["name"],
            current,
            headers={"If-Match": current.etag},
            error_map={412: ResourceModifiedError},
        ).result()
    assert caught.value.status_code == 412
    assert caught.value.error is not None and caught.value.error.code == "PreconditionFailed"


def test_keyvault_reads_lists_and_writes(sim: SimHandle) -> None:
    sub = sim.subscription_id
    kv = KeyVaultManagementClient(sim.credential, sub, **sim.client_kwargs())
    vaults = list(kv.vaults.list_by_subscription())
    assert vaults
    rg = _rg(vaults[0].id)
    by_rg = list(kv.vaults.list_by_resource_group(rg))
    assert {v.name for v in by_rg} <= {v.name for v in vaults}
    got = kv.vaults.get(rg, _s(vaults[0].name))
    assert got.properties.tenant_id
    created = kv.vaults.begin_create_or_update(
        rg,
        "kv-sim-test",
        {
            "location": "eastus",
            "properties": {
                "tenantId": got.properties.tenant_id,
                "sku": {"family": "A", "name": "standard"},
                "accessPolicies": [],
                "enableRbacAuthorization": True,
            },
        },
    ).result()
    assert created.properties.enable_rbac_authorization is True
    patched = kv.vaults.update(rg, "kv-sim-test", {"properties": {"enablePurgeProtection": True}})
    assert patched.properties.enable_purge_protection is True
    assert patched.properties.enable_rbac_authorization is True
    kv.vaults.delete(rg, "kv-sim-test")


def test_authorization_lists_role_assignments_with_paging(sim: SimHandle) -> None:
    sub = sim.subscription_id
    auth = AuthorizationManagementClient(sim.credential, sub, **sim.client_kwargs())
    scope = f"/subscriptions/{sub}"
    # More assignments than a page, so the client must follow nextLink.
    definition = f"{scope}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
    for i in range(PAGE_SIZE + 2):
        auth.role_assignments.create(
            scope,
            f"00000000-0000-4000-8000-00000000000{i}",
            {
                "properties": {
                    "roleDefinitionId": definition,
                    "principalId": f"11111111-0000-4000-8000-00000000000{i}",
                    "principalType": "ServicePrincipal",
                }
            },
        )
    pages = auth.role_assignments.list_for_subscription().by_page()
    sizes = [len(list(p)) for p in pages]
    assert len(sizes) > 1 and all(s <= PAGE_SIZE for s in sizes)
    listed = list(auth.role_assignments.list_for_subscription())
    assert len(listed) == sum(sizes) >= PAGE_SIZE + 2
    one = auth.role_assignments.get(scope, "00000000-0000-4000-8000-000000000001")
    assert one.principal_id == "11111111-0000-4000-8000-000000000001"
    deleted = auth.role_assignments.delete(scope, "00000000-0000-4000-8000-000000000001")
    assert deleted is not None and deleted.name == "00000000-0000-4000-8000-000000000001"
    assert auth.role_assignments.delete(scope, "00000000-0000-4000-8000-000000000001") is None


def test_monitor_diagnostic_settings_list_get_create_delete(sim: SimHandle) -> None:
    vault = first(sim, "Microsoft.KeyVault/vaults")
    mon = MonitorManagementClient(sim.credential, vault["id"].split("/")[2], **sim.client_kwargs())
    before = list(mon.diagnostic_settings.list(vault["id"]))
    workspace = first(sim, "Microsoft.OperationalInsights/workspaces")
    created = mon.diagnostic_settings.create_or_update(
        vault["id"],
        "sim-audit",
        {
            "properties": {
                "workspaceId": workspace["id"],
                "logs": [{"categoryGroup": "audit", "enabled": True}],
            }
        },
    )
    assert created.workspace_id == workspace["id"]
    after = list(mon.diagnostic_settings.list(vault["id"]))
    assert len(after) == len(before) + 1
    assert mon.diagnostic_settings.get(vault["id"], "sim-audit").name == "sim-audit"
    mon.diagnostic_settings.delete(vault["id"], "sim-audit")
    assert len(list(mon.diagnostic_settings.list(vault["id"]))) == len(before)


def test_generic_resource_client_reads_lists_and_writes(sim: SimHandle) -> None:
    sub = sim.subscription_id
    rc = ResourceManagementClient(sim.credential, sub, **sim.client_kwargs())
    groups = list(rc.resource_groups.list())
    assert groups and all(g.type == "Microsoft.Resources/resourceGroups" for g in groups)
    everything = list(rc.resources.list())
    assert len(everything) > PAGE_SIZE  # paged
    assert all(r.properties is None for r in everything)  # the generic list has no properties
    nsgs = list(
        rc.resources.list(filter="resourceType eq 'Microsoft.Network/networkSecurityGroups'")
    )
    assert nsgs and all(
        _s(r.type).lower() == "microsoft.network/networksecuritygroups" for r in nsgs
    )
    got = rc.resources.get_by_id(_s(nsgs[0].id), api_version="2024-05-01")
    assert got.properties is not None and got.properties["securityRules"] is not None
    in_group = list(rc.resources.list_by_resource_group(_rg(nsgs[0].id)))
    assert _s(nsgs[0].id).lower() in {_s(r.id).lower() for r in in_group}
    assert rc.resource_groups.check_existence(_rg(nsgs[0].id)) is True
    assert rc.resource_groups.check_existence("rg-does-not-exist") is False
    new_id = f"/subscriptions/{sub}/resourceGroups/{_rg(nsgs[0].id)}/providers/Microsoft.Compute/disks/disk-sim"
    disk = rc.resources.begin_create_or_update_by_id(
        new_id,
        {
            "location": "eastus",
            "properties": {"diskSizeGB": 32, "creationData": {"createOption": "Empty"}},
        },
        api_version="2024-03-02",
    ).result()
    assert disk.id == new_id
    rc.resources.begin_delete_by_id(new_id, api_version="2024-03-02").result()
    with pytest.raises(ResourceNotFoundError):
        rc.resources.get_by_id(new_id, api_version="2024-03-02")


def test_missing_subscription_and_group_raise_not_found(sim: SimHandle) -> None:
    net = NetworkManagementClient(sim.credential, sim.subscription_id, **sim.client_kwargs())
    with pytest.raises(ResourceNotFoundError) as caught:
        net.network_security_groups.get("rg-nope", "nsg")
    assert caught.value.error is not None and caught.value.error.code == "ResourceGroupNotFound"
    other = NetworkManagementClient(
        sim.credential, "0badc0de-0000-4000-8000-000000000000", **sim.client_kwargs()
    )
    with pytest.raises(HttpResponseError) as caught2:
        other.network_security_groups.get("rg", "nsg")
    assert caught2.value.status_code == 404
