"""Who may use a queue under ``--auth sigv4``: each request's IAM action (``sqs:SendMessage``
for SendMessage and SendMessageBatch alike) on the queue's ARN, decided over the
caller's identity policies and the queue's ``Policy`` (``services.access``); and a
sibling service's sends (an SNS topic's delivery, an EventBridge rule's target),
which only the queue's policy can allow.

A refusal is SQS's AccessDenied (403), worded as SQS words it: the action in lower
case (``... not authorized to perform: sqs:sendmessage on resource: arn:aws:sqs:...``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambdalite.protocol.errors import ServiceFault
from lambdalite.protocol.model import load_model
from lambdalite.services.access import Refusal, ResourceAccess
from lambdalite.services.sqs.queue import Queue
from lambdalite.services.sqs.traits import SQS_QUERY_TRAITS

__all__ = ["ACTION_NAMES", "GRANTABLE", "QueueGate", "access_denied", "action_of"]

ACTION_NAMES = frozenset(load_model("sqs", SQS_QUERY_TRAITS).operation_names)
"""What AddPermission's ActionName may name (besides ``*``): any SQS action."""

GRANTABLE = frozenset(
    {
        "ChangeMessageVisibility",
        "DeleteMessage",
        "GetQueueAttributes",
        "GetQueueUrl",
        "ListDeadLetterSourceQueues",
        "PurgeQueue",
        "ReceiveMessage",
        "SendMessage",
    }
)
"""The actions a queue policy (and AddPermission) can grant; for the others (CreateQueue,
SetQueueAttributes, AddPermission, tags...) "cross-account permissions don't apply":
only the caller's identity policies count."""
_BATCHES = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def action_of(operation: str) -> str:
    """The IAM action of an SQS operation (a batch is authorized as its single form)."""
    return f"sqs:{_BATCHES.get(operation, operation)}"


def access_denied(refusal: Refusal, action: str) -> ServiceFault:
    return ServiceFault(
        "AccessDeniedException", refusal.message(action.lower()), 403, query_code="AccessDenied"
    )


class QueueGate:
    """The authorization of one SQS service's requests and sibling sends."""

    def __init__(
        self, access: ResourceAccess, arn: Callable[[str], str], queues: Callable[[str], Queue | None]
    ):
        """``arn(name)``: a queue's ARN; ``queues(name)``: the queue of that name, or None."""
        self._access = access
        self._arn = arn
        self._queues = queues

    def authorize(self, operation: str, request: dict[str, Any]) -> None:
        """The ProtocolFront hook: raise AccessDenied when the verified caller may not."""
        name = _queue_name(request)
        resource = self._arn(name) if name else "*"
        action = action_of(operation)
        queue = self._queues(name) if name else None
        document = None
        if queue is not None and action[4:] in GRANTABLE:
            document = queue.record.attributes.get("Policy", "")
        refusal = self._access.check_caller(action, resource, document)
        if refusal is not None:
            raise access_denied(refusal, action)

    def check_sibling(self, queue: Queue) -> None:
        """Raise AccessDenied when a service sending on its own behalf (``current_service()``)
        is not allowed ``sqs:SendMessage`` by the queue's policy; nothing when none is sending."""
        document = queue.record.attributes.get("Policy", "")
        refusal = self._access.check_service("sqs:SendMessage", self._arn(queue.name), document)
        if refusal is not None:
            raise access_denied(refusal, "sqs:SendMessage")


def _queue_name(request: dict[str, Any]) -> str:
    url = request.get("QueueUrl")
    if url:
        return str(url).rstrip("/").rsplit("/", 1)[-1]
    return str(request.get("QueueName") or "")
