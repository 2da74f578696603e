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

The notification services (``github``, ``devops``, ``teams``, ``email``) take entries of their
own, ``SERVICE:KIND@P`` (a probability per request) or ``SERVICE:NAME=VALUE``:

``github:429@0.2``            a 429 with ``Retry-After`` in the service's own error format
``devops:5xx@0.1``            an injected 500/502/503/504
``teams:reset@0.05``          a connection reset (TCP RST, no response)
``github:secondary@0.3``      GitHub only: 403 "secondary rate limit" with ``Retry-After``
``email:fail@0.5``            ACS Email only: the send is accepted, its operation ends ``Failed``
``email:latency=200ms``       added before the service's responses
``github:retry_after=2``      the ``Retry-After`` (seconds) of the injected 429 / 403 (default 1)
``github:limit=10``           GitHub's primary (core) rate limit per hour (default 5000); over
                              it: 403 "API rate limit exceeded", ``x-ratelimit-remaining: 0``
``email:quota=30/min+100/h``  write requests over any window get a 429 (GitHub: the 403
                              secondary limit, i.e. content-creation pacing), ``Retry-After`` =
                              seconds until the oldest request in the full window leaves it;
                              windows: ``s``, ``min`` (or ``m``), ``h``

The plain entries above are ARM's (and Event Grid's): they do not touch the notification
services, whose entries do not touch ARM. Authentication is checked before any fault, so a
refused caller never sees one; "write requests" are POST and PATCH (GitHub: POST only, the
content-creating calls, issues and comments) and every Teams / Email send.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field, fields

SERVICES = ("github", "devops", "teams", "email")


class FaultSpecError(ValueError):
    """A ``--faults`` spec that cannot be parsed."""


@dataclass(frozen=True)
class ServiceFaults:
    """One notification service's faults (``SERVICE:...`` entries of a spec)."""

    latency: float = 0.0
    throttle: float = 0.0  # ``429@p``
    error5xx: float = 0.0  # ``5xx@p``
    reset: float = 0.0  # ``reset@p``
    secondary: float = 0.0  # ``secondary@p`` (GitHub)
    fail: float = 0.0  # ``fail@p`` (ACS Email)
    retry_after: int = 1
    quota: tuple[tuple[int, float], ...] = ()  # (count, window seconds)
    limit: int = 0  # GitHub's primary (core) limit per hour; 0: the real 5000

    def describe(self, service: str) -> list[str]:
        out = []
        for kind, name in (
            ("429", "throttle"),
            ("5xx", "error5xx"),
            ("reset", "reset"),
            ("secondary", "secondary"),
            ("fail", "fail"),
        ):
            if getattr(self, name):
                out.append(f"{service}:{kind}@{getattr(self, name):g}")
        if self.latency:
            out.append(f"{service}:latency={self.latency * 1000:g}ms")
        if self.retry_after != 1:
            out.append(f"{service}:retry_after={self.retry_after}")
        if self.limit:
            out.append(f"{service}:limit={self.limit}")
        if self.quota:
            windows = "+".join(f"{n}/{_window_name(w)}" for n, w in self.quota)
            out.append(f"{service}:quota={windows}")
        return out


_WINDOWS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}


def _window_name(seconds: float) -> str:
    return {1.0: "s", 60.0: "min", 3600.0: "h"}.get(seconds, f"{seconds:g}s")


def _parse_service_item(item: str, into: dict[str, dict[str, object]]) -> None:
    service, _, rest = item.partition(":")
    service = service.strip().lower()
    if service not in SERVICES:
        raise FaultSpecError(f"bad fault {item!r}: service must be one of {list(SERVICES)}")
    values = into.setdefault(service, {})
    kinds = {
        "429": "throttle",
        "5xx": "error5xx",
        "reset": "reset",
        "secondary": "secondary",
        "fail": "fail",
    }
    try:
        if "@" in rest:
            kind, _, prob = rest.partition("@")
            name = kinds.get(kind.strip().lower())
            if name is None:
                raise FaultSpecError(f"bad fault {item!r}: kind must be one of {sorted(kinds)}")
            p = float(prob)
            if not 0.0 <= p <= 1.0:
                raise FaultSpecError(f"bad fault {item!r}: probability must be in [0, 1]")
            values[name] = p
            return
        name, sep, value = rest.partition("=")
        name = name.strip().lower()
        value = value.strip()
        if not sep:
            raise FaultSpecError(f"bad fault {item!r}: expected SERVICE:KIND@P or NAME=VALUE")
        if name == "latency":
            values["latency"] = _duration(value)
        elif name == "retry_after":
            values["retry_after"] = max(0, int(value))
        elif name == "limit":
            values["limit"] = max(0, int(value))
        elif name == "quota":
            windows = []
            for part in value.split("+"):
                count, _, unit = part.strip().partition("/")
                seconds = _WINDOWS.get(unit.strip().lower())
                if seconds is None or int(count) < 1:
                    raise FaultSpecError(f"bad quota {part!r} in fault {item!r}")
                windows.append((int(count), seconds))
            values["quota"] = tuple(windows)
        else:
            raise FaultSpecError(f"bad fault {item!r}: name must be latency, retry_after or quota")
    except ValueError as exc:
        if isinstance(exc, FaultSpecError):
            raise
        raise FaultSpecError(f"bad value in fault {item!r}") from exc


