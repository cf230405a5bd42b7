"""The node's execution environments: which one runs an invocation.

``EnvironmentPool.environment(function)`` assigns an environment to one
invocation that the concurrency limiter (``dataplane.limiter``) already
admitted: an idle provisioned environment of the function revision first (see
``dataplane.provisioner``), then the most recently used idle on-demand one,
else a new one.

Warm-first: when every environment of a revision is busy and its invocations
are short (recent mean lease time x WAIT_FACTOR within ``warm_wait_ms``), an
invocation first waits that long for one to come back before it starts a new
one. A cold start costs tens of milliseconds; a warm environment of a 0.3 ms
function is free again in well under one, so this saves latency and spares
the host a process per concurrent caller. Slow functions, first invocations
and ``warm_wait_ms=0`` scale out at once, as AWS does.

Whatever happens inside the ``async with`` block, the environment goes back
to the pool (still READY) or is stopped. Environments of an older revision
are never handed out again: they finish their invocation and stop
(``retire``, ``retire_snapshot``). Idle on-demand environments are reaped
after ``keep_alive_s``; a busy runtime over its memory is killed where the
sandbox cannot enforce memory itself.

The pool admits nothing: concurrency limits are the limiter's, and callers go
through ``dataplane.invoker.Invoker``, which composes both.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType

from lambdalite.control.snapstart import restores_from_snapshot
from lambdalite.dataplane.environment import (
    ON_DEMAND,
    PROVISIONED,
    SNAP_START,
    EnvState,
    ExecutionEnvironment,
    LogSink,
    RuntimeLaunch,
)
from lambdalite.dataplane.idle import IdleEnvironments
from lambdalite.dataplane.provisioner import Provisioner
from lambdalite.models import FunctionConfig
from lambdalite.sandbox.spec import Sandbox

LaunchResolver = Callable[[FunctionConfig], Awaitable[RuntimeLaunch]]
"""Turns a function revision into how to start its runtime (may unpack code)."""

REAP_INTERVAL_S = 1.0
WAIT_FACTOR = 4.0
EWMA_WEIGHT = 0.1
MEMORY_CHECK_INTERVAL_S = 0.05


@dataclass(slots=True)
class _RevisionLoad:
    """How busy one function revision is, for the warm-first decision."""

    busy: int = 0
    mean_lease_s: float | None = None
    waiters: deque[asyncio.Future[ExecutionEnvironment | None]] = field(default_factory=deque)

    def record(self, lease_s: float) -> None:
        mean = self.mean_lease_s
        self.mean_lease_s = lease_s if mean is None else mean + EWMA_WEIGHT * (lease_s - mean)


class EnvironmentPool:
    """Owns every environment on this node."""

    def __init__(
        self,
        *,
        sandbox: Sandbox,
        logs: LogSink,
        resolve_launch: LaunchResolver,
        region: str,
        keep_alive_s: float,
        warm_wait_s: float = 0.0,
        max_lifetime_s: float | None = None,
    ) -> None:
        """``max_lifetime_s``: an environment older than this is recycled (its execution
        role's credentials, fixed in its variables, must not expire while it lives)."""
        self._sandbox = sandbox
        self._logs = logs
        self._resolve_launch = resolve_launch
        self._region = region
        self._keep_alive_s = keep_alive_s
        self._warm_wait_s = warm_wait_s
        self._max_lifetime_s = max_lifetime_s
        self._born: dict[ExecutionEnvironment, float] = {}
        self._load: dict[str, _RevisionLoad] = defaultdict(_RevisionLoad)
        self._idle = IdleEnvironments()
        """Idle on-demand environments."""
        self._all: set[ExecutionEnvironment] = set()
        self.provisioner = Provisioner(
            start=self._start_provisioned,
            hand_back=self._give_back,
            stop_later=self._stop_later,
            in_background=self.in_background,
        )
        """Provisioned concurrency's environments: leased before on-demand ones."""
        self._provisioned_idle = self.provisioner.idle
        self._closing = False
        self._housekeeping: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Future[None]] = set()

    def in_background(self, work: Awaitable[None]) -> None:
        """Run ``work`` without awaiting it; the pool holds the task until it ends."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def environments(self) -> list[ExecutionEnvironment]:
        return list(self._all)

    def start_housekeeping(self) -> None:
        self._housekeeping = [
            asyncio.ensure_future(self._reap_idle_forever()),
            asyncio.ensure_future(self._watch_memory_forever()),
        ]

    def environment(self, function: FunctionConfig) -> EnvironmentLease:
        """Lease an environment for one admitted invocation (see the module
        docstring): ``async with pool.environment(function) as env``. The
        environment may be STOPPED when its start failed: the caller then
        reports ``env.fail_invocation``. Entering raises what resolving the
        function's launch raises (its code cannot be unpacked)."""
        return EnvironmentLease(self, function)

    async def _wait_for_warm(self, load: _RevisionLoad) -> ExecutionEnvironment | None:
        """A busy environment handed over within the warm-first window, or None."""
        mean = load.mean_lease_s
        if not load.busy or mean is None or mean * WAIT_FACTOR > self._warm_wait_s:
            return None
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[ExecutionEnvironment | None] = loop.create_future()
        load.waiters.append(waiter)
        timer = loop.call_later(mean * WAIT_FACTOR, _resolve, waiter, None)
        try:
            return await waiter
        except asyncio.CancelledError:
            # Cancelled after an environment was handed over: it must not leak.
            if waiter.done() and not waiter.cancelled() and (handed := waiter.result()) is not None:
                self._give_back(handed)
            raise
        finally:
            timer.cancel()
            if not waiter.done():
                waiter.cancel()
            with contextlib.suppress(ValueError):
                load.waiters.remove(waiter)

    def _take_idle(self, environment_key: str) -> ExecutionEnvironment | None:
        # Provisioned environments first (only a dict test on a node that has none).
        if self._provisioned_idle:
            env = self._provisioned_idle.take(environment_key)
            if env is not None:
                return env
        return self._idle.take(environment_key)

    async def _start(
        self, function: FunctionConfig, initialization_type: str = ON_DEMAND
    ) -> ExecutionEnvironment:
        if initialization_type == ON_DEMAND and restores_from_snapshot(function):
            initialization_type = SNAP_START
        launch = await self._resolve_launch(function)
        env = ExecutionEnvironment(
            function,
            launch,
            sandbox=self._sandbox,
            logs=self._logs,
            region=self._region,
            on_stopped=self._forget,
            initialization_type=initialization_type,
        )
        self._all.add(env)
        self._born[env] = time.monotonic()
        await env.start()
        return env

    async def prepare(self, function: FunctionConfig) -> None:
        """Start one environment of a SnapStart version now and keep it idle, as
        publishing the version does on AWS: its snapshot is made on the way."""
        self._give_back(await self._start(function))

    def _start_provisioned(self, function: FunctionConfig) -> Awaitable[ExecutionEnvironment]:
        return self._start(function, PROVISIONED)

    def _give_back(self, env: ExecutionEnvironment, key: str | None = None) -> None:
        """``key``: the environment's ``environment_key`` when the caller knows it."""
        if env.state is EnvState.READY and not env.retired and not self._closing:
            if key is None:
                key = env.function.environment_key
            waiters = self._load[key].waiters
            while waiters:
                waiter = waiters.popleft()
                if not waiter.done():
                    waiter.set_result(env)
                    return
            if not self.provisioner.owns(env):
                self._idle[key].append(env)
                return
            if self.provisioner.keep(env):
                return
            # Its config was removed or lowered: it goes away like its config.
        self._stop_later(env)

    def _stop_later(self, env: ExecutionEnvironment) -> None:
        """Forget the environment now and stop it in the background."""
        if env.state is not EnvState.STOPPED:
            self.in_background(env.stop())
        self._forget(env)

    def _forget(self, env: ExecutionEnvironment) -> None:
        self._all.discard(env)
        self._born.pop(env, None)
        self._idle.discard(env)
        self.provisioner.forget(env)

    async def retire(self, function_name: str) -> None:
        """The function was deleted: every environment of it stops (idle ones
        now, busy ones when their invocation ends)."""
        await self._retire(lambda env: env.function.name == function_name)

    async def retire_snapshot(self, environment_key: str) -> None:
        """One snapshot is superseded ($LATEST's code or configuration changed) or gone
        (a version was deleted): its environments stop; other versions keep theirs."""
        await self._retire(lambda env: env.function.environment_key == environment_key)

    async def _retire(self, doomed_if: Callable[[ExecutionEnvironment], bool]) -> None:
        doomed: list[ExecutionEnvironment] = []
        for env in list(self._all):
            if doomed_if(env):
                env.retired = True
                idle = self._idle.holds(env) or self._provisioned_idle.holds(env)
                if env.state is EnvState.READY and idle:
                    self._forget(env)
                    doomed.append(env)
        await asyncio.gather(*(env.stop() for env in doomed))

    async def _reap_idle_forever(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL_S)
            cutoff = time.monotonic() - self._keep_alive_s
            expired = [env for idle in self._idle.values() for env in idle if env.last_used < cutoff]
            for env in expired:
                self._forget(env)
            await asyncio.gather(*(env.stop() for env in expired), return_exceptions=True)
            await self.recycle_old(time.monotonic())

    async def recycle_old(self, now: float) -> None:
        """Environments started more than ``max_lifetime_s`` before ``now`` (monotonic)
        stop: idle ones now, busy ones when their invocation ends."""
        if self._max_lifetime_s is not None:
            cutoff = now - self._max_lifetime_s
            await self._retire(lambda env: self._born.get(env, cutoff) < cutoff)

    async def _watch_memory_forever(self) -> None:
        """Memory enforcement where the sandbox has none (no cgroup): a busy
        runtime over its MemorySize is killed."""
        while True:
            await asyncio.sleep(MEMORY_CHECK_INTERVAL_S)
            for env in list(self._all):
                if env.state is not EnvState.BUSY or env.memory_limited:
                    continue
                if env.rss_bytes() > env.function.memory_mb * 1024 * 1024:
                    env.kill_for_memory()

    async def close(self) -> None:
        """Stop every environment (the invoker has let in-flight invocations
        finish first, as far as its grace allowed); nothing is handed out again."""
        self._closing = True
        self.provisioner.close()
        for task in self._housekeeping:
            task.cancel()
        await asyncio.gather(*(env.stop() for env in list(self._all)), return_exceptions=True)
        self._all.clear()
        self._idle.clear()


