"""What a subscriber receives, and how it gets there.

A ``Notification`` is one published message as every subscriber sees it. It is
written out three ways, as AWS does:

- a Lambda function gets the ``aws:sns`` record (``{"Records": [{"EventSource":
  "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": ..., "Sns": {...}}]}``,
  ``Subject`` null when there is none, ``MessageAttributes`` always present as
  ``{"name": {"Type": ..., "Value": ...}}``, ``SigningCertUrl``/``UnsubscribeUrl``)
  and is invoked asynchronously through the durable event queue, so retries,
  destinations and dead-letter queues apply;
- an SQS queue gets the notification envelope as the message body (``Subject`` and
  ``MessageAttributes`` only when there are some, ``SigningCertURL``/``UnsubscribeURL``),
  or with ``RawMessageDelivery`` the message itself, its attributes as the SQS
  message's attributes;
- an HTTP(S) endpoint gets the envelope as a POST body with AWS's
  ``x-amz-sns-*`` headers (and, once, the ``SubscriptionConfirmation``); a
  connection failure or an error status is retried as AWS's default delivery
  policy does (3 retries, 20 s apart); with a ``HttpDeliveryStore`` each delivery
  is stored before its first POST and after each failure (attempts made, next
  time), so ``resume()`` at start carries on the retries a restart interrupted.

Signatures: lambdalite has no AWS signing certificate, so ``Signature`` is an
HMAC-SHA256 of AWS's string-to-sign under this node's key (stable per process),
and ``SigningCertURL`` points at the node. Code that verifies SNS signatures
against AWS's certificate will refuse it; nothing else reads it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from lambdalite.clock import Clock, SystemClock
from lambdalite.events.targets import AcceptEvent, function_target_ref
from lambdalite.protocol.front import Call, calling
from lambdalite.store.topics import HttpDelivery, HttpDeliveryStore

log = logging.getLogger("lambdalite.sns")

_KEY = secrets.token_bytes(32)
HTTP_TIMEOUT_S = 15.0
HTTP_RETRY_DELAYS_S = (20.0, 20.0, 20.0)


@dataclass(frozen=True, slots=True)
class Notification:
    message_id: str
    topic_arn: str
    message: str
    subject: str | None
    attributes: Mapping[str, Mapping[str, Any]]
    """As published: ``{"name": {"DataType": ..., "StringValue"|"BinaryValue": ...}}``."""
    timestamp: float
    group_id: str | None = None
    dedup_id: str | None = None
    sequence_number: str | None = None


def iso_time(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _attribute_view(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    view: dict[str, dict[str, str]] = {}
    for name, attribute in attributes.items():
        data_type = str(attribute.get("DataType", "String"))
        if "BinaryValue" in attribute and attribute["BinaryValue"] is not None:
            raw = attribute["BinaryValue"]
            value = base64.b64encode(raw if isinstance(raw, bytes) else str(raw).encode()).decode()
        else:
            value = str(attribute.get("StringValue", ""))
        view[name] = {"Type": data_type, "Value": value}
    return view


def _signature(fields: Mapping[str, Any]) -> str:
    order = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
    text = "".join(f"{key}\n{fields[key]}\n" for key in order if fields.get(key) is not None)
    return base64.b64encode(hmac.new(_KEY, text.encode(), hashlib.sha256).digest()).decode()


class Urls(Protocol):
    def signing_cert_url(self) -> str: ...

    def unsubscribe_url(self, subscription_arn: str) -> str: ...


def envelope(note: Notification, subscription_arn: str, urls: Urls) -> dict[str, Any]:
    """The JSON notification an SQS queue or an HTTP endpoint receives."""
    body: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": note.message_id,
        "TopicArn": note.topic_arn,
    }
    if note.subject is not None:
        body["Subject"] = note.subject
    body["Message"] = note.message
    body["Timestamp"] = iso_time(note.timestamp)
    if note.sequence_number is not None:
        body["SequenceNumber"] = note.sequence_number
    body["SignatureVersion"] = "1"
    body["Signature"] = _signature(body)
    body["SigningCertURL"] = urls.signing_cert_url()
    body["UnsubscribeURL"] = urls.unsubscribe_url(subscription_arn)
    if note.attributes:
        body["MessageAttributes"] = _attribute_view(note.attributes)
    return body


def lambda_record(note: Notification, subscription_arn: str, urls: Urls) -> bytes:
    """The event a Lambda subscriber is invoked with."""
    sns: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": note.message_id,
        "TopicArn": note.topic_arn,
        "Subject": note.subject,
        "Message": note.message,
        "Timestamp": iso_time(note.timestamp),
        "SignatureVersion": "1",
    }
    sns["Signature"] = _signature(sns)
    sns["SigningCertUrl"] = urls.signing_cert_url()
    sns["UnsubscribeUrl"] = urls.unsubscribe_url(subscription_arn)
    sns["MessageAttributes"] = _attribute_view(note.attributes)
    record = {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": sns,
    }
    return orjson.dumps({"Records": [record]})


class QueueSender(Protocol):
    async def send_message(self, request: dict[str, Any]) -> dict[str, Any]: ...


class Deliverer:
    """Sends one notification to one subscriber; never raises (a failed delivery is
    logged: SNS has no caller to tell)."""

    def __init__(
        self,
        region: str,
        account: str,
        accept: AcceptEvent | None,
        queues: Callable[[], QueueSender | None],
        host: Callable[[], str],
        clock: Clock | None = None,
        http_retry_delays: tuple[float, ...] = HTTP_RETRY_DELAYS_S,
        store: HttpDeliveryStore | None = None,
    ) -> None:
        """``http_retry_delays``: the waits before each retry of a failed HTTP(S)
        delivery (AWS's default delivery policy: 3 retries, 20 s apart). ``store``:
        where HTTP(S) deliveries wait for their retries (None: in memory only)."""
        self._store = store
        self._clock = clock or SystemClock()
        self._http_retry_delays = http_retry_delays
        self._region = region
        self._account = account
        self._accept = accept
        self._queues = queues
        self._host = host
        self._http_tasks: set[asyncio.Task[None]] = set()

    async def to_lambda(self, endpoint: str, payload: bytes) -> None:
        ref = function_target_ref(endpoint, self._region, self._account)
        if ref is None or self._accept is None:
            log.warning("sns: cannot deliver to %s: not a function of this node", endpoint)
            return
        try:
            await self._accept(ref[0], ref[1], payload)
        except Exception as exc:
            log.warning("sns: cannot invoke %s: %s", endpoint, exc)

    async def to_queue(self, endpoint: str, request: dict[str, Any]) -> None:
        queues = self._queues()
        prefix = f"arn:aws:sqs:{self._region}:{self._account}:"
        if queues is None or not endpoint.startswith(prefix):
            log.warning("sns: cannot deliver to %s: not a queue of this node", endpoint)
            return
        request["QueueUrl"] = endpoint[len(prefix) :]
        try:
            with calling(Call("SendMessage", "json", self._host(), str(uuid.uuid4()))):
                await queues.send_message(request)
        except Exception as exc:
            log.warning("sns: cannot send to %s: %s", endpoint, exc)

    def to_http(self, endpoint: str, body: bytes, headers: Mapping[str, str]) -> None:
        """POST ``body`` in the background (SNS answers Publish without waiting for it)."""
        delivery = HttpDelivery(
            str(uuid.uuid4()), endpoint, body.decode("utf-8", "replace"), dict(headers), 0, self._clock.now()
        )
        if self._store is not None:
            self._store.put_http_delivery(delivery)
        self._spawn(delivery)

    def resume(self) -> None:
        """Carry on the stored HTTP(S) deliveries a restart interrupted (at start)."""
        if self._store is None:
            return
        for delivery in self._store.http_deliveries():
            log.warning(
                "sns: resuming the delivery to %s after %d attempts", delivery.endpoint, delivery.attempts
            )
            self._spawn(delivery)

    def _spawn(self, delivery: HttpDelivery) -> None:
        task = asyncio.ensure_future(self._post(delivery))
        self._http_tasks.add(task)
        task.add_done_callback(self._http_tasks.discard)

    async def _post(self, delivery: HttpDelivery) -> None:
        request = urllib.request.Request(
            delivery.endpoint,
            data=delivery.body.encode(),
            method="POST",
            headers={"Content-Type": "text/plain; charset=UTF-8", **delivery.headers},
        )
        delays = (0.0, *self._http_retry_delays)
        while delivery.attempts < len(delays):
            wait = delivery.due_at - self._clock.now()
            if wait > 0:
                await self._clock.sleep(wait)
            try:
                await asyncio.to_thread(_send, request)
                self._done(delivery)
                return
            except (OSError, urllib.error.URLError) as exc:
                # An HTTP error status is a failed delivery too (HTTPError is a URLError).
                delivery.attempts += 1
                log.warning(
                    "sns: POST to %s failed (attempt %d): %s", delivery.endpoint, delivery.attempts, exc
                )
            if delivery.attempts < len(delays):
                delivery.due_at = self._clock.now() + delays[delivery.attempts]
                if self._store is not None:
                    self._store.put_http_delivery(delivery)
        log.warning("sns: gave up delivering to %s after %d attempts", delivery.endpoint, delivery.attempts)
        self._done(delivery)

    def _done(self, delivery: HttpDelivery) -> None:
        if self._store is not None:
            self._store.delete_http_delivery(delivery.id)

    async def close(self) -> None:
        for task in list(self._http_tasks):
            task.cancel()


def _send(request: urllib.request.Request) -> None:
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as answer:
        answer.read()


def sqs_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """SNS message attributes as SQS message attributes (raw delivery)."""
    out: dict[str, dict[str, Any]] = {}
    for name, attribute in attributes.items():
        value = {"DataType": attribute.get("DataType", "String")}
        if attribute.get("BinaryValue") is not None:
            value["BinaryValue"] = attribute["BinaryValue"]
        else:
            value["StringValue"] = attribute.get("StringValue", "")
        out[name] = value
    return out
