"""The development commands: ``phiguard demo`` and ``phiguard sim serve`` run the simulated
tenant, which is not shipped in the Functions package (``sim`` is imported lazily, here only)."""

from __future__ import annotations

import argparse

from shared.cli.exit_codes import EXIT_OK, Outcome
from shared.safe_text import console as make_console


def demo(args: argparse.Namespace) -> Outcome:
    from shared.demo import run_demo

    code = run_demo(make_console(), args)
    return Outcome() if code == EXIT_OK else Outcome(incomplete=["the demo did not complete"])


def sim_serve(args: argparse.Namespace) -> Outcome:
    from sim.cli import run

    return Outcome(code=int(run(args)))


def add_sim_arguments(serve: argparse.ArgumentParser) -> None:
    """The flags of ``sim serve``, when the simulated tenant is installed."""
    try:
        from sim.options import add_arguments
    except ImportError:  # the simulated tenant is not shipped in the Functions package
        return
    add_arguments(serve)
