"""A marker's ``content_digest`` lets a sweep tell an unchanged resource from its marker alone:
the sweep preloads each resource group's markers (not their check rows) and reads a resource's
rows only when its verdicts may differ from them. What the digest must describe, on Azurite
through the real SDK."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.data.tables import UpdateMode

from shared.kernel.changes import Cause
from shared.kernel.findings import Severity, Status
from shared.state.entities import (
    _CONTENT_FIELDS,
    _check_entity,
    _finding_content,
    _row_content,
    content_digest,
)
from shared.state.keys import MARKER_ROW, partition_key
from shared.state.model import INACTIVE_STATUSES
from shared.state.tables import TableStateStore
from sim.azurite import AzuriteEndpoints
from tests.shared.test_state_store import (
    CAUSE,
    RID,
    T0,
    T1,
    T2,
    T3,
    THREE,
    evaluation,
    finding,
    raw_table,
)

GROUP = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-phi"


def _sweep(at: Any) -> Cause:
    return Cause("sweep", event_time=at)


def count_loads(store: TableStateStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The partitions the store reads whole (marker and check rows), in order."""
    loaded: list[str] = []
    load: Callable[[str], Any] = store._load

    def counted(pk: str) -> Any:
        loaded.append(pk)
        return load(pk)

    monkeypatch.setattr(store, "_load", counted)
    return loaded


def _stored_digest(store: TableStateStore, azurite: AzuriteEndpoints) -> tuple[str, str]:
    """The marker's digest, and the digest of the open check rows as stored now."""
    table = raw_table(store, azurite)
    rows = list(table.query_entities("PartitionKey eq @pk", parameters={"pk": partition_key(RID)}))
    marker = next(r for r in rows if r["RowKey"] == MARKER_ROW)
    checks = {
        str(r["check_id"]): _row_content(r)
        for r in rows
        if r.get("kind") == "check" and r["status"] not in INACTIVE_STATUSES
    }
    return str(marker.get("content_digest", "")), content_digest(checks)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"reason": "r" * 9_000},  # cut to its bound
        {"reason": "\U0001f512" * 4_100},  # surrogate pairs: two UTF-16 units each
        {"evidence": {f"k{i}": "v" * 3_000 for i in range(20)}},  # evidence cut
        {"evidence": {"nested": {"a": [1, 2.5, None, True]}}, "severity": Severity.LOW},
        {"hipaa": ()},
    ],
)
@pytest.mark.parametrize("status", [Status.PASS, Status.FAIL, Status.MUTED, Status.NOT_ASSESSED])
def test_a_findings_content_is_the_content_of_the_row_it_becomes(
    kw: dict[str, Any], status: Status
) -> None:
    f = finding("storage_account_min_tls_1_2", status, **kw)
    row = _check_entity(partition_key(RID), RID, f, None, T0, CAUSE)
    assert _finding_content(f) == _row_content(row)
    assert len(_row_content(row)) == len(_CONTENT_FIELDS)


def test_the_digest_moves_with_any_content_field_and_the_set_of_checks() -> None:
    base = {"a": ("x", "PASS", True), "b": ("y", "FAIL", False)}
    digest = content_digest(base)
    assert content_digest(dict(reversed(base.items()))) == digest  # order of checks is not content
    assert content_digest({**base, "b": ("y", "FAIL", True)}) != digest
    assert content_digest({"a": base["a"]}) != digest
    assert content_digest({**base, "c": ("z", "PASS", True)}) != digest
    # A field's text cannot slide into its neighbour's.
    assert content_digest({"a": ("xy", "")}) != content_digest({"a": ("x", "y")})


