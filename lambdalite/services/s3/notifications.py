"""Bucket notifications: configurations (Lambda functions, queues, topics, with event
types and key filters), and the S3 event record delivered for each matching change.

A record is written to the store's outbox in the same transaction as the change it
announces, then handed to its destination through the events layer's ``Targets`` (a
function: an asynchronous invoke, durably queued with its retries and destinations; a
queue or topic: a durable send) and only then removed: at least once, across crashes
(the outbox is drained again when the server starts). A configuration naming a
destination that does not exist is refused as AWS refuses it; configuring queues or
topics sends them ``s3:TestEvent``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import fnmatch
import itertools
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote_plus

import orjson

from lambdalite.auth.authorize_context import invoking_as_service
from lambdalite.events.service_targets import Siblings
from lambdalite.events.targets import DeliveryError, Targets
from lambdalite.services.s3 import errors
from lambdalite.store.objects import BucketRecord, ObjectStore

__all__ = ["REQUEST", "Notifier"]

log = logging.getLogger("lambdalite.s3")

REQUEST: contextvars.ContextVar[tuple[str, str]] = contextvars.ContextVar("s3_request", default=("", ""))
"""(request id, client IP) of the request being served: the record's responseElements."""
KINDS = (
    ("LambdaFunctionConfigurations", "LambdaFunctionArn"),
    ("QueueConfigurations", "QueueArn"),
    ("TopicConfigurations", "TopicArn"),
)
PRINCIPAL = "AWS:AIDAJDPLRKLG7UEXAMPLE"
EVENTBRIDGE = "eventbridge:"
"""Marks an outbox row for an event bus (the rest of the target is the bus's ARN)."""
_REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
    "s3:ObjectRemoved:Delete": "DeleteObject",
}
_sequence = itertools.count(1)


def _refuse(refused: list[tuple[str, str]]) -> None:
    """Raise AWS's InvalidArgument naming each refused destination and why, if any is."""
    if not refused:
        return
    details = {}
    for number, (arn, reason) in enumerate(refused, 1):
        details[f"ArgumentName{number}"] = arn
        details[f"ArgumentValue{number}"] = reason
    raise errors.S3Fault(
        "InvalidArgument", "Unable to validate the following destination configurations", 400, **details
    )


def _bucket_of(body: bytes) -> str:
    """The bucket an outbox record speaks of (its first record's ``s3.bucket.name``)."""
    try:
        return str(orjson.loads(body)["Records"][0]["s3"]["bucket"]["name"])
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return ""


def event_matches(patterns: list[str], event: str) -> bool:
    """``event`` (``s3:ObjectCreated:Put``) against ``s3:ObjectCreated:*``-style patterns."""
    for pattern in patterns:
        if pattern == event or (pattern.endswith(":*") and event.startswith(pattern[:-1])):
            return True
    return False


