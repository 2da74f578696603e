"""Writes: PUT (creates and replaces, keeping read-only properties), PATCH (JSON merge patch),
DELETE (cascading, as an operation where the type's API makes it one), POST actions, the
``If-Match`` / ``If-None-Match`` preconditions, and keeping an NSG and its rules (a VNet and its
subnets) in step whichever one is written."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from sim import ids
from sim.arm import renderers
from sim.arm.defaults import auth_settings_v1, default_singleton
from sim.arm.model import (
    ALWAYS_200,
    ALWAYS_201,
    EMBEDDED_CHILDREN,
    LOCATION_LRO,
    LRO_DELETE,
    NO_PATCH,
    NSG_READ_ONLY,
    PROVISIONING_STATE,
    READ_ONLY_PROPERTIES,
    STRONG_ETAGS,
    WEAK_ETAGS,
    ArmError,
    ArmRequest,
    ArmResponse,
    merge_patch,
    strip_etag_quotes,
    to_json,
    type_matches,
)
from sim.arm.operations import ArmOperations
from sim.estate.network import default_security_rules
from sim.ids import RESOURCE_GROUP_TYPE, Target
from sim.store import Entry

DIAGNOSTIC_SETTINGS = "microsoft.insights/diagnosticsettings"
MAX_DIAGNOSTIC_SETTINGS = 5


class ArmWrites(ArmOperations):
    """PUT, PATCH, DELETE and POST on documents."""

    def _body(self, req: ArmRequest) -> dict[str, Any]:
        import json

        if not req.body.strip():
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid: empty.")
        try:
            body = json.loads(req.body)
        except ValueError as exc:
            raise ArmError(
                400, "InvalidRequestContent", f"The request content was invalid: {exc}"
            ) from None
        if not isinstance(body, dict):
            raise ArmError(
                400, "InvalidRequestContent", "The request content must be a JSON object."
            )
        return body

    def _preconditions(self, req: ArmRequest, entry: Entry | None) -> None:
        if_match = req.headers.get("if-match")
        if_none = req.headers.get("if-none-match")
        if if_match:
            if entry is None:
                raise ArmError(
                    412,
                    "PreconditionFailed",
                    "The condition specified using HTTP conditional header(s) is not met: "
                    "the resource does not exist.",
                )
            wanted = {strip_etag_quotes(e) for e in if_match.split(",")}
            if "*" not in wanted and strip_etag_quotes(entry.etag) not in wanted:
                raise ArmError(
                    412,
                    "PreconditionFailed",
                    "The condition specified using HTTP conditional header(s) is not met: "
                    f"If-Match '{if_match}' does not match the current etag '{entry.etag}'.",
                )
        if if_none and entry is not None:
            wanted = {strip_etag_quotes(e) for e in if_none.split(",")}
            if "*" in wanted or strip_etag_quotes(entry.etag) in wanted:
                raise ArmError(
                    412,
                    "PreconditionFailed",
                    "The condition specified using HTTP conditional header(s) is not met: "
                    "the resource already exists.",
                )

    def _compose(
        self, target: Target, body: dict[str, Any], existing: Entry | None
    ) -> dict[str, Any]:
        t = target.type_key
        doc: dict[str, Any] = {
            "id": existing.doc.get("id", target.path) if existing else target.path,
            "name": existing.doc.get("name", target.name) if existing else target.name,
            "type": existing.doc.get("type", target.type) if existing else target.type,
        }
        for k, v in body.items():
            if k in ("id", "name", "type", "etag"):
                continue
            doc[k] = copy.deepcopy(v)
        if existing is not None and "systemData" in existing.doc and "systemData" not in doc:
            doc["systemData"] = copy.deepcopy(existing.doc["systemData"])
        props = doc.get("properties")
        old_props = existing.doc.get("properties") if existing else None
        if isinstance(old_props, dict):
            if not isinstance(props, dict):
                props = {}
                doc["properties"] = props
            keep = READ_ONLY_PROPERTIES | (
                NSG_READ_ONLY if t == "microsoft.network/networksecuritygroups" else set()
            )
            for k in keep:
                if k in old_props and k not in props:
                    props[k] = copy.deepcopy(old_props[k])
        has_state = isinstance(old_props, dict) and "provisioningState" in old_props
        if has_state or type_matches(PROVISIONING_STATE, t):
            if not isinstance(props, dict):
                props = {}
                doc["properties"] = props
            props["provisioningState"] = "Succeeded"
        if t in EMBEDDED_CHILDREN:
            self._normalize_embedded(doc)
        if t == "microsoft.network/networksecuritygroups" and isinstance(props, dict):
            props.setdefault("defaultSecurityRules", default_security_rules(str(doc["id"])))
        if existing is not None and isinstance(existing.doc.get("etag"), str):
            doc["etag"] = existing.doc["etag"]  # restamped in the same style on commit
        elif type_matches(WEAK_ETAGS, t):
            doc["etag"] = 'W/""'
        elif type_matches(STRONG_ETAGS, t):
            doc["etag"] = '""'
        return doc

    def _normalize_embedded(self, doc: dict[str, Any]) -> None:
        prop, segment, child_type = EMBEDDED_CHILDREN[str(doc["type"]).lower()]
        props = doc.get("properties")
        if not isinstance(props, dict):
            return
        items = props.get(prop)
        if items is None:
            props[prop] = []
            return
        if not isinstance(items, list):
            raise ArmError(400, "InvalidRequestFormat", f"properties.{prop} must be an array.")
        out = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise ArmError(
                    400, "InvalidRequestFormat", f"Every entry of properties.{prop} needs a name."
                )
            child = copy.deepcopy(item)
            child["id"] = f"{doc['id']}/{segment}/{child['name']}"
            child.setdefault("type", child_type)
            child_props = child.setdefault("properties", {})
            if isinstance(child_props, dict):
                child_props["provisioningState"] = "Succeeded"
            out.append(child)
        props[prop] = out

    def _commit(self, target: Target, doc: dict[str, Any]) -> Entry:
        """Stores a written document, keeping embedded children and their documents in step."""
        t = target.type_key
        parent_target = ids.parse(target.parent) if target.parent else None
        if (
            target.depth > 1
            and parent_target is not None
            and parent_target.type_key in EMBEDDED_CHILDREN
            and EMBEDDED_CHILDREN[parent_target.type_key][1].lower() == t.rsplit("/", 1)[-1]
        ):
            parent = self.store.get(parent_target.key)
            assert parent is not None
            family = copy.deepcopy(parent.doc)
            _replace_embedded(family, doc, target.name or "")
            self._store_family(parent.target, family)
            entry = self.store.get(target.key)
            assert entry is not None
            return entry
        if t in EMBEDDED_CHILDREN:
            return self._store_family(target, doc)
        if "etag" in doc:
            etag = self._new_etag(str(doc["etag"]))
            doc["etag"] = etag
        else:
            etag = self._new_etag()
        return self.store.put(doc, target, etag)

    def _store_family(self, target: Target, parent_doc: dict[str, Any]) -> Entry:
        prop, segment, _ = EMBEDDED_CHILDREN[target.type_key]
        etag = self._new_etag()
        parent_doc["etag"] = etag
        props = parent_doc.get("properties")
        items = props.get(prop, []) if isinstance(props, dict) else []
        for item in items:
            item["etag"] = etag
        if isinstance(props, dict):
            for item in props.get("defaultSecurityRules") or []:
                if isinstance(item, dict):
                    item["etag"] = etag
        entry = self.store.put(parent_doc, target, etag)
        child_type_key = f"{target.type_key}/{segment.lower()}"
        wanted: dict[str, dict[str, Any]] = {}
        for item in items:
            child = ids.parse(str(item.get("id", "")))
            if child is not None and child.kind == "resource":
                wanted[child.key] = item
        for k in self.store.keys(self.store.by_parent, (target.key, child_type_key)):
            if k not in wanted:
                self.store.delete(k)
        for item in wanted.values():
            child = ids.parse(str(item["id"]))
            assert child is not None
            self.store.put(copy.deepcopy(item), child, etag)
        return entry

    def _put(self, req: ArmRequest, target: Target, events: list[dict[str, Any]]) -> ArmResponse:
        self._check_containers(target)
        if target.kind == "resource_group":
            return self._put_group(req, target, events)
        self._check_parent(target)
        body = renderers.canonical(target.type_key, req.api_version, self._body(req))
        existing = self.store.get(target.key)
        self._preconditions(req, existing)
        t = target.type_key
        if (
            target.generic_member
            and not body.get("location")
            and not (existing and existing.doc.get("location"))
        ):
            raise ArmError(
                400, "LocationRequired", "The location property is required for this definition."
            )
        if t == DIAGNOSTIC_SETTINGS:
            self._check_diagnostic_setting(target, body, existing)
        doc = self._compose(target, body, existing)
        style = self._lro_style(t)
        created = existing is None
        entry = self._commit(target, doc)
        doc_type = str(entry.doc.get("type") or target.type)
        events += self._events(
            req,
            "write",
            str(entry.doc["id"]),
            doc_type,
            target.subscription,
            count=2 if created else 1,
        )
        if style == "location" and created:
            op = self._new_operation(req, target, entry.doc, "PUT", None)
            return ArmResponse(202, b"", self._lro_headers(op, style))
        if style == "async":
            op = self._new_operation(req, target, entry.doc, "PUT", None)
            shown = copy.deepcopy(entry.doc)
            if isinstance(shown.get("properties"), dict):
                shown["properties"]["provisioningState"] = "Updating"
            return ArmResponse(
                201 if created else 200,
                to_json(shown),
                [("ETag", entry.etag), *self._lro_headers(op, style)],
            )
        if t in ALWAYS_201:
            status = 201
        elif t in ALWAYS_200:
            status = 200
        else:
            status = 201 if created else 200
        return self._doc_response(entry, status)

    def _check_diagnostic_setting(
        self, target: Target, body: dict[str, Any], existing: Entry | None
    ) -> None:
        """What Azure Monitor refuses in a diagnostic setting PUT: a sixth setting on one
        resource ("Each resource can have up to five diagnostic settings", Learn "Diagnostic
        settings in Azure Monitor"), and log or metric entries that break the published
        2021-05-01-preview schema (``enabled`` required; a log names a ``category`` or a
        ``categoryGroup``, not both; a ``retentionPolicy`` has ``enabled`` and ``days``)."""
        if existing is None:
            siblings = self.store.keys(self.store.by_parent, (target.parent_key, target.type_key))
            if len(siblings) >= MAX_DIAGNOSTIC_SETTINGS:
                raise ArmError(
                    400,
                    "BadRequest",
                    "Diagnostic settings does not support more than "
                    f"{MAX_DIAGNOSTIC_SETTINGS} diagnostic settings per resource.",
                )
        props = body.get("properties")
        if not isinstance(props, dict):
            raise ArmError(400, "BadRequest", "The diagnostic setting has no properties.")
        self._check_storage_region(target, props.get("storageAccountId"))
        for field in ("logs", "metrics"):
            items = props.get(field)
            if items is None:
                continue
            if not isinstance(items, list):
                raise ArmError(400, "BadRequest", f"properties.{field} must be an array.")
            for index, item in enumerate(items):
                where = f"properties.{field}[{index}]"
                if not isinstance(item, dict) or not isinstance(item.get("enabled"), bool):
                    raise ArmError(400, "BadRequest", f"{where}.enabled is required.")
                if field == "logs" and bool(item.get("category")) == bool(
                    item.get("categoryGroup")
                ):
                    raise ArmError(
                        400,
                        "BadRequest",
                        f"{where} must name either a category or a categoryGroup.",
                    )
                retention = item.get("retentionPolicy")
                if retention is not None and not (
                    isinstance(retention, dict)
                    and isinstance(retention.get("enabled"), bool)
                    and isinstance(retention.get("days"), int)
                    and retention["days"] >= 0
                ):
                    raise ArmError(
                        400, "BadRequest", f"{where}.retentionPolicy needs enabled and days."
                    )

    def _check_storage_region(self, target: Target, account_id: Any) -> None:
        """ "Storage accounts must be in the same region as the resource being monitored if the
        resource is regional" (Learn, "Diagnostic settings in Azure Monitor", Destinations). The
        monitored resource's region is that of the nearest scope document with a location (a
        blob service's is its account's); ``global`` resources are not regional."""
        if not isinstance(account_id, str) or not account_id:
            return
        account = self.store.get(ids.key(account_id))
        wanted = _region(account.doc.get("location")) if account is not None else ""
        scope = target.parent
        here = ""
        while scope and not here:
            entry = self.store.get(ids.key(scope))
            here = _region(entry.doc.get("location")) if entry is not None else ""
            up = ids.parse(scope)
            scope = up.parent if up is not None else None
        if wanted and here and here != "global" and here != wanted:
            raise ArmError(
                400,
                "BadRequest",
                f"The storage account '{account_id}' is in region '{wanted}', the resource in "
                f"'{here}': a storage destination must be in the resource's region.",
            )

    def _put_group(
        self, req: ArmRequest, target: Target, events: list[dict[str, Any]]
    ) -> ArmResponse:
        body = self._body(req)
        existing = self.store.get(target.key)
        self._preconditions(req, existing)
        location = body.get("location") or (existing.doc.get("location") if existing else None)
        if not location:
            raise ArmError(
                400, "LocationRequired", "The location property is required for this definition."
            )
        doc: dict[str, Any] = {
            "id": existing.doc["id"] if existing else target.path,
            "name": existing.doc.get("name") if existing else target.resource_group,
            "type": RESOURCE_GROUP_TYPE,
            "location": location,
        }
        if body.get("tags") is not None:
            doc["tags"] = copy.deepcopy(body["tags"])
        if body.get("managedBy"):
            doc["managedBy"] = body["managedBy"]
        doc["properties"] = {"provisioningState": "Succeeded"}
        entry = self.store.put(doc, target, self._new_etag())
        events += self._events(
            req,
            "write",
            str(doc["id"]),
            "Microsoft.Resources/subscriptions/resourceGroups",
            target.subscription,
        )
        return self._doc_response(entry, 200 if existing else 201)

    def _patch(self, req: ArmRequest, target: Target, events: list[dict[str, Any]]) -> ArmResponse:
        if target.type_key in NO_PATCH:
            raise ArmError(
                405,
                "MethodNotAllowed",
                "The requested resource does not support http method 'PATCH'.",
            )
        self._check_containers(target)
        body = renderers.canonical(target.type_key, req.api_version, self._body(req))
        existing = self.store.get(target.key)
        if existing is None:
            self._check_parent(target)
            if target.kind == "resource_group":
                raise ArmError(
                    404,
                    "ResourceGroupNotFound",
                    f"Resource group '{target.resource_group}' could not be found.",
                )
            raise ArmError(404, "ResourceNotFound", self._not_found_message(target.path))
        self._preconditions(req, existing)
        doc = copy.deepcopy(existing.doc)
        for k, v in body.items():
            if k in ("id", "name", "type", "etag"):
                continue
            if k == "tags":
                if v is None:
                    doc.pop("tags", None)
                else:
                    doc["tags"] = copy.deepcopy(v)
            elif v is None:
                doc.pop(k, None)
            else:
                doc[k] = merge_patch(doc.get(k), v)
        if target.type_key in EMBEDDED_CHILDREN:
            self._normalize_embedded(doc)
        if target.kind == "resource_group":
            entry = self.store.put(doc, target, self._new_etag())
            op_type = "Microsoft.Resources/subscriptions/resourceGroups"
        else:
            entry = self._commit(target, doc)
            op_type = str(entry.doc.get("type") or target.type)
        events += self._events(req, "write", str(entry.doc["id"]), op_type, target.subscription)
        return self._doc_response(entry)

    def _delete(self, req: ArmRequest, target: Target, events: list[dict[str, Any]]) -> ArmResponse:
        self._check_containers(target)
        existing = self.store.get(target.key)
        self._preconditions(req, existing)
        if existing is None:
            if target.kind != "resource_group":
                self._check_parent(target)
            return ArmResponse(204)
        if target.kind == "resource_group":
            return self._delete_group(req, target, existing, events)
        doc = existing.doc
        doc_type = str(doc.get("type") or target.type)
        t = target.type_key
        parent_target = ids.parse(target.parent) if target.parent else None

        def finish() -> None:
            for k in self.store.descendants(target.key, target.subscription):
                self.store.delete(k)
            self.store.delete(target.key)
            if (
                parent_target is not None
                and target.depth > 1
                and parent_target.type_key in EMBEDDED_CHILDREN
            ):
                parent = self.store.get(parent_target.key)
                if parent is not None:
                    family = copy.deepcopy(parent.doc)
                    _replace_embedded(family, None, target.name or "")
                    self._store_family(parent.target, family)

        events += self._events(req, "delete", str(doc["id"]), doc_type, target.subscription)
        if type_matches(LRO_DELETE, t):
            style = "location" if t in LOCATION_LRO else "async"
            op = self._new_operation(req, target, doc, "DELETE", finish)
            return ArmResponse(202, b"", self._lro_headers(op, style))
        finish()
        # Authorization deletes answer the deleted object (the SDK returns it); others nothing.
        return ArmResponse(200, to_json(doc) if t.startswith("microsoft.authorization/") else b"")

    def _delete_group(
        self, req: ArmRequest, target: Target, existing: Entry, events: list[dict[str, Any]]
    ) -> ArmResponse:
        inside = self.store.descendants(target.key, target.subscription)
        for k in inside:
            entry = self.store.get(k)
            if entry is not None and entry.target.generic_member:
                events += self._events(
                    req,
                    "delete",
                    str(entry.doc["id"]),
                    str(entry.doc.get("type") or entry.target.type),
                    target.subscription,
                )
        events += self._events(
            req,
            "delete",
            str(existing.doc["id"]),
            "Microsoft.Resources/subscriptions/resourceGroups",
            target.subscription,
        )

        def finish() -> None:
            for k in self.store.descendants(target.key, target.subscription):
                self.store.delete(k)
            self.store.delete(target.key)

        op = self._new_operation(req, target, existing.doc, "DELETE", finish)
        return ArmResponse(202, b"", self._lro_headers(op, "location"))

    def _action(self, req: ArmRequest, target: Target, events: list[dict[str, Any]]) -> ArmResponse:
        segs = [s for s in req.path.split("/") if s]
        for cut in range(len(segs) - 1, max(len(segs) - 4, 0), -1):
            if any(s.lower() == "providers" for s in segs[cut:]):
                break
            entry = self.store.get(ids.key("/".join(segs[:cut])))
            if entry is None:
                continue
            action = "/".join(segs[cut:])
            doc_type = str(entry.doc.get("type") or entry.target.type)
            result: dict[str, Any] = {}
            if (
                action.lower() == "config/authsettings/list"
                and entry.target.type_key == "microsoft.web/sites"
            ):
                v2_path = f"{entry.doc['id']}/config/authsettingsV2"
                v2 = self.store.get(ids.key(v2_path))
                v2_doc = (
                    v2.doc
                    if v2 is not None
                    else default_singleton("microsoft.web/sites/config", v2_path, "authsettingsV2")
                )
                result = auth_settings_v1(str(entry.doc["id"]), v2_doc or {})
            elif action.lower() == "listkeys" and entry.target.type_key.startswith(
                "microsoft.storage/storageaccounts"
            ):
                result = {
                    "keys": [
                        {
                            "creationTime": "2021-03-18T04:42:22.4322836Z",
                            "keyName": name,
                            "value": uuid.UUID(int=self._bits() & ((1 << 128) - 1)).hex * 2,
                            "permissions": "FULL",
                        }
                        for name in ("key1", "key2")
                    ]
                }
            events += self._events(
                req,
                "action",
                str(entry.doc["id"]),
                doc_type,
                entry.target.subscription,
                action=action,
            )
            return ArmResponse(200, to_json(result))
        self._check_containers(target)
        raise ArmError(404, "ResourceNotFound", self._not_found_message(req.path))


def _region(location: Any) -> str:
    return str(location or "").replace(" ", "").lower()


def _replace_embedded(parent_doc: dict[str, Any], child: dict[str, Any] | None, name: str) -> None:
    prop = EMBEDDED_CHILDREN[str(parent_doc.get("type", "")).lower()][0]
    props = parent_doc.setdefault("properties", {})
    items: list[Any] = []
    replaced = False
    for item in props.get(prop) or []:
        if isinstance(item, dict) and str(item.get("name", "")).lower() == name.lower():
            if child is not None and not replaced:
                items.append(copy.deepcopy(child))
                replaced = True
            continue
        items.append(item)
    if child is not None and not replaced:
        items.append(copy.deepcopy(child))
    props[prop] = items
