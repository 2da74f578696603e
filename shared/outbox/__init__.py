"""The outbox: every message and issue operation phiguard sends is first written here under an
idempotency key, then sent by :class:`~shared.outbox.dispatcher.Dispatcher` and marked sent.

* :mod:`shared.outbox.model` — :class:`OutboxItem`, its channel, kind and status, the
  :class:`Sender` protocol and :class:`RetryLater` (a sender's "throttled, come back in N s").
* :mod:`shared.outbox.store` — :class:`TableOutbox` on Azure Table Storage: enqueueing is
  insert-if-absent by key (twice is a no-op), claims and marks are ETag-conditional.
* :mod:`shared.outbox.dispatcher` — sends due items, retries transient failures with
  exponential backoff (``retry_after`` honoured), dead-letters after ``max_attempts``.

Delivery is at least once. An item is claimed (attempt counted, a lease set) before it is sent;
a crash between the send and the mark leaves it claimed, and it is sent again once the lease
runs out: at most one duplicate per crash, and at most ``max_attempts`` sends in all.
"""

from shared.outbox.model import (
    Channel,
    ItemStatus,
    Kind,
    OutboxItem,
    RetryLater,
    Sender,
)

__all__ = ["Channel", "ItemStatus", "Kind", "OutboxItem", "RetryLater", "Sender"]
