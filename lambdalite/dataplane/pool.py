"""Warm environments and the node's concurrency limit.

``EnvironmentPool.environment(function)`` leases an environment for one
invocation: the most recently used idle one of the same function revision, or
a new one.

Warm-first: when every environment of a revision is busy and its invocations
are short (recent mean lease time x WAIT_FACTOR within ``warm_wait_ms``), an
invocation first waits that long for one to come back before it starts a new
one. A cold start costs tens of milliseconds; a warm environment of a 0.3 ms
function is free again in well under one, so this saves latency and spares
the host a process per concurrent caller. Slow functions, first invocations
and ``warm_wait_ms=0`` scale out at once, as AWS does.

Concurrency: a function with reserved concurrency (``set_reserved``, fed by
the registry) never runs more invocations at once than reserved - 0 throttles
every invoke - and beyond it gets 429 with Reason
ReservedFunctionConcurrentInvocationLimitExceeded. Every other function shares
the unreserved pool, ``max_concurrency`` minus the sum of reservations, and
beyond it gets ConcurrentInvocationLimitExceeded. Both checks are a dict
lookup and two integer comparisons on the hot path.

Provisioned concurrency (``provision``, fed by the registry): a config keeps
that many environments of one function revision initialised ahead of time,
started with AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency. They are
leased before any on-demand environment of the revision, are never reaped for
idleness, and one that dies is replaced. When all of them are busy, further
invocations spill over to on-demand environments, as on AWS.

Whatever happens inside the ``async with`` block, the environment goes back
to the pool (still READY) or is stopped, and the concurrency slot is
returned. Environments of an older revision are never handed out again: they
finish their invocation and stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from lambdalite.control import provisioned as provisioned_rules
from lambdalite.control.concurrency import ACCOUNT_LIMIT_REASON, RESERVED_LIMIT_REASON, THROTTLED
from lambdalite.control.provisioned import ProvisionedState
from lambdalite.dataplane.environment import (
    ON_DEMAND,
    PROVISIONED,
    EnvState,
    ExecutionEnvironment,
    LogSink,
    RuntimeLaunch,
)
from lambdalite.errors import TooManyRequests
from lambdalite.models import FunctionConfig
from lambdalite.sandbox.spec import Sandbox

LaunchResolver = Callable[[FunctionConfig], Awaitable[RuntimeLaunch]]
"""Turns a function revision into how to start its runtime (may unpack code)."""

REAP_INTERVAL_S = 1.0
WAIT_FACTOR = 4.0
EWMA_WEIGHT = 0.1


@dataclass(slots=True)
class _RevisionLoad:
    """How busy one function revision is, for the warm-first decision."""

    busy: int = 0
    mean_lease_s: float | None = None
    waiters: deque[asyncio.Future[ExecutionEnvironment | None]] = field(default_factory=deque)

    def record(self, lease_s: float) -> None:
        mean = self.mean_lease_s
        self.mean_lease_s = lease_s if mean is None else mean + EWMA_WEIGHT * (lease_s - mean)


MEMORY_CHECK_INTERVAL_S = 0.05


@dataclass(slots=True, eq=False)
class _Provision:
    """One provisioned concurrency config's environments."""

    key: str
    function: FunctionConfig
    count: int
    envs: set[ExecutionEnvironment] = field(default_factory=set)
    """Initialised environments it owns (idle or busy)."""
    starting: int = 0
    reached: bool = False
    """Every requested environment was initialised once: READY from then on."""
    failure: str | None = None
    active: bool = True

    def state(self) -> ProvisionedState:
        allocated = min(len(self.envs), self.count)
        if self.failure is not None:
            return ProvisionedState(allocated, provisioned_rules.FAILED, self.failure)
        if allocated >= self.count:
            self.reached = True
        status = provisioned_rules.READY if self.reached else provisioned_rules.IN_PROGRESS
        return ProvisionedState(allocated, status)


