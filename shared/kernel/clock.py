"""The one wall clock: timezone-aware UTC. Components take a ``clock`` callable defaulting to
:func:`utcnow`, so tests can move time without patching."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
