"""How the ARM reader keeps to ARM's read limit, per subscription (see :class:`ThrottleGates`)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from shared.http import retry_after

_MAX_GATE_SECONDS = 60.0
# What ARM says is left after a read: this principal's bucket, and the subscription's global one
# that every principal draws from (15 times as large; a read is throttled when either is empty).
# https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling
_REMAINING_READS = (
    "x-ms-ratelimit-remaining-subscription-reads",
    "x-ms-ratelimit-remaining-subscription-global-reads",
)
READ_REFILL_PER_SECOND = 25.0  # ARM's read bucket refill per subscription and principal


class ThrottleGates:
    """How this reader keeps to ARM's read limit, per subscription.

    ARM throttles reads per subscription and principal with a token bucket (250, refilled
    25/s; a read beyond it gets 429 and ``Retry-After``, in whole seconds).

    * A 429's ``Retry-After`` holds back every request of this reader to that subscription, not
      just the one retried: threads that each sleep out their own ``Retry-After`` wake in a fixed
      rhythm, and one can keep arriving just after the others took the fresh tokens until its
      retries run out.
    * With ``pace`` (reads/s; the sweep's reader), requests are also spaced to the refill rate
      once ARM's ``x-ms-ratelimit-remaining-subscription-reads`` says the bucket is spent: each
      waits for its own token, first come first served, instead of the whole reader stopping for
      a whole second at each 429 while the CPU-bound work behind the reads stalls too. The
      estimate only ever follows ARM's count down, never up, so pacing starts no earlier than
      ARM's bucket runs dry.
    * Paced requests are released together, ``burst`` at a time (a second of refill by
      default): each waits until the end of the refill window its token falls in, when the
      bucket holds the tokens of every request released with it, so ARM never sees more reads
      than it refilled and the throughput is the same. Why: a request that runs right after its
      thread slept costs about four times the CPU of one that follows another (1.05 against
      0.25 ms for an ARM GET on the 2-core VM of the benchmarks: caches gone cold while the
      core idled or ran something else), and a sweep paced one token at a time wakes for every
      read (``bench.sweep_cpu``).
    """

    def __init__(
        self,
        pace: float | None = None,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.pace = pace
        # The refill window paced requests are released at the end of (0: one token at a time).
        self.window = (pace if burst is None else burst) / pace if pace else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}
        self._tokens: dict[str, tuple[float, float, float]] = {}  # scope: tokens, at, most seen

    def wait(self, scope: str) -> float:
        """Sleeps until a request to ``scope`` may go; returns the seconds slept."""
        with self._lock:
            now = self._clock()
            start = max(now, self._until.get(scope, 0.0))
            known = self._tokens.get(scope)
            if self.pace and known is not None:
                tokens, at, most = known
                tokens = min(most, tokens + (start - at) * self.pace) - 1.0
                self._tokens[scope] = (tokens, start, most)
                if tokens < 0:
                    start += -tokens / self.pace  # this request's token is that far off
                    if self.window > 0:  # the end of the window that token falls in
                        start = math.ceil(start / self.window - 1e-9) * self.window
        delay = start - now
        if delay <= 0:
            return 0.0
        self._sleep(delay)
        return delay

    def close(self, scope: str, seconds: float) -> None:
        with self._lock:
            until = self._clock() + min(max(seconds, 0.0), _MAX_GATE_SECONDS)
            if until > self._until.get(scope, 0.0):
                self._until[scope] = until

    def observe(self, scope: str, remaining: float) -> None:
        """ARM's count of reads left after a response (lowers the estimate, never raises it)."""
        if not self.pace:
            return
        with self._lock:
            now = self._clock()
            known = self._tokens.get(scope)
            if known is None:
                self._tokens[scope] = (remaining, now, remaining + 1)
                return
            tokens, at, most = known
            tokens = min(most, tokens + (now - at) * self.pace)
            self._tokens[scope] = (min(tokens, remaining), now, max(most, remaining + 1))


def subscription_scope(url: str) -> str:
    """The subscription a request is counted against (ARM throttles per subscription)."""
    parts = urlsplit(url).path.split("/")
    if len(parts) > 2 and parts[1].lower() == "subscriptions":
        return parts[2].lower()
    return ""


def remaining_reads(headers: Any) -> float | None:
    """The reads ARM says are left: the lower of this principal's count and the subscription's
    global one (other principals may have spent that); None when ARM sent neither."""
    counts = [
        float(value.strip())
        for name in _REMAINING_READS
        if (value := headers.get(name)) is not None and value.strip().isdigit()
    ]
    return min(counts) if counts else None


def gate_policy(gates: ThrottleGates) -> Any:
    """An azure-core policy (under the retry policy, so every attempt passes it) that waits at
    the request's subscription gate, closes it on a 429 and passes on ARM's remaining reads."""
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    class ThrottleGatePolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
        def __init__(self, gates: ThrottleGates) -> None:
            self.gates = gates

        def on_request(self, request: Any) -> None:
            where = subscription_scope(request.http_request.url)
            request.context["phiguard_scope"] = where
            self.gates.wait(where)

        def on_response(self, request: Any, response: Any) -> None:
            http = response.http_response
            where = request.context.get("phiguard_scope")
            if where is None:
                where = subscription_scope(request.http_request.url)
            if http.status_code == 429:
                self.gates.observe(where, 0)
                seconds = retry_after(http.headers)
                if seconds is not None:
                    self.gates.close(where, seconds)
                return
            remaining = remaining_reads(http.headers)
            if remaining is not None:
                self.gates.observe(where, remaining)

    return ThrottleGatePolicy(gates)
