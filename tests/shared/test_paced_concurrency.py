"""The sweep's workers, once ARM's refill sets the pace: only as many work at once as keep up
with it (``shared.arm.throttle.PacedPool``). Real threads, real time, gates paced fast
(100 reads/s, released one token at a time) so a test takes a second."""

from __future__ import annotations

import itertools
import threading
import time

from shared.arm.throttle import PacedPool, ThrottleGates

SCOPE = "0b1f6471-1bf0-4dda-aec3-111122223333"


def _sweep(turns: PacedPool, gates: ThrottleGates, tasks: int, work_seconds: float) -> list[int]:
    """Runs ``tasks`` tasks of one read (its wait at the gate included) and ``work_seconds``
    of waiting on the reply through ``turns`` on 8 threads; returns how many were under way
    when each task began."""
    lock = threading.Lock()
    active = [0]
    seen: list[int] = []

    def task(i: int) -> None:
        with lock:
            active[0] += 1
            seen.append(active[0])
        gates.wait(SCOPE)
        time.sleep(work_seconds)
        with lock:
            active[0] -= 1

    with turns:
        for future in [turns.submit(task, i) for i in range(tasks)]:
            future.result()
    return seen


def _paced_gates() -> ThrottleGates:
    gates = ThrottleGates(pace=100.0, burst=1.0)
    gates.observe(SCOPE, 0)  # ARM says the bucket is spent
    return gates


def test_fast_replies_under_the_pace_need_one_worker() -> None:
    gates = _paced_gates()
    turns = PacedPool(gates, SCOPE, 8)
    seen = _sweep(turns, gates, 60, 0.001)
    # 100 reads/s x ~1 ms busy per read x 2 headroom: one worker keeps up
    assert turns.limit() == 1
    assert max(seen[30:]) == 1  # once measured, one at a time
    assert max(seen[:20]) > 1  # before it measured, all could work


def test_slow_replies_get_as_many_workers_as_the_pace_needs() -> None:
    gates = _paced_gates()
    turns = PacedPool(gates, SCOPE, 8)
    seen = _sweep(turns, gates, 100, 0.02)
    # 100 reads/s x ~20 ms per read x 2 headroom = 4 (5 if the VM stretches the sleeps)
    assert turns.limit() in (4, 5)
    assert max(seen[40:]) <= 5
    assert max(seen[40:]) >= 3  # still enough at once to keep up with the pace


def test_a_reader_under_its_limit_keeps_every_worker() -> None:
    gates = ThrottleGates(pace=100.0)  # ARM never said the bucket was spent
    turns = PacedPool(gates, SCOPE, 8)
    seen = _sweep(turns, gates, 40, 0.02)
    assert turns.limit() == 8
    assert max(seen) >= 6


def test_workers_come_back_when_the_pacing_lapses() -> None:
    gates = _paced_gates()
    turns = PacedPool(gates, SCOPE, 8, paced_seconds=0.3)
    _sweep(turns, gates, 30, 0.001)
    assert turns.limit() == 1
    time.sleep(0.4)  # no read waited for its token since
    assert turns.limit() == 8


def test_a_failing_task_gives_its_turn_back() -> None:
    gates = _paced_gates()
    turns = PacedPool(gates, SCOPE, 2, min_reads=1)

    def fails() -> None:
        gates.wait(SCOPE)
        raise ValueError("the resource could not be judged")

    with turns:
        futures = [turns.submit(fails) for _ in range(30)]
        errors = [f.exception() for f in futures]
    assert all(isinstance(e, ValueError) for e in errors)
    assert turns.limit() == 1  # the failed tasks' reads were measured too


def test_time_slept_at_the_gates_is_not_busy_time() -> None:
    gates = ThrottleGates(pace=10.0, burst=1.0)
    gates.observe(SCOPE, 0)
    before = gates.slept()
    slept = sum(gates.wait(SCOPE) for _ in range(3))
    assert slept > 0.2  # three tokens at 10/s
    assert gates.slept() - before == slept
    assert gates.thread_requests() == 3
    assert gates.paced_within(SCOPE, 5.0)


def test_another_threads_reads_are_not_this_ones() -> None:
    gates = ThrottleGates(pace=100.0)
    other = threading.Thread(target=lambda: [gates.wait(SCOPE) for _ in range(5)])
    other.start()
    other.join()
    assert gates.thread_requests() == 0
    gates.wait(SCOPE)
    assert gates.thread_requests() == 1


def test_waiting_tasks_get_their_turns_in_the_order_they_asked() -> None:
    """Tasks start in the order they were submitted: the sweep collects results in order, so a
    task passed over holds up every group's flush behind it (found by review of the first
    version, a turnstile in front of a thread pool: one ran 277 places late)."""
    gates = _paced_gates()
    turns = PacedPool(gates, SCOPE, 8)
    lock = threading.Lock()
    order: list[int] = []

    def task(i: int) -> None:
        with lock:
            order.append(i)
        gates.wait(SCOPE)
        time.sleep(0.02)

    with turns:
        for future in [turns.submit(task, i) for i in range(200)]:
            future.result()
    assert turns.limit() < 8
    late = max(order.index(i) - i for i in range(200))
    assert late <= 8, f"a task started {late} places after its turn"


def test_a_thread_that_finishes_takes_the_next_task_itself() -> None:
    gates = _paced_gates()
    turns = PacedPool(gates, SCOPE, 8)
    names: list[str] = []

    def task() -> None:
        names.append(threading.current_thread().name)
        gates.wait(SCOPE)
        time.sleep(0.001)

    with turns:
        for future in [turns.submit(task) for _ in range(80)]:
            future.result()
    # Once limited to one, the tasks stay on one thread instead of being handed round.
    late = names[40:]
    switches = sum(1 for a, b in itertools.pairwise(late) if a != b)
    assert switches <= 2, names


def test_a_closed_pool_refuses_work_and_its_threads_end() -> None:
    turns = PacedPool(ThrottleGates(), SCOPE, 3)
    with turns:
        assert turns.submit(lambda: 42).result() == 42
    assert all(not t.is_alive() for t in turns._threads)
    try:
        turns.submit(lambda: 1)
    except RuntimeError as exc:
        assert "shutdown" in str(exc)
    else:
        raise AssertionError("a closed pool took work")
