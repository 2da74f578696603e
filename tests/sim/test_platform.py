"""What every ARM client asks first, in the published shapes: the tenants the caller can see
(Tenants_List) and a subscription's locations (Subscriptions_ListLocations)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sim.fixture import SimHandle, running_sim


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with running_sim(estate="demo", seed=0) as handle:
        yield handle


def _get(sim: SimHandle, path: str, api_version: str = "2022-12-01") -> requests.Response:
    return requests.get(
        f"{sim.arm_url}{path}",
        params={"api-version": api_version},
        headers={"Authorization": "Bearer phiguard-local-dev-token"},
        verify=sim.ca_cert,
        timeout=10,
    )


def test_tenants_list_names_the_estates_tenant(sim: SimHandle) -> None:
    response = _get(sim, "/tenants")
    assert response.status_code == 200
    (tenant,) = response.json()["value"]
    assert tenant["id"] == f"/tenants/{tenant['tenantId']}"
    assert tenant["tenantCategory"] == "Home"
    subscription = _get(sim, f"/subscriptions/{sim.subscriptions[0]}").json()
    assert subscription["tenantId"] == tenant["tenantId"]


def test_a_subscriptions_locations_and_an_unknown_one(sim: SimHandle) -> None:
    response = _get(sim, f"/subscriptions/{sim.subscriptions[0]}/locations")
    assert response.status_code == 200
    locations: list[dict[str, Any]] = response.json()["value"]
    names = {loc["name"] for loc in locations}
    assert {"eastus", "eastus2", "westeurope"} <= names
    for loc in locations:
        assert loc["id"] == f"/subscriptions/{sim.subscriptions[0]}/locations/{loc['name']}"
        assert loc["type"] == "Region" and loc["metadata"]["regionType"] == "Physical"
    missing = _get(sim, "/subscriptions/00000000-0000-0000-0000-00000000dead/locations")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "SubscriptionNotFound"
    assert _get(sim, "/tenants", api_version="").status_code == 400  # api-version still required


def test_azure_identity_gets_a_managed_identity_token_and_reads_arm_with_it(
    sim: SimHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.identity import ManagedIdentityCredential

    from sim import identity

    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{sim.arm_url}{identity.PATH}")
    monkeypatch.setenv("IDENTITY_HEADER", identity.IDENTITY_HEADER)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sim.ca_cert)
    token = ManagedIdentityCredential().get_token("https://management.azure.com/.default")
    assert token.token and token.expires_on > 0
    response = requests.get(
        f"{sim.arm_url}/subscriptions/{sim.subscriptions[0]}",
        params={"api-version": "2022-12-01"},
        headers={"Authorization": f"Bearer {token.token}"},
        verify=sim.ca_cert,
        timeout=10,
    )
    assert response.status_code == 200
    refused = requests.get(
        f"{sim.arm_url}{identity.PATH}",
        params={"resource": "https://management.azure.com", "api-version": "2019-08-01"},
        verify=sim.ca_cert,
        timeout=10,
    )
    assert refused.status_code == 400  # no X-IDENTITY-HEADER


def test_azure_identity_gets_a_token_from_the_instance_metadata_service(
    sim: SimHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IMDS, a VM's managed identity: azure-identity's ManagedIdentityCredential with no App
    Service variables asks IMDS, whose host AZURE_POD_IDENTITY_AUTHORITY_HOST moves to the sim."""
    from azure.identity import ManagedIdentityCredential

    from sim import identity

    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", sim.arm_url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sim.ca_cert)
    token = ManagedIdentityCredential().get_token("https://management.azure.com/.default")
    assert token.token == identity.TOKEN and token.expires_on > 0

    def imds(headers: dict[str, str]) -> requests.Response:
        return requests.get(
            f"{sim.arm_url}{identity.IMDS_PATH}",
            params={"api-version": "2018-02-01", "resource": "https://vault.azure.net"},
            headers=headers,
            verify=sim.ca_cert,
            timeout=10,
        )

    answer = imds({"Metadata": "true"}).json()
    assert answer["resource"] == "https://vault.azure.net" and answer["token_type"] == "Bearer"
    assert {"expires_in", "expires_on", "not_before", "client_id"} <= set(answer)
    refused = imds({})
    assert refused.status_code == 400
    assert refused.json()["error_description"] == "Required metadata header not specified"
