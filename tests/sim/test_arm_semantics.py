"""ARM's request semantics, checked over raw HTTP: versions, auth, errors, writes, paging, LROs."""

from __future__ import annotations

import time
from typing import Any

import requests

from sim import ids
from sim.fixture import SimHandle, running_sim
from tests.sim.conftest import PAGE_SIZE
from tests.sim.helpers import TOKEN, all_of, arm, error_code, first, url

RULE = {
    "properties": {
        "protocol": "Tcp",
        "sourceAddressPrefix": "Internet",
        "sourcePortRange": "*",
        "destinationAddressPrefix": "*",
        "destinationPortRange": "22",
        "access": "Allow",
        "priority": 310,
        "direction": "Inbound",
    }
}


def _nsg(sim: SimHandle) -> dict[str, Any]:
    return first(sim, "Microsoft.Network/networkSecurityGroups")


def test_api_version_is_required_and_must_be_well_formed(sim: SimHandle) -> None:
    nsg = _nsg(sim)
    missing = requests.get(sim.arm_url + nsg["id"], headers=TOKEN, verify=sim.ca_cert, timeout=10)
    assert missing.status_code == 400 and error_code(missing) == "MissingApiVersionParameter"
    bad = arm(sim, "GET", nsg["id"], api_version="latest")
    assert bad.status_code == 400 and error_code(bad) == "InvalidApiVersionParameter"
    # Well formed, but not a version Microsoft.Network registers (a Monitor one).
    foreign = arm(sim, "GET", nsg["id"], api_version="2021-05-01-preview")
    assert foreign.status_code == 400 and error_code(foreign) == "NoRegisteredProviderFound"
    assert arm(sim, "GET", nsg["id"], api_version="2016-09-01").status_code == 200


def test_a_bearer_token_is_required(sim: SimHandle) -> None:
    target = url(sim, _nsg(sim)["id"])
    none = requests.get(target, verify=sim.ca_cert, timeout=10)
    assert none.status_code == 401 and error_code(none) == "AuthenticationFailed"
    assert none.headers["WWW-Authenticate"].startswith("Bearer ")
    basic = requests.get(
        target, headers={"Authorization": "Basic eDp5"}, verify=sim.ca_cert, timeout=10
    )
    assert basic.status_code == 401
    empty = requests.get(
        target, headers={"Authorization": "Bearer "}, verify=sim.ca_cert, timeout=10
    )
    assert empty.status_code == 401


def test_ids_are_case_insensitive(sim: SimHandle) -> None:
    nsg = _nsg(sim)
    lower = arm(sim, "GET", nsg["id"].lower().replace("resourcegroups", "resourcegroups"))
    upper = arm(sim, "GET", nsg["id"].upper())
    assert lower.status_code == upper.status_code == 200
    assert lower.json() == upper.json() == nsg


def test_not_found_codes_follow_arm(sim: SimHandle) -> None:
    nsg = _nsg(sim)
    sub = nsg["id"].split("/")[2]
    rg_id = "/".join(nsg["id"].split("/")[:5])
    missing = arm(sim, "GET", f"{rg_id}/providers/Microsoft.Network/networkSecurityGroups/nope")
    assert missing.status_code == 404 and error_code(missing) == "ResourceNotFound"
    assert "networkSecurityGroups/nope" in missing.json()["error"]["message"]
    no_group = arm(
        sim,
        "GET",
        f"/subscriptions/{sub}/resourceGroups/nope/providers/Microsoft.Network/networkSecurityGroups/x",
    )
    assert no_group.status_code == 404 and error_code(no_group) == "ResourceGroupNotFound"
    no_sub = arm(
        sim, "GET", "/subscriptions/0badc0de-0000-4000-8000-000000000000/resourceGroups/rg"
    )
    assert no_sub.status_code == 404 and error_code(no_sub) == "SubscriptionNotFound"
    orphan = arm(
        sim,
        "PUT",
        f"{rg_id}/providers/Microsoft.Network/networkSecurityGroups/nope/securityRules/r1",
        RULE,
    )
    assert orphan.status_code == 404 and error_code(orphan) == "ParentResourceNotFound"
    group = arm(sim, "GET", f"/subscriptions/{sub}/resourceGroups/nope", api_version="2021-04-01")
    assert group.status_code == 404 and error_code(group) == "ResourceGroupNotFound"


