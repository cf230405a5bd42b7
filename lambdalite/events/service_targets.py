"""Queues, topics and event buses as targets: of asynchronous-invocation
destinations and dead-letter queues (through ``Targets``), and of EventBridge rules.

The sibling services are reached through ``Siblings`` when a message is sent, not
when the target is made: the router builds services in its own order, and the
composition root registers these kinds once everything is built.

A destination record sent to a bus becomes the event AWS sends: ``source``
``lambda``, ``detail-type`` ``Lambda Function Invocation Result - Success`` (or
``- Failure``), ``resources`` the function's ARN, ``detail`` the record.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from lambdalite.events.targets import (
    AcceptEvent,
    Arn,
    Attributes,
    DeliveryError,
    FunctionTarget,
    Target,
    TargetKind,
    function_target_ref,
)
from lambdalite.protocol.front import Call, calling

__all__ = ["QueueTarget", "Siblings", "TopicTarget", "message_target", "service_target_kinds"]


class QueueSender(Protocol):
    async def send_message(self, request: dict[str, Any]) -> dict[str, Any]: ...

    async def send_message_batch(self, request: dict[str, Any]) -> dict[str, Any]: ...

    def queue_by_arn(self, arn: str) -> Any: ...


class TopicPublisher(Protocol):
    def has_topic(self, arn: str) -> bool: ...

    async def publish_internal(self, topic_arn: str, message: str, attributes: Attributes) -> None: ...


class BusPublisher(Protocol):
    def has_bus(self, arn: str) -> bool: ...

    async def put_internal(self, bus_arn: str, event: dict[str, Any]) -> None: ...

    def new_event(
        self, source: str, detail_type: str, resources: list[str], detail: Any
    ) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Siblings:
    """How targets reach the services of this node (each None until it is built)."""

    region: str
    account: str
    accept: AcceptEvent | None
    queues: Callable[[], QueueSender | None]
    topics: Callable[[], TopicPublisher | None]
    buses: Callable[[], BusPublisher | None]
    host: Callable[[], str] = lambda: "localhost"


class QueueTarget:
    """An SQS queue: one message with the body (and message attributes); a FIFO
    queue gets ``group_id`` (or ``default``) and a fresh deduplication id."""

    def __init__(self, arn: str, siblings: Siblings, group_id: str | None = None) -> None:
        self.arn = arn
        self._siblings = siblings
        self._group = group_id

    async def send(self, body: bytes, attributes: Attributes) -> None:
        queues = self._siblings.queues()
        if queues is None or queues.queue_by_arn(self.arn) is None:
            raise DeliveryError(f"no queue {self.arn} exists")
        request: dict[str, Any] = {
            "QueueUrl": self.arn.rsplit(":", 1)[1],
            "MessageBody": body.decode("utf-8", "replace"),
        }
        if attributes:
            request["MessageAttributes"] = {
                name: {"DataType": data_type, "StringValue": value}
                for name, (data_type, value) in attributes.items()
            }
        if self.arn.endswith(".fifo"):
            request["MessageGroupId"] = self._group or "default"
            request["MessageDeduplicationId"] = str(uuid.uuid4())
        try:
            with calling(Call("SendMessage", "json", self._siblings.host(), str(uuid.uuid4()))):
                await queues.send_message(request)
        except Exception as exc:
            raise DeliveryError(f"cannot send to {self.arn}: {exc}") from exc

    async def send_batch(self, bodies: list[bytes]) -> None:
        """Deliver ``bodies`` (at most 10) in one durable write; DeliveryError when the
        queue refused any of them (then none or some were stored: callers resend
        one by one, and a queue stores a resent FIFO message once)."""
        queues = self._siblings.queues()
        if queues is None or queues.queue_by_arn(self.arn) is None:
            raise DeliveryError(f"no queue {self.arn} exists")
        fifo = self.arn.endswith(".fifo")
        entries = []
        for number, body in enumerate(bodies):
            entry: dict[str, Any] = {"Id": str(number), "MessageBody": body.decode("utf-8", "replace")}
            if fifo:
                entry["MessageGroupId"] = self._group or "default"
                entry["MessageDeduplicationId"] = str(uuid.uuid4())
            entries.append(entry)
        try:
            with calling(Call("SendMessageBatch", "json", self._siblings.host(), str(uuid.uuid4()))):
                answer = await queues.send_message_batch(
                    {"QueueUrl": self.arn.rsplit(":", 1)[1], "Entries": entries}
                )
        except Exception as exc:
            raise DeliveryError(f"cannot send to {self.arn}: {exc}") from exc
        if answer.get("Failed"):
            raise DeliveryError(f"{self.arn} refused {len(answer['Failed'])} of {len(bodies)} messages")


class TopicTarget:
    def __init__(self, arn: str, siblings: Siblings) -> None:
        self.arn = arn
        self._siblings = siblings

    async def send(self, body: bytes, attributes: Attributes) -> None:
        topics = self._siblings.topics()
        if topics is None or not topics.has_topic(self.arn):
            raise DeliveryError(f"no topic {self.arn} exists")
        try:
            await topics.publish_internal(self.arn, body.decode("utf-8", "replace"), attributes)
        except Exception as exc:
            raise DeliveryError(f"cannot publish to {self.arn}: {exc}") from exc


class BusTarget:
    """A bus as a destination: the record becomes AWS's invocation-result event."""

    def __init__(self, arn: str, siblings: Siblings) -> None:
        self.arn = arn
        self._siblings = siblings

    async def send(self, body: bytes, attributes: Attributes) -> None:
        del attributes
        buses = self._siblings.buses()
        if buses is None or not buses.has_bus(self.arn):
            raise DeliveryError(f"no event bus {self.arn} exists")
        record = orjson.loads(body)
        context = record.get("requestContext", {}) if isinstance(record, dict) else {}
        outcome = "Success" if context.get("condition") == "Success" else "Failure"
        function = str(context.get("functionArn", ""))
        event = buses.new_event(
            "lambda", f"Lambda Function Invocation Result - {outcome}", [function] if function else [], record
        )
        await buses.put_internal(self.arn, event)


