"""An azure-core transport on the stdlib's ``http.client`` with pooled keep-alive connections:
what every outside client of phiguard sends through (ARM, Tables, Blobs, Graph, ...) when no
proxy is configured.

azure-core's ``RequestsTransport`` hands each request to ``requests``, which prepares it again
(URL re-parsed and re-encoded, cookies, hooks, settings merged, a fresh header dict per layer)
before urllib3 sends it, and urllib3 parses and percent-encodes the URL three times more (a
Python loop over every character of a Table query's long URL) before ``http.client`` sends it.
Measured against the simulated tenant and Azurite, one small request cost 0.54 ms of CPU through
a ``requests`` session, 0.40–0.44 ms through a urllib3 pool and 0.22 ms through ``http.client``
alone; a sweep makes two to four requests per resource, so this is most of a sweep's CPU
(``python -m bench.sweep_cpu``).

What ``requests`` and urllib3 did that matters here is done the same way:

* certificate verification against the same bundle (``verify``: a file, a directory, or
  ``requests``' default, ``certifi``'s) with urllib3's TLS context (TLS 1.2 at least, no
  compression, ALPN ``http/1.1``), the host name checked;
* pooled keep-alive connections per origin (``pool_size`` kept idle; more are opened when
  needed, as urllib3's non-blocking pool does); an idle connection the server has closed, or
  one idle for :data:`IDLE_REUSE_SECONDS` or more (a server's idle timer could close it under
  the request), is dropped before it is used;
* the request target percent-encoded as urllib3 encodes it (dot segments removed, characters
  outside RFC 3986's sets escaped, escapes upper-cased): a target that needs none of it, the
  usual case, is recognised by one regular expression and sent as it is;
* connect and read timeouts (azure-core's ``connection_timeout`` / ``read_timeout``, which the
  retry policy shortens to its remaining budget); ``Accept-Encoding: gzip, deflate`` with bodies
  decoded; a header sent twice answered as one comma-joined value; a body shorter than its
  ``Content-Length`` an error; no redirects followed; no retries (azure-core's policies retry).

Failures are raised as azure-core's own types, as its ``RequestsTransport`` raises them: a
connection that cannot be made (refused, unresolvable, TLS refused) is a ``ServiceRequestError``
(``ServiceRequestTimeoutError`` on a connect timeout), one lost or timed out after the request
went is a ``ServiceResponseError`` (``ServiceResponseTimeoutError``), and so is an answer that is
not HTTP or a body that does not decode; a body cut short is an ``IncompleteReadError``, and one
that does not decode while streamed a ``DecodeError``.

Response headers are parsed as headers only (:func:`parse_headers_only`, installed as
``http.client.parse_headers``). The stdlib hands them to the full ``email`` parser, which, for an
answer whose ``Content-Type`` is ``multipart/mixed`` (every Table transaction's), compiles a
regular expression for its boundary, unique per answer so never cached: 0.17 ms per answer
against 0.013 ms for the same headers parsed as headers only. The headers are the same; the
message's payload, which ``http.client`` never reads, is left unparsed.

A request this transport does not handle itself goes to a ``RequestsTransport`` built with the
same settings: the legacy ``azure.core.pipeline.transport.HttpRequest``, form files, a body that
is a stream, and options it does not know (client certificates, per-request proxies).
"""

from __future__ import annotations

