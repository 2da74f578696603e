"""Issue 15, the simulated tenant's fidelity for outside ARM clients: service-default singletons,
``authsettingsV2/list``, api-version validation per type, the providers listing and
version-dependent shapes (SQL TDE, diagnostic settings)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.kernel.api_versions import BY_TYPE
from shared.kernel.related import RELATED
from sim.arm import versions
from sim.fixture import SimHandle
from tests.sim.helpers import all_of, arm, error_code


def _named(sim: SimHandle, type_name: str, name: str) -> dict[str, Any]:
    return next(d for d in all_of(sim, type_name) if d["name"] == name)


def _new_sql_database(sim: SimHandle) -> tuple[str, str]:
    """A server and a database a client creates (nothing but the parents is written)."""
    rg = f"/subscriptions/{sim.subscription_id}/resourceGroups/rg-chs-phi-prod"
    server = f"{rg}/providers/Microsoft.Sql/servers/sql-fidelity-new"
    put = arm(
        sim,
        "PUT",
        server,
        {"location": "eastus", "properties": {"administratorLogin": "fidelity"}},
        api_version="2023-08-01",
    )
    assert put.status_code in (200, 201), put.text
    database = f"{server}/databases/db-new"
    put = arm(sim, "PUT", database, {"location": "eastus"}, api_version="2023-08-01")
    assert put.status_code in (200, 201), put.text
    return server, database


# --- default singletons -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [
        (
            "/securityAlertPolicies/default",
            {"state": "Disabled", "emailAccountAdmins": False, "retentionDays": 0},
        ),
        (
            "/vulnerabilityAssessments/default",
            {
                "storageContainerPath": "",
                "recurringScans": {
                    "isEnabled": False,
                    "emailSubscriptionAdmins": True,
                    "emails": [],
                },
            },
        ),
    ],
)
def test_a_sql_server_answers_its_default_policies(
    sim: SimHandle, suffix: str, expected: dict[str, Any]
) -> None:
    server = _named(sim, "Microsoft.Sql/servers", "sql-chs-phi-records")
    resp = arm(sim, "GET", server["id"] + suffix, api_version="2023-08-01")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["id"] == server["id"] + suffix
    assert body["name"] == "default"
    assert body["type"] == "Microsoft.Sql/servers/" + suffix.split("/")[1]
    for key, value in expected.items():
        assert body["properties"][key] == value
    # An older client's version (azure-mgmt-sql 3.0.1, as Prowler pins) answers the same.
    old = arm(sim, "GET", server["id"] + suffix, api_version="2020-11-01-preview")
    assert old.status_code == 200 and old.json()["properties"] == body["properties"]


def test_database_singletons_answer_service_defaults_and_stored_ones_win(sim: SimHandle) -> None:
    server, database = _new_sql_database(sim)
    tde = arm(sim, "GET", database + "/transparentDataEncryption/current", api_version="2023-08-01")
    assert tde.status_code == 200 and tde.json()["properties"] == {"state": "Enabled"}
    protector = arm(sim, "GET", server + "/encryptionProtector/current", api_version="2023-08-01")
    assert protector.status_code == 200
    assert protector.json()["kind"] == "servicemanaged"
    assert protector.json()["properties"]["serverKeyType"] == "ServiceManaged"
    auditing = arm(sim, "GET", server + "/auditingSettings/default", api_version="2023-08-01")
    assert auditing.json()["properties"]["state"] == "Disabled"
    for suffix in ("/securityAlertPolicies/default", "/auditingSettings/default"):
        resp = arm(sim, "GET", database + suffix, api_version="2023-08-01")
        assert resp.status_code == 200 and resp.json()["properties"]["state"] == "Disabled"
    # A written document wins over the default.
    tde_path = database + "/transparentDataEncryption/current"
    off = {"properties": {"state": "Disabled"}}
    assert arm(sim, "PUT", tde_path, off, api_version="2023-08-01").status_code in (200, 201)
    resp = arm(sim, "GET", tde_path, api_version="2023-08-01")
    assert resp.json()["properties"] == {"state": "Disabled"}
    # Without the parent there is nothing to default.
    gone = arm(
        sim,
        "GET",
        server + "/databases/nosuch/transparentDataEncryption/current",
        api_version="2023-08-01",
    )
    assert gone.status_code == 404


def test_storage_services_answer_their_defaults(sim: SimHandle) -> None:
    rg = f"/subscriptions/{sim.subscription_id}/resourceGroups/rg-chs-phi-prod"
    account = f"{rg}/providers/Microsoft.Storage/storageAccounts/stfidelitynew"
    body = {"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}}
    assert arm(sim, "PUT", account, body, api_version="2025-01-01").status_code in (200, 202)
    blob = arm(sim, "GET", account + "/blobServices/default", api_version="2024-01-01")
    assert blob.status_code == 200
    assert blob.json()["properties"]["deleteRetentionPolicy"]["enabled"] is False
    for service in ("queueServices", "tableServices"):
        resp = arm(sim, "GET", f"{account}/{service}/default", api_version="2025-01-01")
        assert resp.status_code == 200
        assert resp.json()["type"] == f"Microsoft.Storage/storageAccounts/{service}"
        assert resp.json()["properties"] == {"cors": {"corsRules": []}}
    assert (
        arm(sim, "GET", account + "/queueServices/other", api_version="2025-01-01").status_code
        == 404
    )


def test_auth_settings_v2_list_is_a_get_answering_the_settings(sim: SimHandle) -> None:
    site = _named(sim, "Microsoft.Web/sites", "app-chs-storefront")
    plain = arm(sim, "GET", site["id"] + "/config/authsettingsV2", api_version="2024-04-01")
    listed = arm(sim, "GET", site["id"] + "/config/authsettingsV2/list", api_version="2024-04-01")
    assert plain.status_code == listed.status_code == 200
    assert listed.json() == plain.json()
    assert listed.json()["properties"]["platform"]["enabled"] is False


# --- api-version validation ---------------------------------------------------------------


def test_an_unregistered_version_answers_no_registered_provider_found(sim: SimHandle) -> None:
    account = _named(sim, "Microsoft.Storage/storageAccounts", "stchsphidocs")
    resp = arm(sim, "GET", account["id"], api_version="2099-01-01")
    assert resp.status_code == 400
    assert error_code(resp) == "NoRegisteredProviderFound"
    message = resp.json()["error"]["message"]
    assert message.startswith(
        f"No registered resource provider found for location '{account['location']}' and API "
        "version '2099-01-01' for type 'storageAccounts'. The supported api-versions are '"
    )
    assert "2025-01-01, " in message and "The supported locations are 'eastus" in message
    # Before any existence check, as ARM routes on the version first.
    missing = arm(sim, "GET", account["id"] + "zz", api_version="2099-01-01")
    assert error_code(missing) == "NoRegisteredProviderFound"
    # Children and extension types carry their own lists.
    child = arm(sim, "GET", account["id"] + "/blobServices/default", api_version="2017-10-01")
    assert error_code(child) == "NoRegisteredProviderFound"
    assert "for type 'storageAccounts/blobServices'" in child.json()["error"]["message"]
    diag = arm(
        sim,
        "GET",
        account["id"] + "/providers/Microsoft.Insights/diagnosticSettings",
        api_version="2025-01-01",
    )
    assert error_code(diag) == "NoRegisteredProviderFound"


def test_arm_own_types_answer_invalid_api_version(sim: SimHandle) -> None:
    sub = f"/subscriptions/{sim.subscription_id}"
    for path in ("/subscriptions", sub, f"{sub}/resourceGroups", f"{sub}/resources"):
        resp = arm(sim, "GET", path, api_version="2099-01-01")
        assert resp.status_code == 400, path
        assert error_code(resp) == "InvalidApiVersionParameter"
        assert "The supported versions are '2025-04-01,2025-03-01," in resp.text
    assert arm(sim, "GET", "/subscriptions", api_version="2016-06-01").status_code == 200
    assert error_code(arm(sim, "GET", "/tenants", api_version="2099-01-01")).startswith("Invalid")
    locations = arm(sim, "GET", f"{sub}/locations", api_version="2099-01-01")
    assert locations.status_code == 400


def test_authorization_types_are_validated(sim: SimHandle) -> None:
    path = f"/subscriptions/{sim.subscription_id}/providers/Microsoft.Authorization/roleAssignments"
    bad = arm(sim, "GET", path, api_version="2023-04-01")  # a policy version, not a role one
    assert error_code(bad) == "NoRegisteredProviderFound"
    assert "for type 'roleAssignments'" in bad.json()["error"]["message"]
    assert arm(sim, "GET", path, api_version="2022-04-01").status_code == 200
    assert arm(sim, "GET", path, api_version="2015-07-01").status_code == 200  # Custodian's SDK


def test_types_outside_the_table_and_provider_operations_still_answer(sim: SimHandle) -> None:
    sub = f"/subscriptions/{sim.subscription_id}"
    unknown = arm(
        sim, "GET", f"{sub}/providers/Microsoft.Contoso/widgets", api_version="2031-01-01"
    )
    assert unknown.status_code == 200 and unknown.json() == {"value": []}
    ops = arm(sim, "GET", "/providers/Microsoft.Storage/operations", api_version="2024-01-01")
    assert ops.status_code == 200


def test_providers_list_the_registered_versions(sim: SimHandle) -> None:
    sub = f"/subscriptions/{sim.subscription_id}"
    resp = arm(sim, "GET", f"{sub}/providers/Microsoft.Storage", api_version="2025-03-01")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["namespace"] == "Microsoft.Storage"
    assert body["registrationState"] == "Registered"
    types = {t["resourceType"]: t["apiVersions"] for t in body["resourceTypes"]}
    assert types["storageAccounts"][0] > types["storageAccounts"][-1]  # newest first
    assert "2024-01-01" in types["storageAccounts"]
    assert "storageAccounts/blobServices" in types
    everything = arm(sim, "GET", f"{sub}/providers", api_version="2025-03-01")
    namespaces = {p["namespace"] for p in everything.json()["value"]}
    assert {"Microsoft.Sql", "Microsoft.KeyVault", "Microsoft.Network"} <= namespaces
    unknown = arm(sim, "GET", f"{sub}/providers/Microsoft.Nope", api_version="2025-03-01")
    assert unknown.status_code == 404 and error_code(unknown) == "InvalidResourceNamespace"


def test_every_version_phiguard_pins_is_registered() -> None:
    pinned = [(t, v) for t, v in BY_TYPE.items()] + [
        (r.doc_type, r.api_version) for r in RELATED.values()
    ]
    outside = [(t, v) for t, v in pinned if versions.supported(t) is not None]
    assert len(outside) >= 60
    missing = [(t, v) for t, v in outside if v not in (versions.supported(t) or ())]
    assert missing == []


def test_every_outside_client_default_is_registered() -> None:
    assert len(versions.CLIENT_VERSIONS) >= 30
    for entry in versions.CLIENT_VERSIONS:
        found = versions.supported(entry.type_key)
        assert found is not None and entry.version in found, entry


# --- version-dependent shapes -------------------------------------------------------------


def test_tde_answers_status_at_2014_04_01_and_state_later(sim: SimHandle) -> None:
    tde = all_of(sim, "Microsoft.Sql/servers/databases/transparentDataEncryption")[0]
    stored = tde["properties"]["state"]
    old = arm(sim, "GET", tde["id"], api_version="2014-04-01")
    assert old.status_code == 200
    assert old.json()["properties"] == {"status": stored}
    new = arm(sim, "GET", tde["id"], api_version="2023-08-01")
    assert new.json()["properties"] == {"state": stored}
    # A write in the old shape is stored once, canonically, and read back in either.
    flipped = "Disabled" if stored == "Enabled" else "Enabled"
    put = arm(sim, "PUT", tde["id"], {"properties": {"status": flipped}}, api_version="2014-04-01")
    assert put.status_code in (200, 201) and put.json()["properties"]["status"] == flipped
    again = arm(sim, "GET", tde["id"], api_version="2021-11-01")
    assert again.json()["properties"] == {"state": flipped}


def test_old_diagnostic_settings_versions_omit_category_groups(sim: SimHandle) -> None:
    account = _named(sim, "Microsoft.Storage/storageAccounts", "stchsphidocs")
    setting = account["id"] + "/providers/Microsoft.Insights/diagnosticSettings/fidelity"
    body = {
        "properties": {
            "workspaceId": "/subscriptions/x/resourceGroups/y/providers/"
            "Microsoft.OperationalInsights/workspaces/z",
            "logs": [
                {"categoryGroup": "allLogs", "enabled": True},
                {"category": "StorageRead", "enabled": True},
            ],
            "metrics": [{"category": "Transaction", "enabled": True}],
        }
    }
    assert arm(sim, "PUT", setting, body, api_version="2021-05-01-preview").status_code == 200
    new = arm(sim, "GET", setting, api_version="2021-05-01-preview").json()
    assert [e.get("categoryGroup") for e in new["properties"]["logs"]] == ["allLogs", None]
    for version in ("2017-05-01-preview", "2016-09-01"):
        old = arm(sim, "GET", setting, api_version=version)
        assert old.status_code == 200
        assert old.json()["properties"]["logs"] == [{"category": "StorageRead", "enabled": True}]
        assert old.json()["properties"]["metrics"] == body["properties"]["metrics"]
        listed = arm(
            sim,
            "GET",
            account["id"] + "/providers/Microsoft.Insights/diagnosticSettings",
            api_version=version,
        ).json()["value"]
        for item in listed:
            assert all("categoryGroup" not in e for e in item["properties"].get("logs", []))


def test_lists_of_singleton_types_hold_the_default(sim: SimHandle) -> None:
    server, database = _new_sql_database(sim)
    for path in (
        server + "/vulnerabilityAssessments",
        server + "/securityAlertPolicies",
        server + "/auditingSettings",
        database + "/securityAlertPolicies",
    ):
        resp = arm(sim, "GET", path, api_version="2023-08-01")
        assert resp.status_code == 200, path
        assert [d["name"] for d in resp.json()["value"]] == ["default"], path
    # A written document is listed once, as written.
    put = arm(
        sim,
        "PUT",
        server + "/securityAlertPolicies/default",
        {"properties": {"state": "Enabled"}},
        api_version="2023-08-01",
    )
    assert put.status_code in (200, 201)
    listed = arm(sim, "GET", server + "/securityAlertPolicies", api_version="2023-08-01")
    assert [d["properties"]["state"] for d in listed.json()["value"]] == ["Enabled"]
    # App Service's config list is not a singleton list: no auth settings appear in it.
    site = _named(sim, "Microsoft.Web/sites", "app-chs-storefront")
    configs = arm(sim, "GET", site["id"] + "/config", api_version="2024-04-01").json()["value"]
    assert all(c["name"].lower() != "authsettingsv2" for c in configs)


def test_database_backup_and_masking_policies_answer_defaults(sim: SimHandle) -> None:
    _, database = _new_sql_database(sim)
    short = arm(
        sim, "GET", database + "/backupShortTermRetentionPolicies/default", api_version="2023-08-01"
    )
    assert short.status_code == 200 and short.json()["properties"]["retentionDays"] == 7
    # Custodian's SDK (azure-mgmt-sql 3.0.1) reads data masking at 2014-04-01, name "Default".
    masking = arm(sim, "GET", database + "/dataMaskingPolicies/Default", api_version="2014-04-01")
    assert masking.status_code == 200
    assert masking.json()["properties"]["dataMaskingState"] == "Disabled"


def test_an_sdk_client_pinned_to_an_unregistered_version_gets_arms_error(sim: SimHandle) -> None:
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.storage import StorageManagementClient

    sub = sim.subscription_id
    future = StorageManagementClient(
        sim.credential, sub, api_version="2099-01-01", **sim.client_kwargs()
    )
    with pytest.raises(HttpResponseError) as raised:
        list(future.storage_accounts.list())
    assert raised.value.status_code == 400
    assert raised.value.error is not None
    assert raised.value.error.code == "NoRegisteredProviderFound"
    # The version Prowler's and Custodian's azure-mgmt-storage 22.x send is registered.
    old = StorageManagementClient(
        sim.credential, sub, api_version="2024-01-01", **sim.client_kwargs()
    )
    expected = [d for d in all_of(sim, "Microsoft.Storage/storageAccounts") if sub in d["id"]]
    assert len(list(old.storage_accounts.list())) == len(expected)


def test_actions_are_checked_against_the_type_they_act_on(sim: SimHandle) -> None:
    account = _named(sim, "Microsoft.Storage/storageAccounts", "stchsphidocs")
    bad = arm(sim, "POST", account["id"] + "/listKeys", api_version="2021-05-01-preview")
    assert bad.status_code == 400 and error_code(bad) == "NoRegisteredProviderFound"
    assert "for type 'storageAccounts'" in bad.json()["error"]["message"]
    good = arm(sim, "POST", account["id"] + "/listKeys", api_version="2024-01-01")
    assert good.status_code == 200 and len(good.json()["keys"]) == 2


def test_a_namespace_outside_the_table_is_registered_without_types(sim: SimHandle) -> None:
    held = {
        str(d["type"]).split("/")[0]
        for d in sim.server.tenant.arm.documents()  # type: ignore[union-attr]
        if "/" in str(d.get("type", ""))
    }
    outside = sorted(
        ns for ns in held if not any(p["namespace"] == ns for p in versions.providers())
    )
    assert outside, "the demo estate holds a namespace the version table does not list"
    sub = f"/subscriptions/{sim.subscription_id}"
    resp = arm(sim, "GET", f"{sub}/providers/{outside[0]}", api_version="2025-03-01")
    assert resp.status_code == 200, resp.text
    assert resp.json()["namespace"] == outside[0]
    assert resp.json()["resourceTypes"] == []


def test_v1_auth_settings_are_the_v1_view_of_the_v2_settings(sim: SimHandle) -> None:
    enabled_seen = set()
    for site in all_of(sim, "Microsoft.Web/sites"):
        v2 = arm(sim, "GET", site["id"] + "/config/authsettingsV2", api_version="2024-04-01")
        v1 = arm(sim, "POST", site["id"] + "/config/authsettings/list", api_version="2021-01-01")
        assert v1.status_code == 200, v1.text
        props = v1.json()["properties"]
        v2_props = v2.json()["properties"]
        assert props["enabled"] == v2_props["platform"]["enabled"]
        assert props["tokenStoreEnabled"] == v2_props["login"]["tokenStore"]["enabled"]
        assert props["configVersion"] == "v2"
        assert v1.json()["id"] == site["id"] + "/config/authsettings"
        enabled_seen.add(props["enabled"])
    assert enabled_seen == {True, False}, "the demo has sites with and without Easy Auth"
