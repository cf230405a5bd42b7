"""An SQS-compatible queue service on lambdalite's port, in both of SQS's wire
protocols (awsJson 1.0 for current SDKs, query for older ones and ``aws sqs`` of
some versions), over a durable ``QueueStore``.

``SqsFront(store, clock, region, account)`` is the front router's service; its
``service`` attribute (``SqsService``) is what a poller drives.
"""

from __future__ import annotations

import re

from lambdalite.clock import Clock, SystemClock
from lambdalite.http.message import HttpRequest, Response
from lambdalite.protocol.front import ProtocolFront
from lambdalite.protocol.model import load_model
from lambdalite.services.access import ResourceAccess
from lambdalite.services.sqs.permissions import QueueGate
from lambdalite.services.sqs.service import SqsService
from lambdalite.services.sqs.traits import SQS_QUERY_TRAITS
from lambdalite.store.queues import QueueStore

TARGET_PREFIX = b"AmazonSQS"
SIGNING_NAME = "sqs"
ACTIONS = frozenset(load_model("sqs", SQS_QUERY_TRAITS).operation_names)
"""The query protocol's ``Action`` names (routing of unsigned form posts)."""
MAX_REQUEST = 6 * 1024 * 1024
"""The largest SQS request served: room for a 1 MiB batch however its JSON escapes it."""
_QUEUE_PATH = re.compile(r"^/(\d{12})/([A-Za-z0-9_.-]{1,80})/?$")

__all__ = ["ACTIONS", "SIGNING_NAME", "TARGET_PREFIX", "SqsFront", "SqsService"]


class SqsFront:
    """The front router's SQS service: ``await front.handle(request)``; never raises."""

    def __init__(
        self,
        store: QueueStore,
        region: str,
        account_id: str,
        clock: Clock | None = None,
        access: ResourceAccess | None = None,
    ) -> None:
        """``access``: under ``--auth sigv4``, how requests and sibling sends are
        authorized (identity and queue policies); None serves everyone."""
        self.service = SqsService(store, clock or SystemClock(), region, account_id)
        authorize = None
        if access is not None:
            gate = QueueGate(access, self.service.arn, self.service.queue_named)
            self.service.gate = gate
            authorize = gate.authorize
        self._front = ProtocolFront(
            load_model("sqs", SQS_QUERY_TRAITS), self.service, implied=_queue_url, authorize=authorize
        )

    def quiesce(self) -> None:
        """The server is stopping: long polls answer now (empty, as on a timeout)."""
        self.service.quiesce()

    async def handle(self, request: HttpRequest) -> Response:
        if request.body_size > MAX_REQUEST:
            # SQS's front door answers an oversized request with a bare 413 and this text.
            text = b"HTTP content length exceeded %d bytes." % MAX_REQUEST
            return Response(413, text, content_type=b"text/plain")
        return await self._front.handle(request)


def _queue_url(request: HttpRequest) -> dict[str, str]:
    """Older SDKs send a queue's query requests to the queue URL itself and leave the
    QueueUrl parameter out: the path implies it."""
    match = _QUEUE_PATH.match(request.path)
    if match is None:
        return {}
    host = request.headers.get(b"host", b"localhost").decode("latin-1")
    return {"QueueUrl": f"http://{host}{request.path.rstrip('/')}"}
