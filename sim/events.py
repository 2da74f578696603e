"""Event Grid stand-in: ARM resource events shaped like the subscription system topic's, delivered.

Events are built in the Event Grid schema (the shape of
``reference/eventgrid/eventgrid-schema__Microsoft.Resources.*``) and converted to CloudEvents 1.0
per sink. Delivery runs on one background thread per sink, never on the ARM request thread:

- webhook, Event Grid schema: the ``SubscriptionValidationEvent`` handshake first (expects
  ``{"validationResponse": code}``), then POSTs of JSON arrays with the ``aeg-*`` headers;
- webhook, CloudEvents 1.0: the OPTIONS abuse-protection handshake first (``WebHook-Request-Origin``
  answered by ``WebHook-Allowed-Origin``), then structured-mode POSTs (one event per request, or
  ``application/cloudevents-batch+json`` arrays when batching);
- NDJSON file: one event per line, appended.

Failed deliveries are retried on Event Grid's schedule (10 s, 30 s, 1 min, 5 min, 10 min, 30 min,
1 h, 3 h, 6 h, then every 12 h up to 24 h / 30 attempts), divided by ``compression``; a webhook's
400, 401, 403 and 413 are not retried (dead-lettered), as "Event Grid message delivery and retry"
lists for the Webhook endpoint type (https://learn.microsoft.com/azure/event-grid/delivery-and-retry).
Faults may duplicate a batch or hold it back (reordering).
"""

from __future__ import annotations

import heapq
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import requests

from sim.faults import Dice, FaultSpec

Schema = Literal["eventgrid", "cloudevents"]

WRITE = "Microsoft.Resources.ResourceWriteSuccess"
DELETE = "Microsoft.Resources.ResourceDeleteSuccess"
ACTION = "Microsoft.Resources.ResourceActionSuccess"
VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"

RETRY_SCHEDULE = (10, 30, 60, 300, 600, 1800, 3600, 10800, 21600)  # then every 12 h
RETRY_EVERY_AFTER = 43200
RETRY_HORIZON = 86400
MAX_ATTEMPTS = 30
NO_RETRY_STATUS = (400, 401, 403, 413)  # Webhook row of the delivery-and-retry doc
ORIGIN = "eventgrid.azure.net"

# ARM renders token claims under their long names in events.
_CLAIM_NAMES = {
    "oid": "http://schemas.microsoft.com/identity/claims/objectidentifier",
    "tid": "http://schemas.microsoft.com/identity/claims/tenantid",
    "sub": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
    "idp": "http://schemas.microsoft.com/identity/claims/identityprovider",
    "scp": "http://schemas.microsoft.com/identity/claims/scope",
    "upn": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "unique_name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
    "given_name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
    "family_name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
    "amr": "http://schemas.microsoft.com/claims/authnmethodsreferences",
    "acr": "http://schemas.microsoft.com/claims/authnclassreference",
}


def event_time(ts: float | None = None) -> str:
    """``2018-07-19T18:38:04.6117357Z``: seven fractional digits, like Event Grid."""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def arm_claims(jwt_claims: dict[str, Any]) -> dict[str, str]:
    """Token claims as ARM puts them in ``data.claims``: long names, every value a string."""
    out: dict[str, str] = {}
    for name, value in jwt_claims.items():
        if name in ("alg", "typ"):
            continue
        if isinstance(value, list):
            text = ",".join(str(v) for v in value)
        elif isinstance(value, dict):
            text = json.dumps(value, separators=(",", ":"))
        else:
            text = str(value)
        out[_CLAIM_NAMES.get(name, name)] = text
    return out


@dataclass(frozen=True)
class Caller:
    """Who made an ARM call: the claims ARM reports and the evidence of their authorization."""

    claims: dict[str, str]
    principal_id: str
    principal_type: str  # "ServicePrincipal" or "User"
    role: str = "Contributor"
    role_definition_id: str = "b24988ac618042a0ab8820f7382dd24c"

    @property
    def appid(self) -> str:
        return self.claims.get("appid", "")


@dataclass(frozen=True)
class HttpInfo:
    client_request_id: str
    client_ip: str
    method: str
    url: str


