"""The Table Storage state store against a real Azurite (see tests/shared/conftest.py)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import itertools
import json
import os
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import TableClient, TableServiceClient

from shared.engine import Evaluation, NotAssessed
from shared.kernel.changes import Cause, CauseKind
from shared.kernel.findings import FINDING_FIELDS, Finding, Severity, Status
from shared.kernel.resource_id import parse
from shared.state.batch import LeanTransactionsTableClient, query_rows
from shared.state.keys import partition_key
from shared.state.model import (
    CLOSED,
    RESOURCE_DELETED,
    RecordOutcome,
    RecordResult,
    StoredFinding,
    Transition,
)
from shared.state.tables import TableStateStore
from sim.azurite import AzuriteEndpoints, AzuriteError, running_azurite
from tests.conftest import in_fresh_interpreter

RID = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-phi"
    "/providers/Microsoft.Storage/storageAccounts/phidata"
)
TYPE = "microsoft.storage/storageaccounts"
T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)
T2 = T0 + timedelta(minutes=2)
T3 = T0 + timedelta(minutes=3)
CAUSE = Cause("event", event_id="evt-1", event_time=T0, caller_appid="app-1", correlation_id="c-1")
SWEEP = Cause("sweep")
SCAN = Cause("cli")


def finding(
    check_id: str,
    status: Status,
    *,
    rid: str = RID,
    reason: str | None = None,
    evidence: Mapping[str, Any] | None = None,
    severity: Severity = Severity.HIGH,
    hipaa: tuple[str, ...] = ("164.312(a)(2)(iv)",),
) -> Finding:
    return Finding(
        resource_id=rid,
        resource_type=TYPE,
        check_id=check_id,
        status=status,
        severity=severity,
        hipaa=hipaa,
        title=f"{check_id} holds",
        reason=reason or f"{check_id} is {status.value}.",
        evidence={"properties.setting": status.value} if evidence is None else evidence,
        phi=True,
    )


def evaluation(
    statuses: Mapping[str, Status],
    *,
    rid: str = RID,
    not_assessed: Sequence[str] = (),
    **kw: Any,
) -> Evaluation:
    return Evaluation(
        resource_id=rid,
        resource_type=TYPE,
        phi=True,
        findings=tuple(finding(c, s, rid=rid, **kw) for c, s in statuses.items()),
        not_assessed=tuple(NotAssessed(c, ("diagnostic_settings",)) for c in not_assessed),
    )


THREE = {
    "storage_account_min_tls_1_2": Status.PASS,
    "storage_account_shared_key_access_disabled": Status.FAIL,
    "storage_account_blob_versioning_enabled": Status.NOT_APPLICABLE,
}


def raw_table(store: TableStateStore, azurite: AzuriteEndpoints) -> TableClient:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    return service.get_table_client(store.state_table)


def etags(table: TableClient, rid: str = RID) -> dict[str, str]:
    rows = table.query_entities("PartitionKey eq @pk", parameters={"pk": partition_key(rid)})
    return {str(r["RowKey"]): str(r.metadata["etag"]) for r in rows}


def statuses(store: TableStateStore, rid: str = RID) -> dict[str, str]:
    return {f.check_id: f.status for f in store.current(rid, include_inactive=True)}


def assert_history_chains(store: TableStateStore, rid: str = RID) -> list[Transition]:
    """Every check's history is an unbroken chain ending in its current status."""
    history = store.history(rid)
    by_check: dict[str, list[Transition]] = defaultdict(list)
    for t in history:
        by_check[t.check_id].append(t)
    now = statuses(store, rid)
    assert set(by_check) == set(now)
    for check_id, chain in by_check.items():
        assert chain[0].from_status is None, check_id
        for before, after in itertools.pairwise(chain):
            assert after.from_status == before.to_status, (check_id, chain)
            assert after.from_status != after.to_status
            assert after.at >= before.at
        assert chain[-1].to_status == now[check_id]
    return history


# -- first write, re-write, flips ----------------------------------------------------------------


def test_first_evaluation_writes_rows_and_history(store: TableStateStore) -> None:
    out = store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)

    assert out.outcome == "changed"
    assert out.writes == 1 + 3 + 3 and out.transactions == 1 and out.attempts == 1
    assert {(t.check_id, t.from_status, t.to_status) for t in out.transitions} == {
        (c, None, s.value) for c, s in THREE.items()
    }
    found = {f.check_id: f for f in store.current(RID)}
    assert {c: f.status for c, f in found.items()} == {c: s.value for c, s in THREE.items()}
    failing = found["storage_account_shared_key_access_disabled"]
    assert failing.first_failed_at == T0
    assert failing.last_changed_at == T0 == failing.last_evaluated_at
    assert failing.cause == CAUSE
    assert failing.severity is Severity.HIGH
    assert failing.hipaa == ("164.312(a)(2)(iv)",)
    assert failing.evidence == {"properties.setting": "FAIL"}
    assert found["storage_account_min_tls_1_2"].first_failed_at is None
    as_json = failing.to_json()
    assert {"resource_id", "check_id", "status", "severity", "hipaa", "evidence", "phi"} <= set(
        as_json
    )
    assert as_json["first_failed_at"] == "2026-01-01T12:00:00.123456Z"

    history = store.history(RID)
    assert len(history) == 3 and all(t.at == T0 and t.cause == CAUSE for t in history)
    marker = store.marker(RID)
    assert marker is not None
    assert marker.last_read_at == T0 and not marker.deleted and marker.phi
    assert marker.resource_type == TYPE and marker.resource_id == RID
    assert marker.last_event_id == "evt-1" and marker.last_event_time == T0
    assert marker.counts == {
        "PASS": 1,
        "FAIL": 1,
        "ERROR": 0,
        "NOT_APPLICABLE": 1,
        "NOT_ASSESSED": 0,
        "MUTED": 0,
    }
    assert store.marker(RID.replace("phidata", "other")) is None


