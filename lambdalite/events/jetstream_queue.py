"""``EventQueue`` on NATS JetStream, for cluster mode (``--queue nats://HOST:PORT[/STREAM]``).

One work-queue stream (file storage; default name ``LAMBDALITE_EVENTS``) with
one subject per function (``<stream>.<function>``) and one durable pull
consumer that every node shares, so each event goes to one node at a time:

    enqueue     publish, one message per event, ``Nats-Msg-Id`` = the request id
                (JetStream drops a duplicate publish); returns on the PubAck, when
                the stream has stored it
    lease       fetch from the consumer; NumDelivered is the deliveries. The
                visibility timeout is kept by the node: AckWait is short (10 s) and
                every lease still held is extended (``in_progress``) every few
                seconds, so a delivery a node lost (it died, or a fetch it cut
                off) comes back within AckWait
    ack         ack (waiting for the server's confirmation)
    retry_at    publish a copy carrying the new metadata and its not-before time,
                then ack the original: JetStream's nak-with-delay cannot change a
                message, and the metadata must survive; a copy fetched early is
                nak'ed with the delay left
    dead_letter term (and counted)

A message leased ``max_deliveries`` times without an answer is terminated and
counted as dead-lettered, as the SQLite queue does. The counters of finished
events (delivered, failed, dead-lettered, destination errors) are this node's
since it started; waiting counts come from the stream (per subject), running
from this node's leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import orjson

from lambdalite.clock import Clock
from lambdalite.events.queue import Backlog, NewEvent, Outcome, QueuedEvent, QueueError
from lambdalite.events.sqlite_queue import DEFAULT_MAX_DELIVERIES

log = logging.getLogger("lambdalite.events")

DEFAULT_STREAM = "LAMBDALITE_EVENTS"
CONSUMER = "dispatcher"
ACK_WAIT_S = 10.0
KEEP_LEASES_EVERY_S = 3.0
FETCH_WAIT_S = 1.0
_ID, _QUALIFIER, _ENQUEUED, _AVAILABLE, _META = (
    "Lambdalite-Id",
    "Lambdalite-Qualifier",
    "Lambdalite-Enqueued-At",
    "Lambdalite-Available-At",
    "Lambdalite-Meta",
)


@dataclass(slots=True)
class _Counts:
    delivered: int = 0
    failed: int = 0
    dead_lettered: int = 0
    destination_errors: int = 0
    last_error: str = ""


def parse_queue_url(url: str) -> tuple[str, str]:
    """(server URL, stream name) from ``nats://host:port[/STREAM]``."""
    parts = urlsplit(url)
    if parts.scheme != "nats" or not parts.hostname:
        raise QueueError(f"not a NATS URL: {url!r} (use nats://HOST:PORT[/STREAM])")
    stream = parts.path.strip("/") or DEFAULT_STREAM
    return f"nats://{parts.netloc}", stream


