"""The ARM client: the one azure-core pipeline phiguard's reads and writes go through (a read's
first attempt goes without it: :meth:`ArmClient.read`).

A :class:`~shared.http.ServiceClient` (transport, retries honouring ``Retry-After``, request
counts, same-origin links) with ARM's bearer token audience, ARM's error body and ARM's answers
mapped to typed errors: 408/429/5xx after the retries, and a 409 ARM documents as retryable,
are :class:`TransientArmError`; a 412 is :class:`PreconditionFailed`; a 404 to a GET or DELETE
is the caller's to judge (gone); any other 4xx is :class:`ArmError`.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypedDict, Unpack
from urllib.parse import urlencode, urlsplit

from shared.arm.throttle import ThrottleGates, gate_policy, subscription_scope
from shared.errors import ServiceError, TransientServiceError
from shared.http import RequestCounts, ServiceClient, retry_wait

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.rest import HttpResponse

    from shared.config import Settings

# 409 codes ARM answers while another operation holds the resource: retry later.
TRANSIENT_CONFLICTS = frozenset(
    {"AnotherOperationInProgress", "RetryableError", "OperationNotAllowed"}
)


# The answers azure-core's RetryPolicy retries (with any other of 400 or more that carries a
# wait): 408, 429, 500, 502, 503, 504 and 506 to 998. 501 and 505 are final.
RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504, *range(506, 999)})


class ArmError(ServiceError):
    """ARM refused a request for a reason retrying will not fix (403, 400, ...)."""

    service = "ARM"


class TransientArmError(TransientServiceError):
    """Throttling, 5xx or network trouble outlasting the retry budget; redeliver later."""


class PreconditionFailed(ArmError):
    """412: the document changed since it was read (If-Match) or exists already (If-None-Match)."""


class ArmClient(ServiceClient):
    """ARM over azure-core's pipeline. Thread-safe; build once per worker and reuse.

    ``gates``: the reader's :class:`~shared.arm.throttle.ThrottleGates`, which every attempt
    passes (a policy under the retry policy). Reads (:meth:`read`) make their first attempt
    without the pipeline when nothing else was put in it (no ``policies``), the transport is
    phiguard's own and ARM is reached over HTTPS; see :meth:`read`.
    """

    service: ClassVar[str] = "ARM"
    error: ClassVar[type[ServiceError]] = ArmError
    transient: ClassVar[type[TransientServiceError]] = TransientArmError

    def __init__(
        self,
        arm_url: str,
        credential: TokenCredential,
        *,
        policies: Iterable[Any] = (),
        gates: ThrottleGates | None = None,
        counts: RequestCounts | None = None,
        **connection: Unpack[ArmConnection],
    ) -> None:
        from azure.core.pipeline.policies import BearerTokenCredentialPolicy

        from shared.transport import PooledTransport

        arm_url = arm_url.rstrip("/")
        extra = list(policies)
        super().__init__(
            arm_url,
            auth_policy=BearerTokenCredentialPolicy(credential, f"{arm_url}/.default"),
            policies=[*extra, *([gate_policy(gates)] if gates is not None else [])],
            counts=counts,
            **connection,
        )
        self.gates = gates
        self._token = BearerToken(credential, f"{arm_url}/.default")
        self._lean: PooledTransport | None = None
        if (
            not extra
            and isinstance(self._transport, PooledTransport)
            and self.base_url[:8].lower() == "https://"
        ):
            self._lean = self._transport

    def _pipeline_client(self, base_url: str, **kwargs: Any) -> Any:
        from azure.mgmt.core import ARMPipelineClient

        return ARMPipelineClient(base_url, **kwargs)

    def url(self, path: str, api_version: str) -> str:
        """The URL of a resource id (or any ARM path) at ``api_version``."""
        return f"{self.base_url}{path}?{_api_version_query(api_version)}"

    def read(self, url: str, *, kind: str) -> HttpResponse:
        """GET ``url``, counted as ``kind``: what ``send("GET", ...)`` answers and raises, the
        first attempt made without azure-core's pipeline where the client allows it (see the
        class). A sweep makes one or two reads per resource, and the pipeline's request and
        policy objects cost as much CPU as the exchange itself (``bench.sweep_cpu``'s floor).

        The first attempt does what the pipeline's policies would: it waits at the gate, sends
        the user agent and a bearer token (:class:`BearerToken`), and tells the gate what ARM
        answered. An answer azure-core's retry policy would retry (:data:`RETRIED_STATUSES`, any
        other error carrying a wait, a lost connection) is retried through the pipeline after
        the wait it asked for, as the first of the pipeline's retries: one retry fewer of the
        kind it was (status, connection, read), the budget's rest, and the backoff one step on.
        A 401 drops the token held here; one carrying a challenge (``WWW-Authenticate``) goes to
        the pipeline, whose bearer policy answers it. Anything else is final.
        """
        lean = self._lean
        if lean is None or url[:8].lower() != "https://":  # the pipeline refuses a token in clear
            return self.send("GET", url, kind=kind)
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError

        self.counts.add(kind)
        started = time.monotonic()
        where = subscription_scope(url) if self.gates is not None else ""
        if self.gates is not None:
            self.gates.wait(where)
        try:
            response = lean.fetch(
                "GET", url, {"User-Agent": self.user_agent, "Authorization": self._token.header()}
            )
        except (ServiceRequestError, ServiceResponseError) as exc:
            if self.retry.total_retries < 1:
                raise self.transient(
                    f"{self.service} unreachable for {urlsplit(url).path}: {exc}"
                ) from exc
            spent = "retry_connect" if isinstance(exc, ServiceRequestError) else "retry_read"
            return self._dispatch("GET", url, retry=self._rest_of_budget(started, spent))
        status = response.status_code
        if self.gates is not None:
            self.gates.answered(where, status, response.headers)
        if status == 401:
            self._token.forget()
            if response.headers.get("WWW-Authenticate"):
                return self._dispatch("GET", url, retry={})
        wait = retry_wait(response.headers)
        if status >= 400 and (status in RETRIED_STATUSES or wait is not None):
            if self.retry.total_retries < 1 or (wait is not None and wait > self.retry.max_wait):
                self.raise_for_status("GET", url, response)
            if wait is not None and wait > 0:
                time.sleep(wait)
            return self._dispatch("GET", url, retry=self._rest_of_budget(started, "retry_status"))
        self.raise_for_status("GET", url, response)
        return response

    def _rest_of_budget(self, started: float, spent: str) -> dict[str, Any]:
        """The pipeline's retry settings for a read whose first attempt was made here and
        failed in the way ``spent`` counts (``retry_status``, ``retry_connect``,
        ``retry_read``)."""
        policy = self.retry
        return {
            "retry_total": policy.total_retries - 1,
            "retry_status": policy.status_retries - (spent == "retry_status"),
            "retry_connect": policy.connect_retries - (spent == "retry_connect"),
            "retry_read": policy.read_retries - (spent == "retry_read"),
            "retry_prior_attempts": 1,
            "timeout": max(0.0, policy.timeout - (time.monotonic() - started)),
        }

    def raise_for_status(self, method: str, url: str, response: HttpResponse) -> None:
        status = response.status_code
        if status == 412:
            code, message = self.error_detail(response)
            raise PreconditionFailed(status, code or "PreconditionFailed", message, url)
        if status == 409:
            code, message = self.error_detail(response)
            if code in TRANSIENT_CONFLICTS:
                raise TransientArmError(f"ARM 409 {code} for {urlsplit(url).path}: {message}")
        if status == 404 and method in ("GET", "DELETE"):
            return  # gone: the caller decides what that means
        super().raise_for_status(method, url, response)

    def error_detail(self, response: HttpResponse) -> tuple[str, str]:
        """ARM's ``{"error": {"code", "message"}}``; else the start of the body."""
        error = json_object(response).get("error")
        if isinstance(error, dict):
            return str(error.get("code", "")), str(error.get("message", ""))[:300]
        return super().error_detail(response)


