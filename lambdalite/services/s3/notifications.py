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
import contextvars
import datetime as dt
import itertools
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus

import orjson

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
_sequence = itertools.count(1)


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

    def __init__(self, targets: Targets, store: ObjectStore, clock: Any) -> None:
        self.targets = targets
        self.store = store
        self.clock = clock
        self._draining = asyncio.Lock()

    async def flush(self) -> None:
        """Deliver what the outbox holds, oldest first (one drain at a time)."""
        async with self._draining:
            while batch := self.store.pending_notifications(100):
                for seq, arn, body in batch:
                    target = self.targets.find(arn)
                    if target is not None:
                        try:
                            await target.send(body, {})
                        except DeliveryError:
                            log.warning("s3 notification to %s dropped: the destination refused it", arn)
                    # A destination that went away after it was configured: AWS drops it too.
                    self.store.delivered(seq)

    async def configure(self, bucket: BucketRecord, config: dict[str, Any]) -> None:
        """Check every destination and send queues and topics ``s3:TestEvent``;
        raises InvalidArgument when a destination cannot be validated."""
        missing = [
            item[arn_name]
            for kind, arn_name in KINDS
            for item in config.get(kind) or []
            if self.targets.find(item.get(arn_name, "")) is None
        ]
        if missing:
            details = {}
            for number, arn in enumerate(missing, 1):
                details[f"ArgumentName{number}"] = arn
                details[f"ArgumentValue{number}"] = "The destination ARN does not exist"
            raise errors.S3Fault(
                "InvalidArgument",
                "Unable to validate the following destination configurations",
                400,
                **details,
            )
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
                if target is not None:
                    await target.send(test, {})

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
        return out

    def record(
        self, bucket: BucketRecord, event: str, key: str, size: int | None, etag: str | None, config_id: str
    ) -> dict[str, Any]:
        request_id, client = REQUEST.get()
        obj: dict[str, Any] = {"key": quote_plus(key, safe="/")}
        if size is not None:
            obj["size"] = size
        if etag is not None:
            obj["eTag"] = etag.strip('"')
        obj["sequencer"] = f"{int(self.clock.now() * 1e6):013X}{next(_sequence):06X}"
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
