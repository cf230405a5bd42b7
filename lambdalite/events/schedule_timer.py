"""The schedule timer: fires each schedule (a rule's ScheduleExpression) at its
times, durably, on exactly one node.

Each pass (``tick``): take or renew the lease (only its holder fires: in cluster
mode the nodes share the store and one of them runs the timers); for each timer
that is due, record the firing and the timer's next time in one transaction, then
deliver it and mark it delivered. A schedule that missed several firings while
the server was down fires once, for its latest missed time, and the log says how
many were skipped. Firings recorded but not delivered (a crash in between) are
delivered again at start. Between passes the timer sleeps until the next firing,
at most ``MAX_SLEEP_S``, so a new schedule is seen within that (and a firing is
late by less than a second).

A timer may be given ``delay`` (a Scheduler FlexibleTimeWindow): each firing is
then recorded with its due time, ``delay(key)`` seconds after its scheduled time,
and waits (durably: a restart finds it among the pending firings, its due time
unchanged) until then, while the other schedules go on firing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

from lambdalite.clock import Clock
from lambdalite.events.cron import Schedule, parse_schedule
from lambdalite.events.periodic import Periodic
from lambdalite.store.schedules import Firing, ScheduleStore, TimerRow

log = logging.getLogger("lambdalite.schedules")

LEASE = "schedule-timer"
LEASE_S = 10.0
MAX_SLEEP_S = 1.0

Deliver = Callable[[Firing], Awaitable[None]]
Delay = Callable[[str], float]


class ScheduleTimer:
    def __init__(
        self,
        store: ScheduleStore,
        clock: Clock,
        deliver: Deliver,
        owner: str | None = None,
        prefix: str = "",
        delay: Delay | None = None,
    ) -> None:
        """``prefix``: the keys this timer owns (several timers share one store, each
        with its own keys and lease). ``delay(key)``: seconds (>= 0) between a
        firing's scheduled time and its delivery (None: none)."""
        self._store = store
        self._delay = delay
        self._waiting: dict[str, Firing] = {}
        self._clock = clock
        self._deliver = deliver
        self.owner = owner or str(uuid.uuid4())
        self._prefix = prefix
        self._lease = f"{LEASE}:{prefix}"
        self._timers: dict[str, TimerRow] = {
            row.key: row for row in store.timers() if row.key.startswith(prefix)
        }
        self._parsed: dict[str, Schedule] = {}
        self._loop = Periodic(clock, self.tick, "schedule timer", MAX_SLEEP_S)
        self._recovered = False

    def _schedule(self, row: TimerRow) -> Schedule:
        parsed = self._parsed.get(row.key)
        if parsed is None:
            parsed = self._parsed[row.key] = parse_schedule(row.expression, row.zone, one_time=True)
        return parsed

    def has(self, key: str) -> bool:
        return key in self._timers

    def set(self, key: str, expression: str, zone: str = "UTC") -> None:
        """Start the schedule ``key`` now (unchanged when it runs with the same
        expression and zone); raises ScheduleError for a bad expression."""
        schedule = parse_schedule(expression, zone, one_time=True)
        now = self._clock.now()
        existing = self._timers.get(key)
        if existing is not None and (existing.expression, existing.zone) == (expression, zone):
            return
        row = TimerRow(key, expression, zone, now, schedule.next_after(now, now))
        self._store.put_timer(row)
        self._timers[key] = row
        self._parsed[key] = schedule

    def remove(self, key: str) -> None:
        if self._timers.pop(key, None) is not None:
            self._store.delete_timer(key)
        self._parsed.pop(key, None)

    def start(self) -> None:
        self._loop.start()

    async def close(self) -> None:
        await self._loop.close()

    async def tick(self) -> float:
        """One pass; returns how long to sleep before the next."""
        now = self._clock.now()
        if not self._store.take_lease(self._lease, self.owner, now, now + LEASE_S):
            return MAX_SLEEP_S
        if not self._recovered:
            self._recovered = True
            for firing in self._store.pending_firings():
                if not firing.key.startswith(self._prefix):
                    continue
                if firing.due > now:
                    self._waiting[firing.id] = firing
                    continue
                log.warning(
                    "schedule %s: delivering the firing of %.0f again (the server stopped before)",
                    firing.key,
                    firing.scheduled_at,
                )
                await self._fire(firing)
        soonest = now + MAX_SLEEP_S
        for firing in sorted(self._waiting.values(), key=lambda f: f.due):
            if firing.due <= now:
                del self._waiting[firing.id]
                await self._fire(firing)
            else:
                soonest = min(soonest, firing.due)
        for key, row in list(self._timers.items()):
            if row.next_at is None:
                continue
            if row.next_at <= now:
                await self._due(row, now)
                row = self._timers.get(key, row)
            if row.next_at is not None:
                soonest = min(soonest, row.next_at)
        for firing in self._waiting.values():
            soonest = min(soonest, firing.due)
        return max(0.0, soonest - self._clock.now())

    async def _due(self, row: TimerRow, now: float) -> None:
        schedule = self._schedule(row)
        assert row.next_at is not None
        latest = row.next_at
        skipped = 0
        following = schedule.next_after(latest, row.anchor)
        while following is not None and following <= now:
            latest, skipped = following, skipped + 1
            following = schedule.next_after(latest, row.anchor)
        if skipped:
            log.warning(
                "schedule %s missed %d firings while the server was down: firing once", row.key, skipped
            )
        due_at = None if self._delay is None else latest + max(0.0, self._delay(row.key))
        firing = Firing(str(uuid.uuid4()), row.key, latest, due_at)
        self._store.record_firing(firing, following)
        self._timers[row.key] = TimerRow(row.key, row.expression, row.zone, row.anchor, following)
        if firing.due > now:
            self._waiting[firing.id] = firing
        else:
            await self._fire(firing)

    async def _fire(self, firing: Firing) -> None:
        try:
            await self._deliver(firing)
        except Exception:
            log.exception("schedule %s: delivering a firing failed", firing.key)
        self._store.delivered(firing.id)
