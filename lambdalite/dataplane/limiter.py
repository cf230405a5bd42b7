"""Concurrency: the node's limit, reservations, and the leases that count invocations.

The node's limit (``Settings.max_concurrency``) plays AWS's account limit
(GetAccountSettings' ``AccountLimit.ConcurrentExecutions``). A reservation
carves concurrency out of it for one function: that function never runs more
invocations at once than reserved (0 throttles every invoke), and no other
function may use it. The rest, limit minus the sum of reservations, is the
unreserved pool every other function shares.

``ConcurrencyLimiter.lease(name, kind)`` admits one invocation or refuses it at
once, as AWS does (no queueing): a reserved function beyond its reservation
gets 429 with Reason ReservedFunctionConcurrentInvocationLimitExceeded, any
other function beyond the unreserved pool ConcurrentInvocationLimitExceeded;
the message is "Rate Exceeded." for both. The lease is a context manager (sync
and async) that gives the slot back on every path, to the pool it was taken
from even if the reservation changed meanwhile. Admission is a dict lookup and
two integer comparisons: it is on every invoke's path.

Every lease carries an ``InvocationKind``, and the limiter counts in-flight
invocations per kind (``in_flight_of``). The fair share: background work
(``ASYNC``: queued Event invocations, later pollers) may hold at most
``async_share`` (default half, rounded up, at least 1) of the unreserved pool;
a caller who waits (``SYNC``) may use all of it. So however deep the async
backlog, synchronous invokes of functions without a reservation always find
the other half free, and an async lease beyond the share is refused like any
throttle (ConcurrentInvocationLimitExceeded: the async queue backs off and
retries). A function's reservation is its own: its async invocations may use
all of it, as AWS's do.

The rules PutFunctionConcurrency checks live here too, beside the limit they
protect. AWS keeps at least 100 executions unreserved (on the default limit of
1000, a tenth). A node is often much smaller than an AWS account, and a floor
of 100 would forbid every reservation on a node limited to 100 or less, so the
floor here scales with the node: a tenth of the limit, rounded up, at least 1
and at most AWS's 100 (``minimum_unreserved``). With the default limit of 1000
that is exactly AWS's 100.
"""

from __future__ import annotations

import asyncio
import enum
import math
from collections.abc import Mapping

from lambdalite.errors import TooManyRequests

AWS_MIN_UNRESERVED = 100
"""AWS's UnreservedConcurrentExecutions floor."""

QUALIFIED_CONCURRENCY = (
    "This operation is permitted on Lambda functions only. Aliases and versions do not support this "
    "operation. Please specify either a function name or an unqualified function ARN."
)
RESERVED_LIMIT_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_LIMIT_REASON = "ConcurrentInvocationLimitExceeded"
THROTTLED = "Rate Exceeded."
"""The message AWS's TooManyRequestsException carries for both throttle reasons."""


def minimum_unreserved(limit: int) -> int:
    """The unreserved floor on a node limited to ``limit`` concurrent invocations."""
    return min(AWS_MIN_UNRESERVED, max(1, math.ceil(limit / 10)))


def below_minimum(minimum: int) -> str:
    """PutFunctionConcurrency's message when a reservation would leave less than ``minimum`` unreserved."""
    return (
        "Specified ReservedConcurrentExecutions for function decreases account's "
        f"UnreservedConcurrentExecution below its minimum value of [{minimum}]."
    )


class InvocationKind(enum.IntEnum):
    """Who is waiting for an invocation (an int, so counting per kind is a list index)."""

    SYNC = 0
    """A caller waits for the result: Invoke RequestResponse, a function URL."""
    ASYNC = 1
    """The node's own background work: queued Event invocations, pollers, schedules."""


class Lease:
    """One admitted invocation's concurrency slot. ``release()`` gives it back
    (once; again is harmless); ``with``/``async with`` releases on every path."""

    __slots__ = ("_limiter", "_released", "_reserved_by", "kind")

    def __init__(self, limiter: ConcurrencyLimiter, reserved_by: str | None, kind: InvocationKind) -> None:
        self._limiter = limiter
        self._reserved_by = reserved_by
        """The function whose reservation the slot came from; None: the unreserved pool."""
        self.kind = kind
        self._released = False

    def release(self, *_exc_info: object) -> None:
        if not self._released:
            self._released = True
            self._limiter.give_back(self._reserved_by, self.kind)

    def __enter__(self) -> Lease:
        return self

    __exit__ = release
    """Leaving a ``with`` block releases the lease, whatever ended it."""

    async def __aenter__(self) -> Lease:
        return self

    async def __aexit__(self, *_exc_info: object) -> None:
        self.release()


