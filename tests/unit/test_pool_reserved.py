"""The pool's concurrency accounting: reserved functions and the unreserved pool."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from lambdalite.errors import TooManyRequests
from lambdalite.models import FunctionConfig
from tests.unit.test_pool import FUNCTION, make_pool

OTHER = dataclasses.replace(FUNCTION, name="other")
RESERVED = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT = "ConcurrentInvocationLimitExceeded"


async def hold(pool: Any, function: FunctionConfig, hold_s: float) -> None:
    async with pool.environment(function):
        await asyncio.sleep(hold_s)


async def throttle_reason(pool: Any, function: FunctionConfig) -> str | None:
    try:
        await hold(pool, function, 0)
    except TooManyRequests as err:
        assert err.message == "Rate Exceeded."
        return err.reason
    return None


async def holding(pool: Any, function: FunctionConfig, count: int) -> list[asyncio.Future[None]]:
    tasks = [asyncio.ensure_future(hold(pool, function, 0.05)) for _ in range(count)]
    await asyncio.sleep(0.005)
    return tasks


def test_a_reserved_function_runs_at_most_its_reservation() -> None:
    async def scenario() -> None:
        pool, _ = make_pool(warm_wait_s=0, max_concurrency=10)
        pool.set_reserved(FUNCTION.name, 2)
        tasks = await holding(pool, FUNCTION, 2)
        assert await throttle_reason(pool, FUNCTION) == RESERVED
        # Its reservation is its own: the unreserved pool (10 - 2) is untouched.
        assert await throttle_reason(pool, OTHER) is None
        await asyncio.gather(*tasks)
        assert await throttle_reason(pool, FUNCTION) is None
        assert pool.in_flight == 0

    asyncio.run(scenario())


def test_zero_reserved_throttles_everything() -> None:
    async def scenario() -> None:
        pool, started = make_pool(warm_wait_s=0)
        pool.set_reserved(FUNCTION.name, 0)
        assert await throttle_reason(pool, FUNCTION) == RESERVED
        assert started == []
        pool.set_reserved(FUNCTION.name, None)
        assert await throttle_reason(pool, FUNCTION) is None

    asyncio.run(scenario())


def test_unreserved_functions_share_the_limit_minus_reservations() -> None:
    async def scenario() -> None:
        pool, _ = make_pool(warm_wait_s=0, max_concurrency=5)
        pool.set_reserved("someone-else", 3)
        tasks = await holding(pool, FUNCTION, 2)
        assert await throttle_reason(pool, OTHER) == ACCOUNT
        pool.set_reserved("someone-else", 2)
        assert await throttle_reason(pool, OTHER) is None
        await asyncio.gather(*tasks)

    asyncio.run(scenario())


@pytest.mark.parametrize("after", [None, 1, 5])
def test_slots_come_back_to_the_pool_they_were_taken_from(after: int | None) -> None:
    """A reservation that changes while invocations run does not leak or double-free slots."""

    async def scenario() -> None:
        pool, _ = make_pool(warm_wait_s=0, max_concurrency=4)
        pool.set_reserved(FUNCTION.name, 2)
        tasks = await holding(pool, FUNCTION, 2)
        pool.set_reserved(FUNCTION.name, after)
        await asyncio.gather(*tasks)
        assert pool.in_flight == 0
        assert pool._unreserved_in_flight == 0
        assert not pool._reserved_in_flight
        unreserved_room = 4 - (after or 0)
        more = await holding(pool, OTHER, unreserved_room)
        assert await throttle_reason(pool, OTHER) == ACCOUNT
        await asyncio.gather(*more)

    asyncio.run(scenario())


def test_reservations_given_at_construction_apply() -> None:
    async def scenario() -> None:
        pool, _ = make_pool(warm_wait_s=0)
        fresh = type(pool)(
            sandbox=None,  # type: ignore[arg-type]
            logs=None,  # type: ignore[arg-type]
            resolve_launch=None,  # type: ignore[arg-type]
            region="us-east-1",
            max_concurrency=3,
            keep_alive_s=60,
            reserved={FUNCTION.name: 0, "x": 2},
        )
        fresh._start = pool._start  # type: ignore[method-assign]
        assert await throttle_reason(fresh, FUNCTION) == RESERVED
        tasks = await holding(fresh, OTHER, 1)
        assert await throttle_reason(fresh, OTHER) == ACCOUNT
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
