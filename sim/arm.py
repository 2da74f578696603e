"""ARM semantics over the in-memory store: what management.azure.com answers, as documents go.

Covered (for every type, generically, plus the type-specific behaviour listed):

- GET/PUT/PATCH/DELETE by id for subscriptions, resource groups, resources, child resources and
  extension resources (``{scope}/providers/{ns}/{type}/{name}``); HEAD on resource groups;
  POST actions on a resource (``listKeys`` answers keys; any other action answers ``{}``).
- Lists: subscriptions, resource groups, ``/resources`` (generic shape, ``$filter`` on
  ``resourceType``/``tagName``/``tagValue``/``name``/``location``), a type by subscription or
  resource group, children under a parent, extension resources at a scope (diagnostic settings
  answer ``{"value": [...]}`` without paging), role and policy assignments at, above and below a
  scope (``$filter=atScope()``, ``principalId eq``, ``assignedTo()``). Paging with an absolute
  ``nextLink`` carrying ``$skiptoken``; ``$top`` lowers the page size.
- ``api-version`` required and well-formed; ARM error bodies and codes; case-insensitive ids.
- PUT creates (201; 200 for types whose API answers 200; 202 for storage accounts and disks)
  or replaces (200), keeping read-only properties; PATCH merges (RFC 7386, ``tags`` replaced);
  DELETE answers 200 (with the deleted body for Microsoft.Authorization), 204 when absent;
  deleting cascades to children and extensions. ``etag`` on Microsoft.Network documents (and documents that carry one), changed on
  every write; ``If-Match`` / ``If-None-Match`` honoured (412 ``PreconditionFailed``). An NSG and
  its rules (a VNet and its subnets) share one etag, and the embedded list and the child
  documents are kept equal whichever one is written.
- Long-running operations: Microsoft.Network and Microsoft.Sql writes answer 200/201 with
  ``Azure-AsyncOperation`` (deletes 202 with both headers); storage accounts and disks answer 202
  with ``Location``; resource-group deletes 202 with ``Location``. Status monitors answer
  ``InProgress`` until ``lro_duration`` has passed, then ``Succeeded``.
- Events for every successful write, delete and action (two write events on a create).

Not modelled: per-type api-version lists (any well-formed version is accepted), RP validation
of bodies, ``systemData`` updates, ``Date`` headers, ARM's request-size and URL-length limits.
Documents are stored as given and never mutated: a write stores a new dict.
"""

from __future__ import annotations

import copy
import gc
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from sim import ids
from sim.estate import default_security_rules
from sim.events import ACTION, DELETE, WRITE, Caller, HttpInfo, build_event
from sim.ids import RESOURCE_GROUP_TYPE, Target
from sim.store import Entry, Store

API_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(-(preview|privatepreview|alpha|beta))?$", re.I)
JSON = "application/json; charset=utf-8"

# Lists of these types include assignments at, above and (without atScope()) below the scope.
ASSIGNMENT_TYPES = {
    "microsoft.authorization/roleassignments",
    "microsoft.authorization/policyassignments",
    "microsoft.authorization/denyassignments",
}
ROLE_DEFINITIONS = "microsoft.authorization/roledefinitions"
# Extension types listed at exactly one scope.
EXTENSION_TYPES = {
    "microsoft.insights/diagnosticsettings",
    "microsoft.authorization/locks",
    "microsoft.authorization/policyexemptions",
    "microsoft.security/pricings",
}
UNPAGED_LISTS = {"microsoft.insights/diagnosticsettings"}

