"""GitHub Issues (REST v3) stand-in, at ``{base}/github`` (a client's API base URL, as for GHES).

Auth: ``Authorization: Bearer <token>`` or ``token <token>`` with the sim's token
(:data:`sim.channels.GITHUB_TOKEN`); 401 ``Bad credentials`` / ``Requires authentication``.
Any ``owner/repo`` exists (repositories are made on first use).

Supported:

- ``POST /repos/{o}/{r}/issues`` (title required, body, labels, assignees) → 201 issue
- ``GET /repos/{o}/{r}/issues/{n}``, ``PATCH`` (title, body, state open/closed, state_reason
  completed/not_planned/duplicate/reopened, labels, assignees) → 200 issue
- ``POST /repos/{o}/{r}/issues/{n}/comments`` (body required) → 201 comment; ``GET`` lists them
- ``GET /repos/{o}/{r}/issues?state=open|closed|all&labels=a,b&per_page&page&direction`` with
  a ``Link`` header (first/prev/next/last), newest first
- ``GET /search/issues?q=...&per_page&page``: ``repo:o/r``, ``label:x`` / ``label:"x y"`` (every
  one must match; ``-label:x`` excludes), ``is:issue``, ``is:open|closed``, ``state:open|closed``,
  ``in:title|body|comments`` (comma lists), and free words or ``"quoted phrases"`` (all must
  occur, case-insensitively, in the ``in:`` fields; title and body by default); ``is:pr`` finds
  nothing. Shape: issue-search-result-item-paginated.
- Rate-limit headers on every answer (``x-ratelimit-limit/remaining/used/reset/resource``;
  core 5000/h (``github:limit=N`` lowers it), search 30/min, refused with 403 once used up);
  the ``secondary@p`` fault and the ``quota=`` pacing (content creation: POSTs, i.e. new issues
  and comments) answer 403 with the documented secondary-rate-limit message and
  ``Retry-After``.

Not supported: milestones (accepted, ignored), locking, reactions, pull requests, label
endpoints, sort other than ``created``, other search qualifiers (``author:``, ``created:``,
``no:label``, ...: qualifiers it does not know are ignored) and GitHub's word tokenization
(free text matches as a case-insensitive substring).
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sim.channels import (
    GITHUB_TOKEN,
    FaultReplies,
    Inbox,
    Reply,
    counted,
    inject,
    json_reply,
    now_iso,
)
from sim.faults import Dice, FaultSpec, WindowQuota

DOCS = "https://docs.github.com/rest"
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {rid}."
)
STATE_REASONS = ("completed", "not_planned", "duplicate", "reopened")
BOT = "phiguard-bot"


def _user(login: str, api: str) -> dict[str, Any]:
    uid = zlib.crc32(login.encode()) % 10_000_000
    web = "https://github.com"
    return {
        "login": login,
        "id": uid,
        "node_id": base64.b64encode(f"04:User{uid}".encode()).decode(),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
        "gravatar_id": "",
        "url": f"{api}/users/{login}",
        "html_url": f"{web}/{login}",
        "followers_url": f"{api}/users/{login}/followers",
        "following_url": f"{api}/users/{login}/following{{/other_user}}",
        "gists_url": f"{api}/users/{login}/gists{{/gist_id}}",
        "starred_url": f"{api}/users/{login}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/users/{login}/subscriptions",
        "organizations_url": f"{api}/users/{login}/orgs",
        "repos_url": f"{api}/users/{login}/repos",
        "events_url": f"{api}/users/{login}/events{{/privacy}}",
        "received_events_url": f"{api}/users/{login}/received_events",
        "type": "Bot" if login.endswith("-bot") else "User",
        "site_admin": False,
    }


def _error(status: int, message: str, **extra: Any) -> Reply:
    return json_reply(
        status, {"message": message, **extra, "documentation_url": DOCS, "status": str(status)}
    )


class GitHubService:
    def __init__(
        self, base_url: str, dice: Dice, faults: Callable[[], FaultSpec], quota: WindowQuota
    ) -> None:
        self.api = base_url + "/github"
        self.dice = dice
        self.faults = faults
        self.quota = quota
        self.inbox = Inbox()
        self._lock = threading.RLock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.issues: dict[tuple[str, str], list[dict[str, Any]]] = {}
            self.comments: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
            self._next_id = 1
            self._next_comment = 1
            self._windows: dict[str, tuple[float, int]] = {}  # resource → (start, used)
            self.inbox.clear()

    # --- admin ----------------------------------------------------------------------------

    def received(self) -> dict[str, Any]:
        with self._lock:  # copies: the admin API serializes them outside the lock
            issues = json.loads(json.dumps([i for repo in self.issues.values() for i in repo]))
            comments = json.loads(json.dumps([c for cs in self.comments.values() for c in cs]))
        return {
            "count": len(issues),
            "issues": issues,
            "comments": comments,
            "counters": self.inbox.snapshot(),
        }

    # --- HTTP -----------------------------------------------------------------------------

    def _rate(self, resource: str) -> tuple[list[tuple[str, str]], bool]:
        core = self.faults().for_service("github").limit or 5000
        limit, period = (30, 60.0) if resource == "search" else (core, 3600.0)
        with self._lock:
            start, n = self._windows.get(resource, (0.0, 0))
            if time.time() - start >= period:
                start, n = time.time(), 0
            n += 1
            self._windows[resource] = (start, n)
        reset = int(start + period)
        headers = [
            ("x-ratelimit-limit", str(limit)),
            ("x-ratelimit-remaining", str(max(0, limit - n))),
            ("x-ratelimit-used", str(min(n, limit))),
            ("x-ratelimit-reset", str(reset)),
            ("x-ratelimit-resource", resource),
        ]
        return headers, n > limit

    def _replies(self, rate: list[tuple[str, str]], rid: str) -> FaultReplies:
        def throttled(after: int) -> Reply:
            status, headers, body, reset = _error(
                429, "API rate limit exceeded for user ID 1. (injected)"
            )
            exhausted = [(k, "0" if k == "x-ratelimit-remaining" else v) for k, v in rate]
            return status, [*exhausted, ("Retry-After", str(after)), *headers], body, reset

        def secondary(after: int) -> Reply:
            status, headers, body, reset = _error(403, SECONDARY_MESSAGE.format(rid=rid))
            return status, [*rate, ("Retry-After", str(after)), *headers], body, reset

        def server_error(status: int) -> Reply:
            code, headers, body, reset = _error(status, "Server Error")
            return code, [*rate, *headers], body, reset

        return FaultReplies(throttled, server_error, secondary, secondary)

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        route = re.sub(r"/\d+", "/{n}", re.sub(r"^/repos/[^/]+/[^/]+", "/repos/{o}/{r}", path))
        return counted(self.inbox, method, route, self._handle(method, path, query, headers, body))

    def _handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        rid = f"{self.dice.getrandbits(16):04X}:{self.dice.getrandbits(32):08X}"
        common = [("x-github-request-id", rid), ("x-github-api-version-selected", "2022-11-28")]
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if not auth:
            return _with(_error(401, "Requires authentication"), common)
        if scheme.lower() not in ("bearer", "token") or token.strip() != GITHUB_TOKEN:
            return _with(_error(401, "Bad credentials"), common)
        resource = "search" if path.startswith("/search/") else "core"
        rate, exhausted = self._rate(resource)
        common += rate
        write = method in ("POST", "PATCH", "PUT", "DELETE")
        fault = inject(
            "github",
            self.faults().for_service("github"),
            self.dice,
            self.quota,
            self.inbox,
            self._replies(rate, rid),
            write and method == "POST",
        )
        if fault is not None:
            return _with(fault, [("x-github-request-id", rid)])
        if exhausted:
            return _with(_error(403, "API rate limit exceeded for user ID 1."), common)
        try:
            payload: Any = json.loads(body) if body.strip() else {}
        except ValueError:
            return _with(_error(400, "Problems parsing JSON"), common)
        params = dict(parse_qsl(query, keep_blank_values=True))
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)/issues(?:/(\d+))?(/comments)?", path)
        if m:
            repo = (m.group(1), m.group(2))
            number = int(m.group(3)) if m.group(3) else None
            if number is None and m.group(4) is None:
                if method == "POST":
                    return _with(self._create(repo, payload), common)
                if method == "GET":
                    return _with(self._list(repo, path, params), common)
            elif number is not None and m.group(4) is None:
                if method == "GET":
                    return _with(self._get(repo, number), common)
                if method == "PATCH":
                    return _with(self._update(repo, number, payload), common)
            elif number is not None:
                if method == "POST":
                    return _with(self._comment(repo, number, payload), common)
                if method == "GET":
                    return _with(self._comments(repo, number), common)
        if path == "/search/issues" and method == "GET":
            return _with(self._search(path, params), common)
        return _with(_error(404, "Not Found"), common)

    # --- issues ---------------------------------------------------------------------------

    def _find(self, repo: tuple[str, str], number: int) -> dict[str, Any] | None:
        for issue in self.issues.get(repo, []):
            if issue["number"] == number:
                return issue
        return None

    def _labels(self, repo: tuple[str, str], names: Any) -> list[dict[str, Any]] | None:
        if not isinstance(names, list):
            return None
        out = []
        for entry in names:
            name = entry.get("name") if isinstance(entry, dict) else entry
            if not isinstance(name, str) or not name:
                return None
            lid = zlib.crc32(f"{repo[0]}/{repo[1]}/{name}".encode())
            out.append(
                {
                    "id": lid,
                    "node_id": base64.b64encode(f"LA_{lid}".encode()).decode(),
                    "url": f"{self.api}/repos/{repo[0]}/{repo[1]}/labels/{name}",
                    "name": name,
                    "description": None,
                    "color": f"{lid % 0xFFFFFF:06x}",
                    "default": False,
                }
            )
        return out

    def _create(self, repo: tuple[str, str], payload: Any) -> Reply:
        if not isinstance(payload, dict):
            return _error(400, "Problems parsing JSON")
        title = payload.get("title")
        if title is None or title == "":
            return _error(
                422,
                "Validation Failed",
                errors=[{"resource": "Issue", "code": "missing_field", "field": "title"}],
            )
        labels = self._labels(repo, payload.get("labels") or [])
        assignees = payload.get("assignees") or (
            [payload["assignee"]] if payload.get("assignee") else []
        )
        if labels is None or not isinstance(assignees, list):
            return _error(422, "Validation Failed", errors=[{"code": "invalid"}])
        with self._lock:
            issues = self.issues.setdefault(repo, [])
            number = len(issues) + 1
            iid = self._next_id
            self._next_id += 1
            stamp = now_iso()
            o, r = repo
            url = f"{self.api}/repos/{o}/{r}/issues/{number}"
            assigned = [_user(str(a), self.api) for a in assignees]
            issue = {
                "id": iid,
                "node_id": base64.b64encode(f"I_kwSim{iid}".encode()).decode(),
                "url": url,
                "repository_url": f"{self.api}/repos/{o}/{r}",
                "labels_url": url + "/labels{/name}",
                "comments_url": url + "/comments",
                "events_url": url + "/events",
                "html_url": f"https://github.com/{o}/{r}/issues/{number}",
                "timeline_url": url + "/timeline",
                "number": number,
                "state": "open",
                "title": str(title),
                "body": payload.get("body"),
                "user": _user(BOT, self.api),
                "pinned_comment": None,
                "labels": labels,
                "assignee": assigned[0] if assigned else None,
                "assignees": assigned,
                "milestone": None,
                "locked": False,
                "active_lock_reason": None,
                "comments": 0,
                "closed_at": None,
                "created_at": stamp,
                "updated_at": stamp,
                "closed_by": None,
                "author_association": "OWNER",
                "state_reason": None,
                "type": None,
                "performed_via_github_app": None,
            }
            issues.append(issue)
            return json_reply(201, issue, [("Location", url)])

    def _get(self, repo: tuple[str, str], number: int) -> Reply:
        with self._lock:
            issue = self._find(repo, number)
            return json_reply(200, issue) if issue else _error(404, "Not Found")

    def _update(self, repo: tuple[str, str], number: int, payload: Any) -> Reply:
        if not isinstance(payload, dict):
            return _error(400, "Problems parsing JSON")
        with self._lock:
            issue = self._find(repo, number)
            if issue is None:
                return _error(404, "Not Found")
            state = payload.get("state")
            reason = payload.get("state_reason")
            if state not in (None, "open", "closed") or reason not in (None, *STATE_REASONS):
                field = "state" if state not in (None, "open", "closed") else "state_reason"
                return _error(
                    422,
                    "Validation Failed",
                    errors=[{"resource": "Issue", "code": "invalid", "field": field}],
                )
            labels = self._labels(repo, payload["labels"]) if "labels" in payload else None
            if "labels" in payload and labels is None:
                return _error(422, "Validation Failed", errors=[{"code": "invalid"}])
            if "title" in payload:
                if not payload["title"]:
                    return _error(
                        422,
                        "Validation Failed",
                        errors=[{"resource": "Issue", "code": "missing_field", "field": "title"}],
                    )
                issue["title"] = str(payload["title"])
            if "body" in payload:
                issue["body"] = payload["body"]
            if labels is not None:
                issue["labels"] = labels
            if isinstance(payload.get("assignees"), list):
                issue["assignees"] = [_user(str(a), self.api) for a in payload["assignees"]]
                issue["assignee"] = issue["assignees"][0] if issue["assignees"] else None
            stamp = now_iso()
            if state == "closed":
                if issue["state"] != "closed":
                    issue["closed_at"] = stamp
                    issue["closed_by"] = _user(BOT, self.api)
                issue["state"] = "closed"
                issue["state_reason"] = reason if reason not in (None, "reopened") else "completed"
            elif state == "open" or reason == "reopened":
                if issue["state"] == "closed":
                    issue["state_reason"] = "reopened"
                issue["state"] = "open"
                issue["closed_at"] = None
                issue["closed_by"] = None
            elif reason is not None and issue["state"] == "closed":
                issue["state_reason"] = reason
            issue["updated_at"] = stamp
            return json_reply(200, issue)

    def _comment(self, repo: tuple[str, str], number: int, payload: Any) -> Reply:
        with self._lock:
            issue = self._find(repo, number)
            if issue is None:
                return _error(404, "Not Found")
            if not isinstance(payload, dict) or not payload.get("body"):
                return _error(
                    422,
                    "Validation Failed",
                    errors=[{"resource": "IssueComment", "code": "missing_field", "field": "body"}],
                )
            cid = self._next_comment
            self._next_comment += 1
            stamp = now_iso()
            o, r = repo
            comment = {
                "id": cid,
                "node_id": base64.b64encode(f"IC_kwSim{cid}".encode()).decode(),
                "url": f"{self.api}/repos/{o}/{r}/issues/comments/{cid}",
                "html_url": f"{issue['html_url']}#issuecomment-{cid}",
                "body": str(payload["body"]),
                "user": _user(BOT, self.api),
                "created_at": stamp,
                "updated_at": stamp,
                "issue_url": issue["url"],
                "author_association": "OWNER",
                "pin": None,
                "minimized": None,
                "performed_via_github_app": None,
            }
            self.comments.setdefault((o, r, number), []).append(comment)
            issue["comments"] += 1
            issue["updated_at"] = stamp
            return json_reply(201, comment, [("Location", comment["url"])])

    def _comments(self, repo: tuple[str, str], number: int) -> Reply:
        with self._lock:
            if self._find(repo, number) is None:
                return _error(404, "Not Found")
            return json_reply(200, list(self.comments.get((*repo, number), [])))

    def _page(
        self, items: list[Any], path: str, params: dict[str, str]
    ) -> tuple[list[Any], list[tuple[str, str]]] | None:
        try:
            per_page = min(100, max(1, int(params.get("per_page", "30"))))
            page = max(1, int(params.get("page", "1")))
        except ValueError:
            return None
        last = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []

        def url(n: int) -> str:
            return f"{self.api}{path}?{urlencode({**params, 'per_page': per_page, 'page': n})}"

        if page > 1:
            links += [f'<{url(page - 1)}>; rel="prev"', f'<{url(1)}>; rel="first"']
        if page < last:
            links += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
        return chunk, [("Link", ", ".join(links))] if links else []

    def _list(self, repo: tuple[str, str], path: str, params: dict[str, str]) -> Reply:
        state = params.get("state", "open")
        if state not in ("open", "closed", "all"):
            return _error(422, "Validation Failed", errors=[{"code": "invalid", "field": "state"}])
        wanted = {x.strip() for x in params.get("labels", "").split(",") if x.strip()}
        with self._lock:
            issues = [
                i
                for i in self.issues.get(repo, [])
                if (state == "all" or i["state"] == state)
                and wanted <= {label["name"] for label in i["labels"]}
            ]
            issues = json.loads(json.dumps(issues))
        if params.get("direction", "desc") == "desc":
            issues.reverse()
        paged = self._page(issues, path, params)
        if paged is None:
            return _error(422, "Validation Failed", errors=[{"code": "invalid"}])
        chunk, headers = paged
        return json_reply(200, chunk, headers)

    def _search(self, path: str, params: dict[str, str]) -> Reply:
        q = params.get("q", "")
        if not q.strip():
            return _error(
                422,
                "Validation Failed",
                errors=[{"resource": "Search", "field": "q", "code": "missing"}],
            )
        test = parse_query(q)
        with self._lock:
            found = [
                i
                for (o, r), issues in self.issues.items()
                for i in issues
                if test(o, r, i, self.comments.get((o, r, i["number"]), []))
            ]
            found = json.loads(json.dumps(found))
        found.sort(key=lambda i: i["id"], reverse=True)
        paged = self._page(found, path, params)
        if paged is None:
            return _error(422, "Validation Failed", errors=[{"code": "invalid"}])
        chunk, headers = paged
        items = []
        for issue in chunk:
            item = {k: v for k, v in issue.items() if k not in ("closed_by", "pinned_comment")}
            item["score"] = 1.0
            items.append(item)
        body = {
            "total_count": len(found),
            "incomplete_results": False,
            "search_type": "lexical",
            "items": items,
        }
        return json_reply(200, body, headers)


def _with(reply: Reply, headers: list[tuple[str, str]]) -> Reply:
    status, out, body, reset = reply
    return status, [*headers, *out], body, reset


_TOKEN = re.compile(r'(-?)([\w.]+):"([^"]*)"|(-?)([\w.]+):(\S+)|"([^"]*)"|(\S+)')


def parse_query(q: str) -> Callable[[str, str, dict[str, Any], list[dict[str, Any]]], bool]:
    """A predicate for GitHub's issue-search syntax (the subset in the module docstring)."""
    repos: list[str] = []
    labels: list[str] = []
    without: list[str] = []
    states: list[str] = []
    where: list[str] = []
    terms: list[str] = []
    pr_only = False
    for m in _TOKEN.finditer(q):
        if m.group(2) or m.group(5):
            key = (m.group(2) or m.group(5)).lower()
            value = m.group(3) if m.group(2) else m.group(6)
            if key == "repo":
                repos.append(value.lower())
            elif key == "label":
                (without if (m.group(1) or m.group(4)) else labels).append(value.lower())
            elif key == "state":
                states.append(value.lower())
            elif key == "is":
                if value.lower() in ("open", "closed"):
                    states.append(value.lower())
                elif value.lower() in ("pr", "pull-request"):
                    pr_only = True
            elif key == "in":
                where += [w.strip().lower() for w in value.split(",")]
            elif key == "type" and value.lower() == "pr":
                pr_only = True
        elif m.group(7) is not None:
            terms.append(m.group(7).lower())
        elif m.group(8):
            terms.append(m.group(8).lower())
    fields = where or ["title", "body"]

    def test(o: str, r: str, issue: dict[str, Any], comments: list[dict[str, Any]]) -> bool:
        if pr_only:
            return False
        if repos and f"{o}/{r}".lower() not in repos:
            return False
        names = {label["name"].lower() for label in issue["labels"]}
        if any(label not in names for label in labels) or names & set(without):
            return False
        if states and issue["state"] not in states:
            return False
        texts = []
        if "title" in fields:
            texts.append(issue["title"] or "")
        if "body" in fields:
            texts.append(issue["body"] or "")
        if "comments" in fields:
            texts += [c["body"] for c in comments]
        haystack = "\n".join(texts).lower()
        return all(term in haystack for term in terms)

    return test