def _resolve(waiter: asyncio.Future[ExecutionEnvironment | None], value: ExecutionEnvironment | None) -> None:
    if not waiter.done():
        waiter.set_result(value)


class EnvironmentLease:
    """An environment of the pool for one invocation: given back (still READY) or
    stopped on every path; its lease time feeds warm-first.

    ``async with`` it, or, on a path that counts every await (the invoker's): ``take()``
    an idle environment at once, else ``await acquire()``, and ``release()`` in a
    ``finally`` either way."""

    __slots__ = ("_env", "_function", "_key", "_leased_at", "_load", "_pool")

    def __init__(self, pool: EnvironmentPool, function: FunctionConfig) -> None:
        self._pool = pool
        self._function = function
        self._key = function.environment_key
        self._load = pool._load[self._key]
        self._env: ExecutionEnvironment | None = None
        self._leased_at = 0.0

    def take(self) -> ExecutionEnvironment | None:
        """An idle environment of the function's snapshot, leased now; None when
        there is none (``acquire`` then waits for one or starts one)."""
        env = self._pool._take_idle(self._key)
        if env is not None:
            self._leased(env)
        return env

    async def acquire(self) -> ExecutionEnvironment:
        """The environment for the invocation: an idle one, one handed over within the
        warm-first window, or a new one. Raises what starting one raises."""
        env = self.take()
        if env is not None:
            return env
        pool = self._pool
        # Cancelled while waiting: _wait_for_warm gives back what it was handed.
        env = await pool._wait_for_warm(self._load)
        if env is None:
            env = await pool._start(self._function)
        self._leased(env)
        return env

    def _leased(self, env: ExecutionEnvironment) -> None:
        self._env = env
        self._load.busy += 1
        self._leased_at = time.monotonic()

    def release(self) -> None:
        """Give the environment back (or stop it); harmless when none was leased, or twice."""
        env = self._env
        if env is None:
            return
        self._env = None
        load = self._load
        load.busy -= 1
        load.record(time.monotonic() - self._leased_at)
        self._pool._give_back(env, self._key)

    async def __aenter__(self) -> ExecutionEnvironment:
        return await self.acquire()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()