def test_put_creates_then_replaces_patch_merges_delete_removes(sim: SimHandle) -> None:
    vault = first(sim, "Microsoft.KeyVault/vaults")
    rg_id = "/".join(vault["id"].split("/")[:5])
    new_id = f"{rg_id}/providers/Microsoft.KeyVault/vaults/kv-sim-crud"
    body = {
        "location": "eastus",
        "tags": {"a": "1"},
        "properties": {
            "tenantId": vault["properties"]["tenantId"],
            "sku": {"family": "A", "name": "standard"},
            "accessPolicies": [],
        },
    }
    created = arm(sim, "PUT", new_id, body, "2024-11-01")
    assert created.status_code == 201
    assert created.json()["properties"]["provisioningState"] == "Succeeded"
    assert (
        created.json()["type"] == "Microsoft.KeyVault/vaults"
        and created.json()["name"] == "kv-sim-crud"
    )
    replaced = arm(sim, "PUT", new_id, body, "2024-11-01")
    assert replaced.status_code == 200
    patched = arm(
        sim,
        "PATCH",
        new_id,
        {"tags": {"b": "2"}, "properties": {"enableSoftDelete": True}},
        "2024-11-01",
    )
    assert patched.status_code == 200
    doc = patched.json()
    assert doc["tags"] == {"b": "2"}  # tags are replaced
    assert doc["properties"]["enableSoftDelete"] is True
    assert doc["properties"]["sku"] == {"family": "A", "name": "standard"}  # properties merged
    assert arm(sim, "GET", new_id, api_version="2024-11-01").json() == doc
    deleted = arm(sim, "DELETE", new_id, api_version="2024-11-01")
    assert deleted.status_code == 200
    assert arm(sim, "DELETE", new_id, api_version="2024-11-01").status_code == 204
    assert arm(sim, "GET", new_id, api_version="2024-11-01").status_code == 404
    no_location = arm(
        sim, "PUT", f"{rg_id}/providers/Microsoft.KeyVault/vaults/kv-x", {"properties": {}}
    )
    assert no_location.status_code == 400 and error_code(no_location) == "LocationRequired"
    bad_json = requests.put(
        url(sim, new_id), data=b"{nope", headers=TOKEN, verify=sim.ca_cert, timeout=10
    )
    assert bad_json.status_code == 400 and error_code(bad_json) == "InvalidRequestContent"


def test_etags_change_on_every_write_and_if_match_is_honoured(sim: SimHandle) -> None:
    nsg = _nsg(sim)
    first_get = arm(sim, "GET", nsg["id"])
    etag = first_get.json()["etag"]
    assert etag.startswith('W/"') and first_get.headers["ETag"] == etag
    ok = arm(sim, "PATCH", nsg["id"], {"tags": {"x": "1"}}, headers={"If-Match": etag})
    assert ok.status_code == 200
    new_etag = ok.json()["etag"]
    assert new_etag != etag
    stale = arm(sim, "PATCH", nsg["id"], {"tags": {"x": "2"}}, headers={"If-Match": etag})
    assert stale.status_code == 412 and error_code(stale) == "PreconditionFailed"
    star = arm(sim, "PATCH", nsg["id"], {"tags": {"x": "3"}}, headers={"If-Match": "*"})
    assert star.status_code == 200
    exists = arm(sim, "PUT", nsg["id"], {"location": "eastus"}, headers={"If-None-Match": "*"})
    assert exists.status_code == 412
    gone = arm(sim, "DELETE", nsg["id"] + "x", headers={"If-Match": '"whatever"'})
    assert gone.status_code == 412