def json_object(response: HttpResponse) -> dict[str, Any]:
    """The response's JSON object body; {} when empty, not JSON or not an object."""
    if not response.content:
        return {}
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def etag_of(response: HttpResponse, body: Mapping[str, Any] | None) -> str | None:
    """A document's ETag: the header, else the body's ``etag``."""
    header = response.headers.get("ETag")
    if header:
        return str(header)
    value = body.get("etag") if body else None
    return value if isinstance(value, str) and value else None


class BearerToken:
    """The ``Authorization`` header of :meth:`ArmClient.read`'s first attempts: a token from
    the credential, held until azure-core's ``BearerTokenCredentialPolicy`` would replace it
    (at its ``refresh_on`` plus a jitter of up to a minute, never past its expiry; without one,
    5 minutes less the jitter before it expires) or a 401 says it no longer serves.
    Thread-safe."""

    REFRESH_WINDOW_SECONDS = 300
    MAX_JITTER_SECONDS = 60

    def __init__(self, credential: TokenCredential, scope: str) -> None:
        self._credential = credential
        self._scope = scope
        self._lock = threading.Lock()
        self._held: tuple[str, float] | None = None  # the header and when to stop using it

    def header(self) -> str:
        held = self._held
        if held is not None and time.time() < held[1]:
            return held[0]
        with self._lock:
            held = self._held
            if held is None or time.time() >= held[1]:
                # As azure-core's policy asks: the richer call (it carries refresh_on) first.
                get_info = getattr(self._credential, "get_token_info", None)
                token = (
                    get_info(self._scope) if get_info else self._credential.get_token(self._scope)
                )
                jitter = random.randint(0, self.MAX_JITTER_SECONDS)  # noqa: S311 - spread, not secret
                refresh_on = getattr(token, "refresh_on", None)
                if refresh_on:
                    renew = min(refresh_on + jitter, token.expires_on)
                else:
                    renew = token.expires_on - (self.REFRESH_WINDOW_SECONDS - jitter)
                held = self._held = (f"Bearer {token.token}", renew)
            return held[0]

    def forget(self) -> None:
        with self._lock:
            self._held = None


