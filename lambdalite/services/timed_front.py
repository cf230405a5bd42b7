"""What the fronts of EventBridge and Scheduler share: a service that keeps a schedule
timer (None when schedules are not served) and a loop that makes its targets' due
retries, started and closed together."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from lambdalite.events.periodic import Periodic
from lambdalite.events.schedule_timer import ScheduleTimer

__all__ = ["TimedFront"]


class Timed(Protocol):
    @property
    def timer(self) -> ScheduleTimer | None: ...

    @property
    def retries(self) -> Periodic: ...


S = TypeVar("S", bound=Timed)


class TimedFront(Generic[S]):
    """A front over ``service`` (set by the subclass) whose timer and retries run while it serves."""

    service: S

    def start(self) -> None:
        """Start the schedule timer and the targets' retries (on the running loop)."""
        if self.service.timer is not None:
            self.service.timer.start()
        self.service.retries.start()

    async def close(self) -> None:
        await self.service.retries.close()
        if self.service.timer is not None:
            await self.service.timer.close()
