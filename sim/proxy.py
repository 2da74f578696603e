"""An HTTPS (CONNECT) proxy that sends Azure's public host names to the simulated tenant.

Other tools (Prowler, Cloud Custodian, any Azure SDK client) hard-code Azure's public
endpoints. The one override every such client honours is ``HTTPS_PROXY`` plus a CA bundle, so
the sim is reached without modifying the tool: the client asks this proxy to ``CONNECT
management.azure.com:443``, the proxy opens a TCP connection to the sim's TLS port and pipes
bytes both ways. TLS stays end to end between the client and the sim, whose certificate names
the public hosts (``sim.server``), and the sim routes the request by its ``Host`` header.

Only :data:`AZURE_HOSTS` and ``{vault}.vault.azure.net`` on port 443 are tunnelled. Anything
else — another host, another port, a plain-HTTP proxy request — is answered ``403`` and never
forwarded: nothing leaves the machine. The proxy listens on loopback only.

Environment for a client (see :func:`client_env`)::

    HTTPS_PROXY=http://127.0.0.1:{proxy}   NO_PROXY=127.0.0.1,localhost
    REQUESTS_CA_BUNDLE=SSL_CERT_FILE={ca.pem}
    IDENTITY_ENDPOINT=https://127.0.0.1:{sim}/msi/token   IDENTITY_HEADER=...
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import socketserver
import threading
from collections import Counter
from typing import Any

from sim import identity

AZURE_HOSTS = frozenset(
    {
        "management.azure.com",
        "graph.microsoft.com",
        "login.microsoftonline.com",
    }
)
VAULT_SUFFIX = ".vault.azure.net"
# A vault name: 3-24 characters, letters, digits and hyphens (Key Vault naming rules).
_VAULT_HOST = re.compile(r"^[a-z0-9][a-z0-9-]{1,22}[a-z0-9]\.vault\.azure\.net$")
TUNNEL_PORT = 443
_MAX_HEADER = 16 * 1024
_IDLE_SECONDS = 300.0


def is_tunnelled(host: str) -> bool:
    """True for the host names this proxy sends to the sim."""
    name = host.strip().lower().rstrip(".")
    return name in AZURE_HOSTS or bool(_VAULT_HOST.match(name))


def _split_target(target: str) -> tuple[str, int] | None:
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]").lower(), int(port)


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 128
    upstream: tuple[str, int]
    counts: Counter[str]
    lock: threading.Lock

    def count(self, name: str) -> None:
        with self.lock:
            self.counts[name] += 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None


class _Tunnel(socketserver.BaseRequestHandler):
    server: _ProxyServer

    def handle(self) -> None:
        client: socket.socket = self.request
        client.settimeout(30)
        head = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in head and len(head) < _MAX_HEADER:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
        parts = request_line.split()
        if len(parts) != 3 or parts[0].upper() != "CONNECT":
            self.server.count("refused:not-connect")
            self._refuse(client, "only CONNECT to Azure host names is proxied")
            return
        target = _split_target(parts[1])
        if target is None or target[1] != TUNNEL_PORT or not is_tunnelled(target[0]):
            self.server.count(f"refused:{parts[1].lower()}")
            self._refuse(client, f"{parts[1]} is not an Azure endpoint the sim serves")
            return
        try:
            upstream = socket.create_connection(self.server.upstream, timeout=10)
        except OSError:
            self.server.count("error:upstream")
            with contextlib.suppress(OSError):
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        self.server.count(f"tunnel:{target[0]}")
        with upstream:
            rest = head.split(b"\r\n\r\n", 1)[1]
            try:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
                _pipe(client, upstream)
            except OSError:
                return

    @staticmethod
    def _refuse(client: socket.socket, reason: str) -> None:
        body = (reason + "\n").encode()
        with contextlib.suppress(OSError):
            client.sendall(
                b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Copies bytes both ways until one side closes or both stay idle too long."""
    a.settimeout(None)
    b.settimeout(None)
    peers = {a: b, b: a}
    while True:
        ready, _, _ = select.select(list(peers), [], [], _IDLE_SECONDS)
        if not ready:
            return
        for source in ready:
            data = source.recv(65536)
            if not data:
                return
            peers[source].sendall(data)


class SimProxy:
    """A running proxy in front of the sim's TLS port (``start()`` / ``stop()``)."""

    def __init__(self, upstream_port: int, port: int = 0, upstream_host: str = "127.0.0.1"):
        self._upstream = (upstream_host, upstream_port)
        self._port = port
        self._server: _ProxyServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SimProxy:
        server = _ProxyServer(("127.0.0.1", self._port), _Tunnel)
        server.upstream = self._upstream
        server.counts = Counter()
        server.lock = threading.Lock()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="sim-proxy"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def counts(self) -> dict[str, int]:
        """Tunnels opened by host and requests refused (by target)."""
        if self._server is None:
            return {}
        with self._server.lock:
            return dict(self._server.counts)


def client_env(proxy_url: str, arm_url: str, ca_cert: str) -> dict[str, str]:
    """What a peer's environment needs to reach the sim through the proxy, as a managed identity.

    ``NO_PROXY`` keeps loopback direct: the managed-identity endpoint and the nextLinks the sim
    writes with its own address.
    """
    return {
        "HTTPS_PROXY": proxy_url,
        "https_proxy": proxy_url,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "REQUESTS_CA_BUNDLE": ca_cert,
        "SSL_CERT_FILE": ca_cert,
        "CURL_CA_BUNDLE": ca_cert,
        "IDENTITY_ENDPOINT": arm_url.rstrip("/") + identity.PATH,
        "IDENTITY_HEADER": identity.IDENTITY_HEADER,
    }
