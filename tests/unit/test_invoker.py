"""The invoker: admission before assignment, failed starts, throttling, shutdown."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest

from lambdalite.dataplane.environment import ON_DEMAND, EnvState
from lambdalite.dataplane.invoker import Invoker
from lambdalite.dataplane.limiter import ConcurrencyLimiter, InvocationKind
from lambdalite.dataplane.pool import EnvironmentPool
from lambdalite.errors import TooManyRequests
from lambdalite.models import FunctionConfig, Invocation, InvocationResult
from tests.unit.test_pool import FUNCTION, make_pool

ARN = "arn:aws:lambda:us-east-1:000000000000:function:f"


@dataclass(eq=False)
class FakeEnvironment:
    """Answers every invocation with its payload, after ``hold_s``."""

    function: FunctionConfig
    state: EnvState = EnvState.READY
    retired: bool = False
    hold_s: float = 0.0
    seen: list[Invocation] = field(default_factory=list)
    stopped: list[bool] = field(default_factory=list)

    async def invoke(self, invocation: Invocation) -> InvocationResult:
        self.seen.append(invocation)
        await asyncio.sleep(self.hold_s)
        return InvocationResult(invocation.payload, executed_version=self.function.version)

    def fail_invocation(self, invocation: Invocation) -> InvocationResult:
        self.seen.append(invocation)
        return InvocationResult(b'{"errorType":"Runtime.ExitError"}', function_error="Unhandled")

    async def stop(self) -> None:
        self.state = EnvState.STOPPED
        self.stopped.append(True)


@dataclass
class Node:
    invoker: Invoker
    limiter: ConcurrencyLimiter
    pool: EnvironmentPool
    started: list[FakeEnvironment]


def make_node(limit: int = 10, *, fail_start: bool = False, hold_s: float = 0.0) -> Node:
    pool, _ = make_pool(warm_wait_s=0)
    started: list[FakeEnvironment] = []

    async def start(function: FunctionConfig, initialization_type: str = ON_DEMAND) -> Any:
        state = EnvState.STOPPED if fail_start else EnvState.READY
        env = FakeEnvironment(function, state, hold_s=hold_s)
        started.append(env)
        pool._all.add(env)  # type: ignore[arg-type]
        return env

    pool._start = start  # type: ignore[method-assign]
    limiter = ConcurrencyLimiter(limit)
    return Node(Invoker(limiter, pool), limiter, pool, started)


def test_an_invocation_runs_in_an_environment_and_reuses_it_warm() -> None:
    async def scenario() -> None:
        node = make_node()
        first = await node.invoker.invoke(FUNCTION, b'{"a":1}', invoked_arn=ARN, request_id="req-1")
        second = await node.invoker.invoke(FUNCTION, b"{}", invoked_arn=ARN, client_context='{"c":1}')
        assert (first.payload, first.function_error) == (b'{"a":1}', None)
        assert second.payload == b"{}"
        [env] = node.started
        assert env.seen[0].request_id == "req-1"
        assert env.seen[1].request_id not in {"", "req-1"}  # a new one when the caller has none
        assert (env.seen[1].invoked_arn, env.seen[1].client_context) == (ARN, '{"c":1}')
        assert node.limiter.in_flight == 0

    asyncio.run(scenario())


def test_a_failed_start_answers_with_its_error_and_the_next_invocation_starts_afresh() -> None:
    async def scenario() -> None:
        node = make_node(fail_start=True)
        result = await node.invoker.invoke(FUNCTION, b"{}", invoked_arn=ARN)
        assert result.function_error == "Unhandled"
        assert len(node.started) == 1  # not retried within the invocation
        await node.invoker.invoke(FUNCTION, b"{}", invoked_arn=ARN)
        assert len(node.started) == 2
        assert node.limiter.in_flight == 0
        assert node.pool.environments() == []  # stopped ones are not kept

    asyncio.run(scenario())


def test_a_start_that_raises_gives_the_slot_back() -> None:
    async def scenario() -> None:
        node = make_node(limit=1)

        async def unpack_fails(function: FunctionConfig, initialization_type: str = ON_DEMAND) -> Any:
            raise OSError("no space left on device")

        node.pool._start = unpack_fails  # type: ignore[method-assign]
        with pytest.raises(OSError):
            await node.invoker.invoke(FUNCTION, b"{}", invoked_arn=ARN)
        assert node.limiter.in_flight == 0

    asyncio.run(scenario())


def test_a_throttled_invocation_starts_no_environment() -> None:
    async def scenario() -> None:
        node = make_node()
        node.limiter.set_reserved(FUNCTION.name, 0)
        with pytest.raises(TooManyRequests) as err:
            await node.invoker.invoke(FUNCTION, b"{}", invoked_arn=ARN)
        assert (err.value.message, err.value.reason) == (
            "Rate Exceeded.",
            "ReservedFunctionConcurrentInvocationLimitExceeded",
        )
        assert node.started == []

    asyncio.run(scenario())


def test_beyond_the_limit_is_throttled_and_slots_come_back_with_their_kind() -> None:
    async def scenario() -> None:
        node = make_node(limit=1, hold_s=0.01)
        other = dataclasses.replace(FUNCTION, name="other")
        holder = asyncio.ensure_future(
            node.invoker.invoke(FUNCTION, b"{}", invoked_arn=ARN, kind=InvocationKind.ASYNC)
        )
        await asyncio.sleep(0.001)
        assert node.limiter.in_flight_of(InvocationKind.ASYNC) == 1
        with pytest.raises(TooManyRequests) as err:
            await node.invoker.invoke(other, b"{}", invoked_arn=ARN)
        assert err.value.reason == "ConcurrentInvocationLimitExceeded"
        await holder
        assert node.limiter.in_flight == 0
        await node.invoker.invoke(other, b"{}", invoked_arn=ARN)

    asyncio.run(scenario())


def test_a_cancelled_invocation_gives_back_its_slot_and_environment() -> None:
    async def scenario() -> None:
        node = make_node(hold_s=10)
        task = asyncio.ensure_future(node.invoker.invoke(FUNCTION, b"{}", invoked_arn=ARN))
        await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert node.limiter.in_flight == 0
        node.started[0].hold_s = 0
        await node.invoker.invoke(FUNCTION, b"{}", invoked_arn=ARN)
        assert len(node.started) == 1

    asyncio.run(scenario())


def test_close_refuses_new_work_lets_running_work_finish_then_stops_environments() -> None:
    async def scenario() -> None:
        node = make_node(hold_s=0.02)
        running = asyncio.ensure_future(node.invoker.invoke(FUNCTION, b'{"x":1}', invoked_arn=ARN))
        await asyncio.sleep(0.001)
        closing = asyncio.ensure_future(node.invoker.close(grace_s=5))
        await asyncio.sleep(0)
        with pytest.raises(TooManyRequests) as err:
            await node.invoker.invoke(FUNCTION, b"{}", invoked_arn=ARN)
        assert err.value.reason == "ConcurrentInvocationLimitExceeded"
        await asyncio.sleep(0.005)
        assert not closing.done() and not node.started[0].stopped  # still waiting for it
        assert (await running).payload == b'{"x":1}'
        await asyncio.wait_for(closing, 1)  # well inside the grace: it ended with the invocation
        assert node.started[0].stopped

    asyncio.run(scenario())


def test_close_does_not_wait_past_its_grace() -> None:
    async def scenario() -> None:
        node = make_node(hold_s=10)
        running = asyncio.ensure_future(node.invoker.invoke(FUNCTION, b"{}", invoked_arn=ARN))
        await asyncio.sleep(0.001)
        await asyncio.wait_for(node.invoker.close(grace_s=0), 1)
        assert node.started[0].stopped
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    asyncio.run(scenario())
