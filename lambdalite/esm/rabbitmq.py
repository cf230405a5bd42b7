"""RabbitMQ queues as an event source, in Amazon MQ's shape.

The mapping names an Amazon MQ broker ARN (``arn:aws:mq:REGION:ACCOUNT:broker:NAME:ID``;
lambdalite's server option ``--rabbitmq-url``/``LAMBDALITE_RABBITMQ_URL``, by default
``amqp://127.0.0.1:5672``, says which RabbitMQ it is), one queue (``Queues``), the
virtual host (SourceAccessConfigurations VIRTUAL_HOST, ``/`` by default) and the
credentials (BASIC_AUTH: a Secrets Manager secret whose SecretString is
``{"username": ..., "password": ...}``).

Delivery: the poller consumes with manual acknowledgement and a prefetch of
BatchSize; it gathers up to BatchSize messages (waiting up to the batching window
after the first) and invokes the function with one ``aws:rmq`` event
(``rmqMessagesByQueue`` keyed ``<queue>::<vhost>``). After a success every
message is acknowledged; after a failure every message is rejected with requeue,
so the broker delivers it again (``redelivered``: true) until it expires (its TTL
or the queue's), as on AWS; the next attempt waits a growing delay (1 s doubling to
30 s) so a failing function is not hammered. A broker that is down, a missing
queue or an unreadable secret is reported in LastProcessingResult and retried
with the same growing delay.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import aiormq
import orjson
from aiormq.abc import DeliveredMessage

from lambdalite.clock import Clock
from lambdalite.control.registry import FunctionRegistry
from lambdalite.dataplane.invoker import Invoker
from lambdalite.dataplane.limiter import InvocationKind
from lambdalite.errors import InvalidParameterValue, LambdaError
from lambdalite.esm.model import EventSourceMapping
from lambdalite.esm.sqs import Backoff
from lambdalite.models import FunctionConfig
from lambdalite.protocol.errors import ServiceFault
from lambdalite.services.secretsmanager.service import SecretsService

log = logging.getLogger("lambdalite.esm")

EVENT_SOURCE = "aws:rmq"
DEFAULT_VHOST = "/"
READ_WAIT_S = 1.0
OK = "OK"
ERRORS: tuple[type[BaseException], ...] = (aiormq.exceptions.AMQPError, OSError, asyncio.TimeoutError)


def broker_of(arn: str, region: str, account: str) -> str | None:
    """The broker name of an Amazon MQ broker ARN of this region and account, else None."""
    parts = arn.split(":")
    if len(parts) != 8 or parts[:3] != ["arn", "aws", "mq"] or (parts[3], parts[4]) != (region, account):
        return None
    return parts[6] if parts[5] == "broker" and parts[6] and parts[7] else None


def access(mapping: EventSourceMapping, kind: str) -> str | None:
    """The URI of the mapping's SourceAccessConfiguration of ``kind``, else None."""
    return next((uri for typ, uri in mapping.source_access or () if typ == kind), None)


class RabbitSources:
    """The ``mq`` source check: a broker ARN of ours, one queue, a BASIC_AUTH secret."""

    def __init__(self, region: str, account: str) -> None:
        self._region = region
        self._account = account

    def __call__(self, source_arn: str, function: FunctionConfig, mapping: EventSourceMapping) -> None:
        if broker_of(source_arn, self._region, self._account) is None:
            raise InvalidParameterValue(f"Broker not found: {source_arn}")
        if not mapping.queues or len(mapping.queues) != 1:
            raise InvalidParameterValue("Queues must contain exactly one queue name.")
        if access(mapping, "BASIC_AUTH") is None:
            raise InvalidParameterValue("SourceAccessConfigurations must contain a BASIC_AUTH secret.")


