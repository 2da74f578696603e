"""sim.proxy: unmodified Azure clients reach the sim by Azure's public names, nothing else leaves."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest
import requests

from sim.fixture import SimHandle, running_sim, spawned_sim
from sim.server import path_for_host


@pytest.fixture(scope="module")
def proxied() -> Iterator[SimHandle]:
    with running_sim(estate="demo", seed=0, proxy_port=0) as handle:
        yield handle


def _connect(proxy_url: str, target: str) -> tuple[socket.socket, bytes]:
    """Sends ``CONNECT target`` to the proxy; returns the socket and the proxy's answer head."""
    host, _, port = proxy_url.removeprefix("http://").rpartition(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return sock, head


def test_an_azure_sdk_client_reaches_arm_by_its_public_name_as_a_managed_identity(
    proxied: SimHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.identity import ManagedIdentityCredential
    from azure.mgmt.resource.resources import ResourceManagementClient

    for name, value in proxied.client_env().items():
        monkeypatch.setenv(name, value)
    proxied.reset_counters()
    credential = ManagedIdentityCredential()
    # No base_url and no connection_verify: the SDK's defaults, as in a peer tool.
    client = ResourceManagementClient(credential, proxied.subscription_id)
    assert [g.name for g in client.resource_groups.list()]
    counters = proxied.counters()
    assert counters["by_method_and_type"].get("GET microsoft.resources/resourcegroups", 0) >= 1
    assert proxied.server is not None and proxied.server.proxy is not None
    tunnels = proxied.server.proxy.counts()
    assert tunnels.get("tunnel:management.azure.com", 0) >= 1


def test_graph_is_served_by_its_public_name(proxied: SimHandle) -> None:
    before = proxied.admin("GET", "graph")["by_route"].get("users", 0)
    resp = requests.get(
        "https://graph.microsoft.com/v1.0/users?$top=5",
        headers={"Authorization": "Bearer token"},
        proxies={"https": str(proxied.proxy_url)},
        verify=proxied.ca_cert,
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["value"], "the demo directory has users"
    assert proxied.admin("GET", "graph")["by_route"]["users"] == before + 1


@pytest.mark.parametrize(
    "target",
    ["example.com:443", "management.azure.com:80", "graph.microsoft.com:8443", "127.0.0.1:443"],
)
def test_any_other_host_or_port_is_refused(proxied: SimHandle, target: str) -> None:
    sock, head = _connect(str(proxied.proxy_url), target)
    sock.close()
    assert head.startswith(b"HTTP/1.1 403 "), head


def test_a_plain_http_proxy_request_is_refused(proxied: SimHandle) -> None:
    with pytest.raises(requests.exceptions.ProxyError, match="403"):
        requests.get(
            "https://example.com/",
            proxies={"https": str(proxied.proxy_url)},
            timeout=10,
        )
    resp = requests.get(
        "http://management.azure.com/", proxies={"http": str(proxied.proxy_url)}, timeout=10
    )
    assert resp.status_code == 403


@pytest.mark.parametrize(
    "name",
    [
        "management.azure.com",
        "graph.microsoft.com",
        "login.microsoftonline.com",
        "kv-phi-01.vault.azure.net",
    ],
)
def test_the_certificate_verifies_against_ca_pem_for_the_public_names(
    proxied: SimHandle, name: str
) -> None:
    sock, head = _connect(str(proxied.proxy_url), f"{name}:443")
    assert head.startswith(b"HTTP/1.1 200 "), head
    context = ssl.create_default_context(cafile=proxied.ca_cert)
    with context.wrap_socket(sock, server_hostname=name) as tls:
        cert = tls.getpeercert() or {}
        names = [str(entry[1]) for entry in cert.get("subjectAltName", ())]
        assert name in names or "*.vault.azure.net" in names


def test_the_certificate_names_no_other_host(proxied: SimHandle) -> None:
    sock, _ = _connect(str(proxied.proxy_url), "management.azure.com:443")
    context = ssl.create_default_context(cafile=proxied.ca_cert)
    with pytest.raises(ssl.SSLCertVerificationError):
        context.wrap_socket(sock, server_hostname="management.example.com")
    sock.close()


def test_requests_route_by_host_header() -> None:
    assert path_for_host("graph.microsoft.com", "/v1.0/users") == "/graph/v1.0/users"
    assert path_for_host("kv-1.vault.azure.net:443", "/keys?api-version=7.4") == (
        "/keyvault/kv-1/keys?api-version=7.4"
    )
    assert path_for_host("management.azure.com", "/tenants") == "/tenants"
    assert path_for_host("127.0.0.1:4443", "/graph/v1.0/users") == "/graph/v1.0/users"


def test_sim_serve_prints_the_proxy_url() -> None:
    with spawned_sim(estate="empty", extra_args=["--proxy-port", "0"]) as handle:
        assert handle.proxy_url is not None and handle.proxy_url.startswith("http://127.0.0.1:")
        resp = requests.get(
            "https://management.azure.com/tenants?api-version=2022-12-01",
            headers={"Authorization": "Bearer token"},
            proxies={"https": handle.proxy_url},
            verify=handle.ca_cert,
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["value"][0]["tenantId"]


def test_links_name_the_origin_the_client_addressed(proxied: SimHandle) -> None:
    """ARM's nextLink names management.azure.com to a client that came by that name (it follows
    the link back through the proxy, as against real ARM), and the sim's address to one that
    came directly."""
    path = f"/subscriptions/{proxied.subscription_id}/resources?api-version=2021-04-01&$top=2"
    auth = {"Authorization": "Bearer token"}
    public = requests.get(
        "https://management.azure.com" + path,
        headers=auth,
        proxies={"https": str(proxied.proxy_url)},
        verify=proxied.ca_cert,
        timeout=30,
    ).json()
    assert public["nextLink"].startswith("https://management.azure.com/subscriptions/")
    following = requests.get(
        public["nextLink"],
        headers=auth,
        proxies={"https": str(proxied.proxy_url)},
        verify=proxied.ca_cert,
        timeout=30,
    )
    assert following.status_code == 200 and following.json()["value"]
    session = requests.Session()
    session.trust_env = False
    direct = session.get(proxied.arm_url + path, headers=auth, verify=proxied.ca_cert, timeout=30)
    assert direct.json()["nextLink"].startswith(proxied.arm_url + "/subscriptions/")


def test_a_vaults_next_link_names_the_vault_host_the_client_addressed(
    proxied: SimHandle,
) -> None:
    """Key Vault's nextLink is on the vault's own host (GetKeys-example.json, 7.5:
    ``https://myvault.vault.azure.net:443/keys?...&$skiptoken=...&maxresults=1``) for a client
    that came by that name; one that came to the sim's address gets the sim's address."""
    auth = {"Authorization": "Bearer token"}
    session = requests.Session()
    session.trust_env = False
    name = "kv-chs-phi-app"  # a demo vault with at least two keys
    direct = session.get(
        f"{proxied.arm_url}/keyvault/{name}/keys",
        params={"api-version": "7.5", "maxresults": "1"},
        headers=auth,
        verify=proxied.ca_cert,
        timeout=30,
    )
    assert direct.status_code == 200, direct.text
    assert direct.json()["nextLink"].startswith(f"{proxied.arm_url}/keyvault/{name}/keys?")
    public = requests.get(
        f"https://{name}.vault.azure.net/keys?api-version=7.5&maxresults=1",
        headers=auth,
        proxies={"https": str(proxied.proxy_url)},
        verify=proxied.ca_cert,
        timeout=30,
    )
    assert public.status_code == 200, public.text
    link = public.json()["nextLink"]
    assert link.startswith(f"https://{name}.vault.azure.net:443/keys?api-version=7.5&$skiptoken=")
    following = requests.get(
        link,
        headers=auth,
        proxies={"https": str(proxied.proxy_url)},
        verify=proxied.ca_cert,
        timeout=30,
    )
    assert following.status_code == 200 and following.json()["value"]
    assert following.json()["value"] != public.json()["value"]
