"""The HTTP seam of every outside client of phiguard: the transport every azure-core client uses
(ARM reads and writes, Tables) and :class:`ServiceClient`, the one way phiguard talks to an HTTP
service (ARM today, ``shared.arm``; Graph, GitHub, Teams next): the transport below, retries
honouring ``Retry-After``, typed errors (``shared.errors``), requests counted by kind, and links
the service hands back followed only to its own origin.

``requests`` reads its environment on every request of a session that trusts it: the proxy
variables (walking all of ``os.environ`` to decide on ``no_proxy``), ``~/.netrc`` (a stat per
request) and the CA bundle variables, and it prepares every request again. So the environment is
read once, here: without proxy variables, requests go through :mod:`shared.transport` (pooled
``http.client`` connections), and the CA bundle variable, if any, becomes its verification. With a proxy variable set,
``requests``' own transport keeps its per-request handling, so ``no_proxy`` and friends behave
exactly as documented. ``~/.netrc`` is never wanted: its Basic credentials must not reach ARM or
Storage.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import RetryPolicy, SansIOHTTPPolicy

from shared.errors import ServiceError, TransientServiceError

if TYPE_CHECKING:
    from azure.core.pipeline.transport import HttpTransport
    from azure.core.rest import HttpResponse

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def proxies_configured(environ: os._Environ[str] | dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return any(env.get(name) or env.get(name.upper()) for name in PROXY_VARIABLES)


def default_verify(
    ca_cert: str | None, environ: os._Environ[str] | dict[str, str] | None = None
) -> str | bool:
    """What TLS verification trusts: the configured CA file, else the bundle the environment
    names (what ``requests`` would use), else ``certifi``'s."""
    if ca_cert:
        return ca_cert
    env = os.environ if environ is None else environ
    for name in CA_BUNDLE_VARIABLES:
        if env.get(name):
            return env[name]
    return True


def transport(
    *,
    ca_cert: str | None = None,
    timeout_seconds: float = 20,
    pool_size: int = 10,
) -> HttpTransport[Any, Any]:
    """The transport of an azure-core client: :class:`shared.transport.PooledTransport`, or,
    with a proxy variable set, ``requests``' own (which applies ``no_proxy`` and friends exactly
    as documented)."""
    from shared.transport import PooledTransport, requests_transport

    connection_timeout = min(timeout_seconds, 10)
    if proxies_configured():
        trusting_env: HttpTransport[Any, Any] = requests_transport(
            verify=ca_cert or True,
            read_timeout=timeout_seconds,
            connection_timeout=connection_timeout,
            pool_size=pool_size,
            use_env=True,
        )
        return trusting_env
    return PooledTransport(
        verify=default_verify(ca_cert),
        read_timeout=timeout_seconds,
        connection_timeout=connection_timeout,
        pool_size=pool_size,
    )


def tables_transport() -> HttpTransport[Any, Any]:
    """The transport of the Table Storage clients (state store and remediation log)."""
    return transport(timeout_seconds=30, pool_size=16)


# --- the client seam ------------------------------------------------------------------------


@dataclass
class RequestCounts:
    """Requests a client sent, in all and by kind (what benchmarks and tests count). Thread-safe;
    clients may share one (a reader and its patient sibling)."""

    calls: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str) -> None:
        with self.lock:
            self.calls += 1
            self.by_kind[kind] = self.by_kind.get(kind, 0) + 1

    def get(self, kind: str) -> int:
        with self.lock:
            return self.by_kind.get(kind, 0)


# The longest wait a Retry-After is taken for: a week (no service here asks for more than an
# hour; a larger value, or inf, would overflow the outbox's schedule).
RETRY_AFTER_CEILING = 7 * 86_400.0


def retry_after(headers: Mapping[str, str]) -> float | None:
    """A response's ``Retry-After`` in seconds (delta-seconds or an HTTP date, which may lie in
    the past: negative), at most :data:`RETRY_AFTER_CEILING`; None when absent or unreadable
    (``nan``, ``inf`` and other text that is no delay)."""
    value = headers.get("Retry-After") or headers.get("retry-after")
    return _delay(value) if value else None


def retry_wait(headers: Mapping[str, str]) -> float | None:
    """The wait an answer asks for, read as azure-core's retry policy reads it: ``Retry-After``
    (:func:`retry_after`), else ``retry-after-ms`` or ``x-ms-retry-after-ms``."""
    if headers.get("Retry-After"):
        return retry_after(headers)
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value:
            milliseconds = _delay(value)
            return None if milliseconds is None else milliseconds / 1000.0
    return None


def _delay(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, OverflowError):
            return None
        seconds = moment.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return min(seconds, RETRY_AFTER_CEILING)


