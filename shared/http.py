"""The HTTP transport every azure-core client of phiguard uses (ARM reads and writes, Tables).

``requests`` reads its environment on every request of a session that trusts it: the proxy
variables (walking all of ``os.environ`` to decide on ``no_proxy``), ``~/.netrc`` (a stat per
request) and the CA bundle variables. On the event path that was about a fifth of the CPU the
pipeline spent in HTTP (py-spy over ``python -m bench.replay``). So the environment is read once,
here: without proxy variables the session stops trusting it, and the CA bundle variable, if any,
becomes the transport's default verification. With a proxy variable set the session keeps
``requests``' own per-request handling, so ``no_proxy`` and friends behave exactly as documented.
``~/.netrc`` is never wanted: its Basic credentials must not reach ARM or Storage.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.core.pipeline.transport import RequestsTransport

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def proxies_configured(environ: os._Environ[str] | dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return any(env.get(name) or env.get(name.upper()) for name in PROXY_VARIABLES)


def default_verify(
    ca_cert: str | None, environ: os._Environ[str] | dict[str, str] | None = None
) -> str | bool:
    """What TLS verification trusts: the configured CA file, else the bundle the environment
    names (what ``requests`` would use), else ``certifi``'s."""
    if ca_cert:
        return ca_cert
    env = os.environ if environ is None else environ
    for name in CA_BUNDLE_VARIABLES:
        if env.get(name):
            return env[name]
    return True


def transport(
    *,
    ca_cert: str | None = None,
    timeout_seconds: float = 20,
    pool_size: int = 10,
) -> RequestsTransport:
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from urllib3.util.retry import Retry

    use_env = proxies_configured()
    session = requests.Session()
    # azure-core configures only the sessions it creates itself: one handed to it keeps
    # ``requests``' defaults, so these are set here. Retries are azure-core's policies' job.
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
        connection_verify=(ca_cert or True) if use_env else default_verify(ca_cert),
        read_timeout=timeout_seconds,
        connection_timeout=min(timeout_seconds, 10),
    )


def tables_transport() -> RequestsTransport:
    """The transport of the Table Storage clients (state store and remediation log)."""
    return transport(timeout_seconds=30, pool_size=16)
