"""The identity and platform endpoints against their published shapes: the App Service managed
identity protocol (2019-08-01), Tenants_List and Subscriptions_ListLocations (2022-12-01)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from sim import identity
from sim.fixture import SimHandle, running_sim
from tests.sim.helpers import TOKEN


def _token(sim: SimHandle, **params: str) -> requests.Response:
    return requests.get(
        f"{sim.arm_url}{identity.PATH}",
        params={"resource": "https://management.azure.com", "api-version": "2019-08-01", **params},
        headers={"X-IDENTITY-HEADER": identity.IDENTITY_HEADER},
        verify=sim.ca_cert,
        timeout=10,
    )


def _arm(sim: SimHandle, path: str) -> requests.Response:
    return requests.get(
        f"{sim.arm_url}{path}",
        params={"api-version": "2022-12-01"},
        headers=TOKEN,
        verify=sim.ca_cert,
        timeout=10,
    )


def test_app_service_token_has_the_documented_properties(sim: SimHandle) -> None:
    """access_token, client_id, expires_on, not_before, resource, token_type; times as strings
    of epoch seconds (learn.microsoft.com/azure/app-service/overview-managed-identity)."""
    before = int(time.time())
    body = _token(sim).json()
    assert {"access_token", "client_id", "expires_on", "not_before", "resource", "token_type"} <= (
        body.keys()
    )
    assert body["token_type"] == "Bearer" and body["resource"] == "https://management.azure.com"
    assert isinstance(body["expires_on"], str) and isinstance(body["not_before"], str)
    assert before - 1 <= int(body["not_before"]) <= int(body["expires_on"]) - 600


@pytest.mark.parametrize(
    "chosen",
    [
        {"principal_id": "00000000-0000-0000-0000-0000000000a1"},
        {"object_id": "00000000-0000-0000-0000-0000000000a1"},
        {
            "mi_res_id": "/subscriptions/s/resourceGroups/rg/providers/"
            "Microsoft.ManagedIdentity/userAssignedIdentities/phiguard"
        },
        {"client_id": "00000000-0000-0000-0000-0000000000c1"},
    ],
)
def test_one_user_assigned_identity_selector_is_accepted(
    sim: SimHandle, chosen: dict[str, str]
) -> None:
    resp = _token(sim, **chosen)
    assert resp.status_code == 200, resp.text
    if "client_id" in chosen:
        assert resp.json()["client_id"] == chosen["client_id"]


def test_two_identity_selectors_in_one_request_are_refused(sim: SimHandle) -> None:
    """client_id "Can't be used on a request that includes principal_id, mi_res_id, or
    object_id" (the 2019-08-01 protocol's parameter table)."""
    resp = _token(
        sim,
        client_id="00000000-0000-0000-0000-0000000000c1",
        mi_res_id="/subscriptions/s/resourceGroups/rg/providers/"
        "Microsoft.ManagedIdentity/userAssignedIdentities/phiguard",
    )
    assert resp.status_code == 400
    body = resp.json()
    assert body["error"] == "invalid_request"
    assert "client_id" in body["error_description"] and "mi_res_id" in body["error_description"]


def test_the_home_tenant_has_the_published_tenant_fields(sim: SimHandle) -> None:
    """TenantIdDescription as GetTenants.json shows a Home tenant: id, tenantId, countryCode,
    displayName, domains, tenantCategory, defaultDomain, tenantType."""
    (tenant,) = _arm(sim, "/tenants").json()["value"]
    assert {
        "id",
        "tenantId",
        "countryCode",
        "displayName",
        "domains",
        "tenantCategory",
        "defaultDomain",
        "tenantType",
    } <= tenant.keys()
    assert tenant["tenantCategory"] == "Home" and tenant["tenantType"] == "AAD"
    assert isinstance(tenant["domains"], list) and tenant["defaultDomain"] in tenant["domains"]


def test_locations_carry_the_published_metadata(sim: SimHandle) -> None:
    """Location / LocationMetadata (subscriptions.json 2022-12-01; GetLocations.json): geography
    and geographyGroup, coordinates as strings, physicalLocation, pairedRegion with ids."""
    sub = sim.subscriptions[0]
    locations: list[dict[str, Any]] = _arm(sim, f"/subscriptions/{sub}/locations").json()["value"]
    by_name = {loc["name"]: loc for loc in locations}
    east = by_name["eastus"]
    assert east["regionalDisplayName"] == "(US) East US"
    assert east["metadata"] == {
        "regionType": "Physical",
        "regionCategory": "Recommended",
        "geography": "United States",
        "geographyGroup": "US",
        "longitude": "-79.8164",
        "latitude": "37.3719",
        "physicalLocation": "Virginia",
        "pairedRegion": [{"name": "westus", "id": f"/subscriptions/{sub}/locations/westus"}],
    }
    assert by_name["westeurope"]["metadata"]["geography"] == "Europe"
    for loc in locations:
        meta = loc["metadata"]
        assert meta["geography"] and meta["geographyGroup"] and meta["physicalLocation"]
        float(meta["latitude"]), float(meta["longitude"])
        for paired in meta["pairedRegion"]:
            assert paired["id"] == f"/subscriptions/{sub}/locations/{paired['name']}"


def test_every_region_a_generated_estate_uses_is_a_listed_location() -> None:
    with running_sim(estate="60:6", seed=1) as sim:
        assert sim.server is not None and sim.server.tenant is not None
        used = {
            str(doc["location"]).replace(" ", "").lower()
            for doc in sim.server.tenant.arm.documents()
            if doc.get("location") and str(doc["location"]).lower() != "global"
        }
        listed = {
            loc["name"]
            for loc in _arm(sim, f"/subscriptions/{sim.subscriptions[0]}/locations").json()["value"]
        }
        assert used and used <= listed, used - listed


def test_the_dev_credential_serves_acs_email_on_a_loopback_endpoint(sim: SimHandle) -> None:
    """phiguard hands LoopbackDevCredential to the ACS Email client when the ACS endpoint is the
    sim's (shared.context); the SDK asks for its fixed audience scope
    https://communication.azure.com//.default, which names no endpoint, so the credential must
    answer it, while still refusing a real Azure endpoint's scope."""
    from azure.communication.email import EmailClient

    from shared.credentials import LoopbackDevCredential

    credential = LoopbackDevCredential()
    email = EmailClient(sim.acs_endpoint, credential, connection_verify=sim.ca_cert, retry_total=0)
    message = {
        "senderAddress": "DoNotReply@phiguard.example",
        "content": {"subject": "HIPAA finding", "plainText": "A finding"},
        "recipients": {"to": [{"address": "secops@contoso.example"}]},
    }
    result = email.begin_send(message, polling_interval=0.01).result(timeout=30)
    assert result["status"] == "Succeeded"
    with pytest.raises(ValueError, match="non-loopback"):
        credential.get_token("https://management.azure.com/.default")
    assert credential.get_token(f"{sim.arm_url}/.default").token
