"""How the ARM reader keeps to ARM's read limit, per subscription (see :class:`ThrottleGates`)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
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
        self._paced_at: dict[str, float] = {}  # when a request last waited for its token
        self._mine = threading.local()  # this thread's requests and seconds slept at the gates

    def paced_within(self, scope: str, seconds: float) -> bool:
        """Whether a request to ``scope`` waited for its token in the last ``seconds``: ARM's
        bucket is spent and the refill, not this reader, sets the pace."""
        with self._lock:
            at = self._paced_at.get(scope)
            return at is not None and self._clock() - at <= seconds

    def slept(self) -> float:
        """The seconds the calling thread has slept at these gates, in all."""
        return float(getattr(self._mine, "seconds", 0.0))

    def thread_requests(self) -> int:
        """How many requests the calling thread has passed through these gates, in all."""
        return int(getattr(self._mine, "requests", 0))

    def wait(self, scope: str) -> float:
        """Sleeps until a request to ``scope`` may go; returns the seconds slept."""
        self._mine.requests = self.thread_requests() + 1
        with self._lock:
            now = self._clock()
            start = max(now, self._until.get(scope, 0.0))
            known = self._tokens.get(scope)
            if self.pace and known is not None:
                tokens, at, most = known
                tokens = min(most, tokens + (start - at) * self.pace) - 1.0
                self._tokens[scope] = (tokens, start, most)
                if tokens < 0:
                    self._paced_at[scope] = now
                    start += -tokens / self.pace  # this request's token is that far off
                    if self.window > 0:  # the end of the window that token falls in
                        start = math.ceil(start / self.window - 1e-9) * self.window
        delay = start - now
        if delay <= 0:
            return 0.0
        self._sleep(delay)
        self._mine.seconds = self.slept() + delay
        return delay

    def close(self, scope: str, seconds: float) -> None:
        with self._lock:
            until = self._clock() + min(max(seconds, 0.0), _MAX_GATE_SECONDS)
            if until > self._until.get(scope, 0.0):
                self._until[scope] = until

    def answered(self, scope: str, status: int, headers: Any) -> None:
        """What an answer to a request to ``scope`` tells the gates: a 429 closes the gate for
        its ``Retry-After``; any other passes on ARM's count of reads left."""
        if status == 429:
            self.observe(scope, 0)
            seconds = retry_after(headers)
            if seconds is not None:
                self.close(scope, seconds)
            return
        remaining = remaining_reads(headers)
        if remaining is not None:
            self.observe(scope, remaining)

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


class PacedPool:
    """The sweep's workers: a thread pool that, once ARM's refill sets the pace, lets only as
    many threads work at once as keep up with it. Tasks start in the order they were submitted.

    Once paced, reads go at 25 a second whatever the number of threads, and every thread more
    than that rate needs only adds CPU: the paced reads are released together each second (see
    :class:`ThrottleGates`), the threads woken together contend for the interpreter and the
    cores, and a task handed from one thread to another starts with cold caches. Measured on
    the benchmarks' 2-core VM (``bench.sweep_cpu``'s report-only sweep of the 1,500-resource
    estate, the same wall time either way): 1.30–1.46 ms of CPU per resource with 8 threads
    taking tasks, 0.98–1.18 with one; 1.23–1.42 with 8 threads but one at a time, each task
    handed to the next waiting thread. So a thread that finishes a task takes the next one
    itself, and the others wait without holding a task.

    How many keep up is Little's law: the busy time per read (the wall time of the finished
    tasks, less what their threads slept at the gates, over the reads those threads made: a
    concurrent sweep's reads of the subscription are not counted) times the refill rate, with
    ``headroom`` (2x) so the pace, not the workers, stays the limit when reads slow down.
    Against ARM itself (about 0.1 s a read) that is 5 of 8 workers; against a local endpoint,
    one. Before ``min_reads`` reads it has not measured enough and all may work; if no read
    waited for its token in the last ``paced_seconds`` (a subscription under its limit, a
    reader not paced), all may work again.
    """

    def __init__(
        self,
        gates: ThrottleGates,
        scope: str,
        workers: int,
        *,
        headroom: float = 2.0,
        min_reads: int = 20,
        paced_seconds: float = 5.0,
    ) -> None:
        self.gates = gates
        self.scope = scope.lower()
        self.workers = max(1, workers)
        self.headroom = headroom
        self.min_reads = min_reads
        self.paced_seconds = paced_seconds
        self._turn = threading.Condition()
        self._queue: deque[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = deque()
        self._threads: list[threading.Thread] = []
        self._working = 0
        self._closed = False
        self._busy = 0.0  # seconds the finished tasks worked, gate sleeps left out
        self._reads = 0  # requests the finished tasks made
        self.most_active = 0

    def __enter__(self) -> PacedPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def limit(self) -> int:
        """How many may work now."""
        with self._turn:
            return self._limit()

    def _limit(self) -> int:
        pace = self.gates.pace
        if not pace or self._reads < self.min_reads:
            return self.workers
        if not self.gates.paced_within(self.scope, self.paced_seconds):
            return self.workers
        needed = math.ceil(pace * self._busy / self._reads * self.headroom)
        return min(self.workers, max(1, needed))

    def submit(self, work: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._turn:
            if self._closed:
                raise RuntimeError("submit after shutdown")
            self._queue.append((future, work, args))
            if len(self._threads) < self.workers:
                thread = threading.Thread(
                    target=self._work, name=f"phiguard-sweep-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            elif self._working < self._limit():
                self._turn.notify()
        return future

    def shutdown(self) -> None:
        """Runs what was submitted, then stops the threads."""
        with self._turn:
            self._closed = True
            self._turn.notify_all()
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        done: tuple[float, int] | None = None
        while True:
            with self._turn:
                if done is not None:
                    self._working -= 1
                    self._busy += done[0]
                    self._reads += done[1]
                # The limit also moves with time (pacing starts or lapses): look again now and
                # then. A thread that just finished goes on with the next task itself.
                while not (self._queue and self._working < self._limit()):
                    if self._closed and not self._queue:
                        return
                    self._turn.wait(0.5)
                future, work, args = self._queue.popleft()
                self._working += 1
                self.most_active = max(self.most_active, self._working)
                if self._queue and self._working < self._limit():
                    self._turn.notify()  # more may work: wake one that waits
            done = self._run(future, work, args)

    def _run(
        self, future: Future[Any], work: Callable[..., Any], args: tuple[Any, ...]
    ) -> tuple[float, int]:
        started, slept = time.perf_counter(), self.gates.slept()
        reads = self.gates.thread_requests()
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(work(*args))
            except BaseException as exc:  # the future carries it to its caller
                future.set_exception(exc)
        busy = time.perf_counter() - started - (self.gates.slept() - slept)
        return max(0.0, busy), self.gates.thread_requests() - reads


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
            self.gates.answered(where, http.status_code, http.headers)

    return ThrottleGatePolicy(gates)
