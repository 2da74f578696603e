"""The Key Vault data plane of the simulated tenant (issue 15): keys and secrets listed with their
attributes, a key's public part and rotation policy, no secret values, Key Vault's auth
challenge, api-version and paging rules."""

from __future__ import annotations

from typing import Any

import requests

from sim.fixture import SimHandle
from tests.sim.helpers import TOKEN, all_of, arm


def _vault(sim: SimHandle, rbac: bool | None = None) -> dict[str, Any]:
    vaults = all_of(sim, "Microsoft.KeyVault/vaults")
    if rbac is None:
        return vaults[0]
    return next(v for v in vaults if bool(v["properties"]["enableRbacAuthorization"]) is rbac)


def _get(
    sim: SimHandle,
    path: str,
    api_version: str | None = "7.5",
    headers: dict[str, str] | None = None,
    **params: str,
) -> requests.Response:
    query = {**({"api-version": api_version} if api_version else {}), **params}
    return requests.get(
        f"{sim.arm_url}/keyvault{path}",
        params=query,
        headers=TOKEN if headers is None else headers,
        verify=sim.ca_cert,
        timeout=10,
    )


def test_without_a_bearer_the_vault_answers_the_challenge(sim: SimHandle) -> None:
    name = _vault(sim)["name"]
    resp = _get(sim, f"/{name}/keys", headers={})
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "Unauthorized"
    tenant = sim.server.tenant.arm.tenant_id  # type: ignore[union-attr]
    assert resp.headers["WWW-Authenticate"] == (
        f'Bearer authorization="https://login.microsoftonline.com/{tenant}", '
        'resource="https://vault.azure.net"'
    )


def test_api_version_is_required_and_known(sim: SimHandle) -> None:
    name = _vault(sim)["name"]
    missing = _get(sim, f"/{name}/keys", api_version=None)
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "BadParameter"
    unknown = _get(sim, f"/{name}/keys", api_version="2099-01-01")
    assert unknown.status_code == 400
    assert "2099-01-01" in unknown.json()["error"]["message"]
    for version in ("7.4", "7.5", "7.6", "2016-10-01"):
        assert _get(sim, f"/{name}/keys", api_version=version).status_code == 200


def test_keys_are_listed_with_attributes_and_differ_per_vault(sim: SimHandle) -> None:
    vaults = all_of(sim, "Microsoft.KeyVault/vaults")
    seen: dict[str, list[str]] = {}
    expiring = unexpiring = 0
    for vault in vaults:
        resp = _get(sim, f"/{vault['name']}/keys")
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["nextLink"] is None
        assert 2 <= len(body["value"]) <= 4
        for item in body["value"]:
            assert item["kid"].startswith(f"https://{vault['name']}.vault.azure.net/keys/")
            attributes = item["attributes"]
            assert attributes["enabled"] is True
            purge_protected = vault["properties"].get("enablePurgeProtection") is True
            assert attributes["recoveryLevel"] == (
                "Recoverable" if purge_protected else "Recoverable+Purgeable"
            )
            assert attributes["recoverableDays"] == 90
            assert isinstance(attributes["created"], int)
            assert attributes["updated"] >= attributes["created"]
            if "exp" in attributes:
                expiring += 1
                assert attributes["exp"] > attributes["created"]
            else:
                unexpiring += 1
        seen[vault["name"]] = [i["kid"] for i in body["value"]]
        assert _get(sim, f"/{vault['name']}/keys").json() == body  # deterministic
    assert expiring and unexpiring
    assert len({tuple(kids) for kids in seen.values()}) == len(vaults)


def test_lists_page_with_maxresults_and_next_link(sim: SimHandle) -> None:
    name = _vault(sim)["name"]
    for kind in ("keys", "secrets"):
        whole = _get(sim, f"/{name}/{kind}").json()["value"]
        paged: list[dict[str, Any]] = []
        resp = _get(sim, f"/{name}/{kind}", maxresults="1")
        pages = 0
        while True:
            body = resp.json()
            assert len(body["value"]) <= 1
            paged += body["value"]
            pages += 1
            if not body["nextLink"]:
                break
            assert "$skiptoken=" in body["nextLink"]
            resp = requests.get(body["nextLink"], headers=TOKEN, verify=sim.ca_cert, timeout=10)
            assert resp.status_code == 200, resp.text
        assert paged == whole and pages == len(whole)
    too_many = _get(sim, f"/{name}/keys", maxresults="26")
    assert too_many.status_code == 400 and too_many.json()["error"]["code"] == "BadParameter"


