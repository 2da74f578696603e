"""``phiguard sim serve``: run the simulated tenant until SIGINT/SIGTERM.

Prints one JSON line when ready::

    {"arm_url": "https://127.0.0.1:PORT", "ca_cert": "/tmp/.../ca.pem",
     "admin_url": "https://127.0.0.1:PORT/_admin", "subscriptions": ["..."]}

and ``"proxy_url": "http://127.0.0.1:PORT"`` with ``--proxy-port`` (:mod:`sim.proxy`: unmodified
Azure clients reach this tenant by Azure's public host names through it).

``python -m sim.cli serve ...`` works without the ``phiguard`` entry point. The notification
stand-ins (GitHub, Azure DevOps, Teams, ACS Email) answer on the same server: their URLs and
secrets are in ``GET /_admin/info`` under ``services`` (and on ``SimHandle``).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from sim.faults import FaultSpec, FaultSpecError
from sim.server import SimConfig, SimServer


def port(text: str) -> int:
    """A TCP port for argparse: 0 (any free one) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r:.40} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (0-65535)")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``sim serve`` options (the caller owns the sub-command structure)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=port, default=0, help="port (default 0: any free port)")
    parser.add_argument(
        "--estate",
        default="demo",
        help='"demo" (default), "empty", a JSON estate file, N resources or "N:M" '
        "(N resources, M role assignments)",
    )
    parser.add_argument(
        "--events-to",
        action="append",
        default=[],
        metavar="URL|FILE",
        help="webhook URL or NDJSON file for events (repeatable); prefix with cloudevents: for "
        "CloudEvents 1.0 (default: Event Grid schema)",
    )
    parser.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help='e.g. "latency=20ms,error5xx=0.02,reset=0.01,dup=0.1,reorder=0.2,throttle=on"',
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for estates and faults")
    parser.add_argument("--page-size", type=int, default=100, help="list page size (nextLink)")
    parser.add_argument(
        "--lro-retry-after",
        type=float,
        default=1.0,
        help="Retry-After seconds on long-running operations (default 1)",
    )
    parser.add_argument(
        "--lro-duration",
        type=float,
        default=0.0,
        help="seconds a long-running operation stays InProgress (default 0)",
    )
    parser.add_argument(
        "--retry-compression",
        type=float,
        default=1000.0,
        help="divide Event Grid's retry schedule by this factor (default 1000)",
    )
    parser.add_argument(
        "--max-events-per-batch", type=int, default=1, help="events per webhook delivery"
    )
    parser.add_argument("--workdir", default=None, help="directory for ca.pem (default: temp)")
    parser.add_argument(
        "--proxy-port",
        type=port,
        default=None,
        metavar="PORT",
        help="also run an HTTPS (CONNECT) proxy on 127.0.0.1:PORT (0: any free port) that sends "
        "management.azure.com, graph.microsoft.com, login.microsoftonline.com and "
        "*.vault.azure.net to this tenant and refuses every other host; printed as proxy_url",
    )
    parser.add_argument(
        "--email-retry-after",
        type=float,
        default=0.0,
        help="ACS Email's retry-after on a send and a Running poll (default 0: not sent)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        FaultSpec.parse(args.faults)
    except FaultSpecError as exc:
        print(f"phiguard sim serve: --faults: {exc}", file=sys.stderr)
        return 2
    config = SimConfig(
        host=args.host,
        port=args.port,
        estate=args.estate,
        events_to=list(args.events_to),
        faults=args.faults,
        seed=args.seed,
        page_size=args.page_size,
        lro_retry_after=args.lro_retry_after,
        lro_duration=args.lro_duration,
        retry_compression=args.retry_compression,
        max_events_per_batch=args.max_events_per_batch,
        workdir=args.workdir,
        email_retry_after=args.email_retry_after,
        proxy_port=getattr(args, "proxy_port", None),
    )
    try:
        server = SimServer(config).start()
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"phiguard sim serve: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(json.dumps(server.ready_info()), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the simulated tenant")
    add_arguments(serve)
    args = parser.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
