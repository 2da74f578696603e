"""What every estate module shares: the :class:`Estate`, deterministic values, ids and the
document header.

The header (``id``, ``name``, ``type``, ``location``, ``tags`` and, for some providers, ``etag``
and ``kind``) is written by :func:`header` alone. Providers order these fields differently in
what they return (Microsoft.Network starts with ``name``, Insights puts ``type`` before
``name``, SQL and Compute end with them), and the estates keep each provider's order, so the
order is an argument: one of the named orders below, or a tuple for a one-off.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

Doc = dict[str, Any]

PATTERNS = ("P1", "P2", "P3", "P4", "P5", "P6")


@dataclass
class Estate:
    """A tenant as flat ARM documents.

    ``documents`` holds every document a GET by id returns: resource groups, resources, child
    resources (``securityRules``, ``config/web``, TDE, ...) and extension resources (diagnostic
    settings, role and policy assignments), each with its full ``id``. ``ground_truth`` maps a
    failure pattern (``P1``..``P6``) or a check id to the ids of resources known to violate it.
    """

    tenant_id: str
    subscriptions: list[dict[str, Any]]
    documents: list[dict[str, Any]]
    ground_truth: dict[str, list[str]] = field(default_factory=dict)

    def by_id(self) -> dict[str, dict[str, Any]]:
        """The documents keyed by lower-case id (ARM ids are case-insensitive)."""
        return {_key(d["id"]): d for d in self.documents}


def _key(resource_id: str) -> str:
    return "/" + resource_id.strip().strip("/").lower()


# --- deterministic values ------------------------------------------------------------------

_NAMESPACE = uuid.UUID("5d6c1f0e-8a57-4c1b-9d0e-3b2a7f4e6c11")  # phiguard sim, fixed forever
_NS_BYTES = _NAMESPACE.bytes
_EPOCH = datetime(2023, 2, 6, 8, 0, 0, tzinfo=UTC)


def guid(*parts: str) -> str:
    """A deterministic GUID for a name: uuid5 in phiguard's fixed namespace.

    Same value as ``str(uuid.uuid5(namespace, "/".join(parts)))``, computed without building a
    UUID object (the generator calls this a few hundred thousand times).
    """
    name = "/".join(parts).encode()
    digest = bytearray(hashlib.sha1(_NS_BYTES + name).digest()[:16])  # noqa: S324 - uuid5 is SHA-1
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


@lru_cache(maxsize=16384)
def ts(hours: int) -> str:
    """A fixed timestamp ``hours`` after the estate's epoch, formatted as ARM does (7 digits)."""
    moment = _EPOCH + timedelta(hours=hours, seconds=(hours * 37) % 60)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{(hours * 7919 + 13) % 10_000_000:07d}Z"


def net_etag(seed: str) -> str:
    """A Microsoft.Network style weak etag, ``W/"guid"``."""
    return f'W/"{guid(seed, "etag")}"'


def system_identity(rid: str, tenant: str) -> Doc:
    """A system-assigned managed identity block (type, principalId, tenantId)."""
    return {
        "type": "SystemAssigned",
        "principalId": guid(rid, "identity"),
        "tenantId": tenant,
    }


# --- ids -----------------------------------------------------------------------------------


def rg_id(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}"


def resource_id(sub: str, rg: str, rtype: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{rtype}/{name}"


def sub_id(sub: str) -> str:
    return f"/subscriptions/{sub}"


# --- the document header -------------------------------------------------------------------

Order = tuple[str, ...]

ARM: Order = ("id", "name", "type", "location", "tags")  # most providers
NETWORK: Order = ("name", "id", "etag", "type", "location", "tags")  # Microsoft.Network
INSIGHTS: Order = (
    "id",
    "type",
    "name",
    "location",
    "tags",
)  # Insights and Authorization
TRAILING: Order = (
    "location",
    "tags",
    "id",
    "name",
    "type",
)  # Microsoft.Sql, after properties
COMPUTE: Order = ("type", "location", "tags", "id", "name")  # disks and encryption sets


_SLOTS = {"id": 0, "name": 1, "type": 2, "location": 3, "tags": 4, "etag": 5, "kind": 6}
_PLANS: dict[Order, tuple[tuple[str, int], ...]] = {}


def header(
    rid: str,
    name: str,
    rtype: str,
    location: str | None = None,
    tags: Mapping[str, str] | None = None,
    *,
    etag: str | None = None,
    kind: str | None = None,
    order: Order = ARM,
) -> Doc:
    """The identifying fields of a document, in ``order``; ``tags`` is copied.

    A field left at None is not written (child resources have no ``location`` or ``tags``); a
    field given must be named in ``order``. (Called for nearly every document the generator
    builds, hence the precomputed slot plan per order.)
    """
    values = (rid, name, rtype, location, tags, etag, kind)
    plan = _PLANS.get(order)
    if plan is None:
        plan = _PLANS[order] = tuple((k, _SLOTS[k]) for k in order)
    doc = {k: values[i] for k, i in plan if values[i] is not None}
    if len(doc) != len(values) - values.count(None):
        raise ValueError(f"header of {rid}: a given field is missing from the order {order}")
    if tags is not None:
        doc["tags"] = dict(tags)
    return doc
