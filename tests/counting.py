"""Counting what a store client asks: wraps one client instance's lean queries."""

from __future__ import annotations

from typing import Any


def counted_queries(client: Any) -> list[str]:
    """Every filter ``client.query_rows`` is called with from now on, in order (the client's
    instance is patched; its answers are unchanged)."""
    queries: list[str] = []
    real = client.query_rows

    def counted(query_filter: str, **kwargs: Any) -> Any:
        queries.append(query_filter)
        return real(query_filter, **kwargs)

    client.query_rows = counted
    return queries
