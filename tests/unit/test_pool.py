"""The pool's assignment rules: warm-first waiting, scale-out, retirement, no leaks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from lambdalite.dataplane.environment import EnvState
from lambdalite.dataplane.pool import EnvironmentPool
from lambdalite.models import FunctionConfig

FUNCTION = FunctionConfig(
    name="f", runtime="python3.11", role="r", handler="app.h", code_sha256="0" * 64, code_size=1
)


@dataclass(eq=False)
class FakeEnvironment:
    function: FunctionConfig
    state: EnvState = EnvState.READY
    retired: bool = False
    stopped: list[bool] = field(default_factory=list)

    async def stop(self) -> None:
        self.state = EnvState.STOPPED
        self.stopped.append(True)


def make_pool(warm_wait_s: float) -> tuple[EnvironmentPool, list[FakeEnvironment]]:
    pool = EnvironmentPool(
        sandbox=None,  # type: ignore[arg-type]
        logs=None,  # type: ignore[arg-type]
        resolve_launch=None,  # type: ignore[arg-type]
        region="us-east-1",
        keep_alive_s=60,
        warm_wait_s=warm_wait_s,
    )
    started: list[FakeEnvironment] = []

    async def start(function: FunctionConfig) -> Any:
        env = FakeEnvironment(function)
        started.append(env)
        return env

    pool._start = start  # type: ignore[method-assign]
    return pool, started


async def lease_briefly(pool: EnvironmentPool, hold_s: float = 0.0) -> Any:
    async with pool.environment(FUNCTION) as env:
        await asyncio.sleep(hold_s)
        return env


def test_a_short_function_waits_for_its_busy_environment_instead_of_starting_one() -> None:
    async def scenario() -> None:
        pool, started = make_pool(warm_wait_s=0.5)
        first = await lease_briefly(pool, 0.005)  # history: 5 ms leases, so a 20 ms window
        holder = asyncio.ensure_future(lease_briefly(pool, 0.01))
        await asyncio.sleep(0.001)
        second = await lease_briefly(pool)
        assert await holder is first
        assert second is first
        assert len(started) == 1

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "history_s",
    [
        0.02,  # mean lease 20 ms: 4 x 20 ms is past the 10 ms window, no wait at all
        0.0005,  # a 2 ms wait that runs out while the only environment is still busy
    ],
)
def test_without_a_warm_environment_in_time_a_new_one_starts(history_s: float) -> None:
    async def scenario() -> None:
        pool, started = make_pool(warm_wait_s=0.01)
        await lease_briefly(pool, history_s)
        holder = asyncio.ensure_future(lease_briefly(pool, 0.05))
        await asyncio.sleep(0.001)
        second = await lease_briefly(pool)
        assert second is not await holder
        assert len(started) == 2

    asyncio.run(scenario())


def test_zero_wait_is_awss_immediate_scale_out() -> None:
    async def scenario() -> None:
        pool, started = make_pool(warm_wait_s=0)
        await lease_briefly(pool)
        results = await asyncio.gather(*(lease_briefly(pool, 0.005) for _ in range(4)))
        assert len({id(env) for env in results}) == 4
        assert len(started) == 4

    asyncio.run(scenario())


def test_a_cancelled_lease_gives_its_environment_back() -> None:
    async def scenario() -> None:
        pool, started = make_pool(warm_wait_s=0)
        task = asyncio.ensure_future(lease_briefly(pool, 10))
        await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        again = await lease_briefly(pool)
        assert again is started[0]

    asyncio.run(scenario())


def test_retired_environments_are_stopped_not_reused() -> None:
    async def scenario() -> None:
        pool, _ = make_pool(warm_wait_s=0)
        first = await lease_briefly(pool)
        pool._all.add(first)
        await pool.retire_snapshot(FUNCTION.environment_key)
        assert first.stopped
        second = await lease_briefly(pool)
        assert second is not first

    asyncio.run(scenario())


def test_environments_older_than_the_lifetime_are_recycled() -> None:
    async def scenario() -> None:
        pool, started = make_pool(warm_wait_s=0)
        pool._max_lifetime_s = 100
        old = await lease_briefly(pool)
        pool._all.add(old)  # what the real _start records
        pool._born[old] = 0.0
        await pool.recycle_old(50.0)
        assert not old.stopped
        await pool.recycle_old(101.0)
        assert old.stopped and old.retired
        assert await lease_briefly(pool) is not old and len(started) == 2

    asyncio.run(scenario())


def test_an_idle_environment_is_taken_at_once_and_released_once() -> None:
    async def scenario() -> None:
        pool, started = make_pool(warm_wait_s=0)
        assert pool.environment(FUNCTION).take() is None  # nothing idle yet: acquire() starts one
        first = await lease_briefly(pool)
        lease = pool.environment(FUNCTION)
        assert lease.take() is first  # no await: the warm path
        assert pool.environment(FUNCTION).take() is None  # it is leased now
        lease.release()
        lease.release()  # harmless: given back once
        other = pool.environment(FUNCTION)
        assert other.take() is first
        assert pool.environment(FUNCTION).take() is None
        other.release()
        assert len(started) == 1

    asyncio.run(scenario())
