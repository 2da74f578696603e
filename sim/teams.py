"""Teams incoming webhook / Workflows ("When a Teams webhook request is received") stand-in.

``POST /teams/webhook/{id}?sig=...`` (the URL carries its own signature, as a Workflows URL does:
401 ``DirectApiAuthorizationRequired`` without the sim's :data:`sim.channels.TEAMS_SIG`)
accepting ``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "content": {"type": "AdaptiveCard", ...}}, ...]}``
→ 202 with an empty body (as Workflows answers). Anything else → 400 with the reason; a body
over 28 KB (Teams' message limit) → 413. Any webhook id exists; messages are kept per id.

Not supported: MessageCard (the retired connector format), Workflows' flow runs, card
rendering or schema validation beyond the envelope.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from sim.channels import TEAMS_SIG, FaultReplies, Inbox, Reply, counted, inject, json_reply, now_iso
from sim.faults import Dice, FaultSpec, WindowQuota

CARD = "application/vnd.microsoft.card.adaptive"
MAX_BYTES = 28 * 1024


def _error(status: int, code: str, message: str) -> Reply:
    return json_reply(status, {"error": {"code": code, "message": message}})


def envelope_problem(payload: Any) -> str | None:
    """Why ``payload`` is not a message with Adaptive Card attachments (None when it is)."""
    if not isinstance(payload, dict):
        return "the body must be a JSON object"
    if payload.get("type") != "message":
        return 'the body must have "type": "message"'
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return '"attachments" must be a non-empty list'
    for n, attachment in enumerate(attachments):
        if not isinstance(attachment, dict):
            return f"attachment {n} must be an object"
        if attachment.get("contentType") != CARD:
            return f'attachment {n} must have "contentType": "{CARD}"'
        content = attachment.get("content")
        if not isinstance(content, dict) or content.get("type") != "AdaptiveCard":
            return f'attachment {n} must have a "content" object with "type": "AdaptiveCard"'
        if "body" in content and not isinstance(content["body"], list):
            return f"attachment {n}: the card's body must be a list"
    return None


class TeamsService:
    def __init__(
        self, base_url: str, dice: Dice, faults: Callable[[], FaultSpec], quota: WindowQuota
    ) -> None:
        self.root = base_url + "/teams"
        self.dice = dice
        self.faults = faults
        self.quota = quota
        self.inbox = Inbox()
        self._lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []

    def clear(self) -> None:
        with self._lock:
            self.messages = []
        self.inbox.clear()

    def received(self) -> dict[str, Any]:
        with self._lock:
            messages = list(self.messages)
        return {"count": len(messages), "messages": messages, "counters": self.inbox.snapshot()}

    def _replies(self) -> FaultReplies:
        def throttled(after: int) -> Reply:
            status, out, data, reset = _error(
                429, "TooManyRequests", "Rate limit is exceeded. Try again later (injected)."
            )
            return status, [("Retry-After", str(after)), *out], data, reset

        def server_error(status: int) -> Reply:
            return _error(status, "ServiceUnavailable", "The service failed (injected).")

        return FaultReplies(throttled, server_error, throttled)

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        return counted(
            self.inbox, method, "/webhook/{id}", self._handle(method, path, query, headers, body)
        )

    def _handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        parts = path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "webhook" or not parts[1]:
            return _error(404, "NotFound", f"no webhook at {path}")
        if method != "POST":
            return _error(405, "MethodNotAllowed", "only POST is accepted")
        params = dict(parse_qsl(query))
        if params.get("sig") != TEAMS_SIG:
            return _error(
                401,
                "DirectApiAuthorizationRequired",
                "The request must be authenticated only by Shared Access scheme.",
            )
        fault = inject(
            "teams",
            self.faults().for_service("teams"),
            self.dice,
            self.quota,
            self.inbox,
            self._replies(),
            True,
        )
        if fault is not None:
            return fault
        if len(body) > MAX_BYTES:
            return _error(413, "RequestEntityTooLarge", "the message is over 28 KB")
        try:
            payload = json.loads(body) if body.strip() else None
        except ValueError:
            return _error(400, "InvalidRequestContent", "the body is not JSON")
        problem = envelope_problem(payload)
        if problem:
            return _error(400, "InvalidRequestContent", problem)
        run_id = str(uuid.UUID(int=self.dice.getrandbits(128), version=4))
        record = {
            "id": run_id,
            "webhook": parts[1],
            "received": now_iso(millis=True),
            "message": payload,
        }
        with self._lock:
            self.messages.append(record)
        return 202, [("x-ms-workflow-run-id", run_id)], b"", False