def test_same_evaluation_again_writes_only_the_marker(
    store: TableStateStore, azurite: AzuriteEndpoints
) -> None:
    table = raw_table(store, azurite)
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    before = etags(table)

    out = store.record_evaluation(evaluation(THREE), read_at=T1, cause=SCAN)

    assert (out.outcome, out.writes, out.transitions) == ("unchanged", 1, ())
    assert out.read_on_marker
    after = etags(table)
    assert after.keys() == before.keys()
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {"marker"}
    marker = store.marker(RID)
    assert marker is not None and marker.last_read_at == T1
    assert marker.last_event_id == "evt-1"  # a scan carries no event: the newest one stays
    assert all(f.last_evaluated_at == T1 and f.last_changed_at == T0 for f in store.current(RID))
    assert len(store.history(RID)) == 3

    # The same read delivered again changes nothing and writes nothing.
    again = store.record_evaluation(evaluation(THREE), read_at=T1, cause=SCAN)
    assert (again.outcome, again.writes) == ("unchanged", 0)
    assert etags(table) == after


def test_status_flip_writes_one_history_row(
    store: TableStateStore, azurite: AzuriteEndpoints
) -> None:
    table = raw_table(store, azurite)
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    before = etags(table)
    flipped = {**THREE, "storage_account_min_tls_1_2": Status.FAIL}

    out = store.record_evaluation(evaluation(flipped), read_at=T1, cause=CAUSE)

    assert out.outcome == "changed" and out.writes == 3  # marker + check row + history row
    assert [(t.check_id, t.from_status, t.to_status) for t in out.transitions] == [
        ("storage_account_min_tls_1_2", "PASS", "FAIL")
    ]
    after = etags(table)
    new_rows = after.keys() - before.keys()
    assert len(new_rows) == 1 and next(iter(new_rows)).startswith("h~")
    assert {k for k in before if before[k] != after[k]} == {
        "marker",
        "c~storage_account_min_tls_1_2",
    }
    tls = next(f for f in store.current(RID) if f.check_id == "storage_account_min_tls_1_2")
    assert tls.first_failed_at == T1

    # Still failing, for a different reason: the row changes, history does not.
    out = store.record_evaluation(
        evaluation(flipped, reason="Now failing differently."), read_at=T2, cause=CAUSE
    )
    assert out.transitions == () and out.outcome == "changed"
    tls = next(f for f in store.current(RID) if f.check_id == "storage_account_min_tls_1_2")
    assert tls.reason == "Now failing differently." and tls.first_failed_at == T1
    assert len(store.history(RID)) == 4

    store.record_evaluation(evaluation(THREE), read_at=T3, cause=CAUSE)
    tls = next(f for f in store.current(RID) if f.check_id == "storage_account_min_tls_1_2")
    assert tls.status == "PASS" and tls.first_failed_at is None
    assert len(assert_history_chains(store)) == 5


def test_stale_read_is_ignored(store: TableStateStore, azurite: AzuriteEndpoints) -> None:
    table = raw_table(store, azurite)
    store.record_evaluation(evaluation(THREE), read_at=T2, cause=CAUSE)
    before = etags(table)
    all_pass = dict.fromkeys(THREE, Status.PASS)

    out = store.record_evaluation(evaluation(all_pass), read_at=T1, cause=CAUSE)
    deleted = store.record_deleted(RID, at=T1, cause=CAUSE)

    assert (out.outcome, out.writes) == ("stale", 0)
    assert (deleted.outcome, deleted.writes) == ("stale", 0)
    assert etags(table) == before
    marker = store.marker(RID)
    assert marker is not None and marker.last_read_at == T2 and not marker.deleted