def test_an_unchanged_resource_is_confirmed_from_its_preloaded_marker_alone(
    store: TableStateStore, azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    marker_digest, rows_digest = _stored_digest(store, azurite)
    assert marker_digest == rows_digest != ""
    loaded = count_loads(store, monkeypatch)

    assert store.preload_group(GROUP) == 1
    out = store.record_evaluation(evaluation(THREE), read_at=T1, cause=_sweep(T1))

    assert (out.outcome, out.writes, out.read_on_marker) == ("unchanged", 0, False)
    assert loaded == []  # no check row read
    # What the record left, asked for, reads the rows then.
    assert out.current is not None
    assert {f.check_id for f in out.current()} == set(THREE)
    assert loaded == [partition_key(RID)]
    store.flush_reads()
    assert {f.last_evaluated_at for f in store.current(RID)} == {T1}


def test_a_changed_verdict_reads_the_rows_and_records_the_change(
    store: TableStateStore, azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    loaded = count_loads(store, monkeypatch)
    store.preload_group(GROUP)
    flipped = dict(THREE, storage_account_min_tls_1_2=Status.FAIL)

    out = store.record_evaluation(evaluation(flipped), read_at=T1, cause=_sweep(T1))

    assert out.outcome == "changed"
    assert [(t.check_id, t.to_status) for t in out.transitions] == [
        ("storage_account_min_tls_1_2", "FAIL")
    ]
    assert loaded == [partition_key(RID)]
    marker_digest, rows_digest = _stored_digest(store, azurite)
    assert marker_digest == rows_digest


def test_a_changed_reason_alone_is_a_change(
    store: TableStateStore, azurite: AzuriteEndpoints
) -> None:
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    store.preload_group(GROUP)

    out = store.record_evaluation(
        evaluation(THREE, reason="minimumTlsVersion is now TLS1_0"), read_at=T1, cause=_sweep(T1)
    )

    assert out.outcome == "changed" and out.read_on_marker
    assert {f.reason for f in store.current(RID)} == {"minimumTlsVersion is now TLS1_0"}
    assert _stored_digest(store, azurite)[0] == _stored_digest(store, azurite)[1]


def test_a_check_no_longer_judged_is_closed_not_confirmed(
    store: TableStateStore, azurite: AzuriteEndpoints
) -> None:
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    store.preload_group(GROUP)
    two = {k: v for k, v in THREE.items() if k != "storage_account_shared_key_access_disabled"}

    out = store.record_evaluation(evaluation(two), read_at=T1, cause=_sweep(T1))

    assert out.outcome == "changed"
    closed = {f.check_id: f.status for f in store.current(RID, include_inactive=True)}
    assert closed["storage_account_shared_key_access_disabled"] == "CLOSED"
    assert _stored_digest(store, azurite)[0] == _stored_digest(store, azurite)[1]


def test_a_marker_from_before_digests_is_given_one_once(
    store: TableStateStore, azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    table = raw_table(store, azurite)
    old = dict(table.get_entity(partition_key(RID), MARKER_ROW))
    del old["content_digest"]
    table.update_entity(old, mode=UpdateMode.REPLACE)
    loaded = count_loads(store, monkeypatch)

    store.preload_group(GROUP)
    first = store.record_evaluation(evaluation(THREE), read_at=T1, cause=_sweep(T1))
    assert loaded == [partition_key(RID)]
    assert first.read_on_marker  # the marker was written, with its digest
    assert _stored_digest(store, azurite)[0] == _stored_digest(store, azurite)[1]

    store.preload_group(GROUP)
    second = store.record_evaluation(evaluation(THREE), read_at=T2, cause=_sweep(T2))
    assert not second.read_on_marker and loaded == [partition_key(RID)]


def test_a_record_cut_short_between_transactions_is_finished_by_the_next_sweep(
    store: TableStateStore, azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record of 120 new rows (and their history) takes three transactions: until the last
    commits, the marker carries no digest, so a sweep finding the same verdicts reads the rows
    and writes what is missing instead of confirming a partial record."""
    many = {f"check_{i:03d}": Status.FAIL for i in range(120)}
    calls = [0]
    submit = store._state.submit_transaction

    def cut_after_first(operations: Any, **kw: Any) -> Any:
        calls[0] += 1
        if calls[0] == 2:
            raise ServiceRequestError("connection reset by the storage endpoint")
        return submit(operations, **kw)

    monkeypatch.setattr(store._state, "submit_transaction", cut_after_first)
    with pytest.raises(ServiceRequestError):
        store.record_evaluation(evaluation(many), read_at=T0, cause=CAUSE)
    monkeypatch.setattr(store._state, "submit_transaction", submit)
    marker_digest, _ = _stored_digest(store, azurite)
    assert marker_digest == ""
    assert 0 < len(store.current(RID)) < 120

    store.preload_group(GROUP)
    out = store.record_evaluation(evaluation(many), read_at=T1, cause=_sweep(T1))

    assert out.outcome == "changed"
    assert len(store.current(RID)) == 120
    marker_digest, rows_digest = _stored_digest(store, azurite)
    assert marker_digest == rows_digest != ""


def test_the_digest_follows_every_kind_of_record(
    store: TableStateStore, azurite: AzuriteEndpoints
) -> None:
    steps: list[Callable[[], Any]] = [
        lambda: store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE),
        lambda: store.record_error(RID, stage="judging", error=KeyError("x"), cause=CAUSE),
        lambda: store.record_evaluation(
            evaluation(dict(THREE, storage_account_min_tls_1_2=Status.MUTED)),
            read_at=T1,
            cause=CAUSE,
        ),
        lambda: store.record_evaluation(
            evaluation(THREE, not_assessed=("storage_account_blob_versioning_enabled",)),
            read_at=T2,
            cause=CAUSE,
        ),
        lambda: store.record_deleted(RID, at=T3, cause=CAUSE),
        lambda: store.record_evaluation(
            evaluation(THREE), read_at=T3 + timedelta(minutes=1), cause=CAUSE
        ),
    ]
    for i, step in enumerate(steps):
        step()
        marker_digest, rows_digest = _stored_digest(store, azurite)
        assert marker_digest == rows_digest, f"after step {i}"


def test_a_fail_kept_open_by_a_not_assessed_verdict_is_read_and_stays(
    store: TableStateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    unseen = dict(THREE, storage_account_shared_key_access_disabled=Status.NOT_ASSESSED)
    loaded = count_loads(store, monkeypatch)
    store.preload_group(GROUP)

    out = store.record_evaluation(evaluation(unseen), read_at=T1, cause=_sweep(T1))

    assert loaded == [partition_key(RID)]  # the digests differ: the rows decide
    assert out.writes == 0
    statuses = {f.check_id: f.status for f in store.current(RID)}
    assert statuses["storage_account_shared_key_access_disabled"] == "FAIL"


@pytest.mark.parametrize("damaged", [12345, "", "not-a-digest", True])
def test_a_damaged_digest_vouches_for_nothing_and_is_rewritten(
    store: TableStateStore,
    azurite: AzuriteEndpoints,
    monkeypatch: pytest.MonkeyPatch,
    damaged: Any,
) -> None:
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    table = raw_table(store, azurite)
    marker = dict(table.get_entity(partition_key(RID), MARKER_ROW))
    marker["content_digest"] = damaged
    table.update_entity(marker, mode=UpdateMode.REPLACE)
    loaded = count_loads(store, monkeypatch)
    store.preload_group(GROUP)

    out = store.record_evaluation(evaluation(THREE), read_at=T1, cause=_sweep(T1))

    assert loaded == [partition_key(RID)]  # the rows decided
    assert out.read_on_marker  # the marker was rewritten with the rows' digest
    marker_digest, rows_digest = _stored_digest(store, azurite)
    assert marker_digest == rows_digest