import email.parser
import http.client
import logging
import re
import select
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterator, MutableMapping
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from azure.core.exceptions import (
    DecodeError,
    IncompleteReadError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import HttpTransport, RequestsTransport
from azure.core.rest import HttpRequest
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import CaseInsensitiveDict

from shared.kernel.errors import PhiguardError

log = logging.getLogger("phiguard.http")

# Options the pipeline may hand a transport that this one applies itself (anything else: the
# requests fallback, which knows them all).
_OWN_OPTIONS = frozenset({"stream", "connection_timeout", "read_timeout"})
_DEFAULT_HEADERS = {"Accept-Encoding": "gzip, deflate", "Accept": "*/*"}
_BLOCK_SIZE = 32768
# A request target urllib3 would send unchanged: only RFC 3986's path and query characters,
# upper-case escapes, no dot segment, no fragment.
_PLAIN_TARGET = re.compile(r"/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-F]{2})*")
_DOT_SEGMENT = re.compile(r"(?:^|/)\.\.?(?:/|\?|$)")
# An origin urllib3 would take as written: a plain DNS name or IPv4 address and a port. Anything
# else (IPv6, user info, a name to IDNA-encode, characters no host has) goes through its parser.
_ORIGIN = re.compile(r"(https?)://([A-Za-z0-9.-]+)(?::(\d{1,5}))?(?=[/?#]|$)", re.IGNORECASE)


# A header block the ``email`` parser would store line by line as ``name: value``: every line a
# field name (the parser's own character class), a colon and a value with no CR or LF in it.
_PLAIN_HEADER_BLOCK = re.compile(r"(?:[\041-\071\073-\176]+:[^\r\n]*\r?\n)*(?:\r?\n)?")
_PLAIN_HEADER_LINE = re.compile(r"([\041-\071\073-\176]+):[ \t]*([^\r\n]*)\r?\n")


def parse_headers_only(fp: Any, _class: Any = http.client.HTTPMessage) -> Any:
    """``http.client.parse_headers``, parsing the header block as headers only (see the
    module's doc): a block of plain ``name: value`` lines stored as the ``email`` parser stores
    them (leading blanks of the value dropped, the rest kept), and any other block (folded
    lines, bare CRs, a line without a field name) parsed by the ``email`` parser itself."""
    lines = http.client._read_headers(fp)  # type: ignore[attr-defined]
    text = b"".join(lines).decode("iso-8859-1")
    if not _PLAIN_HEADER_BLOCK.fullmatch(text):
        return _parsed_headers(text, _class)
    message: Any = (_IndexedHeaders if _class is http.client.HTTPMessage else _class)()
    message._headers = _PLAIN_HEADER_LINE.findall(text)
    return message


class _IndexedHeaders(http.client.HTTPMessage):
    """A response's headers whose lookups by name go through an index: ``email.message.Message``
    walks every header, lower-casing its name, on every ``get``, and ``http.client`` alone asks
    for five names per answer. The index is rebuilt whenever the stored headers differ from
    those it was built from (any change, however made: a method, a copy sharing the list, the
    list itself), and values are returned through the message's policy, as the ``email``
    message returns them."""

    _index: dict[str, list[tuple[str, str]]] | None = None
    _indexed_from: list[tuple[str, str]] | None = None

    def _indexed(self) -> dict[str, list[tuple[str, str]]]:
        headers: list[tuple[str, str]] = self._headers  # type: ignore[attr-defined]
        index = self._index
        if index is None or headers != self._indexed_from:
            index = {}
            for pair in headers:
                key = pair[0].lower()
                found = index.get(key)
                if found is None:
                    index[key] = [pair]
                else:
                    found.append(pair)
            self._index, self._indexed_from = index, list(headers)
        return index

    def get(self, name: str, failobj: Any = None) -> Any:
        pairs = self._indexed().get(name.lower())
        if not pairs:
            return failobj
        return self.policy.header_fetch_parse(*pairs[0])

    def get_all(self, name: str, failobj: Any = None) -> Any:
        pairs = self._indexed().get(name.lower())
        if not pairs:
            return failobj
        return [self.policy.header_fetch_parse(k, v) for k, v in pairs]

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __contains__(self, name: Any) -> bool:
        return bool(name.lower() in self._indexed())


def _parsed_headers(text: str, message_class: Any) -> Any:
    return email.parser.Parser(_class=message_class).parsestr(text, headersonly=True)


if getattr(http.client, "_read_headers", None) is not None:  # the stdlib's helper since 3.x
    http.client.parse_headers = parse_headers_only


class _BodyDecodeError(PhiguardError):
    """A body whose ``Content-Encoding`` does not decode."""


def _origin_and_target(url: str) -> tuple[tuple[str, str, int], str]:
    """``(scheme, host, port)`` and the request target urllib3 would send for ``url``."""
    match = _ORIGIN.match(url)
    if match is not None:
        scheme, host, port = match.group(1).lower(), match.group(2), match.group(3)
        target = url[match.end() :] or "/"
        if target[0] == "?":
            target = "/" + target
        plain_port = port is None or int(port) <= 65535
        if (
            plain_port
            and _PLAIN_TARGET.fullmatch(target)
            and not _DOT_SEGMENT.search(target.split("?")[0])
        ):
            default = 443 if scheme == "https" else 80
            return (scheme, host.lower(), int(port) if port else default), target
    return _parsed(url)


def _parsed(url: str) -> tuple[tuple[str, str, int], str]:
    """The slow path: urllib3's own parsing and encoding (IPv6 hosts, user info, characters to
    escape, dot segments)."""
    from urllib3.exceptions import LocationParseError
    from urllib3.util.url import parse_url

    try:
        parsed = parse_url(url)
    except LocationParseError as exc:
        raise ServiceRequestError(f"not a URL that can be requested: {exc}", error=exc) from exc
    scheme = (parsed.scheme or "").lower()
    if scheme not in ("http", "https") or not parsed.host:
        raise ServiceRequestError(f"not an http(s) URL with a host: {url[:200]!r}")
    port = parsed.port or (443 if scheme == "https" else 80)
    return (scheme, parsed.host, port), parsed.request_uri


def _dropped(sock: socket.socket | None) -> bool:
    """Whether an idle keep-alive connection was closed by the server (readable while idle:
    end of file, or bytes nobody asked for)."""
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)
    except (OSError, ValueError):
        return True


