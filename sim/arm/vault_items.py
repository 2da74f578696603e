"""The keys and secrets of a vault, as both planes show them: the vault's ARM children
(``vaults/{v}/keys`` and ``vaults/{v}/secrets``, Keys_Get / Secrets_Get shapes) when the estate
holds any, otherwise a small deterministic set derived from the vault's id, so a generated estate
has keys and secrets in every vault without storing thousands more documents.

The derived set: two to four keys and two to four secrets per vault (from a hash of the vault
id); the first key and secret expire 365 / 180 days after creation, the second have no expiry,
the others 30 days or ten years after creation; the first key has a rotate-30-days-before-expiry
policy, the others none (the service's default, notify only). Creation times follow the vault's
``systemData.createdAt``. ARM answers the same set as ``vaults/{v}/keys`` / ``vaults/{v}/secrets``
documents (:func:`arm_document`) and the data plane (:mod:`sim.keyvault_data`) as key bundles and
secret items, so a client comparing the two sees one vault.
"""

from __future__ import annotations

import calendar
import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sim.store import Store

Doc = dict[str, Any]

VAULTS = "microsoft.keyvault/vaults"
DAY = 86400
RECOVERY_LEVEL = "Recoverable+Purgeable"
EPOCH = calendar.timegm((2024, 1, 15, 9, 30, 0, 0, 0, 0))
KEY_OPS = ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"]

# The deterministic set: (name, days until expiry after creation, or None for no expiry).
_KEYS = (
    ("cmk-data-encryption", 365),
    ("signing-key", None),
    ("backup-wrap-key", 30),
    ("archive-key", 3650),
)
_SECRETS = (
    ("db-connection-string", 180, "text/plain"),
    ("api-client-secret", None, ""),
    ("tls-cert-password", 30, "text/plain"),
    ("storage-sas-token", 3650, "application/x-sas"),
)


@dataclass
class Item:
    """A key or secret (one current version)."""

    name: str
    version: str
    created: int
    updated: int
    expires: int | None
    enabled: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    content_type: str = ""
    kty: str = "RSA"
    key_ops: list[str] = field(default_factory=lambda: list(KEY_OPS))
    rotate_before_expiry: str | None = None  # ISO 8601 duration of a Rotate action, if any


def seed(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(parts).lower().encode()).digest()


def vault_uri(vault: Doc) -> str:
    props = vault.get("properties") if isinstance(vault.get("properties"), dict) else {}
    uri = props.get("vaultUri") if isinstance(props, dict) else None
    name = str(vault.get("name", ""))
    return (str(uri) if uri else f"https://{name}.vault.azure.net/").rstrip("/")


def stored(store: Store, vault: Doc, kind: str) -> list[Doc]:
    """The vault's written ARM children of ``kind`` (``keys`` or ``secrets``)."""
    parent = "/" + str(vault.get("id", "")).strip("/").lower()
    return [
        store.docs[k].doc
        for k in store.keys(store.by_parent, (parent, f"{VAULTS}/{kind}"))
        if k in store.docs
    ]


def items(store: Store, vault: Doc, kind: str) -> list[Item]:
    """The vault's keys or secrets: its written children, else the derived set."""
    written = stored(store, vault, kind)
    if written:
        return sorted((from_arm(d, vault, key=kind == "keys") for d in written), key=_name)
    return derived_keys(vault) if kind == "keys" else derived_secrets(vault)


def _name(item: Item) -> str:
    return item.name


def _created(vault: Doc) -> int:
    system = vault.get("systemData") if isinstance(vault.get("systemData"), dict) else {}
    created = _iso_seconds(system.get("createdAt")) if isinstance(system, dict) else None
    return created if created is not None else EPOCH