class ArmConnection(TypedDict, total=False):
    """How a reader or a writer reaches ARM: the keyword arguments both take (see
    :class:`ArmClient`)."""

    ca_cert: str | None
    max_retries: int
    retry_budget_seconds: float
    timeout_seconds: float
    pool_size: int


class ArmUser:
    """What the reader and the writer share: their :class:`ArmClient`, built one way, from
    :class:`ArmConnection`'s keyword arguments or from the settings (:meth:`from_settings`)."""

    def __init__(
        self,
        arm_url: str,
        credential: TokenCredential,
        *,
        policies: Iterable[Any] = (),
        gates: ThrottleGates | None = None,
        **connection: Unpack[ArmConnection],
    ) -> None:
        self.connection: ArmConnection = {
            "ca_cert": None,
            "max_retries": 4,
            "retry_budget_seconds": 30,
            "timeout_seconds": 20,
            "pool_size": 10,
            **connection,
        }
        self.client = ArmClient(
            arm_url, credential, policies=policies, gates=gates, **self.connection
        )
        self.arm_url = self.client.base_url
        self._credential = credential

    @classmethod
    def from_settings(cls, settings: Settings, credential: TokenCredential) -> Self:
        return cls(
            settings.arm_url,
            credential,
            ca_cert=settings.ca_cert,
            max_retries=settings.arm_max_retries,
            retry_budget_seconds=settings.arm_retry_budget_seconds,
            timeout_seconds=settings.arm_timeout_seconds,
        )

    def close(self) -> None:
        """Closes the connection pool (a short-lived client: a probe)."""
        self.client.close()


@lru_cache(maxsize=256)
def _api_version_query(api_version: str) -> str:
    """``api-version=...`` encoded once per version (the catalog names a few dozen)."""
    return urlencode({"api-version": api_version})
