"""Building the topic and bus services from the router's context: what each needs
of its siblings (SNS delivers to functions through the async queue and to queues
through the SQS service), looked up when a delivery happens, so the order in which
the router builds services does not matter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambdalite.api.async_accept import accept_event
from lambdalite.services.sns import Deliverer, SnsFront
from lambdalite.services.sns.delivery import QueueSender

if TYPE_CHECKING:
    from lambdalite.api.router import ServiceContext

__all__ = ["build_sns", "sibling_queues"]


def sibling_queues(context: ServiceContext) -> QueueSender | None:
    """The SQS service of this node, if it is built."""
    front: Any = context.built.get("sqs")
    return None if front is None else front.service  # type: ignore[no-any-return]


def build_sns(context: ServiceContext) -> SnsFront | None:
    if context.topics is None:
        return None
    events = context.api.events

    async def accept(name: str, qualifier: str | None, payload: bytes) -> str:
        if events is None:
            raise RuntimeError("asynchronous invocation is not running")
        return await accept_event(events, name, qualifier, payload)

    holder: list[SnsFront] = []
    deliverer = Deliverer(
        context.region,
        context.account_id,
        accept,
        lambda: sibling_queues(context),
        lambda: holder[0].service.host if holder else "localhost",
    )
    front = SnsFront(context.topics, context.region, context.account_id, deliverer)
    holder.append(front)
    return front
