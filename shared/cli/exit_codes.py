"""The exit-code model of every command (docs/EXIT_CODES.md), computed in one place,
:func:`exit_code`; when several apply the highest-precedence one wins, 2 > 3 > 1 > 0."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from shared.kernel.errors import PhiguardError

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141


class UsageError(PhiguardError):
    """Bad usage or bad input; printed without a traceback, exit code 2."""


class IncompleteError(PhiguardError):
    """The command could not do its work: a service unreachable, a subscription unknown; exit 3."""


@dataclass
class Outcome:
    """What a command found, for :func:`exit_code`.

    ``failing`` counts FAIL findings (exit 1). ``unjudged`` counts findings of checks that could
    not judge, ERROR and NOT_ASSESSED (exit 3). ``incomplete`` says why the run itself is
    incomplete (exit 3, always). ``exit_zero`` (``evaluate --exit-zero``) lets the findings never
    set the code, the run's own problems still do. ``code`` is a code a command decided itself
    (``sim serve``).
    """

    failing: int = 0
    unjudged: dict[str, int] = field(default_factory=dict)
    incomplete: list[str] = field(default_factory=list)
    exit_zero: bool = False
    code: int | None = None

    @classmethod
    def of_statuses(cls, statuses: Iterable[str], **kwargs: Any) -> Outcome:
        from shared.kernel.findings import Status

        outcome = cls(**kwargs)
        for status in statuses:
            if status == Status.FAIL:
                outcome.failing += 1
            elif status in (Status.ERROR, Status.NOT_ASSESSED):
                outcome.unjudged[str(status)] = outcome.unjudged.get(str(status), 0) + 1
        return outcome


def exit_code(outcome: Outcome | None = None, error: BaseException | None = None) -> int:
    """The exit code of every command: from the exception that ended it, else its outcome.
    Precedence 2 > 3 > 1 > 0."""
    if error is not None:
        from shared.loader import InputError

        if isinstance(error, UsageError | InputError):
            return EXIT_USAGE
        if isinstance(error, KeyboardInterrupt):
            return EXIT_INTERRUPTED
        if isinstance(error, BrokenPipeError):
            return EXIT_BROKEN_PIPE
        return EXIT_INCOMPLETE
    if outcome is None:
        return EXIT_OK
    if outcome.code is not None:
        return outcome.code
    if outcome.incomplete:
        return EXIT_INCOMPLETE
    if outcome.exit_zero:
        return EXIT_OK
    if outcome.unjudged:
        return EXIT_INCOMPLETE
    return EXIT_FAIL if outcome.failing else EXIT_OK