class WindowQuota:
    """Sliding-window request quotas (``quota=30/min+100/h``) per key."""

    def __init__(self) -> None:
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    def take(self, key: str, windows: tuple[tuple[int, float], ...]) -> int:
        """0 when allowed (and counted), else the seconds to wait."""
        if not windows:
            return 0
        now = time.monotonic()
        longest = max(w for _, w in windows)
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and now - seen[0] >= longest:
                seen.popleft()
            wait = 0.0
            for count, window in windows:
                inside = [t for t in seen if now - t < window]
                if len(inside) >= count:
                    wait = max(wait, window - (now - inside[-count]))
            if wait > 0:
                return max(1, math.ceil(wait))
            seen.append(now)
            return 0


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
    services: tuple[tuple[str, ServiceFaults], ...] = field(default=())

    def for_service(self, service: str) -> ServiceFaults:
        for name, faults in self.services:
            if name == service:
                return faults
        return ServiceFaults()

    @classmethod
    def parse(cls, spec: str | None) -> FaultSpec:
        if spec is None or not spec.strip():
            return cls()
        values: dict[str, object] = {}
        per_service: dict[str, dict[str, object]] = {}
        known = {f.name: f for f in fields(cls) if f.name != "services"}
        for raw in spec.split(","):
            item = raw.strip()
            if not item:
                continue
            if ":" in item.partition("=")[0].partition("@")[0]:
                _parse_service_item(item, per_service)
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
        values["services"] = tuple(
            (name, ServiceFaults(**per_service[name]))  # type: ignore[arg-type]
            for name in SERVICES
            if name in per_service
        )
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
        for name, faults in self.services:
            parts += faults.describe(name)
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
    """The outcome of taking one token: allowed or not, what is left (the principal's bucket,
    and the subscription's global one all principals share), how long to wait."""

    allowed: bool
    remaining: int
    retry_after: int  # seconds; 0 when allowed
    global_remaining: int = 0


# ARM's global limits per subscription (all principals together) are 15 times a principal's
# ("Azure Resource Manager request limits and throttling": x-ms-ratelimit-remaining-subscription-
# global-reads and its write and delete twins).
GLOBAL_FACTOR = 15
_GLOBAL = "\x00global"  # not a principal id: the subscription-wide bucket


class TokenBuckets:
    """ARM's request limits: read, write and delete buckets per (subscription, principal), and
    the subscription's global bucket of each kind, 15 times larger, shared by all principals.
    A request needs a token from both."""

    def __init__(self, spec: FaultSpec) -> None:
        self._spec = spec
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}
        self._lock = threading.Lock()

    def reconfigure(self, spec: FaultSpec) -> None:
        with self._lock:
            self._spec = spec
            self._buckets.clear()

    def _bucket(self, key: tuple[str, str, str], size: float, refill: float, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(size, now)
            self._buckets[key] = bucket
        bucket.tokens = min(size, bucket.tokens + (now - bucket.stamp) * refill)
        bucket.stamp = now
        return bucket

    def take(self, scope: str, principal: str, kind: str) -> Throttle:
        """Takes a token from the ``reads``, ``writes`` or ``deletes`` buckets (the principal's
        and the global one) when enforcing (``throttle=on``); refuses when either is empty.
        Off: every request passes at full buckets."""
        spec = self._spec
        size, refill = {
            "reads": (spec.reads, spec.read_refill),
            "writes": (spec.writes, spec.write_refill),
            "deletes": (spec.deletes, spec.delete_refill),
        }[kind]
        if not spec.throttle:
            # No limit: the remaining-requests headers stay full, so a client that paces itself
            # by them (phiguard's sweep) is not held to a limit that is not there.
            return Throttle(True, size, 0, size * GLOBAL_FACTOR)
        now = time.monotonic()
        with self._lock:
            mine = self._bucket((scope, principal, kind), float(size), refill, now)
            shared = self._bucket(
                (scope, _GLOBAL, kind), float(size * GLOBAL_FACTOR), refill * GLOBAL_FACTOR, now
            )
            if mine.tokens >= 1.0 and shared.tokens >= 1.0:
                mine.tokens -= 1.0
                shared.tokens -= 1.0
                return Throttle(True, int(mine.tokens), 0, int(shared.tokens))
            waits = [
                (1.0 - bucket.tokens) / rate if rate > 0 else 60.0
                for bucket, rate in ((mine, refill), (shared, refill * GLOBAL_FACTOR))
                if bucket.tokens < 1.0
            ]
            return Throttle(
                False, int(mine.tokens), max(1, math.ceil(max(waits))), int(shared.tokens)
            )
