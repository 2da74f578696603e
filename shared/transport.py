"""An azure-core transport on urllib3 alone: what every outside client of phiguard sends through
(ARM, Tables, Blobs, Graph, ...) when no proxy is configured.

azure-core's ``RequestsTransport`` hands each request to ``requests``, which prepares it again
(URL re-parsed and re-encoded, cookies, hooks, settings merged, a fresh header dict per layer)
before urllib3 sends it. Measured against the simulated tenant, one small ARM GET cost 0.54 ms of
CPU through a ``requests`` session and 0.26 ms through a urllib3 pool (the stdlib's
``http.client`` under both); a sweep makes one or two such requests per resource, so this is
most of a sweep's CPU (``python -m bench.sweep_cpu``).

What ``requests`` did that matters here is done the same way: certificate verification against
the same bundle (``verify``: a file, a directory, or ``requests``' default, ``certifi``'s), pooled keep-alive connections
per host (``pool_size``), connect and read timeouts (azure-core's ``connection_timeout`` /
``read_timeout``, which the retry policy shortens to its remaining budget), ``Accept-Encoding:
gzip, deflate`` with bodies decoded, a header sent twice answered as one comma-joined value, no
redirects followed, no retries (azure-core's policies retry). Failures are raised as azure-core's
own types, as its ``RequestsTransport`` raises them: a connection that cannot be made is a
``ServiceRequestError`` (``ServiceRequestTimeoutError`` on a connect timeout), one lost or timed
out after the request went is a ``ServiceResponseError`` (``ServiceResponseTimeoutError``), and so
is an answer that is not HTTP or a body that does not decode; a body cut short is an
``IncompleteReadError``, and one that does not decode while streamed a ``DecodeError``.

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
import threading
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import urllib3
from azure.core.exceptions import (
    DecodeError,
    HttpResponseError,
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
from urllib3 import exceptions as u3

log = logging.getLogger("phiguard.http")

# Options the pipeline may hand a transport that this one applies itself (anything else: the
# requests fallback, which knows them all).
_OWN_OPTIONS = frozenset({"stream", "connection_timeout", "read_timeout"})
_DEFAULT_HEADERS = {"Accept-Encoding": "gzip, deflate", "Accept": "*/*"}
_BLOCK_SIZE = 32768


def parse_headers_only(fp: Any, _class: Any = http.client.HTTPMessage) -> Any:
    """``http.client.parse_headers``, parsing the header block as headers only (see the
    module's doc)."""
    lines = http.client._read_headers(fp)  # type: ignore[attr-defined]
    text = b"".join(lines).decode("iso-8859-1")
    return email.parser.Parser(_class=_class).parsestr(text, headersonly=True)


if getattr(http.client, "_read_headers", None) is not None:  # the stdlib's helper since 3.x
    http.client.parse_headers = parse_headers_only


def _error_for(exc: Exception, *, sent: bool) -> Exception:
    """azure-core's exception for a urllib3 failure (``RequestsTransport``'s mapping)."""
    if isinstance(exc, u3.NewConnectionError):  # before ConnectTimeoutError, its base class
        return ServiceRequestError(exc, error=exc)
    if isinstance(exc, u3.ConnectTimeoutError):
        return ServiceRequestTimeoutError(exc, error=exc)
    if isinstance(exc, u3.ReadTimeoutError):
        return ServiceResponseTimeoutError(exc, error=exc)
    if isinstance(exc, u3.ProtocolError):
        if "IncompleteRead" in str(exc):
            return IncompleteReadError(exc, error=exc)
        return ServiceResponseError(exc, error=exc)
    if isinstance(exc, u3.DecodeError):
        return ServiceResponseError(exc, error=exc)
    if isinstance(exc, (u3.SSLError, u3.ProxyError, u3.LocationValueError)):
        return ServiceRequestError(exc, error=exc)
    if sent:
        return ServiceResponseError(exc, error=exc)
    return ServiceRequestError(exc, error=exc)


class _Body:
    """The urllib3 response behind an azure-core response: closing it gives the connection back
    to the pool when the body was read to its end, and drops it otherwise."""

    def __init__(self, raw: urllib3.BaseHTTPResponse, *, complete: bool) -> None:
        self.raw = raw
        self.complete = complete  # read to its end (then urllib3 has given the connection back)

    def close(self) -> None:
        if not self.complete:
            self.complete = True
            self.raw.close()  # unread bytes would be read as the next answer: drop it
            self.raw.release_conn()

    def chunks(self, block_size: int, decompress: bool) -> Iterator[bytes]:
        try:
            yield from self.raw.stream(block_size, decode_content=decompress)
        except (u3.HTTPError, OSError) as exc:
            self.raw.close()
            self.raw.release_conn()
            if isinstance(exc, u3.DecodeError):  # a body that does not decode, as streamed
                raise DecodeError(exc, error=exc) from exc
            mapped = _error_for(exc, sent=True)
            if isinstance(mapped, ServiceRequestError):
                mapped = HttpResponseError(exc, error=exc)
            raise mapped from exc
        self.complete = True
        self.raw.release_conn()


class _StreamDownload:
    """What a response's ``stream_download`` / ``iter_bytes`` returns: an iterator of body chunks
    (an object, as azure-core's own: the Blob SDK sets attributes on it)."""

    def __init__(self, pipeline: Any, response: Urllib3Response, **kwargs: Any) -> None:
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


class Urllib3Response(HttpResponseImpl):
    """An ``azure.core.rest.HttpResponse`` read from a urllib3 response."""

    def __init__(self, request: HttpRequest, raw: urllib3.BaseHTTPResponse, content: bytes | None):
        headers: MutableMapping[str, str] = CaseInsensitiveDict(raw.headers.itermerged())
        super().__init__(
            request=request,
            internal_response=_Body(raw, complete=content is not None),
            status_code=raw.status,
            headers=headers,
            reason=raw.reason or "",
            content_type=headers.get("content-type"),
            block_size=_BLOCK_SIZE,
            stream_download_generator=_StreamDownload,
        )
        if content is not None:
            self._content = content
            self._is_stream_consumed = True
            self._is_closed = True


class Urllib3Transport(HttpTransport[Any, Any]):
    """See the module's doc. Thread-safe (urllib3 pools are); build once per client."""

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
        self._pools: urllib3.PoolManager | None = None
        self._fallback: RequestsTransport | None = None
        self._lock = threading.Lock()

    # -- HttpTransport --------------------------------------------------------------------------

    def __enter__(self) -> Urllib3Transport:
        self.open()
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()

    def open(self) -> None:
        self._manager()

    def close(self) -> None:
        with self._lock:
            pools, self._pools = self._pools, None
            fallback, self._fallback = self._fallback, None
        if pools is not None:
            pools.clear()
        if fallback is not None:
            fallback.close()

    def send(self, request: Any, **kwargs: Any) -> Any:
        if not self._handles(request, kwargs):
            return self._requests().send(request, **kwargs)
        stream = bool(kwargs.pop("stream", False))
        timeout = urllib3.Timeout(
            connect=kwargs.pop("connection_timeout", self.connection_timeout),
            read=kwargs.pop("read_timeout", self.read_timeout),
        )
        headers = {**_DEFAULT_HEADERS, **request.headers}
        body = request.content
        try:
            raw = self._manager().urlopen(
                request.method,
                request.url,
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
                timeout=timeout,
                preload_content=not stream,
                decode_content=True,
                enforce_content_length=True,
                release_conn=not stream,
                assert_same_host=False,
            )
            content = None if stream else raw.data
        except (u3.HTTPError, OSError) as exc:
            raise _error_for(exc, sent=False) from exc
        return Urllib3Response(request, raw, content)

    # -- internals ------------------------------------------------------------------------------

    @staticmethod
    def _handles(request: Any, options: dict[str, Any]) -> bool:
        if not isinstance(request, HttpRequest) or request.files:
            return False
        if not isinstance(request.content, (bytes, str, type(None))):
            return False  # a stream or an iterable body: requests' handling of them
        return options.keys() <= _OWN_OPTIONS

    def _manager(self) -> urllib3.PoolManager:
        with self._lock:
            if self._pools is None:
                self._pools = urllib3.PoolManager(
                    num_pools=16,
                    maxsize=self.pool_size,
                    block=False,
                    **_tls_options(self.verify),
                )
            return self._pools

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
