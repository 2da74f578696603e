"""The ARM writer: the only code in phiguard that changes customer resources.

Writes go through :class:`~shared.arm.client.ArmClient` like the reader's reads (azure-core
pipeline, bearer token, the same credential and CA options, retries honouring ``Retry-After``).
Every write can be conditional, with azure-core's ``MatchConditions`` and an ETag as every
Azure SDK takes them: ``IfNotModified`` sends ``If-Match`` (ARM answers 412 when the document
changed since it was read: :class:`~shared.arm.client.PreconditionFailed`), ``IfMissing`` sends
``If-None-Match: *`` (create only); and a correlation id that comes back in the Event Grid event
the write causes (how phiguard recognizes its own changes).

Long-running operations are followed to the end: a ``201``/``202`` (or ``200``) answer with
``Azure-AsyncOperation`` is polled until ``Succeeded`` (``Failed``/``Canceled`` raise); a ``202``
with only ``Location`` is polled until it stops answering 202. Poll URLs must point back at the
ARM endpoint (a token is never sent anywhere else).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict, Unpack
from urllib.parse import urlsplit

from shared.arm.client import (
    ArmConnection,
    ArmError,
    ArmUser,
    TransientArmError,
    etag_of,
    json_object,
)
from shared.http import RequestCounts, retry_after

if TYPE_CHECKING:
    from azure.core import MatchConditions
    from azure.core.credentials import TokenCredential
    from azure.core.rest import HttpResponse

_TERMINAL = {"succeeded", "failed", "canceled", "cancelled"}
_WRITES = ("PUT", "PATCH", "DELETE")


class WriteCondition(TypedDict, total=False):
    """What a write may be conditional on (see :func:`conditional_headers`), and the correlation
    id it carries."""

    etag: str | None
    match_condition: MatchConditions | None
    correlation_id: str | None


@dataclass(frozen=True)
class WriteResult:
    """What a write left behind. ``etag`` is the one the write itself produced (from its first
    answer), so a following write may use it as If-Match without hiding anyone else's change."""

    status: int
    body: dict[str, Any] | None
    etag: str | None
    polls: int = 0


class WriteStats:
    """The writer's request counts: writes by method, and the polls of long-running operations
    (reads of a target, kind ``read``, are in ``counts`` too)."""

    def __init__(self, counts: RequestCounts) -> None:
        self.counts = counts

    @property
    def by_method(self) -> dict[str, int]:
        with self.counts.lock:
            return {k: v for k, v in self.counts.by_kind.items() if k in _WRITES}

    @property
    def polls(self) -> int:
        return self.counts.get("poll")


def conditional_headers(
    etag: str | None, match_condition: MatchConditions | None
) -> dict[str, str]:
    """The ``If-Match`` / ``If-None-Match`` header of a match condition (None: unconditionally).
    ``IfNotModified`` and ``IfModified`` need the ETag; ``IfPresent`` / ``IfMissing`` use ``*``."""
    from azure.core import MatchConditions

    if match_condition is None or match_condition == MatchConditions.Unconditionally:
        return {}
    if match_condition == MatchConditions.IfPresent:
        return {"If-Match": "*"}
    if match_condition == MatchConditions.IfMissing:
        return {"If-None-Match": "*"}
    if not etag:
        raise ValueError(f"{match_condition.name} needs an etag")
    if match_condition == MatchConditions.IfNotModified:
        return {"If-Match": etag}
    if match_condition == MatchConditions.IfModified:
        return {"If-None-Match": etag}
    raise ValueError(f"unsupported match condition {match_condition!r}")


