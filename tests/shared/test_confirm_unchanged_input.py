"""``TableStateStore.confirm_unchanged_input``: a sweep's read confirmed from the preloaded
marker when the marker was recorded from the same inputs (``input_digest``), and never when the
rows may not be what those inputs give. On Azurite through the real SDK."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from shared.kernel.changes import Cause
from shared.kernel.findings import Status
from shared.state.keys import MARKER_ROW, partition_key
from shared.state.model import PROCESSING_CHECK
from shared.state.tables import TableStateStore
from sim.azurite import AzuriteEndpoints
from tests.shared.test_content_digest import GROUP, count_loads
from tests.shared.test_state_store import CAUSE, RID, T0, T1, T2, T3, THREE, evaluation, raw_table

DIGEST = "d" * 32
OTHER = "e" * 32


def _sweep(at: Any) -> Cause:
    return Cause("sweep", event_time=at)


def _with_digest(statuses: Any = THREE, digest: str = DIGEST, **kw: Any) -> Any:
    return replace(evaluation(statuses, **kw), input_digest=digest)


def _marker(store: TableStateStore, azurite: AzuriteEndpoints) -> Any:
    return raw_table(store, azurite).get_entity(partition_key(RID), MARKER_ROW)


def test_the_same_inputs_are_confirmed_from_the_preloaded_marker_alone(
    store: TableStateStore, azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.record_evaluation(_with_digest(), read_at=T0, cause=CAUSE)
    assert _marker(store, azurite)["input_digest"] == DIGEST
    store.preload_group(GROUP)
    loaded = count_loads(store, monkeypatch)

    out = store.confirm_unchanged_input(RID, DIGEST, read_at=T1, cause=_sweep(T1))

    assert out is not None and (out.outcome, out.writes, out.read_on_marker) == (
        "unchanged",
        0,
        False,
    )
    assert loaded == []
    assert store.flush_reads(GROUP) == []
    (row,) = [f for f in store.current(RID) if f.check_id == "storage_account_min_tls_1_2"]
    assert row.last_evaluated_at == T1  # the confirmed read, as a judged one would say
    assert {f.check_id: f.status for f in out.current()} == {  # type: ignore[misc]
        c: s.value for c, s in THREE.items()
    }


@pytest.mark.parametrize(
    "case",
    ["other digest", "not a sweep", "an event's sweep", "read not newer", "not preloaded"],
)
def test_nothing_is_confirmed_when_the_marker_cannot_tell(
    store: TableStateStore, case: str
) -> None:
    store.record_evaluation(_with_digest(), read_at=T0, cause=CAUSE)
    if case != "not preloaded":
        store.preload_group(GROUP)
    digest, at, cause = DIGEST, T1, _sweep(T1)
    if case == "other digest":
        digest = OTHER
    elif case == "not a sweep":
        cause = Cause("event", event_id="evt-2", event_time=T1)
    elif case == "an event's sweep":
        cause = Cause("sweep", event_id="evt-2", event_time=T1)
    elif case == "read not newer":
        at = T0
    out = store.confirm_unchanged_input(RID, digest, read_at=at, cause=cause)
    if case == "not preloaded":
        # Read here instead (a resource outside the preloaded groups): confirmed all the same.
        assert out is not None and out.outcome == "unchanged"
    else:
        assert out is None
        # What was taken for it is left for the record that follows.
        assert store.record_evaluation(_with_digest(), read_at=at, cause=cause).outcome in (
            "unchanged",
            "changed",
            "stale",
        )


def test_pending_follow_ups_deletions_and_failures_a_fix_may_catch_up_are_judged(
    store: TableStateStore, azurite: AzuriteEndpoints
) -> None:
    store.record_evaluation(_with_digest(), read_at=T0, cause=CAUSE, track_actions=True)
    assert _marker(store, azurite)["actions_pending"]  # the FAIL waits for its follow-up
    store.preload_group(GROUP)
    assert store.confirm_unchanged_input(RID, DIGEST, read_at=T1, cause=_sweep(T1)) is None

    store.clear_actions_pending(RID, ["storage_account_shared_key_access_disabled"])
    store.preload_group(GROUP)
    assert (
        store.confirm_unchanged_input(
            RID, DIGEST, read_at=T1, cause=_sweep(T1), unless_failing=True
        )
        is None
    )
    assert store.confirm_unchanged_input(RID, DIGEST, read_at=T1, cause=_sweep(T1)) is not None

    store.flush_reads(GROUP)
    store.record_deleted(RID, at=T2, cause=CAUSE)
    store.preload_group(GROUP)
    assert store.confirm_unchanged_input(RID, DIGEST, read_at=T3, cause=_sweep(T3)) is None


def test_a_failure_free_resource_is_confirmed_even_where_a_fix_may_catch_up(
    store: TableStateStore,
) -> None:
    passing = {"storage_account_min_tls_1_2": Status.PASS}
    store.record_evaluation(_with_digest(passing), read_at=T0, cause=CAUSE)
    store.preload_group(GROUP)
    out = store.confirm_unchanged_input(
        RID, DIGEST, read_at=T1, cause=_sweep(T1), unless_failing=True
    )
    assert out is not None


def test_an_error_recorded_after_the_sweeps_read_leaves_the_marker_vouching_for_nothing(
    store: TableStateStore, azurite: AzuriteEndpoints
) -> None:
    """A sweep read at T1; another worker recorded an ERROR at T2; the sweep's record (of the
    T1 read) leaves that row as it is, so its marker must not claim these inputs give the rows:
    the next sweep judges and closes the ERROR (review finding, fourteenth session)."""
    store.record_evaluation(_with_digest(), read_at=T0, cause=CAUSE)
    store.record_error(RID, stage="evaluating its checks", error=RuntimeError("x"), cause=CAUSE)
    # record_error stamps the row with the wall clock: a read from before it is older.
    read_at = T0 + timedelta(seconds=30)
    error_row = raw_table(store, azurite).get_entity(partition_key(RID), f"c~{PROCESSING_CHECK}")
    assert error_row["status"] == "ERROR"
    store.record_evaluation(_with_digest(), read_at=read_at, cause=_sweep(read_at))
    assert _marker(store, azurite)["input_digest"] == ""

    store.preload_group(GROUP)
    later = T3 + timedelta(days=400)
    assert store.confirm_unchanged_input(RID, DIGEST, read_at=later, cause=_sweep(later)) is None


def test_a_partial_or_digestless_evaluation_clears_the_digest(
    store: TableStateStore, azurite: AzuriteEndpoints
) -> None:
    store.record_evaluation(_with_digest(), read_at=T0, cause=CAUSE)
    partial = replace(_with_digest(), partial=True)
    store.record_evaluation(partial, read_at=T1, cause=Cause("cli"))
    assert _marker(store, azurite)["input_digest"] == ""
    store.record_evaluation(_with_digest(), read_at=T2, cause=CAUSE)
    assert _marker(store, azurite)["input_digest"] == DIGEST
    store.record_evaluation(_with_digest(digest=""), read_at=T3, cause=CAUSE)
    assert _marker(store, azurite)["input_digest"] == ""


def test_the_same_verdicts_from_other_inputs_rewrite_the_marker_alone(
    store: TableStateStore, azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.record_evaluation(_with_digest(), read_at=T0, cause=CAUSE)
    before = _marker(store, azurite)
    store.preload_group(GROUP)
    loaded = count_loads(store, monkeypatch)

    out = store.record_evaluation(_with_digest(digest=OTHER), read_at=T1, cause=_sweep(T1))

    after = _marker(store, azurite)
    assert (out.outcome, out.writes) == ("unchanged", 1)  # the marker, no check row
    assert loaded == []
    assert after["input_digest"] == OTHER
    assert after["content_digest"] == before["content_digest"]
    assert after["version"] == before["version"] + 1
