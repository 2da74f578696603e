"""The admin API of the simulated tenant, under ``/_admin`` (no auth: it listens on loopback).

``GET  /_admin/health``                 ``{"ok": true}``
``GET  /_admin/info``                   the ready line plus tenant id, document count, faults,
                                        ``services`` (the notification stand-ins' URLs, secrets)
``POST /_admin/reset``                  ``{"estate": "demo"|"empty"|FILE|N|"N:M"|{estate}, "seed": n}``
                                        (empty body: the estate the server started with)
``POST /_admin/load``                   ``{"documents": [...], "subscriptions": [...]}`` added
                                        verbatim, no events
``POST /_admin/change``                 ``{"method": "PUT"|"PATCH"|"DELETE"|"POST", "id": ...,
                                        "body": {...}, "api_version": ..., "user": name|{...}}``:
                                        a change made "as a user" (portal claims), with events;
                                        answers ``{"status": n, "body": ...}``
``GET  /_admin/document?id=ID``         a stored document, not counted (404 when absent)
``GET  /_admin/counters``               ARM requests by method, type, method+type, status, fault,
                                        and ``by_call`` ("GET list T", "GET one T", "POST one T":
                                        a collection read vs a document's)
``POST /_admin/counters/reset``
``GET  /_admin/ground-truth``           the estate's ``ground_truth`` (pattern → resource ids)
``POST /_admin/faults``                 ``{"spec": "latency=20ms,throttle=on"}``
``GET  /_admin/events``                 published count and per-subscription delivery stats
``POST /_admin/events/subscriptions``   ``{"destination": URL|FILE, "schema": "eventgrid"|"cloudevents"}``
``DELETE /_admin/events/subscriptions`` removes every event subscription
``POST /_admin/events/wait``            ``{"timeout": s}``: waits until every delivery is done
``GET  /_admin/github/issues``          what the GitHub stand-in holds: ``count``, ``issues``,
                                        ``comments``, ``counters`` (requests by route, status,
                                        fault)
``GET  /_admin/devops/workitems``       ``count``, ``workitems``, ``comments``, ``counters``
``GET  /_admin/teams/messages``         ``count``, ``messages`` (webhook id, body), ``counters``
``GET  /_admin/email/messages``         ``count``, ``messages`` (the send bodies with their
                                        operation ``id`` and final ``status``), ``counters``
``POST /_admin/{service}/reset``        forgets what that service received (``/_admin/reset``
                                        does it for all four)
``GET  /_admin/graph``                  the Graph stand-in: requests by route, permissions, objects
``POST /_admin/graph/permissions``      ``{"granted": ["User.Read.All", ...]}``: what the token may
                                        read (403 Authorization_RequestDenied for the rest)
``POST /_admin/graph/directory``        ``{"users": [...], "groups": [...], "servicePrincipals":
                                        [...]}`` added (Graph shapes; groups with ``members``)
``POST /_admin/graph/remove``           ``{"id": OBJECT_ID}``: deletes a directory object
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from sim.channels import service_urls
from sim.faults import FaultSpecError

if TYPE_CHECKING:
    from sim.server import SimTenant


def _error(status: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {
        "error": {"code": "AdminBadRequest" if status == 400 else "NotFound", "message": message}
    }


def handle_admin(
    tenant: SimTenant, method: str, path: str, query: str, raw: bytes
) -> tuple[int, Any]:
    route = path[len("/_admin") :].rstrip("/") or "/"
    try:
        body: Any = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return _error(400, "the body is not JSON")
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object")
    try:
        return _route(tenant, method, route, parse_qs(query), body)
    except (FaultSpecError, ValueError, OSError, RuntimeError, KeyError, TypeError) as exc:
        return _error(400, f"{type(exc).__name__}: {exc}")


def _route(
    tenant: SimTenant, method: str, route: str, query: dict[str, list[str]], body: dict[str, Any]
) -> tuple[int, Any]:
    service_routes = {
        "/github/issues": "github",
        "/devops/workitems": "devops",
        "/teams/messages": "teams",
        "/email/messages": "email",
    }
    if route in service_routes and method == "GET":
        return 200, tenant.services[service_routes[route]].received()
    name = route.strip("/").partition("/")[0]
    if route == f"/{name}/reset" and name in tenant.services and method == "POST":
        tenant.services[name].clear()
        return 200, tenant.services[name].received()
    if route == "/graph" and method == "GET":
        return 200, tenant.graph.received()
    if route == "/graph/permissions" and method == "POST":
        granted = body.get("granted")
        if not isinstance(granted, list):
            return _error(400, "granted must be a list of permission names")
        tenant.graph.grant(str(g) for g in granted)
        return 200, tenant.graph.received()
    if route == "/graph/directory" and method == "POST":
        return 200, {"loaded": tenant.graph.load(body), **tenant.graph.received()}
    if route == "/graph/remove" and method == "POST":
        return 200, {"removed": tenant.graph.remove(str(body.get("id") or ""))}
    if route in ("/", "/health") and method == "GET":
        return 200, {"ok": True}
    if route == "/info" and method == "GET":
        return 200, {
            **tenant.ready_info(),
            "tenant_id": tenant.arm.tenant_id,
            "documents": len(tenant.arm.store),
            "faults": tenant.faults.describe(),
            "load_errors": tenant.arm.load_errors,
            "services": service_urls(tenant.base_url),
        }
    if route == "/reset" and method == "POST":
        seed = body.get("seed")
        tenant.reset(body.get("estate"), int(seed) if seed is not None else None)
        return 200, {"documents": len(tenant.arm.store), "subscriptions": tenant.subscriptions}
    if route == "/load" and method == "POST":
        documents = body.get("documents") or []
        subscriptions = body.get("subscriptions") or []
        if not isinstance(documents, list) or not isinstance(subscriptions, list):
            return _error(400, "documents and subscriptions must be lists")
        loaded = tenant.arm.load(documents, subscriptions)
        return 200, {
            "loaded": loaded,
            "documents": len(tenant.arm.store),
            "load_errors": tenant.arm.load_errors,
        }
    if route == "/change" and method == "POST":
        resource_id = body.get("id")
        if not isinstance(resource_id, str) or not resource_id:
            return _error(400, "id is required")
        resp = tenant.change_as_user(
            str(body.get("method", "PUT")),
            resource_id,
            body.get("body"),
            str(body.get("api_version") or "") or None,
            body.get("user"),
        )
        return 200, {
            "status": resp.status,
            "body": json.loads(resp.body) if resp.body else None,
            "headers": dict(resp.headers),
        }
    if route == "/document" and method == "GET":
        wanted = (query.get("id") or [""])[0]
        entry = tenant.arm.store.get("/" + wanted.strip().strip("/").lower())
        if entry is None:
            return _error(404, f"no document {wanted!r}")
        return 200, entry.doc
    if route == "/counters" and method == "GET":
        return 200, tenant.counters.snapshot()
    if route == "/counters/reset" and method == "POST":
        tenant.counters.reset()
        return 200, tenant.counters.snapshot()
    if route == "/ground-truth" and method == "GET":
        return 200, tenant.estate.ground_truth
    if route == "/faults" and method == "POST":
        tenant.set_faults(str(body.get("spec") or ""))
        return 200, {"faults": tenant.faults.describe()}
    if route == "/faults" and method == "GET":
        return 200, {"faults": tenant.faults.describe()}
    if route == "/events" and method == "GET":
        return 200, tenant.bus.describe()
    if route == "/events/subscriptions" and method == "POST":
        destination = body.get("destination")
        if not isinstance(destination, str) or not destination:
            return _error(400, "destination is required")
        schema = body.get("schema")
        if schema not in (None, "eventgrid", "cloudevents"):
            return _error(400, "schema must be eventgrid or cloudevents")
        tenant.add_destination(destination, schema)
        return 200, tenant.bus.describe()
    if route == "/events/subscriptions" and method == "DELETE":
        tenant.bus.clear()
        return 200, tenant.bus.describe()
    if route == "/events/wait" and method == "POST":
        idle = tenant.bus.wait_idle(float(body.get("timeout", 10)))
        return 200, {"idle": idle, **tenant.bus.describe()}
    return _error(404, f"no admin route {method} {route}")
