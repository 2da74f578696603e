"""Table keys: a resource's partition, the row keys of its marker, checks and history, and the
keys of processed events (the layout is described in :mod:`shared.state`)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from shared.kernel.resource_id import normalize

MARKER_ROW = "marker"
_CHECK_FROM, _CHECK_TO = "c~", "c~~"
_HISTORY_FROM, _HISTORY_TO = "h~", "h~~"

_MAX_KEY_UNITS = 500  # service limit 1 KiB = 512 UTF-16 units (Azurite enforces 512)
_HASHED_KEY_HEAD = 400
_KEY_SAFE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._()-")
# Text of only these (a normalized resource id, almost always) needs no escape but ``/``.
_PLAIN_KEY = re.compile(r"[a-z0-9._()/-]*")


def _utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Table Storage measures keys and strings in."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _fits_utf16(text: str, limit: int) -> bool:
    """Whether ``text`` is at most ``limit`` UTF-16 units, without encoding text that must fit
    (a character is one or two units)."""
    return 2 * len(text) <= limit or _utf16_len(text) <= limit


def escape_key(text: str) -> str:
    """Text made safe for a PartitionKey/RowKey: ``/`` → ``|``, unsafe characters → ``!xxxx``."""
    if _PLAIN_KEY.fullmatch(text):
        return text.replace("/", "|")
    out: list[str] = []
    for ch in text:
        if ch in _KEY_SAFE:
            out.append(ch)
        elif ch == "/":
            out.append("|")
        elif ord(ch) > 0x9F and ch.isprintable():
            out.append(ch)
        else:  # UTF-16 units, so every escape is exactly five characters
            units = ch.encode("utf-16-be", "surrogatepass")
            out.extend(f"!{int.from_bytes(units[i : i + 2]):04x}" for i in range(0, len(units), 2))
    return "".join(out)


def _group_prefix(pk: str) -> str:
    """The resource-group part of a resource's partition key (``preload_group``'s range), or
    "" for a resource outside any group."""
    parts = pk.split("|", 5)
    if len(parts) == 6 and parts[1] == "subscriptions" and parts[3] == "resourcegroups":
        return "|".join(parts[:5]) + "|"
    return ""


def read_partition(pk: str) -> str:
    """The partition of the reads table that holds a resource's confirmed read: its resource
    group's key prefix (a group's own key with ``|`` added: beside its resources), else its own
    key with ``|`` added (a subscription). A sweep confirms a group's resources together, so
    their confirmations share a transaction."""
    return _group_prefix(pk) or f"{pk}|"


def partition_key(resource_id: str) -> str:
    """The partition of a resource: its normalized id, escaped, hashed when too long."""
    if not isinstance(resource_id, str) or not resource_id.strip():
        raise ValueError(f"resource id must be a non-empty string, got {resource_id!r}")
    key = normalize(resource_id)
    escaped = escape_key(key)
    if _utf16_len(escaped) <= _MAX_KEY_UNITS:
        return escaped
    head = escaped[:_HASHED_KEY_HEAD]
    while _utf16_len(head) > _HASHED_KEY_HEAD:
        head = head[:-1]
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{head}~{digest}"


def _event_keys(event_id: str) -> tuple[str, str]:
    digest = hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()
    escaped = escape_key(event_id)
    return digest[:2], escaped if _utf16_len(escaped) <= _MAX_KEY_UNITS else f"~{digest}"


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
