"""Namespace-level isolation: namespaces, a read-only view of the host, cgroups, an unprivileged uid.

``NamespaceSandbox.start(spec)`` forks, and the child runs ``enter.spawn_function``
(fork -> enter_sandbox -> execve; see ``enter``'s docstring for what the
function sees). The parent creates the cgroup before the fork and learns the
outcome from a status channel: the runtime's host pid (with, for a function
without network, the Runtime API's listening socket from inside its network
namespace), then EOF when the exec succeeded or an ``E<errno> <message>``
record when any step failed, which ``start`` raises as OSError after cleaning up.

The function sees the host's root file system read-only and nosuid, so
system interpreters work unchanged, with: its code at /var/task, our
bootstraps at /var/runtime, its layers at /opt (an empty /opt without
layers), private tmpfs /tmp (EphemeralStorage) and /dev/shm (64 MB), a
private /proc, and an empty tmpfs over every hidden path. Paths the host
keeps private by permissions stay private: the function runs as uid/gid 990.
The exception is ``shared_paths`` (the host's interpreters, given by the
composition root): one that lies below a directory only its owner may enter
(a pyenv interpreter under /root, mode 0700) is made reachable at its own
path, and the rest of that directory is hidden (see ``enter``).

/tmp is a tmpfs, so what a function writes there is charged to its memory
cgroup: a function can fill /tmp only up to its memory size before it is
OOM-killed, even when EphemeralStorage is larger.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdalite.sandbox import _linux, enter, netns
from lambdalite.sandbox import _zygote_main as wire
from lambdalite.sandbox.cgroups import Cgroup, CgroupHost, limits_for, remove_cgroup
from lambdalite.sandbox.netns import NetnsPool
from lambdalite.sandbox.spec import RUNTIME_API_PORT, NetworkFacts, SandboxSpec, translate_argv
from lambdalite.sandbox.status import parse_report, read_status, status_channel
from lambdalite.sandbox.tree import MemoryMeter, close_pidfds, kill_namespace_tree
from lambdalite.sandbox.zygote import SpareGone, Zygote, ZygoteProcess

LEVEL = "namespace"
TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"
LAYERS_DIR = "/opt"
MOUNT_POINTS = (Path(TASK_ROOT), Path(RUNTIME_DIR), Path(LAYERS_DIR))
"""Must exist on the host; the root server creates them (empty) once."""
SHM_BYTES = 64 * 1024 * 1024
_BASE_FLAGS = _linux.CLONE_NEWNS | _linux.CLONE_NEWPID | _linux.CLONE_NEWIPC | _linux.CLONE_NEWUTS


@dataclass(slots=True)
class NamespaceProcess:
    """A runtime started by NamespaceSandbox (satisfies spec.SandboxedProcess)."""

    keeper_pid: int
    """Our child, outside the PID namespace; exits as the runtime did."""
    runtime_pid: int
    output_fd: int
    cgroup: Cgroup | None
    init_pid: int = 0
    """Host pid of the namespace's init: killing it ends everything inside."""
    runtime_api_listener: socket.socket | None = None
    """Without network: the Runtime API's listening socket inside the function's
    network namespace (``enter``); the caller serves on it and closes it."""
    sandbox_uid: int | None = None
    """The environment's own uid (``enter.environment_uid``), or None in a user namespace."""
    pidfds: tuple[int, ...] = ()
    """pidfds of the runtime and init (``enter._report_pids``); closed by ``stop``."""
    on_stopped: Callable[[], None] | None = None
    """Gives back its network namespace once it is gone (``stop``)."""
    on_settled: Callable[[], None] | None = None
    """Lets the network pool make its next spare (``start_settled``); None once called."""
    returncode: int | None = None
    _waiter: asyncio.Future[int] | None = field(default=None, repr=False)
    _memory: MemoryMeter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._memory = MemoryMeter(self.cgroup)

    @property
    def pid(self) -> int:
        return self.runtime_pid

    @property
    def memory_limited(self) -> bool:
        return self.cgroup is not None

    async def wait(self) -> int:
        if self.returncode is not None:
            return self.returncode
        if self._waiter is None:
            self._waiter = _watch_exit(self.keeper_pid)
        self.returncode = await asyncio.shield(self._waiter)
        return self.returncode

    def kill_tree(self) -> None:
        """SIGKILL the runtime and its whole namespace (``tree.kill_namespace_tree``),
        its memory figures taken first. Harmless when all are gone."""
        if self.returncode is not None:
            return
        self._memory.sample(self.runtime_pid)
        kill_namespace_tree(self.keeper_pid, self.runtime_pid, self.init_pid, self.pidfds, self.cgroup)

    async def stop(self) -> int | None:
        """Kill, reap, and remove the cgroup (its last peak/OOM figures are kept). Idempotent."""
        self.kill_tree()
        returncode = await self.wait()
        close_pidfds(self.pidfds)
        self.pidfds = ()
        self._memory.release()
        if self.cgroup is not None:
            await remove_cgroup(self.cgroup)
        stopped, self.on_stopped = self.on_stopped, None
        if stopped is not None:
            stopped()
        return returncode

    def peak_memory_bytes(self) -> int | None:
        return self._memory.peak_bytes(self.runtime_pid if self.returncode is None else 0)

    def memory_bytes(self) -> int:
        return self._memory.current_bytes(self.runtime_pid if self.returncode is None else 0)

    def out_of_memory(self) -> bool:
        return self._memory.out_of_memory()

    def start_settled(self) -> None:
        """Let the network pool make its next spare, once."""
        settled, self.on_settled = self.on_settled, None
        if settled is not None:
            settled()