# A pattern ending in "/" covers a namespace; any other names exactly one type.
ASYNC_LRO = ("microsoft.network/", "microsoft.sql/servers", "microsoft.sql/servers/databases")
LOCATION_LRO = {"microsoft.storage/storageaccounts", "microsoft.compute/disks"}
LRO_DELETE = (
    "microsoft.network/",
    "microsoft.sql/servers",
    "microsoft.sql/servers/databases",
    "microsoft.compute/disks",
)
ALWAYS_200 = {
    "microsoft.insights/diagnosticsettings",
    "microsoft.web/sites",
    "microsoft.web/sites/config",
    "microsoft.sql/servers/auditingsettings",
    "microsoft.sql/servers/encryptionprotector",
    "microsoft.sql/servers/databases/transparentdataencryption",
    "microsoft.storage/storageaccounts/blobservices",
    "microsoft.storage/storageaccounts/blobservices/containers/immutabilitypolicies",
    "microsoft.operationalinsights/workspaces/tables",
}
ALWAYS_201 = {"microsoft.authorization/policyassignments"}
PROVISIONING_STATE = (
    "microsoft.network/",
    "microsoft.storage/storageaccounts",
    "microsoft.keyvault/vaults",
    "microsoft.operationalinsights/workspaces",
    "microsoft.compute/disks",
    "microsoft.cdn/",
    "microsoft.resources/resourcegroups",
)
# Types whose documents carry an etag: weak W/"guid" ones (Network) or quoted hex (Storage).
WEAK_ETAGS = ("microsoft.network/",)
STRONG_ETAGS = (
    "microsoft.storage/storageaccounts/blobservices/containers",
    "microsoft.storage/storageaccounts/blobservices/containers/immutabilitypolicies",
)
# Parent type -> (embedded list property, child type segment, child ARM type).
EMBEDDED_CHILDREN = {
    "microsoft.network/networksecuritygroups": (
        "securityRules",
        "securityRules",
        "Microsoft.Network/networkSecurityGroups/securityRules",
    ),
    "microsoft.network/virtualnetworks": (
        "subnets",
        "subnets",
        "Microsoft.Network/virtualNetworks/subnets",
    ),
}
READ_ONLY_PROPERTIES = {
    "creationTime",
    "resourceGuid",
    "primaryEndpoints",
    "secondaryEndpoints",
    "primaryLocation",
    "secondaryLocation",
    "statusOfPrimary",
    "statusOfSecondary",
    "keyCreationTime",
    "vaultUri",
    "hsmPoolResourceId",
    "defaultHostName",
    "hostNames",
    "enabledHostNames",
    "outboundIpAddresses",
    "possibleOutboundIpAddresses",
    "customerId",
    "fullyQualifiedDomainName",
    "defaultSecurityRules",
    "networkInterfaces",
    "flowLogs",
    "privateEndpointConnections",
    "createdDate",
    "modifiedDate",
}
NSG_READ_ONLY = {"subnets"}
GENERIC_KEYS = (
    "id",
    "name",
    "type",
    "kind",
    "location",
    "extendedLocation",
    "managedBy",
    "sku",
    "plan",
    "identity",
    "tags",
)


@dataclass
class ArmRequest:
    method: str
    path: str  # percent-decoded
    query: dict[str, str]  # lowercase names, first value
    headers: Mapping[str, str]  # lowercase names
    body: bytes
    url: str  # the URL as the client called it
    caller: Caller
    client_ip: str = "127.0.0.1"

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", "")


@dataclass
class ArmResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


class ArmError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_body(code: str, message: str) -> bytes:
    import json

    return json.dumps({"error": {"code": code, "message": message}}).encode()


