"""Asynchronous invocation: accept events durably, run them, retry them, report them.

``AsyncInvocations.accept`` stores an event in the ``EventQueue`` and returns
its request id once it is durable (Invoke's 202 waits for it). ``run`` leases
ready events and runs each through the one ``Invoker`` as ``InvocationKind.ASYNC``
(the same environments, concurrency accounting and START/END/REPORT logs as a
synchronous invoke, under the event's own request id), at most
``max_in_flight`` invocations at once; up to ``LEASES_PER_INVOCATION`` times as
many events are leased, so that recording one event's outcome (a commit, a
destination) overlaps the next one's invocation. Accepting comes first, within
a bound: while accepts queue for their commit (a burst), queued events run one
at a time at a slow pace, and no event is held longer than
``burst.HOLD_MAX_S``; the backlog drains at full speed after the burst
(``events.burst`` states the policy; the 202 promises durability, not a start
time). Each delivery ends in one of:

- success: the OnSuccess destination gets the record (condition Success); acked;
- a function error or timeout: retried after the policy's delay while attempts
  remain (``MaximumRetryAttempts``), else RetriesExhausted;
- a throttle (no concurrency, the async fair share used up) or a platform
  error: retried with exponential backoff, not counted as an attempt;
- too old (``MaximumEventAgeInSeconds``, checked before each attempt):
  EventAgeExceeded;
- the function reserved to 0: ZeroReservedConcurrency at once, 0 attempts;
- the function (or its alias/version) gone: dropped, logged.

A failure goes to the OnFailure destination, or else to the function's
dead-letter queue (the original event with RequestID, ErrorCode and
ErrorMessage attributes). A destination that cannot take it is logged and
counted in the backlog view; the event still finishes (AWS drops it too).
The record is delivered before the event is acked, so a crash in between
delivers it again (at least once).

Retry state travels with the event as the queue's per-message metadata
(``attempts``, ``throttles`` and the last response), so it survives restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

import orjson

from lambdalite.clock import Clock
from lambdalite.control.event_invoke_registry import EventInvokeRegistry
from lambdalite.control.registry import FunctionRegistry
from lambdalite.dataplane.invoker import Invoker
from lambdalite.dataplane.limiter import InvocationKind
from lambdalite.errors import ResourceNotFound, TooManyRequests
from lambdalite.events import lineage
from lambdalite.events.burst import InvocationGate
from lambdalite.events.policy import DEFAULT_MAX_RETRY_ATTEMPTS, RetryPolicy
from lambdalite.events.queue import Backlog, EventQueue, NewEvent, Outcome, QueuedEvent
from lambdalite.events.records import Condition, Finished, LastResponse
from lambdalite.events.targets import Attributes, Targets
from lambdalite.models import LATEST, new_request_id

log = logging.getLogger("lambdalite.events")

VISIBILITY_S = 960.0
"""A lease outlives the longest invocation (900 s) and its environment's start."""
DEFAULT_MAX_IN_FLIGHT = 8
LEASES_PER_INVOCATION = 4


