"""Issue 14's read paths: related documents told apart by name, cross-resource lists attached
from files and read once per subscription from ARM, and events of the new child types."""

from __future__ import annotations

from typing import Any

from shared.engine import Engine
from shared.events.resources import affected_resource
from shared.kernel.related import RELATED, related_key_for, subscription_lists
from shared.loader import load_documents
from sim.estate import demo_estate
from sim.estate.demo_context import DEMO_PROD, backup_ids
from sim.fixture import running_sim

SUB = "/subscriptions/00000000-0000-0000-0000-000000000001"
SITE = f"{SUB}/resourceGroups/rg/providers/Microsoft.Web/sites/app1"
VM = f"{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"


def test_documents_of_one_type_are_told_apart_by_name() -> None:
    site_type = "microsoft.web/sites"
    assert related_key_for("Microsoft.Web/sites/config", site_type, "web") == "web_config"
    assert related_key_for("microsoft.web/sites/config", site_type, "authsettingsV2") == (
        "authsettings_v2"
    )
    assert related_key_for("microsoft.web/sites/config", site_type, "appsettings") is None
    mysql = "microsoft.dbformysql/flexibleservers/configurations"
    assert related_key_for(mysql, None, "audit_log_enabled") == "mysql_audit_log"
    assert related_key_for(mysql, None, "require_secure_transport") == "mysql_secure_transport"
    assert related_key_for(mysql, None, "max_connections") is None


def test_loader_attaches_named_configs_and_subscription_lists() -> None:
    site = {"id": SITE, "name": "app1", "type": "Microsoft.Web/sites", "properties": {}}
    docs: list[dict[str, Any]] = [
        site,
        {"id": f"{SITE}/config/web", "name": "web", "type": "Microsoft.Web/sites/config"},
        {
            "id": f"{SITE}/config/authsettingsV2",
            "name": "authsettingsV2",
            "type": "Microsoft.Web/sites/config",
        },
        {
            "id": f"{SITE}/config/appsettings",
            "name": "appsettings",
            "type": "Microsoft.Web/sites/config",
        },
        {"id": VM, "name": "vm1", "type": "Microsoft.Compute/virtualMachines", "properties": {}},
        {
            "id": f"{SUB}/resourceGroups/rg/providers/Microsoft.Network/networkWatchers/nw",
            "name": "nw",
            "type": "Microsoft.Network/networkWatchers",
            "location": "eastus",
        },
    ]
    snaps = {s.id: s for s in load_documents((d, "test") for d in docs)}
    assert snaps[SITE].doc("web_config")["name"] == "web"
    assert snaps[SITE].doc("authsettings_v2")["name"] == "authsettingsV2"
    assert snaps[VM].doc("network_watchers")[0]["name"] == "nw"
    # Not complete: what the files do not hold stays unread (NOT_ASSESSED), never [].
    assert not snaps[VM].has("backup_protected_items")
    assert f"{SITE}/config/appsettings" in snaps  # a config no entry names stands alone


def test_complete_estates_attach_empty_subscription_lists() -> None:
    lists = {d.key for d in subscription_lists()}
    assert lists == {
        "backup_protected_items",
        "jit_policies",
        "network_watchers",
        "storage_accounts",
        "virtual_networks",
    }
    snaps = load_documents(
        [({"id": VM, "type": "Microsoft.Compute/virtualMachines"}, "t")], complete=True
    )
    assert all(snaps[0].doc(k) == [] for k in lists)


def test_protected_item_and_child_events_map_to_the_resource_they_affect() -> None:
    vault = f"{SUB}/resourceGroups/rsv-rg/providers/Microsoft.RecoveryServices/vaults/v1"
    item = (
        f"{vault}/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;rg;vm1"
        "/protectedItems/VM;iaasvmcontainerv2;rg;vm1"
    )
    assert affected_resource(item).lower() == VM.lower()
    odd = f"{vault}/backupFabrics/Azure/protectionContainers/c/protectedItems/SQLDataBase;x"
    assert affected_resource(odd) == odd
    pg = f"{SUB}/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg1"
    assert affected_resource(f"{pg}/configurations/require_secure_transport") == pg
    pricing = f"{SUB}/providers/Microsoft.Security/pricings/VirtualMachines"
    assert affected_resource(pricing) == SUB


def test_a_sweep_reads_each_cross_resource_list_once_and_events_read_it_again() -> None:
    from shared.arm import ArmReader

    engine = Engine()
    ids = backup_ids(DEMO_PROD)
    estate_vms = [
        d["id"]
        for d in demo_estate().documents
        if d.get("type") == "Microsoft.Compute/virtualMachines"
    ]
    with running_sim(estate="demo") as sim:
        reader = ArmReader(sim.arm_url, sim.credential, ca_cert=sim.ca_cert)
        for vm in estate_vms:
            assert reader.snapshot(vm, engine) is not None
        first_reads = reader.stats.by_kind["backup_protected_items"]
        assert first_reads == 3  # the vault list, then one list per vault: once for both VMs
        snap = reader.snapshot(ids["vm_report"], engine, fresh_lists=True)
        assert snap is not None and len(snap.doc("backup_protected_items")) == 2
        assert reader.stats.by_kind["backup_protected_items"] == first_reads + 3
    assert RELATED["backup_protected_items"].then == "/backupProtectedItems"


def test_the_sweeps_reader_keeps_cross_resource_lists_for_the_whole_sweep() -> None:
    from azure.core.credentials import AccessToken

    from shared.arm import ArmReader
    from shared.arm.reader import SWEEP_LIST_CACHE_SECONDS

    class _Token:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken("t", 2**31)

    reader = ArmReader("https://management.example", _Token(), cache_seconds=60)
    assert reader.list_cache_seconds == 60
    patient = reader.patient()
    assert patient.list_cache_seconds == SWEEP_LIST_CACHE_SECONDS > 3600
    assert patient.cache_seconds == 60  # resource groups still expire as before
