"""What the data plane asks of a sandbox, whatever its level.

``SandboxSpec`` is the one typed request; ``Sandbox`` starts it and answers
with a ``SandboxedProcess`` (``process.SpawnedProcess``, ``namespace.NamespaceProcess``,
``zygote.ZygoteProcess``). Both levels (process, namespace) implement the
same protocols, so the data plane never branches on the level: it asks
``inside_paths(spec)`` where the code and the runtime directory are as the
function sees them, and sets LAMBDA_TASK_ROOT/LAMBDA_RUNTIME_DIR from that.

argv and the task root
----------------------
``argv`` is given with host paths (``/usr/bin/python3.11
/srv/lambdalite/runtimes/python/bootstrap.py``, ``<task_root>/bootstrap``) or
with the inside paths that ``inside_paths`` returns (``/var/task/bootstrap``).
A level that moves the code translates every argv element under
``task_root`` or ``runtime_dir`` to its inside path, so both spellings work at
both levels; any other element is used as it is and must exist inside (the
namespace level shows the host's root file system read-only, so system
interpreters do). The process starts with cwd = the task root.

Passing descriptors
-------------------
``pass_fds`` are inherited with the same numbers. The data plane passes our own
bootstraps their channel to it this way (``dataplane.runtime_channel``), named
by ``CHANNEL_VARIABLE``: the descriptors are the environment's own, and a level
that serves several environments from one process (a SnapStart snapshot) hands
them to each environment, never to the shared process.

Without network
---------------
``network=False`` asks for a network namespace with only its own loopback.
The Runtime API must stay reachable there, for every runtime, at the address
runtimes are given: the level makes a listening socket on
``127.0.0.1:RUNTIME_API_PORT`` *inside* that namespace and hands it over as
``SandboxedProcess.runtime_api_listener``; the data plane serves the Runtime
API on it and sets ``AWS_LAMBDA_RUNTIME_API`` to that address. A level that
cannot make a network namespace leaves the listener None, and the data plane
then refuses to run the function rather than give it the host's network.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class NetworkFacts:
    """A level's network isolation, as the data plane and the start-up line need it."""

    isolated: bool
    """Each environment with network gets a namespace of its own (``SandboxSpec.own_network``)."""
    endpoint_url: str | None
    """lambdalite's endpoint as environments reach it (AWS_ENDPOINT_URL); None: the server's own."""
    summary: str
    """One line: what the network of a function is (start-up line, doctor)."""


RUNTIME_API_PORT = 9001
"""The Runtime API's port inside a function's own network namespace (AWS's port)."""

CHANNEL_VARIABLE = "_LAMBDALITE_RUNTIME_CHANNEL"
"""``"<read fd>,<write fd>"``: the runtime's ends of its channel to the platform
(``dataplane.runtime_channel``), among ``pass_fds``. Our bootstraps remove it from
their environment before the function's code runs."""


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    """One execution environment's process, as the data plane asks for it."""

    env_id: str
    """Unique per environment; names its scratch space and cgroup. [A-Za-z0-9_-] only."""
    argv: tuple[str, ...]
    env: Mapping[str, str]
    """The complete environment: the sandbox adds nothing (process level adds TMPDIR)."""
    task_root: Path
    """Host directory with the unpacked code; read-only at /var/task at namespace level."""
    runtime_dir: Path
    """Host directory of lambdalite's bootstraps; read-only at /var/runtime at namespace level."""
    layers: tuple[Path, ...] = ()
    """Host directories merged read-only at /opt; a later layer's files win, as on AWS.
    The process level cannot mount: it ignores them, and the data plane passes one
    already merged directory (``sandbox.opt``) and points the runtime at it instead."""
    memory_mb: int = 128
    ephemeral_storage_mb: int = 512
    network: bool = True
    """False: a network namespace with only loopback (see "Without network")."""
    own_network: bool = False
    """With ``network``: a network namespace of its own with outbound access
    through the host (``sandbox.netns``), and the Runtime API inside it as
    without network. Only a level whose ``isolates_network`` is True honours it."""
    host_ports: tuple[int, ...] = ()
    """With ``own_network``: the host's loopback ports it may reach (``control.network``)."""
    pass_fds: tuple[int, ...] = ()
    hidden_paths: tuple[Path, ...] = ()
    """Host directories the function must not see (the platform's data directory)."""
    cpu_limit: bool = True
    """Cap CPU at memory_mb / 1769 vCPUs as AWS does (False: only a proportional weight)."""

    def __post_init__(self) -> None:
        if not self.env_id or not all(c.isalnum() or c in "-_" for c in self.env_id):
            raise ValueError(f"env_id must be [A-Za-z0-9_-]+: {self.env_id!r}")
        if not self.argv:
            raise ValueError("argv is empty")
        if self.memory_mb < 1 or self.ephemeral_storage_mb < 1:
            raise ValueError("memory_mb and ephemeral_storage_mb must be positive")


