"""Child-side entry into a namespace sandbox: ``enter_sandbox(plan, ...)``.

Called by a freshly forked child, before it execs the runtime (the spawn
path) or imports the handler (a zygote's child). The parent computes a
``SandboxPlan`` (plain bytes and ints) so the child only makes system calls:

1. (the forked child, "keeper") its own session; opens the cgroup; new
   mount, PID, IPC, UTS (and network, user) namespaces; mounts: code
   at /var/task, runtime dir at /var/runtime, layers at /opt, empty tmpfs over
   hidden paths, the whole tree read-only and nosuid (not nodev: /dev/null), then a private /tmp
   and /dev/shm; then forks
2. (the grandchild, pid 1 of the new PID namespace) joins the cgroup and a
   new cgroup namespace rooted there, a private /proc,
   hostname, stdio onto the output pipe, only the passed descriptors kept,
   cwd /var/task, RLIMIT_NOFILE 1024, the unprivileged uid/gid with no
   supplementary groups, no_new_privs, death signal when the keeper dies;
   ``enter_sandbox`` returns here, and only here.

The keeper reports the grandchild's host pid on ``status_fd``, then waits
for it and exits the same way it did (a SIGKILL, e.g. the OOM killer's, ends
the keeper with SIGKILL too), so waiting for the keeper is waiting for the
function. Why two processes: unshare(CLONE_NEWPID) only places the caller's
*children* in the new namespace.

Any failure is written to ``status_fd`` as ``E<errno> <message>`` and the
failing process exits 127; a successful exec closes ``status_fd`` (CLOEXEC),
so the parent sees EOF. Nothing here imports or allocates much after the
mounts start: a lazy import from a path we cover would fail.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import resource
import signal
import socket
import struct
from dataclasses import dataclass

from lambdalite.sandbox import _linux

SANDBOX_UID = 990
SANDBOX_GID = 990
"""A dedicated unprivileged identity with no passwd entry: owns nothing on the host."""
MAX_DESCRIPTORS = 1024
HOSTNAME = "localhost"
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_EMPTY_TMPFS = b"size=4k,mode=0555"
_FAILED = 127
_PID_FORMAT = "=i"


@dataclass(frozen=True, slots=True)
class SandboxPlan:
    """Everything the child needs, precomputed by the parent."""

    unshare_flags: int
    binds: tuple[tuple[bytes, bytes], ...]
    """(host source, inside target), bound read-only in this order."""
    overlay_opt: bytes | None
    """overlayfs options for /opt when several layers are merged."""
    empty_mounts: tuple[bytes, ...]
    """Targets covered with an empty read-only tmpfs, after the binds."""
    tmp_options: bytes
    shm_options: bytes
    cgroup_procs: tuple[bytes, ...]
    cwd: bytes
    pass_fds: tuple[int, ...]
    uid: int = SANDBOX_UID
    gid: int = SANDBOX_GID
    user_namespace: bool = False
    """Unprivileged mode: map uid/gid to the caller's own ids in a new user namespace."""
    host_uid: int = 0
    host_gid: int = 0


class _Step:
    """The name of what the child is doing, for the error message."""

    name = "start"


def enter_sandbox(plan: SandboxPlan, output_fd: int, status_fd: int) -> None:
    """Enter the sandbox described by ``plan`` (see the module docstring).
    Returns only in the sandboxed process; every other outcome ends the process."""
    step = _Step()
    try:
        gc.disable()  # no finalizer of the parent's objects may run in here
        cgroup_fds = _become_keeper(plan, output_fd, status_fd, step)
        pid = os.fork()
        if pid:
            _keep(pid, status_fd, output_fd, cgroup_fds, step)
        _become_function(plan, output_fd, status_fd, cgroup_fds, step)
    except BaseException as exc:
        _fail(status_fd, step.name, exc)


def _fail(status_fd: int, step: str, exc: BaseException) -> None:
    code = exc.errno if isinstance(exc, OSError) and exc.errno else 0
    with contextlib.suppress(BaseException):
        os.write(status_fd, f"E{code} {step}: {exc}".encode(errors="replace")[:4000])
    os._exit(_FAILED)