# --- policies the services share ---------------------------------------------------------
#
# HeadersPolicy: fixed headers (a token among them) on every attempt, after the retry policy;
# the secret lives in that object only and its repr never shows it. CappedRetryPolicy:
# azure-core's retries, except that an answer asking to wait longer than ``max_wait`` seconds
# (GitHub's secondary limits ask a minute) is not waited for in process: the client raises its
# transient error carrying ``retry_after`` and the outbox's dispatcher retries when it says.

MAX_RETRY_WAIT = 10.0


class HeadersPolicy(SansIOHTTPPolicy[Any, Any]):
    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    def __repr__(self) -> str:
        return f"HeadersPolicy({sorted(self._headers)} values redacted)"

    def on_request(self, request: PipelineRequest[Any]) -> None:
        request.http_request.headers.update(self._headers)


class CappedRetryPolicy(RetryPolicy[Any, Any]):
    def __init__(self, *, max_wait: float = MAX_RETRY_WAIT, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_wait = max_wait

    def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
        # ``retry_prior_attempts``: attempts made before the pipeline saw the request (an ARM
        # read's first, ``shared.arm.client``), so the backoff goes on from where they left it.
        prior = int(options.pop("retry_prior_attempts", 0))
        settings: dict[str, Any] = super().configure_retries(options)
        if prior > 0:
            from azure.core.pipeline.policies import RequestHistory
            from azure.core.rest import HttpRequest

            before: Any = RequestHistory(HttpRequest("GET", "https://prior-attempt.invalid/"))
            settings["history"].extend([before] * prior)
        return settings

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        # The wait is read only for an answer azure-core would retry: every answer passes here.
        if not super().is_retry(settings, response):
            return False
        wait = self.get_retry_after(response)
        return wait is None or wait <= self.max_wait


class ServiceClient:
    """One azure-core pipeline to one HTTP service. Thread-safe; build once and reuse.

    * Transport: :func:`transport` (the environment read once, pooled connections, the CA).
    * Retries: azure-core's ``RetryPolicy`` (connection errors, 408/429/5xx, exponential backoff
      honouring ``Retry-After``) within ``max_retries`` and ``retry_budget_seconds``.
    * Auth: the service's policy (a bearer token for an Entra ID audience, a token header, ...),
      after the retry policy so every attempt carries a fresh token; then ``policies``.
    * Typed errors (:meth:`raise_for_status`): what the retries did not fix is raised as the
      service's ``transient`` error (a :class:`~shared.errors.TransientError`), a 4xx as its
      ``error`` (a :class:`~shared.errors.ServiceError`); a subclass maps its own cases first.
    * Every request is counted by kind (``counts``).
    * :meth:`same_origin`: a link the service hands back (next page, operation to poll) is
      followed only when it points back at the service, so a token is never sent anywhere else.
    """

    service: ClassVar[str] = "HTTP"
    error: ClassVar[type[ServiceError]] = ServiceError
    transient: ClassVar[type[TransientServiceError]] = TransientServiceError
    # Set: a Retry-After longer than this is not slept on (see CappedRetryPolicy).
    max_retry_wait: ClassVar[float | None] = None
    # The retry policy's class (a service whose limits need their own rule subclasses it).
    retry_policy: ClassVar[type[CappedRetryPolicy]] = CappedRetryPolicy
    # Pacing, for services that ask for it: at least ``min_interval`` seconds between two
    # requests (Teams: 4 a second), and with ``honour_retry_after`` a ``Retry-After`` on any
    # answer, a 200 included, holds the next request back (Azure DevOps). A wait longer than
    # ``max_retry_wait`` is not slept but raised as the service's transient error, with it.
    min_interval: ClassVar[float] = 0.0
    honour_retry_after: ClassVar[bool] = False

    def __init__(
        self,
        base_url: str,
        *,
        auth_policy: Any = None,
        policies: Iterable[Any] = (),
        ca_cert: str | None = None,
        max_retries: int = 4,
        retry_budget_seconds: float = 30,
        timeout_seconds: float = 20,
        pool_size: int = 10,
        counts: RequestCounts | None = None,
        user_agent: str = "phiguard/0.1",
    ) -> None:
        from azure.core.pipeline.policies import UserAgentPolicy

        self.base_url = base_url.rstrip("/")
        self.counts = counts if counts is not None else RequestCounts()
        retry_options: dict[str, Any] = {
            "retry_total": max_retries,
            # azure-core counts answers (408/429/5xx, and any answer carrying Retry-After) against
            # a separate budget of its own, 3 by default, whatever retry_total says: without this
            # a reader allowed 20 retries (the sweep's) still gave up at the 4th throttled answer.
            "retry_status": max_retries,
            "retry_backoff_factor": 0.5,
            "retry_backoff_max": 8,
            "timeout": retry_budget_seconds,
        }
        # A Retry-After longer than the whole budget is not slept on: azure-core would sleep it
        # out, then give up for the budget (a timeout, not the throttling the service named).
        cap = retry_budget_seconds
        if self.max_retry_wait is not None:
            cap = min(cap, self.max_retry_wait)
        retry: CappedRetryPolicy = self.retry_policy(max_wait=cap, **retry_options)
        self.retry = retry  # its settings are this client's (an ARM read's first attempt)
        self._pace_lock = threading.Lock()
        self._not_before = 0.0  # time.monotonic() before which no request is sent
        self._transport = transport(
            ca_cert=ca_cert, timeout_seconds=timeout_seconds, pool_size=pool_size
        )
        user_agent_policy = UserAgentPolicy(user_agent=user_agent)
        self.user_agent: str = user_agent_policy.user_agent
        self._client: Any = self._pipeline_client(
            self.base_url,
            transport=self._transport,
            policies=[
                user_agent_policy,
                retry,
                *([auth_policy] if auth_policy is not None else []),
                *policies,
            ],
        )

    def _pipeline_client(self, base_url: str, **kwargs: Any) -> Any:
        from azure.core import PipelineClient

        return PipelineClient(base_url, **kwargs)

    def send(
        self,
        method: str,
        url: str,
        *,
        kind: str,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        idempotent: bool = True,
    ) -> HttpResponse:
        """Sends one request (retried by the pipeline), counted as ``kind``; the response unless
        :meth:`raise_for_status` raises. Connection errors outlasting the retries are transient.

        ``idempotent=False`` (a POST that creates something): an answer is never retried here.
        azure-core retries a POST answered 500/503/504, and the service may have created the
        thing before failing to say so; the caller's retry (the outbox's) looks for it first.
        """
        if self.min_interval > 0 or self.honour_retry_after:
            self._wait_turn()
        self.counts.add(kind)
        return self._dispatch(
            method, url, headers=headers, json=json, retry={} if idempotent else {"retry_status": 0}
        )

    def _dispatch(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        retry: Mapping[str, Any],
    ) -> HttpResponse:
        """:meth:`send` once counted and paced: through the pipeline, ``retry`` overriding the
        retry policy's settings for this request (``retry_total``, ``retry_status``,
        ``timeout``)."""
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError
        from azure.core.rest import HttpRequest

        request = HttpRequest(method, url, headers=dict(headers or {}), json=json)
        try:
            response: HttpResponse = self._client.send_request(request, **retry)
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise self.transient(
                f"{self.service} unreachable for {urlsplit(url).path}: {exc}"
            ) from exc
        if self.honour_retry_after:
            wait = retry_after(response.headers)
            if wait is not None and wait > 0:
                with self._pace_lock:
                    self._not_before = max(self._not_before, time.monotonic() + wait)
        self.raise_for_status(method, url, response)
        return response

    def _wait_turn(self) -> None:
        """Holds this request back until the service's pace allows it (see ``min_interval``);
        requests of one client wait their turn one at a time."""
        with self._pace_lock:
            wait = self._not_before - time.monotonic()
            if wait > (self.max_retry_wait or MAX_RETRY_WAIT):
                raise self.transient(
                    f"{self.service} asked to wait {wait:.0f} s (Retry-After) before the next "
                    "request",
                    retry_after=wait,
                )
            if wait > 0:
                time.sleep(wait)
            self._not_before = max(self._not_before, time.monotonic() + self.min_interval)

    def raise_for_status(self, method: str, url: str, response: HttpResponse) -> None:
        """408, 429 and 5xx (the retries are spent) are transient; any other 4xx refused."""
        status = response.status_code
        if status in (408, 429) or status >= 500:
            raise self.transient(
                f"{self.service} {status} for {method} {urlsplit(url).path} after retries "
                f"(Retry-After {response.headers.get('Retry-After', '-')})"
            )
        if status >= 400:
            code, message = self.error_detail(response)
            raise self.error(status, code, message, url)

    def error_detail(self, response: HttpResponse) -> tuple[str, str]:
        """The (code, message) of an error answer; the service's body format decides."""
        return "", response.text()[:200] if response.content else ""

    def same_origin(self, link: str, code: str, what: str) -> str:
        """``link`` if it points back at the service (same scheme, host and port); else the
        service's error ``code``. Host names compare case-insensitively and a default port may
        be spelled out (RFC 3986 6.2.2-6.2.3): ARM hands out nextLinks and operation URLs as
        ``https://management.azure.com:443/...``."""
        if _origin(link) != _origin(self.base_url):
            raise self.error(200, code, f"{what} leaves the {self.service} endpoint", link)
        return link

    def close(self) -> None:
        """Closes the connection pool (a short-lived client: a probe)."""
        self._client.close()


_DEFAULT_PORTS = {"https": 443, "http": 80}


def _origin(url: str) -> tuple[str, str, int | None]:
    """The (scheme, host, port) a URL reaches, normalized: lowercase scheme and host, the
    scheme's default port when none is given. An unreadable port yields an origin that matches
    nothing real (port -1)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)
