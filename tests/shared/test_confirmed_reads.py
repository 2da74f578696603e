"""A sweep's read that finds a resource's record as it stands is confirmed in the reads table,
batched by resource group, instead of rewriting the resource's marker (one Tables request per
resource was half of a warm sweep's CPU). What the confirmation may and may not vouch for, on
Azurite through the real SDK."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.data.tables import TableServiceClient, UpdateMode

from shared.kernel.changes import Cause
from shared.kernel.findings import Status
from shared.state.batch import LeanTransactionsTableClient
from shared.state.keys import partition_key, read_partition
from shared.state.tables import TableStateStore
from sim.azurite import AzuriteEndpoints
from tests.shared.test_state_store import (
    CAUSE,
    RID,
    SWEEP,
    T0,
    T1,
    T2,
    T3,
    THREE,
    etags,
    evaluation,
    raw_table,
)

SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
GROUP = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-phi"
OTHER = RID.replace("phidata", "phiother")


def _read_times(store: TableStateStore, **kw: Any) -> set[Any]:
    return {f.last_evaluated_at for f in store.current(**kw) if f.status != "NOT_APPLICABLE"}


def _reads_rows(store: TableStateStore, azurite: AzuriteEndpoints) -> list[dict[str, Any]]:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    return list(service.get_table_client(store.reads_table).list_entities())


def test_an_unchanged_sweep_read_leaves_the_state_table_and_is_confirmed_once_flushed(
    store: TableStateStore, azurite: AzuriteEndpoints
) -> None:
    table = raw_table(store, azurite)
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    before = etags(table)

    # As the sweep names its cause: its start, no event.
    out = store.record_evaluation(
        evaluation(THREE), read_at=T1, cause=Cause("sweep", event_time=T1)
    )

    assert (out.outcome, out.writes, out.transitions) == ("unchanged", 0, ())
    assert not out.read_on_marker  # the event path's horizon must not learn it
    assert etags(table) == before
    marker = store.marker(RID)
    assert marker is not None and marker.last_read_at == T0  # the stale-read guard stays
    assert (marker.last_event_id, marker.last_event_time) == ("evt-1", T0)
    # The outcome's own view says what the read confirmed.
    assert out.current is not None
    assert {f.last_evaluated_at for f in out.current()} == {T1}
    assert _read_times(store, resource_id=RID) == {T0}  # waiting for its transaction

    store.flush_reads()

    assert etags(table) == before
    assert _read_times(store, resource_id=RID) == {T1}
    assert _read_times(store) == {T1}
    assert _read_times(store, subscriptions=[SUBSCRIPTION]) == {T1}
    rows = _reads_rows(store, azurite)
    assert [(r["PartitionKey"], r["RowKey"]) for r in rows] == [
        (read_partition(partition_key(RID)), partition_key(RID))
    ]
    assert rows[0]["PartitionKey"] == "|subscriptions|" + SUBSCRIPTION + "|resourcegroups|rg-phi|"


def test_a_record_since_the_confirmation_voids_it(store: TableStateStore) -> None:
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    store.record_evaluation(evaluation(THREE), read_at=T2, cause=SWEEP)
    store.flush_reads()
    assert _read_times(store, resource_id=RID) == {T2}

    # An event's read older than the sweep's, recorded after it, that found a change: the
    # sweep's read no longer describes what is stored, so it is no longer claimed.
    flipped = dict(THREE, storage_account_min_tls_1_2=Status.FAIL)
    out = store.record_evaluation(evaluation(flipped), read_at=T1, cause=CAUSE)

    assert out.outcome == "changed"
    assert _read_times(store, resource_id=RID) == {T1}
    assert [f.last_evaluated_at for f in store.current(RID) if f.status == "FAIL"] == [T1, T1]


def test_a_change_found_by_a_sweep_writes_the_marker_as_before(store: TableStateStore) -> None:
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    flipped = dict(THREE, storage_account_min_tls_1_2=Status.FAIL)

    out = store.record_evaluation(evaluation(flipped), read_at=T1, cause=SWEEP)

    assert out.outcome == "changed" and out.read_on_marker
    marker = store.marker(RID)
    assert marker is not None and marker.last_read_at == T1


def test_resources_confirmed_since_are_not_taken_for_unread(store: TableStateStore) -> None:
    for rid in (RID, OTHER):
        store.record_evaluation(evaluation(THREE, rid=rid), read_at=T0, cause=CAUSE)
    store.record_evaluation(evaluation(THREE, rid=RID), read_at=T2, cause=SWEEP)
    store.flush_reads()

    for scope in (GROUP, f"/subscriptions/{SUBSCRIPTION}"):
        unread = store.resources_unread_since(scope, T1)
        assert unread == [OTHER], scope
    # A confirmation older than the sweep's start does not count.
    assert set(store.resources_unread_since(GROUP, T3)) == {RID, OTHER}


def test_confirmations_go_in_transactions_of_a_group(
    store: TableStateStore, azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = RID.replace("rg-phi", "rg-two")
    ids = [RID.replace("phidata", f"phi{i:03d}") for i in range(150)]
    ids += [elsewhere.replace("phidata", f"two{i}") for i in range(3)]
    for rid in ids:
        store.record_evaluation(evaluation(THREE, rid=rid), read_at=T0, cause=CAUSE)
    sizes: list[int] = []
    real = LeanTransactionsTableClient.submit_transaction

    def counted(self: LeanTransactionsTableClient, operations: Any, **kw: Any) -> Any:
        listed = list(operations)
        if self.table_name == store.reads_table:
            sizes.append(len(listed))
        return real(self, listed, **kw)

    monkeypatch.setattr(LeanTransactionsTableClient, "submit_transaction", counted)
    for rid in ids:
        store.record_evaluation(evaluation(THREE, rid=rid), read_at=T1, cause=SWEEP)
    assert sizes == []  # held for the end of their group
    assert store.flush_reads(GROUP) == []

    assert sorted(sizes) == [50, 100]
    assert store.flush_reads() == []
    assert sorted(sizes) == [3, 50, 100]
    assert len(_reads_rows(store, azurite)) == 153
    assert _read_times(store) == {T1}


def test_a_confirmation_that_cannot_be_written_is_logged_and_nothing_else_fails(
    store: TableStateStore, azurite: AzuriteEndpoints, caplog: pytest.LogCaptureFixture
) -> None:
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    TableServiceClient.from_connection_string(azurite.connection_string).delete_table(
        store.reads_table
    )
    store.record_evaluation(evaluation(THREE), read_at=T1, cause=SWEEP)

    with caplog.at_level(logging.WARNING, logger="shared.state.tables"):
        store.flush_reads()

    assert "could not record 1 confirmed read(s)" in caplog.text
    assert "|resourcegroups|rg-phi|" in caplog.text
    # A store whose reads table is gone reads as one with no confirmations.
    assert _read_times(store, resource_id=RID) == {T0}
    assert store.resources_unread_since(GROUP, T1) == [RID]


@pytest.mark.parametrize(
    "damage",
    [
        {"marker_etag": 'W/"another"'},
        {"read_at": "yesterday"},
        {"read_at": 12345},
        {"marker_etag": None},
        # A read dated far ahead (a forged or clock-broken row) vouches for nothing either.
        {"read_at": datetime(9999, 12, 31, tzinfo=UTC)},
    ],
)
def test_a_damaged_confirmation_vouches_for_nothing(
    store: TableStateStore, azurite: AzuriteEndpoints, damage: dict[str, Any]
) -> None:
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    store.record_evaluation(evaluation(THREE), read_at=T1, cause=SWEEP)
    store.flush_reads()
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    reads = service.get_table_client(store.reads_table)
    row = next(iter(reads.list_entities()))
    row.update({k: v for k, v in damage.items() if v is not None})
    for name in [k for k, v in damage.items() if v is None]:
        row.pop(name, None)
    reads.upsert_entity(row, mode=UpdateMode.REPLACE)

    assert _read_times(store, resource_id=RID) == {T0}
    assert store.resources_unread_since(GROUP, T1 - timedelta(0)) == [RID]


def test_the_same_resource_confirmed_twice_keeps_the_newer_read(store: TableStateStore) -> None:
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    store.record_evaluation(evaluation(THREE), read_at=T2, cause=SWEEP)
    store.record_evaluation(evaluation(THREE), read_at=T1, cause=SWEEP)
    store.flush_reads()
    assert _read_times(store, resource_id=RID) == {T2}


def test_a_partial_sweep_read_confirms_nothing(store: TableStateStore) -> None:
    import dataclasses

    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    partial = dataclasses.replace(evaluation(THREE), partial=True)
    out = store.record_evaluation(partial, read_at=T1, cause=SWEEP)
    store.flush_reads()
    assert (out.outcome, out.writes) == ("unchanged", 0)
    assert _read_times(store, resource_id=RID) == {T0}
    assert Cause("sweep") == SWEEP


def test_many_small_groups_do_not_wait_for_the_sweeps_end(
    store: TableStateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shared.state.tables as tables

    monkeypatch.setattr(tables, "_READS_WAITING_LIMIT", 5)
    ids = [RID.replace("rg-phi", f"rg-{i}") for i in range(7)]
    for rid in ids:
        store.record_evaluation(evaluation(THREE, rid=rid), read_at=T0, cause=CAUSE)
    for rid in ids:
        store.record_evaluation(evaluation(THREE, rid=rid), read_at=T1, cause=SWEEP)

    # The first five went together when the fifth came; the last two wait for a flush.
    confirmed = {rid for rid in ids if _read_times(store, resource_id=rid) == {T1}}
    assert confirmed == set(ids[:5])
    store.flush_reads()
    assert all(_read_times(store, resource_id=rid) == {T1} for rid in ids)


def test_a_read_compared_with_rows_another_writer_has_since_replaced_is_read_again(
    store: TableStateStore, azurite: AzuriteEndpoints
) -> None:
    """The sweep compares with rows it preloaded minutes before; another instance may have
    recorded the resource since. A read that matched the older rows is not confirmed (it would
    leave the other writer's verdict standing as if this read had seen it) but returned for
    the sweep to read again."""
    failing = dict(THREE, storage_account_min_tls_1_2=Status.FAIL)
    store.record_evaluation(evaluation(failing), read_at=T0, cause=CAUSE)
    assert store.preload_group(GROUP) == 1
    rival = TableStateStore.from_connection_string(azurite.connection_string, prefix=store.prefix)
    fixed = Cause("event", event_id="evt-2", event_time=T1)
    assert rival.record_evaluation(evaluation(THREE), read_at=T1, cause=fixed).outcome == "changed"

    # Broken again, its event lost: the sweep reads FAIL, as its preloaded rows say.
    out = store.record_evaluation(evaluation(failing), read_at=T2, cause=SWEEP)
    assert (out.outcome, out.writes) == ("unchanged", 0)

    assert store.flush_reads(GROUP) == [RID]
    assert _reads_rows(store, azurite) == []  # nothing vouches for the rival's PASS
    # Read again, it is recorded against what is stored now.
    again = store.record_evaluation(evaluation(failing), read_at=T3, cause=SWEEP)
    assert again.outcome == "changed"
    assert {f.check_id: f.status for f in store.current(RID)}[
        "storage_account_min_tls_1_2"
    ] == "FAIL"


def test_a_clear_of_pending_follow_ups_voids_the_confirmation(store: TableStateStore) -> None:
    failing = dict(THREE, storage_account_min_tls_1_2=Status.FAIL)
    first = store.record_evaluation(
        evaluation(failing), read_at=T0, cause=CAUSE, track_actions=True
    )
    assert "storage_account_min_tls_1_2" in first.actions_pending
    store.record_evaluation(evaluation(failing), read_at=T1, cause=SWEEP)
    store.flush_reads()
    assert _read_times(store, resource_id=RID) == {T1}

    store.clear_actions_pending(RID, first.actions_pending)

    assert _read_times(store, resource_id=RID) == {T0}  # any write to the marker voids it


def test_a_subscriptions_flush_leaves_anothers_confirmations_and_overtaken_reads(
    store: TableStateStore, azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two subscriptions' sweeps may run in one process: each flushes and reads again its own."""
    import shared.state.tables as tables

    other_sub = "00000000-0000-0000-0000-000000000002"
    theirs = RID.replace(SUBSCRIPTION, other_sub)
    for rid in (RID, theirs):
        store.record_evaluation(evaluation(THREE, rid=rid), read_at=T0, cause=CAUSE)
    store.preload_group(GROUP.replace(SUBSCRIPTION, other_sub))
    rival = TableStateStore.from_connection_string(azurite.connection_string, prefix=store.prefix)
    rival.record_evaluation(
        evaluation(dict(THREE, storage_account_min_tls_1_2=Status.FAIL), rid=theirs),
        read_at=T1,
        cause=Cause("event", event_id="evt-3", event_time=T1),
    )
    store.record_evaluation(evaluation(THREE, rid=theirs), read_at=T2, cause=SWEEP)  # overtaken
    store.record_evaluation(evaluation(THREE, rid=RID), read_at=T2, cause=SWEEP)
    monkeypatch.setattr(tables, "_READS_WAITING_LIMIT", 2)  # the next one writes both
    store.record_evaluation(evaluation(THREE, rid=RID), read_at=T3, cause=SWEEP)

    assert store.flush_reads(f"/subscriptions/{SUBSCRIPTION}") == []
    assert _read_times(store, resource_id=RID) == {T3}
    assert store.flush_reads(f"/subscriptions/{other_sub}") == [theirs]
    assert store.flush_reads() == []
