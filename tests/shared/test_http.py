"""The shared HTTP transport: the environment read once, and the pooled transport behaving as
azure-core's requests transport does, against real servers (a local one with misbehaviours on
demand, the simulated tenant over TLS, Azurite through the Tables SDK)."""

from __future__ import annotations

import gzip
import http.server
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core import PipelineClient
from azure.core.exceptions import (
    DecodeError,
    IncompleteReadError,
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import HttpRequest as LegacyRequest
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest

from shared.http import default_verify, proxies_configured, transport
from shared.transport import PooledTransport
from sim.fixture import SimHandle, running_sim


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


# --- choosing the transport -------------------------------------------------------------------


def test_without_proxy_variables_requests_go_through_the_pooled_transport(
    no_proxy_env: None,
) -> None:
    chosen = transport(ca_cert="/tmp/sim-ca.pem", timeout_seconds=7, pool_size=3)
    assert isinstance(chosen, PooledTransport)
    assert (chosen.verify, chosen.read_timeout, chosen.pool_size) == ("/tmp/sim-ca.pem", 7, 3)


def test_a_proxy_variable_keeps_requests_per_request_handling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert proxies_configured()
    chosen: Any = transport()
    assert isinstance(chosen, RequestsTransport)
    assert chosen.session.trust_env is True


def test_verification_prefers_the_configured_ca_then_the_environment_bundle() -> None:
    env = {"REQUESTS_CA_BUNDLE": "/etc/ssl/bundle.pem"}
    assert default_verify("/tmp/sim-ca.pem", env) == "/tmp/sim-ca.pem"
    assert default_verify(None, env) == "/etc/ssl/bundle.pem"
    assert default_verify(None, {"CURL_CA_BUNDLE": "/c.pem"}) == "/c.pem"
    assert default_verify(None, {}) is True


# --- a local server that misbehaves on demand ---------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: set[int] = set()  # noqa: RUF012 - one server per test module

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        _Handler.connections.add(self.client_address[1])  # the client port: one per connection
        path = self.path.split("?")[0]
        if path == "/json":
            self._send(200, json.dumps({"ok": True, "path": self.path}).encode())
        elif path == "/gzip":
            body = gzip.compress(json.dumps({"zipped": True}).encode())
            self._send(200, body, {"Content-Encoding": "gzip"})
        elif path == "/twice":
            self.send_response(200)
            self.send_header("X-Twice", "a")
            self.send_header("X-Twice", "b")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
        elif path == "/big":
            self._send(200, b"x" * 200_000)
        elif path == "/short":  # promises more than it sends, then hangs up
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"only this")
            self.wfile.flush()
            self.close_connection = True
        elif path == "/slow":
            time.sleep(1.0)
            self._send(200, b"{}")
        elif path == "/badgzip":
            self._send(200, b"not gzip at all", {"Content-Encoding": "gzip"})
        elif path.startswith("/target"):  # the request target as it arrived
            self._send(200, json.dumps({"target": self.path}).encode())
        elif path == "/close-after":  # answers as if keeping the connection, then closes it
            self._send(200, b"{}")
            self.close_connection = True
        elif path == "/not-http":  # an answer that is not HTTP
            self.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
            self.close_connection = True
        elif path == "/many-headers":  # past http.client's limit of 100
            self.send_response(200)
            for i in range(150):
                self.send_header(f"X-H{i}", "v")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/long-header":  # one header line past http.client's 64 KiB
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n")
            self.close_connection = True
        elif path == "/hangup":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        else:
            self._send(404, b'{"error": "no such path"}')

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        echoed = {"body": body.decode(), "type": self.headers.get("Content-Type")}
        self._send(201, json.dumps(echoed).encode())

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client the tests make hang up (reset, half-read) is expected, not a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def local() -> Iterator[str]:
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _client(base: str, **options: Any) -> tuple[PipelineClient[Any, Any], PooledTransport]:
    chosen = PooledTransport(**options)
    return PipelineClient(base, transport=chosen, policies=[]), chosen


