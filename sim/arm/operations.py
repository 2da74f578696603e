"""Long-running operations: which writes are asynchronous (``Azure-AsyncOperation``) or
answered with ``Location``, the monitors a client polls, and finishing due operations."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from sim import ids
from sim.arm.core import ArmCore
from sim.arm.model import (
    ASYNC_LRO,
    LOCATION_LRO,
    ArmRequest,
    ArmResponse,
    Operation,
    iso_now,
    to_json,
    type_matches,
)
from sim.ids import Target


class ArmOperations(ArmCore):
    """Starts, finishes and reports long-running operations."""

    def _lro_style(self, type_key: str) -> str:
        if type_key in LOCATION_LRO:
            return "location"
        if type_matches(ASYNC_LRO, type_key):
            return "async"
        return "sync"

    def _new_operation(
        self,
        req: ArmRequest,
        target: Target,
        doc: dict[str, Any] | None,
        method: str,
        finish: Callable[[], None] | None,
    ) -> Operation:
        op_id = str(uuid.UUID(int=self._bits() & ((1 << 128) - 1), version=4))
        loc = "global"
        if doc is not None and isinstance(doc.get("location"), str):
            loc = doc["location"].replace(" ", "").lower() or "global"
        ns = target.namespace or "Microsoft.Resources"
        sub = target.subscription or "00000000-0000-0000-0000-000000000000"
        base = f"/subscriptions/{sub}/providers/{ns}/locations/{loc}"
        now = time.monotonic()
        op = Operation(
            op_id=op_id,
            method=method,
            resource_key=target.key,
            type_key=target.type_key,
            async_path=f"{base}/operations/{op_id}",
            location_path=f"{base}/operationResults/{op_id}",
            api_version=req.api_version,
            started=time.time(),
            ready_at=now + self.options.lro_duration,
            finish=finish,
        )
        self._ops[ids.key(op.async_path)] = op
        self._ops[ids.key(op.location_path)] = op
        if self.options.lro_duration <= 0:
            self._complete(op)
        else:
            self._pending.append(op)
        return op

    def _complete(self, op: Operation) -> None:
        if op.status != "InProgress":
            return
        op.status = "Succeeded"
        op.ended = time.time()
        if op.finish is not None:
            op.finish()
            op.finish = None

    def _finish_due(self) -> None:
        if not self._pending:
            return
        now = time.monotonic()
        due = [op for op in self._pending if op.ready_at <= now]
        if due:
            self._pending = [op for op in self._pending if op.ready_at > now]
            for op in due:
                self._complete(op)

    def tick(self) -> None:
        """Completes due operations (called periodically by the server)."""
        if self._pending:
            with self.lock:
                self._finish_due()

    def _retry_after(self) -> str:
        value = self.options.lro_retry_after
        return str(int(value)) if float(value).is_integer() else f"{value:g}"

    def _lro_headers(self, op: Operation, style: str) -> list[tuple[str, str]]:
        headers = [("Retry-After", self._retry_after())]
        if style == "async":
            headers.append(
                (
                    "Azure-AsyncOperation",
                    self._link(op.async_path, **{"api-version": op.api_version}),
                )
            )
        if style != "async" or op.method == "DELETE":
            headers.append(
                ("Location", self._link(op.location_path, **{"api-version": op.api_version}))
            )
        return headers

    def _operation_status(self, op: Operation, req: ArmRequest) -> ArmResponse:
        is_async = ids.key(req.path) == ids.key(op.async_path)
        running = op.status == "InProgress"
        extra = [("Retry-After", self._retry_after())] if running else []
        if is_async:
            body: dict[str, Any] = {
                "id": op.async_path,
                "name": op.op_id,
                "status": op.status,
                "startTime": iso_now(op.started),
            }
            if not running:
                body["endTime"] = iso_now(op.ended)
            return ArmResponse(200, to_json(body), extra)
        if running:
            link = self._link(op.location_path, **{"api-version": op.api_version})
            return ArmResponse(202, b"", [*extra, ("Location", link)])
        if op.method == "DELETE":
            return ArmResponse(204)
        entry = self.store.get(op.resource_key)
        if entry is None:
            return ArmResponse(204)
        return self._doc_response(entry)
