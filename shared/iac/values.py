"""What an IaC value is when it cannot be known before deployment, and how a check's reads of
such a value are noticed.

A template value that needs the deployment (a parameter without a default or value, a
``reference()``, a runtime property such as ``identity.properties.principalId``) becomes an
:class:`Unresolved`. Declared resources are handed to the checks inside :class:`TrackedDict` /
:class:`TrackedList`, which note every Unresolved a check reads; a verdict that read one is
replaced by NOT_ASSESSED naming the paths (:func:`tracked_catalog`), never PASS or FAIL.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from checks import Check
from shared.kernel.findings import Result, not_assessed
from shared.kernel.snapshot import Snapshot


class Unresolved(str):
    """A value the template leaves to deployment time. A ``str`` so that evidence holding it
    still serializes; its text says what it stands for."""

    __slots__ = ("why",)
    why: str

    def __new__(cls, why: str) -> Unresolved:
        text = super().__new__(cls, f"<unresolved: {why}>")
        text.why = why
        return text


def is_unresolved(value: Any) -> bool:
    return isinstance(value, Unresolved)


_READS: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "phiguard_iac_unresolved_reads", default=None
)


def _noted(path: str, value: Any) -> Any:
    if isinstance(value, Unresolved):
        reads = _READS.get()
        if reads is not None:
            reads.append(f"{path} ({value.why})")
    return value


class TrackedDict(dict[str, Any]):
    """A resource object whose reads of unresolved values are noted."""

    def __init__(self, items: Mapping[str, Any], path: str) -> None:
        super().__init__({k: track(v, f"{path}.{k}") for k, v in items.items()})
        self._path = path

    def __getitem__(self, key: str) -> Any:
        return _noted(f"{self._path}.{key}", super().__getitem__(key))

    def get(self, key: str, default: Any = None) -> Any:
        if key in self:
            return self[key]
        return default

    def items(self) -> Iterator[tuple[str, Any]]:  # type: ignore[override]
        return ((k, self[k]) for k in self.keys())

    def values(self) -> Iterator[Any]:  # type: ignore[override]
        return (self[k] for k in self.keys())


class TrackedList(list[Any]):
    """A resource array whose reads of unresolved items are noted."""

    def __init__(self, items: list[Any], path: str) -> None:
        super().__init__(track(v, f"{path}[{i}]") for i, v in enumerate(items))
        self._path = path

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return _noted(f"{self._path}[{index}]", super().__getitem__(index))

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(len(self)))


def track(value: Any, path: str = "$") -> Any:
    if isinstance(value, Mapping):
        return TrackedDict(value, path)
    if isinstance(value, list):
        return TrackedList(value, path)
    return value


def contains_unresolved(value: Any) -> bool:
    if isinstance(value, Unresolved):
        return True
    if isinstance(value, Mapping):
        return any(contains_unresolved(v) for v in dict.values(dict(value)))
    if isinstance(value, list):
        return any(contains_unresolved(v) for v in list.__iter__(value))
    return False


def tracked_snapshot(snapshot: Snapshot) -> Snapshot:
    """The same snapshot with its resource and related documents noting unresolved reads."""
    return Snapshot(
        track(dict(snapshot.resource)),
        {k: track(v, f"related.{k}") for k, v in snapshot.related.items()},
        snapshot.resource_group,
        snapshot.phi,
    )


def _judge_or_not_assess(check: Check) -> Callable[[Snapshot], Result]:
    func = check.func

    def run(snapshot: Snapshot) -> Result:
        reads: list[str] = []
        token = _READS.set(reads)
        try:
            try:
                result = func(snapshot)
            except Exception:
                if not reads:
                    raise
                result = None
        finally:
            _READS.reset(token)
        if reads:
            unique = list(dict.fromkeys(reads))
            return not_assessed(
                "Not assessed: the template leaves a value this check reads to deployment "
                f"time: {'; '.join(unique[:5])}.",
                {"unresolved": unique},
            )
        assert result is not None
        return result

    run.__doc__ = func.__doc__
    return run


def tracked_catalog(catalog: Mapping[str, Check]) -> dict[str, Check]:
    """The catalog with every check judging as before, except that a check which read an
    unresolved template value reports NOT_ASSESSED (the same checks: ids, metadata, order)."""
    return {cid: replace(c, func=_judge_or_not_assess(c)) for cid, c in catalog.items()}