def test_answers_headers_and_bodies_read_as_requests_read_them(local: str) -> None:
    client, _ = _client(local)
    answer = client.send_request(HttpRequest("GET", f"{local}/json?api-version=1"))
    assert answer.status_code == 200 and answer.json() == {
        "ok": True,
        "path": "/json?api-version=1",
    }
    assert answer.headers["content-type"] == "application/json"  # case-insensitive
    assert answer.reason == "OK"
    assert client.send_request(HttpRequest("GET", f"{local}/gzip")).json() == {"zipped": True}
    twice = client.send_request(HttpRequest("GET", f"{local}/twice")).headers
    assert twice["X-Twice"] == "a, b" and twice["x-twice"] == "a, b"
    assert dict(twice.items())["X-Twice"] == "a, b"  # the name as the server spelled it
    missing = client.send_request(HttpRequest("GET", f"{local}/nowhere"))
    assert missing.status_code == 404 and missing.json() == {"error": "no such path"}
    posted = client.send_request(HttpRequest("POST", f"{local}/echo", json={"a": [1, "é"]}))
    assert posted.status_code == 201
    assert json.loads(posted.json()["body"]) == {"a": [1, "é"]}
    assert posted.json()["type"] == "application/json"


def test_connections_are_kept_alive_and_a_half_read_stream_is_not_reused(local: str) -> None:
    client, _ = _client(local)
    _Handler.connections.clear()
    for _ in range(20):
        assert client.send_request(HttpRequest("GET", f"{local}/json")).status_code == 200
    assert len(_Handler.connections) == 1  # one pooled connection for twenty requests

    streamed = client.send_request(HttpRequest("GET", f"{local}/big"), stream=True)
    chunks = streamed.iter_bytes()
    assert next(chunks)  # read a little, then give up on the rest
    streamed.close()
    # The unread bytes were dropped with their connection, not read as the next answer.
    assert client.send_request(HttpRequest("GET", f"{local}/json")).json()["ok"] is True

    whole = client.send_request(HttpRequest("GET", f"{local}/big"), stream=True)
    assert len(b"".join(whole.iter_bytes())) == 200_000


def test_failures_are_azure_cores_own_types(local: str) -> None:
    client, _ = _client(local, read_timeout=0.3)
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        closed_port = spare.getsockname()[1]
    with pytest.raises(ServiceRequestError):  # nothing listens: the request never went
        client.send_request(HttpRequest("GET", f"http://127.0.0.1:{closed_port}/json"))
    with pytest.raises(ServiceResponseTimeoutError):
        client.send_request(HttpRequest("GET", f"{local}/slow"))
    with pytest.raises(ServiceResponseError):  # the server hung up without an answer
        client.send_request(HttpRequest("GET", f"{local}/hangup"))
    with pytest.raises(IncompleteReadError):
        client.send_request(HttpRequest("GET", f"{local}/short"))
    with pytest.raises(ServiceResponseError, match="failed to decode"):  # as requests' transport
        client.send_request(HttpRequest("GET", f"{local}/badgzip"))
    streamed = client.send_request(HttpRequest("GET", f"{local}/badgzip"), stream=True)
    with pytest.raises(DecodeError):
        streamed.read()
    # A per-request timeout (what the retry policy sets from its budget) wins over the default.
    slow_ok, _ = _client(local, read_timeout=0.1)
    answer = slow_ok.send_request(HttpRequest("GET", f"{local}/slow"), read_timeout=5)
    assert answer.status_code == 200


def test_request_targets_are_encoded_as_urllib3_encodes_them(local: str) -> None:
    from urllib3.util.url import parse_url

    client, _ = _client(local)
    for tail in (
        "/target/plain('a',b)?$filter=PartitionKey%20eq%20%27x%27&api-version=1",
        "/target/a|b c/\u00e9?x=|&y=\u00e9 z",
        "/target/one/../two/./three?q=1",
        "/target/lower%2fescape?k=%7c",
        "/target/frag?q=1#not-sent",
    ):
        url = f"{local}{tail}"
        sent = client.send_request(HttpRequest("GET", url)).json()["target"]
        assert sent == parse_url(url).request_uri, tail


def test_an_idle_connection_the_server_closed_is_not_reused(local: str) -> None:
    client, _ = _client(local)
    _Handler.connections.clear()
    assert client.send_request(HttpRequest("GET", f"{local}/close-after")).status_code == 200
    time.sleep(0.05)  # the server's close reaches the pooled connection
    # Without the check, this request would go out on the closed connection and fail.
    assert client.send_request(HttpRequest("GET", f"{local}/json")).json()["ok"] is True
    assert len(_Handler.connections) == 2