def key_matches(config: Mapping[str, Any], key: str) -> bool:
    rules = ((config.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
    for rule in rules:
        name, value = rule.get("Name", "").lower(), rule.get("Value", "")
        if (name == "prefix" and not key.startswith(value)) or (name == "suffix" and not key.endswith(value)):
            return False
    return True


class Notifier:
    """Validates configurations and sends event records (see the module docstring)."""

    def __init__(
        self,
        targets: Targets,
        store: ObjectStore,
        clock: Any,
        siblings: Siblings | None = None,
        may_invoke: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.targets = targets
        self.store = store
        self.clock = clock
        self.siblings = siblings
        """Reaches the default event bus, for buckets that enable EventBridge."""
        self.may_invoke = may_invoke
        """(function ARN, bucket) -> does the function's resource policy let S3 invoke it?
        Set when signatures are checked (``--auth sigv4``), as AWS checks it."""
        self._draining = asyncio.Lock()

    async def flush(self) -> None:
        """Deliver what the outbox holds, oldest first (one drain at a time)."""
        async with self._draining:
            while batch := self.store.pending_notifications(100):
                for seq, arn, body in batch:
                    if arn.startswith(EVENTBRIDGE):
                        await self._to_bus(arn[len(EVENTBRIDGE) :], body)
                        self.store.delivered(seq)
                        continue
                    target = self.targets.find(arn)
                    if target is not None:
                        try:
                            with self._as_s3(_bucket_of(body)):
                                await target.send(body, {})
                        except DeliveryError:
                            log.warning("s3 notification to %s dropped: the destination refused it", arn)
                    # A destination that went away after it was configured: AWS drops it too.
                    self.store.delivered(seq)

    async def configure(self, bucket: BucketRecord, config: dict[str, Any]) -> None:
        """Check every destination and send queues and topics ``s3:TestEvent``;
        raises InvalidArgument when a destination cannot be validated."""
        refused: list[tuple[str, str]] = []
        for kind, arn_name in KINDS:
            for item in config.get(kind) or []:
                arn = item.get(arn_name, "")
                if self.targets.find(arn) is None:
                    refused.append((arn, "The destination ARN does not exist"))
                elif (
                    kind == KINDS[0][0]
                    and self.may_invoke is not None
                    and not self.may_invoke(arn, bucket.name)
                ):
                    refused.append((arn, f"Not authorized to invoke function [{arn}]"))
        _refuse(refused)
        request_id, _ = REQUEST.get()
        test = orjson.dumps(
            {
                "Service": "Amazon S3",
                "Event": "s3:TestEvent",
                "Time": _iso(self.clock.now()),
                "Bucket": bucket.name,
                "RequestId": request_id,
                "HostId": request_id,
            }
        )
        for kind, arn_name in KINDS[1:]:
            for item in config.get(kind) or []:
                target = self.targets.find(item[arn_name])
                if target is None:
                    continue
                try:
                    with self._as_s3(bucket.name):
                        await target.send(test, {})
                except DeliveryError:
                    # Under sigv4 the queue's (topic's) policy must let S3 send for this bucket.
                    what = "queue" if kind == KINDS[1][0] else "topic"
                    reason = (
                        f"Permissions on the destination {what} do not allow S3 to publish "
                        "notifications from this bucket"
                    )
                    refused.append((item[arn_name], reason))
        _refuse(refused)

    def _as_s3(self, bucket: str) -> contextlib.AbstractContextManager[None]:
        """Send as ``s3.amazonaws.com`` for ``bucket``: what a queue's or topic's policy sees."""
        account = self.siblings.account if self.siblings is not None else ""
        return invoking_as_service("s3.amazonaws.com", f"arn:aws:s3:::{bucket}", account)

    async def _to_bus(self, bus_arn: str, body: bytes) -> None:
        buses = self.siblings.buses() if self.siblings is not None else None
        if buses is not None and buses.has_bus(bus_arn):
            await buses.put_internal(bus_arn, orjson.loads(body))

    def messages(
        self, bucket: BucketRecord, event: str, key: str, size: int | None = None, etag: str | None = None
    ) -> list[tuple[str, bytes]]:
        """(target ARN, body) of the record of ``event`` (``s3:ObjectCreated:Put``) on
        ``key`` for each matching destination of the bucket's configuration."""
        config = bucket.config.get("notification") or {}
        out: list[tuple[str, bytes]] = []
        if not config:
            return out
        for kind, arn_name in KINDS:
            for item in config.get(kind) or []:
                if event_matches(item.get("Events") or [], event) and key_matches(item, key):
                    record = self.record(bucket, event, key, size, etag, item.get("Id", ""))
                    out.append((item[arn_name], orjson.dumps({"Records": [record]})))
        if "EventBridgeConfiguration" in config and self.siblings is not None:
            bus = f"arn:aws:events:{bucket.region}:{self.siblings.account}:event-bus/default"
            out.append((EVENTBRIDGE + bus, orjson.dumps(self.bus_event(bucket, event, key, size, etag))))
        return out

    def bus_event(
        self, bucket: BucketRecord, event: str, key: str, size: int | None, etag: str | None
    ) -> dict[str, Any]:
        """The event EventBridge gets from S3 (``source: aws.s3``)."""
        request_id, client = REQUEST.get()
        created = event.startswith("s3:ObjectCreated:")
        obj: dict[str, Any] = {"key": key}
        if size is not None:
            obj["size"] = size
        if etag is not None:
            obj["etag"] = etag.strip('"')
        obj["sequencer"] = self._sequencer()
        detail: dict[str, Any] = {
            "version": "0",
            "bucket": {"name": bucket.name},
            "object": obj,
            "request-id": request_id,
            "requester": self.siblings.account if self.siblings is not None else "",
            "source-ip-address": client or "127.0.0.1",
            "reason": _REASONS.get(event, "PutObject"),
        }
        if not created:
            detail["deletion-type"] = "Permanently Deleted"
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Object Created" if created else "Object Deleted",
            "source": "aws.s3",
            "account": self.siblings.account if self.siblings is not None else "",
            "time": _iso(self.clock.now())[:-5] + "Z",
            "region": bucket.region,
            "resources": [f"arn:aws:s3:::{bucket.name}"],
            "detail": detail,
        }

    def _sequencer(self) -> str:
        return f"{int(self.clock.now() * 1e6):013X}{next(_sequence):06X}"

    def record(
        self, bucket: BucketRecord, event: str, key: str, size: int | None, etag: str | None, config_id: str
    ) -> dict[str, Any]:
        request_id, client = REQUEST.get()
        obj: dict[str, Any] = {"key": quote_plus(key, safe="/")}
        if size is not None:
            obj["size"] = size
        if etag is not None:
            obj["eTag"] = etag.strip('"')
        obj["sequencer"] = self._sequencer()
        return {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": bucket.region,
            "eventTime": _iso(self.clock.now()),
            "eventName": event[len("s3:") :],
            "userIdentity": {"principalId": PRINCIPAL},
            "requestParameters": {"sourceIPAddress": client or "127.0.0.1"},
            "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": request_id},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": config_id,
                "bucket": {
                    "name": bucket.name,
                    "ownerIdentity": {"principalId": PRINCIPAL.removeprefix("AWS:")},
                    "arn": f"arn:aws:s3:::{bucket.name}",
                },
                "object": obj,
            },
        }


def _iso(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def s3_may_invoke(statements: list[Mapping[str, Any]], bucket: str) -> bool:
    """Does a function policy with ``statements`` allow ``s3.amazonaws.com`` to invoke it
    for ``bucket`` (a ``SourceArn`` condition, when there is one, must match the bucket)?"""
    for statement in statements:
        principal = statement.get("Principal")
        service = principal.get("Service") if isinstance(principal, Mapping) else principal
        actions = statement.get("Action")
        actions = [actions] if isinstance(actions, str) else list(actions or [])
        if statement.get("Effect") != "Allow" or service not in ("s3.amazonaws.com", "*"):
            continue
        if not any(action in ("lambda:InvokeFunction", "lambda:*", "*") for action in actions):
            continue
        source = None
        for condition in (statement.get("Condition") or {}).values():
            if isinstance(condition, Mapping) and "AWS:SourceArn" in condition:
                source = condition["AWS:SourceArn"]
        if source is None or fnmatch.fnmatchcase(f"arn:aws:s3:::{bucket}", str(source)):
            return True
    return False
