"""The ARM reader: GET a resource and exactly the related documents its checks need.

Built on azure-core's pipeline (bearer token, retries honouring ``Retry-After``) rather than the
per-service management SDKs, so reading any resource type costs one light import: cold start is
a product feature (DESIGN.md). A 404 means the resource is gone; 429/5xx/connection errors are
retried within a bounded budget and then raised as :class:`TransientArmError` so Event Grid
redelivers the event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from shared.kernel import api_versions
from shared.kernel.related import RELATED, flow_log_targets
from shared.kernel.resource_id import normalize, parse
from shared.kernel.snapshot import Snapshot

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.rest import HttpResponse

    from shared.config import Settings
    from shared.engine import Engine


class ArmError(RuntimeError):
    """ARM refused a read for a reason retrying will not fix (403, 400, ...)."""

    def __init__(self, status: int, code: str, message: str, url: str) -> None:
        super().__init__(f"ARM {status} {code}: {message} ({urlsplit(url).path})")
        self.status = status
        self.code = code


SWEEP_MAX_RETRIES = 20
SWEEP_RETRY_BUDGET_SECONDS = 600.0


class TransientArmError(RuntimeError):
    """Throttling, 5xx or network trouble outlasting the retry budget; redeliver later."""


@dataclass
class ReadStats:
    calls: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str) -> None:
        with self.lock:
            self.calls += 1
            self.by_kind[kind] = self.by_kind.get(kind, 0) + 1


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
    """

    def __init__(self, pace: float | None = None) -> None:
        self.pace = pace
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}
        self._tokens: dict[str, tuple[float, float, float]] = {}  # scope: tokens, at, most seen

    def wait(self, scope: str) -> float:
        """Sleeps until a request to ``scope`` may go; returns the seconds slept."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._until.get(scope, 0.0))
            known = self._tokens.get(scope)
            if self.pace and known is not None:
                tokens, at, most = known
                tokens = min(most, tokens + (start - at) * self.pace) - 1.0
                self._tokens[scope] = (tokens, start, most)
                if tokens < 0:
                    start += -tokens / self.pace  # this request's token is that far off
        delay = start - now
        if delay <= 0:
            return 0.0
        time.sleep(delay)
        return delay

    def close(self, scope: str, seconds: float) -> None:
        with self._lock:
            until = time.monotonic() + min(max(seconds, 0.0), _MAX_GATE_SECONDS)
            if until > self._until.get(scope, 0.0):
                self._until[scope] = until

    def observe(self, scope: str, remaining: float) -> None:
        """ARM's count of reads left after a response (lowers the estimate, never raises it)."""
        if not self.pace:
            return
        with self._lock:
            now = time.monotonic()
            known = self._tokens.get(scope)
            if known is None:
                self._tokens[scope] = (remaining, now, remaining + 1)
                return
            tokens, at, most = known
            tokens = min(most, tokens + (now - at) * self.pace)
            self._tokens[scope] = (min(tokens, remaining), now, max(most, remaining + 1))


_MAX_GATE_SECONDS = 60.0
_REMAINING_READS = "x-ms-ratelimit-remaining-subscription-reads"
READ_REFILL_PER_SECOND = 25.0  # ARM's read bucket refill per subscription and principal


def _scope(url: str) -> str:
    parts = urlsplit(url).path.split("/")
    if len(parts) > 2 and parts[1].lower() == "subscriptions":
        return parts[2].lower()
    return ""


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After") or headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return moment.timestamp() - time.time()


def _gate_policy(gates: ThrottleGates) -> Any:
    """An azure-core policy (under the retry policy, so every attempt passes it) that waits at
    the request's subscription gate, closes it on a 429 and passes on ARM's remaining reads."""
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    class ThrottleGatePolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
        def __init__(self, gates: ThrottleGates) -> None:
            self.gates = gates

        def on_request(self, request: Any) -> None:
            self.gates.wait(_scope(request.http_request.url))

        def on_response(self, request: Any, response: Any) -> None:
            http = response.http_response
            scope = _scope(request.http_request.url)
            if http.status_code == 429:
                self.gates.observe(scope, 0)
                seconds = _retry_after(http.headers)
                if seconds is not None:
                    self.gates.close(scope, seconds)
                return
            remaining = http.headers.get(_REMAINING_READS)
            if remaining is not None and remaining.strip().isdigit():
                self.gates.observe(scope, float(remaining))

    return ThrottleGatePolicy(gates)


@dataclass
class _Cached:
    value: Any
    expires: float


