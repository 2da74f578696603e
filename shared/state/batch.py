"""The state store's Table traffic, framed here instead of built object by object by the
Tables SDK: entity group transactions, single updates and queries.

``TableClient.submit_transaction`` builds each operation's request with the SDK's generated
serializers and hands the ``multipart/mixed`` framing to azure-core, which writes every part
through ``email.message`` and reads the answer back through ``email.parser`` and one
``http.client`` parse per part; its queries run every row through a generic model deserializer
and ``strptime``. On a cold sweep the framing alone was about half of phiguard's CPU (yappi over
``python -m bench.sweep_cpu``), for a format that is a few lines of text per operation.

:class:`LeanTransactionsTableClient` keeps the SDK's client, pipeline (auth, retries,
transport) and error decoding, and replaces what was costly:

* transactions framed and parsed as the Table service documents an entity group transaction
  ("Performing entity group transactions", learn.microsoft.com/rest/api/storageservices): an
  outer ``batch_<id>`` part holding one ``changeset_<id>`` with an ``application/http`` part per
  operation; the answer is a ``batchresponse`` holding a ``changesetresponse`` with one HTTP
  response per operation, or a single one naming the operation that failed
  (``"<index>:<message>"``);
* each operation's sub-request built by :func:`lean_operation`: the SDK's method, URL, headers
  and body, byte for byte (anything else is left to the SDK);
* single updates (a warm sweep's marker write) sent the same way;
* queries (:meth:`LeanTransactionsTableClient.query_rows`) read with ``json`` and converted as
  the SDK converts rows (:func:`entity_from`).

Errors are raised as the SDK raises them (``TableTransactionError`` with the index,
``RequestTooLargeError`` for 413, ``ResourceModifiedError`` for a stale ETag, ...).
``tests/shared/test_table_transactions.py`` holds every piece to the SDK's own on Azurite.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import (
    ClientAuthenticationError,
    DecodeError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ResourceNotModifiedError,
    map_error,
)
from azure.core.rest import HttpRequest
from azure.core.utils import CaseInsensitiveDict
from azure.data.tables import (
    EdmType,
    EntityProperty,
    RequestTooLargeError,
    TableClient,
    TableEntity,
    TableServiceClient,
    TableTransactionError,
    UpdateMode,
    _deserialize,
    _error,
    _serialize,
)

# The SDK's private helpers this module reuses so that values, errors and escapes stay the SDK's
# own (untyped modules: one ``Any`` alias each).
_SDK_SERIALIZE: Any = _serialize
_SDK_DESERIALIZE: Any = _deserialize
_SDK_ERROR: Any = _error
# What an operation-level refusal maps to before the SDK's own decoding (its generated code's).
_ERROR_MAP = {
    401: ClientAuthenticationError,
    404: ResourceNotFoundError,
    409: ResourceExistsError,
    304: ResourceNotModifiedError,
}

_CRLF = b"\r\n"


class BatchPart:
    """One operation's answer: what the SDK's error decoding and metadata extraction read."""

    request = None

    def __init__(
        self, status_code: int, reason: str, headers: Mapping[str, str], content: bytes
    ) -> None:
        self.status_code = status_code
        self.reason = reason
        self._headers: Mapping[str, str] = headers
        self.content = content

    @property
    def headers(self) -> CaseInsensitiveDict:
        """Built when read (an error's decoding reads them; a success needs only its ETag)."""
        if not isinstance(self._headers, CaseInsensitiveDict):
            self._headers = CaseInsensitiveDict(self._headers)
        return self._headers

    @property
    def etag(self) -> str | None:
        for name, value in self._headers.items():
            if name.lower() == "etag":
                return value
        return None

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("content-type")
        return str(value) if value is not None else None

    def body(self) -> bytes:
        return self.content

    def read(self) -> bytes:
        return self.content

    def text(self, encoding: str | None = None) -> str:
        return self.content.decode(encoding or "utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass(frozen=True)
class SubRequest:
    """One operation of a transaction, as :func:`encode_transaction` frames it (the attributes
    of an ``HttpRequest`` it reads)."""

    method: str
    url: str
    headers: dict[str, str]
    content: str | None


_INT32 = range(-(2**31), 2**31)


def _entity_body(entity: Mapping[str, Any]) -> dict[str, Any]:
    """``_add_entity_properties(entity)``, the SDK's entity serialization, with its common
    cases inline: a string is sent with its ``Edm.String`` annotation, a bool and an Int32 as
    they are, ``None`` not at all; any other value is converted by the SDK itself."""
    out: dict[str, Any] = {}
    for name, value in entity.items():
        kind = type(value)
        if kind is str:
            out[name] = value
            out[name + "@odata.type"] = "Edm.String"
        elif kind is bool or (kind is int and value in _INT32):
            out[name] = value
        elif kind is datetime:
            out[name] = _datetime_text(value)
            out[name + "@odata.type"] = "Edm.DateTime"
        elif value is not None:
            out.update(_SDK_SERIALIZE._add_entity_properties({name: value}))
    return out


@lru_cache(maxsize=1024)
def _datetime_text(value: datetime) -> str:
    """The SDK's text for a ``datetime`` (UTC, microseconds), once per instant: a record's rows
    share their times."""
    text: str = _SDK_SERIALIZE._to_entity_datetime(value)[1]
    return text


# The characters escaped keys hold (``shared.state.keys``) that percent-encoding changes.
_KEY_PLAIN = re.compile(r"[A-Za-z0-9_.~()|!'-]*")
_KEY_ENCODED = str.maketrans({"(": "%28", ")": "%29", "|": "%7C", "!": "%21", "'": "%27"})


def _key(value: str) -> str:
    """A key in an entity's URL, as the SDK writes it: quotes doubled, then percent-encoded
    (``quote(..., safe="")``; the common case by a translation table). Keys within the
    service's 1 KiB limit are encoded once (a resource's rows share its partition key)."""
    return _key_cached(value) if len(value) <= 1024 else _encoded_key(value)


@lru_cache(maxsize=4096)
def _key_cached(value: str) -> str:
    return _encoded_key(value)


def _encoded_key(value: str) -> str:
    doubled = value.replace("'", "''")
    if _KEY_PLAIN.fullmatch(doubled):
        return doubled.translate(_KEY_ENCODED)
    return quote(doubled, safe="")


def lean_operation(
    endpoint: str, table: str, operation: Any, partition: list[str]
) -> SubRequest | None:
    """The sub-request the SDK's ``TableBatchOperations`` builds for ``operation`` (create,
    update, upsert, delete with the SDK's keyword arguments: the same method, URL, headers and
    body), or None for anything else or anything the SDK would refuse, which is then left to
    the SDK. ``partition`` holds the transaction's partition key once the first operation set
    it."""
    if not isinstance(operation, tuple) or len(operation) not in (2, 3):
        return None
    kind, entity = operation[0], operation[1]
    options: dict[str, Any] = dict(operation[2]) if len(operation) == 3 else {}
    kind = str(getattr(kind, "value", kind)).lower()
    if not isinstance(entity, Mapping):
        return None
    pk, rk = entity.get("PartitionKey"), entity.get("RowKey")
    if not isinstance(pk, str) or not isinstance(rk, str) or partition[:1] not in ([], [pk]):
        return None
    mode = options.pop("mode", UpdateMode.MERGE)
    etag = options.pop("etag", None) if kind in ("update", "delete") else None
    condition = options.pop("match_condition", None) if kind in ("update", "delete") else None
    if options or kind not in ("create", "update", "upsert", "delete"):
        return None
    if kind == "delete" and condition and not etag and isinstance(entity, TableEntity):
        etag = entity.metadata.get("etag")  # the SDK's update looks too, at a converted copy
    if_match: str | None = None
    if kind in ("update", "delete"):
        if condition == MatchConditions.IfNotModified and etag:
            if_match = str(etag)
        elif condition in (None, MatchConditions.Unconditionally) and not etag:
            if_match = "*"
        else:
            return None
    if kind in ("update", "upsert") and mode not in (UpdateMode.REPLACE, UpdateMode.MERGE):
        return None
    if not partition:
        partition.append(pk)
    base = f"{endpoint}/{table}"
    keys = f"(PartitionKey='{_key(pk)}',RowKey='{_key(rk)}')"
    headers: dict[str, str] = {}
    body: str | None = None
    if kind != "delete":
        body = json.dumps(_entity_body(entity))
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    headers["x-ms-version"] = "2019-02-02"
    headers["DataServiceVersion"] = "3.0"
    if kind in ("create", "delete"):
        headers["Accept"] = "application/json;odata=minimalmetadata"
    else:
        headers["Accept"] = "application/json"
    if if_match is not None:
        headers["If-Match"] = if_match
    if kind == "create":
        return SubRequest("POST", base, headers, body)
    if kind == "delete":
        return SubRequest("DELETE", base + keys, headers, None)
    method = "PUT" if mode == UpdateMode.REPLACE else "PATCH"
    return SubRequest(method, base + keys, headers, body)


def encode_transaction(requests: tuple[HttpRequest | SubRequest, ...]) -> tuple[bytes, str]:
    """The body and the boundary of a ``$batch`` request holding ``requests`` as one changeset."""
    batch = f"batch_{uuid.uuid4()}"
    changeset = f"changeset_{uuid.uuid4()}"
    out: list[bytes] = [
        f"--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n".encode()
    ]
    for index, request in enumerate(requests):
        content = request.content
        body = content.encode() if isinstance(content, str) else bytes(content or b"")
        lines = [
            f"--{changeset}",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            f"Content-ID: {index}",
            "",
            f"{request.method} {request.url} HTTP/1.1",
        ]
        lines += [f"{k}: {v}" for k, v in request.headers.items()]
        out.append(("\r\n".join(lines) + "\r\n\r\n").encode() + body + _CRLF)
    out.append(f"--{changeset}--\r\n\r\n--{batch}--\r\n".encode())
    return b"".join(out), batch


def _boundary(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary":
            return value.strip().strip('"')
    raise DecodeError(f"a multipart answer without a boundary: {content_type[:200]!r}")


def _split_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip()] = value.strip()
    return headers


def decode_parts(content_type: str, body: bytes) -> list[BatchPart]:
    """The operations' answers in a ``$batch`` answer (a changeset's, nested or not)."""
    # A delimiter counts only at the start of a line (RFC 2046 5.1.1): a value that happens to
    # hold the boundary's text is not one.
    delimiter = _CRLF + b"--" + _boundary(content_type).encode()
    parts: list[BatchPart] = []
    for chunk in (_CRLF + body).split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, sep, rest = chunk.removeprefix(_CRLF).partition(_CRLF + _CRLF)
        if not sep:
            continue
        headers = _split_headers(head)
        inner_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if inner_type.lower().startswith("multipart/mixed"):
            parts.extend(decode_parts(inner_type, rest))
            continue
        status_block, sep, payload = rest.partition(_CRLF + _CRLF)
        status_line, _, header_lines = status_block.partition(_CRLF)
        fields = status_line.decode("latin-1").split(" ", 2)
        if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
            raise DecodeError(f"not an HTTP response in a batch answer: {status_line[:100]!r}")
        parts.append(
            BatchPart(
                int(fields[1]),
                fields[2] if len(fields) > 2 else "",
                _split_headers(header_lines),
                payload,
            )
        )
    return parts


class LeanTransactionsTableClient(TableClient):
    """A ``TableClient`` whose transactions are framed by :func:`encode_transaction` and
    :func:`decode_parts` (see the module's doc), with :meth:`query_rows` beside the SDK's
    ``query_entities``; every other call is the SDK's."""

    def query_rows(
        self,
        query_filter: str,
        *,
        parameters: dict[str, Any] | None = None,
        select: Sequence[str] = (),
    ) -> Iterator[Any]:
        """``query_entities(query_filter, parameters=parameters)`` without the SDK's generic
        model deserializer: the same request ("Query Entities": ``GET /{table}()?$filter=``,
        each value percent-encoded as the SDK encodes it, continued by ``NextPartitionKey`` /
        ``NextRowKey``), each page read with ``json`` and each entity converted as the SDK's
        ``_convert_to_entity`` converts it (:func:`entity_from`: the same values, types and
        metadata), and a refusal raised as the SDK raises it. The generated
        deserializer walked every property of every row through a model of the whole answer:
        about half of a warm sweep's storage CPU (yappi over ``phiguard scan``). ``select``:
        only these properties (``$select``), as ``query_entities(select=...)``."""
        params: dict[str, str] = {
            "$filter": _SDK_SERIALIZE._parameter_filter_substitution(parameters, query_filter)
        }
        if select:
            params["$select"] = ",".join(select)
        url = f"{self.scheme}://{self._primary_hostname}/{self.table_name}()"
        headers = {
            "x-ms-version": self.api_version,
            "DataServiceVersion": "3.0",
            "Accept": "application/json;odata=minimalmetadata",
        }
        pipeline: Any = self._client._client  # the PipelineClient: the URL is sent as built
        while True:
            query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
            request = HttpRequest("GET", f"{url}?{query}", headers=headers)
            # Streamed: azure-core's ContentDecodePolicy would parse every page a second time.
            response = pipeline.send_request(request, stream=True)
            content = response.read()
            if response.status_code != 200:
                self._raise_refusal(response, None)
            try:
                page = json.loads(content)
                rows = page["value"]
            except (ValueError, KeyError, TypeError) as exc:
                raise DecodeError(
                    f"a Query Entities answer that is not an entity list: {exc}"
                ) from exc
            for row in rows:
                yield entity_from(row)
            next_partition = response.headers.get("x-ms-continuation-NextPartitionKey")
            next_row = response.headers.get("x-ms-continuation-NextRowKey")
            if not next_partition and not next_row:
                return
            params = {k: v for k, v in params.items() if k in ("$filter", "$select")}
            if next_partition:
                params["NextPartitionKey"] = next_partition
            if next_row:
                params["NextRowKey"] = next_row

    def submit_transaction(self, operations: Iterable[Any], **kwargs: Any) -> list[Any]:
        """The SDK's ``submit_transaction``, each operation built by :func:`lean_operation`
        (the SDK's ``TableBatchOperations`` built a request object per operation through its
        generated serializers: a fifth of a cold sweep's CPU). A transaction holding any
        operation that function leaves to the SDK is the SDK's from end to end."""
        listed = list(operations)
        endpoint = f"{self.scheme}://{self._primary_hostname}"
        partition: list[str] = []
        parts = [lean_operation(endpoint, self.table_name, op, partition) for op in listed]
        lean = [p for p in parts if p is not None]
        if self._cosmos_endpoint or not lean or len(lean) < len(parts):
            return super().submit_transaction(listed, **kwargs)
        return self._batch_send(self.table_name, *lean, **kwargs)

    def update_entity(
        self,
        entity: Any,
        mode: Any = None,
        *,
        etag: str | None = None,
        match_condition: Any = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The SDK's ``update_entity``, sent as :func:`lean_operation` builds the request (the
        one the SDK builds, without its generated serializers; the marker write of a warm sweep,
        once per resource). Anything else, and every refusal the SDK would make before
        sending, goes through the SDK's own."""
        mode = UpdateMode.MERGE if mode is None else mode
        if match_condition and not etag and isinstance(entity, TableEntity):
            etag = entity.metadata.get("etag")  # as the SDK's (not its batch) does
        options: dict[str, Any] = {"mode": mode}
        if etag is not None:
            options["etag"] = etag
        if match_condition is not None:
            options["match_condition"] = match_condition
        endpoint = f"{self.scheme}://{self._primary_hostname}"
        built = None
        if not kwargs and match_condition in (None, MatchConditions.IfNotModified):
            built = lean_operation(endpoint, self.table_name, ("update", entity, options), [])
        if built is None:
            return super().update_entity(
                entity, mode, etag=etag, match_condition=match_condition, **kwargs
            )
        request = HttpRequest(built.method, built.url, headers=built.headers, content=built.content)
        response = self._client._client.send_request(request)
        if response.status_code != 204:
            self._raise_refusal(response, self.table_name)
        return _written(response.headers)

    def create_entity(self, entity: Any, **kwargs: Any) -> dict[str, Any]:
        """The SDK's ``create_entity`` (Insert Entity, answered without the entity: ``Prefer:
        return-no-content``), sent as :func:`lean_operation` builds it: a processed event's
        mark, a remediation record, a poison record. Anything else goes through the SDK's own;
        a refusal is raised as the SDK raises it (its error map, key checks and types)."""
        endpoint = f"{self.scheme}://{self._primary_hostname}"
        built = None
        if not kwargs:
            built = lean_operation(endpoint, self.table_name, ("create", entity), [])
        if built is None:
            return super().create_entity(entity, **kwargs)
        headers = {**built.headers, "Prefer": "return-no-content"}
        request = HttpRequest(built.method, built.url, headers=headers, content=built.content)
        response = self._client._client.send_request(request)
        if response.status_code not in (201, 204):
            try:  # as the SDK's generated operation, then its create_entity, raise it
                map_error(status_code=response.status_code, response=response, error_map=_ERROR_MAP)
                raise HttpResponseError(response=response)
            except HttpResponseError as error:
                decoded = _SDK_ERROR._decode_error(error.response, error.message)
                _SDK_ERROR._validate_key_values(
                    decoded, entity.get("PartitionKey"), entity.get("RowKey")
                )
                _SDK_ERROR._validate_tablename_error(decoded, self.table_name)
                raise
        return _written(response.headers)

    @staticmethod
    def _raise_refusal(response: Any, table_name: str | None) -> None:
        """Raises a non-success answer as the SDK's generated operations and its
        ``_process_table_error`` raise it."""
        try:
            map_error(status_code=response.status_code, response=response, error_map=_ERROR_MAP)
            raise HttpResponseError(response=response)
        except HttpResponseError as error:
            _SDK_ERROR._process_table_error(error, table_name=table_name)

    def _batch_send(
        self, table_name: str, *reqs: HttpRequest | SubRequest, **kwargs: Any
    ) -> list[Any]:
        # The SDK's own error decoding, so failures read exactly as its own do.
        _decode_error = _SDK_ERROR._decode_error
        _validate_tablename_error = _SDK_ERROR._validate_tablename_error

        body, boundary = encode_transaction(reqs)
        request = HttpRequest(
            method="POST",
            url=f"{self.scheme}://{self._primary_hostname}/$batch",
            headers={
                "x-ms-version": self.api_version,
                "DataServiceVersion": "3.0",
                "MaxDataServiceVersion": "3.0;NetFx",
                "Content-Type": f"multipart/mixed; boundary={boundary}",
                "Accept": "application/json",
            },
            content=body,
        )
        response = self._client.send_request(request, stream=True, **kwargs)
        if response.status_code == 413:
            raise _decode_error(
                response,
                error_message="The transaction request was too large",
                error_type=RequestTooLargeError,
            )
        if response.status_code != 202:
            decoded = _decode_error(response)
            _validate_tablename_error(decoded, table_name)
            raise decoded
        parts = decode_parts(response.headers.get("content-type", ""), response.read())
        failed = [p for p in parts if not 200 <= p.status_code < 300]
        if failed:
            if failed[0].status_code == 413:
                raise _decode_error(
                    response,
                    error_message="The transaction request was too large",
                    error_type=RequestTooLargeError,
                )
            decoded = _decode_error(response=failed[0], error_type=TableTransactionError)
            _validate_tablename_error(decoded, table_name)
            raise decoded
        return [{"etag": etag} if (etag := p.etag) is not None else {} for p in parts]


_SERVICE_DATETIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z")


def _service_datetime(value: Any) -> Any:
    """The SDK's ``_from_entity_datetime`` (a ``TablesEntityDatetime`` in UTC, microseconds
    truncated from the service's seven digits, the service's text kept for a round trip),
    without ``strptime`` for the service's own format; any other text is the SDK's to parse."""
    # The service's text is at most 28 characters: longer text is never held by the cache.
    plain = isinstance(value, str) and len(value) <= 32
    parsed = _service_datetime_text(value) if plain else None
    return parsed if parsed is not None else _SDK_DESERIALIZE._from_entity_datetime(value)


@lru_cache(maxsize=4096)
def _service_datetime_text(value: str) -> Any:
    """The service's own format parsed, once per distinct text (a resource's rows share their
    times; datetimes are immutable, so rows may share one), or None for any other text."""
    found = _SERVICE_DATETIME.fullmatch(value)
    if found is None:
        return None
    year, month, day, hour, minute, second, fraction = found.groups()
    parsed = _SDK_DESERIALIZE.TablesEntityDatetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second),
        int((fraction or "")[:6].ljust(6, "0")),
        tzinfo=UTC,
    )
    parsed._service_value = value
    return parsed


