"""An EventBridge Scheduler-compatible service (rest-json, ``boto3.client("scheduler")``):
schedules and schedule groups, fired by the shared durable schedule timer.

``SchedulerFront(store, siblings, timers)`` is the front router's service.
"""

from __future__ import annotations

from lambdalite.clock import Clock, SystemClock
from lambdalite.events.service_targets import Siblings
from lambdalite.http.message import HttpRequest, Response
from lambdalite.protocol.model import load_model
from lambdalite.protocol.rest_json import RestJsonFront
from lambdalite.services.scheduler.service import SchedulerService
from lambdalite.services.timed_front import TimedFront
from lambdalite.store.scheduler_docs import SchedulerStore
from lambdalite.store.schedules import ScheduleStore

SIGNING_NAME = "scheduler"

__all__ = ["SIGNING_NAME", "SchedulerFront", "SchedulerService"]


class SchedulerFront(TimedFront[SchedulerService]):
    def __init__(
        self,
        store: SchedulerStore,
        siblings: Siblings,
        timers: ScheduleStore | None,
        clock: Clock | None = None,
    ) -> None:
        self.service = SchedulerService(store, clock or SystemClock(), siblings, timers)
        self._front = RestJsonFront(load_model("scheduler"), self.service)

    async def handle(self, request: HttpRequest) -> Response:
        return await self._front.handle(request)
