"""One queue as the service sees it (its record, settings parsed once) and the receipt
handles of its messages."""

from __future__ import annotations

import base64
import binascii
import os

from lambdalite.services.sqs import attributes as attrs
from lambdalite.services.sqs import errors
from lambdalite.store.queues import QueueRecord, StoredMessage


class Queue:
    """A queue's record with its settings parsed once."""

    __slots__ = ("delay", "fifo", "max_size", "record", "redrive", "retention", "visibility", "wait")

    def __init__(self, record: QueueRecord, region: str, account: str) -> None:
        self.record = record
        a = record.attributes
        self.fifo = a.get("FifoQueue") == "true"
        self.delay = int(a.get("DelaySeconds", "0"))
        self.max_size = int(a.get("MaximumMessageSize", str(attrs.MAX_MESSAGE_SIZE)))
        self.retention = int(a.get("MessageRetentionPeriod", "345600"))
        self.visibility = int(a.get("VisibilityTimeout", "30"))
        self.wait = int(a.get("ReceiveMessageWaitTimeSeconds", "0"))
        self.redrive = attrs.parse_redrive(a.get("RedrivePolicy", ""), region, account)

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def content_dedup(self) -> bool:
        return self.record.attributes.get("ContentBasedDeduplication") == "true"


def receipt_handle(message: StoredMessage) -> str:
    """The handle of a received message: its queue, its place and this receive's token."""
    raw = f"{message.queue} {message.seq} {message.receipt}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def parse_receipt(queue: Queue, handle: str) -> tuple[int, str]:
    """(the message's place, the receive's token) of a handle of ``queue``; raises
    ReceiptHandleIsInvalid for anything else."""
    try:
        name, seq, token = base64.urlsafe_b64decode(handle.encode("ascii")).decode().split(" ")
        number = int(seq)
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise errors.receipt_handle_invalid(handle) from exc
    if name != queue.name:
        raise errors.receipt_handle_invalid(handle)
    return number, token


def message_id() -> str:
    """A random (version 4) UUID in its text form; ``str(uuid.uuid4())`` costs three
    times as much, and a batch makes ten."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
