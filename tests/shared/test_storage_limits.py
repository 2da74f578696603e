"""phiguard's own bounds on what it writes to Table Storage, against the service's documented
limits (Azurite is laxer than the service on several of them, so the bounds are measured here,
not left to the emulator):

* "Understanding the Table service data model"
  (learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model):
  a DateTime property holds 1601-01-01 UTC onwards; keys are at most 1 KiB (512 UTF-16 units);
* "Performing entity group transactions"
  (learn.microsoft.com/rest/api/storageservices/performing-entity-group-transactions):
  at most 100 operations and at most 4 MiB of payload per transaction.
"""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

import shared.state.batch as batch
import shared.state.tables as tables
from shared.access.store import BlobReviewStore
from shared.engine import Evaluation
from shared.evidence import BlobEvidenceStore, export_day, ndjson
from shared.kernel.changes import Cause
from shared.kernel.findings import Finding, Severity, Status
from shared.outbox.model import Channel, Kind, new_item
from shared.outbox.store import TableOutbox, row_key
from shared.remediation_log import RecordStatus, RemediationRecord, _entity
from shared.state.entities import _poison_entity, _poison_record
from shared.state.keys import partition_key
from shared.state.tables import TableStateStore
from sim.azurite import AzuriteEndpoints

RID = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-phi"
    "/providers/Microsoft.Storage/storageAccounts/phidata"
)
TYPE = "microsoft.storage/storageaccounts"
T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
EARLIEST = datetime(1601, 1, 1, tzinfo=UTC)
FOUR_MIB = 4 * 1024 * 1024
KEY_UNITS = 512  # 1 KiB of UTF-16


def _units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _evaluation(statuses: dict[str, Status], evidence: dict[str, Any] | None = None) -> Evaluation:
    return Evaluation(
        resource_id=RID,
        resource_type=TYPE,
        phi=True,
        findings=tuple(
            Finding(
                resource_id=RID,
                resource_type=TYPE,
                check_id=check,
                status=status,
                severity=Severity.HIGH,
                hipaa=("164.312(a)(2)(iv)",),
                title=f"{check} holds",
                reason=f"{check} is {status.value}.",
                evidence=evidence if evidence is not None else {"setting": status.value},
                phi=True,
            )
            for check, status in statuses.items()
        ),
    )


def _raw_rows(store: TableStateStore, azurite: AzuriteEndpoints) -> list[Any]:
    table = TableServiceClient.from_connection_string(azurite.connection_string).get_table_client(
        store.state_table
    )
    return list(table.query_entities("PartitionKey eq @pk", parameters={"pk": partition_key(RID)}))


# -- DateTime range ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event_time",
    [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1600, 12, 31, 23, 59, 59, tzinfo=UTC),
    ],
)
def test_an_event_time_before_1601_is_never_written_as_a_datetime(
    store: TableStateStore, azurite: AzuriteEndpoints, event_time: datetime
) -> None:
    cause = Cause("event", event_id="evt-ancient", event_time=event_time)

    out = store.record_evaluation(_evaluation({"check_a": Status.FAIL}), read_at=T0, cause=cause)

    assert out.outcome == "changed"
    rows = _raw_rows(store, azurite)
    assert {r["RowKey"][:2] for r in rows} == {"ma", "c~", "h~"}  # marker, check, history
    for row in rows:
        for name, value in row.items():
            if isinstance(value, datetime):
                assert value >= EARLIEST, (row["RowKey"], name, value)
    marker = store.marker(RID)
    assert marker is not None and marker.last_event_time is None
    (finding,) = store.current(RID)
    assert finding.cause.event_id == "evt-ancient" and finding.cause.event_time is None


def test_an_ancient_event_does_not_displace_the_last_real_event(store: TableStateStore) -> None:
    real = Cause("event", event_id="evt-real", event_time=T0)
    store.record_evaluation(_evaluation({"check_a": Status.PASS}), read_at=T0, cause=real)
    ancient = Cause("event", event_id="evt-old", event_time=datetime(1500, 1, 1, tzinfo=UTC))

    store.record_evaluation(
        _evaluation({"check_a": Status.FAIL}), read_at=T0 + timedelta(minutes=1), cause=ancient
    )

    marker = store.marker(RID)
    assert marker is not None
    assert (marker.last_event_id, marker.last_event_time) == ("evt-real", T0)


def test_a_remediation_record_never_carries_a_datetime_before_1601() -> None:
    record = RemediationRecord(
        id="20261206T120000000000Z-abcdef",
        remediation_id="storage_https_only",
        resource_id=RID,
        check_ids=("check_a",),
        mode="apply",
        status=RecordStatus.PLANNED,
        reason="planned",
        cause=Cause("event", event_id="evt-old", event_time=datetime(1, 1, 1, tzinfo=UTC)),
        created_at=T0,
        updated_at=T0,
    )

    entity = _entity(record)

    assert "cause_event_time" not in entity
    assert entity["cause_event_id"] == "evt-old"
    assert all(v >= EARLIEST for v in entity.values() if isinstance(v, datetime))