class EnvironmentPool:
    """Owns every environment on this node."""

    def __init__(
        self,
        *,
        sandbox: Sandbox,
        logs: LogSink,
        resolve_launch: LaunchResolver,
        region: str,
        max_concurrency: int,
        keep_alive_s: float,
        warm_wait_s: float = 0.0,
        reserved: Mapping[str, int] | None = None,
    ) -> None:
        """``reserved``: function name -> reserved concurrency at start; later
        changes arrive through ``set_reserved``."""
        self._sandbox = sandbox
        self._logs = logs
        self._resolve_launch = resolve_launch
        self._region = region
        self._max_concurrency = max_concurrency
        self._keep_alive_s = keep_alive_s
        self._warm_wait_s = warm_wait_s
        self._load: dict[str, _RevisionLoad] = defaultdict(_RevisionLoad)
        self._idle: dict[str, list[ExecutionEnvironment]] = defaultdict(list)
        """revision_id -> idle READY environments, most recently used last."""
        self._all: set[ExecutionEnvironment] = set()
        self._provisions: dict[str, _Provision] = {}
        """config key (see control.provisioned.key) -> its environments."""
        self._owner: dict[ExecutionEnvironment, _Provision] = {}
        self._provisioned_idle: dict[str, list[ExecutionEnvironment]] = defaultdict(list)
        """revision_id -> idle provisioned environments: leased first, never reaped."""
        self._in_flight = 0
        self._reserved: dict[str, int] = {}
        self._reserved_total = 0
        self._reserved_in_flight: dict[str, int] = defaultdict(int)
        """function name -> invocations running that took a reserved slot."""
        self._unreserved_in_flight = 0
        for name, count in (reserved or {}).items():
            self.set_reserved(name, count)
        self._closing = False
        self._housekeeping: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Future[None]] = set()

    def in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` without awaiting it; the pool holds the task until it ends."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def set_reserved(self, function_name: str, reserved: int | None) -> None:
        """The function's reserved concurrency changed (None: it has none now).
        Invocations already running finish and give back the slot they took."""
        self._reserved_total -= self._reserved.pop(function_name, 0)
        if reserved is not None:
            self._reserved[function_name] = reserved
            self._reserved_total += reserved

    def environments(self) -> list[ExecutionEnvironment]:
        return list(self._all)

    def start_housekeeping(self) -> None:
        self._housekeeping = [
            asyncio.ensure_future(self._reap_idle_forever()),
            asyncio.ensure_future(self._watch_memory_forever()),
        ]

    @contextlib.asynccontextmanager
    async def environment(self, function: FunctionConfig) -> AsyncIterator[ExecutionEnvironment]:
        """Lease an environment for one invocation (see module docstring).

        Raises TooManyRequests when the function's reservation, or the unreserved
        pool, is used up (see the module docstring). The yielded environment may
        be STOPPED when its start failed: the caller then reports
        ``env.fail_invocation``."""
        name = function.name
        limit = self._reserved.get(name)
        if self._closing:
            raise TooManyRequests(THROTTLED, reason=ACCOUNT_LIMIT_REASON)
        if limit is None:
            if self._unreserved_in_flight >= self._max_concurrency - self._reserved_total:
                raise TooManyRequests(THROTTLED, reason=ACCOUNT_LIMIT_REASON)
            self._unreserved_in_flight += 1
        else:
            if self._reserved_in_flight[name] >= limit:
                raise TooManyRequests(THROTTLED, reason=RESERVED_LIMIT_REASON)
            self._reserved_in_flight[name] += 1
        self._in_flight += 1
        load = self._load[function.revision_id]
        env: ExecutionEnvironment | None = None
        try:
            env = self._take_idle(function)
            if env is None:
                env = await self._wait_for_warm(load)
            if env is None:
                env = await self._start(function)
            load.busy += 1
            leased_at = time.monotonic()
            try:
                yield env
            finally:
                load.busy -= 1
                load.record(time.monotonic() - leased_at)
        finally:
            self._in_flight -= 1
            if limit is None:
                self._unreserved_in_flight -= 1
            else:
                self._reserved_in_flight[name] -= 1
                if not self._reserved_in_flight[name]:
                    del self._reserved_in_flight[name]
            if env is not None:
                self._give_back(env)

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

    def _take_idle(self, function: FunctionConfig) -> ExecutionEnvironment | None:
        revision = function.revision_id
        idle = self._provisioned_idle.get(revision)
        while idle:
            env = idle.pop()
            if env.state is EnvState.READY:
                return env
        idle = self._idle.get(revision)
        while idle:
            env = idle.pop()
            if env.state is EnvState.READY:
                return env
        return None

    async def _start(
        self, function: FunctionConfig, initialization_type: str = ON_DEMAND
    ) -> ExecutionEnvironment:
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
        await env.start()
        return env

    def _give_back(self, env: ExecutionEnvironment) -> None:
        if env.state is EnvState.READY and not env.retired and not self._closing:
            waiters = self._load[env.function.revision_id].waiters
            while waiters:
                waiter = waiters.popleft()
                if not waiter.done():
                    waiter.set_result(env)
                    return
            owner = self._owner.get(env)
            if owner is None:
                self._idle[env.function.revision_id].append(env)
                return
            if owner.active and len(owner.envs) <= owner.count:
                self._provisioned_idle[env.function.revision_id].append(env)
                return
            # Its config was removed or lowered: it goes away like its config.
        if env.state is not EnvState.STOPPED:
            self.in_background(env.stop())
        self._forget(env)

    def _forget(self, env: ExecutionEnvironment) -> None:
        self._all.discard(env)
        revision = env.function.revision_id
        idle = self._idle.get(revision)
        if idle and env in idle:
            idle.remove(env)
        if idle is not None and not idle:
            del self._idle[revision]
        owner = self._owner.pop(env, None)
        if owner is not None:
            owner.envs.discard(env)
            provisioned_idle = self._provisioned_idle.get(revision)
            if provisioned_idle and env in provisioned_idle:
                provisioned_idle.remove(env)
            if provisioned_idle is not None and not provisioned_idle:
                del self._provisioned_idle[revision]
            self._fill(owner)  # a provisioned environment that died is replaced

    # -- provisioned concurrency ------------------------------------------------
    def provision(self, key: str, function: FunctionConfig | None, count: int = 0) -> None:
        """Keep ``count`` environments of ``function`` initialised for the config
        ``key`` (None: the config is gone, its environments stop). A new target
        revision replaces the old one's environments."""
        current = self._provisions.get(key)
        if current is not None and (function is None or current.function.revision_id != function.revision_id):
            self._release(current)
            current = None
        if function is None:
            return
        if current is None:
            current = self._provisions[key] = _Provision(key, function, count)
        else:
            if count > current.count:
                current.reached = False
            current.count = count
            current.failure = None
            self._trim(current)
        self._fill(current)

    def provisioned_state(self, key: str) -> ProvisionedState:
        """How far the config ``key`` got (IN_PROGRESS with nothing allocated if unknown)."""
        provision = self._provisions.get(key)
        return provision.state() if provision is not None else ProvisionedState()

    def _fill(self, provision: _Provision) -> None:
        if not provision.active or self._closing or provision.failure is not None:
            return
        for _ in range(provision.count - len(provision.envs) - provision.starting):
            provision.starting += 1
            self.in_background(self._start_provisioned(provision))

    async def _start_provisioned(self, provision: _Provision) -> None:
        try:
            env = await self._start(provision.function, PROVISIONED)
        except Exception:
            # The code could not be unpacked or the sandbox refused: Get reports FAILED.
            provision.starting -= 1
            provision.failure = provisioned_rules.INIT_FAILED_REASON
            return
        provision.starting -= 1
        if env.state is not EnvState.READY:
            self._all.discard(env)
            provision.failure = provisioned_rules.INIT_FAILED_REASON
            return
        if not provision.active or self._closing or len(provision.envs) >= provision.count:
            self._all.discard(env)
            await env.stop()
            return
        provision.envs.add(env)
        self._owner[env] = provision
        self._give_back(env)

    def _trim(self, provision: _Provision) -> None:
        """Stop idle environments beyond the config's count (busy ones go when they come back)."""
        idle = self._provisioned_idle.get(provision.function.revision_id, [])
        for env in [env for env in idle if self._owner.get(env) is provision]:
            if len(provision.envs) <= provision.count:
                break
            self._forget(env)
            self.in_background(env.stop())

    def _release(self, provision: _Provision) -> None:
        provision.active = False
        if self._provisions.get(provision.key) is provision:
            del self._provisions[provision.key]
        idle = self._provisioned_idle.get(provision.function.revision_id, [])
        for env in list(provision.envs):
            if env in idle:
                self._forget(env)
                self.in_background(env.stop())
            else:
                env.retired = True

    async def retire(self, function_name: str) -> None:
        """The function was deleted: every environment of it stops (idle ones
        now, busy ones when their invocation ends)."""
        await self._retire(lambda env: env.function.name == function_name)

    async def retire_revision(self, revision_id: str) -> None:
        """One snapshot is superseded ($LATEST changed) or gone (a version was
        deleted): its environments stop; other versions keep theirs."""
        await self._retire(lambda env: env.function.revision_id == revision_id)

    async def _retire(self, doomed_if: Callable[[ExecutionEnvironment], bool]) -> None:
        doomed: list[ExecutionEnvironment] = []
        for env in list(self._all):
            if doomed_if(env):
                env.retired = True
                revision = env.function.revision_id
                idle = env in self._idle.get(revision, []) or env in self._provisioned_idle.get(revision, [])
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

    async def close(self, grace_s: float) -> None:
        """Stop taking invocations, let in-flight ones finish for up to
        ``grace_s`` seconds, then stop every environment."""
        self._closing = True
        deadline = time.monotonic() + grace_s
        while self._in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for task in self._housekeeping:
            task.cancel()
        await asyncio.gather(*(env.stop() for env in list(self._all)), return_exceptions=True)
        self._all.clear()
        self._idle.clear()
        self._provisioned_idle.clear()
        self._owner.clear()


def _resolve(waiter: asyncio.Future[ExecutionEnvironment | None], value: ExecutionEnvironment | None) -> None:
    if not waiter.done():
        waiter.set_result(value)