def _local(arn: str, siblings: Siblings) -> bool:
    parsed = Arn.parse(arn)
    return parsed is not None and (parsed.region, parsed.account) == (siblings.region, siblings.account)


def service_target_kinds(siblings: Siblings) -> Mapping[str, TargetKind]:
    """The ``sqs``, ``sns`` and ``events`` kinds for ``Targets.register``: a queue,
    topic or bus of this node that exists now."""

    def queue(arn: str) -> Target | None:
        queues = siblings.queues()
        if not _local(arn, siblings) or queues is None or queues.queue_by_arn(arn) is None:
            return None
        return QueueTarget(arn, siblings)

    def topic(arn: str) -> Target | None:
        topics = siblings.topics()
        if not _local(arn, siblings) or topics is None or not topics.has_topic(arn):
            return None
        return TopicTarget(arn, siblings)

    def bus(arn: str) -> Target | None:
        buses = siblings.buses()
        if not _local(arn, siblings) or buses is None or not buses.has_bus(arn):
            return None
        return BusTarget(arn, siblings)

    return {"sqs": queue, "sns": topic, "events": bus}


def message_target(target: Mapping[str, Any], siblings: Siblings) -> Target:
    """The function, queue or topic a rule's or a schedule's target (``{"Arn": ...,
    "SqsParameters": {...}}``) names; DeliveryError for anything else."""
    arn: str = target["Arn"]
    parsed = Arn.parse(arn)
    service = parsed.service if parsed is not None else ""
    if service == "lambda":
        ref = function_target_ref(arn, siblings.region, siblings.account)
        if ref is None or siblings.accept is None:
            raise DeliveryError(f"no function {arn} exists")
        return FunctionTarget(arn, ref[0], ref[1], siblings.accept)
    if service == "sqs":
        return QueueTarget(arn, siblings, (target.get("SqsParameters") or {}).get("MessageGroupId"))
    if service == "sns":
        return TopicTarget(arn, siblings)
    raise DeliveryError(f"cannot deliver to {arn}")