def build_event(
    event_type: str,
    resource_id: str,
    operation_name: str,
    subscription_id: str,
    tenant_id: str,
    caller: Caller,
    correlation_id: str,
    http: HttpInfo | None,
    event_id: str | None = None,
    ts: float | None = None,
) -> dict[str, Any]:
    """One ARM resource event in the Event Grid schema (subscription system topic)."""
    provider = operation_name.split("/", 1)[0]
    scope = f"/subscriptions/{subscription_id}"
    evidence = {
        "role": caller.role,
        "roleAssignmentScope": scope,
        "roleAssignmentId": uuid.uuid5(
            uuid.NAMESPACE_URL, f"{scope}|{caller.principal_id}|{caller.role}"
        ).hex,
        "roleDefinitionId": caller.role_definition_id,
        "principalId": caller.principal_id.replace("-", ""),
        "principalType": caller.principal_type,
    }
    data: dict[str, Any] = {
        "authorization": {"scope": resource_id, "action": operation_name, "evidence": evidence},
        "claims": dict(caller.claims),
        "correlationId": correlation_id,
    }
    if http is not None:
        data["httpRequest"] = {
            "clientRequestId": http.client_request_id,
            "clientIpAddress": http.client_ip,
            "method": http.method,
            "url": http.url,
        }
    data.update(
        {
            "resourceProvider": provider,
            "resourceUri": resource_id,
            "operationName": operation_name,
            "status": "Succeeded",
            "subscriptionId": subscription_id,
            "tenantId": tenant_id,
        }
    )
    return {
        "subject": resource_id,
        "eventType": event_type,
        "eventTime": event_time(ts),
        "id": event_id or str(uuid.uuid4()),
        "data": data,
        "dataVersion": "2",
        "metadataVersion": "1",
        "topic": scope,
    }


def to_cloudevent(event: dict[str, Any]) -> dict[str, Any]:
    """The same event in CloudEvents 1.0 (structured mode)."""
    return {
        "source": event["topic"],
        "subject": event["subject"],
        "type": event["eventType"],
        "time": event["eventTime"],
        "id": event["id"],
        "data": event["data"],
        "specversion": "1.0",
    }


def validation_event(topic: str, code: str, validation_url: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "topic": topic,
        "subject": "",
        "data": {"validationCode": code, "validationUrl": validation_url},
        "eventType": VALIDATION,
        "eventTime": event_time(),
        "metadataVersion": "1",
        "dataVersion": "1",
    }


@dataclass
class SinkStats:
    emitted: int = 0
    delivered: int = 0
    attempts: int = 0
    failed_attempts: int = 0
    dead_lettered: int = 0
    duplicated: int = 0
    held_back: int = 0
    handshake: str = "pending"  # pending / ok / failed / none

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    events: list[dict[str, Any]] = field(compare=False)
    attempt: int = field(default=0, compare=False)
    first_try: float = field(default=0.0, compare=False)


