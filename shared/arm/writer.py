"""The ARM writer: the only code in phiguard that changes customer resources.

Writes go through :class:`~shared.arm.client.ArmClient` like the reader's reads (azure-core
pipeline, bearer token, the same credential and CA options, retries honouring ``Retry-After``).
Every write can be conditional, with azure-core's ``MatchConditions`` and an ETag as every
Azure SDK takes them: ``IfNotModified`` sends ``If-Match`` (ARM answers 412 when the document
changed since it was read: :class:`~shared.arm.client.PreconditionFailed`), ``IfMissing`` sends
``If-None-Match: *`` (create only); and a correlation id that comes back in the Event Grid event
the write causes (how phiguard recognizes its own changes).

Long-running operations are followed to the end (:func:`_monitor`): an answer with
``Azure-AsyncOperation`` is polled until ``Succeeded`` (``Failed``/``Canceled`` raise with the
operation's error); a ``202`` (or a ``201`` still provisioning) with only ``Location`` is polled
until it stops answering 202; a PUT or PATCH answered 202, or with a provisioningState that is
not terminal, and neither header, is re-read until its provisioningState is terminal. Between
polls the writer waits what ``Retry-After`` asks. Poll URLs must point back at the ARM endpoint
(a token is never sent anywhere else).
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
        max_poll_interval: float | None = None,
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
        monitor = _monitor(method, status, response, first)
        if monitor is None:
            _raise_if_failed(first, url)
            return WriteResult(status, first, result_etag)
        kind, poll_url = monitor
        polls, last = self._poll(kind, poll_url or url)
        if method == "DELETE":
            return WriteResult(status, None, None, polls)
        if kind == "resource":
            return WriteResult(status, last, result_etag, polls)
        final, _ = self.read(target_id, api_version)
        return WriteResult(status, final, result_etag, polls)

    def _poll(self, kind: str, url: str) -> tuple[int, dict[str, Any] | None]:
        """Follows a long-running operation to its end: the polls made, and (``resource``) the
        document the last poll read. ``kind``: ``async`` (the Azure-AsyncOperation status
        resource, 200 with ``status``), ``location`` (202 while running, then the result) or
        ``resource`` (the resource itself, until its provisioningState is terminal).

        Each wait is the last answer's ``Retry-After`` (1 s without one). The first poll goes
        out at once, as azure-mgmt-core's ARMPolling sends it: most operations are done by
        then. A wait that would pass the deadline is not begun: the operation may still finish,
        so that is a :class:`TransientArmError`."""
        deadline = time.monotonic() + self.lro_timeout_seconds
        url = self._same_origin(url)
        wait = 0.0
        polls = 0
        while True:
            if time.monotonic() + wait > deadline:
                raise TransientArmError(
                    f"operation {urlsplit(url).path} did not finish in {self.lro_timeout_seconds}s"
                )
            if wait:
                self._sleep(wait)
            response = self.client.send("GET", url, kind="poll")
            polls += 1
            wait = _poll_interval(response, self.max_poll_interval)
            if kind == "async":
                if response.status_code != 200:
                    # ARM RPC: a 4xx/5xx from the status resource is a failure to read the
                    # status, not of the operation, whose outcome is then unknown.
                    raise TransientArmError(
                        f"operation status {urlsplit(url).path} answered "
                        f"{response.status_code}: the outcome is unknown"
                    )
                status = json_object(response)
                state = str(status.get("status", "")).lower()
                if state not in _TERMINAL:
                    continue
                if state == "succeeded":
                    return polls, None
                raise _operation_error(status.get("error"), state, url)
            if kind == "location":
                if response.status_code == 202:
                    location = response.headers.get("Location")
                    url = self._same_origin(location) if location else url
                    continue
                return polls, None
            if response.status_code == 404:
                raise ArmError(404, "ResourceNotFound", "gone while being provisioned", url)
            document = json_object(response)
            state = (provisioning_state(document) or "succeeded").lower()
            if state not in _TERMINAL:
                continue
            _raise_if_failed(document, url)
            return polls, document

    def _same_origin(self, link: str) -> str:
        return self.client.same_origin(link, "InvalidPollingUrl", "poll URL")


def provisioning_state(document: Mapping[str, Any] | None) -> str | None:
    """A document's ``properties.provisioningState``; None when it has none."""
    props = document.get("properties") if document else None
    state = props.get("provisioningState") if isinstance(props, Mapping) else None
    return state if isinstance(state, str) and state else None


def _monitor(
    method: str, status: int, response: HttpResponse, first: Mapping[str, Any] | None
) -> tuple[str, str | None] | None:
    """How a write's first answer says to follow it (see :meth:`ArmWriter._poll`): the kind of
    monitor and its URL (None: the target itself), or None when the write is done.

    Per "Track asynchronous Azure operations" (learn.microsoft.com/azure/azure-resource-manager/
    management/async-operations) and the ARM RPC (Azure/azure-resource-manager-rpc, async-api-
    reference): ``Azure-AsyncOperation`` first, else ``Location`` (on a 202, or on an answer
    still provisioning, such as a PUT's 201), else, for a PUT or PATCH answered 202 or with a
    provisioningState that is not terminal (Succeeded, Failed, Canceled), the resource itself
    until it is. An answer without any of these is done: "If no value is returned for
    provisioningState, the operation has finished and succeeded"."""
    async_url = response.headers.get("Azure-AsyncOperation")
    if async_url:
        return "async", async_url
    state = provisioning_state(first)
    running = state is not None and state.lower() not in _TERMINAL
    location = response.headers.get("Location")
    if location and (status == 202 or running):
        return "location", location
    if method != "DELETE" and (status == 202 or running):
        return "resource", None
    return None


def _raise_if_failed(document: Mapping[str, Any] | None, url: str) -> None:
    """ArmError when a document says its provisioning ended Failed or Canceled."""
    state = (provisioning_state(document) or "").lower()
    if state in ("failed", "canceled", "cancelled"):
        raise ArmError(200, "ProvisioningFailed", f"provisioningState {state}", url)


def _operation_error(error: Any, state: str, url: str) -> ArmError:
    """The ArmError of a Failed / Canceled operation, from its status resource's ``error``."""
    if not isinstance(error, Mapping):
        error = {}
    code = str(error.get("code") or "OperationFailed")
    message = str(error.get("message") or f"the operation ended {state}")
    return ArmError(200, code, message, url)


def _poll_interval(response: HttpResponse, cap: float | None) -> float:
    """How long to wait before the next poll: the answer's ``Retry-After`` (1 s without one),
    at least 0 and at most ``cap`` when one is set. ARM's monitors ask for 10 s to 10 min
    (RPC); a client "should wait for the Retry-After interval" before polling again."""
    seconds = retry_after(response.headers)
    wait = max(0.0, 1.0 if seconds is None else seconds)
    return wait if cap is None else min(wait, cap)