def test_nsg_rules_embedded_and_child_documents_stay_consistent(sim: SimHandle) -> None:
    nsg = _nsg(sim)
    rule_id = f"{nsg['id']}/securityRules/allow-ssh-internet"
    put = arm(sim, "PUT", rule_id, RULE)
    assert put.status_code == 201
    assert put.headers["Azure-AsyncOperation"].startswith(sim.arm_url + "/subscriptions/")
    parent = arm(sim, "GET", nsg["id"]).json()
    embedded = {r["name"]: r for r in parent["properties"]["securityRules"]}
    child = arm(sim, "GET", rule_id).json()
    assert embedded["allow-ssh-internet"] == child
    assert child["etag"] == parent["etag"]  # one etag for the NSG and its rules
    listed = arm(sim, "GET", f"{nsg['id']}/securityRules").json()["value"]
    assert {r["name"] for r in listed} == set(embedded)
    # Writing the NSG without the rule removes the child document.
    parent["properties"]["securityRules"] = [
        r for r in parent["properties"]["securityRules"] if r["name"] != "allow-ssh-internet"
    ]
    assert arm(sim, "PUT", nsg["id"], parent).status_code == 200
    assert arm(sim, "GET", rule_id).status_code == 404
    # Deleting a rule removes it from the NSG's embedded list.
    other = parent["properties"]["securityRules"][0]["name"]
    deleted = arm(sim, "DELETE", f"{nsg['id']}/securityRules/{other}")
    assert deleted.status_code == 202 and "Location" in deleted.headers
    rules = arm(sim, "GET", nsg["id"]).json()["properties"]["securityRules"]
    assert other not in [r["name"] for r in rules]
    assert arm(sim, "GET", nsg["id"]).json()["properties"]["defaultSecurityRules"]


def test_diagnostic_settings_list_is_a_value_array(sim: SimHandle) -> None:
    settings = all_of(sim, "Microsoft.Insights/diagnosticSettings")
    scope = settings[0]["id"].lower().split("/providers/microsoft.insights/")[0]
    owner = [
        d for d in settings if d["id"].lower().startswith(scope + "/providers/microsoft.insights/")
    ]
    resp = arm(
        sim,
        "GET",
        scope + "/providers/Microsoft.Insights/diagnosticSettings",
        api_version="2021-05-01-preview",
    )
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"value"}
    assert sorted(d["id"] for d in body["value"]) == sorted(d["id"] for d in owner)
    # A resource with none answers an empty list.
    nsg = _nsg(sim)
    none = arm(
        sim,
        "GET",
        nsg["id"] + "/providers/Microsoft.Insights/diagnosticSettings",
        api_version="2021-05-01-preview",
    )
    assert none.status_code == 200
    missing = arm(
        sim,
        "GET",
        nsg["id"] + "x/providers/Microsoft.Insights/diagnosticSettings",
        api_version="2021-05-01-preview",
    )
    assert missing.status_code == 404


def test_lists_page_with_absolute_next_links(sim: SimHandle) -> None:
    sub = sim.subscription_id
    expected = set()
    for d in sim.server.tenant.arm.documents():  # type: ignore[union-attr]
        target = ids.parse(d["id"])
        listed = target is not None and (
            target.generic_member or (target.generic_nested and bool(d.get("location")))
        )
        if target is not None and listed and target.subscription == sub:
            expected.add(d["id"].lower())
    assert len(expected) > PAGE_SIZE
    seen: list[str] = []
    link: str | None = url(sim, f"/subscriptions/{sub}/resources", "2021-04-01")
    pages = 0
    while link:
        assert link.startswith(sim.arm_url + "/subscriptions/")
        body = requests.get(link, headers=TOKEN, verify=sim.ca_cert, timeout=10).json()
        assert len(body["value"]) <= PAGE_SIZE
        seen += [r["id"].lower() for r in body["value"]]
        link = body.get("nextLink")
        if link:
            assert "$skiptoken=" in link and "api-version=" in link
        pages += 1
    assert pages > 1
    assert len(seen) == len(set(seen))
    assert set(seen) == expected
    top = arm(
        sim,
        "GET",
        f"/subscriptions/{sub}/resources",
        api_version="2021-04-01",
        params={"$top": "2"},
    )
    assert len(top.json()["value"]) == 2 and "nextLink" in top.json()


