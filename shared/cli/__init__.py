"""``phiguard``: the command line. It drives the same engine as the Functions triggers.

Exit codes (docs/EXIT_CODES.md), the same for every command and computed in one place,
:func:`exit_code`; when several apply the highest-precedence one wins, 2 > 3 > 1 > 0:

* 0 — nothing failing, and everything in scope was judged;
* 1 — at least one check FAILs;
* 2 — usage or input error: the message names the file and JSON path, or the flag / setting;
* 3 — incomplete: a check could not judge (ERROR, NOT_ASSESSED), resources could not be read,
  no resources were found, a subscription is unknown, the state store or ARM is unreachable,
  or phiguard itself failed unexpectedly (one line on stderr, never a traceback);
* 130 — interrupted (Ctrl-C); 141 — stdout closed early (``phiguard ... | head``).

Everything printed for people is terminal-safe (``shared.safe_text``): names, tags, reasons and
evidence from Azure are shown as data, never interpreted as Rich markup or terminal escapes.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from rich.text import Text

from shared.cli.exit_codes import (
    EXIT_BROKEN_PIPE,
    EXIT_FAIL,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    IncompleteError,
    Outcome,
    UsageError,
    exit_code,
)
from shared.cli.parser import build_parser
from shared.safe_text import console as make_console
from shared.safe_text import one_line

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAIL",
    "EXIT_INCOMPLETE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "IncompleteError",
    "Outcome",
    "UsageError",
    "build_parser",
    "exit_code",
    "main",
]


class _InertStderrHandler(logging.Handler):
    """Warnings of phiguard and the SDKs during a command: one inert line each on the current
    ``sys.stderr`` (Python's last-resort handler would print resource names raw)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = one_line(record.getMessage(), limit=500)
            sys.stderr.write(f"phiguard: {record.levelname.lower()}: {message}\n")
        except Exception:  # logging must never break the command
            self.handleError(record)


@contextlib.contextmanager
def _inert_warnings(enabled: bool) -> Iterator[None]:
    """For the length of a command, warnings go to stderr inert (see _InertStderrHandler)."""
    root = logging.getLogger()
    if not enabled or any(isinstance(h, _InertStderrHandler) for h in root.handlers):
        yield
        return
    handler = _InertStderrHandler(logging.WARNING)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def _report(outcome: Outcome, err: Console) -> None:
    """The reasons behind an exit code 3, on stderr (stdout may be JSON or CSV)."""
    for reason in outcome.incomplete:
        err.print(
            Text.assemble(("phiguard: incomplete:", "bold yellow"), " ", one_line(reason, 2000)),
            soft_wrap=True,
        )
    if outcome.unjudged and not outcome.exit_zero and not outcome.incomplete:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(outcome.unjudged.items()))
        err.print(
            Text.assemble(
                ("phiguard: incomplete:", "bold yellow"),
                f" {counts}: some checks could not judge, so this is no all-clear",
            ),
            soft_wrap=True,
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    err = make_console(stderr=True)
    try:
        # ``sim serve`` configures its own logging.
        with _inert_warnings(args.command != "sim"):
            outcome: Outcome = args.handler(args)
    except KeyboardInterrupt as exc:
        return exit_code(error=exc)
    except BrokenPipeError as exc:
        _silence_stdout()
        return exit_code(error=exc)
    except (UsageError, IncompleteError) as exc:
        err.print(
            Text.assemble(("phiguard: error:", "bold red"), " ", one_line(exc, 2000)),
            soft_wrap=True,
        )
        return exit_code(error=exc)
    except Exception as exc:
        from shared.loader import InputError

        if isinstance(exc, InputError):
            line = one_line(exc, 2000)
        else:
            line = f"{one_line(exc, 500) or 'unexpected failure'} ({type(exc).__name__})"
        err.print(Text.assemble(("phiguard: error:", "bold red"), " ", line), soft_wrap=True)
        return exit_code(error=exc)
    try:
        _report(outcome, err)
    except BrokenPipeError as exc:
        return exit_code(error=exc)
    return exit_code(outcome)


def _silence_stdout() -> None:
    """After stdout's reader went away: no second BrokenPipeError when Python flushes it."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
