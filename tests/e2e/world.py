"""The end-to-end world: the simulated tenant (demo estate) with an event sink, Azurite, and
the app's composition root wired to both, driven through the real Function entry points."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func

import function_app
from shared.config import Settings
from shared.context import AppContext, reset_app_context
from sim.azurite import AzuriteEndpoints
from sim.estate import demo_estate
from sim.fixture import SimHandle, running_sim

WEBHOOK = function_app.events_webhook.build().get_user_function()


@dataclass
class World:
    sim: SimHandle
    ctx: AppContext
    events_file: Path

    def drain_events(self) -> list[dict[str, Any]]:
        self.sim.wait_for_events(10)
        lines = self.events_file.read_text().splitlines() if self.events_file.exists() else []
        self.events_file.write_text("")
        return [json.loads(line) for line in lines if line.strip()]

    def post(self, events: list[dict[str, Any]]) -> func.HttpResponse:
        request = func.HttpRequest(
            "POST",
            "https://phiguard.example/api/events",
            headers={"aeg-event-type": "Notification", "content-type": "application/json"},
            body=json.dumps(events).encode(),
        )
        response: func.HttpResponse = WEBHOOK(request)
        return response

    def status(self, resource_id: str, check_id: str) -> str | None:
        rows = self.ctx.store.current(resource_id=resource_id, include_inactive=True)
        return next((r.status for r in rows if r.check_id == check_id), None)


def find(kind: str, name: str) -> dict[str, Any]:
    return next(
        d
        for d in demo_estate().documents
        if d.get("type", "").lower() == kind and d.get("name") == name
    )


@contextmanager
def running_world(
    azurite: AzuriteEndpoints,
    tmp_path: Path,
    environ: Callable[[SimHandle], Mapping[str, str]] | None = None,
    **overrides: Any,
) -> Iterator[World]:
    """The world, with ``overrides`` applied to the app's Settings; a fresh table prefix.
    ``environ``: the notification and tracker settings, made from the running sim (none: the
    people side is off)."""
    events_file = tmp_path / "events.ndjson"
    with running_sim(estate="demo", events_to=str(events_file)) as sim:
        settings = Settings(
            storage_connection_string=azurite.connection_string,
            table_prefix="e2e" + uuid.uuid4().hex[:10],
            **sim.settings_kwargs(),
        ).with_overrides(**overrides)
        ctx = AppContext(settings, environ=dict(environ(sim)) if environ else {})
        reset_app_context(ctx)
        try:
            yield World(sim, ctx, events_file)
        finally:
            reset_app_context(None)
