"""Messages as SQS checks them on the way in and shows them on the way out:
body characters, message attributes (names, types, values, size), the attribute
filters of ReceiveMessage and the ``Message`` shape it returns."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from lambdalite.services.sqs import errors
from lambdalite.services.sqs.md5 import md5_of_attributes, md5_of_body
from lambdalite.store.queues import StoredMessage

MAX_ATTRIBUTES = 10
_INVALID_BODY = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
_DATA_TYPE = re.compile(r"^(String|Number|Binary)(\.[A-Za-z0-9_.-]+)?$")
SYSTEM_NAMES = (
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SentTimestamp",
    "SenderId",
    "MessageDeduplicationId",
    "MessageGroupId",
    "SequenceNumber",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


def check_body(body: str) -> None:
    if not body:
        raise errors.missing_parameter("MessageBody")
    if _INVALID_BODY.search(body):
        raise errors.invalid_message_contents()


def check_attributes(attributes: Mapping[str, Mapping[str, Any]], *, system: bool = False) -> int:
    """Raise AWS's error for a bad message attribute; return their size in bytes
    (names, types and values count toward the message size)."""
    if len(attributes) > MAX_ATTRIBUTES:
        raise errors.invalid_parameter(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum "
            f"[{MAX_ATTRIBUTES}]."
        )
    size = 0
    for name, value in attributes.items():
        if system and name != "AWSTraceHeader":
            raise errors.invalid_parameter(f"Message system attribute name '{name}' is invalid.")
        lowered = name.lower()
        if (
            not _ATTRIBUTE_NAME.match(name)
            or lowered.startswith(("aws.", "amazon."))
            or name.startswith(".")
            or name.endswith(".")
            or ".." in name
        ):
            raise errors.invalid_parameter(
                f"Message attribute name '{name}' is invalid. Attribute name can contain A-Z, a-z, 0-9, "
                "underscore (_), hyphen (-), and period (.) characters."
            )
        data_type = value.get("DataType", "")
        if not _DATA_TYPE.match(data_type):
            raise errors.invalid_parameter(f"The type of message (user) attribute '{name}' is invalid.")
        if data_type.startswith("Binary"):
            payload = value.get("BinaryValue")
            if payload is None or len(payload) == 0:
                raise errors.invalid_parameter(
                    f"The message attribute '{name}' must contain non-empty message attribute value "
                    f"for message attribute type '{data_type}'."
                )
            size += len(payload)
        else:
            text = value.get("StringValue")
            if text is None or text == "":
                raise errors.invalid_parameter(
                    f"The message attribute '{name}' must contain non-empty message attribute value "
                    f"for message attribute type '{data_type}'."
                )
            if data_type.startswith("Number") and not _is_number(text):
                raise errors.invalid_parameter(
                    f"Can't cast the value of message (user) attribute '{name}' to a number."
                )
            if _INVALID_BODY.search(text):
                raise errors.invalid_parameter(
                    f"Message (user) attribute '{name}' value contains invalid characters."
                )
            size += len(text.encode())
        size += len(name.encode()) + len(data_type.encode())
    return size


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def clean_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The members SQS keeps of each attribute (the value its type uses, and the type)."""
    kept: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        data_type = value["DataType"]
        if data_type.startswith("Binary"):
            kept[name] = {"BinaryValue": bytes(value["BinaryValue"]), "DataType": data_type}
        else:
            kept[name] = {"StringValue": value["StringValue"], "DataType": data_type}
    return kept


def select_attributes(attributes: Mapping[str, Any] | None, names: Iterable[str]) -> dict[str, Any]:
    """The message attributes ReceiveMessage's ``MessageAttributeNames`` ask for:
    ``All``, ``.*``, a prefix ``foo.*`` or exact names."""
    if not attributes:
        return {}
    wanted = list(names)
    if not wanted:
        return {}
    if "All" in wanted or ".*" in wanted:
        return dict(attributes)
    prefixes = tuple(name[:-1] for name in wanted if name.endswith(".*"))
    exact = set(wanted)
    return {
        name: value
        for name, value in attributes.items()
        if name in exact or (prefixes and name.startswith(prefixes))
    }


def to_wire(
    message: StoredMessage,
    receipt_handle: str,
    system_names: set[str],
    attribute_names: Iterable[str],
    sender_id: str,
) -> dict[str, Any]:
    """The ``Message`` shape of a received message."""
    result: dict[str, Any] = {
        "MessageId": message.message_id,
        "ReceiptHandle": receipt_handle,
        "MD5OfBody": md5_of_body(message.body),
        "Body": message.body,
    }
    if system_names:
        every = "All" in system_names
        values = {
            "ApproximateReceiveCount": str(message.receive_count),
            "ApproximateFirstReceiveTimestamp": str(int((message.first_receive or message.sent_at) * 1000)),
            "SentTimestamp": str(int(message.sent_at * 1000)),
            "SenderId": sender_id,
            "MessageDeduplicationId": message.dedup_id,
            "MessageGroupId": message.group_id,
            "SequenceNumber": message.sequence_number,
        }
        if message.system:
            for name, value in message.system.items():
                values[name] = value.get("StringValue")
        result["Attributes"] = {
            name: value
            for name, value in values.items()
            if value is not None and (every or name in system_names)
        }
    selected = select_attributes(message.attributes, attribute_names)
    if selected:
        result["MessageAttributes"] = selected
        result["MD5OfMessageAttributes"] = md5_of_attributes(selected)
    return result
