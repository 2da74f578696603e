"""Faults and limits of the simulated tenant, seedable: throttling, latency, 5xx, resets, event chaos.

A ``--faults`` spec is a comma-separated list of ``name=value``:

``latency=20ms``      added before every ARM response (``ms`` or ``s``; a bare number is ms)
``jitter=10ms``       uniform extra latency in [0, jitter)
``error5xx=0.02``     probability of an injected 500/502/503/504 in ARM's error format
``reset=0.01``        probability of a connection reset (TCP RST, no response)
``throttle=on``       enforce ARM's token buckets (429 + ``Retry-After``); ``off`` by default
``reads=250``         read bucket size (per subscription and principal), ``read_refill=25`` per s
``writes=200``        write bucket size, ``write_refill=10`` per s (PUT, PATCH, POST)
``deletes=200``       delete bucket size, ``delete_refill=10`` per s
``dup=0.1``           probability that an event batch is delivered twice
``reorder=0.2``       probability that an event batch is held back (``reorder_window=50ms``)

Throttling is off by default (the demo should not stall); the ``x-ms-ratelimit-remaining-*``
headers are sent on every ARM response either way, from buckets that are always kept.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass, fields


class FaultSpecError(ValueError):
    """A ``--faults`` spec that cannot be parsed."""


@dataclass(frozen=True)
class FaultSpec:
    latency: float = 0.0  # seconds
    jitter: float = 0.0
    error5xx: float = 0.0
    reset: float = 0.0
    throttle: bool = False
    reads: int = 250
    read_refill: float = 25.0
    writes: int = 200
    write_refill: float = 10.0
    deletes: int = 200
    delete_refill: float = 10.0
    dup: float = 0.0
    reorder: float = 0.0
    reorder_window: float = 0.05

    @classmethod
    def parse(cls, spec: str | None) -> FaultSpec:
        if spec is None or not spec.strip():
            return cls()
        values: dict[str, object] = {}
        known = {f.name: f for f in fields(cls)}
        for raw in spec.split(","):
            item = raw.strip()
            if not item:
                continue
            name, sep, value = item.partition("=")
            name = name.strip().lower()
            value = value.strip()
            if not sep or name not in known:
                raise FaultSpecError(
                    f"bad fault {item!r}: expected name=value with name in {sorted(known)}"
                )
            try:
                if name in ("latency", "jitter", "reorder_window"):
                    values[name] = _duration(value)
                elif name == "throttle":
                    if value.lower() not in ("on", "off", "true", "false", "1", "0"):
                        raise ValueError(value)
                    values[name] = value.lower() in ("on", "true", "1")
                elif name in ("reads", "writes", "deletes"):
                    values[name] = int(value)
                else:
                    values[name] = float(value)
            except ValueError as exc:
                raise FaultSpecError(f"bad value in fault {item!r}") from exc
        for prob in ("error5xx", "reset", "dup", "reorder"):
            p = values.get(prob, 0.0)
            if not isinstance(p, float) or not 0.0 <= p <= 1.0:
                raise FaultSpecError(f"{prob} must be a probability in [0, 1], got {p!r}")
        return cls(**values)  # type: ignore[arg-type]

    def describe(self) -> str:
        parts = [f"latency={self.latency * 1000:g}ms"]
        if self.jitter:
            parts.append(f"jitter={self.jitter * 1000:g}ms")
        parts += [
            f"error5xx={self.error5xx:g}",
            f"reset={self.reset:g}",
            f"throttle={'on' if self.throttle else 'off'}",
            f"reads={self.reads}",
            f"read_refill={self.read_refill:g}",
            f"writes={self.writes}",
            f"write_refill={self.write_refill:g}",
            f"deletes={self.deletes}",
            f"delete_refill={self.delete_refill:g}",
            f"dup={self.dup:g}",
            f"reorder={self.reorder:g}",
        ]
        return ",".join(parts)


def _duration(value: str) -> float:
    v = value.lower()
    if v.endswith("ms"):
        return float(v[:-2]) / 1000.0
    if v.endswith("s"):
        return float(v[:-1])
    return float(v) / 1000.0


class Dice:
    """A seeded random source shared by the server threads."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def chance(self, p: float) -> bool:
        if p <= 0.0:
            return False
        with self._lock:
            return self._rng.random() < p

    def uniform(self, a: float, b: float) -> float:
        with self._lock:
            return self._rng.uniform(a, b)

    def choice(self, items: list[int]) -> int:
        with self._lock:
            return self._rng.choice(items)

    def getrandbits(self, k: int) -> int:
        with self._lock:
            return self._rng.getrandbits(k)


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass(frozen=True)
class Throttle:
    """The outcome of taking one token: allowed or not, what is left, how long to wait."""

    allowed: bool
    remaining: int
    retry_after: int  # seconds; 0 when allowed


class TokenBuckets:
    """ARM's request limits: read, write and delete buckets per (subscription, principal)."""

    def __init__(self, spec: FaultSpec) -> None:
        self._spec = spec
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}
        self._lock = threading.Lock()

    def reconfigure(self, spec: FaultSpec) -> None:
        with self._lock:
            self._spec = spec
            self._buckets.clear()

    def take(self, scope: str, principal: str, kind: str) -> Throttle:
        """Takes a token from the ``reads``, ``writes`` or ``deletes`` bucket; refuses only when
        enforcing."""
        spec = self._spec
        size, refill = {
            "reads": (spec.reads, spec.read_refill),
            "writes": (spec.writes, spec.write_refill),
            "deletes": (spec.deletes, spec.delete_refill),
        }[kind]
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get((scope, principal, kind))
            if bucket is None:
                bucket = _Bucket(float(size), now)
                self._buckets[(scope, principal, kind)] = bucket
            bucket.tokens = min(float(size), bucket.tokens + (now - bucket.stamp) * refill)
            bucket.stamp = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return Throttle(True, int(bucket.tokens), 0)
            if not spec.throttle:
                return Throttle(True, 0, 0)
            wait = (1.0 - bucket.tokens) / refill if refill > 0 else 60.0
            return Throttle(False, 0, max(1, math.ceil(wait)))
