"""Azure Communication Services Email (REST 2023-03-31) stand-in, on the tenant's own host.

The endpoint is the server's base URL (``{base}``): the connection string is
``endpoint={base}/;accesskey=<ACS_ACCESS_KEY>`` and the SDK's paths are used as they are.

Auth, as the service does it:

- ``HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=<sig>`` (what
  ``EmailClient.from_connection_string`` sends): ``x-ms-content-sha256`` must be the base64
  SHA-256 of the body, ``x-ms-date`` within 15 minutes of now, and the signature the base64
  HMAC-SHA256, keyed with the base64-decoded access key, of
  ``VERB\\n<path?query>\\n<x-ms-date>;<host>;<content hash>``;
- or any non-empty ``Bearer`` token (Entra ID). Anything else → 401 ``Denied``.

Supported:

- ``api-version`` 2023-03-31 (the reference shapes), 2024-07-01-preview or 2025-09-01 (what the
  SDK 1.1 sends; same shapes for these two calls); 400 otherwise.
- ``POST /emails:send?api-version=2023-03-31`` (``senderAddress``, ``content.subject``, a
  ``plainText`` or ``html``, ``recipients.to`` (required by the spec's ``EmailRecipients``), at
  least one and at most 50 recipient addresses in ``to``/``cc``/``bcc`` together; 400 with
  the reason otherwise; every error answer carries ``x-ms-error-code``) → 202 ``{"id", "status": "Running"}`` with ``Operation-Location``,
  ``operation-id`` (the client's ``operation-id`` header when given: a repeat is not sent twice)
  and ``retry-after`` when configured.
- ``GET /emails/operations/{id}?api-version=2023-03-31`` → ``Running`` on the first poll, then
  ``Succeeded`` (or ``Failed`` with ``EmailDropped`` when the ``email:fail@p`` fault drew it);
  404 for an unknown id.
- Faults: ``email:429@p`` / ``5xx@p`` / ``reset@p`` / ``latency=`` and the sending quota
  ``email:quota=30/min+100/h`` (429 ``TooManyRequests`` with ``Retry-After``; sends only).

Not supported: attachments' size limits, custom domains, engagement tracking.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl

from sim.channels import (
    ACS_ACCESS_KEY,
    FaultReplies,
    Inbox,
    Reply,
    counted,
    inject,
    json_reply,
    now_iso,
)
from sim.faults import Dice, FaultSpec, WindowQuota

API_VERSION = "2023-03-31"
# Versions with the same send / status shapes (azure-communication-email 1.1 sends 2025-09-01).
API_VERSIONS = ("2023-03-31", "2024-07-01-preview", "2025-09-01")
MAX_SKEW = 15 * 60


# "Number of recipients in email (To/Cc/Bcc combined): 50" (ACS service limits for email).
MAX_RECIPIENTS = 50


def _error(status: int, code: str, message: str) -> Reply:
    """An ``ErrorResponse`` with the ``x-ms-error-code`` header the spec's default response
    declares ("the same as the code in the error property in the response body")."""
    return json_reply(
        status, {"error": {"code": code, "message": message}}, [("x-ms-error-code", code)]
    )


def sign(method: str, path_and_query: str, date: str, host: str, body: bytes, key: str) -> str:
    """The ``Authorization`` value ACS expects (the SDK's ``HMACCredentialsPolicy``)."""
    content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    to_sign = f"{method.upper()}\n{path_and_query}\n{date};{host};{content_hash}"
    digest = hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()
    signature = base64.b64encode(digest).decode()
    return f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}"