def test_a_connection_idle_too_long_is_not_reused(
    local: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shared.transport

    client, _ = _client(local)
    _Handler.connections.clear()
    assert client.send_request(HttpRequest("GET", f"{local}/json")).status_code == 200
    assert client.send_request(HttpRequest("GET", f"{local}/json")).status_code == 200
    assert len(_Handler.connections) == 1  # reused at once
    monkeypatch.setattr(shared.transport, "IDLE_REUSE_SECONDS", 0.05)
    time.sleep(0.1)  # past the (shortened) limit: the server's idle timer may be closing it
    assert client.send_request(HttpRequest("GET", f"{local}/json")).status_code == 200
    assert len(_Handler.connections) == 2


def test_answers_that_break_http_are_service_response_errors_and_the_pool_recovers(
    local: str,
) -> None:
    client, _ = _client(local)
    for path in ("/not-http", "/many-headers", "/long-header"):
        with pytest.raises(ServiceResponseError):
            client.send_request(HttpRequest("GET", f"{local}{path}"))
        # The broken connection was dropped: the next request answers normally.
        assert client.send_request(HttpRequest("GET", f"{local}/json")).json()["ok"] is True


def test_urls_no_client_could_send_are_service_request_errors() -> None:
    client, _ = _client("http://127.0.0.1:1")
    for url, says in (
        ("http://127.0.0.1:99999/x", "Failed to parse"),
        ("http://ho st/x", "invalid character"),
        ("http://h\x00st/x", "invalid character"),
        ("http://\u202ehost/x", "IDNA"),
        ("ftp://host/x", r"not an http\(s\) URL"),
        ("http://[::1/x", "not a valid host"),
    ):
        with pytest.raises(ServiceRequestError, match=says):
            client.send_request(HttpRequest("GET", url))


def test_a_legacy_request_goes_through_the_requests_fallback(local: str) -> None:
    client, chosen = _client(local)
    legacy: Any = LegacyRequest("GET", f"{local}/json")
    answer = chosen.send(legacy)
    assert answer.status_code == 200 and json.loads(answer.text())["ok"] is True
    assert client.send_request(HttpRequest("GET", f"{local}/json")).status_code == 200
    chosen.close()


# --- real services --------------------------------------------------------------------------------


def test_tls_is_verified_against_the_configured_ca(no_proxy_env: None) -> None:
    with running_sim(estate="demo") as sim:
        handle: SimHandle = sim
        url = f"{handle.arm_url}/subscriptions?api-version=2022-12-01"
        trusted, _ = _client(handle.arm_url, verify=handle.ca_cert)
        # Reached and verified (401: no bearer token; TLS itself succeeded).
        assert trusted.send_request(HttpRequest("GET", url)).status_code == 401
        untrusted, _ = _client(handle.arm_url, verify=True)  # the public bundle: not the sim's CA
        with pytest.raises(ServiceRequestError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusted.send_request(HttpRequest("GET", url))


def test_headers_parsed_as_headers_only_are_the_stdlibs_headers() -> None:
    import email.parser
    import http.client
    import io

    from shared.transport import parse_headers_only

    assert http.client.parse_headers is parse_headers_only  # installed with the transport
    block = (
        b"Content-Type: multipart/mixed; boundary=batchresponse_0f1e\r\n"
        b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Folded: one\r\n two\r\n"
        b"Content-Length: 12\r\n\r\n"
    )
    ours = parse_headers_only(io.BytesIO(block))
    stdlib = email.parser.Parser(_class=http.client.HTTPMessage).parsestr(block.decode())
    assert ours.items() == stdlib.items()
    assert ours.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert ours.get_content_type() == "multipart/mixed"


def test_headers_parsed_without_the_email_parser_match_it_on_any_block() -> None:
    """Random header blocks (folds, bare CRs, lines without a colon, Latin-1 bytes): each is
    stored exactly as the stdlib's ``email`` parser stores it."""
    import email.parser
    import http.client
    import io
    import random

    from shared.transport import parse_headers_only

    rnd = random.Random(15)
    alphabet = b"ab: \t\r\nX-\x85\xe9:"
    blocks = [bytes(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40))) for _ in range(3000)]
    for block in blocks:
        data = block + b"\r\n\r\n"
        lines = http.client._read_headers(io.BytesIO(data))  # type: ignore[attr-defined]
        text = b"".join(lines).decode("iso-8859-1")
        stdlib = email.parser.Parser(_class=http.client.HTTPMessage).parsestr(
            text, headersonly=True
        )
        assert parse_headers_only(io.BytesIO(data)).items() == stdlib.items(), data