def test_lists_by_type_group_and_filter(sim: SimHandle) -> None:
    nsgs = all_of(sim, "Microsoft.Network/networkSecurityGroups")
    sub = nsgs[0]["id"].split("/")[2]
    rg = nsgs[0]["id"].split("/")[4]
    by_sub = arm(
        sim, "GET", f"/subscriptions/{sub}/providers/Microsoft.Network/networkSecurityGroups"
    ).json()
    assert {d["id"] for d in by_sub["value"]} == {
        d["id"] for d in nsgs if d["id"].split("/")[2] == sub
    }
    assert by_sub["value"][0]["properties"]  # full documents, not the generic shape
    by_rg = arm(
        sim,
        "GET",
        f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/networkSecurityGroups",
    ).json()
    assert {d["id"] for d in by_rg["value"]} == {
        d["id"] for d in nsgs if d["id"].split("/")[4] == rg
    }
    filtered = arm(
        sim,
        "GET",
        f"/subscriptions/{sub}/resources",
        api_version="2021-04-01",
        params={"$filter": "resourceType eq 'Microsoft.Network/networkSecurityGroups'"},
    ).json()
    assert {d["id"] for d in filtered["value"]} == {d["id"] for d in by_sub["value"]}
    assert all("properties" not in d for d in filtered["value"])
    bad = arm(
        sim,
        "GET",
        f"/subscriptions/{sub}/resources",
        api_version="2021-04-01",
        params={"$filter": "foo bar"},
    )
    assert bad.status_code == 400
    groups = arm(
        sim, "GET", f"/subscriptions/{sub}/resourcegroups", api_version="2021-04-01"
    ).json()
    assert rg in {g["name"] for g in groups["value"]} or "nextLink" in groups


def test_role_assignments_list_at_above_and_below_a_scope(sim: SimHandle) -> None:
    sub = sim.subscription_id
    rg = first(sim, "Microsoft.Network/networkSecurityGroups")["id"].split("/")[4]
    definition = f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
    at_sub = f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleAssignments/aaaaaaaa-0000-4000-8000-000000000001"
    at_rg = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Authorization/roleAssignments/aaaaaaaa-0000-4000-8000-000000000002"
    for rid, principal in ((at_sub, "p-sub"), (at_rg, "p-rg")):
        put = arm(
            sim,
            "PUT",
            rid,
            {"properties": {"roleDefinitionId": definition, "principalId": principal}},
            api_version="2022-04-01",
        )
        assert put.status_code == 201, put.text

    def names(scope: str, **params: str) -> set[str]:
        out: set[str] = set()
        link: str | None = url(
            sim,
            scope + "/providers/Microsoft.Authorization/roleAssignments",
            "2022-04-01",
            **params,
        )
        while link:
            body = requests.get(link, headers=TOKEN, verify=sim.ca_cert, timeout=10).json()
            out |= {str(v["properties"]["principalId"]) for v in body["value"]}
            link = body.get("nextLink")
        return out

    rg_scope = f"/subscriptions/{sub}/resourceGroups/{rg}"
    assert {"p-sub", "p-rg"} <= names(rg_scope)
    assert "p-rg" in names(f"/subscriptions/{sub}")  # below
    assert "p-rg" not in names(f"/subscriptions/{sub}", **{"$filter": "atScope()"})
    assert names(f"/subscriptions/{sub}", **{"$filter": "principalId eq 'p-rg'"}) == {"p-rg"}
    # The reference writes "principalId eq {id}": a bare GUID is accepted as the quoted form.
    guid = "bbbbbbbb-0000-4000-8000-000000000003"
    put = arm(
        sim,
        "PUT",
        f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleAssignments/aaaaaaaa-0000-4000-8000-000000000003",
        {"properties": {"roleDefinitionId": definition, "principalId": guid}},
        api_version="2022-04-01",
    )
    assert put.status_code == 201, put.text
    assert names(f"/subscriptions/{sub}", **{"$filter": f"principalId eq {guid}"}) == {guid}
    assert names(f"/subscriptions/{sub}", **{"$filter": f"principalId eq '{guid}'"}) == {guid}


