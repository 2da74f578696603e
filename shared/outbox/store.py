""":class:`TableOutbox`: the outbox in one Azure Table (``<prefix>outbox``).

PartitionKey
    The channel (``github``, ``teams``, ...).
RowKey
    The idempotency key, escaped like the state store's keys (``shared.state.keys.escape_key``);
    a key whose escaped form is too long keeps a head and gains a SHA-256 digest of the key.
Properties
    ``key`` (as given), ``kind``, ``payload`` (JSON), ``created_at``, ``attempts``,
    ``not_before``, ``status`` (pending / sent / dead), ``last_error_type``, ``last_error``
    (short, scrubbed), ``sent_at``, ``receipt``.

Enqueueing inserts only if absent: the same key twice is a no-op and says so. Every later change
(claim, sent, retry, dead) replaces the row under the ETag the caller read, so two dispatchers
never both claim one item; a lost race raises :class:`ClaimLost`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, TableEntity, UpdateMode

from shared.kernel.errors import PhiguardError
from shared.outbox.model import (
    Channel,
    ErrorSummary,
    ItemStatus,
    Kind,
    OutboxItem,
    PayloadTooLarge,
)
from shared.state.keys import escape_key
from shared.tables import TablesBacked

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient

_MAX_KEY_UNITS = 500
_HASHED_KEY_HEAD = 400
_MAX_TEXT_UNITS = 32_000


class ClaimLost(PhiguardError, RuntimeError):
    """Another dispatcher changed the item since it was read (claimed, marked or removed)."""


def _units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def row_key(key: str) -> str:
    """The RowKey of an idempotency key: escaped; hashed past the service's key length."""
    escaped = escape_key(key)
    if _units(escaped) <= _MAX_KEY_UNITS:
        return escaped
    # The head is cut in UTF-16 units, as the service measures a key (1 KiB): a character
    # outside the BMP (an emoji) is two units, so 400 characters may be 800 units.
    head = escaped[:_HASHED_KEY_HEAD]
    while _units(head) > _HASHED_KEY_HEAD:
        head = head[: len(head) - max(1, (_units(head) - _HASHED_KEY_HEAD) // 2)]
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{head}~{digest}"


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).astimezone(UTC)


def _entity(item: OutboxItem) -> dict[str, Any]:
    payload = item.payload_json()
    if _units(payload) > _MAX_TEXT_UNITS:
        raise PayloadTooLarge(
            f"outbox payload for {item.channel}/{item.kind} is {_units(payload)} UTF-16 units "
            f"(limit {_MAX_TEXT_UNITS})"
        )
    return {
        "PartitionKey": item.channel.value,
        "RowKey": row_key(item.key),
        "key": item.key,
        "kind": item.kind.value,
        "payload": payload,
        "created_at": item.created_at,
        "attempts": item.attempts,
        "not_before": item.not_before or item.created_at,
        "status": item.status.value,
        "last_error_type": item.last_error.type if item.last_error else "",
        "last_error": item.last_error.text if item.last_error else "",
        "sent_at": item.sent_at,
        "receipt": item.receipt,
    }


def _item(entity: TableEntity) -> OutboxItem:
    error_type = entity.get("last_error_type") or ""
    created = _utc(entity["created_at"])
    assert created is not None
    return OutboxItem(
        key=entity["key"],
        channel=Channel(entity["PartitionKey"]),
        kind=Kind(entity["kind"]),
        payload=json.loads(entity["payload"]),
        created_at=created,
        attempts=int(entity.get("attempts") or 0),
        not_before=_utc(entity.get("not_before")),
        status=ItemStatus(entity["status"]),
        last_error=ErrorSummary(error_type, entity.get("last_error") or "") if error_type else None,
        sent_at=_utc(entity.get("sent_at")),
        receipt=entity.get("receipt") or "",
        etag=entity.metadata.get("etag") or "",
    )


class TableOutbox(TablesBacked):
    """The outbox over Azure Table Storage (the real service or Azurite)."""

    def __init__(
        self,
        service: TableServiceClient,
        prefix: str = "phiguard",
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not (prefix[:1].isascii() and prefix[:1].isalpha() and prefix.isalnum()):
            raise ValueError(
                f"table prefix must be letters and digits, starting with a letter: {prefix!r}"
            )
        self.service = service
        self.prefix = prefix
        self.table_name = f"{prefix}outbox"
        self._table: TableClient = service.get_table_client(self.table_name)
        self._clock = clock or (lambda: datetime.now(UTC))

    def ensure_tables(self) -> None:
        self.service.create_table_if_not_exists(self.table_name)

    # -- writing -----------------------------------------------------------------------------

    def enqueue(self, item: OutboxItem) -> bool:
        """Inserts ``item`` unless its key is already there (sent, pending or dead): True if it
        was inserted, False if the key was known (nothing is changed)."""
        try:
            self._table.create_entity(_entity(item))
        except ResourceExistsError:
            return False
        return True

    def _replace(self, item: OutboxItem) -> OutboxItem:
        """Replaces the row under ``item.etag`` (``ClaimLost`` if it moved on)."""
        entity = _entity(item)
        try:
            if item.etag:
                meta = self._table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=item.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            else:
                meta = self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)
        except (ResourceModifiedError, ResourceNotFoundError) as exc:
            raise ClaimLost(f"outbox item {item.channel}/{item.kind} changed meanwhile") from exc
        return item.with_(etag=meta.get("etag") or "")

    def claim(self, item: OutboxItem, now: datetime, lease: timedelta) -> OutboxItem:
        """Counts an attempt and holds the item for ``lease`` (not due until then), before it is
        sent: a crash after the send leaves it to be sent once more when the lease is out."""
        return self._replace(item.with_(attempts=item.attempts + 1, not_before=now + lease))

    def mark_sent(self, item: OutboxItem, receipt: str, now: datetime | None = None) -> OutboxItem:
        at = now or self._clock()
        return self._replace(
            item.with_(status=ItemStatus.SENT, sent_at=at, receipt=receipt, not_before=None)
        )

    def mark_retry(self, item: OutboxItem, error: ErrorSummary, not_before: datetime) -> OutboxItem:
        return self._replace(
            item.with_(status=ItemStatus.PENDING, last_error=error, not_before=not_before)
        )

    def mark_dead(self, item: OutboxItem, error: ErrorSummary) -> OutboxItem:
        return self._replace(item.with_(status=ItemStatus.DEAD, last_error=error))

    def revive(self, item: OutboxItem, now: datetime | None = None) -> OutboxItem:
        """A dead letter made pending again, with its attempts reset (``phiguard outbox
        --retry``, once the cause is fixed); its last error is kept until it is sent."""
        at = now or self._clock()
        return self._replace(item.with_(status=ItemStatus.PENDING, attempts=0, not_before=at))

    # -- reading -----------------------------------------------------------------------------

    def get(self, channel: Channel | str, key: str) -> OutboxItem | None:
        try:
            return _item(self._table.get_entity(Channel(channel).value, row_key(key)))
        except ResourceNotFoundError:
            return None

    def _query(self, flt: str, parameters: dict[str, Any]) -> Iterator[OutboxItem]:
        for entity in self._table.query_entities(flt, parameters=parameters):
            yield _item(entity)

    def due(
        self, now: datetime, limit: int = 100, limits: Mapping[Channel, int] | None = None
    ) -> list[OutboxItem]:
        """Pending items whose ``not_before`` has passed, oldest first: at most ``limit`` of
        each channel (one partition each), so a channel with a backlog it cannot send (over its
        quota, throttled) never keeps another channel's items out of a run. ``limits``: a
        smaller limit for some channels (0: not read at all, e.g. a channel over its quota)."""
        items: list[OutboxItem] = []
        for channel in Channel:
            wanted = min(limit, (limits or {}).get(channel, limit))
            if wanted <= 0:
                continue
            found = self._table.query_entities(
                "PartitionKey eq @channel and status eq @pending and not_before le @now",
                parameters={
                    "channel": channel.value,
                    "pending": ItemStatus.PENDING.value,
                    "now": now.astimezone(UTC),
                },
                results_per_page=min(wanted, 1000),
            )
            for count, entity in enumerate(found, 1):
                item = _item(entity)
                items.append(item)
                if count >= wanted:
                    break
        return sorted(items, key=lambda i: (i.not_before or i.created_at, i.created_at))

    def sent_since(self, channel: Channel | str, since: datetime) -> int:
        """How many items of ``channel`` were marked sent at or after ``since`` (for a quota)."""
        flt = "PartitionKey eq @channel and status eq @sent and sent_at ge @since"
        parameters = {
            "channel": Channel(channel).value,
            "sent": ItemStatus.SENT.value,
            "since": since.astimezone(UTC),
        }
        return sum(
            1 for _ in self._table.query_entities(flt, parameters=parameters, select=["RowKey"])
        )

    def created_since(self, channel: Channel | str, kind: Kind | str, since: datetime) -> int:
        """How many items of ``kind`` were enqueued on ``channel`` at or after ``since``."""
        flt = "PartitionKey eq @channel and kind eq @kind and created_at ge @since"
        parameters = {
            "channel": Channel(channel).value,
            "kind": Kind(kind).value,
            "since": since.astimezone(UTC),
        }
        return sum(
            1 for _ in self._table.query_entities(flt, parameters=parameters, select=["RowKey"])
        )

    def purge_sent(self, before: datetime) -> int:
        """Deletes items sent before ``before`` (their key no longer guards against a repeat
        after that); dead and pending items are kept. Returns how many were deleted."""
        removed = 0
        for item in self._query(
            "status eq @sent and sent_at lt @before",
            {"sent": ItemStatus.SENT.value, "before": before.astimezone(UTC)},
        ):
            self._table.delete_entity(item.channel.value, row_key(item.key))
            removed += 1
        return removed

    def pending(self) -> list[OutboxItem]:
        return list(self._query("status eq @s", {"s": ItemStatus.PENDING.value}))

    def dead(self) -> list[OutboxItem]:
        return list(self._query("status eq @s", {"s": ItemStatus.DEAD.value}))

    def sent(self) -> list[OutboxItem]:
        return list(self._query("status eq @s", {"s": ItemStatus.SENT.value}))