def basic_properties(message: DeliveredMessage) -> dict[str, Any]:
    """A message's properties as Amazon MQ's event gives them: string headers as
    ``{"bytes": [...]}``, the timestamp in Java's medium date format (UTC)."""
    props = message.header.properties
    stamp = props.timestamp
    return {
        "contentType": props.content_type,
        "contentEncoding": props.content_encoding,
        "headers": None if props.headers is None else {k: _header(v) for k, v in props.headers.items()},
        "deliveryMode": props.delivery_mode,
        "priority": props.priority,
        "correlationId": props.correlation_id,
        "replyTo": props.reply_to,
        "expiration": props.expiration,
        "messageId": props.message_id,
        "timestamp": _java_date(stamp) if isinstance(stamp, datetime) else None,
        "type": props.message_type,
        "userId": props.user_id,
        "appId": props.app_id,
        "clusterId": props.cluster_id or None,
        "bodySize": len(message.body),
    }


def _header(value: Any) -> Any:
    if isinstance(value, str):
        return {"bytes": list(value.encode("utf-8"))}
    if isinstance(value, bytes | bytearray):
        return {"bytes": list(value)}
    if isinstance(value, dict):
        return {k: _header(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_header(v) for v in value]
    if isinstance(value, datetime):
        return _java_date(value)
    return value


def _java_date(stamp: datetime) -> str:
    hour = stamp.hour % 12 or 12
    return f"{stamp:%b} {stamp.day}, {stamp.year}, {hour}:{stamp:%M:%S} {'AM' if stamp.hour < 12 else 'PM'}"


def rmq_event(source_arn: str, queue: str, vhost: str, messages: list[DeliveredMessage]) -> dict[str, Any]:
    return {
        "eventSource": EVENT_SOURCE,
        "eventSourceArn": source_arn,
        "rmqMessagesByQueue": {
            f"{queue}::{vhost}": [
                {
                    "basicProperties": basic_properties(m),
                    "redelivered": bool(m.redelivered),
                    "data": base64.b64encode(m.body).decode("ascii"),
                }
                for m in messages
            ]
        },
    }


def credentials(secrets: SecretsService | None, secret_arn: str) -> tuple[str, str]:
    """(username, password) from a BASIC_AUTH secret; ValueError when unusable."""
    if secrets is None:
        raise ValueError("no Secrets Manager is served")
    try:
        document = orjson.loads(secrets.secret_string(secret_arn))
    except ServiceFault as exc:
        raise ValueError(f"{exc.fault_code}: {exc}") from exc
    except orjson.JSONDecodeError as exc:
        raise ValueError("the BASIC_AUTH secret is not JSON") from exc
    if not isinstance(document, dict) or not {"username", "password"} <= set(document):
        raise ValueError("the BASIC_AUTH secret lacks username or password")
    return str(document["username"]), str(document["password"])


def broker_url(base: str, username: str, password: str, vhost: str) -> str:
    parts = urlsplit(base)
    host = parts.hostname or "127.0.0.1"
    login = f"{quote(username, safe='')}:{quote(password, safe='')}"
    return f"amqp://{login}@{host}:{parts.port or 5672}/{quote(vhost, safe='')}"


class RabbitPoller:
    """Feeds one enabled RabbitMQ mapping's function until cancelled."""

    def __init__(
        self,
        mapping: EventSourceMapping,
        url: str,
        secrets: SecretsService | None,
        functions: FunctionRegistry,
        invoker: Invoker,
        report: Callable[[str | None], None],
        clock: Clock,
    ) -> None:
        self.mapping = mapping
        self._url = url
        self._secrets = secrets
        self._functions = functions
        self._invoker = invoker
        self._report = report
        self._clock = clock
        self._backoff = Backoff()
        self._failures = Backoff()
        self._queue = (mapping.queues or ("",))[0]
        self._vhost = access(mapping, "VIRTUAL_HOST") or DEFAULT_VHOST

    async def run(self) -> None:
        while True:
            try:
                user, password = credentials(self._secrets, access(self.mapping, "BASIC_AUTH") or "")
            except ValueError as exc:
                await self._down(f"PROBLEM: BASIC_AUTH secret: {exc}")
                continue
            try:
                connection = await asyncio.wait_for(
                    aiormq.connect(broker_url(self._url, user, password, self._vhost)), 5
                )
            except ERRORS as exc:
                await self._down(f"PROBLEM: Connection to RabbitMQ failed: {exc!r}")
                continue
            try:
                await self._consume(connection)
            except ERRORS as exc:
                await self._down(f"PROBLEM: Connection to RabbitMQ failed: {exc!r}")
            finally:
                if not connection.is_closed:
                    await connection.close()

    async def drain(self) -> None:
        """Nothing runs beside the poll loop: cancelling it ends everything (unacknowledged
        messages return to the queue when the connection closes)."""

    def cancel_batches(self) -> None:
        pass

    async def _down(self, reason: str) -> None:
        log.warning("mapping %s: %s", self.mapping.uuid, reason)
        self._report(reason)
        await self._clock.sleep_until(self._clock.now() + self._backoff.next())

    async def _consume(self, connection: aiormq.abc.AbstractConnection) -> None:
        channel = await connection.channel()
        await channel.basic_qos(prefetch_count=self.mapping.batch_size)
        await channel.queue_declare(self._queue, passive=True)
        inbox: asyncio.Queue[DeliveredMessage] = asyncio.Queue()

        async def take(message: DeliveredMessage) -> None:
            await inbox.put(message)

        await channel.basic_consume(self._queue, take, no_ack=False)
        self._backoff.reset()
        self._report(OK)
        while True:
            batch = await self._collect(inbox, connection)
            if batch:
                await self._deliver(channel, batch)

    async def _collect(
        self, inbox: asyncio.Queue[DeliveredMessage], connection: aiormq.abc.AbstractConnection
    ) -> list[DeliveredMessage]:
        try:
            first = await asyncio.wait_for(inbox.get(), READ_WAIT_S)
        except TimeoutError:
            if connection.is_closed:
                raise ConnectionError("the broker closed the connection") from None
            return []
        batch = [first]
        deadline = self._clock.now() + self.mapping.window_s
        while len(batch) < self.mapping.batch_size:
            if not inbox.empty():
                batch.append(inbox.get_nowait())
                continue
            left = deadline - self._clock.now()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(inbox.get(), left))
            except TimeoutError:
                break
        return batch

    async def _deliver(self, channel: aiormq.abc.AbstractChannel, batch: list[DeliveredMessage]) -> None:
        ok = await self._invoke(batch)
        last = batch[-1].delivery_tag or 0
        if ok:
            self._failures.reset()
            await channel.basic_ack(last, multiple=True)
            self._report(OK)
            return
        await self._clock.sleep_until(self._clock.now() + self._failures.next())
        await channel.basic_nack(last, multiple=True, requeue=True)

    async def _invoke(self, batch: list[DeliveredMessage]) -> bool:
        mapping = self.mapping
        try:
            function = self._functions.resolve(mapping.function_name, mapping.qualifier)
        except LambdaError:
            self._report("PROBLEM: Function not found.")
            return False
        payload = orjson.dumps(rmq_event(mapping.source_arn, self._queue, self._vhost, batch))
        try:
            result = await self._invoker.invoke(
                function, payload, invoked_arn=mapping.function_arn, kind=InvocationKind.ASYNC
            )
        except LambdaError as exc:
            self._report(f"PROBLEM: {exc}")
            return False
        if result.function_error is not None:
            self._report("PROBLEM: Function call failed")
            return False
        return True


class RabbitMq:
    """What the poller manager needs to start RabbitMQ pollers."""

    def __init__(self, url: str, secrets: SecretsService | None) -> None:
        self.url = url
        self.secrets = secrets

    def poller(
        self,
        mapping: EventSourceMapping,
        functions: FunctionRegistry,
        invoker: Invoker,
        report: Callable[[str | None], None],
        clock: Clock,
    ) -> RabbitPoller:
        return RabbitPoller(mapping, self.url, self.secrets, functions, invoker, report, clock)
