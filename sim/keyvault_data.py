"""A minimal Key Vault data plane (REST 7.x): list keys and secrets with their attributes, get a
key (public part only) and its rotation policy, and nothing that reveals a secret.

Routed at ``/keyvault/{vault-name}/...`` (the Host ``{vault}.vault.azure.net`` of the real
service maps to that prefix). Operations, in the published shapes of Key Vault 7.4 / 7.5:

* ``GET /keys`` (GetKeys): ``{"value": [{kid, attributes, tags[, managed]}], "nextLink"}``;
  ``maxresults`` 1–25 (25 by default), paging with an absolute ``nextLink`` carrying
  ``$skiptoken`` (on the vault's own host, ``https://{vault}.vault.azure.net:443/...``, when the
  request came by that name);
* every item's ``attributes.recoveryLevel`` and ``recoverableDays`` follow the vault's
  soft-delete retention and purge protection (:func:`recovery`);
* ``GET /keys/{name}`` and ``/keys/{name}/{version}`` (GetKey): ``{key: {kid, kty, key_ops, n,
  e}, attributes, tags}`` — the public modulus only (a stand-in: deterministic bytes, not a real
  RSA modulus); ``GET /keys/{name}/versions`` (GetKeyVersions);
* ``GET /keys/{name}/rotationpolicy`` (GetKeyRotationPolicy);
* ``GET /secrets`` (GetSecrets): ``{"value": [{id, attributes, tags, contentType}]}``, paged the
  same way, and ``GET /secrets/{name}/versions``;
* ``GET /secrets/{name}[/{version}]`` (GetSecret) answers 403 Forbidden with Key Vault's error
  body — an access-policy vault names the missing ``secrets get`` permission, an RBAC vault
  answers ``ForbiddenByRbac``: the simulated tenant holds no secret values (least privilege).

Authentication as Key Vault does it: a request without a bearer token answers 401 with
``WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/{tenant}",
resource="https://vault.azure.net"`` (the Azure SDK's challenge flow reads it, then retries
with a token); any bearer is accepted, as the simulated ARM does. ``api-version`` is required
(:data:`API_VERSIONS`). A vault that does not exist would be a DNS failure in reality; here it
answers 404 ``VaultNotFound`` naming the vault.

Where the keys and secrets come from: :mod:`sim.arm.vault_items` (the vault's ARM children, else
a deterministic set per vault that ARM's ``vaults/{v}/keys`` and ``vaults/{v}/secrets`` answer
too). Nothing is stored: a generated 8,000-resource estate has keys and secrets in every vault.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote

from sim.arm import vault_items
from sim.arm.vault_items import VAULTS, Item, recovery
from sim.store import Store

Reply = tuple[int, list[tuple[str, str]], bytes, bool]
Doc = dict[str, Any]

API_VERSIONS = frozenset(
    {"2015-06-01", "2016-10-01", "7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01"}
)
LATEST = "7.5"
VAULT_RESOURCE = "https://vault.azure.net"
VAULT_HOST_SUFFIX = ".vault.azure.net"
MAX_RESULTS = 25


def _reply(status: int, body: Any, extra: list[tuple[str, str]] | None = None) -> Reply:
    headers = [("Content-Type", "application/json; charset=utf-8"), *(extra or [])]
    return status, headers, json.dumps(body).encode("utf-8"), False


def _error(status: int, code: str, message: str, inner: str | None = None) -> Reply:
    error: Doc = {"code": code, "message": message}
    if inner:
        error["innererror"] = {"code": inner}
    return _reply(status, {"error": error})


class KeyVaultDataService:
    """The data plane of every vault in the simulated tenant's ARM store."""

    def __init__(
        self, base_url: str, store: Callable[[], Store], tenant_id: Callable[[], str]
    ) -> None:
        self.root = base_url.rstrip("/") + "/keyvault"
        self._store = store
        self._tenant = tenant_id

    def clear(self) -> None:
        """Nothing to forget: every answer is derived from the ARM store."""

    # --- routing ----------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        """``path`` is ``/{vault}/...`` (the part after ``/keyvault``)."""
        params = {k.lower(): v for k, v in parse_qsl(query, keep_blank_values=True)}
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            challenge = (
                f'Bearer authorization="https://login.microsoftonline.com/{self._tenant()}", '
                f'resource="{VAULT_RESOURCE}"'
            )
            status, out, data, reset = _error(
                401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token."
            )
            return status, [*out, ("WWW-Authenticate", challenge)], data, reset
        version = params.get("api-version", "")
        if not version:
            return _error(400, "BadParameter", "The 'api-version' query parameter is required.")
        if version not in API_VERSIONS:
            return _error(
                400,
                "BadParameter",
                f"The specified version ({version}) is not recognized. Consider using the latest "
                f"supported version ({LATEST}).",
            )
        segs = [s for s in path.split("/") if s]
        if not segs:
            return _error(404, "NotFound", "No vault named in the path (/keyvault/{vault}/...).")
        vault = self._vault(segs[0])
        if vault is None:
            return _error(
                404,
                "VaultNotFound",
                f"The vault '{segs[0]}' does not exist in the simulated tenant (in Azure, the "
                f"host {segs[0]}.vault.azure.net would not resolve).",
            )
        if method != "GET":
            return _error(
                405, "MethodNotAllowed", f"{method} is not supported by the simulated data plane."
            )
        # A nextLink names the host the request came to: the vault's own (through sim.proxy,
        # as the service writes it: https://{vault}.vault.azure.net:443/keys?...), else the sim.
        host = headers.get("host", "").partition(":")[0].strip().lower().rstrip(".")
        if host.endswith(VAULT_HOST_SUFFIX):
            base = f"https://{host}:443"
        else:
            base = f"{self.root}/{quote(str(vault.get('name', '')))}"
        return self._route(vault, segs[1:], params, version, base)

    def _route(
        self, vault: Doc, segs: list[str], params: dict[str, str], version: str, base: str
    ) -> Reply:
        kind = segs[0].lower() if segs else ""
        if kind not in ("keys", "secrets"):
            return _error(404, "NotFound", f"The operation '/{'/'.join(segs)}' is not supported.")
        items = self._keys(vault) if kind == "keys" else self._secrets(vault)
        rest = segs[1:]
        if not rest:
            return self._list(vault, kind, items, params, version, "", base)
        found = next((i for i in items if i.name.lower() == rest[0].lower()), None)
        noun = "Key" if kind == "keys" else "Secret"
        if found is None:
            return _error(
                404,
                f"{noun}NotFound",
                f"A {noun.lower()} with (name/id) {rest[0]} was not found in this key vault. If "
                "you recently deleted this key you may be able to recover it using the correct "
                "recovery command. For help resolving this issue, please see "
                "https://go.microsoft.com/fwlink/?linkid=2125182",
            )
        tail = [s.lower() for s in rest[1:]]
        if tail == ["versions"]:
            return self._list(
                vault, kind, [found], params, version, f"/{found.name}/versions", base
            )
        if kind == "secrets":
            if len(tail) > 1 or (tail and tail[0] != found.version):
                return self._secret_missing(rest)
            return self._forbidden(vault, found)
        if tail == ["rotationpolicy"]:
            return _reply(200, self._rotation_policy(vault, found))
        if not tail or tail == [found.version]:
            return _reply(200, self._key_bundle(vault, found))
        return _error(
            404,
            "KeyNotFound",
            f"A key with (name/id) {found.name}/{'/'.join(rest[1:])} was not found in this key "
            "vault.",
        )

    # --- the vault and its items --------------------------------------------------------------

    def _vault(self, name: str) -> Doc | None:
        store = self._store()
        lowered = name.lower()
        for k in store.keys(store.by_type, VAULTS):
            entry = store.docs.get(k)
            if entry is not None and (entry.target.name or "").lower() == lowered:
                return entry.doc
        return None

    def _keys(self, vault: Doc) -> list[Item]:
        return vault_items.items(self._store(), vault, "keys")

    def _secrets(self, vault: Doc) -> list[Item]:
        return vault_items.items(self._store(), vault, "secrets")

    def _uri(self, vault: Doc) -> str:
        return vault_items.vault_uri(vault)

    # --- answers ------------------------------------------------------------------------------

    def _attributes(self, vault: Doc, item: Item, version: str) -> Doc:
        attributes = vault_items.item_attributes(item)
        level, days = recovery(vault)
        attributes["recoveryLevel"] = level
        if version not in ("2015-06-01", "2016-10-01", "7.0"):
            attributes["recoverableDays"] = days  # since 7.1
        return attributes

    def _list(
        self,
        vault: Doc,
        kind: str,
        items: list[Item],
        params: dict[str, str],
        version: str,
        suffix: str,
        base: str,
    ) -> Reply:
        raw_max = params.get("maxresults", "")
        try:
            size = int(raw_max) if raw_max else MAX_RESULTS
        except ValueError:
            size = 0
        if not 1 <= size <= MAX_RESULTS:
            return _error(
                400,
                "BadParameter",
                f"Invalid value '{raw_max}' for maxresults: it must be between 1 and "
                f"{MAX_RESULTS}.",
            )
        try:
            offset = int(params.get("$skiptoken", "0") or 0)
        except ValueError:
            return _error(400, "BadParameter", "The $skiptoken is invalid.")
        uri = self._uri(vault)
        page = items[offset : offset + size]
        value = []
        for item in page:
            shown = f"{uri}/{kind}/{item.name}"
            if suffix:
                shown += f"/{item.version}"
            entry: Doc = {
                "kid" if kind == "keys" else "id": shown,
                "attributes": self._attributes(vault, item, version),
            }
            if item.tags:  # the service leaves out tags an item has none of (GetSecrets-example)
                entry["tags"] = dict(item.tags)
            if kind == "secrets":
                entry["contentType"] = item.content_type
            value.append(entry)
        next_link = None
        if offset + size < len(items):
            next_link = (
                f"{base}/{kind}{suffix}?api-version={version}"
                f"&$skiptoken={offset + size}&maxresults={size}"
            )
        return _reply(200, {"value": value, "nextLink": next_link})

    def _key_bundle(self, vault: Doc, item: Item) -> Doc:
        modulus = b"".join(
            vault_items.seed(str(vault.get("id")), item.name, str(n)) for n in range(8)
        )
        return {
            "key": {
                "kid": f"{self._uri(vault)}/keys/{item.name}/{item.version}",
                "kty": item.kty,
                "key_ops": list(item.key_ops),
                "n": base64.urlsafe_b64encode(b"\xc1" + modulus[1:]).rstrip(b"=").decode(),
                "e": "AQAB",
            },
            "attributes": self._attributes(vault, item, "7.5"),
            **({"tags": dict(item.tags)} if item.tags else {}),
        }

    def _rotation_policy(self, vault: Doc, item: Item) -> Doc:
        policy_id = f"{self._uri(vault)}/keys/{item.name}/rotationpolicy"
        if item.rotate_before_expiry is None:
            # A key nobody configured: the service's default policy, notify only.
            return {
                "id": policy_id,
                "lifetimeActions": [
                    {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}
                ],
                "attributes": {},
            }
        return {
            "id": policy_id,
            "lifetimeActions": [
                {
                    "trigger": {"timeBeforeExpiry": item.rotate_before_expiry},
                    "action": {"type": "Rotate"},
                },
                {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}},
            ],
            "attributes": {
                "expiryTime": "P1Y",
                "created": item.created,
                "updated": item.updated,
            },
        }

    def _forbidden(self, vault: Doc, item: Item) -> Reply:
        props = vault.get("properties") if isinstance(vault.get("properties"), dict) else {}
        name = str(vault.get("name", ""))
        location = str(vault.get("location", "")).replace(" ", "").lower()
        caller = "appid=simulated;oid=simulated;iss=https://sts.windows.net/" + self._tenant() + "/"
        if isinstance(props, dict) and props.get("enableRbacAuthorization"):
            return _error(
                403,
                "Forbidden",
                "Caller is not authorized to perform action on resource.\r\n"
                "If role assignments, deny assignments or role definitions were changed "
                "recently, please observe propagation time.\r\n"
                f"Caller: {caller}\r\n"
                "Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\n"
                f"Resource: '{str(vault.get('id', '')).lower()}/secrets/{item.name}'\r\n"
                "Assignment: (not found)\r\n"
                f"Vault: {name};location={location}\r\n",
                inner="ForbiddenByRbac",
            )
        return _error(
            403,
            "Forbidden",
            f"The user, group or application '{caller}' does not have secrets get permission "
            f"on key vault '{name};location={location}'. The simulated tenant holds no secret "
            "values. For help resolving this issue, please see "
            "https://go.microsoft.com/fwlink/?linkid=2125287",
            inner="AccessDenied",
        )

    def _secret_missing(self, rest: list[str]) -> Reply:
        return _error(
            404,
            "SecretNotFound",
            f"A secret with (name/id) {'/'.join(rest)} was not found in this key vault.",
        )