def test_plain_header_blocks_parsed_by_pattern_match_the_email_parser() -> None:
    """Blocks of ``name: value`` lines (the fast path: names from the field-name characters,
    values with blanks, colons and Latin-1 bytes), some with one line that is not plain (a
    fold, a bare CR, a space before the colon, no colon): each stored exactly as the stdlib's
    ``email`` parser stores it."""
    import email.parser
    import http.client
    import io
    import random

    from shared.transport import parse_headers_only

    rnd = random.Random(6)
    name_chars = bytes(c for c in range(0x21, 0x7F) if c != 0x3A)
    value_chars = bytes(c for c in range(0x100) if c not in (0x0A, 0x0D))
    odd_lines = [b" folded", b"\tfolded", b"Bare\rCR: x", b"Space : x", b"no colon", b": empty"]
    for _ in range(3000):
        lines = []
        for _ in range(rnd.randint(0, 12)):
            name = bytes(rnd.choice(name_chars) for _ in range(rnd.randint(1, 12)))
            value = bytes(rnd.choice(value_chars) for _ in range(rnd.randint(0, 30)))
            lines.append(name + b":" + rnd.choice([b"", b" ", b"  ", b"\t"]) + value)
        if lines and rnd.random() < 0.2:
            lines.insert(rnd.randrange(len(lines) + 1), rnd.choice(odd_lines))
        end = rnd.choice([b"\r\n", b"\n"])
        data = end.join(lines) + (end if lines else b"") + end
        text = b"".join(http.client._read_headers(io.BytesIO(data))).decode("iso-8859-1")  # type: ignore[attr-defined]
        stdlib = email.parser.Parser(_class=http.client.HTTPMessage).parsestr(
            text, headersonly=True
        )
        ours = parse_headers_only(io.BytesIO(data))
        assert ours.items() == stdlib.items(), data
        for field, _ in stdlib.items():
            assert ours.get_all(field) == stdlib.get_all(field), data


def test_header_lookups_answer_as_the_email_message_does_before_and_after_a_change() -> None:
    """The parsed headers answer ``get``, ``get_all``, ``[]`` and ``in`` by an index: the same
    answers as the stdlib's message for any spelling of a name, and again after a change."""
    import email.parser
    import http.client
    import io

    from shared.transport import parse_headers_only

    block = (
        b'Content-Type: application/json; charset=utf-8\r\nETag: W/"1"\r\n'
        b"x-ms-ratelimit-remaining-subscription-reads: 249\r\nSet-Cookie: a=1\r\n"
        b"set-cookie: b=2\r\nContent-Length: 2\r\n\r\n"
    )
    ours = parse_headers_only(io.BytesIO(block))
    stdlib = email.parser.Parser(_class=http.client.HTTPMessage).parsestr(
        block.decode("iso-8859-1"), headersonly=True
    )

    def same() -> None:
        for name in (
            "content-type",
            "ETAG",
            "Set-Cookie",
            "X-MS-RATELIMIT-REMAINING-SUBSCRIPTION-READS",
            "Missing",
        ):
            for spelling in (name, name.lower(), name.upper()):
                assert ours.get(spelling) == stdlib.get(spelling)
                assert ours.get(spelling, "x") == stdlib.get(spelling, "x")
                assert ours.get_all(spelling) == stdlib.get_all(spelling)
                assert ours[spelling] == stdlib[spelling]
                assert (spelling in ours) == (spelling in stdlib)

    same()
    for message in (ours, stdlib):
        message["X-Added"] = "1"
        del message["set-cookie"]
        message.replace_header("ETag", 'W/"2"')
        message.add_header("Set-Cookie", "c=3")
    same()
    assert ours.get("etag") == 'W/"2"' and ours.get_all("set-cookie") == ["c=3"]


