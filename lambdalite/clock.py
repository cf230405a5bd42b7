"""Time as a parameter: everything in lambdalite that waits asks a ``Clock``.

Retry delays and event ages of asynchronous invocation, SQS's visibility timeouts,
delays, retention and long polls, SNS's delivery retries, schedules: each asks
``now()`` and sleeps through the clock it was given, so unit tests pass a fake one
and AWS's minutes run in microseconds.

Times are wall-clock seconds since the epoch, because they are stored (event
timestamps, ``SentTimestamp``, next firings) and must mean the same after a restart.
The server's ``--retry-delay-scale`` does not change the clock: it scales the
durations Lambda's own retry policy asks for (``events.policy.RetryPolicy``).

Two fakes, for two kinds of test:

- ``ManualClock`` moves only when the test calls ``advance``/``set``; sleepers whose
  time has come are then woken in order of their deadlines (several waiters at once:
  the dispatcher, the event queue).
- ``SteppingClock`` moves when someone sleeps on it, by the time slept, as if that
  sleeper were the only one waiting (one service's timings, step by step).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (comparable across restarts)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after ``seconds`` of this clock's time (at once for <= 0). Cancellable."""
        ...

    async def sleep_until(self, when: float) -> None:
        """Return once ``now() >= when`` (at once if it already is). Cancellable."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def sleep_until(self, when: float) -> None:
        delay = when - time.time()
        if delay > 0:
            await asyncio.sleep(delay)


class ManualClock:
    """A clock that moves only when ``advance``/``set`` is called."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + seconds)

    async def sleep_until(self, when: float) -> None:
        if when <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (when, next(self._order), future))
        await future

    def set(self, when: float) -> None:
        """Move to ``when`` (never backwards) and wake every sleeper due by then."""
        self._now = max(self._now, when)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    def advance(self, seconds: float) -> None:
        self.set(self._now + seconds)


class SteppingClock:
    """A clock that moves when told (``advance``) or when slept on, by the time slept."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.time = start

    def now(self) -> float:
        return self.time

    def advance(self, seconds: float) -> None:
        self.time += seconds

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)
        self.time += max(0.0, seconds)

    async def sleep_until(self, when: float) -> None:
        await self.sleep(when - self.time)
