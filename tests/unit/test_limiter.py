"""The concurrency limiter: reserved functions, the unreserved pool, leases and their kinds."""

from __future__ import annotations

import asyncio

import pytest

from lambdalite.dataplane.limiter import ConcurrencyLimiter, InvocationKind, Lease
from lambdalite.errors import TooManyRequests

RESERVED = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT = "ConcurrentInvocationLimitExceeded"


def throttle_reason(limiter: ConcurrencyLimiter, name: str) -> str | None:
    """Why a lease for ``name`` is refused now (None: it is granted, and given back at once)."""
    try:
        with limiter.lease(name):
            return None
    except TooManyRequests as err:
        assert err.message == "Rate Exceeded."
        assert err.status == 429
        return err.reason


def hold(limiter: ConcurrencyLimiter, name: str, count: int) -> list[Lease]:
    return [limiter.lease(name) for _ in range(count)]


def release(leases: list[Lease]) -> None:
    for lease in leases:
        lease.release()


def test_a_reserved_function_runs_at_most_its_reservation() -> None:
    limiter = ConcurrencyLimiter(10)
    limiter.set_reserved("f", 2)
    held = hold(limiter, "f", 2)
    assert throttle_reason(limiter, "f") == RESERVED
    # Its reservation is its own: the unreserved pool (10 - 2) is untouched.
    assert throttle_reason(limiter, "other") is None
    assert limiter.unreserved_available == 8
    release(held)
    assert throttle_reason(limiter, "f") is None
    assert limiter.in_flight == 0


def test_zero_reserved_throttles_everything() -> None:
    limiter = ConcurrencyLimiter(10)
    limiter.set_reserved("f", 0)
    assert throttle_reason(limiter, "f") == RESERVED
    limiter.set_reserved("f", None)
    assert throttle_reason(limiter, "f") is None


def test_unreserved_functions_share_the_limit_minus_reservations() -> None:
    limiter = ConcurrencyLimiter(5)
    limiter.set_reserved("someone-else", 3)
    held = hold(limiter, "f", 2)
    assert throttle_reason(limiter, "other") == ACCOUNT
    limiter.set_reserved("someone-else", 2)
    assert throttle_reason(limiter, "other") is None
    release(held)


@pytest.mark.parametrize("after", [None, 1, 5])
def test_slots_come_back_to_the_pool_they_were_taken_from(after: int | None) -> None:
    """A reservation that changes while invocations run does not leak or double-free slots."""
    limiter = ConcurrencyLimiter(6)
    limiter.set_reserved("f", 2)
    held = hold(limiter, "f", 2)
    limiter.set_reserved("f", after)
    release(held)
    assert limiter.in_flight == 0
    assert limiter.unreserved_available == 6 - (after or 0)
    more = hold(limiter, "other", 6 - (after or 0))
    assert throttle_reason(limiter, "other") == ACCOUNT
    release(more)


def test_reservations_given_at_construction_apply() -> None:
    limiter = ConcurrencyLimiter(3, reserved={"f": 0, "x": 2})
    assert throttle_reason(limiter, "f") == RESERVED
    held = hold(limiter, "other", 1)
    assert throttle_reason(limiter, "other") == ACCOUNT
    release(held)


def test_a_lease_is_given_back_once_whatever_happens() -> None:
    limiter = ConcurrencyLimiter(1)
    with pytest.raises(RuntimeError), limiter.lease("f"):
        raise RuntimeError("the invocation failed")
    lease = limiter.lease("f")
    lease.release()
    lease.release()  # again is harmless: it must not free someone else's slot
    held = hold(limiter, "f", 1)
    assert throttle_reason(limiter, "f") == ACCOUNT
    release(held)

    async def async_with() -> None:
        with pytest.raises(RuntimeError):
            async with limiter.lease("f"):
                raise RuntimeError("cancelled or failed")

    asyncio.run(async_with())
    assert limiter.in_flight == 0


def test_leases_carry_their_kind_and_are_counted_per_kind() -> None:
    limiter = ConcurrencyLimiter(10)
    sync = limiter.lease("f")
    background = [limiter.lease("f", InvocationKind.ASYNC) for _ in range(2)]
    assert (sync.kind, background[0].kind) == (InvocationKind.SYNC, InvocationKind.ASYNC)
    assert limiter.in_flight_of(InvocationKind.SYNC) == 1
    assert limiter.in_flight_of(InvocationKind.ASYNC) == 2
    assert limiter.in_flight == 3
    release([sync, *background])
    assert limiter.in_flight_of(InvocationKind.SYNC) == limiter.in_flight_of(InvocationKind.ASYNC) == 0


def test_a_closed_limiter_refuses_new_leases_and_reports_when_the_last_one_ends() -> None:
    async def scenario() -> None:
        limiter = ConcurrencyLimiter(10)
        await asyncio.wait_for(limiter.idle(), 1)  # nothing in flight: at once
        first, second = hold(limiter, "f", 2)
        limiter.close()
        assert throttle_reason(limiter, "f") == ACCOUNT
        idle = asyncio.ensure_future(limiter.idle())
        await asyncio.sleep(0)
        first.release()
        await asyncio.sleep(0)
        assert not idle.done()
        second.release()
        await asyncio.wait_for(idle, 1)

    asyncio.run(scenario())


def test_async_work_holds_at_most_its_share_of_the_unreserved_pool_and_sync_keeps_the_rest() -> None:
    limiter = ConcurrencyLimiter(10, async_share=0.5)
    background = [limiter.lease("f", InvocationKind.ASYNC) for _ in range(5)]
    with pytest.raises(TooManyRequests) as err:
        limiter.lease("g", InvocationKind.ASYNC)
    assert err.value.reason == ACCOUNT
    waited_for = hold(limiter, "g", 5)  # the other half is the callers'
    assert throttle_reason(limiter, "g") == ACCOUNT
    release(background)
    release(waited_for)
    assert limiter.async_cap() == 5


def test_the_async_share_is_of_the_pool_left_by_reservations_and_a_reservation_is_its_functions() -> None:
    limiter = ConcurrencyLimiter(10, async_share=0.5)
    limiter.set_reserved("r", 4)
    assert limiter.async_cap() == 3  # half of the 6 unreserved
    reserved = [limiter.lease("r", InvocationKind.ASYNC) for _ in range(4)]  # all of its own
    unreserved = [limiter.lease("f", InvocationKind.ASYNC) for _ in range(3)]
    with pytest.raises(TooManyRequests):
        limiter.lease("f", InvocationKind.ASYNC)
    release(reserved + unreserved)
    assert limiter.in_flight == 0