# How long an idle connection is kept for reuse. A server closes an idle keep-alive connection
# on its own timer (Node's default, and so Azurite's, is 5 s): a request sent as that timer fires
# is lost with the connection (no answer, nothing to tell whether it was processed). Reusing
# only connections idle for less than this leaves that race to servers with shorter timers.
IDLE_REUSE_SECONDS = 4.0


class _Pool:
    """The idle keep-alive connections of one origin (thread-safe)."""

    def __init__(
        self, origin: tuple[str, str, int], context: ssl.SSLContext | None, maxsize: int
    ) -> None:
        self.origin = origin
        self.context = context
        self.maxsize = maxsize
        self.closed = False
        self._idle: list[tuple[http.client.HTTPConnection, float]] = []  # with when it went idle
        self._lock = threading.Lock()

    def take(self, connect_timeout: float) -> http.client.HTTPConnection:
        """An idle connection still open, or a new one, not yet connected."""
        while True:
            with self._lock:
                conn, since = self._idle.pop() if self._idle else (None, 0.0)
            if conn is None:
                break
            if time.monotonic() - since < IDLE_REUSE_SECONDS and not _dropped(conn.sock):
                return conn
            conn.close()
        _, host, port = self.origin
        if self.context is not None:
            return http.client.HTTPSConnection(
                host, port, timeout=connect_timeout, context=self.context
            )
        return http.client.HTTPConnection(host, port, timeout=connect_timeout)

    def give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self.closed and len(self._idle) < self.maxsize and conn.sock is not None:
                self._idle.append((conn, time.monotonic()))
                return
        conn.close()

    def clear(self) -> None:
        with self._lock:
            self.closed = True
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()


class _Decoder:
    """``Content-Encoding`` gzip or deflate undone as the body arrives (others: as sent)."""

    def __init__(self, encoding: str | None) -> None:
        name = (encoding or "").strip().lower()
        self.name = name
        self._zlib: Any = None
        if name in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif name == "deflate":
            self._zlib = zlib.decompressobj()
        self._first = True

    def feed(self, data: bytes) -> bytes:
        if self._zlib is None or not data:
            return data
        try:
            out: bytes = self._zlib.decompress(data)
        except zlib.error as exc:
            if self.name == "deflate" and self._first:  # raw deflate, as urllib3 accepts
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                self._first = False
                return self.feed(data)
            raise _BodyDecodeError(self.name) from exc
        self._first = False
        return out

    def flush(self) -> bytes:
        if self._zlib is None:
            return b""
        try:
            out: bytes = self._zlib.flush()
        except zlib.error as exc:
            raise _BodyDecodeError(self.name) from exc
        return out


def _decode_failure(encoding: str) -> str:
    return f"Received response with content-encoding: {encoding}, but failed to decode it."


