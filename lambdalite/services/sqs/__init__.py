"""An SQS-compatible queue service on lambdalite's port, in both of SQS's wire
protocols (awsJson 1.0 for current SDKs, query for older ones and ``aws sqs`` of
some versions), over a durable ``QueueStore``.

``SqsFront(store, clock, region, account)`` is the front router's service; its
``service`` attribute (``SqsService``) is what a poller drives.
"""

from __future__ import annotations

from lambdalite.http.message import HttpRequest, Response
from lambdalite.protocol.front import ProtocolFront
from lambdalite.protocol.model import load_model
from lambdalite.services.clock import Clock, SystemClock
from lambdalite.services.sqs.service import SqsService
from lambdalite.services.sqs.traits import SQS_QUERY_TRAITS
from lambdalite.store.queues import QueueStore

TARGET_PREFIX = b"AmazonSQS"
SIGNING_NAME = "sqs"

__all__ = ["SIGNING_NAME", "TARGET_PREFIX", "SqsFront", "SqsService"]


class SqsFront:
    """The front router's SQS service: ``await front.handle(request)``; never raises."""

    def __init__(self, store: QueueStore, region: str, account_id: str, clock: Clock | None = None) -> None:
        self.service = SqsService(store, clock or SystemClock(), region, account_id)
        self._front = ProtocolFront(load_model("sqs", SQS_QUERY_TRAITS), self.service)

    async def handle(self, request: HttpRequest) -> Response:
        return await self._front.handle(request)
