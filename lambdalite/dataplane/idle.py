"""Idle environments by snapshot (``FunctionConfig.environment_key``), as the pool
and the provisioner hand them out."""

from __future__ import annotations

from collections import defaultdict

from lambdalite.dataplane.environment import EnvState, ExecutionEnvironment


class IdleEnvironments(defaultdict[str, list[ExecutionEnvironment]]):
    """environment_key -> idle environments, most recently used last (taken first)."""

    def __init__(self) -> None:
        super().__init__(list)

    def take(self, environment_key: str) -> ExecutionEnvironment | None:
        """The most recently used READY environment of the snapshot, removed; or None.
        Ones that stopped while idle are dropped on the way."""
        idle = self.get(environment_key)
        while idle:
            env = idle.pop()
            if env.state is EnvState.READY:
                return env
        return None

    def holds(self, env: ExecutionEnvironment) -> bool:
        return env in self.get(env.function.environment_key, ())

    def discard(self, env: ExecutionEnvironment) -> None:
        revision = env.function.environment_key
        idle = self.get(revision)
        if idle is None:
            return
        if env in idle:
            idle.remove(env)
        if not idle:
            del self[revision]
