"""The ARM writer: the only code in phiguard that changes customer resources.

Built like :class:`shared.arm_reader.ArmReader` (azure-core pipeline, bearer token, the same
credential and CA options, retries honouring ``Retry-After``). Every write can carry ``If-Match``
(ARM answers 412 when the document changed since it was read: :class:`PreconditionFailed`) or
``If-None-Match: *`` (create only), and a correlation id that comes back in the Event Grid event
the write causes (how phiguard recognizes its own changes).

Long-running operations are followed to the end: a ``201``/``202`` (or ``200``) answer with
``Azure-AsyncOperation`` is polled until ``Succeeded`` (``Failed``/``Canceled`` raise); a ``202``
with only ``Location`` is polled until it stops answering 202. Poll URLs must point back at the
ARM endpoint (a token is never sent anywhere else).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from shared.arm_reader import ArmError, TransientArmError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.rest import HttpResponse

    from shared.config import Settings

_TERMINAL = {"succeeded", "failed", "canceled", "cancelled"}
_TRANSIENT_CONFLICTS = {"AnotherOperationInProgress", "RetryableError", "OperationNotAllowed"}


class PreconditionFailed(ArmError):
    """412: the document changed since it was read (If-Match) or exists already (If-None-Match)."""


@dataclass(frozen=True)
class WriteResult:
    """What a write left behind. ``etag`` is the one the write itself produced (from its first
    answer), so a following write may use it as If-Match without hiding anyone else's change."""

    status: int
    body: dict[str, Any] | None
    etag: str | None
    polls: int = 0


@dataclass
class WriteStats:
    by_method: dict[str, int] = field(default_factory=dict)
    polls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, method: str) -> None:
        with self.lock:
            self.by_method[method] = self.by_method.get(method, 0) + 1