def test_a_key_shows_its_public_part_and_rotation_policy(sim: SimHandle) -> None:
    name = _vault(sim)["name"]
    listed = _get(sim, f"/{name}/keys").json()["value"]
    policies = []
    for item in listed:
        key_name = item["kid"].rsplit("/", 1)[-1]
        resp = _get(sim, f"/{name}/keys/{key_name}")
        assert resp.status_code == 200
        bundle = resp.json()
        key = bundle["key"]
        assert key["kty"] == "RSA" and key["e"] == "AQAB" and len(key["n"]) > 300
        assert "encrypt" in key["key_ops"]
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & key.keys()  # no private material
        assert bundle["attributes"] == {**item["attributes"], "recoverableDays": 90}
        version = key["kid"].rsplit("/", 1)[-1]
        assert key["kid"] == f"{item['kid']}/{version}"
        assert _get(sim, f"/{name}/keys/{key_name}/{version}").json() == bundle
        assert _get(sim, f"/{name}/keys/{key_name}/0000").status_code == 404
        versions = _get(sim, f"/{name}/keys/{key_name}/versions").json()["value"]
        assert [v["kid"] for v in versions] == [key["kid"]]
        policy = _get(sim, f"/{name}/keys/{key_name}/rotationpolicy").json()
        assert policy["id"] == f"{item['kid']}/rotationpolicy"
        policies.append({a["action"]["type"] for a in policy["lifetimeActions"]})
    assert {"Rotate", "Notify"} in policies and {"Notify"} in policies
    missing = _get(sim, f"/{name}/keys/no-such-key")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "KeyNotFound"


def test_secrets_are_listed_but_never_revealed(sim: SimHandle) -> None:
    for rbac, inner in ((False, "AccessDenied"), (True, "ForbiddenByRbac")):
        vault = _vault(sim, rbac=rbac)
        listed = _get(sim, f"/{vault['name']}/secrets").json()["value"]
        assert listed
        for item in listed:
            assert item["id"].startswith(f"https://{vault['name']}.vault.azure.net/secrets/")
            assert "value" not in item and "contentType" in item
            assert "tags" not in item  # the derived secrets have none: left out, as Key Vault does
            secret = item["id"].rsplit("/", 1)[-1]
            resp = _get(sim, f"/{vault['name']}/secrets/{secret}")
            assert resp.status_code == 403
            error = resp.json()["error"]
            assert error["code"] == "Forbidden" and error["innererror"]["code"] == inner
            assert "value" not in resp.json()
        assert any("exp" in i["attributes"] for i in listed)
        assert any("exp" not in i["attributes"] for i in listed)


def test_an_unknown_vault_or_operation_is_named(sim: SimHandle) -> None:
    resp = _get(sim, "/kv-does-not-exist/keys")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "VaultNotFound"
    assert "kv-does-not-exist" in resp.json()["error"]["message"]
    name = _vault(sim)["name"]
    assert _get(sim, f"/{name}/certificates").status_code == 404
    deleting = requests.delete(
        f"{sim.arm_url}/keyvault/{name}/keys/x",
        params={"api-version": "7.5"},
        headers=TOKEN,
        verify=sim.ca_cert,
        timeout=10,
    )
    assert deleting.status_code == 405


def test_a_vaults_arm_keys_are_the_data_planes_keys(sim: SimHandle) -> None:
    vault = _vault(sim)
    key_id = vault["id"] + "/keys/cmk-from-arm"
    body = {
        "properties": {
            "kty": "RSA-HSM",
            "keyOps": ["wrapKey", "unwrapKey"],
            "attributes": {"enabled": True, "created": 1700000000, "exp": 1800000000},
            "keyUriWithVersion": f"https://{vault['name']}.vault.azure.net/keys/cmk-from-arm/abc123",
        }
    }
    assert arm(sim, "PUT", key_id, body, api_version="2023-07-01").status_code in (200, 201)
    listed = _get(sim, f"/{vault['name']}/keys").json()["value"]
    assert [i["kid"].rsplit("/", 1)[-1] for i in listed] == ["cmk-from-arm"]
    assert listed[0]["attributes"]["exp"] == 1800000000
    bundle = _get(sim, f"/{vault['name']}/keys/cmk-from-arm").json()
    assert bundle["key"]["kid"].endswith("/keys/cmk-from-arm/abc123")
    assert bundle["key"]["kty"] == "RSA-HSM" and bundle["key"]["key_ops"] == [
        "wrapKey",
        "unwrapKey",
    ]


