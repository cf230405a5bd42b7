"""An EventBridge-compatible event bus service on lambdalite's port (awsJson 1.1),
over a durable ``BusStore``: the default and custom buses, rules with event
patterns (events/patterns.py) or schedule expressions, targets (functions, queues,
topics, other buses) with Input, InputPath and InputTransformer, PutEvents and
TestEventPattern.

``EventsFront(store, siblings)`` is the front router's service; its ``service``
attribute (``EventsService``) is what destinations put events through.
"""

from __future__ import annotations

from lambdalite.clock import Clock, SystemClock
from lambdalite.events.service_targets import Siblings
from lambdalite.http.message import HttpRequest, Response
from lambdalite.protocol.front import ProtocolFront
from lambdalite.protocol.model import load_model
from lambdalite.services.events.service import EventsService
from lambdalite.services.timed_front import TimedFront
from lambdalite.store.buses import BusStore
from lambdalite.store.schedules import ScheduleStore

TARGET_PREFIX = b"AWSEvents"
SIGNING_NAME = "events"

__all__ = ["SIGNING_NAME", "TARGET_PREFIX", "EventsFront", "EventsService"]


class EventsFront(TimedFront[EventsService]):
    """The front router's EventBridge service: ``await front.handle(request)``; never raises."""

    def __init__(
        self,
        store: BusStore,
        siblings: Siblings,
        schedules: ScheduleStore | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.service = EventsService(store, clock or SystemClock(), siblings, schedules)
        self._front = ProtocolFront(load_model("events"), self.service)

    async def handle(self, request: HttpRequest) -> Response:
        return await self._front.handle(request)