class ArmWriter:
    """Writes resources through ARM. Thread-safe; build once per worker and reuse."""

    def __init__(
        self,
        arm_url: str,
        credential: TokenCredential,
        *,
        ca_cert: str | None = None,
        max_retries: int = 4,
        retry_budget_seconds: float = 30,
        timeout_seconds: float = 20,
        lro_timeout_seconds: float = 300,
        max_poll_interval: float = 10,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from azure.core.pipeline.policies import (
            BearerTokenCredentialPolicy,
            RetryPolicy,
            UserAgentPolicy,
        )
        from azure.mgmt.core import ARMPipelineClient

        from shared.http import transport

        self.arm_url = arm_url.rstrip("/")
        self._client: Any = ARMPipelineClient(
            base_url=self.arm_url,
            transport=transport(ca_cert=ca_cert, timeout_seconds=timeout_seconds),
            policies=[
                UserAgentPolicy(user_agent="phiguard/0.1"),
                RetryPolicy(
                    retry_total=max_retries,
                    retry_backoff_factor=0.5,
                    retry_backoff_max=8,
                    timeout=retry_budget_seconds,
                ),
                BearerTokenCredentialPolicy(credential, f"{self.arm_url}/.default"),
            ],
        )
        self.lro_timeout_seconds = lro_timeout_seconds
        self.max_poll_interval = max_poll_interval
        self._sleep = sleep
        self.stats = WriteStats()

    @classmethod
    def from_settings(cls, settings: Settings, credential: TokenCredential) -> ArmWriter:
        return cls(
            settings.arm_url,
            credential,
            ca_cert=settings.ca_cert,
            max_retries=settings.arm_max_retries,
            retry_budget_seconds=settings.arm_retry_budget_seconds,
            timeout_seconds=settings.arm_timeout_seconds,
        )

    # --- the writes --------------------------------------------------------------------------

    def put(
        self,
        target_id: str,
        api_version: str,
        body: Mapping[str, Any],
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        correlation_id: str | None = None,
    ) -> WriteResult:
        return self._write(
            "PUT", target_id, api_version, body, if_match, if_none_match, correlation_id
        )

    def patch(
        self,
        target_id: str,
        api_version: str,
        body: Mapping[str, Any],
        *,
        if_match: str | None = None,
        correlation_id: str | None = None,
    ) -> WriteResult:
        return self._write("PATCH", target_id, api_version, body, if_match, False, correlation_id)

    def delete(
        self,
        target_id: str,
        api_version: str,
        *,
        if_match: str | None = None,
        correlation_id: str | None = None,
    ) -> WriteResult:
        return self._write("DELETE", target_id, api_version, None, if_match, False, correlation_id)

    def read(self, target_id: str, api_version: str) -> tuple[dict[str, Any] | None, str | None]:
        """The document and its ETag (the header, else the body's ``etag``); (None, None) on 404.

        For documents whose body carries no etag (storage accounts, diagnostic settings), so a
        following write can still be conditional on exactly what was read."""
        response = self._send("GET", self._url(target_id, api_version))
        if response.status_code == 404:
            return None, None
        body = _json_object(response)
        return body, _etag(response, body)

    # --- internals ---------------------------------------------------------------------------

    def _url(self, target_id: str, api_version: str) -> str:
        return f"{self.arm_url}{target_id}?{urlencode({'api-version': api_version})}"

    def _write(
        self,
        method: str,
        target_id: str,
        api_version: str,
        body: Mapping[str, Any] | None,
        if_match: str | None,
        if_none_match: bool,
        correlation_id: str | None,
    ) -> WriteResult:
        headers: dict[str, str] = {}
        if if_match:
            headers["If-Match"] = if_match
        if if_none_match:
            headers["If-None-Match"] = "*"
        if correlation_id:
            headers["x-ms-correlation-request-id"] = correlation_id
            headers["x-ms-client-request-id"] = correlation_id
        url = self._url(target_id, api_version)
        self.stats.add(method)
        response = self._send(method, url, headers, body)
        status = response.status_code
        if status == 404 and method == "DELETE":
            return WriteResult(404, None, None)
        if status == 204:
            return WriteResult(204, None, None)
        first = _json_object(response) if _has_body(response) else None
        etag = _etag(response, first)
        polls = 0
        async_url = response.headers.get("Azure-AsyncOperation")
        location = response.headers.get("Location")
        if async_url or (status == 202 and location):
            polls = self._poll(async_url, location, response)
            if method == "DELETE":
                return WriteResult(status, None, None, polls)
            final, _ = self.read(target_id, api_version)
            return WriteResult(status, final, etag, polls)
        return WriteResult(status, first, etag, polls)

    def _poll(self, async_url: str | None, location: str | None, first: HttpResponse) -> int:
        deadline = time.monotonic() + self.lro_timeout_seconds
        url = self._same_origin(async_url or str(location))
        wait = 0.0  # the first poll goes out at once: most operations are done by then
        polls = 0
        while True:
            if wait:
                self._sleep(wait)
            if time.monotonic() > deadline:
                raise TransientArmError(
                    f"operation {urlsplit(url).path} did not finish in {self.lro_timeout_seconds}s"
                )
            response = self._send("GET", url)
            polls += 1
            with self.stats.lock:
                self.stats.polls += 1
            wait = _retry_after(response, self.max_poll_interval)
            if async_url:
                state = str(_json_object(response).get("status", "")).lower()
                if state not in _TERMINAL:
                    continue
                if state == "succeeded":
                    return polls
                error = _json_object(response).get("error") or {}
                code = str(error.get("code", "OperationFailed")) if isinstance(error, dict) else ""
                message = str(error.get("message", state)) if isinstance(error, dict) else state
                raise ArmError(200, code or "OperationFailed", message, url)
            if response.status_code == 202:
                location = response.headers.get("Location") or location
                url = self._same_origin(str(location))
                continue
            return polls

    def _same_origin(self, link: str) -> str:
        if urlsplit(link).netloc != urlsplit(self.arm_url).netloc:
            raise ArmError(200, "InvalidPollingUrl", "poll URL leaves the ARM endpoint", link)
        return link

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> HttpResponse:
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError
        from azure.core.rest import HttpRequest

        request = HttpRequest(
            method,
            url,
            headers=dict(headers or {}),
            json=dict(body) if body is not None else None,
        )
        try:
            response = self._client.send_request(request)
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise TransientArmError(f"ARM unreachable for {urlsplit(url).path}: {exc}") from exc
        status = response.status_code
        if status in (408, 429) or status >= 500:
            raise TransientArmError(
                f"ARM {status} for {method} {urlsplit(url).path} after retries "
                f"(Retry-After {response.headers.get('Retry-After', '-')})"
            )
        if status == 412:
            code, message = _arm_error(response)
            raise PreconditionFailed(status, code or "PreconditionFailed", message, url)
        if status == 409:
            code, message = _arm_error(response)
            if code in _TRANSIENT_CONFLICTS:
                raise TransientArmError(f"ARM 409 {code} for {urlsplit(url).path}: {message}")
            raise ArmError(status, code, message, url)
        if status >= 400 and not (status == 404 and method in ("GET", "DELETE")):
            code, message = _arm_error(response)
            raise ArmError(status, code, message, url)
        return response  # type: ignore[no-any-return]


def _has_body(response: HttpResponse) -> bool:
    return bool(response.content)


def _json_object(response: HttpResponse) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _etag(response: HttpResponse, body: Mapping[str, Any] | None) -> str | None:
    header = response.headers.get("ETag")
    if header:
        return str(header)
    value = body.get("etag") if body else None
    return value if isinstance(value, str) and value else None


def _retry_after(response: HttpResponse, cap: float) -> float:
    raw = response.headers.get("Retry-After")
    try:
        value = float(raw) if raw is not None else 1.0
    except ValueError:
        value = 1.0
    return max(0.0, min(value, cap))


def _arm_error(response: HttpResponse) -> tuple[str, str]:
    body = _json_object(response)
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("code", "")), str(error.get("message", ""))[:300]
    return "", response.text()[:200] if response.content else ""
