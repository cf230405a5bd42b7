"""Building the topic and bus services from the router's context, and what they
need of their siblings: functions through the async-invocation queue, queues
through the SQS service, topics and buses through each other. Siblings are looked
up when a message is sent, so the order in which the router builds services does
not matter."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from lambdalite.api.async_accept import accept_event
from lambdalite.events.dispatcher import AsyncInvocations
from lambdalite.events.service_targets import BusPublisher, QueueSender, Siblings, TopicPublisher
from lambdalite.events.targets import AcceptEvent
from lambdalite.services.events import EventsFront
from lambdalite.services.scheduler import SchedulerFront
from lambdalite.services.sns import Deliverer, SnsFront

if TYPE_CHECKING:
    from lambdalite.api.router import ServiceContext

__all__ = ["build_events", "build_scheduler", "build_sns", "siblings"]


def _service(built: Mapping[str, Any], name: str) -> Any:
    front: Any = built.get(name)
    return None if front is None else front.service


def _accept(
    events: AsyncInvocations | None, check: Callable[[str, str | None], None] | None = None
) -> AcceptEvent:
    """``check(name, qualifier)``: under sigv4, may the service that is invoking
    (``auth.authorize_context.current_service``) do so?"""

    async def accept(name: str, qualifier: str | None, payload: bytes) -> str:
        if events is None:
            raise RuntimeError("asynchronous invocation is not running")
        if check is not None:
            check(name, qualifier)
        return await accept_event(events, name, qualifier, payload)

    return accept


def siblings(
    built: Mapping[str, Any],
    region: str,
    account: str,
    events: AsyncInvocations | None,
    check: Callable[[str, str | None], None] | None = None,
) -> Siblings:
    """How this node's targets reach its services (``built``: the router's services by name)."""

    def queues() -> QueueSender | None:
        found: QueueSender | None = _service(built, "sqs")
        return found

    def topics() -> TopicPublisher | None:
        found: TopicPublisher | None = _service(built, "sns")
        return found

    def buses() -> BusPublisher | None:
        found: BusPublisher | None = _service(built, "events")
        return found

    def host() -> str:
        sns = _service(built, "sns")
        return str(sns.host) if sns is not None else "localhost"

    return Siblings(region, account, _accept(events, check), queues, topics, buses, host)


def _siblings(context: ServiceContext) -> Siblings:
    return siblings(
        context.built, context.region, context.account_id, context.api.events, context.service_invoke_check
    )


def build_sns(context: ServiceContext) -> SnsFront | None:
    if context.topics is None:
        return None
    reach = _siblings(context)
    deliverer = Deliverer(
        context.region, context.account_id, reach.accept, reach.queues, reach.host, store=context.topics
    )
    return SnsFront(
        context.topics, context.region, context.account_id, deliverer, access=context.resource_access
    )


def build_scheduler(context: ServiceContext) -> SchedulerFront | None:
    if context.scheduler is None:
        return None
    return SchedulerFront(context.scheduler, _siblings(context), context.schedules)


def build_events(context: ServiceContext) -> EventsFront | None:
    if context.buses is None:
        return None
    return EventsFront(context.buses, _siblings(context), context.schedules)