class JetStreamEventQueue:
    """``EventQueue`` on one JetStream stream (see the module docstring)."""

    def __init__(self, url: str, clock: Clock, max_deliveries: int = DEFAULT_MAX_DELIVERIES) -> None:
        self._server, self._stream = parse_queue_url(url)
        self._subjects = f"{self._stream}.*"
        self._clock = clock
        self._max_deliveries = max_deliveries
        self._nc: Any = None
        self._js: Any = None
        self._sub: Any = None
        self._connecting = asyncio.Lock()
        self._leased: dict[str, tuple[Any, str, float]] = {}
        """event id -> (its message, function, visible again at), for the leases this node holds."""
        self._counts: dict[str, _Counts] = {}
        self._keeper: asyncio.Task[None] | None = None

    async def _keep_leases(self) -> None:
        """Extend every lease this node holds, until its visibility timeout ends."""
        while True:
            await asyncio.sleep(KEEP_LEASES_EVERY_S)
            now = self._clock.now()
            for message, _, until in list(self._leased.values()):
                if now >= until:
                    continue  # visibility over: JetStream redelivers it after AckWait
                with contextlib.suppress(Exception):
                    await message.in_progress()

    async def _ready(self) -> Any:
        """The JetStream context, connecting (and creating the stream and consumer) once."""
        if self._js is not None:
            return self._js
        async with self._connecting:
            if self._js is None:
                import nats
                from nats.js import api

                try:
                    self._nc = await nats.connect(self._server, max_reconnect_attempts=-1)
                    js = self._nc.jetstream()
                    config = api.StreamConfig(
                        name=self._stream,
                        subjects=[self._subjects],
                        retention=api.RetentionPolicy.WORK_QUEUE,
                        storage=api.StorageType.FILE,
                        duplicate_window=120.0,
                    )
                    try:
                        await js.add_stream(config)
                    except nats.js.errors.BadRequestError:
                        await js.update_stream(config)
                    self._sub = await js.pull_subscribe(
                        self._subjects,
                        durable=CONSUMER,
                        stream=self._stream,
                        config=api.ConsumerConfig(
                            ack_policy=api.AckPolicy.EXPLICIT,
                            ack_wait=ACK_WAIT_S,
                            max_deliver=self._max_deliveries + 1,
                            max_ack_pending=-1,
                        ),
                    )
                except (OSError, nats.errors.Error) as exc:
                    raise QueueError(f"cannot open the event queue at {self._server}: {exc}") from exc
                self._js = js
                self._keeper = asyncio.ensure_future(self._keep_leases())
        return self._js

    async def start(self) -> None:
        await self._ready()

    async def enqueue(self, events: Sequence[NewEvent]) -> None:
        js = await self._ready()
        try:
            await asyncio.gather(
                *(self._publish(js, event, event.enqueued_at, event.meta, event.id) for event in events)
            )
        except Exception as exc:
            raise QueueError(f"event queue publish failed: {exc}") from exc

    async def _publish(
        self, js: Any, event: NewEvent, available_at: float, meta: Mapping[str, str], msg_id: str
    ) -> None:
        headers = {
            "Nats-Msg-Id": msg_id,
            _ID: event.id,
            _QUALIFIER: event.qualifier or "",
            _ENQUEUED: repr(event.enqueued_at),
            _AVAILABLE: repr(available_at),
            _META: orjson.dumps(dict(meta)).decode(),
        }
        await js.publish(f"{self._stream}.{event.function}", event.payload, headers=headers)

    async def lease(self, limit: int, visibility_s: float) -> list[QueuedEvent]:
        await self._ready()
        import nats

        while True:
            fetch = asyncio.ensure_future(self._sub.fetch(limit, timeout=FETCH_WAIT_S))
            try:
                messages = await asyncio.shield(fetch)
            except nats.errors.TimeoutError:
                continue
            except asyncio.CancelledError:
                # A fetch cut off may already have taken messages from the consumer:
                # hand them back now rather than after AckWait.
                with contextlib.suppress(Exception):
                    for message in await fetch:
                        await message.nak()
                raise
            out: list[QueuedEvent] = []
            for message in messages:
                event = await self._take(message, visibility_s)
                if event is not None:
                    out.append(event)
            if out:
                return out

    async def _take(self, message: Any, visibility_s: float) -> QueuedEvent | None:
        function = message.subject.rsplit(".", 1)[1]
        headers = message.headers or {}
        try:
            event_id = headers[_ID]
            available_at = float(headers[_AVAILABLE])
            enqueued_at = float(headers[_ENQUEUED])
            meta = orjson.loads(headers.get(_META, "{}"))
        except (KeyError, ValueError, orjson.JSONDecodeError) as exc:
            await message.term()
            self._dead(function, f"corrupt message {message.metadata.sequence.stream}: {exc}")
            return None
        deliveries = message.metadata.num_delivered
        if deliveries > self._max_deliveries:
            await message.term()
            self._dead(function, f"event {event_id}: leased {deliveries - 1} times without an answer")
            return None
        wait = available_at - self._clock.now()
        if wait > 0:
            await message.nak(delay=wait)
            return None
        self._leased[event_id] = (message, function, self._clock.now() + visibility_s)
        qualifier = headers.get(_QUALIFIER) or None
        return QueuedEvent(
            event_id, function, qualifier, message.data, enqueued_at, deliveries, MappingProxyType(meta)
        )

    def _dead(self, function: str, reason: str) -> None:
        counts = self._counts.setdefault(function, _Counts())
        counts.dead_lettered += 1
        counts.last_error = reason
        log.error("event queue: %s of %s dead-lettered", reason, function)

    def started(self, event_id: str) -> None:
        """Nothing to write: JetStream counts its deliveries itself, at each fetch
        (NumDelivered), so here a lease that never started counts too."""

    async def ack(self, event_id: str, outcome: Outcome) -> None:
        leased = self._leased.pop(event_id, None)
        if leased is None:
            return
        message, function, _ = leased
        counts = self._counts.setdefault(function, _Counts())
        if outcome is Outcome.DELIVERED:
            counts.delivered += 1
        else:
            counts.failed += 1
        await message.ack_sync()

    async def retry_at(self, event_id: str, when: float, meta: Mapping[str, str]) -> None:
        leased = self._leased.pop(event_id, None)
        if leased is None:
            return
        message, function, _ = leased
        headers = message.headers or {}
        event = NewEvent(
            event_id, function, headers.get(_QUALIFIER) or None, message.data, float(headers[_ENQUEUED])
        )
        await self._publish(await self._ready(), event, when, meta, f"{event_id}:{uuid.uuid4()}")
        await message.ack_sync()

    async def dead_letter(self, event_id: str, reason: str) -> None:
        leased = self._leased.pop(event_id, None)
        if leased is None:
            return
        message, function, _ = leased
        self._dead(function, f"event {event_id}: {reason}")
        await message.term()

    def note_destination_error(self, function: str, message: str) -> None:
        counts = self._counts.setdefault(function, _Counts())
        counts.destination_errors += 1
        counts.last_error = message

    async def backlog(self) -> dict[str, Backlog]:
        js = await self._ready()
        info = await js.stream_info(self._stream, subjects_filter=self._subjects)
        queued = {subject.rsplit(".", 1)[1]: n for subject, n in (info.state.subjects or {}).items()}
        running: dict[str, int] = {}
        for _, function, _ in self._leased.values():
            running[function] = running.get(function, 0) + 1
        out: dict[str, Backlog] = {}
        for function in sorted({*queued, *running, *self._counts}):
            counts = self._counts.get(function, _Counts())
            here = running.get(function, 0)
            out[function] = Backlog(
                waiting=max(0, queued.get(function, 0) - here),
                running=here,
                delivered=counts.delivered,
                failed=counts.failed,
                dead_lettered=counts.dead_lettered,
                destination_errors=counts.destination_errors,
                last_error=counts.last_error,
            )
        return out

    async def close(self) -> None:
        """Hand back the leases still held (another node, or the next start, takes
        them at once instead of after AckWait), then disconnect."""
        if self._keeper is not None:
            self._keeper.cancel()
        for message, _, _ in self._leased.values():
            with contextlib.suppress(Exception):
                await message.nak()
        self._leased.clear()
        if self._nc is not None:
            await self._nc.close()
