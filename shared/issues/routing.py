"""Where a finding's issue goes, and who it is assigned to, from settings text.

``PHIGUARD_ISSUES_ROUTES`` is a comma-separated list of ``<scope>=<tracker>``:

* scope: ``/subscriptions/<id>``, ``/subscriptions/<id>/resourceGroups/<name>``, a bare
  subscription id, or ``*`` (every other resource);
* tracker: ``github:<owner>/<repo>`` or ``azure-devops:<organization>/<project>`` (``ado:`` for
  short).

The most specific scope holding the resource wins (its resource group, then its subscription,
then ``*``); a resource no scope holds gets no issue. Scopes compare case-insensitively, as ARM
ids do. Parsing is strict: any malformed entry, or one scope listed twice, is a
:class:`RoutingError` naming the setting and the entry's position.

The assignee is the owner tag's value (``PHIGUARD_OWNER_TAG``, default ``owner``), when present
and a plausible handle (:func:`shared.issues.render.owner_of`); no other tag is read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.issues.model import Backend, IssueTracker
from shared.issues.render import owner_of
from shared.kernel.errors import PhiguardError
from shared.kernel.resource_id import ResourceIdError, canonical, normalize

ROUTES_SETTING = "PHIGUARD_ISSUES_ROUTES"
GITHUB_TOKEN_SETTING = "PHIGUARD_GITHUB_TOKEN"  # noqa: S105 - a setting's name
DEVOPS_PAT_SETTING = "PHIGUARD_ADO_PAT"
OWNER_TAG_SETTING = "PHIGUARD_OWNER_TAG"
DEFAULT_OWNER_TAG = "owner"

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_GITHUB_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_GITHUB_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_ADO_NAME = re.compile(r"^[^/\\:*?\"<>|;#$%&=+,@'\x00-\x1f]{1,64}$")
_TAG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,126}$")
_BACKENDS: dict[str, Backend] = {
    "github": "github",
    "azure-devops": "azure-devops",
    "ado": "azure-devops",
}


class RoutingError(PhiguardError, ValueError):
    """A routing setting is malformed; the message names the setting and the entry."""


@dataclass(frozen=True)
class Route:
    """One tracker: GitHub ``owner/repo`` or Azure DevOps ``organization/project``."""

    backend: Backend
    owner: str  # GitHub owner, or Azure DevOps organization
    name: str  # GitHub repository, or Azure DevOps project

    @property
    def target(self) -> str:
        return f"{self.backend}:{self.owner}/{self.name}"


@dataclass(frozen=True)
class Routes:
    """Scopes (normalized ids, or ``*``) to routes."""

    by_scope: Mapping[str, Route]

    def route(self, resource_id: str) -> Route | None:
        """The route of the most specific scope holding ``resource_id``; None if none does."""
        rid = normalize(resource_id)
        best: tuple[int, Route] | None = None
        for scope, route in self.by_scope.items():
            if scope == "*":
                depth = 0
            elif rid == scope or rid.startswith(scope + "/"):
                depth = scope.count("/")
            else:
                continue
            if best is None or depth > best[0]:
                best = (depth, route)
        return best[1] if best else None

    def __bool__(self) -> bool:
        return bool(self.by_scope)


def parse_routes(text: str | None, setting: str = ROUTES_SETTING) -> Routes:
    """``PHIGUARD_ISSUES_ROUTES``; empty or unset: no routes (no issues are opened)."""
    routes: dict[str, Route] = {}
    if not text or not text.strip():
        return Routes(routes)
    for position, entry in enumerate(text.split(","), start=1):
        entry = entry.strip()
        where = f"{setting} entry {position}"
        if not entry:
            raise RoutingError(f"{where} is empty (a stray comma?)")
        scope_text, sep, target = entry.partition("=")
        if not sep:
            raise RoutingError(f"{where} must be <scope>=<tracker>, got {entry!r:.120}")
        scope = _scope(scope_text.strip(), where)
        if scope in routes:
            raise RoutingError(f"{where}: scope {scope_text.strip()!r:.120} is listed twice")
        routes[scope] = _route(target.strip(), where)
    return Routes(routes)


def _scope(text: str, where: str) -> str:
    if text == "*":
        return "*"
    if _GUID.match(text):
        return normalize(f"/subscriptions/{text}")
    if not text.startswith("/"):
        raise RoutingError(
            f"{where}: scope must be *, a subscription id or a /subscriptions/... id, got {text!r:.120}"
        )
    try:
        rid = canonical(text)
    except ResourceIdError as exc:
        raise RoutingError(f"{where}: scope is not a resource id ({exc})") from None
    parts = rid.split("/")[1:]
    shape_ok = (len(parts) == 2 and parts[0].lower() == "subscriptions") or (
        len(parts) == 4
        and parts[0].lower() == "subscriptions"
        and parts[2].lower() == "resourcegroups"
    )
    if not shape_ok:
        raise RoutingError(
            f"{where}: scope must be a subscription or resource group id, got {text!r:.120}"
        )
    return normalize(rid)


def _route(text: str, where: str) -> Route:
    kind, sep, path = text.partition(":")
    backend = _BACKENDS.get(kind.strip().lower()) if sep else None
    if backend is None:
        raise RoutingError(
            f"{where}: tracker must be github:OWNER/REPO or azure-devops:ORG/PROJECT, "
            f"got {text!r:.120}"
        )
    owner, slash, name = path.strip().partition("/")
    if not slash or "/" in name:
        raise RoutingError(
            f"{where}: {kind} tracker must name exactly OWNER/NAME, got {path!r:.120}"
        )
    if backend == "github":
        ok = (
            bool(_GITHUB_NAME.match(owner))
            and bool(_GITHUB_REPO.match(name))
            and name not in (".", "..")
        )
    else:
        ok = bool(_ADO_NAME.match(owner)) and bool(_ADO_NAME.match(name))
        ok = ok and owner.strip() == owner and name.strip() == name
    if not ok:
        raise RoutingError(f"{where}: {kind} names hold characters they cannot, got {path!r:.120}")
    return Route(backend, owner, name)


def parse_owner_tag(text: str | None, setting: str = OWNER_TAG_SETTING) -> str:
    """``PHIGUARD_OWNER_TAG``: a tag name (default ``owner``)."""
    if text is None or not text.strip():
        return DEFAULT_OWNER_TAG
    name = text.strip()
    if not _TAG_NAME.match(name):
        raise RoutingError(
            f"{setting} must be a tag name (letters, digits, ' _.-'), got {name!r:.80}"
        )
    return name


def assignee(tags: Mapping[str, Any] | None, owner_tag: str = DEFAULT_OWNER_TAG) -> str | None:
    """The assignee from the owner tag; None when absent or not a plausible handle."""
    return owner_of(tags, owner_tag)


def tracker_for(
    route: Route,
    *,
    github_token: str | None = None,
    devops_pat: str | None = None,
    github_api_url: str = "https://api.github.com",
    devops_url: str = "https://dev.azure.com",
    ca_cert: str | None = None,
    credential: Any = None,
    **options: Any,
) -> IssueTracker:
    """The tracker of a route, with its backend's secret (from app settings). A missing secret
    is a :class:`RoutingError` naming the setting, never a value. ``options`` go to the
    Azure DevOps tracker (``work_item_type``, ``closed_state``, ``reopened_state``)."""
    from shared.issues.devops import AzureDevOpsWorkItems
    from shared.issues.github import GitHubIssues

    if route.backend == "github":
        if not github_token:
            raise RoutingError(f"{route.target} needs {GITHUB_TOKEN_SETTING}")
        return GitHubIssues(
            f"{route.owner}/{route.name}", github_token, api_url=github_api_url, ca_cert=ca_cert
        )
    if devops_pat:
        return AzureDevOpsWorkItems(
            route.owner, route.name, pat=devops_pat, api_url=devops_url, ca_cert=ca_cert, **options
        )
    if credential is None:
        raise RoutingError(f"{route.target} needs {DEVOPS_PAT_SETTING} or a managed identity")
    return AzureDevOpsWorkItems(
        route.owner,
        route.name,
        credential=credential,
        api_url=devops_url,
        ca_cert=ca_cert,
        **options,
    )
