"""An SNS-compatible topic service on lambdalite's port (the query protocol), over a
durable ``TopicStore``: topics (standard and FIFO), subscriptions of Lambda
functions, SQS queues and HTTP(S) endpoints, filter policies, Publish and PublishBatch.

``SnsFront(store, region, account, deliverer)`` is the front router's service; its
``service`` attribute (``SnsService``) is what destinations and rule targets publish through.
"""

from __future__ import annotations

from lambdalite.clock import Clock, SystemClock
from lambdalite.http.message import HttpRequest, Response
from lambdalite.protocol.front import ProtocolFront
from lambdalite.protocol.model import load_model
from lambdalite.services.sns.delivery import Deliverer
from lambdalite.services.sns.service import SnsService
from lambdalite.store.topics import TopicStore

SIGNING_NAME = "sns"
URL_ACTIONS = frozenset({"ConfirmSubscription", "Unsubscribe"})
"""The actions a subscriber calls unsigned, through the SubscribeURL and UnsubscribeURL SNS sends."""

__all__ = ["SIGNING_NAME", "URL_ACTIONS", "Deliverer", "SnsFront", "SnsService"]


class SnsFront:
    """The front router's SNS service: ``await front.handle(request)``; never raises."""

    def __init__(
        self,
        store: TopicStore,
        region: str,
        account_id: str,
        deliverer: Deliverer,
        clock: Clock | None = None,
    ) -> None:
        self.service = SnsService(store, clock or SystemClock(), region, account_id, deliverer)
        self._deliverer = deliverer
        self._front = ProtocolFront(load_model("sns"), self.service)

    def start(self) -> None:
        """Resume the stored HTTP(S) deliveries (on the running loop)."""
        self._deliverer.resume()

    async def close(self) -> None:
        await self._deliverer.close()

    async def handle(self, request: HttpRequest) -> Response:
        return await self._front.handle(request)
