""":class:`TeamsNotifier`: Adaptive Cards to a Teams channel through a Workflows (or legacy
incoming) webhook, on the client seam (:class:`shared.http.ServiceClient`).

The webhook URL is a credential: a Workflows URL carries a ``sig`` in its query, a legacy
incoming webhook's path is the secret itself. So it is never logged and never put in an error:
errors say "the Teams webhook" and the status, nothing of the URL (``ServiceClient``'s own
messages name the path, so they are replaced here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from shared.errors import ServiceError, TransientServiceError
from shared.http import MAX_RETRY_WAIT, ServiceClient, retry_after
from shared.notify.cards import card, teams_message
from shared.notify.guard import PayloadGuard
from shared.notify.model import Notice
from shared.outbox.model import Channel, OutboxItem, RetryLater

if TYPE_CHECKING:
    from azure.core.rest import HttpResponse


class TeamsError(ServiceError):
    """The webhook refused the message (400: a malformed card, 403/404: the flow is off)."""

    service = "Teams"


class TeamsUnavailable(RetryLater, TransientServiceError):
    """Throttled (429), 5xx or unreachable once the client's retries were spent."""


class _Unreachable(TransientServiceError):
    """``ServiceClient``'s connection error (its message names the URL path): replaced."""


class TeamsWebhookClient(ServiceClient):
    """POSTs messages to one webhook URL."""

    service = "Teams"
    error = TeamsError
    transient = _Unreachable

    def __init__(self, webhook_url: str, **options: Any) -> None:
        parts = urlsplit(webhook_url)
        if parts.scheme != "https" and not options.pop("allow_http", False):
            raise ValueError("the Teams webhook URL must be https")
        if not parts.netloc:
            raise ValueError("the Teams webhook URL has no host")
        options.setdefault("max_retries", 2)
        options.setdefault("retry_budget_seconds", 15)
        super().__init__(f"{parts.scheme}://{parts.netloc}", **options)
        self._url = webhook_url

    def __repr__(self) -> str:
        return f"TeamsWebhookClient({self.base_url!r})"  # never the path or the sig

    # A Retry-After longer than this is not slept on in process: the outbox's dispatcher waits
    # it out (the same policy as the issue trackers').
    max_retry_wait: ClassVar[float | None] = MAX_RETRY_WAIT

    def post(self, message: Mapping[str, Any]) -> str:
        """Posts one message; the receipt (the flow's run id, else the status)."""
        try:
            response = self.send("POST", self._url, kind="teams_message", json=dict(message))
        except _Unreachable:
            raise TeamsUnavailable("the Teams webhook is unreachable") from None
        run = response.headers.get("x-ms-workflow-run-id")
        return f"teams:{run}" if run else f"teams:HTTP {response.status_code}"

    def raise_for_status(self, method: str, url: str, response: HttpResponse) -> None:
        status = response.status_code
        if status in (408, 429) or status >= 500:
            raise TeamsUnavailable(
                f"the Teams webhook answered {status} after retries", retry_after(response.headers)
            )
        if status >= 400:
            raise TeamsError(status, "", "the webhook refused the message", "")
        # Legacy Office 365 connectors answer throttling with a 200 and this text.
        text = response.text() if response.content else ""
        if "HTTP error 429" in text:
            raise TeamsUnavailable("the Teams webhook is throttling (429 in a 200 answer)")


class TeamsNotifier:
    """Renders notices as Adaptive Cards and sends them (a :class:`~shared.outbox.Sender`)."""

    channel = Channel.TEAMS

    def __init__(
        self,
        webhook_url: str,
        *,
        secrets: Iterable[str | None] = (),
        client: TeamsWebhookClient | None = None,
        **client_options: Any,
    ) -> None:
        self.guard = PayloadGuard.of([webhook_url, *secrets])
        self.client = client or TeamsWebhookClient(webhook_url, **client_options)

    def __repr__(self) -> str:
        return f"TeamsNotifier({self.client!r})"

    def render(self, notice: Notice) -> dict[str, Any]:
        message = teams_message(card(notice))
        self.guard.check(message, notice.sensitive)
        return message

    def send(self, item: OutboxItem) -> str:
        self.guard.check(item.payload)
        return self.client.post(item.payload)
