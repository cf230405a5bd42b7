"""Queue mappings on lambdalite's own SQS service: the source check at
configuration and the poller that feeds a function.

The poller reads the queue store directly through ``SqsService.poll`` (the long
poll ReceiveMessage does: retention, redrive of exhausted messages to the
queue's dead-letter queue, FIFO group blocking) and deletes through
``SqsService.settle``; it never goes through HTTP.
One mapping runs up to ``MaximumConcurrency`` batches at once (AWS starts a
queue mapping with five concurrent batches; without ScalingConfig lambdalite
stays there). For each batch:

- gather up to BatchSize messages, waiting up to MaximumBatchingWindowInSeconds
  for more (never past the 6 MB synchronous payload limit);
- drop (delete) messages that match none of the FilterCriteria;
- invoke the function once with ``{"Records": [...]}``;
- delete the messages that succeeded: all of them, none on a function error, or
  all but those the response names in ``batchItemFailures``
  (ReportBatchItemFailures). Failed messages return when their visibility
  timeout ends and, after the queue's maxReceiveCount, go to its dead-letter
  queue. In a FIFO queue a message group with a message in flight is skipped,
  so a failed batch blocks its groups until it returns, and order holds.

A missing queue or function is reported in LastProcessingResult and retried
with a growing delay; one mapping's trouble never holds up another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from lambdalite.clock import Clock
from lambdalite.control.registry import FunctionRegistry
from lambdalite.dataplane.invoker import Invoker
from lambdalite.dataplane.limiter import InvocationKind
from lambdalite.errors import InvalidParameterValue, LambdaError, TooManyRequests
from lambdalite.esm import filters
from lambdalite.esm.model import EventSourceMapping
from lambdalite.esm.requests import check_batching
from lambdalite.esm.sqs_records import failed_items, sqs_record
from lambdalite.events import lineage
from lambdalite.models import FunctionConfig
from lambdalite.services.sqs.queue import receipt_handle
from lambdalite.services.sqs.service import SqsService
from lambdalite.store.queues import QueueStore, StoredMessage

log = logging.getLogger("lambdalite.esm")

NO_QUEUE = (
    "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
    "SQS Error Message: The specified queue does not exist or you do not have access to it."
)
FIFO_BATCH = "Batch size must not exceed 10 for FIFO queues"
DEFAULT_CONCURRENCY = 5
MAX_PAYLOAD = 6 * 1024 * 1024
IDLE_WAIT_S = 1.0
"""How long an idle poller sleeps before looking again without a wake-up (a send wakes it at once)."""
THROTTLE_RETRY_S = 1.0
VISIBILITY_MARGIN_S = 0.2
"""A batch stops gathering this long before its first messages would become visible again."""
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
OK = "OK"


def visibility_message(visibility: int, timeout: int) -> str:
    return f"Queue visibility timeout: {visibility} seconds is less than Function timeout: {timeout} seconds"


class RemoteCheck(Protocol):
    def serves(self, arn: str) -> bool:
        """Does an endpoint configured on this server serve the queue ``arn``?"""
        ...

    def __call__(self, source_arn: str, function: FunctionConfig, mapping: EventSourceMapping) -> None: ...


class SqsSources:
    """The ``sqs`` source check (``MappingRegistry.source_check``): one of our queues,
    else one of another endpoint (``remote``, ``esm.remote_sqs``) when one serves it."""

    def __init__(self, service: SqsService | None, remote: RemoteCheck | None = None) -> None:
        self._service = service
        self._remote = remote

    def __call__(self, source_arn: str, function: FunctionConfig, mapping: EventSourceMapping) -> None:
        check_batching(mapping.batch_size, mapping.window_s)
        queue = None if self._service is None else self._service.queue_by_arn(source_arn)
        if queue is None and self._remote is not None and self._remote.serves(source_arn):
            self._remote(source_arn, function, mapping)
            return
        if queue is None:
            raise InvalidParameterValue(NO_QUEUE)
        if queue.fifo and mapping.batch_size > 10:
            raise InvalidParameterValue(FIFO_BATCH)
        if queue.visibility < function.timeout_s:
            raise InvalidParameterValue(visibility_message(queue.visibility, function.timeout_s))


class Backoff:
    """Delays between attempts at a source that is down: 1 s, doubling, at most 30 s."""

    def __init__(self) -> None:
        self._next = BACKOFF_FIRST_S

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, BACKOFF_MAX_S)
        return delay

    def reset(self) -> None:
        self._next = BACKOFF_FIRST_S


class SqsPoller:
    """Feeds one enabled mapping's function from its queue until cancelled."""

    def __init__(
        self,
        mapping: EventSourceMapping,
        service: SqsService,
        store: QueueStore,
        functions: FunctionRegistry,
        invoker: Invoker,
        report: Callable[[str | None], None],
        clock: Clock,
        region: str,
        account: str,
    ) -> None:
        self.mapping = mapping
        self._service = service
        self._store = store
        self._functions = functions
        self._invoker = invoker
        self._report = report
        self._clock = clock
        self._region = region
        self._account = account
        self._filter = filters.record_filter(mapping.filters)
        self._slots = asyncio.Semaphore(mapping.max_concurrency or DEFAULT_CONCURRENCY)
        self._batches: set[asyncio.Task[None]] = set()
        self._backoff = Backoff()

    async def run(self) -> None:
        """Poll until cancelled; batches already invoked finish on their own."""
        while True:
            await self._slots.acquire()
            polled_at = self._clock.now()
            try:
                batch = await self._collect()
            except asyncio.CancelledError:
                self._slots.release()
                raise
            except Exception as exc:  # a store failure: report, back off, go on
                self._slots.release()
                log.warning("mapping %s: polling failed: %s", self.mapping.uuid, exc)
                await self._trouble(f"PROBLEM: {exc}")
                continue
            if not batch:
                self._slots.release()
                if self._clock.now() - polled_at < IDLE_WAIT_S / 10:
                    # The poll did not wait (the service is stopping): never spin.
                    await self._clock.sleep_until(polled_at + IDLE_WAIT_S)
                continue
            task = asyncio.ensure_future(self._process(batch))
            self._batches.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._batches.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("mapping %s: batch failed", self.mapping.uuid, exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for the batches in flight (after the poll loop was cancelled)."""
        if self._batches:
            await asyncio.gather(*self._batches, return_exceptions=True)

    def cancel_batches(self) -> None:
        for task in self._batches:
            task.cancel()

    async def _trouble(self, result: str) -> None:
        self._report(result)
        await self._clock.sleep_until(self._clock.now() + self._backoff.next())

    async def _collect(self) -> list[StoredMessage]:
        """One batch (empty after an idle long poll)."""
        mapping = self.mapping
        queue = self._service.queue_by_arn(mapping.source_arn)
        if queue is None:
            await self._trouble(f"PROBLEM: {NO_QUEUE}")
            return []
        name = queue.name
        batch = await self._service.poll(name, mapping.batch_size, None, IDLE_WAIT_S)
        if not batch:
            return []
        size = _size(batch)
        # Gather no longer than the window, nor past the moment the first messages would
        # become visible again (a short visibility timeout must not duplicate them).
        deadline = min(
            self._clock.now() + mapping.window_s, min(m.visible_at for m in batch) - VISIBILITY_MARGIN_S
        )
        while len(batch) < mapping.batch_size and size < MAX_PAYLOAD:
            left = deadline - self._clock.now()
            if left <= 0:
                break
            more = await self._service.poll(name, mapping.batch_size - len(batch), None, left)
            batch = _latest_receipts(batch, more)
            size += _size(more)
        return self._within_payload(name, batch)

    def _within_payload(self, name: str, batch: list[StoredMessage]) -> list[StoredMessage]:
        """The batch cut to the 6 MB invocation limit; the rest is made visible again."""
        total = 0
        for index, message in enumerate(batch):
            total += len(message.body) + 1024
            if total > MAX_PAYLOAD and index > 0:
                now = self._clock.now()
                for rest in batch[index:]:
                    self._store.set_visible_at(name, rest.seq, now)
                return batch[:index]
        return batch

    async def _process(self, batch: list[StoredMessage]) -> None:
        mapping = self.mapping
        name = batch[0].queue
        try:
            function = self._functions.resolve(mapping.function_name, mapping.qualifier)
        except LambdaError:
            # The function is gone (AWS keeps the mapping): the messages come back later.
            await self._trouble("PROBLEM: Function not found.")
            return
        records = [
            sqs_record(m, receipt_handle(m), mapping.source_arn, self._region, self._account) for m in batch
        ]
        if self._filter is not None:
            kept = [
                (m, r) for m, r in zip(batch, records, strict=True) if self._filter(filters.sqs_document(r))
            ]
            # AWS deletes a queue's messages that no filter matches.
            passed = {id(m) for m, _ in kept}
            self._delete(name, [m for m in batch if id(m) not in passed])
            if not kept:
                return
            batch = [m for m, _ in kept]
            records = [r for _, r in kept]
        payload = orjson.dumps({"Records": records})
        try:
            result = await self._invoker.invoke(
                function,
                payload,
                invoked_arn=mapping.function_arn,
                kind=InvocationKind.ASYNC,
                trace_header=lineage.batch_header(function, (_trace_header(m) for m in batch)),
            )
        except lineage.RecursiveLoopDetected as loop:
            # As on AWS: the batch is not run and returns after its visibility timeout,
            # so the queue's redrive policy takes a looping message to its DLQ.
            log.warning(
                "event source mapping %s: invocation of %s stopped: a recursive loop (invocation %d "
                "of the same chain; recursion config Terminate)",
                mapping.uuid,
                function.name,
                loop.count,
            )
            return
        except TooManyRequests:
            retry_at = self._clock.now() + THROTTLE_RETRY_S
            for message in batch:
                self._store.set_visible_at(name, message.seq, retry_at)
            self._report("PROBLEM: Function call failed because of throttling.")
            return
        failed: set[str] | None
        if result.function_error is not None:
            failed = None
        elif mapping.report_item_failures:
            failed = failed_items(result.payload, [m.message_id for m in batch])
        else:
            failed = set()
        if failed is None:
            return  # the whole batch returns after its visibility timeout
        self._delete(name, [m for m in batch if m.message_id not in failed])
        self._backoff.reset()
        self._report(OK)

    def _delete(self, name: str, messages: list[StoredMessage]) -> None:
        if messages:
            self._service.settle(name, messages)


class Stoppable(Protocol):
    async def drain(self) -> None: ...

    def cancel_batches(self) -> None: ...


def _latest_receipts(batch: list[StoredMessage], more: list[StoredMessage]) -> list[StoredMessage]:
    """``batch`` and ``more`` with each message once: a message received again (its
    visibility ran out while the batch gathered) keeps only its latest receipt."""
    again = {m.seq: m for m in more}
    return [again.pop(m.seq, m) for m in batch] + list(again.values())


def _trace_header(message: StoredMessage) -> str | None:
    """The message's AWSTraceHeader system attribute (the chain it belongs to), if any."""
    trace = (message.system or {}).get(lineage.TRACE_HEADER)
    return None if trace is None else str(trace.get("StringValue"))


def _size(batch: list[StoredMessage]) -> int:
    return sum(len(message.body) + 1024 for message in batch)


async def stop(poller: Stoppable, task: asyncio.Task[Any], *, wait: bool) -> None:
    """Stop a poller's loop; with ``wait``, let its batches in flight finish, else cancel them."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if wait:
        await poller.drain()
    else:
        poller.cancel_batches()