class ArmWriter(ArmUser):
    """Writes resources through ARM. Thread-safe; build once per worker and reuse."""

    def __init__(
        self,
        arm_url: str,
        credential: TokenCredential,
        *,
        lro_timeout_seconds: float = 300,
        max_poll_interval: float = 10,
        sleep: Callable[[float], None] = time.sleep,
        **connection: Unpack[ArmConnection],
    ) -> None:
        super().__init__(arm_url, credential, **connection)
        self.lro_timeout_seconds = lro_timeout_seconds
        self.max_poll_interval = max_poll_interval
        self._sleep = sleep
        self.stats = WriteStats(self.client.counts)

    # --- the writes --------------------------------------------------------------------------

    def put(
        self,
        target_id: str,
        api_version: str,
        body: Mapping[str, Any],
        **condition: Unpack[WriteCondition],
    ) -> WriteResult:
        return self._write("PUT", target_id, api_version, body, **condition)

    def patch(
        self,
        target_id: str,
        api_version: str,
        body: Mapping[str, Any],
        **condition: Unpack[WriteCondition],
    ) -> WriteResult:
        return self._write("PATCH", target_id, api_version, body, **condition)

    def delete(
        self, target_id: str, api_version: str, **condition: Unpack[WriteCondition]
    ) -> WriteResult:
        return self._write("DELETE", target_id, api_version, None, **condition)

    def read(self, target_id: str, api_version: str) -> tuple[dict[str, Any] | None, str | None]:
        """The document and its ETag (the header, else the body's ``etag``); (None, None) on 404.

        For documents whose body carries no etag (storage accounts, diagnostic settings), so a
        following write can still be conditional on exactly what was read."""
        response = self.client.send("GET", self.client.url(target_id, api_version), kind="read")
        if response.status_code == 404:
            return None, None
        body = json_object(response)
        return body, etag_of(response, body)

    # --- internals ---------------------------------------------------------------------------

    def _write(
        self,
        method: str,
        target_id: str,
        api_version: str,
        body: Mapping[str, Any] | None,
        *,
        etag: str | None = None,
        match_condition: MatchConditions | None = None,
        correlation_id: str | None = None,
    ) -> WriteResult:
        headers = conditional_headers(etag, match_condition)
        if correlation_id:
            headers["x-ms-correlation-request-id"] = correlation_id
            headers["x-ms-client-request-id"] = correlation_id
        url = self.client.url(target_id, api_version)
        response = self.client.send(
            method, url, kind=method, headers=headers, json=dict(body) if body is not None else None
        )
        status = response.status_code
        if status == 404 and method == "DELETE":
            return WriteResult(404, None, None)
        if status == 204:
            return WriteResult(204, None, None)
        first = json_object(response) if response.content else None
        result_etag = etag_of(response, first)
        polls = 0
        async_url = response.headers.get("Azure-AsyncOperation")
        location = response.headers.get("Location")
        if async_url or (status == 202 and location):
            polls = self._poll(async_url, location)
            if method == "DELETE":
                return WriteResult(status, None, None, polls)
            final, _ = self.read(target_id, api_version)
            return WriteResult(status, final, result_etag, polls)
        return WriteResult(status, first, result_etag, polls)

    def _poll(self, async_url: str | None, location: str | None) -> int:
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
            response = self.client.send("GET", url, kind="poll")
            polls += 1
            wait = _poll_interval(response, self.max_poll_interval)
            if async_url:
                state = str(json_object(response).get("status", "")).lower()
                if state not in _TERMINAL:
                    continue
                if state == "succeeded":
                    return polls
                error = json_object(response).get("error") or {}
                code = str(error.get("code", "OperationFailed")) if isinstance(error, dict) else ""
                message = str(error.get("message", state)) if isinstance(error, dict) else state
                raise ArmError(200, code or "OperationFailed", message, url)
            if response.status_code == 202:
                location = response.headers.get("Location") or location
                url = self._same_origin(str(location))
                continue
            return polls

    def _same_origin(self, link: str) -> str:
        return self.client.same_origin(link, "InvalidPollingUrl", "poll URL")


def _poll_interval(response: HttpResponse, cap: float) -> float:
    """How long to wait before the next poll: the answer's ``Retry-After`` (1 s without one),
    within [0, ``cap``]."""
    seconds = retry_after(response.headers)
    return max(0.0, min(1.0 if seconds is None else seconds, cap))
