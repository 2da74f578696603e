"""The sweep's follow-up batch on its own: when it writes, in what order the steps run, and what
a failure costs (only the resource it belongs to)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from shared.follow_up_batch import DeferredFollowUp, FollowUpBatch


class Log:
    """``insert_many`` as the batch sees it: the records back, stored (here: tagged)."""

    def __init__(self, refuse: str | None = None) -> None:
        self.calls: list[list[Any]] = []
        self.refuse = refuse

    def insert_many(self, records: Sequence[Any]) -> list[Any]:
        self.calls.append(list(records))
        if self.refuse is not None and any(r.startswith(self.refuse) for r in records):
            raise ValueError("refused")
        return [f"{r}:stored" for r in records]


def _item(name: str, count: int, seen: list[tuple[str, list[Any]]]) -> DeferredFollowUp:
    item = DeferredFollowUp(name, records=[f"{name}-{i}" for i in range(count)])  # type: ignore[misc]
    item.then(lambda stored: seen.append((name, stored)))
    item.failed = lambda: seen.append((name, ["failed"]))
    return item


def test_records_wait_until_a_transaction_is_full() -> None:
    log, seen = Log(), []  # type: ignore[var-annotated]
    batch = FollowUpBatch(log.insert_many, size=5, max_age=1e9)
    batch.add(_item("a", 2, seen))
    batch.add(_item("b", 2, seen))
    assert log.calls == [] and seen == []
    batch.add(_item("c", 1, seen))
    assert log.calls == [["a-0", "a-1", "b-0", "b-1", "c-0"]]
    assert seen == [
        ("a", ["a-0:stored", "a-1:stored"]),
        ("b", ["b-0:stored", "b-1:stored"]),
        ("c", ["c-0:stored"]),
    ]


def test_records_that_waited_long_enough_are_written_on_the_next_look() -> None:
    now = [0.0]
    log, seen = Log(), []  # type: ignore[var-annotated]
    batch = FollowUpBatch(log.insert_many, size=100, max_age=5, clock=lambda: now[0])
    batch.add(_item("a", 1, seen))
    now[0] = 4.9
    batch.flush_if_due()
    assert log.calls == []
    now[0] = 5.0
    batch.flush_if_due()
    assert seen == [("a", ["a-0:stored"])]
    batch.flush()  # nothing waits: no request
    assert len(log.calls) == 1


def test_a_refused_transaction_is_retried_resource_by_resource() -> None:
    log, seen = Log(refuse="bad"), []  # type: ignore[var-annotated]
    batch = FollowUpBatch(log.insert_many, size=100)
    for name in ("a", "bad", "c"):
        batch.add(_item(name, 2, seen))
    batch.flush()
    assert seen == [
        ("a", ["a-0:stored", "a-1:stored"]),
        ("bad", ["failed"]),
        ("c", ["c-0:stored", "c-1:stored"]),
    ]
    assert len(log.calls) == 4  # all together, then one each


def test_a_step_that_raises_fails_its_own_resource_only(caplog: pytest.LogCaptureFixture) -> None:
    log, seen = Log(), []  # type: ignore[var-annotated]
    batch = FollowUpBatch(log.insert_many, size=100)
    broken = _item("broken", 1, seen)

    def boom(stored: list[Any]) -> None:
        raise RuntimeError("secret detail")

    broken.steps.insert(0, boom)
    batch.add(_item("a", 1, seen))
    batch.add(broken)
    batch.add(_item("c", 1, seen))
    batch.flush()
    assert seen == [("a", ["a-0:stored"]), ("broken", ["failed"]), ("c", ["c-0:stored"])]
    assert "broken" in caplog.text and "RuntimeError" in caplog.text
    assert "secret detail" not in caplog.text  # by type only