class ArmReader:
    """Reads resources through ARM. Thread-safe; build once per worker and reuse."""

    def __init__(
        self,
        arm_url: str,
        credential: TokenCredential,
        *,
        ca_cert: str | None = None,
        max_retries: int = 4,
        retry_budget_seconds: float = 30,
        timeout_seconds: float = 20,
        cache_seconds: float = 60,
        pool_size: int = 16,
        pace_reads: float | None = None,
    ) -> None:
        from azure.core.pipeline.policies import (
            BearerTokenCredentialPolicy,
            RetryPolicy,
            UserAgentPolicy,
        )
        from azure.mgmt.core import ARMPipelineClient

        from shared.http import transport

        self.arm_url = arm_url.rstrip("/")
        self._gate = _gate_policy(ThrottleGates(pace_reads))
        self._client: Any = ARMPipelineClient(
            base_url=self.arm_url,
            transport=transport(
                ca_cert=ca_cert, timeout_seconds=timeout_seconds, pool_size=pool_size
            ),
            policies=[
                UserAgentPolicy(user_agent="phiguard/0.1"),
                RetryPolicy(
                    retry_total=max_retries,
                    retry_backoff_factor=0.5,
                    retry_backoff_max=8,
                    timeout=retry_budget_seconds,
                ),
                BearerTokenCredentialPolicy(credential, f"{self.arm_url}/.default"),
                self._gate,
            ],
        )
        self.cache_seconds = cache_seconds
        self._cache: dict[str, _Cached] = {}
        self._cache_lock = threading.Lock()
        self.stats = ReadStats()
        self._credential = credential
        self._options: dict[str, Any] = {
            "ca_cert": ca_cert,
            "max_retries": max_retries,
            "retry_budget_seconds": retry_budget_seconds,
            "timeout_seconds": timeout_seconds,
            "cache_seconds": cache_seconds,
            "pool_size": pool_size,
            "pace_reads": pace_reads,
        }

    def patient(
        self,
        max_retries: int = SWEEP_MAX_RETRIES,
        retry_budget_seconds: float = SWEEP_RETRY_BUDGET_SECONDS,
    ) -> ArmReader:
        """A reader for the sweep: same endpoint, credential and counters, a larger retry budget,
        and reads paced to ARM's refill once its bucket is spent (see :class:`ThrottleGates`).

        An event's read that runs out of retries is redelivered by Event Grid within minutes; a
        sweep's read that gives up waits a day for the next sweep. A sweep of a large
        subscription spends most of its time throttled (ARM's 250-read burst, then 25 reads/s),
        so it waits out every ``Retry-After`` rather than giving up. Never less patient than
        this reader.
        """
        options = dict(self._options)
        options["max_retries"] = max(max_retries, options["max_retries"])
        options["retry_budget_seconds"] = max(retry_budget_seconds, options["retry_budget_seconds"])
        options["pace_reads"] = options["pace_reads"] or READ_REFILL_PER_SECOND
        sibling = ArmReader(self.arm_url, self._credential, **options)
        sibling.stats = self.stats
        return sibling

    @classmethod
    def from_settings(cls, settings: Settings, credential: TokenCredential) -> ArmReader:
        return cls(
            settings.arm_url,
            credential,
            ca_cert=settings.ca_cert,
            max_retries=settings.arm_max_retries,
            retry_budget_seconds=settings.arm_retry_budget_seconds,
            timeout_seconds=settings.arm_timeout_seconds,
        )

    # --- raw calls -------------------------------------------------------------------------

    def get(self, path: str, api_version: str, kind: str = "resource") -> dict[str, Any] | None:
        """GET ``path``; None on 404. ``path`` is an id or an absolute nextLink."""
        url = (
            path
            if path.startswith("https://")
            else (f"{self.arm_url}{path}?{urlencode({'api-version': api_version})}")
        )
        response = self._send("GET", url, kind)
        if response.status_code == 404:
            return None
        body = response.json()
        if not isinstance(body, dict):
            raise ArmError(response.status_code, "InvalidBody", "not a JSON object", url)
        return body

    def list_items(
        self, path: str, api_version: str, kind: str = "list"
    ) -> Iterator[dict[str, Any]]:
        """Every item of a list call, following ``nextLink``."""
        page = self.get(path, api_version, kind)
        while page is not None:
            items = page.get("value", [])
            if not isinstance(items, list):
                raise ArmError(200, "InvalidBody", "'value' is not a list", path)
            yield from (i for i in items if isinstance(i, dict))
            next_link = page.get("nextLink")
            if not isinstance(next_link, str) or not next_link:
                return
            page = self.get(self._same_origin(next_link), api_version, kind)

    def _same_origin(self, link: str) -> str:
        # A nextLink must point back at ARM: a token is never sent anywhere else.
        if urlsplit(link).netloc != urlsplit(self.arm_url).netloc:
            raise ArmError(200, "InvalidNextLink", "nextLink leaves the ARM endpoint", link)
        return link

    def _send(self, method: str, url: str, kind: str) -> HttpResponse:
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError
        from azure.core.rest import HttpRequest

        self.stats.add(kind)
        try:
            response = self._client.send_request(HttpRequest(method, url))
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise TransientArmError(f"ARM unreachable for {urlsplit(url).path}: {exc}") from exc
        status = response.status_code
        if status in (408, 429) or status >= 500:
            raise TransientArmError(
                f"ARM {status} for {urlsplit(url).path} after retries "
                f"(Retry-After {response.headers.get('Retry-After', '-')})"
            )
        if status >= 400 and status != 404:
            code, message = _arm_error(response)
            raise ArmError(status, code, message, url)
        if status == 404:
            code, _ = _arm_error(response)
            # A missing resource group or subscription also means the resource is gone.
            if code not in (
                "ResourceNotFound",
                "ResourceGroupNotFound",
                "NotFound",
                "SubscriptionNotFound",
                "ParentResourceNotFound",
                "",
            ):
                raise ArmError(status, code, "unexpected 404", url)
        return response  # type: ignore[no-any-return]

    def _cached(self, key: str, load: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None and hit.expires > now:
                return hit.value
        value = load()
        with self._cache_lock:
            self._cache[key] = _Cached(value, now + self.cache_seconds)
        return value

    # --- resources --------------------------------------------------------------------------

    def resource(self, resource_id: str) -> dict[str, Any] | None:
        rtype = parse(resource_id).type
        return self.get(resource_id, api_versions.for_type(rtype))

    def resource_group(self, resource_id: str) -> Mapping[str, Any] | None:
        rg_id = parse(resource_id).resource_group_id
        if rg_id is None:
            return None
        return self._cached(  # type: ignore[no-any-return]
            "rg:" + normalize(rg_id),
            lambda: self.get(
                rg_id, api_versions.for_type("microsoft.resources/resourcegroups"), "resource_group"
            ),
        )

    def forget_resource_group(self, group_id: str) -> None:
        """Drops a cached resource group (its tags changed: PHI scope may have moved)."""
        with self._cache_lock:
            self._cache.pop("rg:" + normalize(group_id), None)

    def related(self, resource: Mapping[str, Any], key: str) -> Any:
        """One related document; None when ARM has none (an object document that 404s)."""
        doc = RELATED[key]
        rid = str(resource["id"])
        if doc.fetch == "subscription_scan":
            return self._flow_logs_for(resource)
        if doc.is_list:
            return list(self.list_items(rid + doc.path, doc.api_version, key))
        return self.get(rid + doc.path, doc.api_version, key)

    def _flow_logs_for(self, resource: Mapping[str, Any]) -> list[dict[str, Any]]:
        subscription = parse(str(resource["id"])).subscription
        logs: list[dict[str, Any]] = self._cached(
            f"flowlogs:{subscription}", lambda: self._all_flow_logs(str(subscription))
        )
        targets = flow_log_targets(resource)
        return [
            f
            for f in logs
            if isinstance(f.get("properties"), dict)
            and normalize(str(f["properties"].get("targetResourceId", ""))) in targets
        ]

    def _all_flow_logs(self, subscription: str) -> list[dict[str, Any]]:
        version = RELATED["flow_logs"].api_version
        watchers = self.list_items(
            f"/subscriptions/{subscription}/providers/Microsoft.Network/networkWatchers",
            version,
            "flow_logs",
        )
        return [
            log
            for w in watchers
            for log in self.list_items(f"{w['id']}/flowLogs", version, "flow_logs")
        ]

    def resource_groups(self, subscription: str) -> dict[str, Mapping[str, Any]]:
        """Every resource group of a subscription by normalized id, in one list call per 100
        (the sweep's alternative to reading each group as its resources come up)."""
        version = api_versions.for_type("microsoft.resources/resourcegroups")
        path = f"/subscriptions/{subscription}/resourcegroups"
        return {
            normalize(str(g["id"])): g
            for g in self.list_items(path, version, "resource_group")
            if isinstance(g.get("id"), str)
        }

    def snapshot(
        self,
        resource_id: str,
        engine: Engine,
        resource: dict[str, Any] | None = None,
        group: Mapping[str, Any] | None = None,
    ) -> Snapshot | None:
        """The Snapshot for ``resource_id``, or None when the resource no longer exists.

        ``resource`` may carry a body already obtained from a list call (the sweep), saving the
        GET; ``group`` likewise the body of its resource group (read, or cached, when absent).
        """
        body = resource if resource is not None else self.resource(resource_id)
        if body is None:
            return None
        if group is None:
            group = self.resource_group(resource_id)
        bare = Snapshot(body, {}, group)
        needs = engine.needs_for(bare.type, engine.phi_scope.is_phi(bare))
        related: dict[str, Any] = {}
        for key in sorted(needs):
            value = self.related(body, key)
            if value is not None:
                related[key] = value
        return Snapshot(body, related, group)


def _arm_error(response: HttpResponse) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", response.text()[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("code", "")), str(error.get("message", ""))[:300]
    return "", ""