class SandboxedProcess(Protocol):
    """A started runtime process and everything it forks."""

    @property
    def pid(self) -> int:
        """Host pid of the runtime process itself (for /proc/<pid>/status)."""

    @property
    def output_fd(self) -> int:
        """Non-blocking read end of the runtime's merged stdout+stderr; the caller closes it."""

    @property
    def returncode(self) -> int | None:
        """None while running; negative signal number when killed (-9 for SIGKILL, OOM included)."""

    @property
    def sandbox_uid(self) -> int | None:
        """A uid that this environment's processes alone run as, so that the owner
        of a loopback connection names its environment (``sandbox.peers``); None
        when the level gives no such uid."""

    @property
    def runtime_api_listener(self) -> socket.socket | None:
        """Without network: where the runtime reaches the Runtime API (module docstring);
        the caller serves on it and closes it. None with network, or when the level cannot."""

    @property
    def memory_limited(self) -> bool:
        """The level itself holds the whole tree to MemorySize (a cgroup): the
        data plane need not watch its memory."""

    async def wait(self) -> int:
        """Wait for the runtime to end; its return code as ``returncode`` defines it."""

    def kill_tree(self) -> None:
        """SIGKILL the runtime and everything it started. Harmless when already gone."""

    async def stop(self) -> int | None:
        """kill_tree(), reap, release every resource (scratch space, cgroup). Idempotent."""

    def peak_memory_bytes(self) -> int | None:
        """The most memory the environment has used so far, as REPORT's Max Memory
        Used shows it: where a cgroup holds the tree, the larger of its peak
        (memory.peak, v1's max_usage_in_bytes) and the runtime's own peak resident
        memory (a runtime forked from a zygote shares pages its cgroup is not
        charged); without one, the larger of the runtime's peak and the tree's
        resident memory seen (``tree.MemoryMeter``). The level knows which. Kept
        once the process is gone (``kill_tree`` measures before it kills); None
        when nothing was ever measured."""

    def memory_bytes(self) -> int:
        """The tree's resident memory now (0 when gone): what a data plane that
        watches memory itself (``memory_limited`` False) compares with MemorySize."""

    def out_of_memory(self) -> bool:
        """True when the level's own memory limit killed something in the tree."""

    def start_settled(self) -> None:
        """Told once, when the first invocation the runtime served has been
        answered (or never: a level must not wait for it). Lets the level do
        its background work (a zygote's next spare) after a cold start rather
        than during it; may do nothing."""


class Sandbox(Protocol):
    level: str
    """``process`` or ``namespace``: shown by ``lambdalite doctor`` and at start-up."""

    @property
    def network(self) -> NetworkFacts:
        """What this level does with the network of an environment that has one."""

    def inside_paths(self, spec: SandboxSpec) -> tuple[str, str]:
        """(task root, runtime dir) as the function sees them: LAMBDA_TASK_ROOT, LAMBDA_RUNTIME_DIR."""

    async def start(self, spec: SandboxSpec) -> SandboxedProcess:
        """Start ``spec.argv`` in a new sandbox. Raises OSError when it cannot
        start (a missing or non-executable argv[0] included); nothing is left
        behind then."""

    async def close(self) -> None:
        """Release what the sandbox keeps beside its environments (zygotes, spare
        cgroups), at shutdown, after every environment was stopped."""


def translate_argv(spec: SandboxSpec, task_inside: str, runtime_inside: str) -> tuple[str, ...]:
    """argv with host paths under task_root/runtime_dir replaced by their inside paths."""
    mapping = ((str(spec.task_root), task_inside), (str(spec.runtime_dir), runtime_inside))
    translated = []
    for arg in spec.argv:
        for host, inside in mapping:
            if arg == host or arg.startswith(host.rstrip("/") + "/"):
                arg = inside + arg[len(host.rstrip("/")) :]
                break
        translated.append(arg)
    return tuple(translated)
