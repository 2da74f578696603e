""":class:`TeamsNotifier`: Adaptive Cards to a Teams channel through a Workflows (or legacy
incoming) webhook, on the client seam (:class:`shared.http.ServiceClient`).

The webhook URL is a credential: a Workflows URL carries a ``sig`` in its query, a legacy
incoming webhook's path is the secret itself. So it is never logged and never put in an error:
errors say "the Teams webhook" and the status, nothing of the URL (``ServiceClient``'s own
messages name the path, so they are replaced here).

Answers (https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using,
"Rate limiting for connectors" and "Send Adaptive Cards using an incoming webhook";
.../add-incoming-webhook for the 28 KB limit): a Workflows webhook answers 202; a legacy
incoming webhook answers 200 with the body ``1``, and reports its failures in a 200 as well,
as text such as ``Webhook message delivery failed with error: Microsoft Teams endpoint returned
HTTP error 413`` ("Connectors do not throw 429s": the body must be read). Such a text is an
error, mapped by the status it names (429 and 5xx transient, any other refused), never a
receipt. A message is cut to the 28 KB limit when rendered (``cards.fit_message``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from shared.errors import ServiceError, TransientServiceError
from shared.http import MAX_RETRY_WAIT, ServiceClient, retry_after
from shared.kernel.errors import PhiguardError
from shared.notify.cards import MAX_MESSAGE_BYTES, card, fit_message, message_bytes, teams_message
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


class MessageTooLarge(PhiguardError, ValueError):
    """A rendered message still over Teams' 28 KB limit once cut down: not sent."""


# A legacy connector's failure, reported in a 200 answer's body.
_LEGACY_FAILURE = re.compile(r"(?i)delivery failed|returned HTTP error")
_LEGACY_STATUS = re.compile(r"(?i)returned HTTP error (\d{3})")


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

    # Teams lets a connector post at most 4 requests a second to a channel ("Rate limiting for
    # connectors", msteams-docs connectors-using.md): the seam spaces the posts; the longer
    # windows are the dispatcher's (``shared.outbox.dispatcher.TEAMS_WEBHOOK_QUOTA``).
    min_interval: ClassVar[float] = 0.25

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
        # Legacy Office 365 connectors answer "1" when they took the message, and report a
        # failure (throttling, a message over 28 KB, ...) in a 200 answer's text.
        text = response.text() if response.content else ""
        if text.strip() == "1" or not _LEGACY_FAILURE.search(text):
            return
        found = _LEGACY_STATUS.search(text)
        named = int(found.group(1)) if found else 0
        if not named or named in (408, 429) or named >= 500:  # a failure naming no status: retry
            raise TeamsUnavailable(
                f"the Teams webhook reported a failure ({named or 'no status'}) in a 200 answer"
                + (": throttling" if named == 429 else "")
            )
        raise TeamsError(
            named, "", f"the webhook refused the message ({named} in a 200 answer)", ""
        )


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
        message = fit_message(teams_message(card(notice)))
        size = message_bytes(message)
        if size > MAX_MESSAGE_BYTES:
            raise MessageTooLarge(
                f"the Teams message for a {notice.kind} notice is {size} bytes, over the "
                f"{MAX_MESSAGE_BYTES}-byte limit, even cut down"
            )
        self.guard.check(message, notice.sensitive)
        return message

    def send(self, item: OutboxItem) -> str:
        self.guard.check(item.payload)
        return self.client.post(item.payload)
