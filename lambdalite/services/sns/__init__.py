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
from lambdalite.services.access import ResourceAccess
from lambdalite.services.sns.delivery import Deliverer
from lambdalite.services.sns.permissions import TopicGate
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
        access: ResourceAccess | None = None,
    ) -> None:
        """``access``: under ``--auth sigv4``, how requests and sibling publishes are
        authorized (identity and topic policies); None serves everyone."""
        self.service = SnsService(store, clock or SystemClock(), region, account_id, deliverer)
        self._deliverer = deliverer
        authorize = None
        if access is not None:
            service = self.service
            gate = TopicGate(access, service.topic_arn, service.topic_record, service.policy_in_effect)
            service.gate = gate
            authorize = gate.authorize
        self._front = ProtocolFront(load_model("sns"), self.service, authorize=authorize)

    def start(self) -> None:
        """Resume the stored HTTP(S) deliveries (on the running loop)."""
        self._deliverer.resume()

    async def close(self) -> None:
        await self._deliverer.close()

    async def handle(self, request: HttpRequest) -> Response:
        return await self._front.handle(request)