def _failure_after_send(exc: BaseException) -> Exception:
    """azure-core's exception for a failure once the request went (``RequestsTransport``'s
    mapping of urllib3's)."""
    if isinstance(exc, TimeoutError):
        return ServiceResponseTimeoutError(exc, error=exc)
    if isinstance(exc, http.client.IncompleteRead):
        return IncompleteReadError(exc, error=exc)
    if isinstance(exc, _BodyDecodeError):
        return ServiceResponseError(_decode_failure(str(exc)), error=exc)
    return ServiceResponseError(exc, error=exc)


def _failure_to_connect(exc: BaseException) -> Exception:
    if isinstance(exc, TimeoutError):
        return ServiceRequestTimeoutError(exc, error=exc)
    return ServiceRequestError(exc, error=exc)


class _Body:
    """The ``http.client`` response behind an azure-core response: read to its end, its
    connection goes back to the pool; closed before that, the connection is dropped (its unread
    bytes would be read as the next answer)."""

    def __init__(
        self,
        raw: http.client.HTTPResponse,
        conn: http.client.HTTPConnection,
        pool: _Pool,
        *,
        complete: bool,
    ) -> None:
        self.raw = raw
        self.conn = conn
        self.pool = pool
        self.complete = complete

    def close(self) -> None:
        if not self.complete:
            self.complete = True
            self.raw.close()
            self.conn.close()

    def finish(self) -> None:
        """The body was read to its end: the connection is reused unless the server said it
        closes it."""
        self.complete = True
        if self.raw.will_close:
            self.conn.close()
        else:
            self.pool.give_back(self.conn)

    def read_all(self) -> bytes:
        decoder = _Decoder(self.raw.getheader("Content-Encoding"))
        try:
            data = decoder.feed(self.raw.read()) + decoder.flush()
        except BaseException as exc:
            self.close()
            if isinstance(exc, (OSError, http.client.HTTPException, _BodyDecodeError)):
                raise _failure_after_send(exc) from exc
            raise
        self.finish()
        return data

    def chunks(self, block_size: int, decompress: bool) -> Iterator[bytes]:
        decoder = _Decoder(self.raw.getheader("Content-Encoding") if decompress else None)
        try:
            while True:
                data = self.raw.read(block_size)
                if not data:
                    break
                out = decoder.feed(data)
                if out:
                    yield out
            if self.raw.length:  # the server hung up before its Content-Length
                raise http.client.IncompleteRead(b"", self.raw.length)
            tail = decoder.flush()
        except (OSError, http.client.HTTPException, _BodyDecodeError) as exc:
            self.close()
            if isinstance(exc, _BodyDecodeError):  # a body that does not decode, as streamed
                raise DecodeError(_decode_failure(str(exc)), error=exc) from exc
            raise _failure_after_send(exc) from exc
        if tail:
            yield tail
        self.finish()


class _StreamDownload:
    """What a response's ``stream_download`` / ``iter_bytes`` returns: an iterator of body chunks
    (an object, as azure-core's own: the Blob SDK sets attributes on it)."""

    def __init__(self, pipeline: Any, response: PooledResponse, **kwargs: Any) -> None:
        del pipeline  # azure-core calls a stream download generator with it (or None)
        decompress = bool(kwargs.pop("decompress", True))
        if kwargs:
            raise TypeError(f"unexpected keyword argument {next(iter(kwargs))!r}")
        body: _Body = response.internal_response
        self.response = response
        self.content_length = int(response.headers.get("Content-Length", 0) or 0)
        self._chunks = body.chunks(response.block_size, decompress)

    def __len__(self) -> int:
        return self.content_length

    def __iter__(self) -> _StreamDownload:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)


def _merged_headers(raw: http.client.HTTPResponse) -> MutableMapping[str, str]:
    """The response's headers, a name sent twice answered as one comma-joined value."""
    # The stored pairs, not ``getheaders()``: its per-value check for surrogates can never find
    # one in text decoded as Latin-1.
    message = raw.msg
    store: dict[str, tuple[str, str]] = {}
    if isinstance(message, _IndexedHeaders):  # the names already lower-cased, once
        for key, named in message._indexed().items():
            first = named[0]
            store[key] = first if len(named) == 1 else (first[0], ", ".join(v for _, v in named))
        headers = CaseInsensitiveDict()
        headers._store = store
        return headers
    pairs = getattr(message, "_headers", None)
    if not isinstance(pairs, list):
        pairs = raw.getheaders()
    for name, value in pairs:
        key = name.lower()
        known = store.get(key)
        store[key] = (name, value) if known is None else (known[0], f"{known[1]}, {value}")
    headers = CaseInsensitiveDict()
    headers._store = store  # what its own update() would build, key by key
    return headers