# -- entity group transactions: 4 MiB ------------------------------------------------------------


@pytest.fixture
def batch_sizes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The size of every ``$batch`` body the state store sends."""
    sizes: list[int] = []
    encode = batch.encode_transaction

    def measured(requests: Any) -> tuple[bytes, str]:
        body, boundary = encode(requests)
        sizes.append(len(body))
        return body, boundary

    monkeypatch.setattr(batch, "encode_transaction", measured)
    yield sizes


def test_a_change_of_many_large_rows_is_split_under_the_4_mib_transaction_limit(
    store: TableStateStore, batch_sizes: list[int]
) -> None:
    # Each row's evidence fits one string property (< 32,000 UTF-16 units) but is sent as
    # JSON escaped to ASCII ("\u00e9": 6 bytes a character): 60 of them are ~11 MB.
    evidence = {"policy": "é" * 31_000}
    checks = {f"check_{i:03d}": Status.FAIL for i in range(60)}

    out = store.record_evaluation(_evaluation(checks, evidence), read_at=T0, cause=Cause("sweep"))

    assert out.outcome == "changed" and len(out.transitions) == 60
    assert batch_sizes and max(batch_sizes) <= FOUR_MIB, batch_sizes
    assert sum(batch_sizes) > 2 * FOUR_MIB  # the change really needed several transactions
    stored = store.current(RID)
    assert len(stored) == 60 and all(f.evidence == evidence for f in stored)


def test_small_rows_still_share_one_transaction(
    store: TableStateStore, batch_sizes: list[int]
) -> None:
    checks = {f"check_{i:03d}": Status.PASS for i in range(49)}  # 98 operations + the marker

    out = store.record_evaluation(_evaluation(checks), read_at=T0, cause=Cause("sweep"))

    assert out.transactions == 1 and len(batch_sizes) == 1


# -- keys: 1 KiB ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["😀" * 600, "a" + "😀" * 450, "\U0001f512/" * 300])
def test_an_outbox_key_outside_the_bmp_hashes_within_1_kib(key: str) -> None:
    rk = row_key(key)

    assert _units(rk) <= KEY_UNITS
    assert row_key(key + "x") != rk


def test_an_outbox_item_keyed_with_emoji_round_trips(azurite: AzuriteEndpoints) -> None:
    box = TableOutbox.from_connection_string(
        azurite.connection_string, prefix=f"t{uuid.uuid4().hex[:12]}"
    )
    box.ensure_tables()
    key = "😀" * 600

    assert box.enqueue(new_item(key, Channel.TEAMS, Kind.NEW_FAILURE, {"title": "t"}, now=T0))

    stored = box.get(Channel.TEAMS, key)
    assert stored is not None and stored.key == key


# -- Blob: create-only evidence, containers the deployment made ------------------------------


def _refusal(status: int, code: str) -> HttpResponseError:
    error = HttpResponseError(message=f"{code}: refused")
    error.status_code = status
    error.error_code = code  # type: ignore[attr-defined]
    return error


class _Container:
    """The ``ContainerClient`` calls the blob stores make; ``create_container`` refused."""

    def __init__(self, refusal: Exception) -> None:
        self.refusal = refusal
        self.blobs: dict[str, bytes] = {}
        self.url = "https://account.blob.core.windows.net/c"

    def create_container(self) -> None:
        raise self.refusal

    def download_blob(self, name: str) -> Any:
        if name not in self.blobs:
            raise ResourceNotFoundError("BlobNotFound")
        data = self.blobs[name]
        return type("D", (), {"readall": lambda self: data})()

    def upload_blob(self, name: str, data: bytes, **kwargs: Any) -> None:
        self.blobs[name] = data


def test_a_role_without_container_create_rights_still_writes_evidence_and_reviews() -> None:
    # The evidence role grants blob data writes, not containers/write, which Create Container
    # needs: the service answers 403 AuthorizationPermissionMismatch for a container that the
    # deployment already made.
    container = _Container(_refusal(403, "AuthorizationPermissionMismatch"))

    out = export_day(BlobEvidenceStore(container), date(2026, 12, 5), [{"c": 1}], [])
    BlobReviewStore(container).write("2026-W49", "summary.json", b"{}")

    assert set(out.written) == set(container.blobs) - {"2026-W49/summary.json"}
    assert "2026-W49/summary.json" in container.blobs


def test_other_container_refusals_still_surface() -> None:
    container = _Container(_refusal(500, "InternalError"))

    with pytest.raises(HttpResponseError):
        export_day(BlobEvidenceStore(container), date(2026, 12, 5), [{"c": 1}], [])
    with pytest.raises(HttpResponseError):
        BlobReviewStore(container).write("2026-W49", "summary.json", b"{}")


class _LateReader:
    """The evidence store over Azurite, whose first read of each blob misses: another export
    creates it between this export's read and its create."""

    def __init__(self, store: BlobEvidenceStore, other: dict[str, bytes]) -> None:
        self.store, self.other = store, other
        self.missed: set[str] = set()

    def read(self, name: str) -> bytes | None:
        if name not in self.missed:
            self.missed.add(name)
            if name in self.other:
                self.store.create(name, self.other[name])
            return None
        return self.store.read(name)

    def create(self, name: str, data: bytes) -> None:
        self.store.create(name, data)