def test_header_lookups_follow_changes_made_around_the_messages_methods() -> None:
    """Changes the message's own methods do not announce (``set_boundary`` replacing the list,
    a shallow copy sharing it, the list appended to), values set with surrogates, and a name
    that is no text: the indexed headers answer as the stdlib's message does."""
    import copy
    import email.parser
    import http.client
    import io

    from shared.transport import parse_headers_only

    block = b"Content-Type: multipart/mixed; boundary=aaa\r\nX-One: 1\r\n\r\n"
    ours = parse_headers_only(io.BytesIO(block))
    stdlib = email.parser.Parser(_class=http.client.HTTPMessage).parsestr(
        block.decode("iso-8859-1"), headersonly=True
    )
    assert type(ours) is not http.client.HTTPMessage  # the indexed kind, or this proves nothing
    messages: tuple[Any, Any] = (ours, stdlib)
    for message in messages:
        assert message.get("x-one") == "1"
        message.set_boundary("bbb")
        twin = copy.copy(message)
        twin["X-New"] = "n"
        message._headers.append(("X-Raw", "r"))
        message["X-Odd"] = "caf\udce9"
    for name in ("content-type", "x-new", "x-raw", "x-odd", "x-one"):
        assert ours.get(name) == stdlib.get(name), name
        assert type(ours.get(name)) is type(stdlib.get(name)), name
        assert ours.get_all(name) == stdlib.get_all(name), name
    assert 'boundary="bbb"' in ours.get("content-type")
    for message in messages:
        with pytest.raises(AttributeError):
            _ = 1 in message


def test_an_answers_encoding_is_read_from_its_content_type_as_azure_core_reads_it(
    local: str,
) -> None:
    from types import SimpleNamespace

    from azure.core.rest._helpers import get_charset_encoding

    from shared.transport import _charset

    for content_type in (
        "application/json; charset=utf-8",
        "application/json;odata=minimalmetadata;streaming=true;charset=utf-8",
        'multipart/mixed; boundary="b"; charset="ISO-8859-1"',
        "text/plain; charset=no-such-codec",
        "application/json",
        "text/plain; charset=",
    ):
        typed = SimpleNamespace(headers={"Content-Type": content_type})
        assert _charset(content_type) == get_charset_encoding(typed), content_type
    client, _ = _client(local)
    response = client.send_request(HttpRequest("GET", f"{local}/json"))
    assert response.encoding == get_charset_encoding(response)
    assert response.json()["ok"] is True


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_holds_what_azure_cores_own_constructor_would_set(
    local: str, stream: bool
) -> None:
    """``PooledResponse`` sets azure-core's response attributes itself (skipping its backcompat
    ``__setattr__``): the same attributes, with the same values, as ``HttpResponseImpl``'s
    ``__init__`` gives, so a new azure-core that adds one fails here, not in production."""
    from azure.core.rest._http_response_impl import HttpResponseImpl

    from shared.transport import _BLOCK_SIZE, PooledResponse, _StreamDownload

    client, _ = _client(local)
    answer = client.send_request(HttpRequest("GET", f"{local}/json"), stream=stream)
    assert isinstance(answer, PooledResponse)
    own = vars(answer).copy()
    reference = object.__new__(PooledResponse)
    HttpResponseImpl.__init__(
        reference,
        request=answer.request,
        internal_response=answer.internal_response,
        status_code=answer.status_code,
        headers=answer.headers,
        reason=answer.reason,
        content_type=answer.headers.get("content-type"),
        block_size=_BLOCK_SIZE,
        stream_download_generator=_StreamDownload,
    )
    expected = vars(reference)
    if not stream:  # what the transport sets once it has read the whole body
        expected.update(_content=own["_content"], _is_stream_consumed=True, _is_closed=True)
    own.pop("_encoding")  # read from the Content-Type up front (the charset test covers it)
    assert own == expected
    if stream:
        answer.read()
    assert answer.json() == {"ok": True, "path": "/json"}
    assert answer.is_closed


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        ("abc", None),
        ("nan", None),
        ("inf", None),
        ("1e400", None),
        ("5" * 5000, None),  # parses to inf
        ("99999999999", 7 * 86_400.0),  # taken for at most a week: no overflow downstream
    ],
)
def test_retry_after_is_a_finite_delay_or_nothing(value: str, expected: float | None) -> None:
    from shared.http import retry_after

    assert retry_after({"Retry-After": value}) == expected
