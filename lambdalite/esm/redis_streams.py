"""Redis Streams as a stream source (Kinesis's semantics, ``esm.streams``).

ARN scheme (lambdalite's own; the server's ``--redis-url``, by default
``redis://127.0.0.1:6379/0``, says which Redis)::

    arn:aws:redis:<region>:<account>:stream/<stream key>

One stream key is one shard: its entries reach the function in ID order (per
partition key when ParallelizationFactor runs several batches at once). An entry's ``data`` field is the
record's data (else the JSON object of all its fields), its ``partitionKey`` field
the partition key; the entry ID is the sequence number, and the arrival time is
the ID's milliseconds. StartingPosition: TRIM_HORIZON reads from the first entry,
LATEST from the entries added after the mapping was created, AT_TIMESTAMP from
StartingPositionTimestamp (both by entry-ID time). After each batch the
mapping's checkpoint (the last entry ID done) is written to ``lambdalite.db``;
a restarted server goes on from it.

Redis being down is reported in LastProcessingResult and retried with a growing
delay; the other mappings go on.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from lambdalite.errors import InvalidParameterValue
from lambdalite.esm.model import EventSourceMapping
from lambdalite.esm.stream_poller import Broker, StreamReader
from lambdalite.esm.streams import StreamRecord
from lambdalite.events.targets import Targets
from lambdalite.models import FunctionConfig

log = logging.getLogger("lambdalite.esm")

EVENT_SOURCE = "lambdalite:redis"


def stream_key(arn: str, region: str, account: str) -> str | None:
    """The stream key of a ``redis`` source ARN of this region and account, else None."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "redis" or (parts[3], parts[4]) != (region, account):
        return None
    kind, _, key = parts[5].partition("/")
    return key if kind == "stream" and key else None


class RedisSources:
    """The ``redis`` source check (``MappingRegistry.source_check``): the ARN is
    one of ours and an OnFailure destination is one lambdalite delivers to."""

    def __init__(self, region: str, account: str, targets: Targets) -> None:
        self._region = region
        self._account = account
        self._targets = targets

    def __call__(self, source_arn: str, function: FunctionConfig, mapping: EventSourceMapping) -> None:
        if stream_key(source_arn, self._region, self._account) is None:
            raise InvalidParameterValue(f"Stream not found: {source_arn}")
        if mapping.on_failure is not None and self._targets.find(mapping.on_failure) is None:
            raise InvalidParameterValue(f"The destination ARN {mapping.on_failure} is invalid.")


def start_id(mapping: EventSourceMapping) -> str:
    """The entry ID reading starts after, for a mapping without a checkpoint."""
    if mapping.starting_position == "TRIM_HORIZON" or mapping.starting_timestamp is None:
        return "0-0"
    millis = int(mapping.starting_timestamp * 1000)
    # XREAD returns entries after the ID given: the last possible ID of the millisecond before.
    return f"{millis - 1}-18446744073709551615" if millis > 0 else "0-0"


def to_record(entry_id: bytes | str, fields: dict[Any, Any]) -> StreamRecord:
    sequence = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    decoded = {
        (k.decode() if isinstance(k, bytes) else str(k)): (v if isinstance(v, bytes) else str(v).encode())
        for k, v in fields.items()
    }
    data = decoded.pop("data", None)
    partition_key = decoded.pop("partitionKey", b"").decode("utf-8", "replace")
    if data is None:
        data = orjson.dumps({k: v.decode("utf-8", "replace") for k, v in decoded.items()})
    return StreamRecord(sequence, partition_key, data, int(sequence.split("-")[0]) / 1000)


class RedisReader:
    """A ``StreamReader`` of one Redis stream key (XREAD after the last ID read)."""

    def __init__(self, client: aioredis.Redis, key: str, position: str) -> None:
        self._client = client
        self._key = key
        self._position = position

    async def read(self, count: int, wait_s: float) -> list[StreamRecord]:
        answer: Any = await self._client.xread(
            {self._key: self._position}, count=count, block=max(1, int(wait_s * 1000))
        )
        found = [to_record(entry_id, fields) for _, entries in answer or [] for entry_id, fields in entries]
        if found:
            self._position = found[-1].sequence
        return found

    async def close(self) -> None:
        await self._client.aclose()


def redis_broker(url: str, region: str, account: str) -> Broker:
    """Redis Streams at ``url`` for ``StreamPoller``."""

    async def open_reader(mapping: EventSourceMapping, checkpoint: str | None) -> StreamReader:
        client = aioredis.Redis.from_url(url, socket_connect_timeout=2)
        try:
            await client.ping()
        except BaseException:
            await client.aclose()
            raise
        key = stream_key(mapping.source_arn, region, account) or ""
        return RedisReader(client, key, checkpoint or start_id(mapping))

    return Broker("Redis", EVENT_SOURCE, open_reader, (RedisError, OSError))
