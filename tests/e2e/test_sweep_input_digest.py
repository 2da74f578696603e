"""A sweep judges only what may have changed: a resource whose marker was recorded from the
inputs the sweep reads again (``Engine.input_digest``: the code, the checks, the PHI scope, the
documents, the mute rules) is confirmed without being judged. What must still be judged, and
that the state left is what judging everything again would leave. Through the real sweep, the
simulated tenant (demo estate) and Azurite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from shared.context import AppContext
from shared.engine import Engine, Evaluation
from shared.kernel.resource_id import normalize, parse
from shared.kernel.snapshot import Snapshot
from shared.mutes import new_rule
from shared.state.keys import MARKER_ROW, partition_key
from shared.state.model import PROCESSING_CHECK
from sim.azurite import AzuriteEndpoints
from sim.estate import demo_estate
from tests.e2e.world import World, running_world
from tests.e2e.world import find as _find

pytestmark = pytest.mark.slow

STORAGE = _find("microsoft.storage/storageaccounts", "stchsphirecords")
RECORDS = str(STORAGE["id"])
SUBSCRIPTION = parse(RECORDS).subscription or ""
TLS_CHECK = "storage_account_min_tls_1_2"


def judged(world: World, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The resources the engine judges from now on (normalised ids), in order."""
    seen: list[str] = []
    engine = world.ctx.engine
    evaluate = Engine.evaluate

    def counted(self: Engine, snapshot: Snapshot, *args: Any, **kwargs: Any) -> Evaluation:
        if self is engine:
            seen.append(normalize(snapshot.id))
        return evaluate(self, snapshot, *args, **kwargs)

    monkeypatch.setattr(Engine, "evaluate", counted)
    return seen


def _marker(world: World, resource_id: str) -> dict[str, Any]:
    connection = world.ctx.settings.storage_connection_string
    assert connection is not None
    store: Any = world.ctx.store
    table = TableServiceClient.from_connection_string(connection).get_table_client(
        store.state_table
    )
    row = table.get_entity(partition_key(resource_id), MARKER_ROW)
    return {**row, "etag": row.metadata["etag"]}


def _statuses(world: World) -> dict[tuple[str, str], str]:
    return {
        (normalize(f.resource_id), f.check_id): f.status
        for f in world.ctx.store.current(subscriptions=[SUBSCRIPTION])
    }


def _judged_afresh(world: World) -> dict[tuple[str, str], str]:
    """Every verdict of the subscription judged again from scratch (a report-only sweep)."""
    fresh = AppContext(world.ctx.settings, report_only=True).pipeline
    fresh.sweep(SUBSCRIPTION)
    return {
        (normalize(f.resource_id), f.check_id): f.status
        for f in fresh.store.current(subscriptions=[SUBSCRIPTION])
    }


def _patch(world: World, body: dict[str, Any]) -> None:
    world.sim.change_as_user("PATCH", RECORDS, body, api_version="2025-01-01")


