"""The ``aws:sqs`` event a queue mapping sends its function, and how the function's
answer reports partial failures.

One record per message, in AWS's shape and key order::

    {"messageId", "receiptHandle", "body", "attributes", "messageAttributes",
     ["md5OfMessageAttributes",] "md5OfBody", "eventSource": "aws:sqs",
     "eventSourceARN", "awsRegion"}

``attributes`` are the system attributes as strings (ApproximateReceiveCount,
SentTimestamp, SenderId, ApproximateFirstReceiveTimestamp, and for FIFO queues
SequenceNumber, MessageGroupId, MessageDeduplicationId; AWSTraceHeader when sent);
``messageAttributes`` use lower-camel keys with binary values base64-encoded.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from lambdalite.services.sqs.md5 import md5_of_attributes, md5_of_body
from lambdalite.store.queues import StoredMessage


def sqs_record(
    message: StoredMessage, receipt_handle: str, source_arn: str, region: str, sender_id: str
) -> dict[str, Any]:
    attributes = {
        "ApproximateReceiveCount": str(message.receive_count),
        "SentTimestamp": str(int(message.sent_at * 1000)),
        "SenderId": sender_id,
        "ApproximateFirstReceiveTimestamp": str(int((message.first_receive or message.sent_at) * 1000)),
    }
    if message.sequence_number is not None:
        attributes["SequenceNumber"] = message.sequence_number
    if message.group_id is not None:
        attributes["MessageGroupId"] = message.group_id
    if message.dedup_id is not None:
        attributes["MessageDeduplicationId"] = message.dedup_id
    if message.system:
        trace = message.system.get("AWSTraceHeader")
        if trace is not None and trace.get("StringValue") is not None:
            attributes["AWSTraceHeader"] = trace["StringValue"]
    record: dict[str, Any] = {
        "messageId": message.message_id,
        "receiptHandle": receipt_handle,
        "body": message.body,
        "attributes": attributes,
        "messageAttributes": {name: _attribute(value) for name, value in (message.attributes or {}).items()},
    }
    if message.attributes:
        record["md5OfMessageAttributes"] = md5_of_attributes(message.attributes)
    record["md5OfBody"] = md5_of_body(message.body)
    record["eventSource"] = "aws:sqs"
    record["eventSourceARN"] = source_arn
    record["awsRegion"] = region
    return record


def _attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    shaped: dict[str, Any] = {}
    if value.get("StringValue") is not None:
        shaped["stringValue"] = value["StringValue"]
    if value.get("BinaryValue") is not None:
        shaped["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    shaped["stringListValues"] = list(value.get("StringListValues") or [])
    shaped["binaryListValues"] = [
        base64.b64encode(item).decode("ascii") for item in value.get("BinaryListValues") or []
    ]
    shaped["dataType"] = value.get("DataType", "String")
    return shaped


def failed_items(payload: bytes, message_ids: Sequence[str]) -> set[str] | None:
    """The message ids a ReportBatchItemFailures response names; None when the
    response makes the whole batch a failure.

    AWS's rules: ``batchItemFailures`` null or empty, or a response without it,
    is complete success; a response that is not JSON, an item without a valid
    ``itemIdentifier`` (missing, null, empty, not a string) or one that names a
    message outside the batch fails the whole batch."""
    if not payload.strip():
        return set()
    try:
        response = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(response, dict):
        return set()
    items = response.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        return None
    known = set(message_ids)
    failed: set[str] = set()
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or not identifier or identifier not in known:
            return None
        failed.add(identifier)
    return failed
