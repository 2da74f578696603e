"""Azure DevOps Work Items on the client seam: JSON Patch create and update, WIQL to find the
fingerprint's work item by tag, state transitions, comments.

Auth: a PAT as Basic (``:<pat>``) or an Entra ID bearer token, from app settings; never logged,
never in a message. Work items are created as ``work_item_type`` (default ``Issue``, which every
process has under some name; use ``Bug`` to get ``Microsoft.VSTS.Common.Severity``) with the
tags ``phiguard; fingerprint-<hash>; severity-<level>`` and the description as HTML. Closing and
reopening set ``System.State`` to the configured states (``Closed`` / ``Done``, ``Active`` /
``New`` / ``To Do``: processes differ) with a ``System.History`` entry saying why. States are
defined per work item type and process; when the service refuses the configured one (400), the
work item type's own states are read (``GET _apis/wit/workitemtypes/{type}/states``, each with a
fixed ``category``: Proposed, InProgress, Resolved, Completed, Removed) and the transition is
sent once more with the type's first ``Completed`` state (closing) or ``InProgress`` /
``Proposed`` state (reopening).

Rate limits (learn.microsoft.com/azure/devops/integrate/concepts/rate-limits): a 429 is
retried honouring ``Retry-After``; and a ``Retry-After`` on *any* answer, a delayed 200
included, is honoured before the next request: waited for when short, else the next request is
not sent but raised :class:`TransientAzureDevOpsError` with the time left as ``retry_after``.
"""

from __future__ import annotations

import base64
import html
import json
import threading
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit

from shared.errors import ServiceError, TransientServiceError
from shared.http import MAX_RETRY_WAIT, HeadersPolicy, RequestCounts, ServiceClient, retry_after
from shared.issues.model import (
    Backend,
    CloseReason,
    Fingerprint,
    IssueContent,
    IssueError,
    TrackedIssue,
)
from shared.issues.render import htm, label

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.rest import HttpResponse

API_VERSION = "7.1"
COMMENTS_API_VERSION = "7.1-preview.4"
JSON_PATCH = "application/json-patch+json"
SEVERITY = {
    "CRITICAL": "1 - Critical",
    "HIGH": "2 - High",
    "MEDIUM": "3 - Medium",
    "LOW": "4 - Low",
    "INFO": "4 - Low",
}
CLOSED_STATES = frozenset({"closed", "done", "removed", "resolved", "completed"})
# The fixed state categories a transition falls back to, in order of preference.
CLOSE_CATEGORIES = ("Completed",)
REOPEN_CATEGORIES = ("InProgress", "Proposed")


class AzureDevOpsError(ServiceError):
    """Azure DevOps refused a request (401, 403, 404, 400 for a field or state it rejects)."""

    service = "Azure DevOps"


class TransientAzureDevOpsError(TransientServiceError):
    """Throttled (429, ``Retry-After``), 5xx or unreachable after the retries; ``retry_after``
    is the answer's ``Retry-After`` when it gave one."""


class AzureDevOpsClient(ServiceClient):
    """Azure DevOps REST on the seam: its error body (``{"message", "typeKey"}``) mapped."""

    service: ClassVar[str] = "Azure DevOps"
    error: ClassVar[type[ServiceError]] = AzureDevOpsError
    transient: ClassVar[type[TransientServiceError]] = TransientAzureDevOpsError

    max_retry_wait: ClassVar[float | None] = MAX_RETRY_WAIT  # longer: transient, not slept on

    # Azure DevOps: "If you receive it [Retry-After] in a response, wait the specified time
    # before sending another request"; a delayed answer is still a 200.
    honour_retry_after: ClassVar[bool] = True

    def raise_for_status(self, method: str, url: str, response: HttpResponse) -> None:
        # A PAT that is wrong or expired is answered 203 with the sign-in page, not 401.
        if response.status_code == 203:
            raise AzureDevOpsError(203, "NonAuthoritative", "credentials were not accepted", url)
        status = response.status_code
        if 300 <= status < 400:
            # Not followed (the credential stays with the organization's URL): a redirect is the
            # sign-in page's or a moved organization's, never the API's answer.
            raise AzureDevOpsError(
                status, "Redirected", "redirected: credentials were not accepted", url
            )
        if status in (408, 429) or status >= 500:
            wait = retry_after(response.headers)
            raise TransientAzureDevOpsError(
                f"Azure DevOps {status} for {method} {urlsplit(url).path} after retries"
                + (f" (retry after {wait:.0f} s)" if wait is not None else ""),
                retry_after=wait,
            )
        super().raise_for_status(method, url, response)

    def error_detail(self, response: HttpResponse) -> tuple[str, str]:
        body = _json(response)
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return str(body.get("typeKey", "")), body["message"][:300]
        return super().error_detail(response)


