"""The durable event queue behind asynchronous invocation: its contract.

An accepted event lives here until it is finished: run successfully (and
reported to its OnSuccess destination), or failed for good (reported to its
OnFailure destination or dead-letter queue). The contract is shaped so that
NATS JetStream's work-queue semantics serve it in cluster mode:

    enqueue(events)          publish; returns once the events are durable (the 202 waits for it)
    lease(limit, visibility) pull-fetch: events ready now, each invisible to other
                             leases for ``visibility`` seconds (JetStream's AckWait)
    ack(id, outcome)         ack: the event is finished, never delivered again
    retry_at(id, when, ...)  nak with delay: deliver again at ``when``, keeping the
                             per-message metadata given (attempts, last error)
    dead_letter(id, reason)  term: park the event, never delivered again (a corrupt
                             event, or one delivered ``max_deliveries`` times without
                             an answer - it crashed the node every time)

Delivery is at least once: a node that dies while it holds a lease delivers
the event again after its restart (or, with JetStream, after AckWait), so the
same event may run twice. Each delivery counts (``deliveries``, JetStream's
NumDelivered); an event leased ``max_deliveries`` times without an ack,
retry or dead-letter is dead-lettered instead of leased again. What counts
across a restart is a delivery that *started* (``started``): a lease that never
reached an invocation (it waited for a slot when the node died) cannot have
crashed the node, so it does not bring a sound event closer to the dead letters.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from lambdalite.errors import StoreError


class QueueError(StoreError):
    """The queue could not store or change an event (a full disk, a broken database).
    Enqueue raises it instead of acknowledging; nothing accepted is half-written."""


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event as the Invoke API accepts it."""

    id: str
    """The request id the 202 carried; the event's identity in the queue."""
    function: str
    """The function's name."""
    qualifier: str | None
    """The version or alias invoked (None: unqualified, $LATEST)."""
    payload: bytes
    enqueued_at: float
    """When it was accepted (Clock.now()): the start of its age."""
    meta: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Metadata it starts with (its trace header, ``events.lineage``)."""


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    """One delivery of an event (a lease on it)."""

    id: str
    function: str
    qualifier: str | None
    payload: bytes
    enqueued_at: float
    deliveries: int
    """How often it has been leased, this lease included (JetStream NumDelivered)."""
    meta: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Per-message metadata the consumer keeps across retries (attempt counts, last error)."""

    @property
    def retrying(self) -> bool:
        """Run or throttled before (the metadata the dispatcher keeps for a retry)."""
        return "attempts" in self.meta


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    """Ran successfully (and its OnSuccess destination, if any, was given the record)."""
    FAILED = "failed"
    """Failed for good (its OnFailure destination or DLQ, if any, was given it)."""


@dataclass(frozen=True, slots=True)
class Backlog:
    """One function's events by state, for the backlog view."""

    waiting: int = 0
    """Accepted, not yet run, ready to run."""
    retrying: int = 0
    """Run or throttled at least once, waiting for their next attempt."""
    running: int = 0
    """Leased now."""
    delivered: int = 0
    failed: int = 0
    dead_lettered: int = 0
    """Parked by the queue itself (corrupt, or too many deliveries without an answer)."""
    destination_errors: int = 0
    """Destination or DLQ deliveries that failed (the event still counts as finished)."""
    last_error: str = ""

    def body(self) -> dict[str, int | str]:
        return {
            "Waiting": self.waiting,
            "Retrying": self.retrying,
            "Running": self.running,
            "Delivered": self.delivered,
            "Failed": self.failed,
            "DeadLettered": self.dead_lettered,
            "DestinationErrors": self.destination_errors,
            "LastError": self.last_error,
        }


class EventQueue(Protocol):
    """See the module docstring for the contract."""

    async def start(self) -> None:
        """Finish opening on the running loop (repairs found while loading are written)."""
        ...

    async def enqueue(self, events: Sequence[NewEvent]) -> None:
        """Store ``events`` durably; return only when they are (raise QueueError when
        they cannot be). An id already queued is stored once."""
        ...

    async def lease(self, limit: int, visibility_s: float) -> list[QueuedEvent]:
        """Wait until at least one event is ready, then return up to ``limit`` of
        them, each invisible for ``visibility_s`` seconds unless acked, retried or
        dead-lettered before. Cancellable."""
        ...

    def started(self, event_id: str) -> None:
        """The leased event's invocation starts now: if it is never answered (the node
        dies), this delivery counts after the restart. Called once per lease, at most."""
        ...

    async def ack(self, event_id: str, outcome: Outcome) -> None:
        """The event is finished; it is never delivered again."""
        ...

    async def retry_at(self, event_id: str, when: float, meta: Mapping[str, str]) -> None:
        """Deliver the event again once the clock reaches ``when``, with ``meta``."""
        ...

    async def dead_letter(self, event_id: str, reason: str) -> None:
        """Park the event; it is never delivered again and counts as dead-lettered."""
        ...

    def note_destination_error(self, function: str, message: str) -> None:
        """Count a failed destination delivery of ``function`` for the backlog view."""
        ...

    async def backlog(self) -> dict[str, Backlog]:
        """Function name -> its events by state (functions with nothing are left out)."""
        ...

    async def close(self) -> None:
        """Finish the writes under way and release the backend."""
        ...
