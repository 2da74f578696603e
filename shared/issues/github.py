"""GitHub Issues on the client seam: find by the fingerprint label (and, opt-in, by searching
issue bodies for the marker), create, comment, close and reopen with ``state_reason``.

Auth is a token header (a fine-grained token or an installation token with Issues: write, from
app settings); it is never logged and never put in a message: errors name the status, GitHub's
message and the path only. GitHub's REST headers are sent on every request
(``Accept: application/vnd.github+json``, ``X-GitHub-Api-Version: 2022-11-28``).

Rate limits (docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api, "Exceeding
the rate limit"): a 403 or 429 carrying a short ``Retry-After`` is retried by the pipeline after
that many seconds; a 403 or 429 without ``Retry-After`` is never retried in process (GitHub asks
for no retry before ``x-ratelimit-reset``, or for at least a minute). What is left, and a 403
GitHub marks as a limit (``x-ratelimit-remaining: 0``, or a "rate limit" message), is
:class:`TransientGitHubError` with ``retry_after`` seconds, in the documented order:
``Retry-After``; else, when ``x-ratelimit-remaining`` is ``0``, ``x-ratelimit-reset`` (epoch
seconds) minus now; else 60.

Finding an issue lists the repository's issues by the fingerprint label; that list holds pull
requests too (``GET /repos/{owner}/{repo}/issues``), which are skipped, and its ``Link: <...>;
rel="next"`` page is followed (a few pages at most, only back to the API's own origin).
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit

from shared.errors import ServiceError, TransientServiceError
from shared.http import (
    MAX_RETRY_WAIT,
    CappedRetryPolicy,
    HeadersPolicy,
    RequestCounts,
    ServiceClient,
    retry_after,
)
from shared.issues.model import (
    Backend,
    CloseReason,
    Fingerprint,
    IssueContent,
    IssueError,
    TrackedIssue,
)

if TYPE_CHECKING:
    from azure.core.pipeline import PipelineResponse
    from azure.core.rest import HttpResponse

API = "https://api.github.com"
API_VERSION = "2022-11-28"
SECONDARY_LIMIT_WAIT = 60.0  # GitHub: wait at least a minute when no header says how long
FIND_PAGES = 5  # pages of the label's issue list read before giving up (pull requests skipped)


class GitHubError(ServiceError):
    """GitHub refused a request (401, 404, 410, 422, a 403 that is not a rate limit)."""

    service = "GitHub"


class TransientGitHubError(TransientServiceError):
    """Rate limited, 5xx or unreachable after the retries; ``retry_after`` says when to retry."""


class GitHubRetryPolicy(CappedRetryPolicy):
    """The seam's retries, except that a 403 or 429 without ``Retry-After`` is not retried:
    GitHub answers a limit that way and documents that a client must not retry before
    ``x-ratelimit-reset`` (primary) or for at least a minute (secondary); retrying within
    seconds "may result in the banning of your integration"."""

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        http = response.http_response
        if http.status_code in (403, 429) and self.get_retry_after(response) is None:
            return False
        return super().is_retry(settings, response)


class GitHubClient(ServiceClient):
    """GitHub's REST API on the seam: GitHub's error body and rate limits mapped to typed errors."""

    service: ClassVar[str] = "GitHub"
    error: ClassVar[type[ServiceError]] = GitHubError
    transient: ClassVar[type[TransientServiceError]] = TransientGitHubError

    max_retry_wait: ClassVar[float | None] = MAX_RETRY_WAIT  # longer: transient, not slept on
    retry_policy: ClassVar[type[CappedRetryPolicy]] = GitHubRetryPolicy

    def raise_for_status(self, method: str, url: str, response: HttpResponse) -> None:
        status = response.status_code
        if status in (403, 429) and _rate_limited(response):
            wait = _wait(response)
            raise TransientGitHubError(
                f"GitHub {status} rate limit for {method} {urlsplit(url).path} "
                f"(retry after {wait:.0f} s)",
                retry_after=wait,
            )
        if status in (408, 429) or status >= 500:
            raise TransientGitHubError(
                f"GitHub {status} for {method} {urlsplit(url).path} after retries",
                retry_after=retry_after(response.headers),
            )
        if 300 <= status < 400:
            # Redirects are not followed (the token stays on the URL it was configured for);
            # an issue transferred to another repository is answered 301 Moved Permanently.
            moved = urlsplit(response.headers.get("Location", "")).path or "elsewhere"
            raise GitHubError(
                status,
                "Moved",
                f"moved to {moved[:200]} (a transferred issue is answered {status})",
                url,
            )
        super().raise_for_status(method, url, response)

    def error_detail(self, response: HttpResponse) -> tuple[str, str]:
        """GitHub's ``{"message", "documentation_url", "errors"}``: the message and the first
        error's code."""
        body = _json(response) if response.content else None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            errors = body.get("errors")
            first = errors[0] if isinstance(errors, list) and errors else {}
            code = first.get("code", "") if isinstance(first, dict) else ""
            return str(code), str(body["message"])[:300]
        return super().error_detail(response)