def entity_from(row: Mapping[str, Any]) -> Any:
    """The SDK's ``_convert_to_entity`` (a ``TableEntity`` with the service's types and its
    ``etag`` / ``timestamp`` metadata), with :func:`_service_datetime` for dates: ``strptime``
    was most of the cost of reading rows back."""
    sdk = _SDK_DESERIALIZE
    entity = TableEntity()
    properties: dict[str, Any] = {}
    types: dict[str, str] = {}
    odata: dict[str, Any] = {}
    for name, value in row.items():
        if name.startswith("odata."):
            odata[name[6:]] = value
        elif name.endswith("@odata.type"):
            types[name[:-11]] = value
        else:
            properties[name] = value
    for known in ("PartitionKey", "RowKey"):
        key = properties.pop(known, None)
        if key is not None:
            entity[known] = key
    timestamp = properties.pop("Timestamp", None)
    for name, value in properties.items():
        kind = types.get(name)
        if kind is None and isinstance(value, int) and value not in _INT32:
            kind = EdmType.INT64  # an untyped number past Int32, as the SDK reads it
        if kind is None or kind in (EdmType.STRING, EdmType.INT32):
            entity[name] = value
        elif kind == EdmType.DATETIME:
            entity[name] = _service_datetime(value)
        else:
            convert = sdk._ENTITY_TO_PYTHON_CONVERSIONS.get(kind)
            entity[name] = convert(value) if convert is not None else EntityProperty(kind, value)
    etag = odata.pop("etag", None)
    odata.pop("metadata", None)
    if timestamp:
        if not etag:
            etag = "W/\"datetime'" + sdk.url_quote(timestamp) + "'\""
        timestamp = _service_datetime(timestamp)
    odata.update({"etag": etag, "timestamp": timestamp})
    entity._metadata = odata  # type: ignore[assignment]
    return entity