_CACHED_CONTENT_TYPE_LENGTH = 256  # a hostile server's huge values are not held


@lru_cache(maxsize=256)
def _charset(content_type: str) -> str | None:
    """azure-core's encoding for a ``Content-Type`` (``get_charset_encoding``), once per
    distinct value: it builds an ``email`` message to read the parameter, for every answer."""
    from azure.core.rest._helpers import get_charset_encoding

    typed = SimpleNamespace(headers={"Content-Type": content_type})
    return get_charset_encoding(typed)


class PooledResponse(HttpResponseImpl):
    """An ``azure.core.rest.HttpResponse`` read from an ``http.client`` response."""

    def __init__(self, request: HttpRequest | None, body: _Body, content: bytes | None):
        headers = _merged_headers(body.raw)
        content_type = headers.get("content-type")
        # The attributes azure-core's ``__init__`` sets (a test compares them), set at once: its
        # backcompat ``__setattr__`` looks each name up in a list first, 15 times per answer.
        state = self.__dict__
        state.update(
            _request=request,
            _internal_response=body,
            _block_size=_BLOCK_SIZE,
            _status_code=body.raw.status,
            _reason=body.raw.reason or "",
            _content_type=content_type,
            _headers=headers,
            _stream_download_generator=_StreamDownload,
            _is_closed=content is not None,
            _is_stream_consumed=content is not None,
            _json=None,
            _content=content,
            _text=None,
        )
        if content_type and len(content_type) <= _CACHED_CONTENT_TYPE_LENGTH:
            state["_encoding"] = _charset(content_type)  # longer: azure-core reads it when asked


class PooledTransport(HttpTransport[Any, Any]):
    """See the module's doc. Thread-safe; build once per client."""

    def __init__(
        self,
        *,
        verify: str | bool = True,
        read_timeout: float = 20,
        connection_timeout: float = 10,
        pool_size: int = 10,
    ) -> None:
        self.verify = verify
        self.read_timeout = read_timeout
        self.connection_timeout = connection_timeout
        self.pool_size = pool_size
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        self._context: ssl.SSLContext | None = None
        self._fallback: RequestsTransport | None = None
        self._lock = threading.Lock()

    # -- HttpTransport --------------------------------------------------------------------------

    def __enter__(self) -> PooledTransport:
        self.open()
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()

    def open(self) -> None:
        pass  # connections are opened as requests need them

    def close(self) -> None:
        with self._lock:
            pools, self._pools = self._pools, {}
            fallback, self._fallback = self._fallback, None
        for pool in pools.values():
            pool.clear()
        if fallback is not None:
            fallback.close()

    def send(self, request: Any, **kwargs: Any) -> Any:
        if not self._handles(request, kwargs):
            return self._requests().send(request, **kwargs)
        stream = bool(kwargs.pop("stream", False))
        body = request.content
        if isinstance(body, str):
            body = body.encode("utf-8")
        answer = self._exchange(
            request.method,
            request.url,
            {**_DEFAULT_HEADERS, **request.headers},
            body,
            kwargs.pop("connection_timeout", self.connection_timeout),
            kwargs.pop("read_timeout", self.read_timeout),
        )
        content = None if stream else answer.read_all()
        return PooledResponse(request, answer, content)

    def fetch(self, method: str, url: str, headers: dict[str, str]) -> PooledResponse:
        """A request without a body, sent and read whole with this transport's timeouts, built
        without azure-core's request object: the first attempt of an ARM read
        (``shared.arm.client``), where that object and the pipeline around it cost as much CPU
        as the exchange itself. Failures are raised as :meth:`send` raises them; the response
        has no ``request``."""
        answer = self._exchange(
            method,
            url,
            {**_DEFAULT_HEADERS, **headers},
            None,
            self.connection_timeout,
            self.read_timeout,
        )
        return PooledResponse(None, answer, answer.read_all())

    # -- internals ------------------------------------------------------------------------------

    def _exchange(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        connect_timeout: float,
        read_timeout: float,
    ) -> _Body:
        """Sends one request on a pooled connection; the answer's status and headers read, its
        body not yet."""
        origin, target = _origin_and_target(url)
        pool = self._pool(origin)
        try:
            conn = pool.take(connect_timeout)
        except (http.client.HTTPException, ValueError) as exc:  # a host http.client refuses
            raise _failure_to_connect(exc) from exc
        if conn.sock is None:
            try:
                conn.connect()
            except (OSError, http.client.HTTPException, ValueError) as exc:  # ValueError: IDNA
                conn.close()
                raise _failure_to_connect(exc) from exc
        try:
            conn.sock.settimeout(read_timeout)
            conn.request(method, target, body=body, headers=headers)
            raw = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise _failure_after_send(exc) from exc
        except BaseException:
            conn.close()
            raise
        return _Body(raw, conn, pool, complete=False)

    @staticmethod
    def _handles(request: Any, options: dict[str, Any]) -> bool:
        if not isinstance(request, HttpRequest) or request.files:
            return False
        if not isinstance(request.content, (bytes, str, type(None))):
            return False  # a stream or an iterable body: requests' handling of them
        return options.keys() <= _OWN_OPTIONS

    def _pool(self, origin: tuple[str, str, int]) -> _Pool:
        pool = self._pools.get(origin)
        if pool is not None:
            return pool
        with self._lock:
            pool = self._pools.get(origin)
            if pool is None:
                if origin[0] == "https" and self._context is None:
                    self._context = _tls_context(self.verify)
                context = self._context if origin[0] == "https" else None
                pool = self._pools[origin] = _Pool(origin, context, self.pool_size)
            return pool

    def _requests(self) -> RequestsTransport:
        with self._lock:
            if self._fallback is None:
                self._fallback = requests_transport(
                    verify=self.verify,
                    read_timeout=self.read_timeout,
                    connection_timeout=self.connection_timeout,
                    pool_size=self.pool_size,
                    use_env=False,
                )
            return self._fallback