class Sink:
    """One event subscription: where events go and how; a background thread delivers them."""

    def __init__(
        self,
        destination: str,
        schema: Schema = "eventgrid",
        *,
        dice: Dice,
        faults: Callable[[], FaultSpec],
        compression: float = 1000.0,
        max_events_per_batch: int = 1,
        verify: bool | str = True,
        topic: str = "/subscriptions/00000000-0000-0000-0000-000000000000",
        name: str = "phiguard-sim",
    ) -> None:
        if schema not in ("eventgrid", "cloudevents"):
            raise ValueError(f"unknown event schema {schema!r}")
        self.destination = destination
        self.schema: Schema = schema
        self.is_http = destination.startswith(("http://", "https://"))
        self.name = name
        self.topic = topic
        self.stats = SinkStats(handshake="pending" if self.is_http else "none")
        self._dice = dice
        self._faults = faults
        self._compression = max(compression, 1e-9)
        self._batch = max(1, max_events_per_batch)
        self._verify = verify
        self._heap: list[_Job] = []
        self._seq = 0
        self._inflight = 0
        self._cv = threading.Condition()
        self._stopped = False
        self._session = requests.Session() if self.is_http else None
        self._thread = threading.Thread(target=self._run, name=f"sim-sink-{name}", daemon=True)
        self._thread.start()

    def describe(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "schema": self.schema,
            "stats": self.stats.as_dict(),
        }

    def emit(self, events: list[dict[str, Any]]) -> None:
        now = time.monotonic()
        with self._cv:
            self.stats.emitted += len(events)
            if self.stats.handshake == "failed":
                self.stats.dead_lettered += len(events)
                return
            for start in range(0, len(events), self._batch):
                self._push(_Job(now, 0, events[start : start + self._batch], first_try=now))
            self._cv.notify()

    def _push(self, job: _Job) -> None:
        self._seq += 1
        job.seq = self._seq
        heapq.heappush(self._heap, job)

    def idle(self) -> bool:
        with self._cv:
            return not self._heap and self._inflight == 0

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._heap or self._inflight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(min(left, 0.05))
        return True

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        self._thread.join(timeout=0.5)
        if self._session is not None:
            self._session.close()

    # --- the delivery thread ---------------------------------------------------------------

    def _run(self) -> None:
        if self.is_http:
            self._handshake_until_ok()
        while True:
            with self._cv:
                while not self._stopped and (
                    not self._heap or self._heap[0].due > time.monotonic()
                ):
                    wait = self._heap[0].due - time.monotonic() if self._heap else None
                    self._cv.wait(timeout=wait)
                if self._stopped:
                    return
                job = heapq.heappop(self._heap)
                spec = self._faults()
                if job.attempt == 0 and self._dice.chance(spec.reorder):
                    job.due = time.monotonic() + self._dice.uniform(0.0, spec.reorder_window)
                    job.attempt = -1  # held back once; delivered normally afterwards
                    self.stats.held_back += 1
                    self._push(job)
                    continue
                self._inflight += 1
            try:
                self._deliver(job, spec)
            finally:
                with self._cv:
                    self._inflight -= 1
                    self._cv.notify_all()

    def _deliver(self, job: _Job, spec: FaultSpec) -> None:
        ok, retry = self._send(job.events, max(job.attempt, 0))
        with self._cv:
            self.stats.attempts += 1
            if ok:
                self.stats.delivered += len(job.events)
                if job.attempt <= 0 and self._dice.chance(spec.dup):
                    self.stats.duplicated += 1
                    copy = _Job(time.monotonic(), 0, job.events, attempt=1, first_try=job.first_try)
                    self._push(copy)
                return
            self.stats.failed_attempts += 1
            attempt = max(job.attempt, 0) + 1
            elapsed = (time.monotonic() - job.first_try) * self._compression
            if not retry or attempt >= MAX_ATTEMPTS or elapsed >= RETRY_HORIZON:
                self.stats.dead_lettered += len(job.events)
                return
            delay = (
                RETRY_SCHEDULE[attempt - 1]
                if attempt - 1 < len(RETRY_SCHEDULE)
                else RETRY_EVERY_AFTER
            )
            job.attempt = attempt
            job.due = time.monotonic() + delay / self._compression
            self._push(job)

    def _send(self, events: list[dict[str, Any]], attempt: int) -> tuple[bool, bool]:
        """Delivers one batch: (delivered, worth retrying)."""
        if not self.is_http:
            lines = [
                json.dumps(to_cloudevent(e) if self.schema == "cloudevents" else e) + "\n"
                for e in events
            ]
            try:
                with Path(self.destination).open("a", encoding="utf-8") as fh:
                    fh.write("".join(lines))
            except OSError:
                return False, True
            return True, False
        assert self._session is not None
        if self.schema == "eventgrid":
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "aeg-event-type": "Notification",
                "aeg-subscription-name": self.name.upper(),
                "aeg-delivery-count": str(attempt),
                "aeg-data-version": "2",
                "aeg-metadata-version": "1",
            }
            body: Any = events
        elif len(events) == 1:
            headers = {"Content-Type": "application/cloudevents+json; charset=utf-8"}
            body = to_cloudevent(events[0])
        else:
            headers = {"Content-Type": "application/cloudevents-batch+json; charset=utf-8"}
            body = [to_cloudevent(e) for e in events]
        try:
            resp = self._session.post(
                self.destination,
                data=json.dumps(body),
                headers=headers,
                timeout=30,
                verify=self._verify,
            )
        except requests.RequestException:
            return False, True
        if 200 <= resp.status_code <= 204:
            return True, False
        return False, resp.status_code not in NO_RETRY_STATUS

    def _handshake_until_ok(self) -> None:
        attempt = 0
        first = time.monotonic()
        while True:
            if self._handshake():
                with self._cv:
                    self.stats.handshake = "ok"
                return
            attempt += 1
            elapsed = (time.monotonic() - first) * self._compression
            if attempt >= MAX_ATTEMPTS or elapsed >= RETRY_HORIZON:
                with self._cv:
                    self.stats.handshake = "failed"
                    self.stats.dead_lettered += sum(len(j.events) for j in self._heap)
                    self._heap.clear()
                    self._stopped = True
                    self._cv.notify_all()
                return
            delay = RETRY_SCHEDULE[min(attempt - 1, len(RETRY_SCHEDULE) - 1)] / self._compression
            with self._cv:
                if self._cv.wait_for(lambda: self._stopped, timeout=delay):
                    return

    def _handshake(self) -> bool:
        assert self._session is not None
        try:
            if self.schema == "cloudevents":
                resp = self._session.options(
                    self.destination,
                    headers={"WebHook-Request-Origin": ORIGIN, "WebHook-Request-Rate": "120"},
                    timeout=30,
                    verify=self._verify,
                )
                allowed = resp.headers.get("WebHook-Allowed-Origin", "")
                return resp.status_code == 200 and allowed.strip() in (ORIGIN, "*")
            code = str(uuid.uuid4())
            event = validation_event(
                self.topic,
                code,
                f"https://rp-local.eventgrid.azure.net:553/eventsubscriptions/{self.name}"
                f"/validate?id={code}&apiVersion=2018-05-01-preview&token=sim",
            )
            resp = self._session.post(
                self.destination,
                data=json.dumps([event]),
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "aeg-event-type": "SubscriptionValidation",
                    "aeg-subscription-name": self.name.upper(),
                    "aeg-delivery-count": "0",
                    "aeg-data-version": "1",
                    "aeg-metadata-version": "1",
                },
                timeout=30,
                verify=self._verify,
            )
            if resp.status_code != 200:
                return False
            answer = resp.json()
        except (requests.RequestException, ValueError):
            return False
        return isinstance(answer, dict) and answer.get("validationResponse") == code


