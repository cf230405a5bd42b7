"""Redis Streams as a stream source (Kinesis's semantics, ``esm.streams``).

ARN scheme (lambdalite's own; the server's ``--redis-url``, by default
``redis://127.0.0.1:6379/0``, says which Redis)::

    arn:aws:redis:<region>:<account>:stream/<stream key>

One stream key is one shard: its entries reach the function in ID order, one
batch at a time (ParallelizationFactor is accepted and reported; order is kept by
never running two batches of a stream at once). An entry's ``data`` field is the
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
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from lambdalite.control.registry import FunctionRegistry
from lambdalite.dataplane.invoker import Invoker
from lambdalite.dataplane.limiter import InvocationKind
from lambdalite.errors import InvalidParameterValue, LambdaError
from lambdalite.esm.model import EventSourceMapping
from lambdalite.esm.sqs import Backoff
from lambdalite.esm.streams import StreamBatches, StreamRecord, kinesis_record
from lambdalite.events.clock import Clock
from lambdalite.events.targets import Targets
from lambdalite.models import FunctionConfig, InvocationResult
from lambdalite.store.mappings import MappingStore

log = logging.getLogger("lambdalite.esm")

EVENT_SOURCE = "lambdalite:redis"
READ_BLOCK_MS = 1000
MAX_PAYLOAD = 6 * 1024 * 1024
OK = "OK"


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


class RedisStreamPoller:
    """Feeds one enabled mapping's function from its Redis stream until cancelled."""

    def __init__(
        self,
        mapping: EventSourceMapping,
        redis_url: str,
        store: MappingStore,
        functions: FunctionRegistry,
        invoker: Invoker,
        targets: Targets,
        report: Callable[[str | None], None],
        clock: Clock,
        region: str,
        account: str,
    ) -> None:
        self.mapping = mapping
        self._url = redis_url
        self._store = store
        self._functions = functions
        self._invoker = invoker
        self._targets = targets
        self._report = report
        self._clock = clock
        self._region = region
        self._key = stream_key(mapping.source_arn, region, account) or ""
        self._backoff = Backoff()
        self._batches = StreamBatches(mapping, self._invoke, self._discard, clock, report)

    async def run(self) -> None:
        while True:
            client = aioredis.Redis.from_url(self._url, socket_connect_timeout=2)
            try:
                await self._poll(client)
            except (RedisError, OSError) as exc:
                log.warning("mapping %s: redis: %s", self.mapping.uuid, exc)
                self._report(f"PROBLEM: Connection to Redis failed: {exc}")
                await self._clock.sleep_until(self._clock.now() + self._backoff.next())
            finally:
                await client.aclose()

    async def drain(self) -> None:
        """Nothing runs beside the poll loop: cancelling it ends everything."""

    def cancel_batches(self) -> None:
        pass

    async def _poll(self, client: aioredis.Redis) -> None:
        position = self._store.checkpoint(self.mapping.uuid) or start_id(self.mapping)
        while True:
            batch = await self._collect(client, position)
            if not batch:
                continue
            self._backoff.reset()
            await self._batches.process(batch)
            position = batch[-1].sequence
            self._store.put_checkpoint(self.mapping.uuid, position)
            self._report(OK)

    async def _collect(self, client: aioredis.Redis, position: str) -> list[StreamRecord]:
        mapping = self.mapping
        batch: list[StreamRecord] = []
        size = 0
        deadline = None
        while len(batch) < mapping.batch_size and size < MAX_PAYLOAD:
            block = READ_BLOCK_MS
            if deadline is not None:
                left = deadline - self._clock.now()
                if left <= 0:
                    break
                block = max(1, int(left * 1000))
            answer: Any = await client.xread(
                {self._key: position}, count=mapping.batch_size - len(batch), block=block
            )
            for _, entries in answer or []:
                for entry_id, fields in entries:
                    record = to_record(entry_id, fields)
                    batch.append(record)
                    size += len(record.data) * 4 // 3 + 512
                    position = record.sequence
            if not batch:
                return []
            if deadline is None:
                deadline = self._clock.now() + mapping.window_s
        return batch

    async def _invoke(self, records: Sequence[StreamRecord]) -> InvocationResult:
        mapping = self.mapping
        try:
            function = self._functions.resolve(mapping.function_name, mapping.qualifier)
        except LambdaError as exc:
            raise RuntimeError("Function not found.") from exc
        payload = orjson.dumps(
            {
                "Records": [
                    kinesis_record(r, EVENT_SOURCE, mapping.source_arn, self._region, function.role)
                    for r in records
                ]
            }
        )
        return await self._invoker.invoke(
            function, payload, invoked_arn=mapping.function_arn, kind=InvocationKind.ASYNC
        )

    async def _discard(self, record: bytes) -> None:
        destination = self.mapping.on_failure
        if destination is None:
            return
        try:
            await self._targets.target(destination).send(record, {})
        except Exception as exc:  # the destination went away: the batch is dropped, as on AWS
            log.error("mapping %s: OnFailure delivery to %s failed: %s", self.mapping.uuid, destination, exc)
