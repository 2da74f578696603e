""":class:`AcsEmailNotifier`: email through Azure Communication Services
(``azure.communication.email.EmailClient``, on the seam's transport ``shared.http.transport``).

``begin_send`` starts the long-running send and the poller follows the operation's status
(``Running`` → ``Succeeded``; ``Failed`` is a refusal). The operation id derives from the outbox
key (a UUID5), so ACS itself treats a send repeated after a crash as the same operation.
ACS's quota (30 a minute, 100 an hour by default) is answered with 429 and a ``Retry-After``:
raised as :class:`AcsUnavailable` with ``retry_after`` for the dispatcher. The clients built
here do not retry in process (``retry_total=0``: azure-core would sleep a quota's whole
``Retry-After``); the outbox retries. Polling stops after ``poll_timeout``: an operation still
``Running`` then was accepted by ACS and is reported sent (receipt ``acs:<op>:accepted``).

Limits (https://learn.microsoft.com/azure/communication-services/concepts/service-limits#email):
at most 50 recipients in one email (To, Cc and Bcc together), so a longer list is sent as
several emails of at most 50, each its own operation (``operation_id(key, part)``). A send
answered 202 was accepted ("the service has accepted the request and will start processing the
message", REST 2023-03-31 ``Email_Send``): trouble while polling its status (a 429 from the
status quota, a 5xx, the network) is not a reason to send it again, so it is reported
accepted; only a terminal ``Failed`` / ``Canceled`` status is a refusal.

Credentials: an endpoint with the managed identity (production) or a connection string (its
``accesskey`` is a secret: the guard refuses it in any payload, errors never carry it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from shared.http import retry_after
from shared.kernel.errors import PhiguardError
from shared.notify.email import EmailRenderer
from shared.notify.guard import PayloadGuard
from shared.notify.model import Notice
from shared.notify.routing import Routing, is_address
from shared.outbox.model import Channel, OutboxItem, RetryLater

if TYPE_CHECKING:
    from azure.communication.email import EmailClient
    from azure.core.credentials import TokenCredential

_OPERATION_NAMESPACE = uuid.UUID("1b0b7a5e-6f3c-4c1e-9a57-5d3f0c0a9e11")
# "Number of recipients in email: 50" (To/Cc/Bcc combined), ACS service limits for email.
MAX_RECIPIENTS = 50


class AcsError(PhiguardError, RuntimeError):
    """ACS refused the message (400, 401/403) or the operation ended Failed / Canceled."""


class AcsUnavailable(RetryLater):
    """Throttled (the send quota), 5xx or unreachable."""


def operation_id(key: str, part: int = 0) -> str:
    """The send's operation id: the outbox key's UUID5 (its ``part``-th email beyond the first
    when the recipients are more than one email takes)."""
    return str(uuid.uuid5(_OPERATION_NAMESPACE, key if part == 0 else f"{key}#{part}"))


def recipient_batches(addresses: list[str] | tuple[str, ...]) -> list[list[str]]:
    """``addresses`` in emails of at most :data:`MAX_RECIPIENTS`."""
    listed = list(addresses)
    return [listed[n : n + MAX_RECIPIENTS] for n in range(0, len(listed), MAX_RECIPIENTS)]


def acs_message(
    payload: dict[str, Any] | Any, sender: str, to: list[str] | None = None
) -> dict[str, Any]:
    """The ``emailMessage`` ACS takes (``senderAddress``, ``content``, ``recipients``), to
    ``to`` (default: the payload's recipients)."""
    return {
        "senderAddress": sender,
        "content": {
            "subject": payload["subject"],
            "plainText": payload["text"],
            "html": payload["html"],
        },
        "recipients": {
            "to": [{"address": address} for address in (payload["to"] if to is None else to)]
        },
        "userEngagementTrackingDisabled": True,
    }


def _operation_code(exc: Exception) -> str:
    """The ``error.code`` of a failed operation's status body (``EmailDropped``, ...)."""
    try:
        body = exc.response.json()  # type: ignore[attr-defined]
        return str(body["error"]["code"])[:80]
    except Exception:  # no readable code: say so
        return "no code"


class AcsEmailNotifier:
    channel = Channel.EMAIL

    def __init__(
        self,
        client: EmailClient,
        sender: str,
        routing: Routing,
        *,
        polling_interval: float = 5,
        poll_timeout: float = 60,
        secrets: Iterable[str | None] = (),
    ) -> None:
        if not is_address(sender):
            raise ValueError("PHIGUARD_EMAIL_SENDER is not an email address")
        self.client = client
        self.sender = sender
        self.polling_interval = polling_interval
        self.poll_timeout = poll_timeout
        self.renderer = EmailRenderer(routing, PayloadGuard.of(secrets))

    @classmethod
    def from_connection_string(
        cls,
        connection_string: str,
        sender: str,
        routing: Routing,
        *,
        ca_cert: str | None = None,
        **options: Any,
    ) -> AcsEmailNotifier:
        from azure.communication.email import EmailClient

        from shared.http import transport

        client = EmailClient.from_connection_string(
            connection_string, transport=transport(ca_cert=ca_cert), retry_total=0
        )
        secrets = [
            *options.pop("secrets", ()),
            connection_string,
            *(
                part.split("=", 1)[1]
                for part in connection_string.split(";")
                if part.strip().lower().startswith("accesskey=")
            ),
        ]
        return cls(client, sender, routing, secrets=secrets, **options)

    @classmethod
    def from_endpoint(
        cls,
        endpoint: str,
        credential: TokenCredential,
        sender: str,
        routing: Routing,
        *,
        ca_cert: str | None = None,
        **options: Any,
    ) -> AcsEmailNotifier:
        from azure.communication.email import EmailClient

        from shared.http import transport

        client = EmailClient(
            endpoint, credential, transport=transport(ca_cert=ca_cert), retry_total=0
        )
        return cls(client, sender, routing, **options)

    def __repr__(self) -> str:
        return f"AcsEmailNotifier(sender={self.sender!r})"

    def render(self, notice: Notice) -> dict[str, Any]:
        return self.renderer.render(notice)

    def send(self, item: OutboxItem) -> str:
        self.renderer.guard.check(item.payload)
        batches = recipient_batches(item.payload["to"]) or [[]]
        receipts = [
            self._send_one(acs_message(item.payload, self.sender, to), operation_id(item.key, n))
            for n, to in enumerate(batches)
        ]
        return receipts[0] if len(receipts) == 1 else ",".join(receipts)

    def _send_one(self, message: dict[str, Any], op: str) -> str:
        from azure.core.exceptions import (
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )

        try:
            poller = self.client.begin_send(
                message, operation_id=op, polling_interval=self.polling_interval
            )
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise AcsUnavailable(f"ACS unreachable ({type(exc).__name__})") from None
        except HttpResponseError as exc:
            status = exc.status_code or 0
            code = getattr(getattr(exc, "error", None), "code", None) or ""
            if status in (408, 429) or status >= 500:
                headers = getattr(exc.response, "headers", None) or {}
                raise AcsUnavailable(
                    f"ACS answered {status} {code}".rstrip(), retry_after(headers)
                ) from None
            raise AcsError(f"ACS refused the message: {status} {code}".rstrip()) from None
        # 202: ACS has the message, keyed by op. From here on only a terminal status refuses.
        try:
            result = poller.result(timeout=self.poll_timeout)
        except (ServiceRequestError, ServiceResponseError):
            return f"acs:{op}:accepted"  # the status could not be read: it was accepted
        except HttpResponseError as exc:
            status = exc.status_code or 0
            if status < 400:  # the operation ended Failed / Canceled (the poller's error)
                code = getattr(getattr(exc, "error", None), "code", None) or ""
                raise AcsError(
                    f"ACS email operation failed: {code or _operation_code(exc)}"
                ) from None
            return f"acs:{op}:accepted"  # the status call was throttled or failed
        if not poller.done():  # accepted (202), still Running after poll_timeout
            return f"acs:{op}:accepted"
        status = (result or {}).get("status", "")
        if status != "Succeeded":
            raise AcsError(f"ACS email operation ended {status or 'without a status'}")
        return f"acs:{(result or {}).get('id') or op}"
