"""The state every layer of :class:`sim.arm.ArmService` shares: the store, loading documents
(no events), etags, links, container and parent checks, not-found messages and events."""

from __future__ import annotations

import gc
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote

from sim import ids
from sim.arm.model import (
    EMBEDDED_CHILDREN,
    ArmError,
    ArmOptions,
    ArmRequest,
    ArmResponse,
    Operation,
)
from sim.events import ACTION, DELETE, WRITE, HttpInfo, build_event
from sim.ids import RESOURCE_GROUP_TYPE, Target
from sim.store import Entry, Store

# The origin the current request addressed, when it came by ARM's public name (through
# sim.proxy): links ARM hands back (nextLink, operation monitors) then name that origin too, as
# real ARM's do, so a client follows them the way it came.
REQUEST_ORIGIN: ContextVar[str | None] = ContextVar("sim_arm_request_origin", default=None)


class ArmCore:
    """The tenant's documents and what every request needs, before any route is chosen."""

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
        origin = REQUEST_ORIGIN.get() or self.base_url
        return f"{origin}{quote(path, safe='/')}?{query}"

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

    def _doc_response(self, entry: Entry, status: int = 200) -> ArmResponse:
        return ArmResponse(status, entry.body, [("ETag", entry.etag)])