class EventBus:
    """All event subscriptions of the tenant; ``publish`` never blocks on delivery."""

    def __init__(
        self,
        *,
        dice: Dice,
        faults: Callable[[], FaultSpec],
        compression: float = 1000.0,
        max_events_per_batch: int = 1,
        verify: bool | str = True,
    ) -> None:
        self._dice = dice
        self._faults = faults
        self.compression = compression
        self.max_events_per_batch = max_events_per_batch
        self.verify = verify
        self._sinks: list[Sink] = []
        self._lock = threading.Lock()
        self.published = 0

    def add(self, destination: str, schema: Schema = "eventgrid", topic: str = "") -> Sink:
        sink = Sink(
            destination,
            schema,
            dice=self._dice,
            faults=self._faults,
            compression=self.compression,
            max_events_per_batch=self.max_events_per_batch,
            verify=self.verify,
            topic=topic or "/subscriptions/00000000-0000-0000-0000-000000000000",
            name=f"phiguard-sim-{len(self._sinks) + 1}",
        )
        with self._lock:
            self._sinks.append(sink)
        return sink

    def clear(self) -> None:
        with self._lock:
            sinks, self._sinks = self._sinks, []
        for sink in sinks:
            sink.stop()

    def sinks(self) -> list[Sink]:
        with self._lock:
            return list(self._sinks)

    def publish(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        with self._lock:
            self.published += len(events)
            sinks = list(self._sinks)
        for sink in sinks:
            sink.emit(events)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        return all(s.wait_idle(max(0.0, deadline - time.monotonic())) for s in self.sinks())

    def describe(self) -> dict[str, Any]:
        return {"published": self.published, "subscriptions": [s.describe() for s in self.sinks()]}


def parse_destination(spec: str) -> tuple[str, Schema]:
    """``URL``, ``FILE``, or either prefixed ``cloudevents:`` / ``eventgrid:`` to pick the schema."""
    schema: Schema = "eventgrid"
    for prefix, value in (("cloudevents:", "cloudevents"), ("eventgrid:", "eventgrid")):
        if spec.startswith(prefix):
            return spec[len(prefix) :], value  # type: ignore[return-value]
    return spec, schema
