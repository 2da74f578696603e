"""Microsoft Graph over REST (no msgraph-sdk: ~400 MB): the few directory reads the access review
needs, on the :class:`~shared.http.ServiceClient` seam (transport, retries honouring
``Retry-After``, typed errors, request counts, ``@odata.nextLink`` followed only back to Graph).

Reads (v1.0, application permissions; least privileged ones from the Graph docs):

* ``GET /users?$select=id,displayName,userPrincipalName,userType,accountEnabled,signInActivity``
  — User.Read.All; ``signInActivity`` also needs AuditLog.Read.All (and an Entra ID P1/P2
  licence). Without it the users are read again without ``signInActivity`` and the review says
  sign-ins are unknown.
* ``GET /servicePrincipals?$select=id,appId,displayName,servicePrincipalType,accountEnabled``
  — Application.Read.All.
* ``GET /groups?$select=id,displayName`` and ``GET /groups/{id}/transitiveMembers`` for each
  group holding a grant on PHI — GroupMember.Read.All. The first pages of 20 groups go in one
  ``POST /$batch`` (JSON batching, Graph's maximum of 20 requests); further pages, and a request
  the batch answered 429 / 5xx, are read one by one (with the client's retries), after the
  longest ``Retry-After`` the throttled answers carried (each inner response has its own).
  Members that are devices or organisational contacts are not principals of Azure RBAC and
  are left out.

Pages of 999 (Graph's maximum ``$top`` for directory objects). A 403 is never guessed around:
it becomes an :class:`~shared.access.model.Unknown` naming the permission missing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode

from shared.access.model import (
    GROUP_MEMBERS,
    SERVICE_PRINCIPALS,
    SIGN_INS,
    USERS,
    Directory,
    Principal,
    PrincipalKind,
    ReviewInputError,
    Unknown,
)
from shared.errors import ServiceError, TransientServiceError
from shared.http import RequestCounts, ServiceClient, retry_after

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.rest import HttpResponse

PAGE = 999
# Graph's 403 code for signInActivity in a tenant without an Entra ID P1/P2 licence.
NO_PREMIUM_LICENCE = "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
BATCH = 20  # Graph JSON batching's maximum requests per batch
USER_FIELDS = "id,displayName,userPrincipalName,userType,accountEnabled"
SP_FIELDS = "id,appId,displayName,servicePrincipalType,accountEnabled"
GROUP_FIELDS = "id,displayName"
MEMBER_FIELDS = "id,displayName,userPrincipalName,userType,accountEnabled,servicePrincipalType"


class GraphError(ServiceError):
    """Graph refused a request (403 a permission missing, 400, 404, ...)."""

    service = "Graph"


class TransientGraphError(TransientServiceError):
    """Throttling (429), 5xx or network trouble outlasting the retries."""


class GraphClient(ServiceClient):
    service: ClassVar[str] = "Graph"
    error: ClassVar[type[ServiceError]] = GraphError
    transient: ClassVar[type[TransientServiceError]] = TransientGraphError

    def __init__(
        self,
        graph_url: str,
        credential: TokenCredential,
        *,
        counts: RequestCounts | None = None,
        **connection: Any,
    ) -> None:
        from azure.core.pipeline.policies import BearerTokenCredentialPolicy

        graph_url = graph_url.rstrip("/")
        self.batch_retry_after = 0.0  # seconds the last batch's throttled answers asked for
        super().__init__(
            graph_url,
            auth_policy=BearerTokenCredentialPolicy(credential, f"{graph_url}/.default"),
            counts=counts,
            **connection,
        )

    def error_detail(self, response: HttpResponse) -> tuple[str, str]:
        try:
            body = response.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return str(error.get("code", "")), str(error.get("message", ""))[:300]
        return super().error_detail(response)

    max_batch_wait: ClassVar[float] = 60.0  # a longer inner Retry-After is not slept on whole

    def pause(self, seconds: float) -> None:
        """Waits out an inner ``Retry-After`` (a test replaces it)."""
        time.sleep(seconds)

    def batch(self, paths: Sequence[str], kind: str) -> list[tuple[int, dict[str, Any]]]:
        """GETs of up to 20 relative paths (with their query) in one ``POST /$batch``: each
        one's (status, body), in order. Throttled answers (429 / 503 inside the batch) carry
        their own ``Retry-After`` header: the longest is kept in :attr:`batch_retry_after`."""
        if len(paths) > BATCH:
            raise ValueError(f"a Graph batch holds at most {BATCH} requests")
        url = f"{self.base_url}/v1.0/$batch"
        body = self.send(
            "POST",
            url,
            kind=kind,
            json={
                "requests": [
                    {"id": str(i), "method": "GET", "url": path} for i, path in enumerate(paths)
                ]
            },
        ).json()
        answers = {
            str(r.get("id")): r
            for r in (body.get("responses") if isinstance(body, dict) else None) or []
            if isinstance(r, dict)
        }
        out: list[tuple[int, dict[str, Any]]] = []
        self.batch_retry_after = 0.0
        for i in range(len(paths)):
            answer = answers.get(str(i)) or {}
            inner = answer.get("body")
            status = int(answer.get("status") or 0)
            out.append((status, inner if isinstance(inner, dict) else {}))
            headers = answer.get("headers")
            if status in (429, 503) and isinstance(headers, dict):
                wait = retry_after({str(k).lower(): str(v) for k, v in headers.items()})
                if wait is not None and wait > self.batch_retry_after:
                    self.batch_retry_after = min(wait, self.max_batch_wait)
        return out

    def items(self, path: str, params: dict[str, str], kind: str) -> Iterator[dict[str, Any]]:
        """Every object of a collection, following ``@odata.nextLink`` (only back to Graph)."""
        yield from self.pages(f"{self.base_url}/v1.0{path}?{urlencode(params)}", kind)

    def pages(self, url: str, kind: str) -> Iterator[dict[str, Any]]:
        """The objects of ``url`` and of every ``@odata.nextLink`` after it."""
        while url:
            body = self.send("GET", url, kind=kind).json()
            values = body.get("value") if isinstance(body, dict) else None
            if not isinstance(values, list):
                raise GraphError(200, "InvalidBody", "'value' is not a list", url)
            yield from (v for v in values if isinstance(v, dict))
            link = body.get("@odata.nextLink")
            url = self.same_origin(link, "InvalidNextLink", "@odata.nextLink") if link else ""


def _denied(exc: Exception) -> bool:
    return isinstance(exc, GraphError) and exc.status == 403


def read_directory(graph: GraphClient, groups_wanted: Iterable[str]) -> Directory:
    """What Graph tells about every user, service principal and group (members of the groups
    in ``groups_wanted`` expanded); each list Graph refuses becomes an Unknown."""
    directory = Directory()

    def add(objects: Iterable[dict[str, Any]], kind: PrincipalKind, sign_ins: bool) -> None:
        for doc in objects:
            try:
                found = Principal.from_graph(doc, kind, sign_ins=sign_ins)
            except ReviewInputError as exc:
                directory.unknowns.append(Unknown(str(exc), "Graph answered an object without id"))
                continue
            directory.principals[found.id] = found

    # Users, with their sign-in activity when the identity may read it.
    try:
        users = list(
            graph.items(
                "/users", {"$select": USER_FIELDS + ",signInActivity", "$top": str(PAGE)}, "users"
            )
        )
        add(users, "User", True)
        directory.read.add("User")
    except GraphError as exc:
        if not _denied(exc):
            raise
        try:
            add(
                graph.items("/users", {"$select": USER_FIELDS, "$top": str(PAGE)}, "users"),
                "User",
                False,
            )
            directory.read.add("User")
            if exc.code.lower() == NO_PREMIUM_LICENCE.lower():
                # The permission may well be granted: the tenant has no Entra ID P1/P2.
                directory.missing_permissions.add(SIGN_INS)
                directory.unknowns.append(
                    Unknown(
                        "last sign-in of every user",
                        f"Microsoft Graph answered 403 {exc.code}: sign-in activity needs an "
                        "Entra ID P1 or P2 licence in the tenant (and AuditLog.Read.All)",
                        SIGN_INS,
                    )
                )
            else:
                _unknown(directory, "last sign-in of every user", SIGN_INS)
        except GraphError as again:
            if not _denied(again):
                raise
            _unknown(
                directory,
                "user type (guest or member), enabled, last sign-in, deleted users",
                USERS,
            )
            _unknown(directory, "last sign-in of every user", SIGN_INS)
    try:
        add(
            graph.items(
                "/servicePrincipals",
                {"$select": SP_FIELDS, "$top": str(PAGE)},
                "service_principals",
            ),
            "ServicePrincipal",
            False,
        )
        directory.read.add("ServicePrincipal")
    except GraphError as exc:
        if not _denied(exc):
            raise
        _unknown(
            directory,
            "service principals (which objects are applications, deleted ones)",
            SERVICE_PRINCIPALS,
        )
    try:
        add(
            graph.items("/groups", {"$select": GROUP_FIELDS, "$top": str(PAGE)}, "groups"),
            "Group",
            False,
        )
        directory.read.add("Group")
    except GraphError as exc:
        if not _denied(exc):
            raise
        _unknown(directory, "group members (group grants not expanded to people)", GROUP_MEMBERS)
        return directory
    wanted = [g for g in sorted({g.lower() for g in groups_wanted}) if g in directory.principals]
    # (a group Graph does not hold is deleted: the orphan rule reports its grants)
    query = urlencode({"$select": MEMBER_FIELDS, "$top": str(PAGE)})
    for start in range(0, len(wanted), BATCH):
        chunk = wanted[start : start + BATCH]
        answers = graph.batch(
            [f"/groups/{g}/transitiveMembers?{query}" for g in chunk], "group_members_batch"
        )
        # Requests throttled inside the batch are retried after their Retry-After (Graph JSON
        # batching: https://learn.microsoft.com/graph/json-batching, "Throttling and batching").
        if graph.batch_retry_after > 0:
            graph.pause(graph.batch_retry_after)
        for group, (status, body) in zip(chunk, answers, strict=True):
            if status in (403, 404):  # one group never stops the others
                directory.unknowns.append(
                    Unknown(f"members of group {group}", f"Microsoft Graph answered {status}")
                )
                continue
            if status != 200:  # throttled or failing inside the batch: alone, with retries
                docs = list(
                    graph.items(
                        f"/groups/{group}/transitiveMembers",
                        {"$select": MEMBER_FIELDS, "$top": str(PAGE)},
                        "group_members",
                    )
                )
            else:
                docs = [v for v in body.get("value") or [] if isinstance(v, dict)]
                link = body.get("@odata.nextLink")
                if isinstance(link, str) and link:
                    url = graph.same_origin(link, "InvalidNextLink", "@odata.nextLink")
                    docs += list(graph.pages(url, "group_members"))
            _members(directory, group, docs, add)
    return directory


# transitiveMembers answers users, groups, devices, service principals and organisational
# contacts, each with its ``@odata.type`` (Graph v1.0 "List group transitive members"). Only
# users and service principals are security principals that sign in to Azure and use a role;
# nested groups' members are listed too, and devices / contacts hold no Azure RBAC access.
_MEMBER_KINDS: dict[str, PrincipalKind] = {
    "user": "User",
    "serviceprincipal": "ServicePrincipal",
    "": "User",  # no @odata.type: read as Graph's most common member, a user
}


def _members(directory: Directory, group: str, docs: Iterable[dict[str, Any]], add: Any) -> None:
    members: list[str] = []
    for doc in docs:
        odata = str(doc.get("@odata.type", "")).rsplit(".", 1)[-1].lower()
        kind = _MEMBER_KINDS.get(odata)
        if kind is None or not isinstance(doc.get("id"), str):
            continue  # a nested group (its members are listed too), a device, a contact
        oid = str(doc["id"]).lower()
        members.append(oid)
        if oid not in directory.principals:
            add([doc], kind, False)
    directory.members[group] = tuple(dict.fromkeys(members))


def _unknown(directory: Directory, what: str, permission: str) -> None:
    directory.missing_permissions.add(permission)
    directory.unknowns.append(
        Unknown(
            what, f"Microsoft Graph answered 403: permission {permission} not granted", permission
        )
    )
