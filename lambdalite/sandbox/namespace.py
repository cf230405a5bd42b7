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
import os
import signal
import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lambdalite.sandbox import _linux, enter
from lambdalite.sandbox.cgroups import Cgroup, CgroupHost, limits_for
from lambdalite.sandbox.spec import RUNTIME_API_PORT, SandboxSpec, translate_argv

LEVEL = "namespace"
TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"
LAYERS_DIR = "/opt"
MOUNT_POINTS = (Path(TASK_ROOT), Path(RUNTIME_DIR), Path(LAYERS_DIR))
"""Must exist on the host; the root server creates them (empty) once."""
SHM_BYTES = 64 * 1024 * 1024
_CGROUP_REMOVE_TIMEOUT_S = 2.0
_MAX_PASSED_FDS = 4
_BASE_FLAGS = _linux.CLONE_NEWNS | _linux.CLONE_NEWPID | _linux.CLONE_NEWIPC | _linux.CLONE_NEWUTS


@dataclass(slots=True)
class TreeMemory:
    """A process tree's memory figures from its cgroup, kept once the cgroup is
    released (a stopped environment still reports its peak and OOM kill)."""

    cgroup: Cgroup | None
    _peak: int | None = None
    _oom: bool = False
    _released: bool = False

    def peak_memory_bytes(self) -> int | None:
        if self._released or self.cgroup is None:
            return self._peak
        return self.cgroup.peak_memory_bytes()

    def out_of_memory(self) -> bool:
        if self._released or self.cgroup is None:
            return self._oom
        return self.cgroup.oom_kills() > 0

    async def release(self) -> None:
        """Record the last figures and remove the cgroup. Idempotent."""
        if self._released:
            return
        if self.cgroup is not None:
            self._peak = self.peak_memory_bytes()
            self._oom = self.out_of_memory()
        self._released = True
        if self.cgroup is not None:
            await remove_cgroup(self.cgroup)


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
    returncode: int | None = None
    _waiter: asyncio.Future[int] | None = field(default=None, repr=False)
    _memory: TreeMemory = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._memory = TreeMemory(self.cgroup)

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
        """SIGKILL the cgroup, the runtime and the PID namespace's init (which
        takes the whole namespace with it). The keeper is left to reap them and
        exit with the runtime's SIGKILL: killing the keeper too would leave them
        zombies for the host's init to reap. Harmless when all are gone."""
        if self.returncode is not None:
            return
        if self.runtime_pid:
            kill_processes(self.pidfds, (self.runtime_pid, self.init_pid))
        else:  # the start failed before the runtime existed (the keeper is our child)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.keeper_pid, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill()  # init's end took its namespace: this finds any straggler

    async def stop(self) -> int | None:
        """Kill, reap, and remove the cgroup (its last peak/OOM figures are kept). Idempotent."""
        self.kill_tree()
        returncode = await self.wait()
        close_pidfds(self.pidfds)
        self.pidfds = ()
        await self._memory.release()
        return returncode

    def peak_memory_bytes(self) -> int | None:
        return self._memory.peak_memory_bytes()

    def out_of_memory(self) -> bool:
        return self._memory.out_of_memory()

    def start_settled(self) -> None:
        """Nothing to do: the spawn path has no background work."""


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
    ) -> None:
        """``clean_stale``: remove the empty environment cgroups a previous server left.
        ``shared_paths``: host directories every function may use at their own paths
        (interpreter installs), even below an owner-only directory. Not needed with
        ``user_namespace``: the function then has the server user's own access."""
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

    def plan_for(self, spec: SandboxSpec, cgroup: Cgroup | None) -> enter.SandboxPlan:
        """The child's instructions for ``spec`` (pure; no system calls)."""
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
            runtime_api_port=0 if spec.network else RUNTIME_API_PORT,
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
        cgroup = None
        if self._cgroups is not None:
            cgroup = self._cgroups.create(spec.env_id, limits_for(spec.memory_mb, spec.cpu_limit))
        try:
            argv = tuple(os.fsencode(arg) for arg in translate_argv(spec, TASK_ROOT, RUNTIME_DIR))
            env = {os.fsencode(key): os.fsencode(value) for key, value in spec.env.items()}
            plan = self.plan_for(spec, cgroup)
            keeper, output_fd, status_fd = fork_into_sandbox(plan, argv, env)
        except BaseException:
            if cgroup is not None:
                await remove_cgroup(cgroup)
            raise
        process = NamespaceProcess(keeper, 0, output_fd, cgroup)
        if plan.uid_per_environment:
            process.sandbox_uid = enter.environment_uid(keeper)
        try:
            status, passed = await read_status(status_fd)
        except BaseException:
            os.close(output_fd)
            await process.stop()
            raise
        report = parse_report(spec, status, passed)
        process.runtime_pid, process.init_pid, process.pidfds = (
            report.runtime_pid,
            report.init_pid,
            report.pidfds,
        )
        process.runtime_api_listener = report.runtime_api_listener
        if report.error is not None:
            os.close(output_fd)
            await process.stop()
            raise report.error
        return process