@pytest.fixture
def evidence_store(azurite: AzuriteEndpoints) -> BlobEvidenceStore:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    return BlobEvidenceStore(service.get_container_client(f"e{uuid.uuid4().hex[:12]}"))


def test_an_evidence_blob_created_meanwhile_with_the_same_bytes_is_that_days_blob(
    evidence_store: BlobEvidenceStore,
) -> None:
    day = date(2026, 12, 5)
    same = ndjson([{"c": 1}])

    out = export_day(
        _LateReader(evidence_store, {"history/2026/12/05.ndjson": same}), day, [{"c": 1}], []
    )

    assert out.files["history"] == "history/2026/12/05.ndjson"
    assert "history/2026/12/05.ndjson" not in out.written
    assert evidence_store.read("history/2026/12/05.ndjson") == same


def test_an_evidence_blob_created_meanwhile_with_other_bytes_gets_the_next_revision(
    evidence_store: BlobEvidenceStore,
) -> None:
    day = date(2026, 12, 5)
    other = ndjson([{"c": 0}])

    out = export_day(
        _LateReader(evidence_store, {"history/2026/12/05.ndjson": other}), day, [{"c": 1}], []
    )

    assert out.files["history"] == "history/2026/12/05.r2.ndjson"
    assert evidence_store.read("history/2026/12/05.ndjson") == other  # never overwritten
    assert evidence_store.read("history/2026/12/05.r2.ndjson") == ndjson([{"c": 1}])
    manifest = json.loads(evidence_store.read(out.files["manifest"]) or b"{}")
    assert manifest["files"]["history"]["blob"] == "history/2026/12/05.r2.ndjson"


# -- $filter: at most 15 comparisons -------------------------------------------------------------


def _comparisons_in(query_filter: str) -> int:
    return len(re.findall(r"\b(?:eq|ne|gt|ge|lt|le)\b", query_filter))


@pytest.mark.parametrize("severity", [None, "HIGH"])
def test_current_over_many_subscriptions_sends_filters_of_at_most_15_comparisons(
    store: TableStateStore, monkeypatch: pytest.MonkeyPatch, severity: str | None
) -> None:
    subscriptions = [f"00000000-0000-0000-0000-{i:012d}" for i in range(1, 8)]
    for sub in subscriptions:
        rid = RID.replace("00000000-0000-0000-0000-000000000001", sub)
        evaluation = _evaluation({"check_a": Status.FAIL})
        evaluation = Evaluation(
            resource_id=rid,
            resource_type=TYPE,
            phi=True,
            findings=tuple(dataclasses.replace(f, resource_id=rid) for f in evaluation.findings),
        )
        store.record_evaluation(evaluation, read_at=T0, cause=Cause("sweep"))
    sent: list[str] = []
    real = batch.query_rows

    def recording(client: Any, query_filter: str, parameters: Any = None) -> Any:
        sent.append(query_filter)
        return real(client, query_filter, parameters)

    monkeypatch.setattr(tables, "query_rows", recording)

    found = store.current(subscriptions=subscriptions[1:], severity=severity)

    assert sorted(f.resource_id.split("/")[2] for f in found) == subscriptions[1:]
    assert sent and all(_comparisons_in(q) <= 15 for q in sent), sent


# -- entity size: 1 MiB, 252 properties ----------------------------------------------------------


def _entity_bytes(entity: dict[str, Any]) -> int:
    """The documented size of an entity ("Understanding the Table service data model"): 4 bytes,
    the keys in UTF-16, and per property 8 bytes, its name in UTF-16 and its value."""
    total = 4 + 2 * (_units(entity["PartitionKey"]) + _units(entity["RowKey"]))
    for name, value in entity.items():
        if name in ("PartitionKey", "RowKey") or value is None:
            continue
        if isinstance(value, str):
            size = 4 + 2 * _units(value)
        elif isinstance(value, bool):
            size = 1
        else:
            size = 8  # Int32/Int64/Double/DateTime: at most 8
        total += 8 + 2 * _units(name) + size
    return total


def test_the_largest_poison_row_fits_one_entity() -> None:
    raw = "😀" * 2_000_000  # far past what the row keeps: cut, flagged
    record, parts = _poison_record(raw, "é" * 100_000, "s" * 100_000, T0, T0)

    entity = _poison_entity(record, parts)

    assert record.truncated
    assert _entity_bytes(entity) <= 1024 * 1024
    assert len(entity) - 2 <= 252
    assert all(_units(v) <= 32_768 for v in entity.values() if isinstance(v, str))
