"""Start a simulated tenant for tests, the demo and benchmarks.

``running_sim(...)`` runs the server in a background thread of this process; ``spawned_sim(...)``
runs ``phiguard sim serve`` (``python -m sim.cli serve``) as a subprocess and reads its ready
line. Both yield a :class:`SimHandle` with what a client needs: ``arm_url``, ``ca_cert``,
``admin_url``, ``subscriptions``, a credential and the admin calls, and for the notification
stand-ins their URLs and secrets (``github_url``, ``github_token``, ``devops_url``,
``devops_pat``, ``teams_webhook_url``, ``acs_endpoint``, ``acs_connection_string``) and
``received(service)``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from sim.channels import service_urls
from sim.credentials import StaticTokenCredential
from sim.proxy import client_env
from sim.server import SimConfig, SimServer

RECEIVED_ROUTES = {
    "github": "github/issues",
    "devops": "devops/workitems",
    "teams": "teams/messages",
    "email": "email/messages",
}


@dataclass
class SimHandle:
    arm_url: str
    ca_cert: str
    admin_url: str
    subscriptions: list[str]
    server: SimServer | None = None  # in-process only
    process: subprocess.Popen[str] | None = None  # subprocess only
    credential: StaticTokenCredential = field(default_factory=StaticTokenCredential)
    ready: dict[str, Any] = field(default_factory=dict)  # the ready line, as printed
    proxy_url: str | None = None  # sim.proxy for Azure's public names, when started with one
    _session: requests.Session = field(default_factory=requests.Session, repr=False)

    @property
    def subscription_id(self) -> str:
        return self.subscriptions[0]

    # --- the notification stand-ins (same server, same CA) ---------------------------------

    @property
    def github_url(self) -> str:
        """GitHub's REST API base URL (``{github_url}/repos/{o}/{r}/issues``)."""
        return service_urls(self.arm_url)["github_url"]

    @property
    def github_token(self) -> str:
        return service_urls(self.arm_url)["github_token"]

    @property
    def devops_url(self) -> str:
        """Where organizations live (``{devops_url}/{org}``, as ``https://dev.azure.com``)."""
        return service_urls(self.arm_url)["devops_url"]

    @property
    def devops_pat(self) -> str:
        return service_urls(self.arm_url)["devops_pat"]

    @property
    def teams_webhook_url(self) -> str:
        """A Workflows webhook URL (its ``sig`` included)."""
        return service_urls(self.arm_url)["teams_webhook_url"]

    @property
    def acs_endpoint(self) -> str:
        return service_urls(self.arm_url)["acs_endpoint"]

    @property
    def acs_connection_string(self) -> str:
        """For ``EmailClient.from_connection_string(..., connection_verify=ca_cert)``."""
        return service_urls(self.arm_url)["acs_connection_string"]

    @property
    def graph_url(self) -> str:
        """Microsoft Graph's base (``{graph_url}/v1.0/users``, as ``https://graph.microsoft.com``)."""
        return self.arm_url + "/graph"

    def grant_graph(self, *permissions: str) -> Any:
        """What phiguard's token may read in Graph (403 for the rest)."""
        return self.admin("POST", "graph/permissions", {"granted": list(permissions)})

    def received(self, service: str) -> Any:
        """What ``github``, ``devops``, ``teams`` or ``email`` received (with ``counters``)."""
        return self.admin("GET", RECEIVED_ROUTES[service])

    def reset_received(self, service: str) -> Any:
        return self.admin("POST", f"{service}/reset")

    def client_env(self) -> dict[str, str]:
        """Environment for an unmodified Azure client (a peer tool): Azure's public names through
        the proxy, this tenant's CA, the managed-identity endpoint (see :mod:`sim.proxy`)."""
        if self.proxy_url is None:
            raise RuntimeError("this simulated tenant was started without a proxy (proxy_port)")
        return client_env(self.proxy_url, self.arm_url, self.ca_cert)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for any azure-mgmt client: base_url and connection_verify."""
        return {"base_url": self.arm_url, "connection_verify": self.ca_cert}

    def settings_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for phiguard's ``Settings``: this tenant's ARM, CA and subscriptions."""
        return {
            "arm_url": self.arm_url,
            "ca_cert": self.ca_cert,
            "subscriptions": tuple(self.subscriptions),
        }

    def admin(self, method: str, route: str, body: Any = None, **params: str) -> Any:
        resp = self._session.request(
            method,
            f"{self.admin_url}/{route.lstrip('/')}",
            json=body,
            params=params or None,
            verify=self.ca_cert,
            timeout=60,
        )
        if resp.status_code >= 400:
            raise RuntimeError(f"admin {method} {route}: {resp.status_code} {resp.text}")
        return resp.json()

    def reset(self, estate: Any = None, seed: int | None = None) -> Any:
        body: dict[str, Any] = {}
        if estate is not None:
            body["estate"] = estate
        if seed is not None:
            body["seed"] = seed
        return self.admin("POST", "reset", body)

    def load(self, documents: list[dict[str, Any]], subscriptions: list[Any] | None = None) -> Any:
        return self.admin(
            "POST", "load", {"documents": documents, "subscriptions": subscriptions or []}
        )

    def change_as_user(
        self,
        method: str,
        resource_id: str,
        body: Any = None,
        api_version: str | None = None,
        user: Any = None,
    ) -> Any:
        return self.admin(
            "POST",
            "change",
            {
                "method": method,
                "id": resource_id,
                "body": body,
                "api_version": api_version,
                "user": user,
            },
        )

    def counters(self) -> Any:
        return self.admin("GET", "counters")

    def reset_counters(self) -> Any:
        return self.admin("POST", "counters/reset")

    def ground_truth(self) -> Any:
        return self.admin("GET", "ground-truth")

    def set_faults(self, spec: str) -> Any:
        return self.admin("POST", "faults", {"spec": spec})

    def add_event_subscription(self, destination: str, schema: str = "eventgrid") -> Any:
        return self.admin(
            "POST", "events/subscriptions", {"destination": destination, "schema": schema}
        )

    def clear_event_subscriptions(self) -> Any:
        return self.admin("DELETE", "events/subscriptions")

    def wait_for_events(self, timeout: float = 10.0) -> Any:
        return self.admin("POST", "events/wait", {"timeout": timeout})

    def close(self) -> None:
        self._session.close()


