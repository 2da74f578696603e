"""A sweep writes its resources' ACTION_REQUIRED records together (``shared.follow_up_batch``):
fewer requests than records, several resources in one transaction, every pending follow-up
cleared once its records are in; a resource whose records cannot be written keeps its follow-up
pending, the others are not held back, and the next sweep after the lease takes it over.
Through the real sweep, the simulated tenant and Azurite."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.kernel.resource_id import normalize, parse
from shared.remediation_log import RecordStatus, RemediationRecord
from tests.e2e.world import World
from tests.e2e.world import find as _find

pytestmark = pytest.mark.slow

VAULT = _find("microsoft.keyvault/vaults", "kv-chs-phi-app")["id"]
PURGE = "keyvault_vault_purge_protection_enabled"


def _asked(world: World) -> dict[str, set[str]]:
    """The checks each resource's ACTION_REQUIRED records name, by normalized resource id."""
    out: dict[str, set[str]] = {}
    for record in world.ctx.remediation_log.records(days=1, limit=1000):
        if record.status == RecordStatus.ACTION_REQUIRED:
            out.setdefault(normalize(record.resource_id), set()).update(record.check_ids)
    return out


def _processing(world: World, resource_id: str) -> Any:
    from shared.state.model import PROCESSING_CHECK

    rows = [r for r in world.ctx.store.current(resource_id) if r.check_id == PROCESSING_CHECK]
    return rows[0] if rows else None


def _pending(world: World, resource_id: str) -> tuple[str, ...]:
    marker = world.ctx.store.marker(resource_id)
    assert marker is not None, resource_id
    return marker.actions_pending


def test_a_sweeps_action_required_records_share_transactions(world: World) -> None:
    client = world.ctx.remediation_log._log
    manual_writes: list[set[str]] = []  # per request writing manual records: their resources
    real_submit, real_create = client.submit_transaction, client.create_entity

    def note(entities: list[Any]) -> None:
        manual = {e[1]["resource_key"] for e in entities if e[1].get("mode") == "manual"}
        if manual:
            manual_writes.append(manual)

    def submit(operations: Any, **kwargs: Any) -> Any:
        operations = list(operations)
        note(operations)
        return real_submit(operations, **kwargs)

    def create(entity: Any, **kwargs: Any) -> Any:
        note([("create", entity)])
        return real_create(entity, **kwargs)

    client.submit_transaction, client.create_entity = submit, create  # type: ignore[method-assign]
    world.ctx.pipeline.sweep(parse(VAULT).subscription or "")

    asked = _asked(world)
    assert len(asked) > 3 and PURGE in asked[normalize(VAULT)]
    # One request for the records of every failing resource (the demo estate's fit in one
    # transaction), not one per resource.
    assert len(manual_writes) < len(asked)
    assert set().union(*manual_writes) >= set(asked)
    assert max(len(resources) for resources in manual_writes) > 1
    for resource_key in asked:
        assert _pending(world, resource_key) == (), resource_key


def test_a_resource_whose_records_fail_keeps_its_follow_up_and_holds_no_one_back(
    world: World,
) -> None:
    log = world.ctx.remediation_log
    real_insert_many = log.insert_many

    def refusing(records: Sequence[RemediationRecord]) -> list[RemediationRecord]:
        if any(normalize(r.resource_id) == normalize(VAULT) for r in records):
            raise ValueError("an unwritable record (test)")
        return real_insert_many(records)

    log.insert_many = refusing  # type: ignore[method-assign]
    subscription = parse(VAULT).subscription or ""
    world.ctx.pipeline.sweep(subscription)

    asked = _asked(world)
    assert normalize(VAULT) not in asked
    assert PURGE in _pending(world, VAULT)  # the outbox still lists it
    # Not only logged: the resource shows it could not be followed up, as on the event path.
    processing = _processing(world, VAULT)
    assert processing is not None and processing.status == "ERROR"
    assert "following up its failures" in processing.reason
    assert "unwritable" not in processing.reason  # the exception's type, never its text
    assert len(asked) > 3
    for resource_key in asked:
        assert _pending(world, resource_key) == (), resource_key

    log.insert_many = real_insert_many  # type: ignore[method-assign]
    later = datetime.now(UTC) + timedelta(seconds=61)  # past the follow-up's lease
    world.ctx.pipeline.clock = lambda: later
    world.ctx.pipeline.sweep(subscription)
    assert PURGE in _asked(world)[normalize(VAULT)]
    assert _pending(world, VAULT) == ()
    processing = _processing(world, VAULT)
    assert processing is None or processing.status != "ERROR"