class EmailService:
    def __init__(
        self,
        base_url: str,
        dice: Dice,
        faults: Callable[[], FaultSpec],
        quota: WindowQuota,
        retry_after: float = 0.0,
    ) -> None:
        self.base_url = base_url
        self.dice = dice
        self.faults = faults
        self.quota = quota
        self.retry_after = retry_after
        self.inbox = Inbox()
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.messages: list[dict[str, Any]] = []
            self.operations: dict[str, dict[str, Any]] = {}
        self.inbox.clear()

    def received(self) -> dict[str, Any]:
        with self._lock:
            messages = [dict(m, status=self.operations[m["id"]]["final"]) for m in self.messages]
        return {"count": len(messages), "messages": messages, "counters": self.inbox.snapshot()}

    def _replies(self) -> FaultReplies:
        def throttled(after: int) -> Reply:
            status, out, data, reset = _error(
                429,
                "TooManyRequests",
                "The request was throttled: the sending limit was exceeded. "
                f"Retry after {after} seconds.",
            )
            return status, [("Retry-After", str(after)), *out], data, reset

        def server_error(status: int) -> Reply:
            return _error(status, "ServiceUnavailable", "The service failed (injected).")

        return FaultReplies(throttled, server_error, throttled)

    def handle(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        raw_target: str = "",
    ) -> Reply:
        route = "/emails/operations/{id}" if path.startswith("/emails/operations/") else path
        reply = self._handle(method, path, query, headers, body, raw_target or path)
        return counted(self.inbox, method, route, reply)

    def _authorized(
        self, method: str, raw_target: str, headers: dict[str, str], body: bytes
    ) -> str | None:
        auth = headers.get("authorization", "")
        scheme, _, rest = auth.partition(" ")
        if scheme.lower() == "bearer":
            return None if rest.strip() else "the bearer token is empty"
        if scheme != "HMAC-SHA256":
            return "no Authorization header" if not auth else "unknown authorization scheme"
        m = re.fullmatch(r"SignedHeaders=([^&]+)&Signature=(.+)", rest.strip())
        if m is None or m.group(1).lower() != "x-ms-date;host;x-ms-content-sha256":
            return "the HMAC authorization header is malformed"
        date = headers.get("x-ms-date", "")
        try:
            skew = abs(time.time() - parsedate_to_datetime(date).timestamp())
        except (TypeError, ValueError):
            return "x-ms-date is missing or not an HTTP date"
        if skew > MAX_SKEW:
            return "x-ms-date is more than 15 minutes from now"
        content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
        if headers.get("x-ms-content-sha256", "") != content_hash:
            return "x-ms-content-sha256 does not match the body"
        expected = sign(method, raw_target, date, headers.get("host", ""), body, ACS_ACCESS_KEY)
        if not hmac.compare_digest(expected, auth.strip()):
            return "the HMAC signature does not match"
        return None

    def _handle(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        raw_target: str,
    ) -> Reply:
        refused = self._authorized(method, raw_target, headers, body)
        if refused is not None:
            return _error(401, "Denied", f"Denied by the resource provider: {refused}.")
        params = dict(parse_qsl(query))
        version = params.get("api-version", "")
        if version not in API_VERSIONS:
            return _error(
                400,
                "InvalidApiVersion",
                f"api-version must be one of {list(API_VERSIONS)}, got {version!r}",
            )
        send = path == "/emails:send"
        if send and method != "POST":
            return _error(405, "MethodNotAllowed", "POST only")
        fault = inject(
            "email",
            self.faults().for_service("email"),
            self.dice,
            self.quota,
            self.inbox,
            self._replies(),
            send,
        )
        if fault is not None:
            return fault
        if send:
            return self._send(headers, body, version)
        m = re.fullmatch(r"/emails/operations/([^/]+)", path)
        if m and method == "GET":
            return self._status(m.group(1))
        return _error(404, "NotFound", f"no route {method} {path}")

    def _retry_headers(self) -> list[tuple[str, str]]:
        return [("retry-after", f"{self.retry_after:g}")] if self.retry_after > 0 else []

    def _send(self, headers: dict[str, str], body: bytes, version: str) -> Reply:
        try:
            message = json.loads(body) if body.strip() else None
        except ValueError:
            return _error(400, "InvalidRequest", "the body is not JSON")
        problem = _message_problem(message)
        if problem or not isinstance(message, dict):
            return _error(400, "InvalidRequest", problem or "the body must be a JSON object")
        op_id = headers.get("operation-id") or str(
            uuid.UUID(int=self.dice.getrandbits(128), version=4)
        )
        with self._lock:
            if op_id not in self.operations:
                failed = self.dice.chance(self.faults().for_service("email").fail)
                self.operations[op_id] = {"polls": 0, "final": "Failed" if failed else "Succeeded"}
                self.messages.append({"id": op_id, "received": now_iso(millis=True), **message})
        location = f"{self.base_url}/emails/operations/{op_id}?api-version={version}"
        return json_reply(
            202,
            {"id": op_id, "status": "Running"},
            [("Operation-Location", location), ("operation-id", op_id), *self._retry_headers()],
        )

    def _status(self, op_id: str) -> Reply:
        with self._lock:
            op = self.operations.get(op_id)
            if op is None:
                return _error(404, "NotFound", f"no operation {op_id}")
            op["polls"] += 1
            polls, final = op["polls"], op["final"]
        if polls < 2:
            return json_reply(200, {"id": op_id, "status": "Running"}, self._retry_headers())
        if final == "Failed":
            return json_reply(
                200,
                {
                    "id": op_id,
                    "status": "Failed",
                    "error": {
                        "code": "EmailDropped",
                        "message": "Email was dropped after several attempts to deliver.",
                    },
                },
            )
        return json_reply(200, {"id": op_id, "status": "Succeeded"})


def _message_problem(message: Any) -> str | None:
    if not isinstance(message, dict):
        return "the body must be a JSON object"
    if not message.get("senderAddress"):
        return "senderAddress is required"
    content = message.get("content")
    if not isinstance(content, dict) or not content.get("subject"):
        return "content.subject is required"
    if not content.get("plainText") and not content.get("html"):
        return "content needs plainText or html"
    recipients = message.get("recipients")
    if not isinstance(recipients, dict):
        return "recipients is required"
    if not isinstance(recipients.get("to"), list):
        return "recipients.to is required"
    addresses = [
        r.get("address")
        for kind in ("to", "cc", "bcc")
        for r in recipients.get(kind) or []
        if isinstance(r, dict)
    ]
    if not addresses or not all(isinstance(a, str) and "@" in a for a in addresses):
        return "recipients need at least one valid address"
    if len(addresses) > MAX_RECIPIENTS:
        return (
            f"at most {MAX_RECIPIENTS} recipients (to, cc and bcc together), got {len(addresses)}"
        )
    return None
