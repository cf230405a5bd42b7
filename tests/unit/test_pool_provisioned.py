"""Provisioned concurrency in the pool: environments kept ahead of time, leased first, replaced."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest

from lambdalite.dataplane import pool as pool_module
from lambdalite.dataplane.environment import ON_DEMAND, PROVISIONED, EnvState
from lambdalite.dataplane.pool import EnvironmentPool
from lambdalite.models import FunctionConfig
from tests.unit.test_pool import FUNCTION

VERSION = dataclasses.replace(FUNCTION, version="1", revision_id="rev-1")
NEXT = dataclasses.replace(FUNCTION, version="2", revision_id="rev-2")
KEY = "f:live"


@dataclass(eq=False)
class FakeEnvironment:
    function: FunctionConfig
    initialization_type: str
    state: EnvState = EnvState.READY
    retired: bool = False
    last_used: float = 0.0
    stopped: list[bool] = field(default_factory=list)

    async def stop(self) -> None:
        self.state = EnvState.STOPPED
        self.stopped.append(True)


def make_pool(fail: bool = False) -> tuple[EnvironmentPool, list[FakeEnvironment]]:
    pool = EnvironmentPool(
        sandbox=None,  # type: ignore[arg-type]
        logs=None,  # type: ignore[arg-type]
        resolve_launch=None,  # type: ignore[arg-type]
        region="us-east-1",
        keep_alive_s=0,
    )
    started: list[FakeEnvironment] = []

    async def start(function: FunctionConfig, initialization_type: str = ON_DEMAND) -> Any:
        env = FakeEnvironment(function, initialization_type, EnvState.STOPPED if fail else EnvState.READY)
        started.append(env)
        pool._all.add(env)  # type: ignore[arg-type]
        return env

    pool._start = start  # type: ignore[method-assign]
    return pool, started


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def lease(pool: EnvironmentPool, function: FunctionConfig, hold_s: float = 0.0) -> Any:
    async with pool.environment(function) as env:
        await asyncio.sleep(hold_s)
        return env


def live(started: list[FakeEnvironment]) -> list[FakeEnvironment]:
    return [env for env in started if env.state is not EnvState.STOPPED]


def test_provisioning_starts_the_count_and_moves_from_in_progress_to_ready() -> None:
    async def scenario() -> None:
        pool, started = make_pool()
        pool.provisioner.provision(KEY, VERSION, 2)
        assert pool.provisioner.state(KEY).status == "IN_PROGRESS"
        await settle()
        state = pool.provisioner.state(KEY)
        assert (state.status, state.allocated, state.reason) == ("READY", 2, None)
        assert [env.initialization_type for env in started] == [PROVISIONED, PROVISIONED]

    asyncio.run(scenario())


def test_provisioned_environments_are_leased_first_and_the_rest_spill_over() -> None:
    async def scenario() -> None:
        pool, _ = make_pool()
        pool.provisioner.provision(KEY, VERSION, 1)
        await settle()
        first, second = await asyncio.gather(lease(pool, VERSION, 0.01), lease(pool, VERSION, 0.01))
        assert first.initialization_type == PROVISIONED
        assert second.initialization_type == ON_DEMAND
        # Back in the pool, the provisioned one is still preferred over the on-demand one.
        assert await lease(pool, VERSION) is first

    asyncio.run(scenario())


def test_provisioned_environments_are_never_reaped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_module, "REAP_INTERVAL_S", 0.005)

    async def scenario() -> None:
        pool, started = make_pool()
        pool.provisioner.provision(KEY, VERSION, 1)
        await settle()
        on_demand = (await asyncio.gather(lease(pool, VERSION, 0.01), lease(pool, VERSION, 0.01)))[1]
        pool.start_housekeeping()
        await asyncio.sleep(0.03)
        assert on_demand.stopped == [True]
        assert [env.initialization_type for env in live(started)] == [PROVISIONED]
        await pool.close()

    asyncio.run(scenario())


def test_a_provisioned_environment_that_dies_is_replaced() -> None:
    async def scenario() -> None:
        pool, started = make_pool()
        pool.provisioner.provision(KEY, VERSION, 1)
        await settle()
        dead = started[0]
        dead.state = EnvState.STOPPED
        pool._forget(dead)  # type: ignore[arg-type]  # what on_stopped does when the process exits
        await settle()
        assert len(started) == 2
        assert started[1].initialization_type == PROVISIONED
        assert pool.provisioner.state(KEY).allocated == 1

    asyncio.run(scenario())


def test_removing_the_config_stops_idle_environments_now_and_busy_ones_when_they_finish() -> None:
    async def scenario() -> None:
        pool, started = make_pool()
        pool.provisioner.provision(KEY, VERSION, 2)
        await settle()
        busy = asyncio.ensure_future(lease(pool, VERSION, 0.02))
        await asyncio.sleep(0.005)
        pool.provisioner.provision(KEY, None)
        await settle()
        assert sum(1 for env in started if env.stopped) == 1
        await busy
        await settle()
        assert all(env.stopped for env in started)
        assert pool.provisioner.state(KEY).allocated == 0
        assert len(started) == 2  # nothing replaced them

    asyncio.run(scenario())


def test_a_new_target_revision_replaces_the_environments() -> None:
    async def scenario() -> None:
        pool, started = make_pool()
        pool.provisioner.provision(KEY, VERSION, 1)
        await settle()
        pool.provisioner.provision(KEY, NEXT, 1)
        await settle()
        assert [env.function.version for env in live(started)] == ["2"]
        assert pool.provisioner.state(KEY).status == "READY"

    asyncio.run(scenario())


def test_lowering_the_count_stops_the_extra_environments() -> None:
    async def scenario() -> None:
        pool, started = make_pool()
        pool.provisioner.provision(KEY, VERSION, 3)
        await settle()
        pool.provisioner.provision(KEY, VERSION, 1)
        await settle()
        assert len(live(started)) == 1
        assert pool.provisioner.state(KEY).allocated == 1

    asyncio.run(scenario())


def test_a_failing_init_marks_the_config_failed_and_is_not_retried() -> None:
    async def scenario() -> None:
        pool, started = make_pool(fail=True)
        pool.provisioner.provision(KEY, VERSION, 2)
        await settle()
        state = pool.provisioner.state(KEY)
        assert (state.status, state.allocated, state.reason) == ("FAILED", 0, "FUNCTION_ERROR_INIT_FAILURE")
        assert len(started) == 2

    asyncio.run(scenario())
