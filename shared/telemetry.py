"""phiguard's own counters, one structured log line per invocation: ``phiguard.metrics {json}``.

The Functions host forwards Python logs to Application Insights (the ``traces`` table), so the
counters arrive with no extra package in the deployed closure (azure-monitor-opentelemetry's
distro adds 43): events and what became of each resource, ARM requests, transitions, fixes by
status, outbox sends and depth. The README has the KQL that charts them.

Only numbers leave, under fixed names (statuses, actions, channels): never a resource id, a
name, a tag value or an error text, so telemetry can carry no PHI and no secret.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("phiguard.metrics")
PREFIX = "phiguard.metrics "
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


def numbers(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` keeping only numbers (and mappings of them) under plain names."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key)
        if not _NAME.match(name):
            continue
        if isinstance(value, bool):
            out[name] = int(value)
        elif isinstance(value, int | float):
            out[name] = value
        elif isinstance(value, Mapping):
            nested = numbers(value)
            if nested:
                out[name] = nested
    return out


def emit(kind: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Logs one metrics line for an invocation of ``kind``; returns what was logged."""
    record = {"kind": kind, **numbers(values)}
    log.info("%s%s", PREFIX, json.dumps(record, sort_keys=True, separators=(",", ":")))
    return record


class Tally:
    """Counts gathered across threads during one invocation, taken (and reset) by the caller
    that emits them."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def take(self) -> dict[str, int]:
        with self._lock:
            taken = dict(self._counts)
            self._counts.clear()
            return taken
