"""The options of ``phiguard sim serve``, kept apart from the server so that building the
``phiguard`` command line does not import the simulated tenant (an eighth of a second of every
command's start)."""

from __future__ import annotations

import argparse


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
