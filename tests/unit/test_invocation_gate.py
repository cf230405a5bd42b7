"""The burst policy of asynchronous execution (``events.burst``) on a fake clock:
full speed unless accepts queue for their commit, one paced invocation at a time
while they do, never held past HOLD_MAX_S, full speed once the burst cools."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from lambdalite.clock import ManualClock
from lambdalite.events.burst import BURST_WINDOW_S, HOLD_MAX_S, HOT_ACCEPTS, PACE_S, InvocationGate

MAX = 4


class Runs:
    """Invocations through a gate that last until the test ends them (``finish``)."""

    def __init__(self, gate: InvocationGate, clock: ManualClock) -> None:
        self.gate = gate
        self.clock = clock
        self.started: list[tuple[float, int]] = []
        """(clock time, invocations holding a slot then) of each start."""
        self.outcomes: list[bool] = []
        self._release = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    def submit(self, enqueued_at: float) -> None:
        self.tasks.append(asyncio.ensure_future(self._one(enqueued_at)))

    async def submit_many(self, count: int, enqueued_at: float) -> None:
        """``count`` invocations of events accepted at ``enqueued_at``; let them start."""
        for _ in range(count):
            self.submit(enqueued_at)
        await settle()

    async def _one(self, enqueued_at: float) -> None:
        async with self.gate.slot(enqueued_at) as granted:
            self.outcomes.append(granted)
            if not granted:
                return
            self.started.append((self.clock.now(), self.gate.invoking))
            await self._release.wait()

    def finish_all(self) -> None:
        self._release.set()


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def burst(gate: InvocationGate, clock: ManualClock) -> None:
    """An accept now that finds accepts queueing for their commit."""
    gate.note_accept(clock.now(), HOT_ACCEPTS)


def run(test: Callable[[InvocationGate, ManualClock, Runs], Awaitable[None]]) -> None:
    async def go() -> None:
        clock = ManualClock()
        gate = InvocationGate(clock, MAX)
        runs = Runs(gate, clock)
        try:
            await test(gate, clock, runs)
        finally:
            runs.finish_all()
            gate.close()
            await asyncio.gather(*runs.tasks, return_exceptions=True)

    asyncio.run(go())


def test_without_a_burst_up_to_max_in_flight_run_at_once() -> None:
    async def test(gate: InvocationGate, clock: ManualClock, runs: Runs) -> None:
        long_ago = clock.now() - 60
        await runs.submit_many(MAX + 2, long_ago)
        assert len(runs.started) == MAX
        assert gate.invoking == MAX

    run(test)


@pytest.mark.parametrize(
    "waiting, waited_s",
    [(HOT_ACCEPTS - 1, 1.0), (HOT_ACCEPTS, HOLD_MAX_S)],
    ids=["accepts-do-not-queue", "waited-hold-max"],
)
def test_full_speed_unless_accepts_queue_and_for_events_that_waited_hold_max(
    waiting: int, waited_s: float
) -> None:
    async def test(gate: InvocationGate, clock: ManualClock, runs: Runs) -> None:
        for _ in range(1000):
            gate.note_accept(clock.now(), waiting)
        assert gate.hot(clock.now()) == (waiting >= HOT_ACCEPTS)
        for _ in range(MAX):
            runs.submit(clock.now() - waited_s)
        await settle()
        assert len(runs.started) == MAX

    run(test)


def test_while_accepts_queue_one_invocation_runs_at_a_time() -> None:
    async def test(gate: InvocationGate, clock: ManualClock, runs: Runs) -> None:
        behind = clock.now() - 1
        burst(gate, clock)
        await runs.submit_many(3, behind)
        assert [n for _, n in runs.started] == [1]
        clock.advance(PACE_S)  # the pace alone does not start a second beside the first
        await settle()
        assert len(runs.started) == 1

    run(test)


def test_held_starts_are_one_pace_apart() -> None:
    async def go() -> None:
        clock = ManualClock()
        gate = InvocationGate(clock, MAX)
        starts: list[tuple[float, int]] = []

        async def quick(enqueued_at: float) -> None:
            async with gate.slot(enqueued_at) as granted:
                if granted:
                    starts.append((clock.now(), gate.invoking))

        behind = clock.now() - 1
        burst(gate, clock)
        tasks = [asyncio.ensure_future(quick(behind)) for _ in range(5)]
        await settle()
        for _ in range(2):
            clock.advance(PACE_S)
            burst(gate, clock)  # accepts stay hot
            await settle()
        gate.close()
        await asyncio.gather(*tasks)
        assert [n for _, n in starts] == [1, 1, 1]
        assert [t - starts[0][0] for t, _ in starts] == pytest.approx([0.0, PACE_S, 2 * PACE_S])

    asyncio.run(go())


def test_a_held_event_starts_by_itself_when_it_reaches_hold_max() -> None:
    async def test(gate: InvocationGate, clock: ManualClock, runs: Runs) -> None:
        accepted = clock.now() - 1
        burst(gate, clock)
        for _ in range(3):
            runs.submit(accepted)  # the first starts; it holds its slot until the end
        await settle()
        assert len(runs.started) == 1
        # The burst goes on (accepts stay hot): the other two wait, until HOLD_MAX_S.
        while clock.now() + BURST_WINDOW_S < accepted + HOLD_MAX_S:
            clock.advance(BURST_WINDOW_S / 2)
            burst(gate, clock)
            await settle()
            assert len(runs.started) == 1
        clock.advance(BURST_WINDOW_S)
        burst(gate, clock)
        await settle()
        assert len(runs.started) == 3
        assert gate.hot(clock.now())

    run(test)


def test_once_the_burst_cools_down_the_held_events_start_at_full_speed_unprompted() -> None:
    async def test(gate: InvocationGate, clock: ManualClock, runs: Runs) -> None:
        behind = clock.now() - 1
        burst(gate, clock)
        await runs.submit_many(MAX, behind)
        assert len(runs.started) == 1
        clock.advance(BURST_WINDOW_S)  # no accepts for a window: the gate's own timer wakes it
        await settle()
        assert len(runs.started) == MAX

    run(test)


def test_closing_the_gate_answers_every_waiter_false_and_later_slots_too() -> None:
    async def test(gate: InvocationGate, clock: ManualClock, runs: Runs) -> None:
        await runs.submit_many(MAX + 2, clock.now())
        gate.close()
        runs.submit(clock.now())
        await settle()
        assert runs.outcomes.count(True) == MAX
        assert runs.outcomes.count(False) == 3

    run(test)


def test_a_waiter_cancelled_before_it_starts_leaks_no_slot() -> None:
    async def test(gate: InvocationGate, clock: ManualClock, runs: Runs) -> None:
        await runs.submit_many(MAX + 1, clock.now())
        waiting = runs.tasks[-1]
        waiting.cancel()
        await settle()
        runs.finish_all()
        await asyncio.gather(*runs.tasks, return_exceptions=True)
        assert gate.invoking == 0
        runs.tasks.clear()
        runs.submit(clock.now())
        await settle()
        assert runs.started[-1][1] == 1

    run(test)