class NamespaceSandbox:
    """Starts runtimes at namespace level. Needs root, or (``user_namespace=True``)
    unprivileged user namespaces; then cgroups only when ``cgroups`` is usable.
    Construct it through ``detect.choose_sandbox`` to fall back cleanly."""

    level = LEVEL

    def __init__(
        self,
        cgroups: CgroupHost | None,
        *,
        user_namespace: bool = False,
        clean_stale: bool = False,
        shared_paths: Sequence[Path] = (),
        network: NetnsPool | None = None,
        network_reason: str = "",
    ) -> None:
        """``clean_stale``: remove the empty environment cgroups a previous server left.
        ``shared_paths``: host directories every function may use at their own paths
        (interpreter installs), even below an owner-only directory. Not needed with
        ``user_namespace``: the function then has the server user's own access.
        ``network``: namespaces of their own for environments with network (opened
        by the caller; closed by ``close``); None: the host's network, for
        ``network_reason``."""
        self._network = network
        self._network_reason = network_reason
        self._cgroups = cgroups if cgroups is not None and cgroups.version is not None else None
        self._user_namespace = user_namespace
        self._covers, self._shared = (
            ((), ()) if user_namespace else plan_private_covers(shared_paths, sandbox_may_enter)
        )
        # The function gets a private /tmp: interpreters installed below it (a
        # virtualenv in a temporary checkout) are bound back into it.
        self._tmp_shared = tuple(
            bytes(path)
            for path in shared_paths
            if Path("/tmp") in Path(path).resolve().parents and path.is_dir()
        )
        if self._cgroups is not None and clean_stale:
            self._cgroups.clean_stale()
        ensure_mount_points()

    @property
    def cgroups(self) -> CgroupHost | None:
        return self._cgroups

    def inside_paths(self, spec: SandboxSpec) -> tuple[str, str]:
        return TASK_ROOT, RUNTIME_DIR

    @property
    def network(self) -> NetworkFacts:
        if self._network is None:
            why = f" ({self._network_reason})" if self._network_reason else ""
            return NetworkFacts(False, None, f"the host's{why}: functions reach its loopback services")
        return NetworkFacts(
            True,
            self._network.endpoint_url,
            f"a namespace of its own per environment (outbound through {netns.GATEWAY}, "
            "no host loopback or private ranges)",
        )

    async def _lease(self, spec: SandboxSpec) -> netns.NetnsLease | None:
        """A network namespace of its own for ``spec``, or None when it asks for none."""
        if self._network is None or not spec.network or not spec.own_network:
            return None
        return await self._network.take(spec.host_ports)

    def _settled(
        self, notify: Callable[[], None] | None, lease: netns.NetnsLease | None
    ) -> Callable[[], None] | None:
        """``notify`` (what the start already tells when it settles), then the
        network pool's refill when ``lease`` came from it."""
        network = self._network
        if lease is None or network is None:
            return notify

        def settled() -> None:
            if notify is not None:
                notify()
            network.refill()

        return settled

    def _give_back(self, lease: netns.NetnsLease | None) -> Callable[[], None] | None:
        network = self._network
        if lease is None or network is None:
            return None
        return lambda: network.release(lease)

    def runnable(self, spec: SandboxSpec) -> SandboxSpec:
        """``spec`` itself: shared paths make every interpreter reachable inside."""
        return spec

    def plan_for(
        self, spec: SandboxSpec, cgroup: Cgroup | None, lease: netns.NetnsLease | None = None
    ) -> enter.SandboxPlan:
        """The child's instructions for ``spec`` (pure; no system calls); ``lease``:
        the network namespace it joins."""
        flags = _BASE_FLAGS | (0 if spec.network else _linux.CLONE_NEWNET)
        if self._user_namespace:
            flags |= _linux.CLONE_NEWUSER
        binds = [(bytes(spec.task_root), TASK_ROOT.encode()), (bytes(spec.runtime_dir), RUNTIME_DIR.encode())]
        overlay = None
        empty = [bytes(path) for path in spec.hidden_paths]
        if len(spec.layers) == 1:
            binds.append((bytes(spec.layers[0]), LAYERS_DIR.encode()))
        elif spec.layers:
            # overlayfs: the leftmost lowerdir is on top, and on AWS the last layer wins.
            lower = ":".join(str(layer) for layer in reversed(spec.layers))
            overlay = f"lowerdir={lower}".encode()
        else:
            empty.insert(0, LAYERS_DIR.encode())
        tmp_bytes = spec.ephemeral_storage_mb * 1024 * 1024
        return enter.SandboxPlan(
            unshare_flags=flags,
            binds=tuple(binds),
            overlay_opt=overlay,
            empty_mounts=tuple(empty),
            tmp_options=f"size={tmp_bytes},mode=1777".encode(),
            shm_options=f"size={min(SHM_BYTES, tmp_bytes)},mode=1777".encode(),
            private_covers=self._covers,
            shared_paths=self._shared,
            tmp_shared=self._tmp_shared,
            cgroup_procs=cgroup.procs_files if cgroup is not None else (),
            cwd=TASK_ROOT.encode(),
            pass_fds=spec.pass_fds,
            netns_path=lease.path if lease is not None else b"",
            netns_address=lease.address.encode() if lease is not None else b"",
            netns_gateway=netns.GATEWAY.encode() if lease is not None else b"",
            runtime_api_port=0 if spec.network and lease is None else RUNTIME_API_PORT,
            user_namespace=self._user_namespace,
            # A user namespace maps every function to our own uid: nothing to tell apart.
            uid_per_environment=not self._user_namespace,
            host_uid=os.getuid(),
            host_gid=os.getgid(),
        )

    async def start(self, spec: SandboxSpec) -> NamespaceProcess:
        """Start ``spec.argv`` (host paths under task_root/runtime_dir are translated)
        with exactly ``spec.env``. Raises OSError when any step fails; nothing is left."""
        open_code_to_functions(spec)
        lease = await self._lease(spec)
        give_back = self._give_back(lease)
        cgroup = None
        try:
            if self._cgroups is not None:
                cgroup = self._cgroups.create(spec.env_id, limits_for(spec.memory_mb, spec.cpu_limit))
            argv = tuple(os.fsencode(arg) for arg in translate_argv(spec, TASK_ROOT, RUNTIME_DIR))
            env = {os.fsencode(key): os.fsencode(value) for key, value in spec.env.items()}
            plan = self.plan_for(spec, cgroup, lease)
            keeper, output_fd, status_fd = fork_into_sandbox(plan, argv, env)
        except BaseException:
            if cgroup is not None:
                await remove_cgroup(cgroup)
            if give_back is not None:
                give_back()
            raise
        process = NamespaceProcess(
            keeper, 0, output_fd, cgroup, on_stopped=give_back, on_settled=self._settled(None, lease)
        )
        if plan.uid_per_environment:
            process.sandbox_uid = enter.environment_uid(keeper)
        try:
            status, passed = await read_status(status_fd)
        except BaseException:
            os.close(output_fd)
            await process.stop()
            raise
        error = parse_report(spec, status, passed).fill(process)
        if error is not None:
            os.close(output_fd)
            await process.stop()
            raise error
        return process

    # -- as a zygote's level (``zygote.ForkingLevel``) --------------------------
    def python_code_roots(self, spec: SandboxSpec) -> tuple[Path, ...]:
        """The function's layers (shown merged at /opt)."""
        return spec.layers

    async def fork_from(self, zygote: Zygote, spec: SandboxSpec) -> ZygoteProcess:
        """Start ``spec`` as ``zygote``'s child, which enters exactly this level's
        sandbox (``enter.enter_sandbox`` with ``plan_for``'s plan) and cgroup.
        With cgroups, a spare waiting in a cgroup of its own takes the start
        when one of its kind is there: no cgroup to make then."""
        open_code_to_functions(spec)
        lease = await self._lease(spec)
        give_back = self._give_back(lease)
        try:
            process = await self._fork_in_cgroup(zygote, spec, lease)
        except BaseException:
            if give_back is not None:
                give_back()
            raise
        process.on_stopped = give_back
        process.on_settled = self._settled(process.on_settled, lease)
        return process

    async def _fork_in_cgroup(
        self, zygote: Zygote, spec: SandboxSpec, lease: netns.NetnsLease | None
    ) -> ZygoteProcess:
        cgroup = None
        if self._cgroups is not None:
            limits = limits_for(spec.memory_mb, spec.cpu_limit)
            zygote.limit_spares(limits)
            # A spare waiting in its own cgroup, now with these limits, brings it
            # (unless the spare went away meanwhile).
            request = namespace_request(self.plan_for(spec, None, lease), spec, spare_only=True)
            if zygote.has_spare_in_a_cgroup(list(wire.spare_key(request))):
                with contextlib.suppress(SpareGone):
                    return await self._fork_child(zygote, request, (), spec, None)
            cgroup = self._cgroups.create(spec.env_id, limits)
        try:
            plan = self.plan_for(spec, cgroup, lease)
            request = namespace_request(plan, spec, spare_only=False)
            return await self._fork_child(
                zygote, request, enter.open_cgroup_procs(plan.cgroup_procs), spec, cgroup
            )
        except BaseException:
            if cgroup is not None:
                await remove_cgroup(cgroup)
            raise

    async def _fork_child(
        self,
        zygote: Zygote,
        request: dict[str, Any],
        cgroup_fds: tuple[int, ...],
        spec: SandboxSpec,
        cgroup: Cgroup | None,
    ) -> ZygoteProcess:
        def check(process: ZygoteProcess, status: bytes, passed: list[int]) -> OSError | None:
            return parse_report(spec, status, passed).fill(process)

        process = await zygote.start_child(request, cgroup_fds, spec, check, lifeline=True, cgroup=cgroup)
        if request["plan"]["uid_per_environment"]:
            process.sandbox_uid = enter.environment_uid(process.child_pid)
        return process

    async def close(self) -> None:
        """Delete the network namespaces (each environment's cgroup went with it)."""
        if self._network is not None:
            await self._network.close()