def _tls_context(verify: str | bool) -> ssl.SSLContext:
    """urllib3's TLS context for a ``requests``-style ``verify``, the host name checked."""
    from urllib3.util.ssl_ import create_urllib3_context

    if verify is False:
        context = create_urllib3_context(cert_reqs=ssl.CERT_NONE)
        context.check_hostname = False
    else:
        context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
        options = _tls_options(verify)
        context.load_verify_locations(
            cafile=options.get("ca_certs"), capath=options.get("ca_cert_dir")
        )
        context.check_hostname = True
    context.set_alpn_protocols(["http/1.1"])
    return context


def _tls_options(verify: str | bool) -> dict[str, Any]:
    """urllib3's certificate options for a ``requests``-style ``verify``."""
    if verify is False:
        return {"cert_reqs": "CERT_NONE"}
    if verify is True:  # what requests trusts by default (certifi's bundle)
        from requests.utils import DEFAULT_CA_BUNDLE_PATH

        return {"cert_reqs": "CERT_REQUIRED", "ca_certs": DEFAULT_CA_BUNDLE_PATH}
    if Path(verify).is_dir():
        return {"cert_reqs": "CERT_REQUIRED", "ca_cert_dir": verify}
    return {"cert_reqs": "CERT_REQUIRED", "ca_certs": verify}


def requests_transport(
    *,
    verify: str | bool,
    read_timeout: float,
    connection_timeout: float,
    pool_size: int,
    use_env: bool,
) -> RequestsTransport:
    """azure-core's ``requests`` transport with phiguard's settings: a pool per host of
    ``pool_size``, no retries of its own (azure-core's policies retry), and the environment
    (proxies, ``~/.netrc``) trusted only when ``use_env``."""
    import requests
    from urllib3.util.retry import Retry

    session = requests.Session()
    # azure-core configures only the sessions it creates itself: one handed to it keeps
    # ``requests``' defaults, so these are set here.
    session.trust_env = use_env
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=pool_size,
        pool_maxsize=pool_size,
        max_retries=Retry(total=False, redirect=False, raise_on_status=False),
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return RequestsTransport(
        session=session,
        session_owner=True,
        use_env_settings=use_env,
        connection_verify=verify,
        read_timeout=read_timeout,
        connection_timeout=connection_timeout,
    )
