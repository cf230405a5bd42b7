"""Idle environments by function revision: what the pool and the provisioner hand out."""

from __future__ import annotations

from collections import defaultdict

from lambdalite.dataplane.environment import EnvState, ExecutionEnvironment


class IdleEnvironments(defaultdict[str, list[ExecutionEnvironment]]):
    """revision_id -> idle environments, most recently used last (taken first)."""

    def __init__(self) -> None:
        super().__init__(list)

    def take(self, revision_id: str) -> ExecutionEnvironment | None:
        """The most recently used READY environment of the revision, removed; or None.
        Ones that stopped while idle are dropped on the way."""
        idle = self.get(revision_id)
        while idle:
            env = idle.pop()
            if env.state is EnvState.READY:
                return env
        return None

    def holds(self, env: ExecutionEnvironment) -> bool:
        return env in self.get(env.function.revision_id, ())

    def discard(self, env: ExecutionEnvironment) -> None:
        revision = env.function.revision_id
        idle = self.get(revision)
        if idle is None:
            return
        if env in idle:
            idle.remove(env)
        if not idle:
            del self[revision]
