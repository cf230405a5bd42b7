"""A bucket of this node's object store as an OnFailure destination of asynchronous
invocations, as on AWS (buckets take failure records only).

Each record becomes one JSON object under AWS's documented key,
``aws/lambda/async/<function-name>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<uuid>`` (UTC, the
time the record is written), stored through the object store's own PutObject so
it is as durable as an upload and raises the bucket's notifications like one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

import orjson

from lambdalite.errors import InvalidParameterValue
from lambdalite.events.targets import Arn, Attributes, DeliveryError, Target, config_text
from lambdalite.protocol.errors import ServiceFault
from lambdalite.services.s3.payload import Payload

__all__ = ["BucketTarget", "bucket_target_kind", "check_on_failure_only", "record_key"]


class ObjectWriter(Protocol):
    """What a bucket target needs of the S3 service."""

    def bucket(self, name: str) -> Any:
        """The bucket's record; a ServiceFault when there is no such bucket."""
        ...

    async def put_object(self, request: dict[str, Any]) -> dict[str, Any]: ...


def bucket_name(arn: str) -> str | None:
    """The bucket of an S3 bucket ARN (``arn:aws:s3:::NAME``), None for anything else
    (an object ARN ``NAME/KEY`` is not a destination)."""
    parsed = Arn.parse(arn)
    if parsed is None or parsed.service != "s3" or parsed.region or parsed.account:
        return None
    if not parsed.resource or "/" in parsed.resource:
        return None
    return parsed.resource


def record_key(function_name: str, now: float, unique: str) -> str:
    """AWS's key for a failure record written at ``now`` (epoch seconds, UTC)."""
    moment = time.gmtime(now)
    day = time.strftime("%Y/%m/%d", moment)
    stamp = time.strftime("%Y-%m-%dT%H.%M.%S", moment)
    return f"aws/lambda/async/{function_name}/{day}/{stamp}-{unique}"


def _function_name(record: Any) -> str:
    """The function's name from a record's ``requestContext.functionArn``
    (``arn:...:function:NAME[:QUALIFIER]``)."""
    context = record.get("requestContext", {}) if isinstance(record, dict) else {}
    parts = str(context.get("functionArn", "")).split(":")
    return parts[6] if len(parts) >= 7 and parts[5] == "function" else "unknown"


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


class BucketTarget:
    """One bucket: ``send`` stores the invocation record as a new object."""

    def __init__(self, arn: str, bucket: str, objects: ObjectWriter, now: Callable[[], float]) -> None:
        self.arn = arn
        self._bucket = bucket
        self._objects = objects
        self._now = now

    async def send(self, body: bytes, attributes: Attributes) -> None:
        del attributes  # an object has no message attributes
        try:
            record = orjson.loads(body)
        except orjson.JSONDecodeError:
            record = None
        key = record_key(_function_name(record), self._now(), str(uuid.uuid4()))
        request = {
            "Bucket": self._bucket,
            "Key": key,
            "Body": Payload(_once(body), False),
            "ContentType": "application/json",
        }
        try:
            await self._objects.put_object(request)
        except (ServiceFault, OSError) as exc:
            raise DeliveryError(f"cannot write to {self.arn}: {exc}") from exc


def bucket_target_kind(objects: Callable[[], ObjectWriter | None], now: Callable[[], float]) -> Any:
    """The ``s3`` kind for ``Targets.register``: a bucket ARN whose bucket exists now."""

    def kind(arn: str) -> Target | None:
        name = bucket_name(arn)
        writer = objects()
        if name is None or writer is None:
            return None
        try:
            writer.bucket(name)
        except ServiceFault:
            return None
        return BucketTarget(arn, name, writer, now)

    return kind


def check_on_failure_only(destination_config: Mapping[str, Any] | None) -> None:
    """Refuse, with AWS's InvalidParameterValueException, a bucket as the OnSuccess
    destination: AWS writes only failure records to buckets."""
    success = (destination_config or {}).get("OnSuccess")
    arn = success.get("Destination") if isinstance(success, Mapping) else None
    if isinstance(arn, str) and (parsed := Arn.parse(arn)) is not None and parsed.service == "s3":
        raise InvalidParameterValue(
            f"The provided destination config {config_text(destination_config)} is invalid."
        )
