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
    item.failed = lambda exc: seen.append((name, [f"failed: {type(exc).__name__}"]))
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
        ("bad", ["failed: ValueError"]),
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
    assert seen == [
        ("a", ["a-0:stored"]),
        ("broken", ["failed: RuntimeError"]),
        ("c", ["c-0:stored"]),
    ]
    assert "broken" in caplog.text and "RuntimeError" in caplog.text
    assert "secret detail" not in caplog.text  # by type only


def test_a_store_that_is_down_is_not_asked_again_for_every_resource() -> None:
    from azure.core.exceptions import ServiceRequestError

    calls: list[list[Any]] = []

    def unreachable(records: Sequence[Any]) -> list[Any]:
        calls.append(list(records))
        raise ServiceRequestError("connection refused")

    seen: list[tuple[str, list[Any]]] = []
    batch = FollowUpBatch(unreachable, size=100)
    for name in ("a", "b", "c"):
        batch.add(_item(name, 1, seen))
    batch.flush()
    assert len(calls) == 1  # no attempt per resource: each would pay the client's retries
    assert seen == [(name, ["failed: ServiceRequestError"]) for name in ("a", "b", "c")]


def test_one_by_one_stops_at_the_first_transient_failure() -> None:
    from azure.core.exceptions import HttpResponseError

    calls: list[list[Any]] = []

    def flaky(records: Sequence[Any]) -> list[Any]:
        calls.append(list(records))
        if len(calls) == 1:
            raise ValueError("one record the service refuses")
        if any(r.startswith("b") for r in records):
            error = HttpResponseError("server busy")
            error.status_code = 503
            raise error
        return [f"{r}:stored" for r in records]

    seen: list[tuple[str, list[Any]]] = []
    batch = FollowUpBatch(flaky, size=100)
    for name in ("a", "b", "c"):
        batch.add(_item(name, 1, seen))
    batch.flush()
    assert [len(c) for c in calls] == [3, 1, 1]  # together, a, b (503): c is not tried
    # c is left with b's transient failure: it waits for the next sweep, like b
    assert seen == [
        ("a", ["a-0:stored"]),
        ("b", ["failed: HttpResponseError"]),
        ("c", ["failed: HttpResponseError"]),
    ]


def test_a_worker_finding_a_write_under_way_goes_on_and_the_final_flush_takes_the_rest() -> None:
    import threading

    release = threading.Event()
    log: list[list[Any]] = []

    def slow(records: Sequence[Any]) -> list[Any]:
        log.append(list(records))
        release.wait(5)
        return [f"{r}:stored" for r in records]

    seen: list[tuple[str, list[Any]]] = []
    batch = FollowUpBatch(slow, size=1)
    writer = threading.Thread(target=batch.add, args=(_item("a", 1, seen),))
    writer.start()
    while not log:
        threading.Event().wait(0.01)
    batch.add(_item("b", 1, seen))  # due, but a write is under way: returns at once
    assert seen == []
    release.set()
    writer.join()
    batch.flush()
    assert seen == [("a", ["a-0:stored"]), ("b", ["b-0:stored"])]
