"""Microsoft Graph (v1.0) stand-in, at ``{base}/graph/v1.0``: the directory objects the access
review reads (users, groups and their transitive members, service principals).

Auth: any bearer token (as for ARM). What the token may read is the service's ``permissions``
(application permissions, default: all of :data:`ALL_PERMISSIONS`); a request that needs one
the tenant has not granted answers 403 ``Authorization_RequestDenied`` as Graph does
(``{"error": {"code", "message", "innerError": {...}}}``). Set them per sim with
``POST /_admin/graph/permissions {"granted": [...]}`` or :meth:`GraphService.grant`.

Supported (shapes: ``../shared/reference/graph``, Graph v1.0 docs):

- ``GET /users``, ``/groups``, ``/servicePrincipals``: ``$select`` (comma list; unknown
  properties 400), ``$top`` (1..999, default 100), ``$filter`` of ``prop eq 'x'`` / ``prop eq
  true|false`` clauses joined by ``and`` (``userType``, ``accountEnabled``, ``displayName``,
  ``servicePrincipalType``, ``securityEnabled``), paging with ``@odata.nextLink``
  (``$skiptoken``), ``@odata.context``.
- ``GET /users/{id}``, ``/groups/{id}``, ``/servicePrincipals/{id}``: 404 ``Request_ResourceNotFound``.
- ``GET /groups/{id}/transitiveMembers`` (members of nested groups too, each once; users and
  service principals with ``@odata.type``; the nested groups themselves are listed as well),
  ``$select``, ``$top``, paging.
- ``signInActivity`` on users needs ``AuditLog.Read.All`` besides ``User.Read.All``, and an
  Entra ID P1/P2 licence (``premium``; without it 403
  ``Authentication_RequestFromNonPremiumTenantOrB2CTenant``); a list
  selecting it answers pages of at most 120 users whatever ``$top`` says (as Graph does).
- ``POST /$batch`` (JSON batching): up to 20 GET requests with relative URLs, each answered in
  ``responses`` with its own ``id``, ``status``, ``headers`` and ``body`` (a 403 or 404 of one
  request is that request's answer, not the batch's); more than 20 → 400.

Permissions needed (least privileged application permission, Graph docs): users
``User.Read.All``; groups and transitive members ``GroupMember.Read.All``; service principals
``Application.Read.All``; ``signInActivity`` ``AuditLog.Read.All``. ``Directory.Read.All``
covers the first three (not sign-in activity).

Not supported: ``$expand``, ``$orderby``, ``$search``, ``$count``, delta queries, batch
requests other than GET, ``dependsOn``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

ALL_PERMISSIONS = frozenset(
    {"User.Read.All", "GroupMember.Read.All", "Application.Read.All", "AuditLog.Read.All"}
)
DIRECTORY_READ_ALL = "Directory.Read.All"
MAX_TOP = 999
DEFAULT_TOP = 100
# Listing users with $select=signInActivity: "the maximum page size for $top is 120. Requests
# with $top set higher than 120 will return pages with up to 120 users" (Graph v1.0 user-list).
SIGN_IN_PAGE = 120
KINDS = {
    "users": ("user", "User.Read.All"),
    "groups": ("group", "GroupMember.Read.All"),
    "servicePrincipals": ("servicePrincipal", "Application.Read.All"),
}
JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false"
Reply = tuple[int, list[tuple[str, str]], bytes, bool]


def _reply(status: int, body: Any, request_id: str = "") -> Reply:
    headers = [("Content-Type", JSON_TYPE)]
    if request_id:
        headers.append(("request-id", request_id))
    return status, headers, json.dumps(body).encode(), False


def _error(status: int, code: str, message: str) -> Reply:
    return _reply(
        status,
        {
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": "2026-01-01T00:00:00",
                    "request-id": "00000000-0000-4000-8000-000000000000",
                    "client-request-id": "00000000-0000-4000-8000-000000000000",
                },
            }
        },
    )


def _denied() -> Reply:
    return _error(
        403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
    )


class GraphService:
    """The directory and what the caller may read of it. Thread-safe."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/") + "/graph/v1.0"
        self._lock = threading.Lock()
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.members: dict[str, list[str]] = {}
        self.service_principals: dict[str, dict[str, Any]] = {}
        self.permissions: frozenset[str] = ALL_PERMISSIONS
        self.premium = True  # an Entra ID P1/P2 licence: signInActivity can be read
        self.requests = 0
        self.by_route: dict[str, int] = {}

    # --- admin ----------------------------------------------------------------------------

    def clear(self) -> None:
        with self._lock:
            self.users, self.groups, self.members, self.service_principals = {}, {}, {}, {}
            self.permissions = ALL_PERMISSIONS
            self.premium = True
            self.requests = 0
            self.by_route = {}

    def load(self, directory: dict[str, Any]) -> int:
        """Adds ``{"users": [...], "groups": [... with "members": [ids]], "servicePrincipals":
        [...]}`` (Graph shapes); answers how many objects were added."""
        count = 0
        with self._lock:
            for user in directory.get("users") or []:
                self.users[str(user["id"]).lower()] = dict(user)
                count += 1
            for group in directory.get("groups") or []:
                body = dict(group)
                members = [str(m).lower() for m in body.pop("members", []) or []]
                self.groups[str(body["id"]).lower()] = body
                self.members[str(body["id"]).lower()] = members
                count += 1
            for sp in directory.get("servicePrincipals") or []:
                self.service_principals[str(sp["id"]).lower()] = dict(sp)
                count += 1
        return count

    def remove(self, object_id: str) -> bool:
        """Deletes a directory object (an orphaned role assignment's principal)."""
        key = object_id.lower()
        with self._lock:
            found = False
            for table in (self.users, self.groups, self.service_principals):
                found = table.pop(key, None) is not None or found
            for members in self.members.values():
                if key in members:
                    members.remove(key)
            return found

    def grant(self, permissions: Iterable[str]) -> None:
        self.permissions = frozenset(permissions)

    def received(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "by_route": dict(self.by_route),
                "permissions": sorted(self.permissions),
                "objects": len(self.users) + len(self.groups) + len(self.service_principals),
            }

    # --- requests -------------------------------------------------------------------------

    def _may(self, permission: str) -> bool:
        if permission in self.permissions:
            return True
        return permission != "AuditLog.Read.All" and DIRECTORY_READ_ALL in self.permissions

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes = b""
    ) -> Reply:
        """``path`` after ``/graph``; answers (status, headers, body, reset)."""
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "InvalidAuthenticationToken", "Access token is empty.")
        if not path.startswith("/v1.0/"):
            return _error(400, "BadRequest", f"Invalid version: {path.split('/')[1:2]}")
        if method == "POST" and path == "/v1.0/$batch":
            return self._batch(body)
        if method != "GET":
            return _error(405, "Request_BadRequest", f"The method {method} is not supported.")
        return self._get(path, query)

    def _batch(self, raw: bytes) -> Reply:
        try:
            payload = json.loads(raw or b"{}")
            requests = payload["requests"]
            assert isinstance(requests, list)
        except (ValueError, KeyError, TypeError, AssertionError):
            return _error(400, "BadRequest", "Invalid batch payload format.")
        with self._lock:
            self.requests += 1
            self.by_route["$batch"] = self.by_route.get("$batch", 0) + 1
        if len(requests) > 20:
            return _error(
                400, "BadRequest", "Number of batch request steps exceeds the maximum of 20."
            )
        out = []
        for item in requests:
            rid = str(item.get("id", "")) if isinstance(item, dict) else ""
            url = str(item.get("url", "")) if isinstance(item, dict) else ""
            if not rid or str(item.get("method", "")).upper() != "GET" or not url.startswith("/"):
                out.append(
                    {
                        "id": rid,
                        "status": 400,
                        "headers": {},
                        "body": {"error": {"code": "BadRequest", "message": "Invalid request."}},
                    }
                )
                continue
            path, _, query = url.partition("?")
            status, headers, body, _ = self._get("/v1.0" + path, query, batched=True)
            out.append(
                {"id": rid, "status": status, "headers": dict(headers), "body": json.loads(body)}
            )
        return _reply(200, {"responses": out})

    def _get(self, path: str, query: str, *, batched: bool = False) -> Reply:
        segs = [s for s in path[len("/v1.0/") :].split("/") if s]
        params = {k.lower(): v for k, v in parse_qsl(query, keep_blank_values=True)}
        route = "/".join(s if i % 2 == 0 else "{id}" for i, s in enumerate(segs))
        route = f"$batch:{route}" if batched else route
        with self._lock:
            self.requests += 0 if batched else 1
            self.by_route[route] = self.by_route.get(route, 0) + 1
            return self._route(segs, params)

    def _table(self, kind: str) -> dict[str, dict[str, Any]]:
        return {
            "users": self.users,
            "groups": self.groups,
            "servicePrincipals": self.service_principals,
        }[kind]

    def _route(self, segs: list[str], params: dict[str, str]) -> Reply:
        if not segs or segs[0] not in KINDS:
            return _error(400, "BadRequest", f"Resource not found for the segment '{segs[:1]}'.")
        kind = segs[0]
        permission = KINDS[kind][1]
        if not self._may(permission):
            return _denied()
        select = _select(params.get("$select"))
        if isinstance(select, tuple):
            return select
        sign_ins = bool(select) and "signInActivity" in (select or []) and kind == "users"
        if sign_ins and not self._may("AuditLog.Read.All"):
            return _denied()
        if sign_ins and not self.premium:
            return _error(
                403,
                "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                "Neither tenant is B2C or tenant doesn't have premium license",
            )
        if len(segs) == 1:
            objects = list(self._table(kind).values())
            try:
                objects = [o for o in objects if _matches(o, params.get("$filter", ""))]
            except ValueError as exc:
                return _error(400, "Request_UnsupportedQuery", str(exc))
            return self._page(
                kind,
                objects,
                params,
                select,
                with_type=False,
                cap=SIGN_IN_PAGE if sign_ins else MAX_TOP,
            )
        found = self._table(kind).get(segs[1].lower())
        if found is None:
            return _error(
                404,
                "Request_ResourceNotFound",
                f"Resource '{segs[1]}' does not exist or one of its queried reference-property "
                "objects are not present.",
            )
        if len(segs) == 2:
            return _reply(
                200,
                {
                    "@odata.context": f"{self.base_url}/$metadata#{kind}/$entity",
                    **_project(found, select),
                },
            )
        if kind == "groups" and len(segs) == 3 and segs[2] == "transitiveMembers":
            return self._page(
                f"groups/{segs[1]}/transitiveMembers",
                self._transitive(segs[1].lower()),
                params,
                select,
                with_type=True,
            )
        return _error(400, "BadRequest", f"Unsupported segment '{segs[2]}'.")

    def _transitive(self, group: str) -> list[dict[str, Any]]:
        seen: set[str] = set()
        out: list[dict[str, Any]] = []
        queue = list(self.members.get(group, []))
        while queue:
            oid = queue.pop(0)
            if oid in seen or oid == group:
                continue
            seen.add(oid)
            for kind, table in (
                ("user", self.users),
                ("group", self.groups),
                ("servicePrincipal", self.service_principals),
            ):
                obj = table.get(oid)
                if obj is not None:
                    out.append({"@odata.type": f"#microsoft.graph.{kind}", **obj})
                    if kind == "group":
                        queue.extend(self.members.get(oid, []))
                    break
        return out

    def _page(
        self,
        what: str,
        objects: list[dict[str, Any]],
        params: dict[str, str],
        select: list[str] | None,
        *,
        with_type: bool,
        cap: int = MAX_TOP,
    ) -> Reply:
        try:
            top = int(params.get("$top") or DEFAULT_TOP)
            offset = int(params.get("$skiptoken") or 0)
        except ValueError:
            return _error(400, "Request_BadRequest", "Invalid $top or $skiptoken value.")
        if not 1 <= top <= MAX_TOP:
            return _error(
                400,
                "Request_BadRequest",
                f"Invalid page size specified: '{top}'. Must be between 1 and {MAX_TOP} inclusive.",
            )
        top = min(top, cap)
        objects.sort(key=lambda o: str(o.get("id")))
        page = objects[offset : offset + top]
        keep = [*select, "@odata.type"] if (select and with_type) else select
        body: dict[str, Any] = {
            "@odata.context": f"{self.base_url}/$metadata#{what.split('/')[0]}"
            + (f"({','.join(select)})" if select else ""),
            "value": [_project(o, keep) for o in page],
        }
        if offset + top < len(objects):
            next_params = {k: v for k, v in params.items() if k != "$skiptoken"}
            next_params["$skiptoken"] = str(offset + top)
            body["@odata.nextLink"] = f"{self.base_url}/{what}?{urlencode(next_params)}"
        return _reply(200, body)