def test_storage_create_is_a_202_with_location_and_the_monitor_answers(sim: SimHandle) -> None:
    account = first(sim, "Microsoft.Storage/storageAccounts")
    rg_id = "/".join(account["id"].split("/")[:5])
    new_id = f"{rg_id}/providers/Microsoft.Storage/storageAccounts/stsimlro"
    put = arm(
        sim,
        "PUT",
        new_id,
        {"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}},
        "2025-01-01",
    )
    assert put.status_code == 202 and put.content == b""
    assert "Azure-AsyncOperation" not in put.headers
    monitor = requests.get(put.headers["Location"], headers=TOKEN, verify=sim.ca_cert, timeout=10)
    assert monitor.status_code == 200 and monitor.json()["id"] == new_id
    again = arm(
        sim,
        "PUT",
        new_id,
        {"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}},
        "2025-01-01",
    )
    assert again.status_code == 200


def test_operations_stay_in_progress_for_the_configured_duration() -> None:
    sub = "5e1b0c7e-0000-4000-8000-000000000002"
    estate = {
        "subscriptions": [{"subscriptionId": sub}],
        "documents": [
            {
                "id": f"/subscriptions/{sub}/resourceGroups/rg",
                "name": "rg",
                "type": "Microsoft.Resources/resourceGroups",
                "location": "eastus",
            }
        ],
    }
    with running_sim(estate=estate, lro_duration=0.3) as sim:
        nsg_id = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n1"
        put = arm(sim, "PUT", nsg_id, {"location": "eastus"})
        assert put.status_code == 201
        assert put.json()["properties"]["provisioningState"] == "Updating"
        assert put.headers["Retry-After"] == "1"
        status_url = put.headers["Azure-AsyncOperation"]
        running = requests.get(status_url, headers=TOKEN, verify=sim.ca_cert, timeout=10)
        assert running.json()["status"] == "InProgress" and running.headers["Retry-After"] == "1"
        time.sleep(0.4)
        done = requests.get(status_url, headers=TOKEN, verify=sim.ca_cert, timeout=10)
        assert done.json()["status"] == "Succeeded" and "endTime" in done.json()
        assert arm(sim, "GET", nsg_id).json()["properties"]["provisioningState"] == "Succeeded"
        delete = arm(sim, "DELETE", nsg_id)
        assert delete.status_code == 202
        assert arm(sim, "GET", nsg_id).status_code == 200  # still deleting
        time.sleep(0.4)
        assert arm(sim, "GET", nsg_id).status_code == 404
        rg = arm(sim, "DELETE", f"/subscriptions/{sub}/resourceGroups/rg", api_version="2021-04-01")
        assert rg.status_code == 202 and "Location" in rg.headers


def test_post_actions_answer_on_existing_resources_only(sim: SimHandle) -> None:
    account = first(sim, "Microsoft.Storage/storageAccounts")
    keys = arm(sim, "POST", account["id"] + "/listKeys", api_version="2025-01-01")
    assert keys.status_code == 200 and len(keys.json()["keys"]) == 2
    missing = arm(sim, "POST", account["id"] + "x/listKeys", api_version="2025-01-01")
    assert missing.status_code == 404


def test_resource_group_delete_cascades(sim: SimHandle) -> None:
    nsg = _nsg(sim)
    rg_id = "/".join(nsg["id"].split("/")[:5])
    resp = arm(sim, "DELETE", rg_id, api_version="2021-04-01")
    assert resp.status_code == 202
    assert arm(sim, "GET", rg_id, api_version="2021-04-01").status_code == 404
    assert arm(sim, "GET", nsg["id"]).status_code == 404
    recreated = arm(sim, "PUT", rg_id, {"location": "eastus"}, api_version="2021-04-01")
    assert recreated.status_code == 201
    assert arm(sim, "GET", nsg["id"]).status_code == 404


def test_every_demo_document_comes_back_from_get(sim: SimHandle) -> None:
    for doc in sim.server.tenant.arm.documents():  # type: ignore[union-attr]
        resp = arm(sim, "GET", doc["id"])  # at a version the document's type registers
        assert resp.status_code == 200, doc["id"]
        assert resp.json() == doc


def test_role_definitions_answer_at_every_scope(sim: SimHandle) -> None:
    definition = first(sim, "Microsoft.Authorization/roleDefinitions")
    name = definition["name"]
    sub = sim.subscription_id
    for scope in ("", f"/subscriptions/{sub}", f"/subscriptions/{sub}/resourceGroups/any"):
        rid = f"{scope}/providers/Microsoft.Authorization/roleDefinitions/{name}"
        resp = arm(sim, "GET", rid, api_version="2022-04-01")
        if scope.endswith("/any"):
            assert resp.status_code == 404  # the group does not exist
            continue
        assert resp.status_code == 200, resp.text
        assert resp.json()["id"] == rid
        assert resp.json()["properties"] == definition["properties"]


def test_the_generic_list_holds_tracked_child_resources_named_by_their_parents(
    sim: SimHandle,
) -> None:
    """ARM's Resources_List holds nested tracked resources (a SQL database, as
    ``server/database``) but no proxy children (security rules, TDE documents)."""
    rows: list[dict[str, object]] = []
    for sub in sim.server.tenant.subscriptions:  # type: ignore[union-attr]
        link: str | None = url(sim, f"/subscriptions/{sub}/resources", "2021-04-01")
        while link:
            body = requests.get(link, headers=TOKEN, verify=sim.ca_cert, timeout=10).json()
            rows += body["value"]
            link = body.get("nextLink")
    databases = [r for r in rows if str(r["type"]).lower() == "microsoft.sql/servers/databases"]
    assert databases
    for row in databases:
        server = str(row["id"]).split("/servers/")[1].split("/")[0]
        assert str(row["name"]).startswith(server + "/"), row["name"]
    types = {str(r["type"]).lower() for r in rows}
    assert "microsoft.network/networksecuritygroups/securityrules" not in types
    assert "microsoft.sql/servers/databases/transparentdataencryption" not in types


def test_types_without_a_patch_in_their_api_refuse_one(sim: SimHandle) -> None:
    """SecurityRules, Subnets and DiagnosticSettings publish Get / CreateOrUpdate / Delete /
    List only: a change is a PUT of the whole document, and a PATCH changes nothing."""
    nsg = _nsg(sim)
    rule_id = f"{nsg['id']}/securityRules/no-patch"
    assert arm(sim, "PUT", rule_id, RULE).status_code == 201
    before = arm(sim, "GET", rule_id).json()
    patched = arm(sim, "PATCH", rule_id, {"properties": {"access": "Deny"}})
    assert patched.status_code == 405 and error_code(patched) == "MethodNotAllowed"
    assert arm(sim, "GET", rule_id).json() == before
    setting = all_of(sim, "Microsoft.Insights/diagnosticSettings")[0]
    refused = arm(sim, "PATCH", setting["id"], {"properties": {"logs": []}}, "2021-05-01-preview")
    assert refused.status_code == 405