class AsyncInvocations:
    """The asynchronous invocation service (see the module docstring)."""

    def __init__(
        self,
        queue: EventQueue,
        invoker: Invoker,
        functions: FunctionRegistry,
        configs: EventInvokeRegistry,
        reserved: Callable[[str], int | None],
        targets: Targets,
        clock: Clock,
        policy: RetryPolicy,
        *,
        dead_letter_arn: Callable[[str, str | None], str | None] = lambda name, qualifier: None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        """``reserved(name)``: the function's reserved concurrency (None: none);
        ``dead_letter_arn(name, qualifier)``: its DeadLetterConfig target, if any."""
        self._queue = queue
        self._invoker = invoker
        self._functions = functions
        self._configs = configs
        self._reserved = reserved
        self._targets = targets
        self._clock = clock
        self._policy = policy
        self._dead_letter_arn = dead_letter_arn
        self._max_leased = max_in_flight * LEASES_PER_INVOCATION
        """Events leased and not finished."""
        self._gate = InvocationGate(clock, max_in_flight)
        """Invocations under way (the environments a backlog may keep busy), and the burst policy."""
        self._leased = 0
        self._accepting = 0
        """Accepts waiting for their commit (the burst policy's measure of accept pressure)."""
        self._slot_free = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Future[None] | None = None
        self._stopping = False
        """Set by ``drain``: leased events not yet invoking are left for the next start."""
        self._arn_prefix = functions.arn_prefix

    # -- accepting ------------------------------------------------------------
    async def accept(
        self, name: str, qualifier: str | None, payload: bytes, request_id: str | None = None
    ) -> str:
        """Store one event durably and return its request id (raises QueueError)."""
        event_id = request_id or new_request_id()
        now = self._clock.now()
        self._accepting += 1
        self._gate.note_accept(now, self._accepting)
        # The chain this event belongs to (the caller's X-Ray header) goes with it.
        header = lineage.incoming.get()
        meta = {lineage.TRACE_HEADER: header} if header and lineage.has_lineage(header) else {}
        try:
            await self._queue.enqueue([NewEvent(event_id, name, qualifier, payload, now, meta)])
        finally:
            self._accepting -= 1
        return event_id

    async def backlog(self) -> dict[str, Backlog]:
        return await self._queue.backlog()

    # -- running --------------------------------------------------------------
    def start(self) -> None:
        """Run ``run`` in the background until ``close``."""
        self._runner = asyncio.ensure_future(self._start_and_run())

    async def _start_and_run(self) -> None:
        await self._queue.start()
        await self.run()

    async def run(self) -> None:
        """Lease and run events until cancelled. While the burst policy holds execution,
        only ``LEASES_PER_INVOCATION`` events are leased at a time (one invocation runs):
        a lease kept waiting for a slot is a delivery a crash would cost the event."""
        while True:
            while self._leased >= (limit := self._lease_limit()):
                self._slot_free.clear()
                await self._slot_free.wait()
            events = await self._queue.lease(limit - self._leased, VISIBILITY_S)
            for event in events:
                self._leased += 1
                task = asyncio.ensure_future(self._run_one(event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _lease_limit(self) -> int:
        if self._gate.hot(self._clock.now()):
            return LEASES_PER_INVOCATION
        return self._max_leased

    async def drain(self) -> None:
        """Lease nothing more; return once the invocations under way have finished and
        their outcomes are recorded (leased events not yet invoking stay queued)."""
        self._stopping = True
        self._gate.close()  # events waiting for a slot stay queued
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self, grace_s: float) -> None:
        """``drain`` for up to ``grace_s`` (deliveries cut off are delivered again
        after a restart), then close the queue."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drain(), grace_s)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._queue.close()

    async def _run_one(self, event: QueuedEvent) -> None:
        try:
            await self._deliver(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Never lose the loop to one event: it stays leased and comes back after
            # its visibility timeout (or the next restart).
            log.exception("asynchronous invocation %s of %s failed", event.id, event.function)
        finally:
            self._leased -= 1
            self._slot_free.set()

    async def _deliver(self, event: QueuedEvent) -> None:
        name, qualifier = event.function, event.qualifier
        try:
            function = self._functions.resolve(name, qualifier)
        except ResourceNotFound:
            log.warning(
                "asynchronous invocation %s dropped: %s:%s no longer exists", event.id, name, qualifier
            )
            await self._queue.ack(event.id, Outcome.FAILED)
            return
        config = self._configs.effective(name, qualifier)
        meta = dict(event.meta)
        attempts = int(meta.get("attempts", "0"))
        now = self._clock.now()
        if self._reserved(name) == 0:
            await self._finish(event, Condition.ZERO_RESERVED_CONCURRENCY, 0, None)
            return
        max_age = self._policy.max_age(None if config is None else config.max_event_age_s)
        if now - event.enqueued_at >= max_age:
            await self._finish(event, Condition.EVENT_AGE_EXCEEDED, attempts, _last_response(meta))
            return
        invoked_arn = self._arn_prefix + name + (f":{qualifier}" if qualifier else "")
        try:
            async with self._gate.slot(event.enqueued_at) as granted:
                if not granted or self._stopping:
                    return  # still queued: the next start delivers it
                self._queue.started(event.id)
                result = await self._invoker.invoke(
                    function,
                    event.payload,
                    invoked_arn=invoked_arn,
                    kind=InvocationKind.ASYNC,
                    request_id=event.id,
                    trace_header=meta.get(lineage.TRACE_HEADER),
                )
        except lineage.RecursiveLoopDetected as loop:
            log.warning(
                "asynchronous invocation %s of %s stopped: a recursive loop (invocation %d of the same "
                "chain; recursion config Terminate)",
                event.id,
                name,
                loop.count,
            )
            await self._finish(event, Condition.RETRIES_EXHAUSTED, attempts, _recursive_loop_response())
            return
        except TooManyRequests:
            await self._back_off(event, meta, status=429)
            return
        except Exception as exc:
            log.warning("asynchronous invocation %s of %s: platform error %s; retrying", event.id, name, exc)
            await self._back_off(event, meta, status=500)
            return
        attempts += 1
        response = LastResponse(200, result.executed_version, result.function_error or "", result.payload)
        if not result.function_error:
            await self._finish(event, Condition.SUCCESS, attempts, response)
            return
        retries = DEFAULT_MAX_RETRY_ATTEMPTS
        if config is not None and config.max_retry_attempts is not None:
            retries = config.max_retry_attempts
        if attempts > retries:
            await self._finish(event, Condition.RETRIES_EXHAUSTED, attempts, response)
            return
        meta.update(_response_meta(response), attempts=str(attempts), throttles="0")
        await self._queue.retry_at(
            event.id, self._clock.now() + self._policy.function_error_delay(attempts), meta
        )

    async def _back_off(self, event: QueuedEvent, meta: dict[str, str], status: int) -> None:
        throttles = int(meta.get("throttles", "0")) + 1
        meta["throttles"] = str(throttles)
        meta.setdefault("attempts", "0")
        if "status" not in meta or meta["status"] != "200":
            meta["status"] = str(status)
        await self._queue.retry_at(event.id, self._clock.now() + self._policy.throttle_delay(throttles), meta)

    async def _finish(
        self, event: QueuedEvent, condition: Condition, attempts: int, response: LastResponse | None
    ) -> None:
        finished = Finished(
            event.id,
            f"{self._arn_prefix}{event.function}:{event.qualifier or LATEST}",
            condition,
            attempts,
            event.payload,
            response,
            self._clock.now(),
        )
        config = self._configs.effective(event.function, event.qualifier)
        succeeded = condition is Condition.SUCCESS
        destination = None if config is None else (config.on_success if succeeded else config.on_failure)
        if destination is not None:
            await self._send(event.function, destination, finished.destination_record(), {})
        elif not succeeded:
            dead_letter = self._dead_letter_arn(event.function, event.qualifier)
            if dead_letter is not None:
                await self._send(
                    event.function, dead_letter, event.payload, finished.dead_letter_attributes()
                )
        if not succeeded:
            log.warning(
                "asynchronous invocation %s of %s failed: %s", event.id, event.function, condition.value
            )
        await self._queue.ack(event.id, Outcome.DELIVERED if succeeded else Outcome.FAILED)

    async def _send(self, function: str, arn: str, body: bytes, attributes: Attributes) -> None:
        try:
            await self._targets.target(arn).send(body, attributes)
        except Exception as exc:
            message = f"delivery to {arn} failed: {exc}"
            log.error("asynchronous invocation of %s: %s", function, message)
            self._queue.note_destination_error(function, message)


def _recursive_loop_response() -> LastResponse:
    """The answer of an event stopped as a recursive loop: AWS's RecursiveInvocationException."""
    body = orjson.dumps({"errorType": "RecursiveInvocationException", "errorMessage": lineage.MESSAGE})
    return LastResponse(400, "", "RecursiveInvocationException", body)


def _response_meta(response: LastResponse) -> dict[str, str]:
    return {
        "status": str(response.status_code),
        "version": response.executed_version,
        "error": response.function_error,
        "response": (response.payload or b"").decode("utf-8", "replace"),
    }


def _last_response(meta: Mapping[str, str]) -> LastResponse | None:
    """The last attempt's answer kept in the event's metadata (None: never tried)."""
    status = meta.get("status")
    if status is None:
        return None
    if status != "200":
        return LastResponse(int(status))
    return LastResponse(
        200, meta.get("version", ""), meta.get("error", ""), meta.get("response", "").encode()
    )