# Azure DevOps' Microsoft Entra resource (its application id): the scope of a managed identity's
# token (learn.microsoft.com, "Use service principals & managed identities in Azure DevOps").
ENTRA_RESOURCE = "499b84ac-1321-427f-aa17-267ca6975798"


def scope_for(api_url: str) -> str:
    """The token scope for ``api_url``: Azure DevOps' Entra resource, or for a loopback
    stand-in (the simulated tenant) its own URL, which the local dev credential accepts."""
    from shared.credentials import is_loopback_url

    if is_loopback_url(api_url):
        return api_url.rstrip("/") + "/.default"
    return f"{ENTRA_RESOURCE}/.default"


def pat_header(pat: str) -> str:
    """The Basic header of a personal access token (empty user name)."""
    return "Basic " + base64.b64encode(f":{pat}".encode()).decode("ascii")


class AzureDevOpsWorkItems:
    """The work items of one project (an :class:`~shared.issues.model.IssueTracker`).
    Thread-safe; build once per project and reuse. (A tracker over an
    :class:`AzureDevOpsClient`: the tracker's ``close(issue, ...)`` is not the seam's
    ``close()``, which is :meth:`shutdown` here.)"""

    backend: Backend = "azure-devops"

    def __init__(
        self,
        organization: str,
        project: str,
        *,
        pat: str | None = None,
        bearer_token: str | None = None,
        credential: TokenCredential | None = None,
        work_item_type: str = "Issue",
        closed_state: str = "Closed",
        reopened_state: str = "Active",
        set_severity: bool | None = None,
        api_url: str = "https://dev.azure.com",
        ca_cert: str | None = None,
        max_retries: int = 3,
        retry_budget_seconds: float = 30,
        timeout_seconds: float = 20,
        counts: RequestCounts | None = None,
    ) -> None:
        if not organization or "/" in organization or not project or "/" in project:
            raise IssueError("Azure DevOps organization and project must be single names")
        if sum(1 for a in (pat, bearer_token, credential) if a) != 1:
            raise IssueError(
                "Azure DevOps needs exactly one of a PAT, a bearer token or a credential"
            )
        self.organization = organization
        self.project = project
        self.work_item_type = work_item_type
        self.closed_state = closed_state
        self.reopened_state = reopened_state
        self.set_severity = work_item_type == "Bug" if set_severity is None else set_severity
        auth_policy: Any
        if credential is not None:
            # A managed identity's token, refreshed before it expires (tokens live an hour,
            # trackers are built once per process).
            from azure.core.pipeline.policies import BearerTokenCredentialPolicy

            auth_policy = BearerTokenCredentialPolicy(credential, scope_for(api_url))
        else:
            auth = pat_header(pat) if pat else f"Bearer {bearer_token}"
            auth_policy = HeadersPolicy({"Authorization": auth})
        self.client = AzureDevOpsClient(
            api_url,
            auth_policy=auth_policy,
            policies=[HeadersPolicy({"Accept": "application/json"})],
            ca_cert=ca_cert,
            max_retries=max_retries,
            retry_budget_seconds=retry_budget_seconds,
            timeout_seconds=timeout_seconds,
            counts=counts,
        )
        self.counts = self.client.counts
        self._project_url = (
            f"{self.client.base_url}/{quote(organization, safe='')}/{quote(project, safe='')}"
        )
        self._states: dict[str, dict[str, str]] = {}  # work item type → state → category
        self._states_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AzureDevOpsWorkItems({self.organization!r}, {self.project!r})"

    def shutdown(self) -> None:
        self.client.close()

    def _url(self, path: str, api_version: str = API_VERSION) -> str:
        return f"{self._project_url}/_apis/wit/{path}?{urlencode({'api-version': api_version})}"

    # --- the tracker --------------------------------------------------------------------------

    def find(self, fingerprint: Fingerprint) -> TrackedIssue | None:
        """The work item tagged with the fingerprint in this project (the newest if several)."""
        # The tag is 16 hex digits behind a fixed prefix (Fingerprint validates it): no quoting.
        query = "".join(
            (
                "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project",
                " AND [System.Tags] CONTAINS '",
                fingerprint.tag,
                "' ORDER BY [System.CreatedDate] DESC",
            )
        )
        response = self.client.send(
            "POST", self._url("wiql") + "&$top=10", kind="find", json={"query": query}
        )
        body = _object(response, self._project_url)
        items = body.get("workItems")
        if not isinstance(items, list):
            raise AzureDevOpsError(200, "UnexpectedBody", "WIQL answer without workItems", "")
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("id"), int):
                return self._get(item["id"], fingerprint)
        return None

    def open(self, content: IssueContent, fingerprint: Fingerprint) -> TrackedIssue:
        """The fingerprint's work item: the one found, else a new one."""
        found = self.find(fingerprint)
        if found is not None:
            return found
        return self.create(content, fingerprint)

    def create(self, content: IssueContent, fingerprint: Fingerprint) -> TrackedIssue:
        """A new work item for the fingerprint, without looking for one first (for a caller that
        just did: :meth:`open` is the idempotent form)."""
        tags = ["phiguard", fingerprint.tag]
        if content.severity:
            tags.append(label(f"severity-{content.severity.lower()}"))
        patch: list[dict[str, Any]] = [
            _add("/fields/System.Title", content.title),
            _add("/fields/System.Description", content.body_html or htm(content.body, 30000)),
            _add("/fields/System.Tags", "; ".join(tags)),
        ]
        if self.set_severity and content.severity.upper() in SEVERITY:
            patch.append(
                _add("/fields/Microsoft.VSTS.Common.Severity", SEVERITY[content.severity.upper()])
            )
        if content.assignee:
            patch.append(_add("/fields/System.AssignedTo", content.assignee))
        url = self._url(f"workitems/${quote(self.work_item_type, safe='')}")

        def create(operations: list[dict[str, Any]]) -> HttpResponse:
            return self.client.send(
                "POST",
                url,
                kind="create",
                headers={"Content-Type": JSON_PATCH},
                json=operations,
                idempotent=False,
            )

        try:
            response = create(patch)
        except AzureDevOpsError as exc:
            # 400: an owner who is no identity of the organization; the work item matters more.
            if exc.status != 400 or not content.assignee:
                raise
            response = create([op for op in patch if op["path"] != "/fields/System.AssignedTo"])
        return self._issue(_object(response, url), fingerprint)

    def comment(self, issue: TrackedIssue, text: str) -> None:
        self.client.send(
            "POST",
            self._url(f"workItems/{issue.id}/comments", COMMENTS_API_VERSION),
            kind="comment",
            json={"text": _html_text(text)},
        )

    def close(
        self, issue: TrackedIssue, text: str, reason: CloseReason = "completed"
    ) -> TrackedIssue:
        return self._transition(issue, self.closed_state, text, CLOSE_CATEGORIES)

    def reopen(self, issue: TrackedIssue, text: str) -> TrackedIssue:
        return self._transition(issue, self.reopened_state, text, REOPEN_CATEGORIES)

    def states(self, work_item_type: str) -> dict[str, str]:
        """The states of a work item type in this project, each with its category
        (``Work Item Type States - List``); read once per type and kept."""
        with self._states_lock:
            known = self._states.get(work_item_type)
        if known is not None:
            return known
        url = self._url(f"workitemtypes/{quote(work_item_type, safe='')}/states")
        body = _json(self.client.send("GET", url, kind="states"))
        # An array of WorkItemStateColor, which the service wraps as {"count", "value"}.
        items = body.get("value") if isinstance(body, dict) else body
        if not isinstance(items, list):
            raise AzureDevOpsError(200, "UnexpectedBody", "work item type states", url)
        found = {
            str(item["name"]): str(item.get("category") or "")
            for item in items
            if isinstance(item, dict) and isinstance(item.get("name"), str)
        }
        with self._states_lock:
            self._states[work_item_type] = found
        return found

    # --- helpers ------------------------------------------------------------------------------

    def _transition(
        self, issue: TrackedIssue, state: str, text: str, categories: tuple[str, ...]
    ) -> TrackedIssue:
        try:
            return self._set_state(issue, state, text)
        except AzureDevOpsError as exc:
            # 400: a state this work item's type does not have (states are per type and
            # process: an Agile Issue closes as "Closed", a Basic one as "Done").
            if exc.status != 400:
                raise
            fallback = self._state_for(issue.id, state, categories)
            if fallback is None:
                raise
            return self._set_state(issue, fallback, text)

    def _state_for(
        self, work_item_id: int, refused: str, categories: tuple[str, ...]
    ) -> str | None:
        """The first state of the work item's type in the first of ``categories`` it has; None
        when the type has the ``refused`` state (the 400 was about something else)."""
        url = self._url(f"workitems/{work_item_id}") + "&fields=System.WorkItemType"
        body = _object(self.client.send("GET", url, kind="get"), url)
        fields = body.get("fields")
        wtype = fields.get("System.WorkItemType") if isinstance(fields, dict) else None
        if not isinstance(wtype, str) or not wtype:
            return None
        states = self.states(wtype)
        if refused.lower() in (name.lower() for name in states):
            return None
        for category in categories:
            for name, of in states.items():
                if of.lower() == category.lower():
                    return name
        return None

    def _set_state(self, issue: TrackedIssue, state: str, text: str) -> TrackedIssue:
        patch = [_add("/fields/System.State", state)]
        if text:
            patch.append(_add("/fields/System.History", _html_text(text)))
        url = self._url(f"workitems/{issue.id}")
        response = self.client.send(
            "PATCH", url, kind="state", headers={"Content-Type": JSON_PATCH}, json=patch
        )
        return self._issue(_object(response, url), issue.fingerprint)

    def _get(self, work_item_id: int, fingerprint: Fingerprint) -> TrackedIssue:
        url = self._url(f"workitems/{work_item_id}") + "&fields=System.State,System.Tags"
        return self._issue(_object(self.client.send("GET", url, kind="get"), url), fingerprint)

    def _issue(self, body: dict[str, Any], fingerprint: Fingerprint) -> TrackedIssue:
        work_item_id = body.get("id")
        fields = body.get("fields")
        state = fields.get("System.State") if isinstance(fields, dict) else None
        if not isinstance(work_item_id, int) or not isinstance(state, str):
            raise AzureDevOpsError(200, "UnexpectedBody", "work item without id or state", "")
        links = body.get("_links")
        html_link = links.get("html") if isinstance(links, dict) else None
        href = html_link.get("href") if isinstance(html_link, dict) else None
        return TrackedIssue(
            backend="azure-devops",
            id=work_item_id,
            url=href
            if isinstance(href, str)
            else f"{self._project_url}/_workitems/edit/{work_item_id}",
            state="closed" if state.lower() in CLOSED_STATES else "open",
            fingerprint=fingerprint,
            raw_state=state,
        )


def _html_text(text: str) -> str:
    """phiguard's plain text as the HTML Azure DevOps comments and history hold."""
    return html.escape(text, quote=False).replace("\n", "<br>")


def _add(path: str, value: Any) -> dict[str, Any]:
    return {"op": "add", "path": path, "value": value}


def _json(response: HttpResponse) -> Any:
    try:
        return json.loads(response.content) if response.content else None
    except ValueError:
        return None


def _object(response: HttpResponse, url: str) -> dict[str, Any]:
    body = _json(response)
    if not isinstance(body, dict):
        raise AzureDevOpsError(response.status_code, "UnexpectedBody", "not a JSON object", url)
    return body