def _iso_seconds(value: Any) -> int | None:
    if not isinstance(value, str) or len(value) < 19:
        return None
    try:
        return calendar.timegm(time.strptime(value[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def _version(vault: Doc, name: str) -> str:
    return uuid.UUID(bytes=seed(str(vault.get("id")), name)[:16]).hex


def derived_keys(vault: Doc) -> list[Item]:
    bits = seed(str(vault.get("id", "")), "keys")
    base = _created(vault) + (bits[0] % 30) * DAY
    out = []
    for n, (name, days) in enumerate(_KEYS[: 2 + bits[1] % 3]):
        created = base + n * 7 * DAY
        out.append(
            Item(
                name=name,
                version=_version(vault, name),
                created=created,
                updated=created,
                expires=None if days is None else created + days * DAY,
                tags={"purpose": name.split("-")[0]},
                rotate_before_expiry="P30D" if n == 0 else None,
            )
        )
    return out


def derived_secrets(vault: Doc) -> list[Item]:
    bits = seed(str(vault.get("id", "")), "secrets")
    base = _created(vault) + (bits[0] % 30) * DAY
    out = []
    for n, (name, days, content_type) in enumerate(_SECRETS[: 2 + bits[1] % 3]):
        created = base + n * 3 * DAY
        out.append(
            Item(
                name=name,
                version=_version(vault, name),
                created=created,
                updated=created,
                expires=None if days is None else created + days * DAY,
                content_type=content_type,
            )
        )
    return out


def from_arm(doc: Doc, vault: Doc, *, key: bool) -> Item:
    """An item from a Keys_Get / Secrets_Get document (``properties.attributes`` in seconds)."""
    props = doc.get("properties") if isinstance(doc.get("properties"), dict) else {}
    assert isinstance(props, dict)
    attributes = props.get("attributes") if isinstance(props.get("attributes"), dict) else {}
    assert isinstance(attributes, dict)
    name = str(doc.get("name", "")).rsplit("/", 1)[-1]
    with_version = str(props.get("keyUriWithVersion" if key else "secretUriWithVersion") or "")
    version = with_version.rstrip("/").rsplit("/", 1)[-1] if with_version else _version(vault, name)
    created = int(attributes.get("created") or EPOCH)
    expires = attributes.get("exp")
    rotation = props.get("rotationPolicy") if isinstance(props.get("rotationPolicy"), dict) else {}
    assert isinstance(rotation, dict)
    rotate = None
    for action in rotation.get("lifetimeActions") or []:
        if (
            isinstance(action, dict)
            and str((action.get("action") or {}).get("type", "")).lower() == "rotate"
        ):
            rotate = str((action.get("trigger") or {}).get("timeBeforeExpiry") or "P30D")
    tags = doc.get("tags") if isinstance(doc.get("tags"), dict) else {}
    assert isinstance(tags, dict)
    return Item(
        name=name,
        version=version,
        created=created,
        updated=int(attributes.get("updated") or created),
        expires=int(expires) if isinstance(expires, int | float) else None,
        enabled=bool(attributes.get("enabled", True)),
        tags={str(k): str(v) for k, v in tags.items()},
        content_type=str(props.get("contentType") or ""),
        kty=str(props.get("kty") or "RSA"),
        key_ops=[str(op) for op in props.get("keyOps") or KEY_OPS],
        rotate_before_expiry=rotate,
    )


FULL_RETENTION_DAYS = 90


def recovery(vault: Doc) -> tuple[str, int]:
    """The ``recoveryLevel`` and ``recoverableDays`` every key and secret of ``vault`` shows,
    from the vault's soft-delete settings (Key Vault 7.5 ``keys.json``, ``DeletionRecoveryLevel``
    and ``KeyAttributes.recoverableDays``): no soft delete is ``Purgeable`` (0 days); soft
    delete for 90 days is ``Recoverable+Purgeable``, or ``Recoverable`` with purge protection;
    a retention of 7 to 89 days is ``CustomizedRecoverable+Purgeable``, or
    ``CustomizedRecoverable`` with purge protection. Soft delete is on unless the vault says
    ``enableSoftDelete: false`` (it cannot be turned off on new vaults)."""
    props = vault.get("properties") if isinstance(vault.get("properties"), dict) else {}
    assert isinstance(props, dict)
    if props.get("enableSoftDelete") is False:
        return "Purgeable", 0
    raw = props.get("softDeleteRetentionInDays")
    days = raw if isinstance(raw, int) and 7 <= raw <= FULL_RETENTION_DAYS else FULL_RETENTION_DAYS
    level = "Recoverable" if days == FULL_RETENTION_DAYS else "CustomizedRecoverable"
    if props.get("enablePurgeProtection") is not True:
        level += "+Purgeable"
    return level, days


def item_attributes(item: Item) -> Doc:
    """The attributes ARM and the data plane both answer for an item (seconds since 1970)."""
    attributes: Doc = {
        "enabled": item.enabled,
        "created": item.created,
        "updated": item.updated,
        "recoveryLevel": RECOVERY_LEVEL,
    }
    if item.expires is not None:
        attributes["exp"] = item.expires
    return attributes


def arm_document(vault: Doc, item: Item, kind: str) -> Doc:
    """A derived item as ARM's Keys_Get / Secrets_Get answers it (never a secret value)."""
    uri = f"{vault_uri(vault)}/{kind}/{item.name}"
    # The same recovery level the data plane shows for the vault's soft-delete settings.
    attributes = {**item_attributes(item), "recoveryLevel": recovery(vault)[0]}
    props: Doc = {"attributes": attributes}
    if kind == "keys":
        attributes["exportable"] = False
        props.update(
            {
                "kty": item.kty,
                "keyOps": list(item.key_ops),
                "keySize": 2048,
                "keyUri": uri,
                "keyUriWithVersion": f"{uri}/{item.version}",
            }
        )
        if item.rotate_before_expiry is not None:
            props["rotationPolicy"] = {
                "attributes": {"expiryTime": "P1Y", "created": item.created},
                "lifetimeActions": [
                    {
                        "trigger": {"timeBeforeExpiry": item.rotate_before_expiry},
                        "action": {"type": "rotate"},
                    }
                ],
            }
    else:
        if item.content_type:
            props["contentType"] = item.content_type
        props.update({"secretUri": uri, "secretUriWithVersion": f"{uri}/{item.version}"})
    return {
        "id": f"{vault.get('id')}/{kind}/{item.name}",
        "name": item.name,
        "type": f"Microsoft.KeyVault/vaults/{kind}",
        "location": vault.get("location"),
        "tags": dict(item.tags),
        "properties": props,
    }
