"""Provisioned concurrency in the data plane: environments kept initialised ahead of time.

A config (fed by the registry through ``provision``) keeps that many
environments of one function revision initialised, started with
AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency. The ``Provisioner``
starts them, keeps the idle ones apart from on-demand environments, replaces
one that dies, and reports how far each config got (``state``: what
Get/ListProvisionedConcurrencyConfig show).

It owns no environment lifecycle of its own: the pool starts environments for
it (``start``), hands its idle ones (``idle``) out before any on-demand
environment of the revision, offers every provisioned environment coming back
from an invocation to it (``keep``) and tells it when one stopped (``forget``).
Provisioned environments are never reaped for idleness; when all are busy,
further invocations spill over to on-demand environments, as on AWS. A config
removed or lowered stops its idle extras now and its busy ones when they come
back; a new target revision replaces the old revision's environments.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from lambdalite.control import provisioned as provisioned_rules
from lambdalite.control.provisioned import ProvisionedState
from lambdalite.dataplane.environment import EnvState, ExecutionEnvironment
from lambdalite.dataplane.idle import IdleEnvironments
from lambdalite.models import FunctionConfig

StartProvisioned = Callable[[FunctionConfig], Awaitable[ExecutionEnvironment]]
"""Start (and register with the pool) one provisioned environment of a revision."""
Hand = Callable[[ExecutionEnvironment], None]


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


class Provisioner:
    """Every provisioned concurrency config's environments on this node."""

    def __init__(
        self,
        *,
        start: StartProvisioned,
        hand_back: Hand,
        stop_later: Hand,
        in_background: Callable[[Awaitable[None]], None],
    ) -> None:
        """``start``: start an environment for a config (the pool's);
        ``hand_back``: a newly initialised environment goes through the pool's
        give-back (a waiting invocation may take it at once); ``stop_later``:
        forget an environment in the pool and stop it in the background;
        ``in_background``: run a start without awaiting it."""
        self._start = start
        self._hand_back = hand_back
        self._stop_later = stop_later
        self._in_background = in_background
        self._provisions: dict[str, _Provision] = {}
        """config key (``ProvisionedConfig.key``) -> its environments."""
        self._owner: dict[ExecutionEnvironment, _Provision] = {}
        self.idle = IdleEnvironments()
        """Idle provisioned environments: the pool takes them first; never reaped."""
        self._closing = False

    def provision(self, key: str, function: FunctionConfig | None, count: int = 0) -> None:
        """Keep ``count`` environments of ``function`` initialised for the config
        ``key`` (None: the config is gone, its environments stop). A new target
        revision replaces the old one's environments."""
        current = self._provisions.get(key)
        if current is not None and (
            function is None or current.function.environment_key != function.environment_key
        ):
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

    def state(self, key: str) -> ProvisionedState:
        """How far the config ``key`` got (IN_PROGRESS with nothing allocated if unknown)."""
        provision = self._provisions.get(key)
        return provision.state() if provision is not None else ProvisionedState()

    # -- the pool's side ----------------------------------------------------------
    def owns(self, env: ExecutionEnvironment) -> bool:
        return env in self._owner

    def keep(self, env: ExecutionEnvironment) -> bool:
        """A READY environment came back from an invocation: True when it is
        provisioned and still wanted (it is idle here now); False when the pool
        must deal with it (on-demand, or its config was removed or lowered)."""
        owner = self._owner.get(env)
        if owner is None or not owner.active or len(owner.envs) > owner.count:
            return False
        self.idle[env.function.environment_key].append(env)
        return True

    def forget(self, env: ExecutionEnvironment) -> None:
        """The environment stopped (or is being stopped): a config that owned it
        starts a replacement."""
        owner = self._owner.pop(env, None)
        if owner is None:
            return
        owner.envs.discard(env)
        self.idle.discard(env)
        self._fill(owner)  # a provisioned environment that died is replaced

    def close(self) -> None:
        """Start nothing more; the pool stops the environments."""
        self._closing = True
        self._owner.clear()
        self.idle.clear()

    # -- inside ---------------------------------------------------------------------
    def _fill(self, provision: _Provision) -> None:
        if not provision.active or self._closing or provision.failure is not None:
            return
        for _ in range(provision.count - len(provision.envs) - provision.starting):
            provision.starting += 1
            self._in_background(self._start_one(provision))

    async def _start_one(self, provision: _Provision) -> None:
        try:
            env = await self._start(provision.function)
        except Exception:
            # The code could not be unpacked or the sandbox refused: Get reports FAILED.
            provision.starting -= 1
            provision.failure = provisioned_rules.INIT_FAILED_REASON
            return
        provision.starting -= 1
        if env.state is not EnvState.READY:
            self._stop_later(env)
            provision.failure = provisioned_rules.INIT_FAILED_REASON
            return
        if not provision.active or self._closing or len(provision.envs) >= provision.count:
            self._stop_later(env)
            return
        provision.envs.add(env)
        self._owner[env] = provision
        self._hand_back(env)

    def _trim(self, provision: _Provision) -> None:
        """Stop idle environments beyond the config's count (busy ones go when they come back)."""
        idle = self.idle.get(provision.function.environment_key, [])
        for env in [env for env in idle if self._owner.get(env) is provision]:
            if len(provision.envs) <= provision.count:
                break
            self._stop_later(env)

    def _release(self, provision: _Provision) -> None:
        provision.active = False
        if self._provisions.get(provision.key) is provision:
            del self._provisions[provision.key]
        idle = self.idle.get(provision.function.environment_key, [])
        for env in list(provision.envs):
            if env in idle:
                self._stop_later(env)
            else:
                env.retired = True