class GitHubIssues:
    """The issues of one repository (an :class:`~shared.issues.model.IssueTracker`) over a
    :class:`GitHubClient`. Thread-safe; build once per repository and reuse. (A tracker, not a
    ``ServiceClient`` subclass: the tracker's ``close(issue, ...)`` would shadow the seam's
    ``close()`` of the connection pool, which is :meth:`shutdown` here.)"""

    backend: Backend = "github"

    def __init__(
        self,
        repository: str,
        token: str,
        *,
        api_url: str = API,
        ca_cert: str | None = None,
        max_retries: int = 3,
        retry_budget_seconds: float = 30,
        timeout_seconds: float = 20,
        counts: RequestCounts | None = None,
        search_body: bool = False,
    ) -> None:
        owner, _, repo = repository.partition("/")
        if not owner or not repo or "/" in repo:
            raise IssueError(f"GitHub repository must be OWNER/REPO, got {repository!r:.100}")
        if not token:
            raise IssueError("GitHub token is empty")
        self.repository = repository
        self.search_body = search_body
        self.client = GitHubClient(
            api_url,
            auth_policy=HeadersPolicy(
                {
                    "Authorization": f"Bearer {token}",
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": API_VERSION,
                }
            ),
            ca_cert=ca_cert,
            max_retries=max_retries,
            retry_budget_seconds=retry_budget_seconds,
            timeout_seconds=timeout_seconds,
            counts=counts,
        )
        self.counts = self.client.counts
        self._repo_url = (
            f"{self.client.base_url}/repos/{quote(owner, safe='')}/{quote(repo, safe='')}"
        )

    def __repr__(self) -> str:
        return f"GitHubIssues({self.repository!r}, {self.client.base_url!r})"

    def shutdown(self) -> None:
        """Closes the connection pool."""
        self.client.close()

    # --- the tracker --------------------------------------------------------------------------

    def find(self, fingerprint: Fingerprint) -> TrackedIssue | None:
        """The issue labelled with the fingerprint, open or closed (the newest if several).
        The list holds pull requests too (they carry ``pull_request``): skipped, and the next
        page (``Link: rel="next"``) read when a page held nothing else."""
        query = urlencode(
            {
                "labels": fingerprint.marker,
                "state": "all",
                "sort": "created",
                "direction": "desc",
                "per_page": "10",
            }
        )
        url: str | None = f"{self._repo_url}/issues?{query}"
        pages = 0
        while url is not None and pages < FIND_PAGES:
            pages += 1
            response = self.client.send("GET", url, kind="find")
            items = _json(response)
            if not isinstance(items, list):
                raise GitHubError(
                    200, "UnexpectedBody", "issue list is not an array", self._repo_url
                )
            for item in items:
                if isinstance(item, dict) and "pull_request" not in item:
                    return self._issue(item, fingerprint)
            link = _next_link(response.headers.get("Link", ""))
            url = self.client.same_origin(link, "UnexpectedLink", "next page") if link else None
        return self._search(fingerprint) if self.search_body else None

    def _search(self, fingerprint: Fingerprint) -> TrackedIssue | None:
        """The issue whose body holds the marker (its label was removed by hand). Opt-in: the
        search API allows 30 requests a minute and indexes new issues with a delay."""
        q = f'repo:{self.repository} is:issue in:body "{fingerprint.marker}"'
        query = urlencode({"q": q, "sort": "created", "order": "desc", "per_page": "10"})
        response = self.client.send(
            "GET", f"{self.client.base_url}/search/issues?{query}", kind="search"
        )
        body = _json(response)
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise GitHubError(
                200, "UnexpectedBody", "search answer without items", "/search/issues"
            )
        for item in items:
            if isinstance(item, dict) and fingerprint.marker in str(item.get("body") or ""):
                return self._issue(item, fingerprint)
        return None

    def open(self, content: IssueContent, fingerprint: Fingerprint) -> TrackedIssue:
        """The fingerprint's issue: the one found, else a new one (labels created on the fly)."""
        found = self.find(fingerprint)
        if found is not None:
            return found
        return self.create(content, fingerprint)

    def create(self, content: IssueContent, fingerprint: Fingerprint) -> TrackedIssue:
        """A new issue for the fingerprint, without looking for one first (for a caller that
        just did: :meth:`open` is the idempotent form)."""
        labels = list(content.labels)
        if fingerprint.marker not in labels:
            labels.append(fingerprint.marker)
        body: dict[str, Any] = {"title": content.title, "body": content.body, "labels": labels}
        if content.assignee:
            body["assignees"] = [content.assignee]
        try:
            response = self.client.send(
                "POST", f"{self._repo_url}/issues", kind="create", json=body, idempotent=False
            )
        except GitHubError as exc:
            # 422: an assignee who cannot be assigned; the issue matters more than the assignee.
            if exc.status != 422 or "assignees" not in body:
                raise
            del body["assignees"]
            response = self.client.send(
                "POST", f"{self._repo_url}/issues", kind="create", json=body, idempotent=False
            )
        return self._issue(_object(response, self._repo_url), fingerprint)

    def comment(self, issue: TrackedIssue, text: str) -> None:
        self.client.send(
            "POST",
            f"{self._repo_url}/issues/{issue.id}/comments",
            kind="comment",
            json={"body": text},
        )

    def close(
        self, issue: TrackedIssue, text: str, reason: CloseReason = "completed"
    ) -> TrackedIssue:
        if text:
            self.comment(issue, text)
        return self._state(issue, {"state": "closed", "state_reason": reason})

    def reopen(self, issue: TrackedIssue, text: str) -> TrackedIssue:
        if text:
            self.comment(issue, text)
        return self._state(issue, {"state": "open", "state_reason": "reopened"})

    # --- helpers ------------------------------------------------------------------------------

    def _state(self, issue: TrackedIssue, body: dict[str, str]) -> TrackedIssue:
        url = f"{self._repo_url}/issues/{issue.id}"
        response = self.client.send("PATCH", url, kind="state", json=body)
        return self._issue(_object(response, url), issue.fingerprint)

    def _issue(self, item: dict[str, Any], fingerprint: Fingerprint) -> TrackedIssue:
        number = item.get("number")
        state = item.get("state")
        if not isinstance(number, int) or state not in ("open", "closed"):
            raise GitHubError(
                200, "UnexpectedBody", "issue without number or state", self._repo_url
            )
        url = item.get("html_url")
        return TrackedIssue(
            backend="github",
            id=number,
            url=url if isinstance(url, str) else f"{self._repo_url}/issues/{number}",
            state=state,
            fingerprint=fingerprint,
            raw_state=str(item.get("state_reason") or state),
        )