def open_code_to_functions(spec: SandboxSpec) -> None:
    """Make the code and layers directories readable by any uid: the function
    runs as a uid of its own. A process-level run as root on the same data
    directory closes them to all but a group of their own."""
    for path in (spec.task_root, *spec.layers):
        mode = os.stat(path).st_mode
        if mode & 0o005 != 0o005:
            os.chmod(path, mode | 0o005)


def namespace_request(plan: enter.SandboxPlan, spec: SandboxSpec, *, spare_only: bool) -> dict[str, Any]:
    """The zygote's start request for ``plan``. ``spare_only``: the plan has no
    cgroup of its own, so only a spare that has one may take it."""
    fields = {f.name: getattr(plan, f.name) for f in dataclasses.fields(plan)}
    return {
        "level": "namespace",
        "plan": wire.encode(fields),
        "env": dict(spec.env),
        "argv1": translate_argv(spec, TASK_ROOT, RUNTIME_DIR)[1],
        "pass_fds": list(spec.pass_fds),
        "spare_only": spare_only,
    }


def plan_private_covers(
    paths: Sequence[Path], traversable: Callable[[os.stat_result], bool]
) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """(directories to cover, paths to bind back) for ``paths`` (see ``enter``).
    A path's cover is its topmost ancestor that ``traversable`` refuses; a path
    with no such ancestor, missing, or below another shared path needs nothing."""
    covers: set[Path] = set()
    shared: list[Path] = []
    for path in sorted({Path(os.path.realpath(p)) for p in paths}):
        if not path.is_dir() or any(path.is_relative_to(done) for done in shared):
            continue
        cover = next((a for a in reversed(path.parents) if not traversable(a.stat())), None)
        if cover is not None:
            covers.add(cover)
            shared.append(path)
    # A cover below another one is already hidden by it.
    topmost = sorted(c for c in covers if not any(c != o and c.is_relative_to(o) for o in covers))
    return tuple(bytes(c) for c in topmost), tuple(bytes(p) for p in shared)