def test_naive_times_are_rejected(store: TableStateStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.record_evaluation(evaluation(THREE), read_at=datetime(2026, 1, 1), cause=CAUSE)


def test_times_in_other_zones_are_stored_as_utc(store: TableStateStore) -> None:
    plus_two = T0.astimezone(timezone(timedelta(hours=2)))
    store.record_evaluation(evaluation(THREE), read_at=plus_two, cause=CAUSE)
    marker = store.marker(RID)
    assert marker is not None and marker.last_read_at == T0
    assert marker.last_read_at.utcoffset() == timedelta(0)


# -- applicability changes and deletion -------------------------------------------------------


def test_checks_that_stop_applying_close_and_unassessed_ones_keep_their_state(
    store: TableStateStore, azurite: AzuriteEndpoints
) -> None:
    table = raw_table(store, azurite)
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    before = etags(table)
    only_tls = {"storage_account_min_tls_1_2": Status.PASS}

    out = store.record_evaluation(
        evaluation(only_tls, not_assessed=["storage_account_shared_key_access_disabled"]),
        read_at=T1,
        cause=CAUSE,
    )

    assert [(t.check_id, t.from_status, t.to_status) for t in out.transitions] == [
        ("storage_account_blob_versioning_enabled", "NOT_APPLICABLE", CLOSED)
    ]
    after = etags(table)
    assert (
        after["c~storage_account_shared_key_access_disabled"]
        == (before["c~storage_account_shared_key_access_disabled"])
    )
    assert {f.check_id for f in store.current(RID)} == {
        "storage_account_min_tls_1_2",
        "storage_account_shared_key_access_disabled",  # last known: FAIL (unknown is no pass)
    }
    closed = store.current(RID, status=CLOSED)
    assert [f.check_id for f in closed] == ["storage_account_blob_versioning_enabled"]
    assert not closed[0].active
    marker = store.marker(RID)
    assert marker is not None
    assert marker.counts == {
        "PASS": 1,
        "FAIL": 1,
        "ERROR": 0,
        "NOT_APPLICABLE": 0,
        "NOT_ASSESSED": 0,
        "MUTED": 0,
    }

    # The check applies again: it reopens with a transition from CLOSED.
    out = store.record_evaluation(evaluation(THREE), read_at=T2, cause=CAUSE)
    assert [(t.from_status, t.to_status) for t in out.transitions] == [(CLOSED, "NOT_APPLICABLE")]
    assert_history_chains(store)


def test_not_assessed_replaces_a_pass_but_never_a_fail(store: TableStateStore) -> None:
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    blind = {
        "storage_account_min_tls_1_2": Status.NOT_ASSESSED,
        "storage_account_shared_key_access_disabled": Status.NOT_ASSESSED,
        "storage_account_blob_versioning_enabled": Status.NOT_APPLICABLE,
    }

    out = store.record_evaluation(evaluation(blind), read_at=T1, cause=CAUSE)

    assert [(t.check_id, t.from_status, t.to_status) for t in out.transitions] == [
        ("storage_account_min_tls_1_2", "PASS", "NOT_ASSESSED")
    ]
    current = {f.check_id: f.status for f in store.current(RID)}
    assert current["storage_account_min_tls_1_2"] == "NOT_ASSESSED"
    assert current["storage_account_shared_key_access_disabled"] == "FAIL"
    marker = store.marker(RID)
    assert marker is not None and marker.counts["NOT_ASSESSED"] == 1

    # Seen passing again: the stored FAIL closes with a real verdict.
    out = store.record_evaluation(
        evaluation(THREE | {"storage_account_shared_key_access_disabled": Status.PASS}),
        read_at=T2,
        cause=CAUSE,
    )
    assert sorted((t.check_id, t.from_status, t.to_status) for t in out.transitions) == [
        ("storage_account_min_tls_1_2", "NOT_ASSESSED", "PASS"),
        ("storage_account_shared_key_access_disabled", "FAIL", "PASS"),
    ]


def test_record_deleted_closes_findings(store: TableStateStore) -> None:
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    delete_cause = Cause("event", event_id="evt-del", event_time=T1)

    out = store.record_deleted(RID.upper(), at=T1, cause=delete_cause)

    assert out.outcome == "changed"
    assert {(t.from_status, t.to_status) for t in out.transitions} == {
        (s.value, RESOURCE_DELETED) for s in THREE.values()
    }
    assert store.current(RID) == []
    gone = store.current(RID, include_inactive=True)
    assert {f.status for f in gone} == {RESOURCE_DELETED}
    assert all(f.first_failed_at is None and f.cause == delete_cause for f in gone)
    marker = store.marker(RID)
    assert marker is not None and marker.deleted and marker.last_read_at == T1
    assert marker.last_event_id == "evt-del"
    assert set(marker.counts.values()) == {0}

    again = store.record_deleted(RID, at=T1, cause=delete_cause)
    assert (again.outcome, again.writes) == ("unchanged", 0)

    # Re-created: rows reopen from RESOURCE_DELETED and the marker is live again.
    back = store.record_evaluation(evaluation(THREE), read_at=T2, cause=CAUSE)
    assert {t.from_status for t in back.transitions} == {RESOURCE_DELETED}
    marker = store.marker(RID)
    assert marker is not None and not marker.deleted
    assert_history_chains(store)


def test_delete_of_an_unknown_resource_leaves_a_tombstone(store: TableStateStore) -> None:
    out = store.record_deleted(RID, at=T1, cause=CAUSE)
    assert out.outcome == "unchanged" and out.writes == 1
    marker = store.marker(RID)
    assert marker is not None and marker.deleted and marker.resource_type == TYPE
    # A write event older than the delete is now recognisably stale.
    late = store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    assert late.outcome == "stale"


# -- concurrency ------------------------------------------------------------------------------


def test_concurrent_conflicting_evaluations_stay_consistent(
    store: TableStateStore, azurite: AzuriteEndpoints
) -> None:
    checks = [f"storage_account_check_{i}" for i in range(6)]
    green = evaluation(dict.fromkeys(checks, Status.PASS))
    red = evaluation(dict.fromkeys(checks, Status.FAIL))
    workers = [
        TableStateStore.from_connection_string(azurite.connection_string, prefix=store.prefix)
        for _ in range(2)
    ]
    reported: list[Transition] = []
    for round_ in range(8):
        barrier = threading.Barrier(2)
        read_at = T0 + timedelta(seconds=round_)  # both read at the same instant: neither stale

        def run(
            worker: TableStateStore,
            ev: Evaluation,
            at: datetime = read_at,
            barrier: threading.Barrier = barrier,
        ) -> RecordOutcome:
            barrier.wait()
            return worker.record_evaluation(ev, read_at=at, cause=CAUSE)

        with ThreadPoolExecutor(2) as pool:
            outcomes = list(pool.map(run, workers, [green, red] if round_ % 2 else [red, green]))
        for o in outcomes:
            reported.extend(o.transitions)
        now = set(statuses(store).values())
        assert now in ({"PASS"}, {"FAIL"}), f"round {round_}: mixed state {now}"

    history = assert_history_chains(store)
    # Nothing duplicated, nothing lost: history holds exactly the transitions the writers report.
    key = lambda t: (t.check_id, t.from_status or "", t.to_status, t.at)  # noqa: E731
    assert sorted(map(key, history)) == sorted(map(key, reported))


def test_a_write_between_read_and_commit_is_retried(
    store: TableStateStore, azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic race: another worker commits after this one read the partition."""
    checks = [f"storage_account_check_{i}" for i in range(3)]
    store.record_evaluation(evaluation(dict.fromkeys(checks, Status.PASS)), read_at=T0, cause=CAUSE)
    rival = TableStateStore.from_connection_string(azurite.connection_string, prefix=store.prefix)
    real_submit = LeanTransactionsTableClient.submit_transaction
    interfered = threading.Event()

    def submit(self: LeanTransactionsTableClient, operations: Any, **kwargs: Any) -> Any:
        if not interfered.is_set():
            interfered.set()
            rival.record_evaluation(
                evaluation(
                    {checks[0]: Status.ERROR, checks[1]: Status.PASS, checks[2]: Status.PASS}
                ),
                read_at=T1,
                cause=SWEEP,
            )
        return real_submit(self, operations, **kwargs)

    monkeypatch.setattr(LeanTransactionsTableClient, "submit_transaction", submit)
    out = store.record_evaluation(
        evaluation(dict.fromkeys(checks, Status.FAIL)), read_at=T1, cause=CAUSE
    )

    assert out.attempts == 2 and out.outcome == "changed"
    assert {t.from_status for t in out.transitions if t.check_id == checks[0]} == {"ERROR"}
    assert set(statuses(store).values()) == {"FAIL"}
    history = assert_history_chains(store)
    assert [(t.from_status, t.to_status) for t in history if t.check_id == checks[0]] == [
        (None, "PASS"),
        ("PASS", "ERROR"),
        ("ERROR", "FAIL"),
    ]


def test_a_newer_write_during_ours_makes_ours_stale(
    store: TableStateStore, azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    rival = TableStateStore.from_connection_string(azurite.connection_string, prefix=store.prefix)
    real_submit = LeanTransactionsTableClient.submit_transaction
    interfered = threading.Event()

    def submit(self: LeanTransactionsTableClient, operations: Any, **kwargs: Any) -> Any:
        if not interfered.is_set():
            interfered.set()
            rival.record_evaluation(evaluation(THREE), read_at=T2, cause=SCAN)
        return real_submit(self, operations, **kwargs)

    monkeypatch.setattr(LeanTransactionsTableClient, "submit_transaction", submit)
    flipped = dict.fromkeys(THREE, Status.ERROR)
    out = store.record_evaluation(evaluation(flipped), read_at=T1, cause=CAUSE)

    assert (out.outcome, out.attempts, out.writes) == ("stale", 2, 0)
    assert statuses(store) == {c: s.value for c, s in THREE.items()}


# -- keys, limits, volume -----------------------------------------------------------------------

ODD = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/RG-Odd"
    "/providers/Microsoft.Web/sites/we#ird?na'me\\with %20é~|!\x01\x7f\u0085😀"
)


@pytest.mark.parametrize(
    "rid",
    [ODD, RID.upper(), (RID + "/children/" + "x" * 1500)[:1500]],
    ids=["odd-characters", "upper-case", "1500-chars"],
)
def test_keys_for_unusual_ids(store: TableStateStore, rid: str) -> None:
    assert len(rid) == 1500 or "children" not in rid
    key = partition_key(rid)
    assert len(key.encode("utf-16-le")) <= 1024
    assert not any(c in key for c in "/\\#?") and all(c.isprintable() for c in key)

    store.record_evaluation(evaluation(THREE, rid=rid), read_at=T0, cause=CAUSE)

    for spelling in (rid, rid.lower(), rid.upper() if "😀" not in rid else rid):
        marker = store.marker(spelling)
        assert marker is not None and marker.resource_id == rid
        assert len(store.current(spelling)) == 3
        assert len(store.history(spelling)) == 3
    assert {f.resource_id for f in store.current()} == {rid}


def test_ids_that_escape_alike_or_share_a_long_prefix_stay_apart(store: TableStateStore) -> None:
    base = RID.rsplit("/", 1)[0]
    pipe, slash = f"{base}/a|b", f"{base}/a/b"
    long_a = RID + "/" + "x" * 1400 + "a"
    long_b = RID + "/" + "x" * 1400 + "b"
    ids = [pipe, slash, long_a, long_b]
    assert len({partition_key(i) for i in ids}) == 4
    for n, rid in enumerate(ids):
        store.record_evaluation(
            evaluation({"storage_account_min_tls_1_2": Status.PASS}, rid=rid),
            read_at=T0 + timedelta(seconds=n),
            cause=CAUSE,
        )
    for n, rid in enumerate(ids):
        marker = store.marker(rid)
        assert marker is not None and marker.resource_id == rid
        assert marker.last_read_at == T0 + timedelta(seconds=n)
    assert len(store.current()) == 4


def test_evidence_over_64_kib_is_truncated_and_the_row_still_saves(
    store: TableStateStore,
) -> None:
    rules = {f"properties.rule[{i}].prefix": "10.0.0.0/8," * 20 for i in range(100)}
    evidence: dict[str, Any] = {"properties.big": "x" * 100_000, "properties.small": 1, **rules}
    ev = evaluation({"storage_account_min_tls_1_2": Status.FAIL}, evidence=evidence)

    first = store.record_evaluation(ev, read_at=T0, cause=CAUSE)

    (saved,) = store.current(RID)
    assert first.outcome == "changed" and saved.evidence_truncated
    assert saved.evidence["properties.small"] == 1
    assert str(saved.evidence["properties.big"]).endswith("units in all]")  # cut, not dropped
    assert all(saved.evidence[k] == v for k, v in rules.items())
    assert "0 entries omitted" in str(saved.evidence["…truncated"])
    # Truncation is deterministic, so the same evidence again is no change.
    again = store.record_evaluation(ev, read_at=T1, cause=CAUSE)
    assert (again.outcome, again.writes) == ("unchanged", 1)

    # Too many entries even after cutting values: the largest go first, the row still saves.
    many = {**evidence, **{f"properties.rule[{i}].prefix": "10.0.0.0/8," * 20 for i in range(400)}}
    store.record_evaluation(
        evaluation({"storage_account_min_tls_1_2": Status.FAIL}, evidence=many),
        read_at=T2,
        cause=CAUSE,
    )
    (saved,) = store.current(RID)
    assert saved.evidence["properties.small"] == 1 and "properties.big" not in saved.evidence
    assert 100 < len(saved.evidence) < len(many)
    assert "entries omitted" in str(saved.evidence["…truncated"])


def test_150_checks_on_one_resource_commit_in_several_transactions(
    store: TableStateStore,
) -> None:
    checks = [f"storage_account_check_{i:03d}" for i in range(150)]

    out = store.record_evaluation(
        evaluation(dict.fromkeys(checks, Status.PASS)), read_at=T0, cause=CAUSE
    )

    assert out.outcome == "changed" and len(out.transitions) == 150
    assert out.transactions >= 4  # 300 operations, <= 99 each plus the marker
    assert out.writes == 300 + out.transactions
    assert len(store.current(RID)) == 150 and len(store.history(RID)) == 150

    flipped = store.record_evaluation(
        evaluation(dict.fromkeys(checks, Status.FAIL)), read_at=T1, cause=CAUSE
    )
    assert len(flipped.transitions) == 150
    shrunk = store.record_evaluation(
        evaluation(dict.fromkeys(checks[:10], Status.FAIL)), read_at=T2, cause=CAUSE
    )
    assert len(shrunk.transitions) == 140
    marker = store.marker(RID)
    assert marker is not None and marker.counts["FAIL"] == 10
    assert len(assert_history_chains(store)) == 440


# -- queries ------------------------------------------------------------------------------------


def test_current_filters(store: TableStateStore) -> None:
    other = RID.replace("phidata", "logs")
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    store.record_evaluation(
        evaluation(
            {"storage_account_min_tls_1_2": Status.FAIL},
            rid=other,
            severity=Severity.CRITICAL,
            hipaa=("164.312(e)(1)", "164.308(a)(1)(ii)(D)"),
        ),
        read_at=T0,
        cause=CAUSE,
    )

    assert len(store.current()) == 4
    assert {f.resource_id for f in store.current(status="FAIL")} == {RID, other}
    assert [f.resource_id for f in store.current(severity=Severity.CRITICAL)] == [other]
    assert [f.resource_id for f in store.current(severity="critical")] == [other]
    assert [f.resource_id for f in store.current(hipaa="164.308")] == [other]
    assert [f.resource_id for f in store.current(hipaa="164.312(e)")] == [other]
    assert len(store.current(hipaa="164.312")) == 4
    assert store.current(hipaa="164.31") == []
    assert store.current(hipaa="164.3120") == []
    assert [f.check_id for f in store.current(other.upper(), status=Status.FAIL)] == [
        "storage_account_min_tls_1_2"
    ]


def test_current_reads_only_the_partitions_of_the_subscriptions_asked_for(
    store: TableStateStore,
) -> None:
    first = "00000000-0000-0000-0000-000000000001"
    second = "00000000-0000-0000-0000-000000000002"
    # A subscription whose id the first's is a prefix of: the range must stop at the "/".
    longer = "00000000-0000-0000-0000-0000000000011"
    resources = {sub: RID.replace(first, sub) for sub in (first, second, longer)}
    for rid in resources.values():
        store.record_evaluation(evaluation(THREE, rid=rid), read_at=T0, cause=CAUSE)
    # The subscription's own findings (a subscription-level check) are in its scope too.
    own = f"/subscriptions/{first}"
    store.record_evaluation(evaluation(THREE, rid=own), read_at=T0, cause=CAUSE)
    assert len(store.current()) == 12
    only_first = store.current(subscriptions=[first.upper()])
    assert {f.resource_id for f in only_first} == {resources[first], own}
    assert len(only_first) == 6 and all(f.status for f in only_first)
    both = store.current(subscriptions=[first, second], status="FAIL")
    assert {f.resource_id for f in both} == {resources[first], resources[second], own}
    assert store.current(subscriptions=["11111111-1111-1111-1111-111111111111"]) == []


def test_resources_unread_since_lists_the_subscriptions_existing_resources_read_before(
    store: TableStateStore,
) -> None:
    first = "00000000-0000-0000-0000-000000000001"
    other = "00000000-0000-0000-0000-000000000002"
    old = RID  # read at T0: a candidate
    fresh = RID.replace("phidata", "fresh")  # read at T2, after the sweep began
    gone = RID.replace("phidata", "gone")  # recorded deleted
    elsewhere = RID.replace(first, other)  # another subscription's
    for rid in (old, gone, elsewhere):
        store.record_evaluation(evaluation(THREE, rid=rid), read_at=T0, cause=CAUSE)
    store.record_evaluation(evaluation(THREE, rid=fresh), read_at=T2, cause=CAUSE)
    store.record_deleted(gone, at=T0, cause=CAUSE)
    listed = store.resources_unread_since(f"/subscriptions/{first.upper()}", T1)
    assert listed == [old]  # as ARM spelled it
    both = store.resources_unread_since(f"/subscriptions/{first}", T3)
    assert set(both) == {old, fresh}
    # A resource group's: its resources only (a group whose name extends it is another).
    group = parse(RID).resource_group_id or ""
    store.record_evaluation(
        evaluation(THREE, rid=RID.replace("rg-phi", "rg-phi2")), read_at=T0, cause=CAUSE
    )
    assert set(store.resources_unread_since(group, T3)) == {old, fresh}
    assert store.resources_unread_since(f"/subscriptions/{other}", T0) == []
    with pytest.raises(ValueError, match="since"):
        store.resources_unread_since(group, datetime(2026, 1, 1))


# -- poison events and processed events ----------------------------------------------------------


def test_poison_records_round_trip(store: TableStateStore) -> None:
    text = '{"id": "evt-9", "data": "é"}'
    binary = b"\xff\xfe\x00not utf-8"
    huge = "y" * 600_000
    store.record_poison(text, "KeyError: 'subject'", "eventgrid", T0)
    store.record_poison(binary, "UnicodeDecodeError", "eventgrid", T1)
    store.record_poison(huge, "payload too large", "replay", T2)

    first, second, third = store.poison()

    assert (first.raw, first.raw_encoding, first.error, first.source) == (
        text,
        "utf-8",
        "KeyError: 'subject'",
        "eventgrid",
    )
    assert first.at == T0 and not first.truncated
    assert first.raw_sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert second.raw_encoding == "base64" and second.raw_length == len(binary)
    assert base64.b64decode(second.raw) == binary
    assert third.truncated and third.raw_length == 600_000 and 400_000 < len(third.raw) < 600_000
    assert third.raw_sha256 == hashlib.sha256(huge.encode()).hexdigest()


def test_mark_event_processed_is_insert_only(store: TableStateStore) -> None:
    odd = "evt/with#odd?chars\\" + "z" * 2000
    for event_id in ("6f1d8c1e-1111-4a3b-9d3e-000000000001", odd):
        assert not store.event_processed(event_id)
        assert store.mark_event_processed(event_id, T0) is True
        assert store.mark_event_processed(event_id, T1) is False
        assert store.event_processed(event_id)


# -- the Azurite fixture itself --------------------------------------------------------------------


def test_azurite_endpoints(azurite: AzuriteEndpoints) -> None:
    assert "TableEndpoint=http://127.0.0.1:" in azurite.connection_string
    assert azurite.table_url.endswith("/devstoreaccount1")
    os.kill(azurite.pid, 0)  # alive while the session runs


def test_running_azurite_stops_the_process_even_on_errors() -> None:
    pid: list[int] = []
    with pytest.raises(RuntimeError, match="boom"), running_azurite() as az:
        pid.append(az.pid)
        raise RuntimeError("boom")
    with pytest.raises(ProcessLookupError):
        os.kill(pid[0], 0)


def test_missing_azurite_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(AzuriteError, match="npm install"), running_azurite(tmp_path):
        pass


def test_checks_turning_fail_are_pending_follow_ups_until_cleared(store: TableStateStore) -> None:
    first = store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE, track_actions=True)
    assert first.actions_pending == ("storage_account_shared_key_access_disabled",)
    assert first.actions_pending_since is not None
    marker = store.marker(RID)
    assert marker is not None
    assert marker.actions_pending == ("storage_account_shared_key_access_disabled",)
    # Recorded again (a redelivery, the sweep): still pending, the lease start unchanged.
    again = store.record_evaluation(evaluation(THREE), read_at=T1, cause=SWEEP, track_actions=True)
    assert again.actions_pending == first.actions_pending
    assert again.actions_pending_since == first.actions_pending_since
    store.clear_actions_pending(RID, again.actions_pending, again)
    marker = store.marker(RID)
    assert marker is not None and marker.actions_pending == ()
    # Clearing twice, or with a stale record, is harmless.
    store.clear_actions_pending(RID, again.actions_pending, again)


def test_a_check_that_stops_failing_leaves_the_pending_set(store: TableStateStore) -> None:
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE, track_actions=True)
    fixed = {**THREE, "storage_account_shared_key_access_disabled": Status.PASS}
    out = store.record_evaluation(evaluation(fixed), read_at=T1, cause=Cause("remediation"))
    assert out.actions_pending == ()
    marker = store.marker(RID)
    assert marker is not None and marker.actions_pending == ()


def test_without_tracking_nothing_is_pending(store: TableStateStore) -> None:
    out = store.record_evaluation(evaluation(THREE), read_at=T0, cause=CAUSE)
    assert out.actions_pending == ()


GROUP = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-phi"


def _in_group(name: str, group: str = GROUP) -> str:
    return f"{group}/providers/Microsoft.Storage/storageAccounts/{name}"


def test_preload_group_reads_every_resource_of_the_group_and_only_those(
    store: TableStateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside = [_in_group(n) for n in ("a1", "b2", "c3")]
    # A group whose name extends this one's, and another group: not in the range.
    outside = [_in_group("d4", GROUP + "2"), _in_group("e5", GROUP.replace("rg-phi", "rg-other"))]
    for rid in inside + outside:
        store.record_evaluation(evaluation(THREE, rid=rid), read_at=T0, cause=CAUSE)
    assert store.preload_group(GROUP.upper()) == 3

    loaded: list[str] = []

    def no_query(pk: str) -> None:
        loaded.append(pk)
        raise AssertionError(f"queried {pk} although it was preloaded")

    monkeypatch.setattr(store, "_load", no_query)
    # The sweep's unchanged reads are decided on the preloaded markers alone.
    for rid in inside:
        out = store.record_evaluation(
            evaluation(THREE, rid=rid), read_at=T1, cause=Cause("sweep", event_time=T1)
        )
        assert (out.outcome, out.writes) == ("unchanged", 0)
    # Outside the group nothing was preloaded: the record reads its partition.
    with pytest.raises(AssertionError, match="queried"):
        store.record_evaluation(
            evaluation(THREE, rid=outside[0]), read_at=T1, cause=Cause("sweep", event_time=T1)
        )
    assert loaded == [partition_key(outside[0])]
    monkeypatch.undo()
    store.discard_preloaded()
    store.flush_reads()


def test_a_preloaded_resource_whose_verdicts_changed_reads_its_rows_once(
    store: TableStateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside = [_in_group(n) for n in ("a1", "b2")]
    for rid in inside:
        store.record_evaluation(evaluation(THREE, rid=rid), read_at=T0, cause=CAUSE)
    store.preload_group(GROUP)
    from tests.shared.test_content_digest import count_loads

    loaded = count_loads(store, monkeypatch)
    flipped = {**THREE, "storage_account_min_tls_1_2": Status.FAIL}
    for rid in inside:
        out = store.record_evaluation(evaluation(flipped, rid=rid), read_at=T1, cause=CAUSE)
        assert out.outcome == "changed"
        assert statuses(store, rid)["storage_account_min_tls_1_2"] == "FAIL"
    assert loaded == [partition_key(rid) for rid in inside]
    store.discard_preloaded()


def test_a_scope_found_empty_preloads_its_groups_without_a_query_and_still_meets_other_writers(
    store: TableStateStore, azurite: AzuriteEndpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscription = f"/subscriptions/{parse(GROUP).subscription}"
    other = TableStateStore(
        TableServiceClient.from_connection_string(azurite.connection_string), store.prefix
    )
    # Another subscription's rows do not make this one non-empty.
    other.record_evaluation(
        evaluation(THREE, rid=_in_group("x9", GROUP.replace("000000000001", "000000000002"))),
        read_at=T0,
        cause=CAUSE,
    )
    assert store.preload_if_empty(subscription.upper()) is True
    racing = _in_group("a1")  # recorded by another writer (an event) after the check
    other.record_evaluation(evaluation(THREE, rid=racing), read_at=T0, cause=CAUSE)
    queries: list[str] = []
    real_query_rows = query_rows

    def counted(*args: Any, **kw: Any) -> Any:
        queries.append(str(args[1]))
        return real_query_rows(*args, **kw)

    monkeypatch.setattr("shared.state.tables.query_rows", counted)
    assert store.preload_group(GROUP) == 0 and queries == []
    # A new resource is created from the "no rows" answer; the racing one's create conflicts,
    # its rows are read, and the record lands on them.
    fresh = store.record_evaluation(evaluation(THREE, rid=_in_group("b2")), read_at=T1, cause=CAUSE)
    assert fresh.outcome == "changed" and fresh.attempts == 1
    flipped = {**THREE, "storage_account_min_tls_1_2": Status.FAIL}
    raced = store.record_evaluation(evaluation(flipped, rid=racing), read_at=T1, cause=CAUSE)
    assert raced.outcome == "changed" and raced.attempts == 2
    assert [(t.check_id, t.to_status) for t in raced.transitions] == [
        ("storage_account_min_tls_1_2", "FAIL")
    ]
    assert statuses(store, racing)["storage_account_min_tls_1_2"] == "FAIL"
    monkeypatch.undo()
    # Not empty any more; and a sweep's end forgets what it found.
    assert store.preload_if_empty(subscription) is False
    store.discard_preloaded(parse(GROUP).subscription)
    assert store._empty_scopes == {}


def test_a_sweep_ending_discards_only_its_own_subscriptions_preloaded_rows(
    store: TableStateStore,
) -> None:
    other_group = GROUP.replace("000000000001", "000000000002")
    mine, theirs = _in_group("a1"), _in_group("b2", other_group)
    for rid in (mine, theirs):
        store.record_evaluation(evaluation(THREE, rid=rid), read_at=T0, cause=CAUSE)
        store.preload_group(parse(rid).resource_group_id or "")
    store.discard_preloaded("00000000-0000-0000-0000-000000000001")
    assert store._take_prefetched(partition_key(mine)) is None
    kept = store._take_prefetched(partition_key(theirs))  # the other sweep still has its rows
    assert kept is not None and kept.marker is not None
    store.discard_preloaded()


def test_preloaded_rows_another_writer_changed_since_are_reread_not_overwritten(
    store: TableStateStore,
) -> None:
    rid = _in_group("a1")
    store.record_evaluation(evaluation(THREE, rid=rid), read_at=T0, cause=CAUSE)
    store.preload_group(GROUP)
    # Another worker records a newer read after the preload.
    failing = {**THREE, "storage_account_min_tls_1_2": Status.FAIL}
    store.record_evaluation(evaluation(failing, rid=rid), read_at=T2, cause=CAUSE)
    # The sweep's older read, seeded with the stale preloaded rows, is recognised as stale.
    out = store.record_evaluation(evaluation(THREE, rid=rid), read_at=T1, cause=SWEEP)
    assert out.outcome == "stale"
    assert statuses(store, rid)["storage_account_min_tls_1_2"] == "FAIL"
    assert_history_chains(store, rid)


# -- the package's shape ---------------------------------------------------------------------


def test_the_model_imports_no_storage_sdk() -> None:
    """Callers that only name the store's types (the pipeline, the CLI's filters) do not pay for
    azure.data.tables: a fresh interpreter importing the model has not loaded it."""
    code = (
        "import sys\n"
        "import shared.state.model, shared.state.keys\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('azure'))\n"
        "assert not loaded, loaded\n"
    )
    in_fresh_interpreter(code)


def test_one_list_of_finding_fields() -> None:
    # The order is the JSON and CSV column order of every output.
    assert FINDING_FIELDS == (
        "resource_id",
        "resource_type",
        "check_id",
        "status",
        "severity",
        "hipaa",
        "title",
        "reason",
        "evidence",
        "phi",
    )
    stored = tuple(f.name for f in dataclasses.fields(StoredFinding))
    assert stored[: len(FINDING_FIELDS)] == FINDING_FIELDS
    assert tuple(finding("c1", Status.FAIL).to_json()) == FINDING_FIELDS


def test_outcomes_and_cause_kinds_are_their_strings() -> None:
    assert [o.value for o in RecordResult] == ["changed", "unchanged", "stale"]
    assert f"{RecordResult.STALE}" == "stale" and json.dumps(RecordResult.CHANGED) == '"changed"'
    assert Cause("sweep") == Cause(CauseKind.SWEEP) and Cause("sweep").kind is CauseKind.SWEEP
    assert json.dumps(Cause("event").kind) == '"event"'
    with pytest.raises(ValueError, match="CauseKind"):
        Cause("reconcile")


def test_stored_cause_kinds_read_back_as_enum(store: TableStateStore) -> None:
    store.record_evaluation(evaluation(THREE), read_at=T0, cause=SWEEP)
    (row, *_) = store.current(RID)
    assert row.cause.kind is CauseKind.SWEEP
    assert row.to_json()["cause"]["kind"] == "sweep"
    assert store.history(RID)[0].cause.kind is CauseKind.SWEEP


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("last_evaluated_at", "not a date", "expected a datetime property"),
        ("hipaa", "[" * 5000, "cannot be read"),
        ("severity", "\u202eHIGH\x00", "cannot be read"),
    ],
)
def test_a_damaged_row_is_an_error_finding_naming_it_and_the_others_stand(
    store: TableStateStore, azurite: AzuriteEndpoints, field: str, value: str, problem: str
) -> None:
    """Regression: one damaged row stopped every report of the store (StoredRowError)."""
    store.record_evaluation(evaluation(THREE, rid=RID), read_at=T0, cause=CAUSE)
    before = {r.check_id: r for r in store.current(RID)}
    table = raw_table(store, azurite)
    row = next(iter(table.query_entities("check_id eq 'storage_account_min_tls_1_2'")))
    row[field] = value
    table.upsert_entity(row)
    after = {r.check_id: r for r in store.current(RID)}
    assert after.keys() == before.keys()
    damaged = after.pop("storage_account_min_tls_1_2")
    assert damaged.status == "ERROR" and damaged.resource_id == RID
    assert problem in damaged.reason and "storage_account_min_tls_1_2" in damaged.reason
    assert damaged.severity in (before["storage_account_min_tls_1_2"].severity, Severity.HIGH)
    assert after == {k: v for k, v in before.items() if k != "storage_account_min_tls_1_2"}
    json.dumps(damaged.to_json())  # reports can carry it


def test_an_older_full_read_does_not_overwrite_what_a_later_narrow_scan_judged(
    store: TableStateStore,
) -> None:
    from dataclasses import replace

    store.record_evaluation(evaluation(THREE), read_at=T0, cause=SWEEP)
    narrow = replace(
        evaluation({"storage_account_min_tls_1_2": Status.FAIL}),
        scope=frozenset({"storage_account_min_tls_1_2"}),
        partial=True,
    )
    store.record_evaluation(narrow, read_at=T2, cause=Cause("cli"))
    assert statuses(store)["storage_account_min_tls_1_2"] == "FAIL"
    assert store.marker(RID).last_read_at == T0  # type: ignore[union-attr]
    # A full read made before the narrow one, recorded after it: its other verdicts land, the
    # narrow scan's later verdict stands.
    older = {**THREE, "storage_account_shared_key_access_disabled": Status.PASS}
    store.record_evaluation(evaluation(older), read_at=T1, cause=SWEEP)
    now = statuses(store)
    assert now["storage_account_min_tls_1_2"] == "FAIL"
    assert now["storage_account_shared_key_access_disabled"] == "PASS"
    assert store.marker(RID).last_read_at == T1  # type: ignore[union-attr]
    # A newer full read judges everything again.
    store.record_evaluation(evaluation(THREE), read_at=T3, cause=SWEEP)
    assert statuses(store)["storage_account_min_tls_1_2"] == "PASS"