class ConcurrencyLimiter:
    """Admits invocations against the node's limit and the functions' reservations."""

    def __init__(
        self, limit: int, reserved: Mapping[str, int] | None = None, async_share: float = 0.5
    ) -> None:
        """``limit``: the node's concurrent invocations; ``reserved``: function
        name -> reserved concurrency at start (later changes: ``set_reserved``);
        ``async_share``: the fraction of the unreserved pool ASYNC leases may hold."""
        self._limit = limit
        self._async_share = async_share
        self._unreserved_async = 0
        """ASYNC leases holding a slot of the unreserved pool."""
        self._reserved: dict[str, int] = {}
        self._reserved_total = 0
        self._reserved_in_flight: dict[str, int] = {}
        """function name -> invocations running on a slot of its reservation."""
        self._unreserved_in_flight = 0
        self._in_flight = 0
        self._by_kind = [0] * len(InvocationKind)
        self._closed = False
        self._idle: asyncio.Event | None = None
        """Set when nothing is in flight; made by ``idle()`` (the hot path only tests it)."""
        for name, count in (reserved or {}).items():
            self.set_reserved(name, count)

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_flight(self) -> int:
        """Invocations holding a lease now, of every kind."""
        return self._in_flight

    def in_flight_of(self, kind: InvocationKind) -> int:
        return self._by_kind[kind]

    @property
    def unreserved_available(self) -> int:
        """Slots of the unreserved pool nobody holds now (never below 0)."""
        return max(0, self._limit - self._reserved_total - self._unreserved_in_flight)

    def set_reserved(self, function_name: str, reserved: int | None) -> None:
        """The function's reserved concurrency changed (None: it has none now).
        Invocations already running finish and give back the slot they took."""
        self._reserved_total -= self._reserved.pop(function_name, 0)
        if reserved is not None:
            self._reserved[function_name] = reserved
            self._reserved_total += reserved

    def lease(self, function_name: str, kind: InvocationKind = InvocationKind.SYNC) -> Lease:
        """Admit one invocation of ``function_name`` or raise TooManyRequests
        with AWS's reason (see the module docstring); after ``close()`` every
        lease is refused as over the account limit."""
        return Lease(self, self.admit(function_name, kind), kind)

    def admit(self, function_name: str, kind: InvocationKind = InvocationKind.SYNC) -> str | None:
        """``lease`` without the lease object, for the invoke path: the slot's owner (the
        function whose reservation it came from; None: the unreserved pool), which the
        caller must hand to ``give_back`` exactly once, in a ``finally``."""
        if self._closed:
            raise TooManyRequests(THROTTLED, reason=ACCOUNT_LIMIT_REASON)
        limit = self._reserved.get(function_name)
        if limit is None:
            pool = self._limit - self._reserved_total
            if self._unreserved_in_flight >= pool:
                raise TooManyRequests(THROTTLED, reason=ACCOUNT_LIMIT_REASON)
            if kind is InvocationKind.ASYNC:
                if self._unreserved_async >= self.async_cap(pool):
                    raise TooManyRequests(THROTTLED, reason=ACCOUNT_LIMIT_REASON)
                self._unreserved_async += 1
            self._unreserved_in_flight += 1
            reserved_by = None
        else:
            running = self._reserved_in_flight.get(function_name, 0)
            if running >= limit:
                raise TooManyRequests(THROTTLED, reason=RESERVED_LIMIT_REASON)
            self._reserved_in_flight[function_name] = running + 1
            reserved_by = function_name
        self._in_flight += 1
        self._by_kind[kind] += 1
        return reserved_by

    def async_cap(self, pool: int | None = None) -> int:
        """How many slots of the unreserved pool (of ``pool`` slots; now: the current
        pool) ASYNC leases may hold at once: the fair share, at least 1."""
        if pool is None:
            pool = self._limit - self._reserved_total
        return max(1, math.ceil(pool * self._async_share))

    def give_back(self, reserved_by: str | None, kind: InvocationKind) -> None:
        """Give back a slot ``admit`` took (``reserved_by``: what it returned)."""
        if reserved_by is None:
            self._unreserved_in_flight -= 1
            if kind is InvocationKind.ASYNC:
                self._unreserved_async -= 1
        else:
            left = self._reserved_in_flight[reserved_by] - 1
            if left:
                self._reserved_in_flight[reserved_by] = left
            else:
                del self._reserved_in_flight[reserved_by]
        self._by_kind[kind] -= 1
        self._in_flight -= 1
        if not self._in_flight and self._idle is not None:
            self._idle.set()

    def close(self) -> None:
        """Refuse every lease from now on; those held stay valid until released."""
        self._closed = True

    async def idle(self) -> None:
        """Return once no lease is held (at once if none is). Bound it with a timeout."""
        while self._in_flight:
            if self._idle is None or self._idle.is_set():
                self._idle = asyncio.Event()
            await self._idle.wait()
