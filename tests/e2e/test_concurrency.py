"""Two handlers on one resource at once: no lost update, no duplicate history.

Two pipelines stand for two Function instances (each its own reader, store client and memory)
sharing one state table in Azurite; the simulated tenant changes the resource between their
reads. Whatever order their writes land in, the stored state must end equal to ARM's final
state, and the history must hold each status transition once, chained (each ``from`` is the
previous ``to``).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shared.arm import ArmReader
from shared.engine import Engine
from shared.events import parse_delivery
from shared.kernel.changes import Cause
from shared.kernel.snapshot import Snapshot
from shared.pipeline import BatchResult, Pipeline
from shared.state.tables import TableStateStore
from sim.azurite import AzuriteEndpoints
from sim.estate import demo_estate
from sim.fixture import SimHandle, running_sim

pytestmark = pytest.mark.slow

CHECK = "storage_account_min_tls_1_2"
WAIT = 10.0  # seconds any step may take before the test fails instead of hanging


class PausingReader(ArmReader):
    """An ArmReader that runs a hook, per thread name, right after reading a resource."""

    def __init__(self, sim: SimHandle) -> None:
        super().__init__(sim.arm_url, sim.credential, ca_cert=sim.ca_cert)
        self.after_read: dict[str, Callable[[], None]] = {}

    def snapshot(
        self,
        resource_id: str,
        engine: Engine,
        resource: dict[str, Any] | None = None,
        group: Mapping[str, Any] | None = None,
        *,
        fresh_lists: bool = False,
    ) -> Snapshot | None:
        snapshot = super().snapshot(resource_id, engine, resource, group, fresh_lists=fresh_lists)
        hook = self.after_read.get(threading.current_thread().name)
        if hook is not None:
            hook()
        return snapshot


@dataclass
class Instance:
    """One Function instance: its own reader, store client and pipeline."""

    reader: PausingReader
    store: TableStateStore
    pipeline: Pipeline
    results: list[BatchResult] = field(default_factory=list)


@dataclass
class World:
    sim: SimHandle
    events_file: Path
    engine: Engine
    a: Instance
    b: Instance
    resource_id: str

    def change_tls(self, version: str) -> bytes:
        """Changes the account as a user; returns the delivery Event Grid would POST."""
        self.drain()
        self.sim.change_as_user(
            "PATCH",
            self.resource_id,
            {"properties": {"minimumTlsVersion": version}},
            api_version="2025-01-01",
        )
        events = self.drain()
        assert events, "the simulated tenant emitted no event"
        return json.dumps(events).encode()

    def drain(self) -> list[dict[str, Any]]:
        self.sim.wait_for_events(WAIT)
        text = self.events_file.read_text() if self.events_file.exists() else ""
        self.events_file.write_text("")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def handle_in_thread(self, instance: Instance, name: str, body: bytes) -> threading.Thread:
        supported = self.engine.supported_types()

        def run() -> None:
            delivery = parse_delivery(
                body, {"aeg-event-type": "Notification"}, supported_types=supported
            )
            instance.results.append(instance.pipeline.handle(delivery))

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        return thread

    def stored(self) -> dict[str, str]:
        return {f.check_id: f.status for f in self.a.store.current(resource_id=self.resource_id)}

    def arm_truth(self) -> dict[str, str]:
        snapshot = self.a.reader.snapshot(self.resource_id, self.engine)
        assert snapshot is not None
        return {f.check_id: f.status.value for f in self.engine.evaluate(snapshot).findings}

    def assert_history_clean(self) -> None:
        history = self.a.store.history(self.resource_id)
        keys = [(t.check_id, t.from_status, t.to_status, t.at) for t in history]
        assert len(keys) == len(set(keys)), f"duplicate transitions: {keys}"
        last: dict[str, str | None] = {}
        for t in history:
            assert t.from_status == last.get(t.check_id), f"broken chain at {t}"
            last[t.check_id] = t.to_status
        assert last == self.stored(), "history does not end at the stored state"


@pytest.fixture()
def world(azurite: AzuriteEndpoints, tmp_path: Path) -> Iterator[World]:
    events_file = tmp_path / "events.ndjson"
    prefix = "conc" + uuid.uuid4().hex[:10]
    engine = Engine()
    account = next(
        d
        for d in demo_estate().documents
        if str(d.get("type", "")).lower() == "microsoft.storage/storageaccounts"
        and d.get("name") == "stchsphirecords"
    )
    with running_sim(estate="demo", events_to=str(events_file)) as sim:

        def instance() -> Instance:
            reader = PausingReader(sim)
            store = TableStateStore.from_connection_string(azurite.connection_string, prefix)
            return Instance(reader, store, Pipeline(engine, reader, store, workers=1))

        a, b = instance(), instance()
        a.store.ensure_tables()
        world = World(sim, events_file, engine, a, b, str(account["id"]))
        world.change_tls("TLS1_2")
        a.pipeline.evaluate_resource(world.resource_id, Cause(kind="cli"))
        assert world.stored()[CHECK] == "PASS"
        yield world


def test_older_read_landing_last_is_not_a_lost_update(world: World) -> None:
    """A reads TLS 1.0 and stalls; the user restores TLS 1.2; B reads and records it; then A's
    older read arrives at the store: it must not overwrite B's newer state."""
    a_read, release_a = threading.Event(), threading.Event()

    def pause() -> None:
        a_read.set()
        assert release_a.wait(WAIT)

    world.a.reader.after_read["handler-a"] = pause
    broke = world.change_tls("TLS1_0")
    thread_a = world.handle_in_thread(world.a, "handler-a", broke)
    assert a_read.wait(WAIT)
    fixed = world.change_tls("TLS1_2")
    thread_b = world.handle_in_thread(world.b, "handler-b", fixed)
    thread_b.join(WAIT)
    assert not thread_b.is_alive()
    release_a.set()
    thread_a.join(WAIT)
    assert not thread_a.is_alive()

    assert [o.action for r in world.a.results for o in r.outcomes] == ["stale"]
    assert world.stored() == world.arm_truth()
    assert world.stored()[CHECK] == "PASS"
    world.assert_history_clean()
    assert [
        t.to_status for t in world.a.store.history(world.resource_id) if t.check_id == CHECK
    ] == ["PASS"]


