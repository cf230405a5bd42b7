"""When queued events may run: accepts come first during a burst, within a bound.

An accepted event costs the node far less than running it (a row in a group
commit against a round trip through an environment). If a burst of Event
invokes were also run as fast as possible, the two would share the CPU and
the accepts would slow down to the speed of execution (each invocation's time
taken from the accepts), so the burst would be accepted no faster than it
could be run. ``InvocationGate`` decides how many queued events may be invoking
at once, and when the next may start:

- **Full speed**: up to ``max_in_flight`` at once, whenever accepts are not hot.
- **Held** while accepts are hot, i.e. within ``BURST_WINDOW_S`` of an accept
  that found ``HOT_ACCEPTS`` or more accepts (itself included) waiting for
  their commit: accepts are queueing for the node's time. Then one
  invocation at a time, and at most one start every ``PACE_S`` (100 events/s):
  the backlog keeps moving with a few percent of the node, and the rest goes
  to storing what the callers send. One window after the accepts stop
  queueing, full speed again: the backlog drains after the burst. (Steady
  traffic that the node keeps up with never makes accepts queue, so it runs
  at full speed at once.)
- **The bound**: an event that has waited ``HOLD_MAX_S`` since it was accepted
  is never held (a retry counts from its first acceptance, so retries are not
  held). No event is delayed more than ``HOLD_MAX_S`` by this policy, and a
  burst that outlasts it turns into backpressure on the accepts (execution at
  full speed takes its share of the CPU back) instead of a backlog that grows
  for ever.

The gate orders only the asynchronous queue's own invocations; synchronous
invokes never wait for it (their fair share is the limiter's,
``dataplane.limiter``). Times are the ``Clock``'s, so tests drive the policy
with a fake one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from lambdalite.clock import Clock

BURST_WINDOW_S = 0.05
"""Accepts count as hot this long after one found the commit queue at HOT_ACCEPTS."""
HOT_ACCEPTS = 4
"""Accepts waiting for their commit at once (the new one included) that make accepts hot:
one client at a time never reaches it, and a node that keeps up with its traffic
answers each accept within about one commit, so they do not pile up."""
PACE_S = 0.01
"""While held: at most one start per PACE_S (and one invocation at a time)."""
HOLD_MAX_S = 10.0
"""An event that has waited this long since it was accepted is never held."""


@dataclass(slots=True)
class _Waiter:
    enqueued_at: float
    future: asyncio.Future[bool]
    """True: granted a slot; False: the gate was closed first."""


class InvocationGate:
    """Invocation slots for queued events under the policy in the module docstring."""

    def __init__(self, clock: Clock, max_in_flight: int) -> None:
        self._clock = clock
        self._max = max_in_flight
        self.invoking = 0
        """Invocations holding a slot now."""
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._hot_until = float("-inf")
        self._last_start = float("-inf")
        self._timer: asyncio.Task[None] | None = None
        self._timer_at = float("inf")
        self._closed = False

    def note_accept(self, now: float, waiting: int) -> None:
        """An accept at ``now`` found ``waiting`` accepts (itself included) waiting for
        their commit. Called for every accept: kept cheap."""
        if waiting >= HOT_ACCEPTS:
            self._hot_until = now + BURST_WINDOW_S

    def hot(self, now: float) -> bool:
        """Are accepts queueing (or were they within the last window)?"""
        return now < self._hot_until

    def held(self, now: float, enqueued_at: float) -> bool:
        """Would an event accepted at ``enqueued_at`` be held at ``now``?"""
        return now < self._hot_until and now - enqueued_at < HOLD_MAX_S

    @contextlib.asynccontextmanager
    async def slot(self, enqueued_at: float) -> AsyncIterator[bool]:
        """Hold one invocation slot for an event accepted at ``enqueued_at``: waits
        (in arrival order) until the policy lets it start, and yields True; given
        back on every path. Yields False, holding nothing, once the gate is closed."""
        granted = await self._acquire(enqueued_at)
        try:
            yield granted
        finally:
            if granted:
                self.invoking -= 1
                self._pump()

    async def _acquire(self, enqueued_at: float) -> bool:
        if self._closed:
            return False
        if not self._waiters and self._may_start(self._clock.now(), enqueued_at):
            self._start(self._clock.now())
            return True
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.append(_Waiter(enqueued_at, future))
        self._pump()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.result():
                # Granted, then cancelled before it could run: give the slot back.
                self.invoking -= 1
                self._pump()
            raise

    def _may_start(self, now: float, enqueued_at: float) -> bool:
        if self.invoking >= self._max:
            return False
        if not self.held(now, enqueued_at):
            return True
        return self.invoking == 0 and now >= self._last_start + PACE_S

    def _start(self, now: float) -> None:
        self.invoking += 1
        self._last_start = now

    def _pump(self) -> None:
        """Start the waiters the policy lets start now; if the policy (not a full
        house) stops the next one, wake up when that can change."""
        now = self._clock.now()
        waiters = self._waiters
        while waiters:
            head = waiters[0]
            if head.future.done():  # cancelled while waiting
                waiters.popleft()
                continue
            if not self._may_start(now, head.enqueued_at):
                break
            waiters.popleft()
            self._start(now)
            head.future.set_result(True)
        if waiters and self.invoking < self._max:
            head_at = waiters[0].enqueued_at
            # The earliest moment the answer may change: the pace allows the next
            # start, the burst cools down, or the head has waited HOLD_MAX_S.
            candidates = (self._last_start + PACE_S, self._hot_until, head_at + HOLD_MAX_S)
            self._wake_at(min((t for t in candidates if t > now), default=now + PACE_S))

    def _wake_at(self, when: float) -> None:
        if self._timer is not None:
            if self._timer_at <= when:
                return
            self._timer.cancel()
        self._timer_at = when
        self._timer = asyncio.ensure_future(self._wake(when))

    async def _wake(self, when: float) -> None:
        await self._clock.sleep_until(when)
        self._timer, self._timer_at = None, float("inf")
        self._pump()

    def close(self) -> None:
        """Grant nothing more: every waiter, and every later ``slot``, gets False at
        once (invocations holding a slot go on and give it back as usual)."""
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.future.done():
                waiter.future.set_result(False)
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_at = None, float("inf")
