"""NATS JetStream streams as a stream source (Kinesis's semantics, ``esm.streams``).

ARN scheme (lambdalite's own; the server's ``LAMBDALITE_NATS_URL``, by default
``nats://127.0.0.1:4222``, says which NATS)::

    arn:aws:nats:<region>:<account>:stream/<JetStream stream name>

One JetStream stream is one shard: every message of every subject of the stream
reaches the function in stream-sequence order, one batch at a time. A message's
data is the record's data, its subject the partition key, its stream sequence the
sequence number, its JetStream timestamp the arrival time. The poller reads with
an ephemeral consumer (no acknowledgements; it goes away when the poller does)
that starts after the mapping's checkpoint in ``lambdalite.db``, or at the
StartingPosition: TRIM_HORIZON from the first message, LATEST from messages
stored after the mapping was created, AT_TIMESTAMP from StartingPositionTimestamp.
"""

from __future__ import annotations

from datetime import UTC, datetime

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import Error as JetStreamError

from lambdalite.errors import InvalidParameterValue
from lambdalite.esm.model import EventSourceMapping
from lambdalite.esm.stream_poller import Broker, StreamReader
from lambdalite.esm.streams import StreamRecord
from lambdalite.events.targets import Targets
from lambdalite.models import FunctionConfig

EVENT_SOURCE = "lambdalite:nats"
INACTIVE_S = 60.0
"""An ephemeral consumer nobody reads from for this long is removed by the server."""


def stream_name(arn: str, region: str, account: str) -> str | None:
    """The JetStream stream of a ``nats`` source ARN of this region and account, else None."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "nats" or (parts[3], parts[4]) != (region, account):
        return None
    kind, _, name = parts[5].partition("/")
    return name if kind == "stream" and name and "/" not in name else None


class NatsSources:
    """The ``nats`` source check: the ARN is one of ours; an OnFailure destination exists."""

    def __init__(self, region: str, account: str, targets: Targets) -> None:
        self._region = region
        self._account = account
        self._targets = targets

    def __call__(self, source_arn: str, function: FunctionConfig, mapping: EventSourceMapping) -> None:
        if stream_name(source_arn, self._region, self._account) is None:
            raise InvalidParameterValue(f"Stream not found: {source_arn}")
        if mapping.on_failure is not None and self._targets.find(mapping.on_failure) is None:
            raise InvalidParameterValue(f"The destination ARN {mapping.on_failure} is invalid.")


def consumer_config(mapping: EventSourceMapping, checkpoint: str | None) -> ConsumerConfig:
    """An ephemeral, unacknowledged consumer positioned after ``checkpoint`` or at the
    mapping's StartingPosition."""
    config = ConsumerConfig(ack_policy=AckPolicy.NONE, inactive_threshold=INACTIVE_S)
    if checkpoint is not None:
        config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = int(checkpoint) + 1
    elif mapping.starting_position == "TRIM_HORIZON" or mapping.starting_timestamp is None:
        config.deliver_policy = DeliverPolicy.ALL
    else:
        config.deliver_policy = DeliverPolicy.BY_START_TIME
        config.opt_start_time = datetime.fromtimestamp(mapping.starting_timestamp, UTC)
    return config


class NatsReader:
    """A ``StreamReader`` over one ephemeral pull consumer."""

    def __init__(self, connection: Client, subscription: object) -> None:
        self._connection = connection
        self._subscription = subscription

    async def read(self, count: int, wait_s: float) -> list[StreamRecord]:
        try:
            messages = await self._subscription.fetch(count, timeout=max(0.001, wait_s))  # type: ignore[attr-defined]
        except NatsTimeout:
            return []
        return [
            StreamRecord(
                str(m.metadata.sequence.stream),
                m.subject,
                m.data,
                m.metadata.timestamp.timestamp(),
            )
            for m in messages
        ]

    async def close(self) -> None:
        await self._connection.close()


def nats_broker(url: str, region: str, account: str) -> Broker:
    """NATS JetStream at ``url`` for ``StreamPoller``."""

    async def open_reader(mapping: EventSourceMapping, checkpoint: str | None) -> StreamReader:
        connection = await nats.connect(
            url, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False
        )
        try:
            js = connection.jetstream()
            name = stream_name(mapping.source_arn, region, account) or ""
            consumer = await js.add_consumer(name, consumer_config(mapping, checkpoint))
            subscription = await js.pull_subscribe_bind(consumer.name, name)
        except BaseException:
            await connection.close()
            raise
        return NatsReader(connection, subscription)

    return Broker("NATS", EVENT_SOURCE, open_reader, (NatsError, JetStreamError, OSError))