def _written(headers: Mapping[str, str]) -> dict[str, Any]:
    """What the SDK returns for a single write: the answer's date, ETag and service version."""
    return {
        "date": _http_date(headers.get("Date")),
        "etag": headers.get("ETag"),
        "version": headers.get("x-ms-version"),
    }


def _http_date(value: str | None) -> Any:
    """A ``Date`` header as the SDK deserializes it (RFC 1123, a datetime), else None."""
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None


def query_rows(
    client: TableClient,
    query_filter: str,
    parameters: dict[str, Any] | None = None,
    select: Sequence[str] = (),
) -> Iterator[Any]:
    """The rows ``query_filter`` selects (only the ``select`` properties, when given):
    :meth:`LeanTransactionsTableClient.query_rows` when ``client`` is one, else its own
    ``query_entities`` (a test double's)."""
    if isinstance(client, LeanTransactionsTableClient):
        return client.query_rows(query_filter, parameters=parameters, select=select)
    if select:
        return iter(client.query_entities(query_filter, parameters=parameters, select=list(select)))
    return iter(client.query_entities(query_filter, parameters=parameters))


def lean_table_client(service: TableServiceClient, table_name: str) -> TableClient:
    """``service.get_table_client(table_name)``, as a :class:`LeanTransactionsTableClient`:
    the same pipeline and transport (shared, not owned), credential and endpoint. Another kind
    of service (a test double) gets its own ``get_table_client``."""
    if not isinstance(service, TableServiceClient):
        return service.get_table_client(table_name)
    from azure.core.pipeline import Pipeline
    from azure.data.tables import _base_client

    wrapper: Any = _base_client.TransportWrapper

    pipeline: Pipeline[Any, Any] = Pipeline(
        transport=wrapper(service._client._client._pipeline._transport),
        policies=service._policies,
    )
    return LeanTransactionsTableClient(
        service.url,
        table_name=table_name,
        credential=service.credential,
        api_version=service.api_version,
        pipeline=pipeline,
        location_mode=service._location_mode,
        _hosts=service._hosts,
    )