def open_code_to_functions(spec: SandboxSpec) -> None:
    """Make the code and layers directories readable by any uid: the function
    runs as a uid of its own. A process-level run as root on the same data
    directory closes them to all but a group of their own."""
    for path in (spec.task_root, *spec.layers):
        mode = os.stat(path).st_mode
        if mode & 0o005 != 0o005:
            os.chmod(path, mode | 0o005)


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


def parse_status(status: bytes) -> tuple[int, int, OSError | None]:
    """(runtime pid or 0, init pid or 0, the failure or None) from the child's status record."""
    runtime_pid, init_pid, _, error = _parse_status(status)
    return runtime_pid, init_pid, error


def _parse_status(status: bytes) -> tuple[int, int, int, OSError | None]:
    runtime_pid = init_pid = pidfds = 0
    size = struct.calcsize(enter.PIDS_FORMAT)
    if status.startswith(b"P") and len(status) >= 1 + size:
        runtime_pid, init_pid, pidfds = struct.unpack(enter.PIDS_FORMAT, status[1 : 1 + size])
        status = status[1 + size :]
    if not status and runtime_pid:
        return runtime_pid, init_pid, pidfds, None
    if status.startswith(b"E"):
        code, _, message = status[1:].decode(errors="replace").partition(" ")
        errno = int(code) if code.isdigit() else 0
        return runtime_pid, init_pid, pidfds, OSError(errno, f"sandbox: {message}")
    return runtime_pid, init_pid, pidfds, OSError(0, "sandbox: the child ended before starting the runtime")


@dataclass(frozen=True, slots=True)
class StatusReport:
    """What a sandboxed child reported on its status channel (``read_status``)."""

    runtime_pid: int
    init_pid: int
    pidfds: tuple[int, ...]
    """pidfds of the runtime and init (or none: an old kernel); the caller closes them."""
    runtime_api_listener: socket.socket | None
    error: OSError | None


def parse_report(spec: SandboxSpec, status: bytes, passed: list[int]) -> StatusReport:
    """The status record and the descriptors that came with it (all now the
    caller's: in the result, or closed). A Runtime API listener that was due
    and did not come is an error."""
    runtime_pid, init_pid, count, error = _parse_status(status)
    pidfds, rest = tuple(passed[:count]), passed[count:]
    listener = None
    if error is not None:
        for fd in rest:
            os.close(fd)
    else:
        try:
            listener = runtime_api_listener(spec, rest)
        except OSError as exc:
            error = exc
    return StatusReport(runtime_pid, init_pid, pidfds, listener, error)


def kill_processes(pidfds: tuple[int, ...], pids: tuple[int, ...]) -> None:
    """SIGKILL a sandbox's processes: through their pidfds when it sent them,
    which name exactly those processes; else by pid, which once they are gone
    may name another process (pids are reused, and these are not our children)."""
    if pidfds:
        for pidfd in pidfds:
            with contextlib.suppress(OSError):  # ProcessLookupError: already gone
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        return
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def close_pidfds(pidfds: tuple[int, ...]) -> None:
    for pidfd in pidfds:
        with contextlib.suppress(OSError):
            os.close(pidfd)


def status_channel() -> tuple[int, int]:
    """(read end, write end) of a child's status channel: a Unix socket pair
    rather than a pipe, so that the keeper's record can carry a descriptor."""
    reader, writer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return reader.detach(), writer.detach()


def runtime_api_listener(spec: SandboxSpec, passed: list[int]) -> socket.socket | None:
    """The listener the keeper sent for a function without network (None with
    network). Raises OSError when one was due and none came; closes the rest."""
    listener = socket.socket(fileno=passed.pop(0)) if passed else None
    for fd in passed:
        os.close(fd)
    if listener is None and not spec.network:
        raise OSError(0, "sandbox: no Runtime API listener came from the network namespace")
    return listener


async def read_status(fd: int) -> tuple[bytes, list[int]]:
    """Everything written to the status channel ``fd`` until its last writer
    closes it, and the descriptors sent along (the caller owns them); closes ``fd``."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    chunks: list[bytes] = []
    passed: list[int] = []
    channel = socket.socket(fileno=fd)
    channel.setblocking(False)

    def readable() -> None:
        try:
            while True:
                chunk, fds, _, _ = socket.recv_fds(channel, 4096, _MAX_PASSED_FDS, socket.MSG_CMSG_CLOEXEC)
                passed.extend(fds)
                if not chunk:
                    break
                chunks.append(chunk)
        except BlockingIOError:
            return
        except OSError as exc:
            if not done.done():
                done.set_exception(exc)
            return
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await done
    except BaseException:
        for passed_fd in passed:
            os.close(passed_fd)
        raise
    finally:
        loop.remove_reader(fd)
        channel.close()
    return b"".join(chunks), passed


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


async def remove_cgroup(cgroup: Cgroup) -> None:
    """rmdir the cgroup, retrying while its last members finish dying."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _CGROUP_REMOVE_TIMEOUT_S
    delay = 0.001
    while not cgroup.remove():
        if loop.time() > deadline:
            cgroup.kill()
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