def test_an_unchanged_sweep_judges_nothing_and_leaves_what_judging_would(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.ctx.pipeline.sweep(SUBSCRIPTION)
    seen = judged(world, monkeypatch)

    result = world.ctx.pipeline.sweep(SUBSCRIPTION)

    assert len(result.outcomes) > 20
    assert seen == [], "every resource was recorded from the inputs read again"
    assert {o.action for o in result.outcomes} == {"unchanged"}
    assert _statuses(world) == _judged_afresh(world)


def test_a_changed_resource_is_judged_and_only_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.ctx.pipeline.sweep(SUBSCRIPTION)
    assert world.status(RECORDS, TLS_CHECK) == "PASS"
    seen = judged(world, monkeypatch)

    _patch(world, {"properties": {"minimumTlsVersion": "TLS1_0"}})
    world.ctx.pipeline.sweep(SUBSCRIPTION)

    assert seen == [normalize(RECORDS)]
    assert world.status(RECORDS, TLS_CHECK) == "FAIL"
    assert _statuses(world) == _judged_afresh(world)


def test_a_change_no_check_reads_rewrites_the_marker_once_then_is_not_judged(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.ctx.pipeline.sweep(SUBSCRIPTION)
    before = _marker(world, RECORDS)
    seen = judged(world, monkeypatch)

    _patch(world, {"tags": {**STORAGE.get("tags", {}), "costcenter": "4711"}})
    world.ctx.pipeline.sweep(SUBSCRIPTION)
    after = _marker(world, RECORDS)

    assert seen == [normalize(RECORDS)]
    # The same verdicts: no check row written, the marker carries the new inputs' digest.
    assert after["content_digest"] == before["content_digest"]
    assert after["input_digest"] not in ("", before["input_digest"])
    assert after["version"] == before["version"] + 1
    seen.clear()
    world.ctx.pipeline.sweep(SUBSCRIPTION)
    assert seen == []
    assert _marker(world, RECORDS)["etag"] == after["etag"]


def test_a_mute_added_or_expired_between_sweeps_is_judged_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _patch(world, {"properties": {"minimumTlsVersion": "TLS1_0"}})
    world.ctx.pipeline.sweep(SUBSCRIPTION)
    assert world.status(RECORDS, TLS_CHECK) == "FAIL"
    now = datetime.now(UTC)
    rule = new_rule(
        check=TLS_CHECK,
        resource=RECORDS,
        reason="legacy client until the migration",
        approver="ciso@contoso.com",
        expires_at=now + timedelta(days=30),
        created_by="oncall@contoso.com",
        known_checks=world.ctx.engine.catalog,
        now=now,
        max_days=world.ctx.settings.mute_max_days,
    )
    world.ctx.mutes.add(rule)
    seen = judged(world, monkeypatch)

    world.ctx.pipeline.sweep(SUBSCRIPTION)
    assert world.status(RECORDS, TLS_CHECK) == "MUTED"
    assert seen == [normalize(RECORDS)]  # the one resource the rule names

    seen.clear()
    world.ctx.pipeline.sweep(SUBSCRIPTION)
    assert seen == []

    # The rule's expiry passes: the same rules, no longer holding, are other inputs.
    later = now + timedelta(days=31)
    monkeypatch.setattr("shared.kernel.clock.utcnow", lambda: later)
    world.ctx.pipeline.sweep(SUBSCRIPTION)
    assert seen == [normalize(RECORDS)]
    assert world.status(RECORDS, TLS_CHECK) == "FAIL"


def test_an_error_recorded_since_is_judged_again_and_closed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.kernel.changes import Cause

    world.ctx.pipeline.sweep(SUBSCRIPTION)
    world.ctx.store.record_error(
        RECORDS, stage="evaluating its checks", error=RuntimeError("x"), cause=Cause("event")
    )
    assert world.status(RECORDS, PROCESSING_CHECK) == "ERROR"
    seen = judged(world, monkeypatch)

    world.ctx.pipeline.sweep(SUBSCRIPTION)

    assert seen == [normalize(RECORDS)]
    assert world.status(RECORDS, PROCESSING_CHECK) == "CLOSED"


@pytest.fixture
def enforcing_world(azurite: AzuriteEndpoints, tmp_path: Path) -> Iterator[World]:
    """A deployment that lets the storage transport fix write (enforce mode, on the
    allow-list); it applies to PHI storage accounts only."""
    with running_world(
        azurite,
        tmp_path,
        remediation_mode="enforce",
        remediation_allow=("storage_account_secure_transport",),
    ) as built:
        yield built


def test_where_a_fix_may_catch_up_a_failure_the_resource_is_judged_every_sweep(
    enforcing_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = enforcing_world
    world.ctx.pipeline.sweep(SUBSCRIPTION)
    seen = judged(world, monkeypatch)

    world.ctx.pipeline.sweep(SUBSCRIPTION)

    storage = {
        normalize(str(d["id"]))
        for d in demo_estate().documents
        if str(d.get("type", "")).lower() == "microsoft.storage/storageaccounts"
        and normalize(str(d["id"])).startswith(f"/subscriptions/{SUBSCRIPTION.lower()}/")
    }
    rows = {rid: world.ctx.store.current(resource_id=rid) for rid in storage}
    failing_phi = {
        rid
        for rid, found in rows.items()
        if any(f.phi for f in found) and any(f.status == "FAIL" for f in found)
    }
    passing_phi = {rid for rid, found in rows.items() if any(f.phi for f in found)} - failing_phi
    assert failing_phi and passing_phi, "the subscription has both"
    # Only a resource with a failure a fix may catch up on is judged again.
    assert sorted(set(seen)) == sorted(failing_phi)