def sandbox_may_enter(stat: os.stat_result) -> bool:
    """Can the sandbox's uid/gid, neither owner nor group of host files, enter this directory?"""
    if stat.st_uid == enter.SANDBOX_UID:
        return bool(stat.st_mode & 0o100)
    if stat.st_gid == enter.SANDBOX_GID:
        return bool(stat.st_mode & 0o010)
    return bool(stat.st_mode & 0o001)


def ensure_mount_points() -> None:
    """Create the empty mount points the sandbox needs on the host (root only);
    raise OSError naming the missing ones otherwise."""
    missing = [path for path in MOUNT_POINTS if not path.is_dir()]
    for path in missing:
        path.mkdir(mode=0o755, parents=True, exist_ok=True)


def fork_into_sandbox(
    plan: enter.SandboxPlan, argv: tuple[bytes, ...], env: dict[bytes, bytes]
) -> tuple[int, int, int]:
    """Fork; the child enters the sandbox and execs argv. Returns (keeper pid,
    non-blocking output read fd, status read fd). Call on the main thread: the
    keeper's death signal is tied to the thread that forked it."""
    opened: list[int] = []
    try:
        opened.extend(enter.open_cgroup_procs(plan.cgroup_procs))
        cgroup_fds = tuple(opened)
        opened.extend(status_channel())
        for _ in range(2):
            opened.extend(os.pipe())
        status_read, status_write, output_read, output_write, lifeline_read, lifeline_write = opened[-6:]
        fds = enter.ChildFds(output_write, status_write, cgroup_fds, lifeline_write, lifeline_read)
        pid = os.fork()
    except BaseException:
        for fd in opened:
            os.close(fd)
        raise
    if pid == 0:  # pragma: no cover - the child never returns
        os.close(output_read)
        os.close(status_read)
        enter.spawn_function(plan, argv, env, fds)
    for fd in fds.all():
        os.close(fd)
    os.set_blocking(output_read, False)
    return pid, output_read, status_read


def _watch_exit(pid: int) -> asyncio.Future[int]:
    """A future for our child ``pid``'s return code (negative signal number when
    killed), via a pidfd, so it works with any event loop and child watcher."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()
    pidfd = os.pidfd_open(pid)

    def exited() -> None:
        try:
            reaped, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            reaped, status = pid, 0
        if reaped == 0:
            return
        loop.remove_reader(pidfd)
        os.close(pidfd)
        if not future.done():
            future.set_result(os.waitstatus_to_exitcode(status))

    loop.add_reader(pidfd, exited)
    return future
