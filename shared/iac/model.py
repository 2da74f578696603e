"""Declared resources, as the IaC readers produce them, turned into the documents ARM would
return after deployment — so that the loader attaches related documents exactly as for a live
read and the same catalog judges them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.iac.values import Unresolved, contains_unresolved
from shared.loader import InputError

# What ARM returns in a resource body besides the declared ``properties``.
_BODY_KEYS = ("location", "tags", "kind", "sku", "identity", "zones", "extendedLocation", "plan")


class IacError(InputError):
    """A template phiguard cannot read; the message names the file and where in it (exit 2,
    like any bad input)."""


@dataclass
class Declared:
    """One resource a template declares, with its id as it will be after deployment."""

    id: str
    type: str
    name: Any
    api_version: str
    body: dict[str, Any]
    source: str
    where: str
    notes: list[str] = field(default_factory=list)
    # An ``existing`` reference: asserted by the template (the deployment fails without it),
    # not deployed by it. It counts for other resources' cross-resource lookups, never judged.
    existing: bool = False

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": self.id, "name": self.name, "type": self.type}
        for key in _BODY_KEYS:
            if key in self.body:
                doc[key] = self.body[key]
        if "properties" in self.body:
            doc["properties"] = self.body["properties"]
        return doc


def safe_segment(value: Any, fallback: str) -> str:
    """A name usable inside a resource id: unresolved or odd names get a stable stand-in."""
    if isinstance(value, Unresolved) or not isinstance(value, str) or contains_unresolved(value):
        return fallback
    cleaned = value.strip().strip("/")
    return cleaned or fallback


def documents(declared: list[Declared]) -> list[dict[str, Any]]:
    """The ARM documents of the declared resources, with what deployment adds that the checks
    read: a site's ``config/web`` from its ``siteConfig``, and a target's
    ``privateEndpointConnections`` from the private endpoints declared for it."""
    docs = [d.document() for d in declared]
    by_id = {d["id"].lower(): d for d in docs}
    extra: list[dict[str, Any]] = []
    for doc in docs:
        rtype = doc["type"].lower()
        props = doc.get("properties")
        if rtype == "microsoft.web/sites" and isinstance(props, Mapping):
            config_id = f"{doc['id']}/config/web"
            if config_id.lower() not in by_id:
                site_config = props.get("siteConfig")
                extra.append(
                    {
                        "id": config_id,
                        "name": "web",
                        "type": "Microsoft.Web/sites/config",
                        # Unset siteConfig properties are the service's defaults, as on a
                        # live read of an app created without them.
                        "properties": dict(site_config) if isinstance(site_config, Mapping) else {},
                    }
                )
        if rtype == "microsoft.storage/storageaccounts":
            blob_id = f"{doc['id']}/blobServices/default"
            if blob_id.lower() not in by_id:
                # Every account has a blob service; undeclared, it has the service defaults.
                extra.append(
                    {
                        "id": blob_id,
                        "name": "default",
                        "type": "Microsoft.Storage/storageAccounts/blobServices",
                        "properties": {},
                    }
                )
        if rtype == "microsoft.network/virtualnetworks" and isinstance(props, Mapping):
            _attach_subnets(doc["id"], props.get("subnets"), by_id)
        if rtype == "microsoft.network/virtualnetworks/subnets" and isinstance(props, Mapping):
            vnet_id = doc["id"].rsplit("/subnets/", 1)[0]
            _attach_subnets(vnet_id, [{"name": doc["name"], "properties": props}], by_id)
        if rtype == "microsoft.network/privateendpoints" and isinstance(props, Mapping):
            _connect(doc, props, by_id)
    return docs + extra


def _connect(endpoint: dict[str, Any], props: Mapping[str, Any], by_id: dict[str, Any]) -> None:
    """A private endpoint's automatic connections are approved at creation when the deployer
    may approve them (the same deployment owns both); manual ones wait as Pending."""
    for field_name, status in (
        ("privateLinkServiceConnections", "Approved"),
        ("manualPrivateLinkServiceConnections", "Pending"),
    ):
        connections = props.get(field_name)
        for conn in connections if isinstance(connections, list) else []:
            inner = conn.get("properties") if isinstance(conn, Mapping) else None
            if isinstance(inner, dict):
                # ARM fills in the state at creation: what the endpoint side then reports.
                inner.setdefault("privateLinkServiceConnectionState", {"status": status})
            target = inner.get("privateLinkServiceId") if isinstance(inner, Mapping) else None
            if not isinstance(target, str) or isinstance(target, Unresolved):
                continue
            target_doc = by_id.get(target.lower())
            if target_doc is None:
                continue
            target_props = target_doc.setdefault("properties", {})
            if not isinstance(target_props, dict):
                continue
            target_props.setdefault("privateEndpointConnections", []).append(
                {
                    "name": f"{endpoint['name']}-connection",
                    "properties": {
                        "privateEndpoint": {"id": endpoint["id"]},
                        "groupIds": inner.get("groupIds") if isinstance(inner, Mapping) else None,
                        "privateLinkServiceConnectionState": {"status": status},
                    },
                }
            )


def _attach_subnets(vnet_id: str, subnets: Any, by_id: dict[str, Any]) -> None:
    """An NSG lists the subnets it is attached to (read-only ``subnets``), which ARM fills in
    from the subnets that name it."""
    for subnet in subnets if isinstance(subnets, list) else []:
        props = subnet.get("properties") if isinstance(subnet, Mapping) else None
        nsg = props.get("networkSecurityGroup") if isinstance(props, Mapping) else None
        nsg_id = nsg.get("id") if isinstance(nsg, Mapping) else None
        name = str(subnet.get("name", "")).rsplit("/", 1)[-1]
        if not isinstance(nsg_id, str) or isinstance(nsg_id, Unresolved) or not name:
            continue
        nsg_doc = by_id.get(nsg_id.lower())
        nsg_props = nsg_doc.setdefault("properties", {}) if nsg_doc is not None else None
        if isinstance(nsg_props, dict):
            nsg_props.setdefault("subnets", []).append({"id": f"{vnet_id}/subnets/{name}"})