def _as_list(events_to: str | Sequence[str] | None) -> list[str]:
    if events_to is None:
        return []
    if isinstance(events_to, str):
        return [events_to]
    return list(events_to)


@contextlib.contextmanager
def running_sim(
    estate: Any = "demo",
    events_to: str | Sequence[str] | None = None,
    faults: str | None = None,
    seed: int = 0,
    **options: Any,
) -> Iterator[SimHandle]:
    """A simulated tenant in a background thread of this process.

    ``estate``: an Estate, "demo", "empty", a JSON file, N / "N:M", or an estate dict.
    ``options``: any other :class:`sim.server.SimConfig` field (``page_size``, ``lro_duration``,
    ``lro_retry_after``, ``retry_compression``, ``max_events_per_batch``, ...).
    """
    config = SimConfig(
        estate=estate, events_to=_as_list(events_to), faults=faults or "", seed=seed, **options
    )
    server = SimServer(config).start()
    handle = SimHandle(
        arm_url=server.arm_url,
        ca_cert=server.ca_cert,
        admin_url=server.admin_url,
        subscriptions=server.subscriptions,
        server=server,
        ready=server.ready_info(),
        proxy_url=server.proxy_url,
    )
    try:
        yield handle
    finally:
        handle.close()
        server.stop()


def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        lines.put(proc.stdout.readline())

    threading.Thread(target=read, daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return ""


@contextlib.contextmanager
def spawned_sim(
    estate: str = "demo",
    events_to: str | Sequence[str] | None = None,
    faults: str | None = None,
    seed: int = 0,
    extra_args: Sequence[str] = (),
    timeout: float = 60.0,
) -> Iterator[SimHandle]:
    """``python -m sim.cli serve`` as a subprocess; stopped with SIGTERM on exit."""
    args = [sys.executable, "-m", "sim.cli", "serve", "--estate", estate, "--seed", str(seed)]
    for destination in _as_list(events_to):
        args += ["--events-to", destination]
    if faults:
        args += ["--faults", faults]
    args += list(extra_args)
    repo = Path(__file__).resolve().parent.parent
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=repo, env=env
    )
    try:
        line = _first_line(proc, timeout)
        if not line:
            if proc.poll() is None:
                raise RuntimeError(f"sim serve printed nothing within {timeout} s")
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"sim serve exited with {proc.returncode}: {err}")
        info = json.loads(line)
        handle = SimHandle(
            arm_url=info["arm_url"],
            ca_cert=info["ca_cert"],
            admin_url=info["admin_url"],
            subscriptions=list(info["subscriptions"]),
            process=proc,
            ready=info,
            proxy_url=info.get("proxy_url"),
        )
        try:
            yield handle
        finally:
            handle.close()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
