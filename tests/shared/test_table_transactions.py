"""Entity group transactions framed by ``shared.state.batch`` behave as the SDK's own, against
Azurite: the same results, the same errors (type, status, code, failing index), nothing written
by a refused transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from shared.state.batch import BatchPart, decode_parts, encode_transaction, lean_table_client
from shared.tables import service_from_connection_string
from sim.azurite import AzuriteEndpoints


@pytest.fixture()
def clients(azurite: AzuriteEndpoints) -> tuple[TableClient, TableClient]:
    service = service_from_connection_string(azurite.connection_string)
    name = "tx" + uuid.uuid4().hex[:12]
    service.create_table(name)
    return lean_table_client(service, name), service.get_table_client(name)


def _rows(client: TableClient, pk: str) -> dict[str, dict[str, Any]]:
    return {
        str(e["RowKey"]): dict(e)
        for e in client.query_entities("PartitionKey eq @pk", parameters={"pk": pk})
    }


def test_a_transaction_writes_every_operation_and_returns_each_etag(
    clients: tuple[TableClient, TableClient],
) -> None:
    lean, stock = clients
    ops: list[Any] = [
        ("create", {"PartitionKey": "p", "RowKey": f"r{i}", "n": i, "s": "é ✓\r\n--x"})
        for i in range(40)
    ]
    results = lean.submit_transaction(ops)
    assert len(results) == 40 and all(r["etag"].startswith('W/"') for r in results)
    rows = _rows(stock, "p")
    assert sorted(rows) == sorted(f"r{i}" for i in range(40))
    assert rows["r7"]["n"] == 7 and rows["r7"]["s"] == "é ✓\r\n--x"
    # The etag returned is the one stored: a conditional update with it succeeds.
    marker = ("update", {"PartitionKey": "p", "RowKey": "r0", "n": 100}, _if(results[0]["etag"]))
    again = lean.submit_transaction([marker, ("upsert", {"PartitionKey": "p", "RowKey": "x"})])
    assert again[0]["etag"] != results[0]["etag"]
    assert _rows(stock, "p")["r0"]["n"] == 100


def _if(etag: str) -> dict[str, Any]:
    return {
        "mode": UpdateMode.REPLACE,
        "etag": etag,
        "match_condition": MatchConditions.IfNotModified,
    }


def _error(call: Callable[[], object]) -> TableTransactionError:
    with pytest.raises(TableTransactionError) as info:
        call()
    return info.value


@pytest.mark.parametrize("case", ["stale_etag", "already_exists"])
def test_a_refused_transaction_fails_as_the_sdk_fails_and_writes_nothing(
    clients: tuple[TableClient, TableClient], case: str
) -> None:
    lean, stock = clients
    first = lean.submit_transaction([("create", {"PartitionKey": "p", "RowKey": "m", "v": 1})])
    lean.submit_transaction([("update", {"PartitionKey": "p", "RowKey": "m", "v": 2})])
    if case == "stale_etag":
        failing: Any = (
            "update",
            {"PartitionKey": "p", "RowKey": "m", "v": 3},
            _if(first[0]["etag"]),
        )
    else:
        failing = ("create", {"PartitionKey": "p", "RowKey": "m", "v": 3})
    ops = [("create", {"PartitionKey": "p", "RowKey": "new", "v": 0}), failing]
    ours, theirs = (
        _error(lambda: lean.submit_transaction(ops)),
        _error(lambda: stock.submit_transaction(ops)),
    )
    assert type(ours) is type(theirs)
    # error_code is set by the SDK's error decoding, outside the class's declared attributes.
    assert (ours.status_code, getattr(ours, "error_code", None), ours.index) == (
        theirs.status_code,
        getattr(theirs, "error_code", None),
        theirs.index,
    )
    assert getattr(ours, "error_code", None) is not None
    assert ours.status_code == (412 if case == "stale_etag" else 409)
    assert ours.index == 1
    assert sorted(_rows(stock, "p")) == ["m"] and _rows(stock, "p")["m"]["v"] == 2


def test_the_framing_round_trips_and_malformed_answers_are_named() -> None:
    from azure.core.exceptions import DecodeError
    from azure.core.rest import HttpRequest

    body, boundary = encode_transaction(
        (
            HttpRequest(
                "POST", "http://h/t", headers={"Content-Type": "application/json"}, content=b"{}"
            ),
        )
    )
    text = body.decode()
    assert text.startswith(f"--{boundary}\r\nContent-Type: multipart/mixed; boundary=changeset_")
    assert "Content-ID: 0\r\n\r\nPOST http://h/t HTTP/1.1\r\n" in text
    assert "\r\nContent-Type: application/json\r\n" in text
    assert "\r\n\r\n{}\r\n--changeset_" in text
    assert text.endswith(f"--{boundary}--\r\n")

    answer = (
        b"--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n"
        b"--changesetresponse_2\r\nContent-Type: application/http\r\n"
        b"Content-Transfer-Encoding: binary\r\n\r\n"
        b"HTTP/1.1 204 No Content\r\nContent-ID: 0\r\nETag: W/\"datetime'1'\"\r\n\r\n\r\n"
        b"--changesetresponse_2--\r\n--batchresponse_1--\r\n"
    )
    parts = decode_parts("multipart/mixed; boundary=batchresponse_1", answer)
    assert [(p.status_code, p.headers["etag"]) for p in parts] == [(204, "W/\"datetime'1'\"")]
    assert isinstance(parts[0], BatchPart)
    # A body that holds the boundary's text mid-line is not cut there (RFC 2046 5.1.1).
    hostile = answer.replace(
        b"\r\n\r\n\r\n--changesetresponse_2--",
        b'\r\nContent-Type: application/json\r\n\r\n{"v": "x--changesetresponse_2--batchresponse_1"}'
        b"\r\n--changesetresponse_2--",
    )
    (part,) = decode_parts("multipart/mixed; boundary=batchresponse_1", hostile)
    assert part.json() == {"v": "x--changesetresponse_2--batchresponse_1"}
    with pytest.raises(DecodeError, match="without a boundary"):
        decode_parts("multipart/mixed", answer)
    with pytest.raises(DecodeError, match="not an HTTP response"):
        decode_parts(
            "multipart/mixed; boundary=b",
            b"--b\r\nContent-Type: application/http\r\n\r\nGARBAGE\r\n\r\n--b--",
        )


def test_lean_queries_return_the_sdks_entities_page_after_page_and_fail_as_it_fails(
    azurite: AzuriteEndpoints, clients: tuple[TableClient, TableClient]
) -> None:
    from datetime import UTC, datetime

    from azure.core.exceptions import ResourceNotFoundError
    from azure.data.tables import EdmType, EntityProperty

    from shared.state.batch import LeanTransactionsTableClient, query_rows

    lean, stock = clients
    assert isinstance(lean, LeanTransactionsTableClient)
    at = datetime(2026, 12, 6, 9, 30, 15, 123456, tzinfo=UTC)
    for start in range(0, 1100, 100):  # more than one page: the service answers 1,000 at most
        lean.submit_transaction(
            [
                (
                    "create",
                    {
                        "PartitionKey": "|p|a'b}",  # a quote and a brace in the filter's values
                        "RowKey": f"c~{i:05d}",
                        "at": at,
                        "big": EntityProperty(2**40 + i, EdmType.INT64),
                        "n": i,
                        "flag": i % 2 == 0,
                        "ratio": i / 7,
                        "text": "é ✓ '\"",
                        "raw": b"\x00\x01",
                    },
                )
                for i in range(start, start + 100)
            ]
        )
    query = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"
    params = {"pk": "|p|a'b}", "lo": "c~", "hi": "c~~"}
    ours = list(query_rows(lean, query, params))
    theirs = list(stock.query_entities(query, parameters=params))
    assert len(ours) == 1100
    assert [dict(e) for e in ours] == [dict(e) for e in theirs]
    assert [e.metadata for e in ours] == [e.metadata for e in theirs]
    first = ours[0]
    assert first["at"] == at and first["big"].value == 2**40 and first["raw"] == b"\x00\x01"
    assert type(first["at"]) is type(theirs[0]["at"])
    assert first["at"].tables_service_value == theirs[0]["at"].tables_service_value != ""
    assert first.metadata["timestamp"].tables_service_value  # the service's own text kept

    service = service_from_connection_string(azurite.connection_string)
    missing = lean_table_client(service, "gone" + uuid.uuid4().hex[:8])
    with pytest.raises(ResourceNotFoundError) as ours_failed:
        list(query_rows(missing, "PartitionKey eq 'x'"))
    with pytest.raises(ResourceNotFoundError) as sdk_failed:
        list(service.get_table_client(missing.table_name).query_entities("PartitionKey eq 'x'"))
    codes = {getattr(e.value, "error_code", None) for e in (ours_failed, sdk_failed)}
    assert codes == {"TableNotFound"}
    assert ours_failed.value.status_code == sdk_failed.value.status_code == 404


def test_operations_are_built_byte_for_byte_as_the_sdk_builds_them() -> None:
    from datetime import UTC, datetime, timedelta, timezone
    from enum import StrEnum

    from azure.data.tables import EdmType, EntityProperty, TableEntity, TransactionOperation
    from azure.data.tables._table_batch import TableBatchOperations

    from shared.state.batch import lean_operation

    class Colour(StrEnum):
        RED = "red"

    stored = TableEntity(PartitionKey="|p|a'b}", RowKey="marker", n=1)
    stored._metadata = {"etag": "W/\"datetime'2026-12-06T09%3A30%3A15Z'\"", "timestamp": None}
    entity: dict[str, Any] = {
        "PartitionKey": "|p|a'b}",
        "RowKey": "c~storage_account_min_tls_1_2",
        "text": 'é ✓ "q" \u2028 --changeset_',
        "n": 2**31 - 1,
        "negative": -(2**31),
        "flag": False,
        "ratio": 0.5,
        "whole": 2.0,
        "at": datetime(2026, 12, 6, 9, 30, 15, 123456, tzinfo=UTC),
        "same_instant": datetime(
            2026, 12, 6, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=5))
        ),
        "whole_second": datetime(2026, 12, 6, tzinfo=UTC),
        "naive": datetime(2026, 12, 6, 1, 2, 3),
        "big": EntityProperty(2**40, EdmType.INT64),
        "raw": b"\x00\xff",
        "colour": Colour.RED,
        "gone": None,
    }
    etag = "W/\"datetime'2026'\""
    operations: list[Any] = [
        ("create", entity),
        (TransactionOperation.CREATE, entity, {}),
        ("update", entity, {"mode": UpdateMode.REPLACE, **_if(etag)}),
        ("update", entity),
        ("update", entity, {"mode": "merge"}),
        ("delete", stored, {"match_condition": MatchConditions.IfNotModified}),
        ("upsert", entity),
        ("upsert", entity, {"mode": UpdateMode.REPLACE}),
        ("delete", entity),
        ("delete", entity, {"etag": etag, "match_condition": MatchConditions.IfNotModified}),
    ]

    class Config:
        version = "2019-02-02"

    config: Any = Config()

    endpoint = "http://127.0.0.1:10002/devstoreaccount1"
    for operation in operations:
        sdk = TableBatchOperations(config=config, endpoint=endpoint, table_name="tbl")
        sdk.add_operation(operation)
        expected = sdk.requests[0]
        ours = lean_operation(endpoint, "tbl", operation, [])
        assert ours is not None, operation
        assert (ours.method, ours.url, ours.content) == (
            expected.method,
            expected.url,
            expected.content,
        ), operation
        assert list(ours.headers.items()) == list(expected.headers.items()), operation

    # What the SDK refuses or this does not build is left to the SDK (None).
    assert lean_operation(endpoint, "tbl", ("merge", entity), []) is None
    assert lean_operation(endpoint, "tbl", ("create", {"RowKey": "r"}), []) is None
    assert lean_operation(endpoint, "tbl", ("create", entity, {"timeout": 5}), []) is None
    assert lean_operation(endpoint, "tbl", ("create", entity), ["another partition"]) is None
    unconditional_with_etag = ("update", entity, {"etag": etag})
    assert lean_operation(endpoint, "tbl", unconditional_with_etag, []) is None
    not_modified_without_etag = (
        "update",
        entity,
        {"match_condition": MatchConditions.IfNotModified},
    )
    assert lean_operation(endpoint, "tbl", not_modified_without_etag, []) is None
    # The SDK's update does not take a stored entity's etag (it looks at a converted copy).
    with pytest.raises(ValueError, match="IfNotModified must be specified with etag"):
        TableBatchOperations(config=config, endpoint=endpoint, table_name="tbl").update(
            stored, match_condition=MatchConditions.IfNotModified
        )
    stored_update = ("update", stored, {"match_condition": MatchConditions.IfNotModified})
    assert lean_operation(endpoint, "tbl", stored_update, []) is None


def test_a_single_update_is_the_sdks_answer_and_refusal(
    clients: tuple[TableClient, TableClient],
) -> None:
    from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

    lean, stock = clients
    created = stock.create_entity({"PartitionKey": "|p|", "RowKey": "marker", "n": 1})
    row = {"PartitionKey": "|p|", "RowKey": "marker", "n": 2, "s": "é"}
    written = lean.update_entity(row, mode=UpdateMode.REPLACE, **_conditional(created["etag"]))
    stored = stock.get_entity("|p|", "marker")
    assert written["etag"] == stored.metadata["etag"] != created["etag"]
    assert written["date"] is not None and (stored["n"], stored["s"]) == (2, "é")

    failures = []
    for client in (lean, stock):  # a stale etag, then a row that is not there
        with pytest.raises(ResourceModifiedError) as stale:
            client.update_entity(row, mode=UpdateMode.REPLACE, **_conditional(created["etag"]))
        missing = {"PartitionKey": "|p|", "RowKey": "gone"}
        with pytest.raises(ResourceNotFoundError) as gone:
            client.update_entity(missing, mode=UpdateMode.MERGE)
        raised: list[Any] = [stale.value, gone.value]
        failures.append([(type(e), e.status_code, e.error_code) for e in raised])
    assert failures[0] == failures[1]
    assert stock.get_entity("|p|", "marker")["n"] == 2  # nothing written by a refusal


def _conditional(etag: str) -> dict[str, Any]:
    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}


def test_keys_in_urls_are_percent_encoded_as_quote_encodes_them() -> None:
    from urllib.parse import quote

    from shared.state.batch import _key

    samples = [
        "|subscriptions|s|resourcegroups|rg-1|providers|x.y|z(1)",
        "c~check_1",
        "a'b!c~",
        "é/ ?#%{}",
    ]
    for sample in samples:
        assert _key(sample) == quote(sample.replace("'", "''"), safe=""), sample


def test_rows_the_service_could_send_are_converted_as_the_sdk_converts_them() -> None:
    from azure.data.tables import _deserialize

    from shared.state.batch import entity_from

    sdk: Any = _deserialize
    row = {
        "PartitionKey": "p",
        "RowKey": "r",
        "odata.etag": 'W/"1"',
        "Timestamp": "2026-12-06T09:30:15.1234567Z",
        "untyped_big": 2**40,  # no annotation: read as Int64, as the SDK reads it
        "untyped_small": 7,
        "flag": True,
        "ratio": 1.5,
        "odd@odata.type": "Edm.Unheard",
        "odd": "1",
        "guid@odata.type": "Edm.Guid",
        "guid": "c9da6455-213d-42c9-9a79-3e9149a57833",
    }
    ours, theirs = entity_from(row), sdk._convert_to_entity(row)
    assert [(k, v, type(v)) for k, v in ours.items()] == [
        (k, v, type(v)) for k, v in theirs.items()
    ]
    assert ours.metadata == theirs.metadata


def test_service_dates_are_read_as_the_sdk_reads_them() -> None:
    from azure.data.tables import _deserialize

    from shared.state.batch import _service_datetime

    sdk: Any = _deserialize

    for text in (
        "2026-12-06T09:30:15.1234567Z",
        "2026-12-06T09:30:15.5Z",
        "2026-12-06T09:30:15Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.9999999Z",
        "2026-1-6T09:30:15Z",  # not the service's own format: parsed by the SDK itself
    ):
        ours, theirs = _service_datetime(text), sdk._from_entity_datetime(text)
        assert (ours, type(ours), ours.tzinfo) == (theirs, type(theirs), theirs.tzinfo), text
        assert ours.tables_service_value == theirs.tables_service_value == text


def test_a_single_create_is_the_sdks_answer_and_refusal(
    clients: tuple[TableClient, TableClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    lean, stock = clients
    row = {"PartitionKey": "|p|", "RowKey": "e1", "n": 7, "s": "é", "ok": True, "none": None}
    with monkeypatch.context() as patched:  # sent by the lean path, not the SDK's
        patched.setattr(TableClient, "create_entity", None)
        created = lean.create_entity(row)
    stored = stock.get_entity("|p|", "e1")
    assert created["etag"] == stored.metadata["etag"] and created["date"] is not None
    assert (stored["n"], stored["s"], stored["ok"]) == (7, "é", True)
    assert "none" not in stored
    stock.create_entity({**row, "RowKey": "e2"})
    assert _rows(lean, "|p|")["e1"] == _rows(stock, "|p|")["e2"] | {"RowKey": "e1"}

    failures = []
    for client in (lean, stock):  # a row that exists, then a key the service refuses
        with pytest.raises(Exception) as exists:
            client.create_entity(row)
        with pytest.raises(Exception) as bad_key:
            client.create_entity({"PartitionKey": "|p|", "RowKey": "a/b"})
        raised: list[Any] = [exists.value, bad_key.value]
        failures.append([(type(e), getattr(e, "status_code", None), str(e)[:60]) for e in raised])
    assert failures[0] == failures[1]
    assert failures[0][0][0].__name__ == "ResourceExistsError"


def test_hostile_date_text_is_refused_as_the_sdk_refuses_it_and_never_cached() -> None:
    from azure.data.tables import _deserialize

    from shared.state.batch import _service_datetime, _service_datetime_text

    sdk: Any = _deserialize
    held = _service_datetime_text.cache_info().currsize
    for text in ("x" * 100_000, "9" * 5000 + "-12-06T09:30:15Z", "2026-13-40T00:00:00Z"):
        with pytest.raises(ValueError) as ours:
            _service_datetime(text)
        with pytest.raises(ValueError) as theirs:
            sdk._from_entity_datetime(text)
        assert type(ours.value) is type(theirs.value)
    assert _service_datetime_text.cache_info().currsize <= held + 1  # only the short one


def test_a_key_past_the_services_limit_is_encoded_as_the_sdk_does_and_never_cached() -> None:
    from urllib.parse import quote

    from shared.state.batch import _key, _key_cached

    held = _key_cached.cache_info().currsize
    for key in ("|p|" + "a" * 100_000, "é'(" * 5000):
        assert _key(key) == quote(key.replace("'", "''"), safe="")
    assert _key_cached.cache_info().currsize == held
