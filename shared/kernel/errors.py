"""The pure part of phiguard's error taxonomy (``shared.errors`` holds the rest).

Every error phiguard raises on purpose derives from :class:`PhiguardError`; one that retrying
later will likely fix (throttling, a service briefly unreachable, a lost optimistic-concurrency
race) also from :class:`TransientError`. What to do about a failure is decided from that alone:
``shared.errors.is_transient`` says "transient" for these and for azure-core's own transient
errors, and a transient failure is redelivered (an event) or left for the next run (the sweep),
never recorded as the resource's ERROR.

An error class keeps its builtin base too (``class X(PhiguardError, ValueError)``), so code that
catches ``ValueError`` or ``LookupError`` behaves as before.
"""

from __future__ import annotations


class PhiguardError(Exception):
    """An error phiguard raises on purpose, as opposed to a bug or a library's own error."""


class TransientError(PhiguardError):
    """Retrying later will likely succeed: redeliver the event, leave it to the next sweep.
    ``retry_after``: the seconds the service asked to wait, when it said (``Retry-After``)."""

    def __init__(self, *args: object, retry_after: float | None = None) -> None:
        super().__init__(*args)
        self.retry_after = retry_after