def test_arm_lists_the_same_keys_and_secrets_as_the_data_plane(sim: SimHandle) -> None:
    for vault in all_of(sim, "Microsoft.KeyVault/vaults"):
        for kind, id_key in (("keys", "kid"), ("secrets", "id")):
            plane = _get(sim, f"/{vault['name']}/{kind}").json()["value"]
            listed = arm(sim, "GET", f"{vault['id']}/{kind}", api_version="2023-07-01")
            assert listed.status_code == 200, listed.text
            docs = listed.json()["value"]
            uri_key = "keyUri" if kind == "keys" else "secretUri"
            assert [d["properties"][uri_key] for d in docs] == [i[id_key] for i in plane]
            for doc, item in zip(docs, plane, strict=True):
                assert doc["type"] == f"Microsoft.KeyVault/vaults/{kind}"
                assert doc["properties"]["attributes"].get("exp") == item["attributes"].get("exp")
                assert "value" not in doc["properties"]
                one = arm(sim, "GET", doc["id"], api_version="2023-07-01")
                assert one.status_code == 200 and one.json() == doc
    missing = arm(sim, "GET", f"{vault['id']}/keys/no-such-key", api_version="2023-07-01")
    assert missing.status_code == 404


def _vault_with(sim: SimHandle, name: str, **props: Any) -> dict[str, Any]:
    """A new vault like the first one, with ``props`` over its properties (ARM PUT)."""
    base = _vault(sim)
    vault_id = base["id"].rsplit("/", 1)[0] + "/" + name
    body: dict[str, Any] = {
        "location": base["location"],
        "properties": {
            key: value
            for key, value in base["properties"].items()
            if key not in ("vaultUri", "provisioningState", "privateEndpointConnections")
        }
        | props,
    }
    for key in [k for k, v in body["properties"].items() if v is None]:
        del body["properties"][key]
    resp = arm(sim, "PUT", vault_id, body, api_version="2023-07-01")
    assert resp.status_code in (200, 201), resp.text
    return dict(resp.json())


def test_recovery_level_and_days_follow_the_vaults_soft_delete_settings(sim: SimHandle) -> None:
    """KeyAttributes.recoveryLevel / recoverableDays (Key Vault 7.5 keys.json,
    DeletionRecoveryLevel): 7 <= retention < 90 is "CustomizedRecoverable", purge protection
    drops "+Purgeable", no soft delete is "Purgeable" with 0 days."""
    cases: list[tuple[str, dict[str, Any]]] = [
        (
            "kv-rl-default",
            {
                "enableSoftDelete": True,
                "softDeleteRetentionInDays": 90,
                "enablePurgeProtection": None,
            },
        ),
        (
            "kv-rl-protected",
            {
                "enableSoftDelete": True,
                "softDeleteRetentionInDays": 90,
                "enablePurgeProtection": True,
            },
        ),
        (
            "kv-rl-seven",
            {
                "enableSoftDelete": True,
                "softDeleteRetentionInDays": 7,
                "enablePurgeProtection": None,
            },
        ),
        (
            "kv-rl-seven-protected",
            {
                "enableSoftDelete": True,
                "softDeleteRetentionInDays": 7,
                "enablePurgeProtection": True,
            },
        ),
        ("kv-rl-nosoftdelete", {"enableSoftDelete": False, "enablePurgeProtection": None}),
    ]
    expected = {
        "kv-rl-default": ("Recoverable+Purgeable", 90),
        "kv-rl-protected": ("Recoverable", 90),
        "kv-rl-seven": ("CustomizedRecoverable+Purgeable", 7),
        "kv-rl-seven-protected": ("CustomizedRecoverable", 7),
        "kv-rl-nosoftdelete": ("Purgeable", 0),
    }
    for name, props in cases:
        vault = _vault_with(sim, name, **props)
        level, days = expected[name]
        # ARM's Keys_List answers the same level as the data plane.
        arm_keys = arm(sim, "GET", f"{vault['id']}/keys", api_version="2023-07-01").json()
        assert {k["properties"]["attributes"]["recoveryLevel"] for k in arm_keys["value"]} == {
            level
        }, name
        for kind in ("keys", "secrets"):
            listed = _get(sim, f"/{name}/{kind}").json()["value"]
            assert listed, (name, kind)
            for item in listed:
                assert item["attributes"]["recoveryLevel"] == level, (name, kind)
                assert item["attributes"]["recoverableDays"] == days, (name, kind)
        first_key = _get(sim, f"/{name}/keys").json()["value"][0]["kid"].rsplit("/", 1)[-1]
        bundle = _get(sim, f"/{name}/keys/{first_key}").json()
        assert bundle["attributes"]["recoveryLevel"] == level
        assert bundle["attributes"]["recoverableDays"] == days
    old = _get(sim, "/kv-rl-seven/keys", api_version="7.0").json()["value"][0]["attributes"]
    assert "recoverableDays" not in old  # added in 7.1
