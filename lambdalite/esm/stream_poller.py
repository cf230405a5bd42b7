"""The poller of a stream mapping, whatever the broker: read a batch after the
checkpoint, run it through Kinesis's failure handling (``esm.streams``), write
the checkpoint, go on. A broker is a ``StreamReader`` (``esm.redis_streams``,
``esm.nats_streams``).

The checkpoint (the sequence number of the last record done) is written to
``lambdalite.db`` after each batch; a restarted server reads on after it. A
broker that cannot be reached is reported in LastProcessingResult and tried
again with a growing delay; other mappings go on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import orjson

from lambdalite.clock import Clock
from lambdalite.control.registry import FunctionRegistry
from lambdalite.dataplane.invoker import Invoker
from lambdalite.dataplane.limiter import InvocationKind
from lambdalite.errors import LambdaError
from lambdalite.esm.model import EventSourceMapping
from lambdalite.esm.sqs import Backoff
from lambdalite.esm.streams import StreamBatches, StreamRecord, kinesis_record
from lambdalite.events.targets import Targets
from lambdalite.models import InvocationResult
from lambdalite.store.mappings import MappingStore

log = logging.getLogger("lambdalite.esm")

READ_WAIT_S = 1.0
MAX_PAYLOAD = 6 * 1024 * 1024
OK = "OK"


class StreamReader(Protocol):
    """One open connection to a stream, positioned after a checkpoint."""

    async def read(self, count: int, wait_s: float) -> list[StreamRecord]:
        """Up to ``count`` records after the last one read, waiting up to ``wait_s``
        for the first; empty when none came."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Broker:
    """How a stream poller reaches its broker."""

    name: str
    """For LastProcessingResult: ``Connection to <name> failed``."""
    event_source: str
    """The records' ``eventSource``."""
    open: Callable[[EventSourceMapping, str | None], Awaitable[StreamReader]]
    """A reader positioned after the checkpoint (None: at the mapping's StartingPosition)."""
    errors: tuple[type[BaseException], ...]
    """What the broker's client raises when the broker is down or refuses."""


class StreamPoller:
    """Feeds one enabled stream mapping's function until cancelled."""

    def __init__(
        self,
        mapping: EventSourceMapping,
        broker: Broker,
        checkpoints: MappingStore,
        functions: FunctionRegistry,
        invoker: Invoker,
        targets: Targets,
        report: Callable[[str | None], None],
        clock: Clock,
        region: str,
    ) -> None:
        self.mapping = mapping
        self._broker = broker
        self._checkpoints = checkpoints
        self._functions = functions
        self._invoker = invoker
        self._targets = targets
        self._report = report
        self._clock = clock
        self._region = region
        self._backoff = Backoff()
        self._batches = StreamBatches(mapping, self._invoke, self._discard, clock, report)

    async def run(self) -> None:
        while True:
            try:
                reader = await self._broker.open(
                    self.mapping, self._checkpoints.checkpoint(self.mapping.uuid)
                )
            except self._broker.errors as exc:
                await self._down(exc)
                continue
            try:
                await self._poll(reader)
            except self._broker.errors as exc:
                await self._down(exc)
            finally:
                await reader.close()

    async def _down(self, exc: BaseException) -> None:
        log.warning("mapping %s: %s: %s", self.mapping.uuid, self._broker.name, exc)
        self._report(f"PROBLEM: Connection to {self._broker.name} failed: {exc}")
        await self._clock.sleep_until(self._clock.now() + self._backoff.next())

    async def drain(self) -> None:
        """Nothing runs beside the poll loop: cancelling it ends everything."""

    def cancel_batches(self) -> None:
        pass

    async def _poll(self, reader: StreamReader) -> None:
        while True:
            batch = await self._collect(reader)
            if not batch:
                continue
            self._backoff.reset()
            await self._batches.process(batch)
            self._checkpoints.put_checkpoint(self.mapping.uuid, batch[-1].sequence)
            self._report(OK)

    async def _collect(self, reader: StreamReader) -> list[StreamRecord]:
        mapping = self.mapping
        batch = await reader.read(mapping.batch_size, READ_WAIT_S)
        if not batch:
            return []
        size = _size(batch)
        deadline = self._clock.now() + mapping.window_s
        while len(batch) < mapping.batch_size and size < MAX_PAYLOAD:
            left = deadline - self._clock.now()
            if left <= 0:
                break
            more = await reader.read(mapping.batch_size - len(batch), left)
            batch.extend(more)
            size += _size(more)
        return batch

    async def _invoke(self, records: Sequence[StreamRecord]) -> InvocationResult:
        mapping = self.mapping
        try:
            function = self._functions.resolve(mapping.function_name, mapping.qualifier)
        except LambdaError as exc:
            raise RuntimeError("Function not found.") from exc
        source = self._broker.event_source
        payload = orjson.dumps(
            {
                "Records": [
                    kinesis_record(r, source, mapping.source_arn, self._region, function.role)
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


def _size(batch: list[StreamRecord]) -> int:
    # base64 grows data by a third; the rest of a record is about half a kilobyte.
    return sum(len(record.data) * 4 // 3 + 512 for record in batch)
