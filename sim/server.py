"""The simulated tenant's HTTPS server: ARM at ``/``, the admin API at ``/_admin``, and the
notification stand-ins (:mod:`sim.channels`): GitHub at ``/github``, Azure DevOps at ``/devops``,
Teams webhooks at ``/teams``, ACS Email at ``/emails:send`` and ``/emails/operations``, and the
Key Vault data plane at ``/keyvault/{vault}`` (:mod:`sim.keyvault_data`).

One ``ThreadingHTTPServer`` on 127.0.0.1 with a certificate from a ``trustme`` CA (written to
``ca.pem`` for ``connection_verify``). TLS is negotiated on the connection's own thread, and
every response leaves in one ``send`` with ``TCP_NODELAY`` set, so keep-alive clients never hit
the ~44 ms Nagle / delayed-ACK stall of Python's default ``http.server`` writes.

Request path for ARM: bearer token (401 without) → counters → faults (latency, reset, 5xx) →
token buckets (429 when enforcing) → :class:`sim.arm.ArmService`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import struct
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from sim import identity, ids
from sim.acs_email import EmailService
from sim.arm import ArmOptions, ArmRequest, ArmResponse, ArmService, error_body, versions
from sim.arm.core import REQUEST_ORIGIN
from sim.credentials import decode_jwt
from sim.devops import DevOpsService
from sim.estate import Estate
from sim.events import Caller, EventBus, Schema, arm_claims, parse_destination
from sim.faults import Dice, FaultSpec, TokenBuckets, WindowQuota
from sim.github import GitHubService
from sim.graph import GraphService
from sim.keyvault_data import KeyVaultDataService
from sim.proxy import AZURE_HOSTS, VAULT_SUFFIX, SimProxy
from sim.teams import TeamsService

DEFAULT_TENANT = "72f988bf-0000-4000-8000-000000000001"
DEFAULT_APP_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "phiguard-sim/default-app"))
DEFAULT_OBJECT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "phiguard-sim/default-app/sp"))
PORTAL_APP_ID = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"  # the Azure portal's first-party app id


@dataclass
class SimConfig:
    """How to run a simulated tenant (every field has a ``phiguard sim serve`` flag)."""

    host: str = "127.0.0.1"
    port: int = 0
    estate: Any = "demo"  # Estate, "demo", "empty", a JSON file, N or "N:M", or a dict
    events_to: list[str] = field(default_factory=list)  # URL / FILE, "cloudevents:" prefix
    faults: str = ""
    seed: int = 0
    page_size: int = 100
    lro_retry_after: float = 1.0
    lro_duration: float = 0.0
    retry_compression: float = 1000.0
    max_events_per_batch: int = 1
    workdir: str | None = None  # where ca.pem goes (a temporary directory by default)
    email_retry_after: float = 0.0  # ACS Email's retry-after on send / Running (0: not sent)
    proxy_port: int | None = None  # sim.proxy for Azure's public names (0: any port; None: off)


class Counters:
    """ARM requests by method and resource type (the benchmarks' ARM-call figures)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._c: Counter[str] = Counter()

    def add(self, *names: str) -> None:
        with self._lock:
            for name in names:
                self._c[name] += 1

    def reset(self) -> None:
        with self._lock:
            self._c.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            items = dict(self._c)
        out: dict[str, Any] = {
            "total": items.get("total", 0),
            "by_method": {},
            "by_type": {},
            "by_method_and_type": {},
            "by_call": {},  # "GET list T" / "GET one T" / "POST one T": what the peers bench shows
            "by_status": {},
            "faults": {},
        }
        for name, n in sorted(items.items()):
            kind, _, rest = name.partition(":")
            if kind in ("method", "type", "status", "fault"):
                bucket = {
                    "method": "by_method",
                    "type": "by_type",
                    "status": "by_status",
                    "fault": "faults",
                }[kind]
                out[bucket][rest] = n
            elif kind == "mt":
                out["by_method_and_type"][rest] = n
            elif kind == "call":
                out["by_call"][rest] = n
        return out


# Target kinds that address a collection: a GET of one is a list call (paged by nextLink).
_LISTS = frozenset({"subscriptions", "resource_groups", "generic_list", "collection"})

_CA_LOCK = threading.Lock()
_CA_CACHE: dict[str, Any] = {}


def _tls(workdir: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context for 127.0.0.1/localhost and Azure's public host names (ARM, Graph,
    Entra, ``*.vault.azure.net``), and the CA file clients should trust."""
    import trustme

    with _CA_LOCK:
        if "ca" not in _CA_CACHE:
            ca = trustme.CA(key_type=trustme.KeyType.ECDSA)
            _CA_CACHE["ca"] = ca
            # Azure's public names too: peers reach the sim through sim.proxy unmodified.
            _CA_CACHE["cert"] = ca.issue_cert(
                "127.0.0.1", "localhost", "::1", *sorted(AZURE_HOSTS), "*" + VAULT_SUFFIX
            )
        ca = _CA_CACHE["ca"]
        cert = _CA_CACHE["cert"]
    ca_path = workdir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context, ca_path


def resolve_estate(spec: Any, seed: int = 0) -> Estate:
    """An Estate from an Estate, a dict, "demo", "empty", a JSON file path, N or "N:M"."""
    if isinstance(spec, Estate):
        return spec
    if spec is None or spec == "empty":
        return Estate(tenant_id=DEFAULT_TENANT, subscriptions=[], documents=[])
    if isinstance(spec, dict):
        return Estate(
            tenant_id=str(spec.get("tenant_id") or DEFAULT_TENANT),
            subscriptions=list(spec.get("subscriptions") or []),
            documents=list(spec.get("documents") or []),
            ground_truth=dict(spec.get("ground_truth") or {}),
        )
    from sim import estate as estate_module

    text = str(spec)
    counts = text.split(":")
    if all(part.strip().isdigit() for part in counts) and len(counts) <= 2:
        generated = getattr(estate_module, "generated_estate", None)
        if generated is None:
            raise RuntimeError("sim.estate.generated_estate is not available")
        extra = int(counts[1]) if len(counts) == 2 else 0
        return cast(Estate, generated(int(counts[0]), extra, seed))
    if text == "demo":
        demo = getattr(estate_module, "demo_estate", None)
        if demo is None:
            raise RuntimeError("sim.estate.demo_estate is not available")
        return cast(Estate, demo())
    from_spec = getattr(estate_module, "estate_from_spec", None)
    if from_spec is not None:
        return cast(Estate, from_spec(text))
    data = json.loads(Path(text).read_text(encoding="utf-8"))
    return resolve_estate(data, seed)


def _directory_of(estate: Estate) -> dict[str, Any]:
    """The Graph directory that goes with an estate: the demo's for the demo tenant, else none
    (load one with ``POST /_admin/graph/directory``)."""
    from sim.estate import DEMO_TENANT
    from sim.estate.access import demo_directory

    return demo_directory() if estate.tenant_id == DEMO_TENANT else {}


def _default_claims(tenant: str) -> dict[str, str]:
    now = int(time.time())
    return {
        "aud": "https://management.azure.com/",
        "iss": f"https://sts.windows.net/{tenant}/",
        "iat": str(now),
        "nbf": str(now),
        "exp": str(now + 3600),
        "aio": "E2ZgYPhiguardSimAA==",
        "appid": DEFAULT_APP_ID,
        "appidacr": "2",
        "http://schemas.microsoft.com/identity/claims/identityprovider": (
            f"https://sts.windows.net/{tenant}/"
        ),
        "http://schemas.microsoft.com/identity/claims/objectidentifier": DEFAULT_OBJECT_ID,
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier": DEFAULT_OBJECT_ID,
        "http://schemas.microsoft.com/identity/claims/tenantid": tenant,
        "uti": "c2ltdXRpMDAwMDAw",
        "ver": "1.0",
    }


def user_caller(tenant: str, user: dict[str, Any] | str | None = None) -> Caller:
    """A human user acting through the portal (the admin API's "change as a user")."""
    info: dict[str, Any] = {"name": user} if isinstance(user, str) else dict(user or {})
    name = str(info.get("name") or "Dana Ops")
    upn = str(info.get("upn") or name.lower().replace(" ", ".") + "@contosohealth.example")
    oid = str(info.get("oid") or uuid.uuid5(uuid.NAMESPACE_URL, f"phiguard-sim/user/{upn}"))
    given, _, family = name.partition(" ")
    now = int(time.time())
    claims = {
        "aud": "https://management.core.windows.net/",
        "iss": f"https://sts.windows.net/{tenant}/",
        "iat": str(now),
        "nbf": str(now),
        "exp": str(now + 3600),
        "http://schemas.microsoft.com/claims/authnclassreference": "1",
        "aio": "AVQAq/8TAAAAsimuser",
        "http://schemas.microsoft.com/claims/authnmethodsreferences": "pwd,mfa",
        "appid": str(info.get("appid") or PORTAL_APP_ID),
        "appidacr": "2",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname": family or name,
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname": given,
        "ipaddr": str(info.get("ipaddr") or "203.0.113.10"),
        "name": name,
        "http://schemas.microsoft.com/identity/claims/objectidentifier": oid,
        "puid": "10037FFE8F1A2B3C",
        "http://schemas.microsoft.com/identity/claims/scope": "user_impersonation",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier": oid,
        "http://schemas.microsoft.com/identity/claims/tenantid": tenant,
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name": upn,
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": upn,
        "uti": "c2ltdXNlcjAwMDAw",
        "ver": "1.0",
    }
    return Caller(
        claims,
        oid,
        "User",
        role=str(info.get("role") or "Owner"),
        role_definition_id="8e3af657a8ff443ca75c2fe8c4bcb635",
    )


ARM_HOST = "management.azure.com"


def path_for_host(host_header: str, raw_path: str) -> str:
    """The sim's own path for a request that came by a public Azure name (through sim.proxy):
    ``graph.microsoft.com`` is the Graph stand-in under ``/graph``, ``{vault}.vault.azure.net``
    a vault's data plane under ``/keyvault/{vault}``; ARM's name and the sim's address map as is.
    """
    host = host_header.strip().lower()
    if host.startswith("["):
        return raw_path
    host = host.partition(":")[0].rstrip(".")
    if host == "graph.microsoft.com":
        return "/graph" + raw_path
    if host.endswith(VAULT_SUFFIX) and host != VAULT_SUFFIX[1:]:
        return f"/keyvault/{host[: -len(VAULT_SUFFIX)]}" + raw_path
    return raw_path


class SimTenant:
    """Everything behind the socket: ARM, events, faults, counters, admin operations."""

    def __init__(self, config: SimConfig, base_url: str, ca_cert: Path) -> None:
        self.config = config
        self.base_url = base_url
        self.ca_cert = ca_cert
        self.dice = Dice(config.seed)
        self.faults = FaultSpec.parse(config.faults)
        self.buckets = TokenBuckets(self.faults)
        self.counters = Counters()
        self.bus = EventBus(
            dice=self.dice,
            faults=lambda: self.faults,
            compression=config.retry_compression,
            max_events_per_batch=config.max_events_per_batch,
            verify=str(ca_cert),
        )
        self.estate = Estate(tenant_id=DEFAULT_TENANT, subscriptions=[], documents=[])
        self.arm = ArmService(
            base_url=base_url,
            tenant_id=DEFAULT_TENANT,
            publish=self.bus.publish,
            options=ArmOptions(
                page_size=config.page_size,
                lro_retry_after=config.lro_retry_after,
                lro_duration=config.lro_duration,
            ),
            etag_source=lambda: self.dice.getrandbits(128),
        )
        self.quota = WindowQuota()
        services = (base_url, self.dice, lambda: self.faults, self.quota)
        self.github = GitHubService(*services)
        self.devops = DevOpsService(*services)
        self.teams = TeamsService(*services)
        self.email = EmailService(*services, retry_after=config.email_retry_after)
        self.graph = GraphService(base_url)
        self.keyvault = KeyVaultDataService(base_url, lambda: self.arm.store, self._tenant_id)
        self._callers: dict[str, Caller] = {}
        self._initial: Estate | None = None
        self.reset()
        for destination in config.events_to:
            self.add_destination(destination)

    # --- admin operations -----------------------------------------------------------------

    @property
    def subscriptions(self) -> list[str]:
        return list(self.arm.subscription_ids)

    def reset(self, estate: Any = None, seed: int | None = None) -> None:
        """Replaces the tenant's documents with an estate (the configured one by default)."""
        if estate is None and seed is None and self._initial is not None:
            chosen = self._initial  # documents are never mutated, so the estate can be reused
        else:
            chosen = resolve_estate(
                self.config.estate if estate is None else estate,
                self.config.seed if seed is None else seed,
            )
            if estate is None and seed is None:
                self._initial = chosen
        self.estate = chosen
        self.arm.clear(chosen.tenant_id or DEFAULT_TENANT)
        self.arm.load(chosen.documents, chosen.subscriptions)
        self._callers.clear()
        self.buckets.reconfigure(self.faults)
        self.quota.clear()
        for service in self.services.values():
            service.clear()
        self.graph.clear()
        self.graph.load(_directory_of(chosen))

    @property
    def services(self) -> dict[str, GitHubService | DevOpsService | TeamsService | EmailService]:
        return {
            "github": self.github,
            "devops": self.devops,
            "teams": self.teams,
            "email": self.email,
        }

    def set_faults(self, spec: str) -> None:
        self.faults = FaultSpec.parse(spec)
        self.buckets.reconfigure(self.faults)
        self.quota.clear()

    def add_destination(self, destination: str, schema: Schema | None = None) -> None:
        target, prefixed = parse_destination(destination)
        topic = f"/subscriptions/{self.subscriptions[0]}" if self.subscriptions else ""
        self.bus.add(target, schema or prefixed, topic=topic)

    def change_as_user(
        self,
        method: str,
        resource_id: str,
        body: Any = None,
        api_version: str | None = None,
        user: dict[str, Any] | str | None = None,
    ) -> ArmResponse:
        """A write by a person (portal), outside the product: no throttling, no faults. Without
        ``api_version``, the newest version the type registers (as the portal sends)."""
        payload = b"" if body is None else json.dumps(body).encode()
        path = resource_id if resource_id.startswith("/") else "/" + resource_id
        api_version = api_version or versions.newest_for(path)
        req = ArmRequest(
            method=method.upper(),
            path=path,
            query={"api-version": api_version},
            headers={},
            body=payload,
            url=f"https://management.azure.com{path}?api-version={api_version}",
            caller=user_caller(self.arm.tenant_id, user),
            client_ip="203.0.113.10",
        )
        return self.arm.handle(req)

    def ready_info(self) -> dict[str, Any]:
        return {
            "arm_url": self.base_url,
            "ca_cert": str(self.ca_cert),
            "admin_url": self.base_url + "/_admin",
            "subscriptions": self.subscriptions,
        }

    def _tenant_id(self) -> str:
        return self.arm.tenant_id

    # --- ARM requests ---------------------------------------------------------------------

    def _caller(self, token: str) -> Caller:
        cached = self._callers.get(token)
        if cached is not None:
            return cached
        tenant = self.arm.tenant_id
        payload = decode_jwt(token)
        if payload is None:
            caller = Caller(_default_claims(tenant), DEFAULT_OBJECT_ID, "ServicePrincipal")
        else:
            claims = arm_claims(payload)
            claims.setdefault("appid", str(payload.get("azp") or DEFAULT_APP_ID))
            oid = str(payload.get("oid") or payload.get("sub") or DEFAULT_OBJECT_ID)
            is_user = "upn" in payload or "unique_name" in payload
            caller = Caller(claims, oid, "User" if is_user else "ServicePrincipal")
        if len(self._callers) > 1024:
            self._callers.clear()
        self._callers[token] = caller
        return caller

    def respond(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes, client_ip: str
    ) -> tuple[int, list[tuple[str, str]], bytes, bool]:
        """Answers one request: (status, headers, body, reset the connection instead)."""
        raw_path = path_for_host(headers.get("host", ""), raw_path)
        split = urlsplit(raw_path)
        path = unquote(split.path)
        if path == "/_admin" or path.startswith("/_admin/"):
            from sim.admin import handle_admin

            status, payload = handle_admin(self, method, path, split.query, body)
            data = json.dumps(payload).encode()
            return status, [("Content-Type", "application/json; charset=utf-8")], data, False
        for prefix, service in (
            ("/github/", self.github),
            ("/devops/", self.devops),
            ("/teams/", self.teams),
        ):
            if path.startswith(prefix):
                sub = path[len(prefix) - 1 :]
                return service.handle(method, sub, split.query, headers, body)
        if path.startswith("/keyvault/"):
            return self.keyvault.handle(
                method, path[len("/keyvault") :], split.query, headers, body
            )
        if path.startswith("/graph/"):
            return self.graph.handle(method, path[len("/graph") :], split.query, headers, body)
        if path == identity.PATH:
            return identity.handle(method, split.query, headers)
        if path == identity.IMDS_PATH:
            return identity.handle_imds(method, split.query, headers)
        if path == "/emails:send" or path.startswith("/emails/"):
            return self.email.handle(method, path, split.query, headers, body, raw_target=raw_path)
        query = {k.lower(): v for k, v in reversed(parse_qsl(split.query, keep_blank_values=True))}
        target = ids.parse(path)
        type_name = target.type_key if target is not None and target.type else "unknown"
        shape = "other" if target is None else "list" if target.kind in _LISTS else "one"
        self.counters.add(
            "total",
            f"method:{method}",
            f"type:{type_name}",
            f"mt:{method} {type_name}",
            f"call:{method} {shape} {type_name}",
        )
        request_id = str(uuid.uuid4())
        correlation = headers.get("x-ms-correlation-request-id") or request_id
        common = [
            ("Cache-Control", "no-cache"),
            ("Pragma", "no-cache"),
            ("x-ms-request-id", request_id),
            ("x-ms-correlation-request-id", correlation),
            (
                "x-ms-routing-request-id",
                f"LOCAL:{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}:{request_id}",
            ),
        ]
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self.counters.add("status:401")
            reason = "missing" if not auth else "invalid"
            return (
                401,
                [
                    *common,
                    ("Content-Type", "application/json; charset=utf-8"),
                    (
                        "WWW-Authenticate",
                        'Bearer authorization_uri="https://login.microsoftonline.com/'
                        f'{self.arm.tenant_id}", error="invalid_token", '
                        f'error_description="The authentication failed because of {reason} '
                        "'Authorization' header.\"",
                    ),
                ],
                error_body(
                    "AuthenticationFailed",
                    f"Authentication failed. The 'Authorization' header is {reason}.",
                ),
                False,
            )
        faults = self.faults
        if faults.latency or faults.jitter:
            time.sleep(
                faults.latency + (self.dice.uniform(0, faults.jitter) if faults.jitter else 0)
            )
        if self.dice.chance(faults.reset):
            self.counters.add("fault:reset")
            return 0, [], b"", True
        if self.dice.chance(faults.error5xx):
            status = self.dice.choice([500, 502, 503, 504])
            self.counters.add("fault:error5xx", f"status:{status}")
            code = {
                500: "InternalServerError",
                502: "BadGateway",
                503: "ServiceUnavailable",
                504: "GatewayTimeout",
            }[status]
            return (
                status,
                [*common, ("Content-Type", "application/json; charset=utf-8")],
                error_body(code, "The server encountered an internal error (injected fault)."),
                False,
            )
        caller = self._caller(token.strip())
        kind = {"GET": "reads", "HEAD": "reads", "DELETE": "deletes"}.get(method, "writes")
        scope = target.subscription if target is not None and target.subscription else "tenant"
        principal = caller.claims.get(
            "http://schemas.microsoft.com/identity/claims/objectidentifier", caller.principal_id
        )
        verdict = self.buckets.take(scope.lower(), principal, kind)
        # Tenant-level requests are counted under the tenant's names (request limits and
        # throttling: x-ms-ratelimit-remaining-tenant-reads ...).
        level = "tenant" if scope == "tenant" else "subscription"
        limit_headers = [
            (f"x-ms-ratelimit-remaining-{level}-{kind}", str(verdict.remaining)),
            (f"x-ms-ratelimit-remaining-{level}-global-{kind}", str(verdict.global_remaining)),
        ]
        if not verdict.allowed:
            self.counters.add("status:429", "fault:throttled")
            return (
                429,
                [
                    *common,
                    *limit_headers,
                    ("Retry-After", str(verdict.retry_after)),
                    ("Content-Type", "application/json; charset=utf-8"),
                ],
                error_body(
                    "SubscriptionRequestsThrottled",
                    f"Number of '{kind[:-1]}' requests for subscription '{scope}' actor "
                    f"'{principal}' exceeded. Please try again after '{verdict.retry_after}' "
                    "seconds after the additional tokens are available. Refer to "
                    "https://aka.ms/arm-throttling for additional information.",
                ),
                False,
            )
        req = ArmRequest(
            method=method,
            path=path,
            query=query,
            headers=headers,
            body=body,
            url=self.base_url + raw_path,
            caller=caller,
            client_ip=client_ip,
        )
        public = headers.get("host", "").partition(":")[0].strip().lower() == ARM_HOST
        origin = REQUEST_ORIGIN.set(f"https://{ARM_HOST}" if public else None)
        try:
            resp = self.arm.handle(req)
        finally:
            REQUEST_ORIGIN.reset(origin)
        self.counters.add(f"status:{resp.status}")
        out = [*common, *limit_headers, *resp.headers]
        if resp.body:
            out.append(("Content-Type", "application/json; charset=utf-8"))
        return resp.status, out, resp.body, False


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256
    tenant: SimTenant
    ssl_context: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)  # type: ignore[arg-type]
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, out, payload, reset = self.server.tenant.respond(
                self.command, self.path, headers, body, self.client_address[0]
            )
        except Exception as exc:  # a bug in the sim must not look like a hang
            status, out, payload, reset = (
                500,
                [("Content-Type", "application/json; charset=utf-8")],
                error_body("SimulatorError", f"{type(exc).__name__}: {exc}"),
                False,
            )
        if reset:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.request.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.request.close()
            return
        if headers.get("connection", "").lower() == "close":
            self.close_connection = True
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        lines = [f"HTTP/1.1 {status} {phrase}"]
        lines += [f"{k}: {v}" for k, v in out]
        send_body = payload if self.command != "HEAD" and status not in (204, 304) else b""
        lines.append(f"Content-Length: {len(send_body)}")
        if self.close_connection:
            lines.append("Connection: close")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + send_body
        self.wfile.write(data)

    do_GET = _handle  # noqa: N815
    do_PUT = _handle  # noqa: N815
    do_PATCH = _handle  # noqa: N815
    do_DELETE = _handle  # noqa: N815
    do_POST = _handle  # noqa: N815
    do_HEAD = _handle  # noqa: N815
    do_OPTIONS = _handle  # noqa: N815


class SimServer:
    """A running simulated tenant. ``start()`` binds and serves on a background thread."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self.tenant: SimTenant | None = None
        self.proxy: SimProxy | None = None

    def start(self) -> SimServer:
        if self.config.workdir:
            workdir = Path(self.config.workdir)
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="phiguard-sim-")
            workdir = Path(self._tmp.name)
        context, ca_path = _tls(workdir)
        httpd = _HttpServer((self.config.host, self.config.port), _Handler)
        httpd.ssl_context = context
        raw_host, port = httpd.server_address[:2]
        host = raw_host.decode() if isinstance(raw_host, bytes) else str(raw_host)
        shown = f"[{host}]" if ":" in host else host
        base_url = f"https://{shown}:{port}"
        try:
            httpd.tenant = SimTenant(self.config, base_url, ca_path)
        except BaseException:
            httpd.server_close()
            raise
        self.tenant = httpd.tenant
        self._httpd = httpd
        if self.config.proxy_port is not None:
            try:
                self.proxy = SimProxy(int(port), port=self.config.proxy_port).start()
            except BaseException:
                httpd.server_close()
                raise
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="sim-http",
            daemon=True,
        )
        self._thread.start()
        self._ticker = threading.Thread(target=self._tick, name="sim-lro", daemon=True)
        self._ticker.start()
        return self

    def _tick(self) -> None:
        while not self._stop.wait(0.02):
            if self.tenant is not None:
                self.tenant.arm.tick()

    def stop(self) -> None:
        self._stop.set()
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self.tenant is not None:
            self.tenant.bus.clear()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *args: object) -> None:
        self.stop()

    @property
    def t(self) -> SimTenant:
        if self.tenant is None:
            raise RuntimeError("the simulated tenant is not running")
        return self.tenant

    @property
    def arm_url(self) -> str:
        return self.t.base_url

    @property
    def admin_url(self) -> str:
        return self.t.base_url + "/_admin"

    @property
    def ca_cert(self) -> str:
        return str(self.t.ca_cert)

    @property
    def subscriptions(self) -> list[str]:
        return self.t.subscriptions

    @property
    def proxy_url(self) -> str | None:
        """``HTTPS_PROXY`` for clients that use Azure's public names (``proxy_port`` set)."""
        return self.proxy.url if self.proxy is not None else None

    def ready_info(self) -> dict[str, Any]:
        info = self.t.ready_info()
        if self.proxy is not None:
            info["proxy_url"] = self.proxy.url
        return info
