"""The issue tracker settings (``PHIGUARD_ISSUES_ROUTES``, the tokens, the endpoints), parsed
once: :class:`IssueSettings`, and :class:`Trackers`, which builds one tracker per route and
reuses it. Documented in ``shared.config`` (``ISSUE_SETTINGS_DOC``).

A route whose backend has no secret configured is a settings error at start-up, naming the
setting (never its value): an issue phiguard silently never opens is worse than a loud start.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from shared.config import PREFIX, SettingsError
from shared.issues.model import IssueTracker
from shared.issues.routing import (
    GITHUB_TOKEN_SETTING,
    Route,
    Routes,
    RoutingError,
    parse_owner_tag,
    parse_routes,
    tracker_for,
)

_ADO_WORDS = 64


@dataclass(frozen=True)
class IssueSettings:
    routes: Routes = field(default_factory=lambda: Routes({}))
    github_token: str | None = field(default=None, repr=False)
    github_api_url: str = "https://api.github.com"
    devops_pat: str | None = field(default=None, repr=False)
    devops_url: str = "https://dev.azure.com"
    work_item_type: str = "Issue"
    closed_state: str = "Closed"
    reopened_state: str = "Active"
    owner_tag: str = "owner"
    public_url: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.routes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> IssueSettings:
        env = os.environ if env is None else env

        def text(name: str) -> str | None:
            value = env.get(PREFIX + name, "").strip()
            return value or None

        try:
            routes = parse_routes(text("ISSUES_ROUTES"))
            owner_tag = parse_owner_tag(text("OWNER_TAG"))
        except RoutingError as exc:
            raise SettingsError(str(exc)) from None
        backends = {r.backend for r in routes.by_scope.values()}
        token, pat = text("GITHUB_TOKEN"), text("ADO_PAT")
        if "github" in backends and not token:
            raise SettingsError(
                f"{PREFIX}ISSUES_ROUTES routes to GitHub: set {GITHUB_TOKEN_SETTING}"
            )
        # Azure DevOps without a PAT: the app's managed identity, added to the organization as
        # a user with access to the project's work items (no secret to rotate).
        return cls(
            routes=routes,
            github_token=token,
            github_api_url=_https(
                text("GITHUB_API_URL") or "https://api.github.com", "GITHUB_API_URL"
            ),
            devops_pat=pat,
            devops_url=_https(text("ADO_URL") or "https://dev.azure.com", "ADO_URL"),
            work_item_type=_word(text("ADO_WORK_ITEM_TYPE") or "Issue", "ADO_WORK_ITEM_TYPE"),
            closed_state=_word(text("ADO_CLOSED_STATE") or "Closed", "ADO_CLOSED_STATE"),
            reopened_state=_word(text("ADO_REOPENED_STATE") or "Active", "ADO_REOPENED_STATE"),
            owner_tag=owner_tag,
            public_url=_https(url, "PUBLIC_URL") if (url := text("PUBLIC_URL")) else None,
        )

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.github_token, self.devops_pat) if s)

    def finding_url(self, resource_id: str) -> str | None:
        """phiguard's own page of a resource's findings, when the app's URL is known."""
        from urllib.parse import quote

        if not self.public_url:
            return None
        return f"{self.public_url}/api/findings?resource={quote(resource_id, safe='')}"


def _https(url: str, name: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise SettingsError(f"{PREFIX}{name}: must be an https:// URL, got {url[:80]!r}")
    return url.rstrip("/")


def _word(value: str, name: str) -> str:
    if (
        len(value) > _ADO_WORDS
        or any(c in value for c in "/\\?#%&'\"<>")
        or not value.isprintable()
    ):
        raise SettingsError(f"{PREFIX}{name}: {value[:40]!r} is not a work item type or state name")
    return value


class Trackers:
    """One tracker per route, built on first use and reused (thread-safe)."""

    def __init__(
        self,
        settings: IssueSettings,
        *,
        ca_cert: str | None = None,
        credential: Callable[[], Any] | None = None,
    ) -> None:
        self.settings = settings
        self.ca_cert = ca_cert
        self.credential = credential  # the managed identity, for Azure DevOps without a PAT
        self._built: dict[str, IssueTracker] = {}
        self._lock = threading.Lock()

    def route(self, resource_id: str) -> Route | None:
        return self.settings.routes.route(resource_id)

    def for_target(self, target: str) -> IssueTracker:
        """The tracker of a route's ``target`` (``github:owner/repo``), as an outbox item names
        it; a target no longer configured is a :class:`RoutingError`."""
        with self._lock:
            tracker = self._built.get(target)
            if tracker is not None:
                return tracker
            route = next(
                (r for r in self.settings.routes.by_scope.values() if r.target == target), None
            )
            if route is None:
                raise RoutingError(f"{target!r:.120} is no longer in {PREFIX}ISSUES_ROUTES")
            s = self.settings
            tracker = tracker_for(
                route,
                github_token=s.github_token,
                devops_pat=s.devops_pat,
                github_api_url=s.github_api_url,
                devops_url=s.devops_url,
                ca_cert=self.ca_cert,
                credential=(
                    self.credential()
                    if route.backend == "azure-devops" and not s.devops_pat and self.credential
                    else None
                ),
                **(
                    {
                        "work_item_type": s.work_item_type,
                        "closed_state": s.closed_state,
                        "reopened_state": s.reopened_state,
                    }
                    if route.backend == "azure-devops"
                    else {}
                ),
            )
            self._built[target] = tracker
            return tracker