_FILTER_CLAUSE = re.compile(r"(\w+)\s+eq\s+(?:'([^']*)'|(true|false))", re.I)
_FILTERABLE = {
    "usertype",
    "accountenabled",
    "displayname",
    "serviceprincipaltype",
    "securityenabled",
    "id",
}


def _matches(obj: dict[str, Any], flt: str) -> bool:
    if not flt.strip():
        return True
    for clause in re.split(r"\s+and\s+", flt.strip(), flags=re.I):
        m = _FILTER_CLAUSE.fullmatch(clause.strip())
        if m is None or m.group(1).lower() not in _FILTERABLE:
            raise ValueError(f"Unsupported or invalid query filter clause specified: '{clause}'.")
        name = next((k for k in obj if k.lower() == m.group(1).lower()), m.group(1))
        wanted: Any = m.group(2) if m.group(3) is None else m.group(3).lower() == "true"
        if obj.get(name) != wanted:
            return False
    return True


def _select(raw: str | None) -> list[str] | Reply | None:
    if raw is None or not raw.strip():
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    for name in names:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", name):
            return _error(400, "BadRequest", f"Parsing OData Select and Expand failed: '{name}'.")
    return names


def _project(obj: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    if not select:
        return {k: v for k, v in obj.items() if k != "signInActivity"}
    return {k: obj.get(k) for k in select if k in obj or not k.startswith("@")}