def _json(obj: Any) -> bytes:
    import json

    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def _merge(base: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(base) if isinstance(base, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(out.get(k), v)
    return out


def _has(patterns: tuple[str, ...], type_key: str) -> bool:
    return any(type_key.startswith(p) if p.endswith("/") else type_key == p for p in patterns)


def _strip_quotes(etag: str) -> str:
    e = etag.strip()
    if e.startswith("W/"):
        e = e[2:]
    return e.strip('"')


def iso_now(ts: float | None = None) -> str:
    t = time.gmtime(time.time() if ts is None else ts)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + "Z"


@dataclass
class Operation:
    op_id: str
    method: str
    resource_key: str
    type_key: str
    async_path: str
    location_path: str
    api_version: str
    started: float
    ready_at: float
    finish: Callable[[], None] | None
    status: str = "InProgress"
    ended: float = 0.0


@dataclass(frozen=True)
class ArmOptions:
    page_size: int = 100
    lro_retry_after: float = 1.0  # seconds, sent as Retry-After on LRO responses and monitors
    lro_duration: float = 0.0  # how long an LRO stays InProgress
    cursor_cache: int = 512


class ArmService:
    """The tenant's ARM endpoint: documents, operations and the events writes produce."""

    def __init__(
        self,
        *,
        base_url: str,
        tenant_id: str,
        publish: Callable[[list[dict[str, Any]]], None],
        options: ArmOptions | None = None,
        etag_source: Callable[[], int] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tenant_id = tenant_id
        self.options = options or ArmOptions()
        self._publish = publish
        self._bits = etag_source or (lambda: uuid.uuid4().int)
        self.lock = threading.RLock()
        self.store = Store()
        self.subscription_ids: list[str] = []
        self._ops: dict[str, Operation] = {}
        self._pending: list[Operation] = []
        self._cursors: OrderedDict[str, list[str]] = OrderedDict()
        self.load_errors: list[str] = []
        self._loaded = 0

    # --- loading --------------------------------------------------------------------------

    def clear(self, tenant_id: str | None = None) -> None:
        with self.lock:
            self.store = Store()
            self.subscription_ids = []
            self._ops.clear()
            self._pending.clear()
            self._cursors.clear()
            self.load_errors = []
            if tenant_id:
                self.tenant_id = tenant_id

    def load(
        self, documents: list[dict[str, Any]], subscriptions: list[dict[str, Any]] | None = None
    ) -> int:
        """Adds documents verbatim (no events); creates missing subscriptions and groups."""
        loaded = 0
        collecting = gc.isenabled()
        # Hundreds of thousands of new containers: cyclic GC passes would cost more than the work.
        gc.disable()
        try:
            with self.lock:
                loaded = self._load(documents, subscriptions)
        finally:
            if collecting:
                gc.enable()
        return loaded

    def _load(
        self, documents: list[dict[str, Any]], subscriptions: list[dict[str, Any]] | None
    ) -> int:
        loaded = 0
        for sub in subscriptions or []:
            self._load_subscription(sub)
        targets: list[tuple[dict[str, Any], Target]] = []
        for doc in documents:
            doc_id = doc.get("id") if isinstance(doc, dict) else None
            target = ids.parse(doc_id) if isinstance(doc_id, str) else None
            if target is None or target.kind not in (
                "subscription",
                "resource_group",
                "resource",
            ):
                self.load_errors.append(f"not a document id: {doc_id!r}")
                continue
            if target.kind == "subscription":
                self._load_subscription(doc)
                loaded += 1
                continue
            etag = doc.get("etag")
            self.store.put(doc, target, etag if isinstance(etag, str) else self._cheap_etag())
            targets.append((doc, target))
            loaded += 1
        containers: set[tuple[str, str]] = set()
        for doc, target in targets:
            where = ((target.subscription or "").lower(), (target.resource_group or "").lower())
            if where not in containers:
                containers.add(where)
                self._ensure_containers(target, doc)
        for doc, target in targets:
            spec = EMBEDDED_CHILDREN.get(target.type_key)
            if spec is None:
                continue
            prop, _, _ = spec
            props = doc.get("properties")
            items = props.get(prop) if isinstance(props, dict) else None
            for item in items if isinstance(items, list) else []:
                cid = item.get("id") if isinstance(item, dict) else None
                child = ids.parse(cid) if isinstance(cid, str) else None
                if child is not None and child.kind == "resource" and not self.store.get(child.key):
                    etag = item.get("etag")
                    self.store.put(
                        item, child, etag if isinstance(etag, str) else self._cheap_etag()
                    )
        return loaded

    def _load_subscription(self, sub: dict[str, Any]) -> None:
        sub_id = sub.get("subscriptionId") or str(sub.get("id", "")).rstrip("/").split("/")[-1]
        if not sub_id:
            self.load_errors.append(f"subscription without id: {sub!r}")
            return
        doc = dict(sub) if "id" in sub else {"id": f"/subscriptions/{sub_id}", **sub}
        target = ids.parse(doc["id"])
        if target is None or target.kind != "subscription":
            self.load_errors.append(f"not a subscription id: {doc['id']!r}")
            return
        if not self.store.get(target.key):
            self.subscription_ids.append(str(sub_id))
        self.store.put(doc, target, self._new_etag())

    def _ensure_containers(self, target: Target, doc: dict[str, Any]) -> None:
        if target.subscription and not self.store.get(
            ids.key(f"/subscriptions/{target.subscription}")
        ):
            sub = target.subscription
            self._load_subscription(
                {
                    "id": f"/subscriptions/{sub}",
                    "authorizationSource": "RoleBased",
                    "subscriptionId": sub,
                    "tenantId": self.tenant_id,
                    "displayName": f"Subscription {sub}",
                    "state": "Enabled",
                    "subscriptionPolicies": {
                        "locationPlacementId": "Public_2014-09-01",
                        "quotaId": "PayAsYouGo_2014-09-01",
                        "spendingLimit": "Off",
                    },
                }
            )
        if target.subscription and target.resource_group:
            rg_path = f"/subscriptions/{target.subscription}/resourceGroups/{target.resource_group}"
            rg_target = ids.parse(rg_path)
            assert rg_target is not None
            if not self.store.get(rg_target.key):
                location = doc.get("location") if isinstance(doc.get("location"), str) else None
                self.store.put(
                    {
                        "id": rg_path,
                        "name": target.resource_group,
                        "type": RESOURCE_GROUP_TYPE,
                        "location": (location or "eastus").replace(" ", "").lower(),
                        "properties": {"provisioningState": "Succeeded"},
                    },
                    rg_target,
                    self._new_etag(),
                )

    def documents(self) -> list[dict[str, Any]]:
        with self.lock:
            return [e.doc for e in self.store.docs.values()]

    # --- helpers --------------------------------------------------------------------------

    def _cheap_etag(self) -> str:
        """An etag for a loaded document that carries none (unique, not random)."""
        self._loaded += 1
        return f'W/"00000000-0000-4000-8000-{self._loaded:012x}"'

    def _new_etag(self, like: str | None = None) -> str:
        bits = self._bits() & ((1 << 128) - 1)
        if like is not None and not like.startswith("W/"):
            return f'"{bits & ((1 << 60) - 1):015x}"'
        return f'W/"{uuid.UUID(int=bits, version=4)}"'

    def _link(self, path: str, **params: str) -> str:
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
        return f"{self.base_url}{quote(path, safe='/')}?{query}"

    def _exists(self, path: str) -> bool:
        return self.store.get(ids.key(path)) is not None

    def _check_containers(self, target: Target) -> None:
        if target.subscription is not None and not self._exists(
            f"/subscriptions/{target.subscription}"
        ):
            raise ArmError(
                404,
                "SubscriptionNotFound",
                f"The subscription '{target.subscription}' could not be found.",
            )
        if (
            target.kind in ("resource", "collection", "generic_list")
            and target.resource_group
            and not self._exists(
                f"/subscriptions/{target.subscription}/resourceGroups/{target.resource_group}"
            )
        ):
            raise ArmError(
                404,
                "ResourceGroupNotFound",
                f"Resource group '{target.resource_group}' could not be found.",
            )

    def _check_parent(self, target: Target) -> None:
        if target.kind not in ("resource", "collection") or not target.parent:
            return
        if (target.depth > 1 or target.scope_kind == "resource") and not self._exists(
            target.parent
        ):
            name = target.parent.rstrip("/").split("/")[-1]
            if target.depth > 1:
                raise ArmError(
                    404,
                    "ParentResourceNotFound",
                    "Can not perform requested operation on nested resource. "
                    f"Parent resource '{name}' not found.",
                )
            raise ArmError(404, "ResourceNotFound", self._not_found_message(target.parent))

    def _not_found_message(self, path: str) -> str:
        target = ids.parse(path)
        if target is None or target.kind != "resource":
            return f"The resource '{path}' was not found."
        segs = [s for s in path.split("/") if s]
        last = max(i for i, s in enumerate(segs) if s.lower() == "providers")
        tail = "/".join(segs[last + 1 :])
        where = f" under resource group '{target.resource_group}'" if target.resource_group else ""
        return (
            f"The Resource '{tail}'{where} was not found. For more details please go to "
            "https://aka.ms/ARMResourceNotFoundFix"
        )

    def _caller_http(self, req: ArmRequest) -> HttpInfo:
        return HttpInfo(
            client_request_id=req.headers.get("x-ms-client-request-id") or str(uuid.uuid4()),
            client_ip=req.client_ip,
            method=req.method,
            url=req.url,
        )

    def _events(
        self,
        req: ArmRequest,
        kind: str,
        doc_id: str,
        doc_type: str,
        subscription: str | None,
        action: str | None = None,
        count: int = 1,
    ) -> list[dict[str, Any]]:
        if not subscription:
            return []
        event_type = {"write": WRITE, "delete": DELETE, "action": ACTION}[kind]
        verb = {"write": "write", "delete": "delete", "action": f"{action}/action"}[kind]
        correlation = req.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4())
        return [
            build_event(
                event_type,
                doc_id,
                f"{doc_type}/{verb}",
                subscription,
                self.tenant_id,
                req.caller,
                correlation,
                self._caller_http(req),
            )
            for _ in range(count)
        ]

    # --- dispatch -------------------------------------------------------------------------

    def handle(self, req: ArmRequest) -> ArmResponse:
        try:
            version = req.api_version
            if not version:
                raise ArmError(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            if not API_VERSION_RE.match(version):
                raise ArmError(
                    400,
                    "InvalidApiVersionParameter",
                    f"The api-version '{version}' is invalid. The supported versions are "
                    "'2025-01-01,2024-11-01,2024-05-01,2024-04-01,2023-08-01,2023-04-01,"
                    "2022-04-01,2021-05-01-preview,2021-04-01'.",
                )
            events: list[dict[str, Any]] = []
            with self.lock:
                self._finish_due()
                response = self._dispatch(req, events)
            if events:
                self._publish(events)
            return response
        except ArmError as err:
            return ArmResponse(err.status, error_body(err.code, err.message))

    def _dispatch(self, req: ArmRequest, events: list[dict[str, Any]]) -> ArmResponse:
        op = self._ops.get(ids.key(req.path))
        if op is not None and req.method in ("GET", "HEAD"):
            return self._operation_status(op, req)
        target = ids.parse(req.path)
        if target is None:
            raise ArmError(
                404,
                "InvalidResourceNamespace",
                f"The request path '{req.path}' is not a supported ARM path.",
            )
        method = req.method
        if method == "POST":
            return self._action(req, target, events)
        if target.kind in ("subscriptions", "resource_groups", "generic_list", "collection"):
            if method != "GET":
                raise ArmError(
                    405,
                    "MethodNotAllowed",
                    f"The requested method '{method}' is not allowed on a collection.",
                )
            return self._list(req, target)
        if target.kind == "subscription":
            if method != "GET":
                raise ArmError(
                    405,
                    "MethodNotAllowed",
                    f"The requested method '{method}' is not allowed on a subscription.",
                )
            return self._get(req, target)
        if method in ("GET", "HEAD"):
            return self._get(req, target)
        if method == "PUT":
            return self._put(req, target, events)
        if method == "PATCH":
            return self._patch(req, target, events)
        if method == "DELETE":
            return self._delete(req, target, events)
        raise ArmError(405, "MethodNotAllowed", f"The requested method '{method}' is not allowed.")

    # --- reads ----------------------------------------------------------------------------

    def _doc_response(self, entry: Entry, status: int = 200) -> ArmResponse:
        return ArmResponse(status, entry.body, [("ETag", entry.etag)])

    def _get(self, req: ArmRequest, target: Target) -> ArmResponse:
        entry = self.store.get(target.key)
        if target.kind == "subscription":
            if entry is None:
                raise ArmError(
                    404,
                    "SubscriptionNotFound",
                    f"The subscription '{target.subscription}' could not be found.",
                )
            return self._doc_response(entry)
        self._check_containers(target)
        if target.kind == "resource_group":
            if entry is None:
                if req.method == "HEAD":
                    return ArmResponse(404)
                raise ArmError(
                    404,
                    "ResourceGroupNotFound",
                    f"Resource group '{target.resource_group}' could not be found.",
                )
            return ArmResponse(204) if req.method == "HEAD" else self._doc_response(entry)
        if entry is None and target.type_key == ROLE_DEFINITIONS:
            entry = self._role_definition_anywhere(target)
        if entry is None:
            self._check_parent(target)
            if req.method == "HEAD":
                return ArmResponse(404)
            raise ArmError(404, "ResourceNotFound", self._not_found_message(target.path))
        if req.method == "HEAD":
            return ArmResponse(204)
        return self._doc_response(entry)

    def _role_definition_anywhere(self, target: Target) -> Entry | None:
        """Built-in role definitions answer at every scope, with the id of the requested scope."""
        name = (target.name or "").lower()
        for k in self.store.keys(self.store.by_type, ROLE_DEFINITIONS):
            entry = self.store.docs[k]
            if (entry.target.name or "").lower() == name:
                doc = dict(entry.doc)
                doc["id"] = target.path
                return Entry(doc, target, entry.etag)
        return None

    def _list(self, req: ArmRequest, target: Target) -> ArmResponse:
        token = req.query.get("$skiptoken")
        cursor: str | None = None
        offset = 0
        keys: list[str] | None = None
        if token:
            cursor, _, off = token.partition(".")
            try:
                offset = max(0, int(off))
            except ValueError:
                raise ArmError(
                    400, "InvalidSkipToken", f"The skip token '{token}' is invalid."
                ) from None
            keys = self._cursors.get(cursor)
            if keys is not None:
                self._cursors.move_to_end(cursor)
        generic = target.kind == "generic_list"
        if keys is None:
            keys = self._list_keys(req, target)
        unpaged = target.type_key in UNPAGED_LISTS
        size = self.options.page_size
        top = req.query.get("$top")
        if top:
            try:
                size = max(1, min(size, int(top)))
            except ValueError:
                raise ArmError(
                    400, "InvalidQueryParameterValue", f"The $top value '{top}' is invalid."
                ) from None
        page = keys if unpaged else keys[offset : offset + size]
        items: list[bytes] = []
        for k in page:
            entry = self.store.get(k)
            if entry is None:
                continue
            items.append(_json(self._generic(entry.doc, req)) if generic else entry.body)
        body = b'{"value":[' + b",".join(items) + b"]"
        if not unpaged and offset + size < len(keys):
            if cursor is None or cursor not in self._cursors:
                cursor = uuid.UUID(int=self._bits() & ((1 << 128) - 1), version=4).hex
                self._cursors[cursor] = keys
                while len(self._cursors) > self.options.cursor_cache:
                    self._cursors.popitem(last=False)
            params = {"api-version": req.api_version, "$skiptoken": f"{cursor}.{offset + size}"}
            if top:
                params["$top"] = top
            link = self._link(target.path, **params)
            body += b',"nextLink":' + _json(link)
        return ArmResponse(200, body + b"}")

    def _generic(self, doc: dict[str, Any], req: ArmRequest) -> dict[str, Any]:
        out = {k: doc[k] for k in GENERIC_KEYS if k in doc}
        expand = req.query.get("$expand", "").lower()
        props = doc.get("properties")
        if (
            "provisioningstate" in expand
            and isinstance(props, dict)
            and "provisioningState" in props
        ):
            out["provisioningState"] = props["provisioningState"]
        return out

    def _list_keys(self, req: ArmRequest, target: Target) -> list[str]:
        store = self.store
        if target.kind == "subscriptions":
            return store.keys(store.by_parent, ("", "microsoft.resources/subscriptions"))
        self._check_containers(target)
        sub = (target.subscription or "").lower()
        if target.kind == "resource_groups":
            return store.keys(
                store.by_parent,
                (ids.key(f"/subscriptions/{target.subscription}"), RESOURCE_GROUP_TYPE.lower()),
            )
        flt = req.query.get("$filter", "")
        if target.kind == "generic_list":
            pool = (
                store.keys(store.generic_rg, (sub, (target.resource_group or "").lower()))
                if target.resource_group
                else store.keys(store.generic_sub, sub)
            )
            return self._filter_generic(pool, flt) if flt else pool
        self._check_parent(target)
        t = target.type_key
        parent_key = target.parent_key
        if t in ASSIGNMENT_TYPES or t == ROLE_DEFINITIONS:
            return self._assignments(target, parent_key, flt)
        if flt:
            raise ArmError(
                400, "InvalidFilterInQueryString", f"The $filter '{flt}' is not supported here."
            )
        if t in EXTENSION_TYPES or target.depth > 1 or target.scope_kind in ("resource", "tenant"):
            return store.keys(store.by_parent, (parent_key, t))
        if target.scope_kind == "subscription":
            return store.keys(store.by_sub, (sub, t))
        return store.keys(store.by_rg, (sub, (target.resource_group or "").lower(), t))

    def _filter_generic(self, pool: list[str], flt: str) -> list[str]:
        clauses = [c.strip() for c in re.split(r"\s+and\s+", flt.strip(), flags=re.I) if c]
        tests: list[tuple[str, str, str]] = []  # (field, value, tag name)
        tag_name = ""
        for clause in clauses:
            sub_m = re.fullmatch(r"substringof\('([^']*)',\s*name\)", clause, flags=re.I)
            if sub_m:
                tests.append(("substringof", sub_m.group(1).lower(), ""))
                continue
            m = re.fullmatch(r"(\w+)\s+eq\s+'([^']*)'", clause, flags=re.I)
            field_name = m.group(1).lower() if m else ""
            if (
                m is None
                or field_name not in ("resourcetype", "name", "location", "tagname", "tagvalue")
                or (field_name == "tagvalue" and not tag_name)
            ):
                raise ArmError(
                    400, "InvalidFilterInQueryString", f"The $filter '{flt}' is invalid."
                )
            if field_name == "tagname":
                tag_name = m.group(2).lower()
            tests.append((field_name, m.group(2), tag_name))
        return [k for k in pool if all(_generic_match(self.store.docs[k].doc, t) for t in tests)]

    def _assignments(self, target: Target, scope_key: str, flt: str) -> list[str]:
        at_scope = False
        principal: str | None = None
        definition: str | None = None
        for clause in [c.strip() for c in re.split(r"\s+and\s+", flt.strip(), flags=re.I) if c]:
            if clause.lower() == "atscope()":
                at_scope = True
                continue
            m = re.fullmatch(
                r"(?:assignedTo\('([^']*)'\)|principalId\s+eq\s+'([^']*)')", clause, flags=re.I
            )
            d = re.fullmatch(r"policyDefinitionId\s+eq\s+'([^']*)'", clause, flags=re.I)
            if m:
                principal = (m.group(1) or m.group(2) or "").lower()
            elif d:
                definition = d.group(1).lower()
            else:
                raise ArmError(
                    400, "InvalidFilterInQueryString", f"The $filter '{flt}' is invalid."
                )
        t = target.type_key
        if t == ROLE_DEFINITIONS:
            at_scope = True
        out = []
        for k in self.store.keys(self.store.by_type, t):
            entry = self.store.docs[k]
            doc_scope = entry.target.parent_key
            above = ids.is_ancestor(doc_scope, scope_key)
            below = ids.is_ancestor(scope_key, doc_scope)
            if not (above or (below and not at_scope)):
                continue
            props = entry.doc.get("properties") or {}
            if principal is not None and str(props.get("principalId", "")).lower() != principal:
                continue
            if (
                definition is not None
                and str(props.get("policyDefinitionId", "")).lower() != definition
            ):
                continue
            out.append(k)
        return out

    # --- writes ---------------------------------------------------------------------------

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
            wanted = {_strip_quotes(e) for e in if_match.split(",")}
            if "*" not in wanted and _strip_quotes(entry.etag) not in wanted:
                raise ArmError(
                    412,
                    "PreconditionFailed",
                    "The condition specified using HTTP conditional header(s) is not met: "
                    f"If-Match '{if_match}' does not match the current etag '{entry.etag}'.",
                )
        if if_none and entry is not None:
            wanted = {_strip_quotes(e) for e in if_none.split(",")}
            if "*" in wanted or _strip_quotes(entry.etag) in wanted:
                raise ArmError(
                    412,
                    "PreconditionFailed",
                    "The condition specified using HTTP conditional header(s) is not met: "
                    "the resource already exists.",
                )

    def _lro_style(self, type_key: str) -> str:
        if type_key in LOCATION_LRO:
            return "location"
        if _has(ASYNC_LRO, type_key):
            return "async"
        return "sync"

    def _new_operation(
        self,
        req: ArmRequest,
        target: Target,
        doc: dict[str, Any] | None,
        method: str,
        finish: Callable[[], None] | None,
    ) -> Operation:
        op_id = str(uuid.UUID(int=self._bits() & ((1 << 128) - 1), version=4))
        loc = "global"
        if doc is not None and isinstance(doc.get("location"), str):
            loc = doc["location"].replace(" ", "").lower() or "global"
        ns = target.namespace or "Microsoft.Resources"
        sub = target.subscription or "00000000-0000-0000-0000-000000000000"
        base = f"/subscriptions/{sub}/providers/{ns}/locations/{loc}"
        now = time.monotonic()
        op = Operation(
            op_id=op_id,
            method=method,
            resource_key=target.key,
            type_key=target.type_key,
            async_path=f"{base}/operations/{op_id}",
            location_path=f"{base}/operationResults/{op_id}",
            api_version=req.api_version,
            started=time.time(),
            ready_at=now + self.options.lro_duration,
            finish=finish,
        )
        self._ops[ids.key(op.async_path)] = op
        self._ops[ids.key(op.location_path)] = op
        if self.options.lro_duration <= 0:
            self._complete(op)
        else:
            self._pending.append(op)
        return op

    def _complete(self, op: Operation) -> None:
        if op.status != "InProgress":
            return
        op.status = "Succeeded"
        op.ended = time.time()
        if op.finish is not None:
            op.finish()
            op.finish = None

    def _finish_due(self) -> None:
        if not self._pending:
            return
        now = time.monotonic()
        due = [op for op in self._pending if op.ready_at <= now]
        if due:
            self._pending = [op for op in self._pending if op.ready_at > now]
            for op in due:
                self._complete(op)

    def tick(self) -> None:
        """Completes due operations (called periodically by the server)."""
        if self._pending:
            with self.lock:
                self._finish_due()

    def _retry_after(self) -> str:
        value = self.options.lro_retry_after
        return str(int(value)) if float(value).is_integer() else f"{value:g}"

    def _lro_headers(self, op: Operation, style: str) -> list[tuple[str, str]]:
        headers = [("Retry-After", self._retry_after())]
        if style == "async":
            headers.append(
                (
                    "Azure-AsyncOperation",
                    self._link(op.async_path, **{"api-version": op.api_version}),
                )
            )
        if style != "async" or op.method == "DELETE":
            headers.append(
                ("Location", self._link(op.location_path, **{"api-version": op.api_version}))
            )
        return headers

    def _operation_status(self, op: Operation, req: ArmRequest) -> ArmResponse:
        is_async = ids.key(req.path) == ids.key(op.async_path)
        running = op.status == "InProgress"
        extra = [("Retry-After", self._retry_after())] if running else []
        if is_async:
            body: dict[str, Any] = {
                "id": op.async_path,
                "name": op.op_id,
                "status": op.status,
                "startTime": iso_now(op.started),
            }
            if not running:
                body["endTime"] = iso_now(op.ended)
            return ArmResponse(200, _json(body), extra)
        if running:
            link = self._link(op.location_path, **{"api-version": op.api_version})
            return ArmResponse(202, b"", [*extra, ("Location", link)])
        if op.method == "DELETE":
            return ArmResponse(204)
        entry = self.store.get(op.resource_key)
        if entry is None:
            return ArmResponse(204)
        return self._doc_response(entry)

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
        if has_state or _has(PROVISIONING_STATE, t):
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
        elif _has(WEAK_ETAGS, t):
            doc["etag"] = 'W/""'
        elif _has(STRONG_ETAGS, t):
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
        body = self._body(req)
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
                _json(shown),
                [("ETag", entry.etag), *self._lro_headers(op, style)],
            )
        if t in ALWAYS_201:
            status = 201
        elif t in ALWAYS_200:
            status = 200
        else:
            status = 201 if created else 200
        return self._doc_response(entry, status)

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
        self._check_containers(target)
        body = self._body(req)
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
                doc[k] = _merge(doc.get(k), v)
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
        if _has(LRO_DELETE, t):
            style = "location" if t in LOCATION_LRO else "async"
            op = self._new_operation(req, target, doc, "DELETE", finish)
            return ArmResponse(202, b"", self._lro_headers(op, style))
        finish()
        # Authorization deletes answer the deleted object (the SDK returns it); others nothing.
        return ArmResponse(200, _json(doc) if t.startswith("microsoft.authorization/") else b"")

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
            if action.lower() == "listkeys" and entry.target.type_key.startswith(
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
            return ArmResponse(200, _json(result))
        self._check_containers(target)
        raise ArmError(404, "ResourceNotFound", self._not_found_message(req.path))


def _generic_match(doc: dict[str, Any], test: tuple[str, str, str]) -> bool:
    field_name, value, tag_name = test
    tags = doc.get("tags") if isinstance(doc.get("tags"), dict) else {}
    assert isinstance(tags, dict)
    if field_name == "substringof":
        return value in str(doc.get("name", "")).lower()
    if field_name == "resourcetype":
        return str(doc.get("type", "")).lower() == value.lower()
    if field_name == "name":
        return str(doc.get("name", "")).lower() == value.lower()
    if field_name == "location":
        return str(doc.get("location", "")).replace(" ", "").lower() == value.lower()
    if field_name == "tagname":
        return any(str(k).lower() == value.lower() for k in tags)
    return any(str(k).lower() == tag_name and v == value for k, v in tags.items())


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