def test_racing_writes_converge_on_the_newest_read(world: World) -> None:
    """A reads TLS 1.0, the user restores TLS 1.2, B reads it; both then write at the same
    instant (an ETag race on the resource's partition)."""
    a_read = threading.Event()
    both_read = threading.Barrier(2, timeout=WAIT)

    def pause_a() -> None:
        a_read.set()
        both_read.wait()

    def pause_b() -> None:
        both_read.wait()

    world.a.reader.after_read["handler-a"] = pause_a
    world.b.reader.after_read["handler-b"] = pause_b
    broke = world.change_tls("TLS1_0")
    thread_a = world.handle_in_thread(world.a, "handler-a", broke)
    assert a_read.wait(WAIT)
    fixed = world.change_tls("TLS1_2")
    thread_b = world.handle_in_thread(world.b, "handler-b", fixed)
    for thread in (thread_a, thread_b):
        thread.join(WAIT)
        assert not thread.is_alive()

    assert world.stored() == world.arm_truth()
    assert world.stored()[CHECK] == "PASS"
    world.assert_history_clean()
    statuses = [
        t.to_status for t in world.a.store.history(world.resource_id) if t.check_id == CHECK
    ]
    # A's FAIL is history only if it committed before B's PASS, and then exactly once.
    assert statuses in (["PASS"], ["PASS", "FAIL", "PASS"])


def test_one_instance_reads_a_resource_once_for_concurrent_deliveries(world: World) -> None:
    """Two deliveries naming the same change reach one instance at once (Event Grid's
    at-least-once): the second waits for the first and is coalesced, with no second ARM read."""
    first_read, release = threading.Event(), threading.Event()

    def pause() -> None:
        first_read.set()
        assert release.wait(WAIT)

    world.a.reader.after_read["delivery-1"] = pause
    broke = world.change_tls("TLS1_0")
    reads_before = world.a.reader.stats.by_kind.get("resource", 0)
    first = world.handle_in_thread(world.a, "delivery-1", broke)
    assert first_read.wait(WAIT)
    second = world.handle_in_thread(world.a, "delivery-2", broke)
    second.join(0.3)
    assert second.is_alive(), "the second delivery should wait for the first one's record"
    release.set()
    for thread in (first, second):
        thread.join(WAIT)
        assert not thread.is_alive()

    assert world.a.reader.stats.by_kind.get("resource", 0) - reads_before == 1
    assert sorted(o.action for r in world.a.results for o in r.outcomes) == [
        "duplicate",
        "recorded",
    ]
    assert world.stored() == world.arm_truth()
    assert world.stored()[CHECK] == "FAIL"
    world.assert_history_clean()
