"""Azure DevOps Work Item Tracking (REST 7.1) stand-in, at ``{base}/devops`` (the organization
URL is ``{base}/devops/{org}``, as ``https://dev.azure.com/{org}``).

Auth: ``Basic base64(":" + PAT)`` (any user name) with the sim's PAT
(:data:`sim.channels.DEVOPS_PAT`), or any non-empty ``Bearer`` token; 401 otherwise.
``api-version`` is required (400 without); comments need ``7.1-preview.4`` (or another
``-preview`` version), as the service does.

Supported:

- ``POST /{org}/{project}/_apis/wit/workitems/${type}`` with ``application/json-patch+json``
  (415 otherwise): ``add``/``replace`` on ``/fields/<ref>`` (any field, e.g. ``System.Title``
  (required), ``System.Description``, ``System.Tags``, ``System.State``, ``System.AssignedTo``
  (an identity object is made of ``"Name <mail>"`` or a mail), ``Microsoft.VSTS.Common.Severity``,
  ``System.History`` (becomes a comment)), ``add`` on ``/relations/-`` → 200 work item, rev 1.
- ``PATCH /{org}/{project}/_apis/wit/workitems/{id}``: the same plus ``remove`` (fields,
  ``/relations/{i}``) and ``test`` (``/rev``, ``/id``, ``/fields/<ref>``; a mismatch → 412, nothing
  applied). ``add`` on ``System.Tags`` merges tags (as the published "Add a tag" example shows),
  ``replace`` sets them. ``System.State`` must be a known state (New, Active, Resolved, Closed,
  Removed, To Do, Doing, Done; 400 otherwise) and sets ``System.Reason`` and the state dates.
- ``GET /{org}[/{project}]/_apis/wit/workitems/{id}`` (``$expand=relations|all`` adds relations,
  ``fields=a,b`` picks fields); 404 with TF401232 when absent.
- ``POST /{org}[/{project}]/_apis/wit/wiql`` ``{"query": "..."}`` with this WIQL subset:
  ``SELECT [f], ... FROM WorkItems [WHERE cond] [ORDER BY [f] [ASC|DESC], ...]`` where cond
  combines with ``AND`` / ``OR`` / parentheses / ``NOT`` comparisons ``[f] = | <> | CONTAINS |
  NOT CONTAINS | IN (...) | NOT IN (...) 'value'``; ``@project`` is the URL's project; field
  names as reference names or short names (``[State]``, ``[Title]``, ``[Tags]``, ...).
  ``CONTAINS`` on ``System.Tags`` matches a whole tag, elsewhere a substring
  (case-insensitive). ``$top`` limits the references. → queryType ``flat`` with columns,
  sortColumns and ``workItems`` references.
- ``POST|GET /{org}/{project}/_apis/wit/workItems/{id}/comments`` (``{"text": ...}``).
- ``GET /{org}/{project}/_apis/wit/workitemtypes/{type}/states`` (Work Item Type States - List):
  ``{"count", "value": [{"name", "color", "category"}]}``, the published shape; the sim's one
  state list (below) for every type, each with its fixed category (Proposed, InProgress,
  Resolved, Completed, Removed).

Not supported: batch, updates/revisions history endpoints, work item types' own state models
(every type accepts every state of the list above and starts ``New``) and rules beyond it, ``move``/``copy`` ops, WIQL ``EVER``/``UNDER``/dates/links.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from sim.channels import (
    DEVOPS_PAT,
    FaultReplies,
    Inbox,
    Reply,
    counted,
    inject,
    json_reply,
    now_iso,
)
from sim.faults import Dice, FaultSpec, WindowQuota

STATES = ("New", "Active", "Resolved", "Closed", "Removed", "To Do", "Doing", "Done")
# Each state's category and color (learn.microsoft.com/azure/devops/boards/work-items/
# workflow-and-state-categories; colors as in the published Work Item Type States example).
STATE_CATEGORIES = {
    "New": ("Proposed", "b2b2b2"),
    "Active": ("InProgress", "007acc"),
    "Resolved": ("Resolved", "ff9d00"),
    "Closed": ("Completed", "339933"),
    "Removed": ("Removed", "ffffff"),
    "To Do": ("Proposed", "b2b2b2"),
    "Doing": ("InProgress", "007acc"),
    "Done": ("Completed", "339933"),
}
SHORT_NAMES = {
    "id": "System.Id",
    "title": "System.Title",
    "state": "System.State",
    "tags": "System.Tags",
    "description": "System.Description",
    "assignedto": "System.AssignedTo",
    "workitemtype": "System.WorkItemType",
    "teamproject": "System.TeamProject",
    "severity": "Microsoft.VSTS.Common.Severity",
    "priority": "Microsoft.VSTS.Common.Priority",
    "createddate": "System.CreatedDate",
    "changeddate": "System.ChangedDate",
    "reason": "System.Reason",
}
BOT = "Phiguard Bot <phiguard-bot@contosohealth.example>"


def _error(status: int, message: str, type_key: str, code: int = 0) -> Reply:
    return json_reply(
        status,
        {
            "$id": "1",
            "innerException": None,
            "message": message,
            "typeName": f"Microsoft.VisualStudio.Services.WebApi.{type_key}, "
            "Microsoft.VisualStudio.Services.WebApi",
            "typeKey": type_key,
            "errorCode": code,
            "eventId": 3000,
        },
    )


def _ref(name: str) -> str:
    return SHORT_NAMES.get(name.lower().replace(" ", ""), name)


def _tags(value: Any) -> list[str]:
    seen: dict[str, str] = {}
    for tag in str(value or "").split(";"):
        if tag.strip():
            seen.setdefault(tag.strip().lower(), tag.strip())
    return sorted(seen.values(), key=str.lower)


class DevOpsService:
    def __init__(
        self, base_url: str, dice: Dice, faults: Callable[[], FaultSpec], quota: WindowQuota
    ) -> None:
        self.root = base_url + "/devops"
        self.dice = dice
        self.faults = faults
        self.quota = quota
        self.inbox = Inbox()
        self._lock = threading.RLock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.items: dict[int, dict[str, Any]] = {}
            self.comments: dict[int, list[dict[str, Any]]] = {}
            self._next_id = 1
            self._next_comment = 1
            self.inbox.clear()

    def received(self) -> dict[str, Any]:
        with self._lock:
            items = [self._shape(i, expand=True) for i in self.items.values()]
            comments = [c for cs in self.comments.values() for c in cs]
        return {
            "count": len(items),
            "workitems": items,
            "comments": comments,
            "counters": self.inbox.snapshot(),
        }

    def identity(self, value: Any) -> dict[str, Any]:
        text = str(value)
        m = re.fullmatch(r"\s*(.*?)\s*<([^>]+)>\s*", text)
        name, mail = (m.group(1), m.group(2)) if m else (text.split("@")[0], text)
        ident = base64.urlsafe_b64encode(mail.lower().encode()).decode().rstrip("=")
        return {
            "displayName": name or mail,
            "url": f"{self.root}/_apis/Identities/{ident}",
            "_links": {"avatar": {"href": f"{self.root}/_apis/GraphProfile/{ident}"}},
            "id": ident,
            "uniqueName": mail,
            "imageUrl": f"{self.root}/_api/_common/identityImage?id={ident}",
            "descriptor": f"aad.{ident}",
        }

    # --- HTTP -----------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        route = re.sub(r"/\d+", "/{id}", re.sub(r"^/[^/]+(/[^/_][^/]*)?/_apis", "/_apis", path))
        route = re.sub(r"workitems/\$[^/]+", "workitems/${type}", route, flags=re.IGNORECASE)
        route = re.sub(r"workitemtypes/[^/]+", "workitemtypes/{type}", route, flags=re.IGNORECASE)
        return counted(self.inbox, method, route, self._handle(method, path, query, headers, body))

    def _replies(self) -> FaultReplies:
        def throttled(after: int) -> Reply:
            status, out, data, reset = _error(
                429, "TF400733: The request has been throttled (injected).", "RequestThrottled"
            )
            return status, [("Retry-After", str(after)), *out], data, reset

        def server_error(status: int) -> Reply:
            return _error(status, "VS30063: The service is unavailable (injected).", "ServerError")

        def quota(after: int) -> Reply:
            status, out, data, reset = throttled(after)
            limits = [
                ("X-RateLimit-Resource", "ATCPU"),
                ("X-RateLimit-Delay", "1"),
                ("X-RateLimit-Remaining", "0"),
            ]
            return status, [*limits, *out], data, reset

        return FaultReplies(throttled, server_error, quota)

    def _handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        auth = headers.get("authorization", "")
        scheme, _, credential = auth.partition(" ")
        ok = False
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credential.strip()).decode()
                ok = decoded.partition(":")[2] == DEVOPS_PAT
            except (ValueError, UnicodeDecodeError):
                ok = False
        elif scheme.lower() == "bearer":
            ok = bool(credential.strip())
        if not ok:
            _, out, data, reset = _error(
                401,
                "TF400813: The user '' is not authorized to access this resource.",
                "UnauthorizedRequestException",
            )
            return 401, [("WWW-Authenticate", 'Basic realm="https://sim"'), *out], data, reset
        fault = inject(
            "devops",
            self.faults().for_service("devops"),
            self.dice,
            self.quota,
            self.inbox,
            self._replies(),
            method in ("POST", "PATCH"),
        )
        if fault is not None:
            return fault
        params = {k.lower(): v for k, v in parse_qsl(query, keep_blank_values=True)}
        version = params.get("api-version", "")
        if not version:
            return _error(
                400,
                "No api-version was supplied for the request.",
                "VssVersionNotSpecifiedException",
            )
        states = re.fullmatch(
            r"/([^/]+)/([^/_][^/]*)/_apis/wit/workitemtypes/([^/]+)/states", path, re.IGNORECASE
        )
        if states is not None:
            if method != "GET":
                return _error(405, "Method not allowed", "NotFound")
            return self._type_states()
        m = re.fullmatch(
            r"/([^/]+)(?:/([^/_][^/]*))?/_apis/wit/(workitems|wiql)(?:/(\$[^/]+|\d+))?(/comments)?",
            path,
            flags=re.IGNORECASE,
        )
        if m is None:
            return _error(404, f"VS800075: no route {path}", "NotFound")
        org, project, kind, target, comments = m.groups()
        try:
            payload: Any = json.loads(body) if body.strip() else None
        except ValueError:
            return _error(400, "The request body is not valid JSON.", "VssRequestContentException")
        if kind.lower() == "wiql":
            if method != "POST" or target:
                return _error(405, "Method not allowed", "NotFound")
            return self._wiql(org, project, payload, params)
        if comments:
            if "-preview" not in version:
                return _error(
                    400,
                    f'The requested version "{version}" of the resource is under preview. '
                    "The -preview flag must be supplied in the api-version for such requests. "
                    'For example: "7.1-preview.4"',
                    "VssInvalidPreviewVersionException",
                )
            if target is None or target.startswith("$"):
                return _error(404, "no work item", "NotFound")
            return self._comments(org, project, int(target), method, payload)
        if target is None:
            return _error(404, f"VS800075: no route {path}", "NotFound")
        if target.startswith("$"):
            if method != "POST":
                return _error(405, "Method not allowed", "NotFound")
            if project is None:
                return _error(404, "A project is required to create a work item.", "NotFound")
            if not headers.get("content-type", "").startswith("application/json-patch+json"):
                return _error(
                    415,
                    "VS403403: the content type must be application/json-patch+json",
                    "UnsupportedMediaType",
                )
            return self._create(org, project, target[1:], payload)
        wid = int(target)
        if method == "GET":
            return self._get(wid, params)
        if method == "PATCH":
            if not headers.get("content-type", "").startswith("application/json-patch+json"):
                return _error(
                    415,
                    "VS403403: the content type must be application/json-patch+json",
                    "UnsupportedMediaType",
                )
            return self._update(wid, payload)
        return _error(405, "Method not allowed", "NotFound")

    # --- work items -----------------------------------------------------------------------

    def _type_states(self) -> Reply:
        value = [
            {
                "name": name,
                "color": STATE_CATEGORIES[name][1],
                "category": STATE_CATEGORIES[name][0],
            }
            for name in STATES
        ]
        return json_reply(200, {"count": len(value), "value": value})

    def _links(self, wid: int, item: dict[str, Any]) -> dict[str, Any]:
        org, project = item["_org"], item["_project"]
        base = f"{self.root}/{org}/_apis/wit/workItems/{wid}"
        return {
            "self": {"href": base},
            "workItemUpdates": {"href": base + "/updates"},
            "workItemRevisions": {"href": base + "/revisions"},
            "workItemComments": {"href": base + "/comments"},
            "workItemHistory": {"href": base + "/history"},
            "html": {"href": f"{self.root}/{org}/{project}/_workitems/edit/{wid}"},
            "workItemType": {
                "href": f"{self.root}/{org}/{project}/_apis/wit/workItemTypes/"
                + item["fields"]["System.WorkItemType"]
            },
            "fields": {"href": f"{self.root}/{org}/_apis/wit/fields"},
        }

    def _shape(
        self, item: dict[str, Any], expand: bool = False, fields: list[str] | None = None
    ) -> dict[str, Any]:
        wid = item["id"]
        out: dict[str, Any] = {"id": wid, "rev": item["rev"]}
        chosen = item["fields"]
        if fields:
            chosen = {k: v for k, v in chosen.items() if k.lower() in {f.lower() for f in fields}}
        out["fields"] = copy.deepcopy(chosen)
        if expand and item["relations"]:
            out["relations"] = copy.deepcopy(item["relations"])
        out["_links"] = self._links(wid, item)
        out["url"] = f"{self.root}/{item['_org']}/_apis/wit/workItems/{wid}"
        return out

    def _apply(self, item: dict[str, Any], ops: Any, creating: bool) -> Reply | None:
        """Applies a JSON Patch document to ``item`` in place; an error reply refuses it."""
        if not isinstance(ops, list) or not ops:
            return _error(
                400,
                "You must pass a valid patch document in the body of the request.",
                "VssPropertyValidationException",
            )
        fields = item["fields"]
        for op in ops:
            if not isinstance(op, dict) or not isinstance(op.get("path"), str):
                return _error(400, "Invalid patch operation.", "VssPropertyValidationException")
            name = str(op.get("op", "")).lower()
            path = op["path"]
            value = op.get("value")
            if name == "test":
                if path == "/rev":
                    current: Any = item["rev"]
                elif path == "/id":
                    current = item["id"]
                elif path.startswith("/fields/"):
                    current = fields.get(path[len("/fields/") :])
                else:
                    return _error(400, f"Invalid path {path}", "VssPropertyValidationException")
                if str(current) != str(value):
                    return _error(
                        412,
                        f"TF26071: This work item has been changed by someone else since you "
                        f"opened it. Test operation on {path} failed: expected {value!r}, "
                        f"found {current!r}.",
                        "WorkItemRevisionMismatchException",
                    )
                continue
            if name not in ("add", "replace", "remove"):
                return _error(
                    400,
                    f"The operation {name!r} is not supported.",
                    "VssPropertyValidationException",
                )
            if path.startswith("/fields/"):
                ref = path[len("/fields/") :]
                if name == "remove":
                    fields.pop(ref, None)
                elif ref == "System.Tags":
                    merged = (
                        _tags(value)
                        if name == "replace"
                        else _tags(f"{fields.get(ref, '')};{value}")
                    )
                    if merged:
                        fields[ref] = "; ".join(merged)
                    else:
                        fields.pop(ref, None)
                elif ref == "System.AssignedTo":
                    if value:
                        fields[ref] = self.identity(value)
                    else:
                        fields.pop(ref, None)
                elif ref == "System.State":
                    if value not in STATES:
                        return _error(
                            400,
                            f"TF401320: Rule Error for field State. Error code: "
                            f"InvalidListValue. The value {value!r} is not in the list of "
                            "supported values.",
                            "RuleValidationException",
                        )
                    if fields.get(ref) != value:
                        stamp = now_iso(millis=True)
                        fields[ref] = value
                        fields["System.Reason"] = {
                            "New": "New",
                            "Active": "Implementation started",
                            "Resolved": "Fixed",
                            "Closed": "Fixed and verified",
                            "Done": "Work finished",
                        }.get(value, f"Moved to state {value}")
                        fields["Microsoft.VSTS.Common.StateChangeDate"] = stamp
                        if value in ("Closed", "Done", "Removed"):
                            fields["Microsoft.VSTS.Common.ClosedDate"] = stamp
                        else:
                            fields.pop("Microsoft.VSTS.Common.ClosedDate", None)
                elif ref in ("System.Id", "System.Rev", "System.WorkItemType"):
                    return _error(
                        400,
                        f"TF401326: Invalid field status 'ReadOnly' for field '{ref}'.",
                        "RuleValidationException",
                    )
                else:
                    fields[ref] = value
            elif path == "/relations/-" and name == "add":
                if not isinstance(value, dict) or not value.get("rel") or not value.get("url"):
                    return _error(
                        400, "A relation needs rel and url.", "VssPropertyValidationException"
                    )
                item["relations"].append(
                    {
                        "rel": value["rel"],
                        "url": value["url"],
                        "attributes": dict(value.get("attributes") or {}),
                    }
                )
            elif re.fullmatch(r"/relations/\d+", path) and name in ("remove", "replace"):
                index = int(path.rsplit("/", 1)[1])
                if index >= len(item["relations"]):
                    return _error(
                        400, f"Invalid relation index {index}", "VssPropertyValidationException"
                    )
                if name == "remove":
                    item["relations"].pop(index)
                else:
                    item["relations"][index] = value
            else:
                return _error(400, f"Invalid path {path}", "VssPropertyValidationException")
        if not fields.get("System.Title"):
            return _error(
                400,
                "TF401320: Rule Error for field Title. Error code: Required, HasValues, "
                "LimitedToValues, AllowsOldValue, InvalidEmpty.",
                "RuleValidationException",
            )
        _ = creating
        return None

    def _history(self, item: dict[str, Any]) -> None:
        text = item["fields"].get("System.History")
        if text:
            self._add_comment(item, str(text))

    def _create(self, org: str, project: str, wtype: str, ops: Any) -> Reply:
        stamp = now_iso(millis=True)
        me = self.identity(BOT)
        item: dict[str, Any] = {
            "id": 0,
            "rev": 1,
            "_org": org,
            "_project": project,
            "relations": [],
            "fields": {
                "System.AreaPath": project,
                "System.TeamProject": project,
                "System.IterationPath": project,
                "System.WorkItemType": wtype,
                "System.State": "New",
                "System.Reason": "New",
                "System.CreatedDate": stamp,
                "System.CreatedBy": me,
                "System.ChangedDate": stamp,
                "System.ChangedBy": me,
                "System.CommentCount": 0,
                "Microsoft.VSTS.Common.StateChangeDate": stamp,
                "Microsoft.VSTS.Common.Priority": 2,
            },
        }
        with self._lock:
            refused = self._apply(item, ops, creating=True)
            if refused is not None:
                return refused
            item["id"] = self._next_id
            self._next_id += 1
            self.items[item["id"]] = item
            self._history(item)
            return json_reply(200, self._shape(item, expand=True))

    def _get(self, wid: int, params: dict[str, str]) -> Reply:
        with self._lock:
            item = self.items.get(wid)
            if item is None:
                return _missing(wid)
            expand = params.get("$expand", "").lower() in ("relations", "all")
            fields = [f for f in params.get("fields", "").split(",") if f.strip()]
            return json_reply(200, self._shape(item, expand=expand, fields=fields or None))

    def _update(self, wid: int, ops: Any) -> Reply:
        with self._lock:
            item = self.items.get(wid)
            if item is None:
                return _missing(wid)
            draft = copy.deepcopy(item)
            draft["fields"].pop("System.History", None)
            refused = self._apply(draft, ops, creating=False)
            if refused is not None:
                return refused
            draft["rev"] += 1
            draft["fields"]["System.ChangedDate"] = now_iso(millis=True)
            draft["fields"]["System.ChangedBy"] = self.identity(BOT)
            self.items[wid] = draft
            self._history(draft)
            return json_reply(200, self._shape(draft, expand=True))

    # --- comments -------------------------------------------------------------------------

    def _add_comment(self, item: dict[str, Any], text: str) -> dict[str, Any]:
        cid = self._next_comment
        self._next_comment += 1
        stamp = now_iso(millis=True)
        me = self.identity(BOT)
        wid = item["id"]
        comment = {
            "workItemId": wid,
            "id": cid,
            "version": 1,
            "text": text,
            "createdBy": me,
            "createdDate": stamp,
            "modifiedBy": me,
            "modifiedDate": stamp,
            "url": f"{self.root}/{item['_org']}/{item['_project']}/_apis/wit/workItems/{wid}"
            f"/comments/{cid}",
        }
        self.comments.setdefault(wid, []).append(comment)
        item["fields"]["System.CommentCount"] = len(self.comments[wid])
        return comment

    def _comments(
        self, org: str, project: str | None, wid: int, method: str, payload: Any
    ) -> Reply:
        with self._lock:
            item = self.items.get(wid)
            if item is None:
                return _missing(wid)
            if method == "GET":
                found = self.comments.get(wid, [])
                return json_reply(
                    200, {"totalCount": len(found), "count": len(found), "comments": found}
                )
            if method != "POST":
                return _error(405, "Method not allowed", "NotFound")
            if not isinstance(payload, dict) or not str(payload.get("text") or "").strip():
                return _error(
                    400, "The comment text cannot be empty.", "VssPropertyValidationException"
                )
            return json_reply(200, self._add_comment(item, str(payload["text"])))

    # --- WIQL -----------------------------------------------------------------------------

    def _wiql(self, org: str, project: str | None, payload: Any, params: dict[str, str]) -> Reply:
        text = payload.get("query") if isinstance(payload, dict) else None
        if not isinstance(text, str) or not text.strip():
            return _error(400, "A WIQL query is required.", "WiqlQueryException")
        try:
            query = Wiql(text, project)
        except ValueError as exc:
            return _error(400, f"TF51005: {exc}", "WiqlQueryException")
        with self._lock:
            found = [
                i
                for i in self.items.values()
                if i["_org"].lower() == org.lower() and query.matches(i["fields"], i["id"])
            ]
        for ref, descending in reversed(query.order):

            def key(item: dict[str, Any], ref: str = ref) -> tuple[int, Any]:
                return _sort_key(_field_value(item["fields"], ref, item["id"]))

            found.sort(key=key, reverse=descending)
        if params.get("$top", "").isdigit():
            found = found[: int(params["$top"])]

        def column(ref: str) -> dict[str, str]:
            return {
                "referenceName": ref,
                "name": ref.rsplit(".", 1)[-1],
                "url": f"{self.root}/{org}/_apis/wit/fields/{ref}",
            }

        return json_reply(
            200,
            {
                "queryType": "flat",
                "queryResultType": "workItem",
                "asOf": now_iso(millis=True),
                "columns": [column(ref) for ref in query.columns],
                "sortColumns": [{"field": column(ref), "descending": d} for ref, d in query.order],
                "workItems": [
                    {"id": i["id"], "url": f"{self.root}/{org}/_apis/wit/workItems/{i['id']}"}
                    for i in found
                ],
            },
        )


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, dict):
        return (2, str(value.get("displayName", "")).lower())
    return (2, str(value).lower())


def _missing(wid: int) -> Reply:
    return _error(
        404,
        f"TF401232: Work item {wid} does not exist, or you do not have permissions to read it.",
        "WorkItemUnauthorizedAccessException",
        600_288,
    )


_WIQL_TOKEN = re.compile(
    r"\s*(?:(\[[^\]]+\])|('(?:[^']|'')*')|(@\w+)|(<>|<=|>=|=|<|>|\(|\)|,)|(-?\d+(?:\.\d+)?)|(\w+))",
)


class Wiql:
    """A parsed WIQL query of the subset in the module docstring."""

    def __init__(self, text: str, project: str | None) -> None:
        self.project = project
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _WIQL_TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                if text[pos:].strip() == "":
                    break
                raise ValueError(f"cannot read the query at {text[pos : pos + 20]!r}")
            pos = m.end()
            kinds = ("field", "string", "macro", "symbol", "number", "word")
            for kind, value in zip(kinds, m.groups(), strict=True):
                if value is not None:
                    self.tokens.append((kind, value))
                    break
        self.i = 0
        self._expect_word("SELECT")
        self.columns = [self._field()]
        while self._accept("symbol", ","):
            self.columns.append(self._field())
        self._expect_word("FROM")
        source = self._next()
        if source[1].lower() != "workitems":
            raise ValueError("only FROM WorkItems is supported")
        self.condition: Callable[[dict[str, Any], int], bool] = lambda f, i: True
        if self._accept_word("WHERE"):
            self.condition = self._or()
        self.order: list[tuple[str, bool]] = []
        if self._accept_word("ORDER"):
            self._expect_word("BY")
            while True:
                ref = self._field()
                descending = False
                if self._accept_word("DESC"):
                    descending = True
                else:
                    self._accept_word("ASC")
                self.order.append((ref, descending))
                if not self._accept("symbol", ","):
                    break
        if self.i != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.i][1]!r}")

    def matches(self, fields: dict[str, Any], wid: int) -> bool:
        return self.condition(fields, wid)

    # --- parser ---------------------------------------------------------------------------

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "")

    def _next(self) -> tuple[str, str]:
        token = self._peek()
        if token[0] == "end":
            raise ValueError("the query ends too early")
        self.i += 1
        return token

    def _accept(self, kind: str, value: str) -> bool:
        token = self._peek()
        if token[0] == kind and token[1].lower() == value.lower():
            self.i += 1
            return True
        return False

    def _accept_word(self, word: str) -> bool:
        return self._accept("word", word)

    def _expect_word(self, word: str) -> None:
        if not self._accept_word(word):
            raise ValueError(f"expected {word}, found {self._peek()[1]!r}")

    def _field(self) -> str:
        kind, value = self._next()
        if kind != "field":
            raise ValueError(f"expected a [field], found {value!r}")
        return _ref(value[1:-1].strip())

    def _value(self) -> Any:
        kind, value = self._next()
        if kind == "string":
            return value[1:-1].replace("''", "'")
        if kind == "number":
            return float(value) if "." in value else int(value)
        if kind == "macro":
            if value.lower() == "@project":
                if self.project is None:
                    raise ValueError("@project needs a project in the URL")
                return self.project
            if value.lower() == "@me":
                return BOT
            raise ValueError(f"the macro {value} is not supported")
        raise ValueError(f"expected a value, found {value!r}")

    def _or(self) -> Callable[[dict[str, Any], int], bool]:
        parts = [self._and()]
        while self._accept_word("OR"):
            parts.append(self._and())
        return lambda f, i: any(p(f, i) for p in parts)

    def _and(self) -> Callable[[dict[str, Any], int], bool]:
        parts = [self._factor()]
        while self._accept_word("AND"):
            parts.append(self._factor())
        return lambda f, i: all(p(f, i) for p in parts)

    def _factor(self) -> Callable[[dict[str, Any], int], bool]:
        if self._accept("symbol", "("):
            inner = self._or()
            if not self._accept("symbol", ")"):
                raise ValueError("a ( is not closed")
            return inner
        if self._accept_word("NOT"):
            inner = self._factor()
            return lambda f, i: not inner(f, i)
        ref = self._field()
        negate = self._accept_word("NOT")
        kind, op = self._next()
        op = op.upper()
        if kind == "word" and op == "CONTAINS":
            self._accept_word("WORDS")
            needle = str(self._value()).lower()

            def contains(f: dict[str, Any], i: int) -> bool:
                value = f.get(ref)
                if ref == "System.Tags":
                    return needle in {t.lower() for t in _tags(value)}
                return needle in _text(value).lower()

            return (lambda f, i: not contains(f, i)) if negate else contains
        if kind == "word" and op == "IN":
            if not self._accept("symbol", "("):
                raise ValueError("IN needs a (list)")
            values = [self._value()]
            while self._accept("symbol", ","):
                values.append(self._value())
            if not self._accept("symbol", ")"):
                raise ValueError("an IN list is not closed")
            wanted = {_text(v).lower() for v in values}

            def within(f: dict[str, Any], i: int) -> bool:
                return _text(_field_value(f, ref, i)).lower() in wanted

            return (lambda f, i: not within(f, i)) if negate else within
        if negate or kind != "symbol" or op not in ("=", "<>", "<", ">", "<=", ">="):
            raise ValueError(f"the operator {op!r} is not supported")
        target = self._value()

        def compare(f: dict[str, Any], i: int) -> bool:
            value = _field_value(f, ref, i)
            if op in ("=", "<>"):
                equal = _text(value).lower() == _text(target).lower()
                return equal if op == "=" else not equal
            try:
                left, right = float(value), float(target)
            except (TypeError, ValueError):
                left, right = _text(value).lower(), _text(target).lower()  # type: ignore[assignment]
            return {
                "<": left < right,
                ">": left > right,
                "<=": left <= right,
                ">=": left >= right,
            }[op]

        return compare


def _field_value(fields: dict[str, Any], ref: str, wid: int) -> Any:
    return wid if ref == "System.Id" else fields.get(ref)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return str(value.get("uniqueName") or value.get("displayName") or "")
    return str(value)
