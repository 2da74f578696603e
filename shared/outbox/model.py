"""What the outbox holds: :class:`OutboxItem`, and what sends it: :class:`Sender`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from shared.kernel.errors import PhiguardError, TransientError


class Channel(StrEnum):
    GITHUB = "github"
    AZURE_DEVOPS = "azure_devops"
    TEAMS = "teams"
    EMAIL = "email"


class Kind(StrEnum):
    NEW_FAILURE = "new_failure"
    FIX_APPLIED = "fix_applied"
    ESCALATION = "escalation"
    DIGEST = "digest"
    ACCESS_REVIEW = "access_review"
    ISSUE_OPEN = "issue_open"
    ISSUE_COMMENT = "issue_comment"
    ISSUE_CLOSE = "issue_close"
    ISSUE_REOPEN = "issue_reopen"
    TEST = "test"


class ItemStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


class RetryLater(TransientError, RuntimeError):
    """A sender's "not now": throttled (GitHub's secondary limits, the ACS send quota) or the
    service briefly down. ``retry_after``: seconds the service asked to wait, if it said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)


class PayloadTooLarge(PhiguardError, ValueError):
    """A payload does not fit one table property (32,000 UTF-16 units of JSON)."""


MAX_ERROR_TEXT = 200
# What may never reach a stored error: URLs' queries (SAS signatures, webhook sig= tokens),
# credentials in URLs, bearer / basic tokens, key=value secrets.
_SECRETS = (
    (re.compile(r"(https?://)[^/\s@]+@"), r"\1***@"),
    (re.compile(r"(https?://[^\s?#]+)[?#]\S*"), r"\1?***"),
    (re.compile(r"(?i)\b(bearer|basic|token|hmac-sha256)\s+\S+"), r"\1 ***"),
    (
        re.compile(
            r"(?i)\b(password|passwd|pwd|secret|sig|signature|key|accountkey|token)=[^;&\s]+"
        ),
        r"\1=***",
    ),
)


def scrub(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    """``text`` with URL queries, credentials and tokens masked, on one line, at most ``limit``
    characters."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class ErrorSummary:
    """An error as the outbox keeps it: the exception's type and a short, scrubbed text."""

    type: str
    text: str

    @classmethod
    def of(cls, exc: BaseException) -> ErrorSummary:
        return cls(type(exc).__name__, scrub(str(exc)))

    def __str__(self) -> str:
        return f"{self.type}: {self.text}" if self.text else self.type


@dataclass(frozen=True)
class OutboxItem:
    """One message or issue operation, keyed for idempotency.

    ``key``: the caller's idempotency key (the same event enqueued twice has the same key);
    ``payload``: JSON-able, rendered and PHI-checked before it is enqueued; ``not_before``: not
    sent before then (backoff, or the claim's lease); ``receipt``: what the sender returned (a
    message or issue id)."""

    key: str
    channel: Channel
    kind: Kind
    payload: Mapping[str, Any]
    created_at: datetime
    attempts: int = 0
    not_before: datetime | None = None
    status: ItemStatus = ItemStatus.PENDING
    last_error: ErrorSummary | None = None
    sent_at: datetime | None = None
    receipt: str = ""
    etag: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key.strip():
            raise ValueError("an outbox item needs a non-empty key")
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")
        object.__setattr__(self, "channel", Channel(self.channel))
        object.__setattr__(self, "kind", Kind(self.kind))
        object.__setattr__(self, "status", ItemStatus(self.status))

    def payload_json(self) -> str:
        return json.dumps(self.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def due(self, now: datetime) -> bool:
        return self.status is ItemStatus.PENDING and (
            self.not_before is None or self.not_before <= now
        )

    def with_(self, **changes: Any) -> OutboxItem:
        return replace(self, **changes)


def new_item(
    key: str,
    channel: Channel | str,
    kind: Kind | str,
    payload: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> OutboxItem:
    """A pending item created ``now`` (default: the current time)."""
    at = now or datetime.now(UTC)
    return OutboxItem(key, Channel(channel), Kind(kind), dict(payload), at, not_before=at)


class Sender(Protocol):
    """Sends one item and returns a receipt (a message id, an issue URL, ...). Raises a
    :class:`~shared.errors.TransientError` (``RetryLater`` with ``retry_after`` when the
    service said how long) to be retried, anything else to dead-letter the item. ``item.key``
    is the idempotency key: a sender that can (an issue marker, a message header) passes it on
    so the receiving side can drop a duplicate."""

    def send(self, item: OutboxItem) -> str: ...
