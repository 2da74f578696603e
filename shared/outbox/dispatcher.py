""":class:`Dispatcher`: sends what the outbox holds, once each, at least once.

For every due item (oldest first): claim it (an attempt counted, held for ``lease``; a lost
race skips it), send it through its channel's :class:`~shared.outbox.model.Sender`, mark it
sent with the receipt. A transient failure (``shared.errors.is_transient``: throttling, 5xx,
unreachable) is retried after ``base_delay * 2**(attempts-1)`` (at most ``max_delay``), or
after the ``retry_after`` the service asked for if longer; the item is dead-lettered once it
has had ``max_attempts`` attempts. Any other failure (a refusal: 400, 403, a bad address) is
dead-lettered at once: sending it again would fail again. A throttled channel gets no more
sends in the same run. Items of a channel with no sender configured stay pending.

``rate_limits`` keeps a channel under a known quota instead of running into it: for ACS email
``[(30, 1 min), (100, 1 h)]`` (:data:`ACS_EMAIL_QUOTA`), for GitHub its content limits
(:data:`GITHUB_CONTENT_QUOTA`), for Teams a connector's (:data:`TEAMS_WEBHOOK_QUOTA`). Sends within each window are counted
in the outbox (``sent_since``) plus this run's; an item over the quota stays due, untouched
(no attempt counted), for a later run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from shared.errors import is_transient
from shared.outbox.model import Channel, ErrorSummary, OutboxItem, Sender
from shared.outbox.store import ClaimLost

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 8
# Azure Communication Services email's default sending quota.
ACS_EMAIL_QUOTA: tuple[tuple[int, timedelta], ...] = (
    (30, timedelta(minutes=1)),
    (100, timedelta(hours=1)),
)

# GitHub's secondary limits allow 80 content-generating requests a minute and 500 an hour
# (docs.github.com, "Rate limits for the REST API"); an issue item makes at most two (a reopen
# and its comment), so the dispatcher stays at half of each.
GITHUB_CONTENT_QUOTA: tuple[tuple[int, timedelta], ...] = (
    (40, timedelta(minutes=1)),
    (250, timedelta(hours=1)),
)

# Teams connectors' limits per webhook ("Rate limiting for connectors", msteams-docs
# connectors-using.md: 4 a second, 60 in 30 s, 100 an hour, 150 in 2 h, 1,800 a day); the
# per-second one is kept by the Teams client's spacing of its posts.
TEAMS_WEBHOOK_QUOTA: tuple[tuple[int, timedelta], ...] = (
    (60, timedelta(seconds=30)),
    (100, timedelta(hours=1)),
    (150, timedelta(hours=2)),
    (1800, timedelta(days=1)),
)


class Outbox(Protocol):
    def due(
        self, now: datetime, limit: int = ..., limits: Mapping[Channel, int] | None = ...
    ) -> list[OutboxItem]: ...
    def claim(self, item: OutboxItem, now: datetime, lease: timedelta) -> OutboxItem: ...
    def mark_sent(
        self, item: OutboxItem, receipt: str, now: datetime | None = ...
    ) -> OutboxItem: ...
    def mark_retry(
        self, item: OutboxItem, error: ErrorSummary, not_before: datetime
    ) -> OutboxItem: ...
    def mark_dead(self, item: OutboxItem, error: ErrorSummary) -> OutboxItem: ...


class CountsSent(Protocol):
    def sent_since(self, channel: Channel, since: datetime) -> int: ...


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0  # read but left: the channel throttled or its quota used up in this run
    lost: int = 0  # claimed or marked by another dispatcher meanwhile
    by_channel: dict[str, int] = field(default_factory=dict)  # sent, by channel


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        senders: Mapping[Channel, Sender],
        clock: Callable[[], datetime] | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        *,
        base_delay: float = 30.0,
        max_delay: float = 3600.0,
        lease: timedelta = timedelta(minutes=5),
        batch: int = 100,
        rate_limits: Mapping[Channel, Sequence[tuple[int, timedelta]]] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.outbox = outbox
        self.senders = dict(senders)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.lease = lease
        self.batch = batch
        self.rate_limits = {c: tuple(limits) for c, limits in (rate_limits or {}).items()}

    def backoff(self, attempts: int, retry_after: float | None = None) -> timedelta:
        """The wait after the ``attempts``-th failed attempt: exponential, capped, and never
        shorter than what the service asked for."""
        delay = min(self.base_delay * 2 ** max(attempts - 1, 0), self.max_delay)
        if retry_after is not None and retry_after > delay:
            delay = retry_after
        return timedelta(seconds=delay)

    def run_once(self, now: datetime | None = None) -> DispatchReport:
        now = now or self.clock()
        report = DispatchReport()
        throttled: set[Channel] = set()
        quota = _Quota(self.outbox, self.rate_limits, now)
        # Channels with no sender or no quota left this run are not read at all: a backlog
        # paced over hours costs no table reads in the runs that cannot send it.
        limits = {
            channel: (quota.left_for(channel) if channel in self.senders else 0)
            for channel in Channel
        }
        for item in self.outbox.due(now, self.batch, limits):
            sender = self.senders.get(item.channel)
            if sender is None or item.channel in throttled or not quota.allows(item.channel):
                report.skipped += 1
                continue
            try:
                claimed = self.outbox.claim(item, now, self.lease)
            except ClaimLost:
                report.lost += 1
                continue
            try:
                receipt = sender.send(claimed)
            except Exception as exc:  # every failure is recorded on the item
                self._failed(claimed, exc, now, report, throttled)
                continue
            try:
                self.outbox.mark_sent(claimed, receipt, self.clock())
            except ClaimLost:
                report.lost += 1  # the lease ran out and another run took it: it may resend
                continue
            report.sent += 1
            quota.count(item.channel)
            report.by_channel[item.channel.value] = report.by_channel.get(item.channel.value, 0) + 1
        return report

    def _failed(
        self,
        item: OutboxItem,
        exc: Exception,
        now: datetime,
        report: DispatchReport,
        throttled: set[Channel],
    ) -> None:
        error = ErrorSummary.of(exc)
        transient = is_transient(exc)
        try:
            if transient and item.attempts < self.max_attempts:
                retry_after = getattr(exc, "retry_after", None)
                if retry_after is not None:
                    throttled.add(item.channel)
                wait = self.backoff(item.attempts, retry_after)
                self.outbox.mark_retry(item, error, now + wait)
                report.retried += 1
            else:
                self.outbox.mark_dead(item, error)
                report.dead += 1
                log.warning(
                    "outbox: %s/%s dead after %d attempt(s): %s",
                    item.channel,
                    item.kind,
                    item.attempts,
                    error,
                )
        except ClaimLost:
            report.lost += 1


class _Quota:
    """Sends left per channel under its rate limits, in one run."""

    def __init__(
        self,
        outbox: object,
        limits: Mapping[Channel, tuple[tuple[int, timedelta], ...]],
        now: datetime,
    ) -> None:
        self.outbox = outbox
        self.limits = limits
        self.now = now
        self.left: dict[Channel, int] = {}

    def allows(self, channel: Channel) -> bool:
        if channel not in self.limits:
            return True
        if channel not in self.left:
            counter: CountsSent = self.outbox  # type: ignore[assignment]
            self.left[channel] = min(
                limit - counter.sent_since(channel, self.now - window)
                for limit, window in self.limits[channel]
            )
        return self.left[channel] > 0

    def left_for(self, channel: Channel) -> int:
        """Sends left for ``channel`` in this run (a large number when it has no limit)."""
        if channel not in self.limits:
            return 1 << 30
        self.allows(channel)
        return max(self.left[channel], 0)

    def count(self, channel: Channel) -> None:
        if channel in self.left:
            self.left[channel] -= 1
