"""What the notification stand-ins share: replies, the received log, counters, faults, auth.

The four services (:mod:`sim.github`, :mod:`sim.devops`, :mod:`sim.teams`, :mod:`sim.email`)
live on the tenant's one HTTPS server (same CA) under their own path prefixes
(:data:`PREFIXES`). Each request goes: the service's authentication (401 without) → latency →
reset → 5xx → 429 (and GitHub's secondary limit) → write quota → the service's handler; every
step is counted per service (``/_admin/<service>/...``).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.faults import Dice, ServiceFaults, WindowQuota

Reply = tuple[int, list[tuple[str, str]], bytes, bool]  # status, headers, body, reset instead

# The path prefix of each service on the tenant's server (ACS Email's paths are its own).
PREFIXES = {"github": "/github", "devops": "/devops", "teams": "/teams", "email": "/emails"}

# Fixed secrets of the simulated services (the sim is a local test double).
GITHUB_TOKEN = "ghp_phiguardSimToken000000000000000000000"  # noqa: S105
DEVOPS_PAT = "phiguardsimpat0000000000000000000000000000000000000"
ACS_ACCESS_KEY = "cGhpZ3VhcmQtc2ltLWFjcy1hY2Nlc3Mta2V5LTAwMDA="  # base64, as ACS keys are
TEAMS_SIG = "phiguardSimWorkflowSig0000000000000000000000"


def service_urls(base_url: str) -> dict[str, str]:
    """Where each notification stand-in answers, and the secrets a client needs for it."""
    return {
        "github_url": base_url + "/github",
        "github_token": GITHUB_TOKEN,
        "devops_url": base_url + "/devops",
        "devops_pat": DEVOPS_PAT,
        "teams_webhook_url": f"{base_url}/teams/webhook/phiguard?sig={TEAMS_SIG}",
        "acs_endpoint": base_url,
        "acs_connection_string": f"endpoint={base_url}/;accesskey={ACS_ACCESS_KEY}",
    }


def json_reply(status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
    data = b"" if body is None else json.dumps(body).encode()
    out = list(headers or [])
    if body is not None:
        out.append(("Content-Type", "application/json; charset=utf-8"))
    return status, out, data, False


def now_iso(millis: bool = False) -> str:
    stamp = time.time()
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp))
    if millis:
        text += f".{int(stamp * 1000) % 1000:03d}"
    return text + "Z"


@dataclass
class Inbox:
    """What one service received (kept records) and its request counters."""

    records: list[dict[str, Any]] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def count(self, *names: str) -> None:
        with self.lock:
            for name in names:
                self.counters[name] += 1

    def clear(self) -> None:
        with self.lock:
            self.records.clear()
            self.counters.clear()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            items = dict(self.counters)
        out: dict[str, Any] = {
            "total": items.get("total", 0),
            "by_route": {},
            "by_status": {},
            "faults": {},
        }
        for name, n in sorted(items.items()):
            kind, _, rest = name.partition(":")
            bucket = {"route": "by_route", "status": "by_status", "fault": "faults"}.get(kind)
            if bucket:
                out[bucket][rest] = n
        return out


@dataclass(frozen=True)
class FaultReplies:
    """How one service words its injected failures."""

    throttled: Callable[[int], Reply]  # retry_after → 429 reply
    server_error: Callable[[int], Reply]  # status → 5xx reply
    quota: Callable[[int], Reply]  # retry_after → over-quota reply
    secondary: Callable[[int], Reply] | None = None


def inject(
    service: str,
    faults: ServiceFaults,
    dice: Dice,
    quota: WindowQuota,
    inbox: Inbox,
    replies: FaultReplies,
    write: bool,
) -> Reply | None:
    """The injected fault for this request, or None to go on to the handler."""
    if faults.latency:
        time.sleep(faults.latency)
    if dice.chance(faults.reset):
        inbox.count("fault:reset")
        return 0, [], b"", True
    if dice.chance(faults.error5xx):
        status = dice.choice([500, 502, 503, 504])
        inbox.count("fault:error5xx")
        return replies.server_error(status)
    if dice.chance(faults.throttle):
        inbox.count("fault:throttled")
        return replies.throttled(faults.retry_after)
    if replies.secondary is not None and dice.chance(faults.secondary):
        inbox.count("fault:secondary")
        return replies.secondary(faults.retry_after)
    if write and faults.quota:
        wait = quota.take(service, faults.quota)
        if wait:
            inbox.count("fault:quota")
            return replies.quota(wait)
    return None


def counted(inbox: Inbox, method: str, route: str, reply: Reply) -> Reply:
    """Counts one answered request (a reset counts under ``faults`` only)."""
    inbox.count("total", f"route:{method} {route}")
    if not reply[3]:
        inbox.count(f"status:{reply[0]}")
    return reply
