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
from sim.options import add_arguments
from sim.server import SimConfig, SimServer


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
