"""The poller manager: one poller task per enabled mapping, started and stopped
as the registry's mappings change, and restarted with the server.

A change to a mapping (``MappingRegistry`` listener) is applied on the event
loop right after the request that made it: the old poller stops polling (its
batches in flight finish), a new one starts when the mapping is enabled, and the
mapping settles (Enabled, Disabled, or gone after Deleting).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lambdalite.clock import Clock
from lambdalite.control.registry import FunctionRegistry
from lambdalite.dataplane.invoker import Invoker
from lambdalite.esm.model import SETTLED, EventSourceMapping, MappingState
from lambdalite.esm.rabbitmq import RabbitMq, RabbitPoller
from lambdalite.esm.registry import MappingRegistry
from lambdalite.esm.remote_sqs import RemoteQueues, RemoteSqsPoller
from lambdalite.esm.requests import source_service
from lambdalite.esm.sqs import SqsPoller, stop
from lambdalite.esm.stream_poller import Broker, StreamPoller
from lambdalite.events.targets import Targets
from lambdalite.services.sqs.service import SqsService
from lambdalite.store.mappings import MappingStore
from lambdalite.store.queues import QueueStore

Poller = SqsPoller | StreamPoller | RemoteSqsPoller | RabbitPoller

log = logging.getLogger("lambdalite.esm")


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """What stream pollers need beside a queue poller's."""

    brokers: Mapping[str, Broker]
    """By the source ARN's service (``redis``, ``nats``)."""
    checkpoints: MappingStore
    targets: Targets


class MappingPollers:
    def __init__(
        self,
        registry: MappingRegistry,
        functions: FunctionRegistry,
        invoker: Invoker,
        service: SqsService | None,
        queues: QueueStore,
        clock: Clock,
        region: str,
        account: str,
        streams: StreamSettings | None = None,
        remote: RemoteQueues | None = None,
        rabbitmq: RabbitMq | None = None,
    ) -> None:
        self._registry = registry
        self._functions = functions
        self._invoker = invoker
        self._service = service
        self._queues = queues
        self._clock = clock
        self._region = region
        self._account = account
        self._streams = streams
        self._remote = remote
        self._rabbitmq = rabbitmq
        self._running: dict[str, tuple[Poller, asyncio.Task[None]]] = {}
        self._changes: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._closed = False

    def start(self) -> None:
        """Start every enabled mapping's poller and finish any change a restart interrupted;
        from now on follow the registry's changes. Must run inside the event loop."""
        self._registry.listeners.append(self._changed)
        for mapping in self._registry.all():
            if mapping.state is MappingState.ENABLED:
                self._start(mapping)
            elif mapping.state not in SETTLED:
                self._changed(mapping)

    def _changed(self, mapping: EventSourceMapping) -> None:
        if self._closed:
            return
        task = asyncio.ensure_future(self._apply(mapping.uuid))
        self._changes.add(task)
        task.add_done_callback(self._changes.discard)

    async def _apply(self, uuid: str) -> None:
        # One change of a mapping at a time: a second change waits for the first, so a
        # mapping never has two pollers.
        lock = self._locks.setdefault(uuid, asyncio.Lock())
        async with lock:
            running = self._running.pop(uuid, None)
            if running is not None:
                await stop(*running, wait=not self._closed)
            mapping = self._registry.find(uuid)
            if mapping is not None and mapping.enabled and mapping.state is not MappingState.DELETING:
                self._start(mapping)
            if self._registry.settle(uuid) is None:
                self._locks.pop(uuid, None)

    def _start(self, mapping: EventSourceMapping) -> None:
        uuid = mapping.uuid
        poller = self._poller(mapping, lambda result: self._registry.report(uuid, result))
        if poller is None:
            self._registry.report(uuid, "PROBLEM: lambdalite serves no such event source.")
            return
        task = asyncio.ensure_future(poller.run())
        task.add_done_callback(lambda done: _log_end(uuid, done))
        self._running[uuid] = (poller, task)

    def _poller(self, mapping: EventSourceMapping, report: Callable[[str | None], None]) -> Poller | None:
        if source_service(mapping.source_arn) == "mq":
            if self._rabbitmq is None:
                return None
            return self._rabbitmq.poller(mapping, self._functions, self._invoker, report, self._clock)
        if mapping.is_stream:
            broker = (
                None
                if self._streams is None
                else self._streams.brokers.get(source_service(mapping.source_arn) or "")
            )
            if self._streams is None or broker is None:
                return None
            return StreamPoller(
                mapping,
                broker,
                self._streams.checkpoints,
                self._functions,
                self._invoker,
                self._streams.targets,
                report,
                self._clock,
                self._region,
            )
        local = self._service is not None and self._service.queue_by_arn(mapping.source_arn) is not None
        if not local and self._remote is not None and self._remote.serves(mapping.source_arn):
            return RemoteSqsPoller(mapping, self._remote, self._functions, self._invoker, report, self._clock)
        if self._service is None:
            return None
        return SqsPoller(
            mapping,
            self._service,
            self._queues,
            self._functions,
            self._invoker,
            report,
            self._clock,
            self._region,
            self._account,
        )

    async def close(self) -> None:
        """Stop every poller and cancel the batches in flight (their messages return
        after their visibility timeout)."""
        self._closed = True
        for task in list(self._changes):
            task.cancel()
        for poller, task in list(self._running.values()):
            await stop(poller, task, wait=False)
        self._running.clear()
        if self._remote is not None:
            self._remote.close()


def _log_end(uuid: str, task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("mapping %s: poller stopped", uuid, exc_info=task.exception())