def _become_keeper(plan: SandboxPlan, output_fd: int, status_fd: int, step: _Step) -> list[int]:
    """Everything up to the second fork; returns the open cgroup.procs descriptors."""
    step.name = "descriptors"
    # The keeper is a copy of the server: it must not hold the server's sockets
    # (a listening port would outlive the server) or other environments' pipes.
    _close_all_except({0, 1, 2, output_fd, status_fd, *plan.pass_fds})
    step.name = "session"
    os.setsid()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)
    parent = os.getppid()
    _linux.prctl(_linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the server died before the death signal was armed
        os._exit(_FAILED)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # The keeper is a copy of the server: the OOM killer must pick the function, never it.
    with contextlib.suppress(OSError):
        _write_file(b"/proc/self/oom_score_adj", b"-1000")
    step.name = "open cgroup"
    # Opened now, written by the function itself after the fork: the keeper stays
    # outside (a cgroup kill must not kill the process that reaps the function),
    # and the tree, /sys/fs/cgroup included, is read-only by then.
    cgroup_fds = [os.open(procs, os.O_WRONLY | os.O_CLOEXEC) for procs in plan.cgroup_procs]
    step.name = "unshare"
    _linux.unshare(plan.unshare_flags)
    if plan.user_namespace:
        step.name = "user namespace maps"
        _write_file(b"/proc/self/setgroups", b"deny")
        _write_file(b"/proc/self/uid_map", f"{plan.uid} {plan.host_uid} 1".encode())
        _write_file(b"/proc/self/gid_map", f"{plan.gid} {plan.host_gid} 1".encode())
    step.name = "mount propagation"
    _linux.mount(None, b"/", None, _linux.MS_REC | _linux.MS_PRIVATE, None)
    for source, target in plan.binds:
        step.name = f"bind {target.decode()}"
        _linux.mount(source, target, None, _linux.MS_BIND | _linux.MS_REC, None)
    if plan.overlay_opt is not None:
        step.name = "overlay /opt"
        _linux.mount(b"overlay", b"/opt", b"overlay", _linux.MS_NOSUID | _linux.MS_NODEV, plan.overlay_opt)
    for target in plan.empty_mounts:
        step.name = f"hide {target.decode()}"
        _linux.mount(b"tmpfs", target, b"tmpfs", _linux.MS_NOSUID | _linux.MS_NODEV, _EMPTY_TMPFS)
    step.name = "read-only tree"
    _linux.make_tree_readonly(b"/")
    step.name = "tmpfs /tmp"
    _linux.mount(b"tmpfs", b"/tmp", b"tmpfs", _linux.MS_NOSUID | _linux.MS_NODEV, plan.tmp_options)
    step.name = "tmpfs /dev/shm"
    _linux.mount(b"tmpfs", b"/dev/shm", b"tmpfs", _linux.MS_NOSUID | _linux.MS_NODEV, plan.shm_options)
    if plan.unshare_flags & _linux.CLONE_NEWNET:
        step.name = "loopback up"
        _loopback_up()
    return cgroup_fds


def _keep(pid: int, status_fd: int, output_fd: int, cgroup_fds: list[int], step: _Step) -> None:
    """The keeper's life after the fork: report, wait, mirror the exit."""
    step.name = "report pid"
    os.write(status_fd, b"P" + struct.pack(_PID_FORMAT, pid))
    for fd in (status_fd, output_fd, *cgroup_fds):
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status) else _FAILED)


def _become_function(
    plan: SandboxPlan, output_fd: int, status_fd: int, cgroup_fds: list[int], step: _Step
) -> None:
    step.name = "join cgroup"
    for fd in cgroup_fds:
        os.write(fd, b"0")  # 0: the writer itself (our pid here would be read in our namespace)
        os.close(fd)
    if cgroup_fds:
        _linux.unshare(_linux.CLONE_NEWCGROUP)  # its cgroup is its root: hides the host's layout
    step.name = "mount /proc"
    _linux.mount(b"proc", b"/proc", b"proc", _linux.MS_NOSUID | _linux.MS_NODEV | _linux.MS_NOEXEC, None)
    step.name = "hostname"
    socket.sethostname(HOSTNAME)
    with contextlib.suppress(OSError):
        _write_file(b"/proc/self/oom_score_adj", b"0")
    step.name = "rlimits"
    resource.setrlimit(resource.RLIMIT_NOFILE, (MAX_DESCRIPTORS, MAX_DESCRIPTORS))
    step.name = "stdio"
    null = os.open(b"/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    step.name = "descriptors"
    _close_all_except({0, 1, 2, status_fd, *plan.pass_fds})
    for fd in plan.pass_fds:
        os.set_inheritable(fd, True)
    step.name = "chdir"
    os.chdir(plan.cwd)
    step.name = "drop privileges"
    if not plan.user_namespace:
        os.setgroups([])
    os.setgid(plan.gid)
    os.setuid(plan.uid)
    _linux.prctl(_linux.PR_SET_NO_NEW_PRIVS, 1)
    keeper = os.getppid()
    _linux.prctl(_linux.PR_SET_PDEATHSIG, signal.SIGKILL)  # cleared by setuid: armed after it
    if os.getppid() != keeper:
        os._exit(_FAILED)
    # Python ignores these; an exec'd runtime must start with the defaults.
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


MAX_FD_CEILING = 1 << 20
"""Above any descriptor the server can hold (the kernel's default nr_open)."""


def _close_all_except(keep: set[int]) -> None:
    """Close every descriptor not in ``keep`` (close_range(2) under os.closerange)."""
    ordered = sorted(keep)
    for low, high in zip(ordered, [*ordered[1:], MAX_FD_CEILING], strict=True):
        os.closerange(low + 1, high)
    if ordered and ordered[0] > 0:
        os.closerange(0, ordered[0])


def _write_file(path: bytes, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))


def spawn_function(
    plan: SandboxPlan, argv: tuple[bytes, ...], env: dict[bytes, bytes], output_fd: int, status_fd: int
) -> None:
    """The spawn path in a freshly forked child: enter, then exec. Never returns."""
    try:
        enter_sandbox(plan, output_fd, status_fd)
        os.execve(argv[0], argv, env)
    except BaseException as exc:
        _fail(status_fd, "exec " + argv[0].decode(errors="replace"), exc)
    os._exit(_FAILED)
