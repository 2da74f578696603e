"""Simulated tenant throughput: ARM GETs per second through HTTPS keep-alive connections.

Starts ``phiguard sim serve`` as a subprocess (so the server does not share this process's GIL
with the clients), then runs several client threads for a few seconds each way:

- ``raw``: ``http.client`` on one keep-alive TLS connection per thread (the server's figure: the
  other clients spend more CPU per request than the server does);
- ``requests``: one ``requests.Session`` per thread (keep-alive, the CA verified), GET by id;
- ``sdk``: ``NetworkManagementClient.network_security_groups.get`` (the azure-core pipeline with
  its retry, auth and logging policies), one client per thread.

Prints GETs/s and the mean latency per request for each, so later benchmarks know the sim is not
their bottleneck.

    python -m bench.sim_throughput [--threads 4] [--seconds 5] [--estate demo] [--client all]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests

from sim.fixture import SimHandle, spawned_sim


def _nsg_ids(sim: SimHandle) -> list[str]:
    out: list[str] = []
    for sub in sim.subscriptions:
        resp = requests.get(
            f"{sim.arm_url}/subscriptions/{sub}/providers/Microsoft.Network/networkSecurityGroups"
            "?api-version=2024-05-01",
            headers={"Authorization": "Bearer bench"},
            verify=sim.ca_cert,
            timeout=30,
        )
        out += [str(d["id"]) for d in resp.json()["value"]]
    if not out:
        raise SystemExit("the estate has no network security groups to read")
    return out


def _run(
    threads: int, seconds: float, make_worker: Callable[[int], Callable[[], None]]
) -> tuple[int, float]:
    """Runs ``threads`` workers for ``seconds``; returns (requests done, elapsed seconds)."""
    counts = [0] * threads
    errors: list[BaseException] = []
    stop = threading.Event()
    start = threading.Barrier(threads + 1)

    def loop(i: int) -> None:
        try:
            call = make_worker(i)
            call()  # warm up: connection and TLS handshake outside the timed window
            start.wait()
            while not stop.is_set():
                call()
                counts[i] += 1
        except threading.BrokenBarrierError:
            return
        except BaseException as exc:  # surfaced below
            errors.append(exc)
            start.abort()

    workers = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    try:
        start.wait()
    except threading.BrokenBarrierError:
        for w in workers:
            w.join()
        raise errors[0] if errors else RuntimeError("a client thread failed") from None
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return sum(counts), elapsed


def _requests_worker(sim: SimHandle, ids: list[str]) -> Callable[[int], Callable[[], None]]:
    def make(i: int) -> Callable[[], None]:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer bench-{i}"
        urls = [f"{sim.arm_url}{quote(r, safe='/')}?api-version=2024-05-01" for r in ids]
        n = [i]

        def call() -> None:
            n[0] += 1
            # verify per call: REQUESTS_CA_BUNDLE would override a session-level setting
            resp = session.get(urls[n[0] % len(urls)], timeout=30, verify=sim.ca_cert)
            if resp.status_code != 200:
                raise RuntimeError(f"GET answered {resp.status_code}: {resp.text[:200]}")

        return call

    return make


def _raw_worker(sim: SimHandle, ids: list[str]) -> Callable[[int], Callable[[], None]]:
    """``http.client`` on one keep-alive TLS connection: the lightest client, so the figure
    is the server's, not the client library's."""
    import http.client
    import ssl
    from urllib.parse import urlsplit

    split = urlsplit(sim.arm_url)
    context = ssl.create_default_context(cafile=sim.ca_cert)
    paths = [f"{quote(r, safe='/')}?api-version=2024-05-01" for r in ids]

    def make(i: int) -> Callable[[], None]:
        conn = http.client.HTTPSConnection(split.hostname or "", split.port, context=context)
        headers = {"Authorization": f"Bearer bench-{i}"}
        n = [i]

        def call() -> None:
            n[0] += 1
            conn.request("GET", paths[n[0] % len(paths)], headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"GET answered {resp.status}: {body[:200]!r}")

        return call

    return make


def _sdk_worker(sim: SimHandle, ids: list[str]) -> Callable[[int], Callable[[], None]]:
    from azure.mgmt.network import NetworkManagementClient

    targets = [(r.split("/")[2], r.split("/")[4], r.split("/")[-1]) for r in ids]

    def make(i: int) -> Callable[[], None]:
        clients: dict[str, Any] = {}
        n = [i]

        def call() -> None:
            n[0] += 1
            sub, rg, name = targets[n[0] % len(targets)]
            client = clients.get(sub)
            if client is None:
                client = NetworkManagementClient(sim.credential, sub, **sim.client_kwargs())
                clients[sub] = client
            client.network_security_groups.get(rg, name)

        return call

    return make


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--estate", default="demo")
    parser.add_argument("--client", choices=("raw", "requests", "sdk", "all"), default="all")
    args = parser.parse_args(argv)

    with spawned_sim(estate=args.estate) as sim:
        ids = _nsg_ids(sim)
        cores = os.cpu_count() or 1
        print(
            f"sim throughput: {args.threads} client threads x {args.seconds:g} s, "
            f"{len(ids)} NSGs, {cores} cores (server in its own process)"
        )
        kinds = ("raw", "requests", "sdk") if args.client == "all" else (args.client,)
        makers = {"raw": _raw_worker, "requests": _requests_worker, "sdk": _sdk_worker}
        for kind in kinds:
            factory = makers[kind](sim, ids)
            done, elapsed = _run(args.threads, args.seconds, factory)
            rate = done / elapsed
            print(
                f"  {kind:<8} {rate:8.0f} GETs/s   {1000 * args.threads / rate:6.2f} ms mean "
                f"latency ({done} GETs)"
            )
        counters = sim.counters()
        print(
            f"  server counted {counters['total']} ARM requests, statuses {counters['by_status']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