def _rate_limited(response: HttpResponse) -> bool:
    headers = response.headers
    if response.status_code == 429 or headers.get("Retry-After"):
        return True
    if headers.get("x-ratelimit-remaining") == "0":
        return True
    text = response.text()[:500].lower() if response.content else ""
    return "rate limit" in text


def _wait(response: HttpResponse) -> float:
    """Seconds to wait, in GitHub's documented order: ``Retry-After``; else, when
    ``x-ratelimit-remaining`` is 0, ``x-ratelimit-reset`` (UTC epoch seconds) minus now; else a
    minute (a secondary limit: ``x-ratelimit-reset`` is on every answer and then says nothing
    about it). Never negative."""
    seconds = retry_after(response.headers)
    if seconds is None and response.headers.get("x-ratelimit-remaining") == "0":
        reset = response.headers.get("x-ratelimit-reset")
        try:
            seconds = float(reset) - time.time() if reset else None
        except ValueError:
            seconds = None
    return max(0.0, SECONDARY_LIMIT_WAIT if seconds is None else seconds)


_LINK = re.compile(r"<([^>]*)>([^,<]*)")


def _next_link(header: str) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header (RFC 8288), if any."""
    for m in _LINK.finditer(header):
        for param in m.group(2).split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "rel" and "next" in value.strip().strip('"').split():
                return m.group(1)
    return None


def _json(response: HttpResponse) -> Any:
    try:
        return json.loads(response.content) if response.content else None
    except ValueError:
        return None


def _object(response: HttpResponse, url: str) -> dict[str, Any]:
    body = _json(response)
    if not isinstance(body, dict):
        raise GitHubError(response.status_code, "UnexpectedBody", "not a JSON object", url)
    return body
