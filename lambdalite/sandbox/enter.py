"""Child-side entry into a namespace sandbox: ``enter_sandbox(plan, ...)``.

Called by a freshly forked child, before it execs the runtime (the spawn
path) or imports the handler (a zygote's child). The parent computes a
``SandboxPlan`` (plain bytes and ints) so the child only makes system calls:

1. (the forked child, "keeper") its own session; new
   mount, PID, IPC, UTS (and network, user) namespaces; mounts: code
   at /var/task, runtime dir at /var/runtime, layers at /opt, shared paths
   made reachable (below), empty tmpfs over hidden paths, the whole tree
   read-only and nosuid (not nodev: /dev/null), then a private /tmp and
   /dev/shm; then forks twice:
2. (the first grandchild, pid 1 of the new PID namespace, "init") closes
   every descriptor, drops to the unprivileged uid, and only reaps the
   orphans the function leaves, so they never pile up as zombies against
   its process limit; it ends when the keeper does (EOF on the lifeline).
   The function is not pid 1, as on AWS: pid 1 ignores the signals it has
   no handler for, even SIGKILL sent to itself.
3. (the second grandchild, pid 2, the function) joins the cgroup (through
   ``cgroup.procs`` descriptors the parent opened before forking) and a
   new cgroup namespace rooted there, a private /proc,
   hostname, stdio onto the output pipe, only the passed descriptors kept,
   cwd /var/task, RLIMIT_NOFILE 1024, the unprivileged uid/gid with no
   supplementary groups, no_new_privs, death signal when the keeper dies;
   ``enter_sandbox`` returns here, and only here.

The keeper reports the function's and init's host pids on ``status``, with
pidfds of both (the server signals them through these: their pids can name
other processes once they are gone), then
waits for the function, kills init (which ends everything left in the
namespace) and exits the same way the function did (a SIGKILL, e.g. the OOM
killer's, ends the keeper with SIGKILL too), so waiting for the keeper is
waiting for the function. Why a keeper: unshare(CLONE_NEWPID) only places
the caller's *children* in the new namespace, and its first child is init.

Any failure is written to ``status_fd`` as ``E<errno> <message>`` and the
failing process exits 127; a successful exec closes ``status_fd`` (CLOEXEC),
so the parent sees EOF. Nothing here imports or allocates much after the
mounts start: a lazy import from a path we cover would fail.

The Runtime API without network, or with a network of its own
-------------------------------------------------------------
A function without network (CLONE_NEWNET) sees only its own loopback, where
the server's Runtime API port is not; one with a network namespace of its own
(``plan.netns_path``, joined first: ``netns``) reaches nothing of the host's
loopback either. The sandbox therefore makes the listening
socket itself, in the new namespace (``plan.runtime_api_port``; the keeper,
or a spare's function process, right after the mounts), and sends it to the
parent with the ``P`` record (SCM_RIGHTS; ``status`` is then a Unix
socket). The server accepts on it: a socket belongs to the namespace it was
made in, whoever holds it. Every runtime, custom ones included, reaches the
API at ``AWS_LAMBDA_RUNTIME_API=127.0.0.1:<port>`` unchanged, and nothing else
of the host.

Shared paths behind a private directory
---------------------------------------
An interpreter installed under a directory only its owner may enter (pyenv
under /root, mode 0700) cannot run as the sandbox's uid. For each such
directory the plan names (``private_covers``), the keeper covers it with a
tmpfs and binds back, at their own paths, only the ``shared_paths`` below it
(through O_PATH descriptors opened before the cover hides them). The rest of
the private directory stays invisible, and every path, symlinks and a venv's
``pyvenv.cfg`` included, means inside what it means on the host.

Ahead of need
-------------
A zygote may run the keeper's first steps before it knows the function
(``prepare_spare``: session, death signal, namespaces, init and the function's
fork, all the same for every function), and the rest once a request comes
(``enter_prepared``: the pids, the mount tree, then ``_become_function``).
The function's process then builds the mount tree itself, before it drops
anything; keeper, init and function share that mount namespace as before.

Descriptors across the keeper's fork
------------------------------------
The keeper must not open anything that has to survive its own ``fork()``:
libc runs the server's ``pthread_atfork`` handlers there, and libuv's (uvloop
serves the API) closes its signal pipe *by number* and makes a new one. The
keeper closed that pipe with every other inherited descriptor, so a
descriptor it opened afterwards can have the same number and be closed (or
replaced by the new pipe's read end) under it. Every descriptor that crosses
the keeper's forks (``ChildFds``) is therefore opened by the parent before
the first fork, while libuv's pipe still holds its own numbers.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import fcntl
import gc
import os
import resource
import select
import signal
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from lambdalite.sandbox import _linux

SANDBOX_UID = 990
SANDBOX_GID = 990
"""A dedicated unprivileged identity with no passwd entry: owns nothing on the host."""
ENVIRONMENT_UID_BASE = 2_000_000_000
"""An environment's own uid is this plus its keeper's host pid: unique among
live environments host-wide (a pid is, while its process lives, and the keeper
outlives everything in its sandbox), and far from any real account."""
ENVIRONMENT_UID_SPAN = 1 << 22
"""The kernel's largest pid_max."""
MAX_DESCRIPTORS = 1024
HOSTNAME = "localhost"
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_SIOCSIFADDR = 0x8916
_SIOCSIFNETMASK = 0x891C
_SIOCADDRT = 0x890B
_RTF_UP = 0x1
_RTF_GATEWAY = 0x2
_RTF_HOST = 0x4
_RTENTRY = "@L16s16s16sHhLPhPLLH0L"
"""struct rtentry (net/route.h), padded as the C compiler pads it."""
_LINK = b"eth0"
"""The namespace's end of its veth link (``netns``)."""
_EMPTY_TMPFS = b"size=4k,mode=0555"
_COVER_TMPFS = b"size=64k,mode=0755"
_FAILED = 127
PIDS_FORMAT = "=iiB"
"""The status record after ``P``: the function's and init's pids, as the host
sees them, and how many pidfds come with it (``_report_pids``)."""
RUNTIME_API_BACKLOG = 16
KEEPER_NAME = b"lambdalite-keep"
"""The keeper's process name (ps, top): outside the sandbox, so ours to choose."""
INIT_NAME = b"init"
"""pid 1's process name, as a function sees it on AWS."""


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
    uid_per_environment: bool = False
    """Run as ``environment_uid(keeper pid)`` instead of ``uid``: a uid of this
    environment's own, which tells its connections apart (``peers``)."""
    user_namespace: bool = False
    """Unprivileged mode: map uid/gid to the caller's own ids in a new user namespace."""
    host_uid: int = 0
    host_gid: int = 0
    private_covers: tuple[bytes, ...] = ()
    """Owner-only host directories covered with a tmpfs holding only ``shared_paths``."""
    shared_paths: tuple[bytes, ...] = ()
    """Host directories below ``private_covers`` bound back at their own paths."""
    tmp_shared: tuple[bytes, ...] = ()
    """Host directories under /tmp (an interpreter or virtualenv there) bound back,
    read-only, into the function's private /tmp at their own paths."""
    netns_path: bytes = b""
    """A network namespace of its own, made by the server (``netns``): joined
    and configured (``netns_address``, ``netns_gateway``) before the Runtime API
    listener is made. Empty: CLONE_NEWNET decides."""
    netns_address: bytes = b""
    netns_gateway: bytes = b""
    runtime_api_port: int = 0
    """With CLONE_NEWNET or ``netns_path``: the keeper listens on 127.0.0.1:port inside the new network
    namespace and hands the listening socket to the parent with its ``P`` record
    (see "The Runtime API without network"). 0: no listener."""


def environment_uid(keeper_pid: int) -> int:
    """The uid of the environment whose keeper has host pid ``keeper_pid``."""
    return ENVIRONMENT_UID_BASE + keeper_pid


class _Step:
    """The name of what the child is doing, for the error message."""

    name = "start"


@dataclass(frozen=True, slots=True)
class ChildFds:
    """The child's descriptors, all opened by the parent before it forks (see
    "Descriptors across the keeper's fork"); ``open_child_fds`` makes them."""

    output: int
    """Write end of the output pipe: the function's stdout and stderr."""
    status: int
    """Write end of the status channel (pids, then EOF or an error record): a Unix
    socket, so that the ``P`` record can carry the Runtime API listener."""
    cgroup_procs: tuple[int, ...]
    """The plan's cgroup.procs files, open for writing."""
    lifeline: int
    """Write end held by the keeper alone: init ends at EOF on ``lifeline_read``."""
    lifeline_read: int

    def all(self) -> tuple[int, ...]:
        return (self.output, self.status, *self.cgroup_procs, self.lifeline, self.lifeline_read)


def open_cgroup_procs(procs_files: Iterable[bytes]) -> tuple[int, ...]:
    """Open cgroup.procs files (a plan's, or a spare's cgroup's) for writing;
    all or none. The caller closes them."""
    fds: list[int] = []
    try:
        for procs in procs_files:
            fds.append(os.open(procs, os.O_WRONLY | os.O_CLOEXEC))
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return tuple(fds)


def enter_sandbox(plan: SandboxPlan, fds: ChildFds, *, execs: bool = False) -> None:
    """Enter the sandbox described by ``plan`` (see the module docstring).
    Returns only in the sandboxed function process; every other outcome ends
    the process. ``execs``: the function's process will exec, so it is forked
    without the interpreter's after-fork work (``_linux.bare_fork``), as init
    always is; a process that goes on running Python gets os.fork()."""
    step = _Step()
    try:
        gc.disable()  # no finalizer of the parent's objects may run in here
        if plan.uid_per_environment:  # we are the keeper: our pid names the environment
            plan = dataclasses.replace(plan, uid=environment_uid(os.getpid()))
        listener = _become_keeper(plan, fds, step)
        step.name = "start init"
        init = _linux.bare_fork()
        if init == 0:
            _be_init(plan, fds.lifeline_read)
        os.close(fds.lifeline_read)
        step.name = "fork"
        pid = _linux.bare_fork() if execs else os.fork()
        if pid:
            _keep(pid, init, fds, step, listener)
        _become_function(plan, fds, step)
    except BaseException as exc:
        _fail(fds.status, step.name, exc)


def prepare_spare(plan: SandboxPlan, control: int) -> int:
    """The part of ``enter_sandbox`` that no function decides, done ahead of
    need by a zygote's spare child (``_zygote_main``): the keeper's
    session, death signal and new namespaces (``plan.unshare_flags`` and the
    user maps), init, and the function's process, which is the only one this
    returns in, with init's host pid. Only ``plan``'s unshare_flags, uid, gid,
    user_namespace, host_uid and host_gid are used; ``control`` (the spare's
    end of its socket to the zygote) is the only descriptor kept. The function's
    process then waits, still root and with nothing mounted yet, for its request;
    ``enter_prepared`` does the rest. Any failure ends the spare silently (the
    zygote sees it exit and forks the next start instead)."""
    step = _Step()
    try:
        gc.disable()
        if plan.uid_per_environment:  # we are the keeper (see enter_sandbox)
            plan = dataclasses.replace(plan, uid=environment_uid(os.getpid()))
        _enter_namespaces(plan, {control}, step)
        # No libuv here (the zygote forked us): a pipe made now is safe across the forks.
        lifeline_read, lifeline = os.pipe()
        init = _linux.bare_fork()
        if init == 0:
            _be_init(plan, lifeline_read)
        os.close(lifeline_read)
        pid = os.fork()
        if pid:
            os.close(control)
            _mirror(pid, init)  # holding ``lifeline`` until it exits
        os.close(lifeline)
        keeper = os.getppid()
        _linux.prctl(_linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != keeper:
            os._exit(_FAILED)
        return init
    except BaseException:
        os._exit(_FAILED)


def enter_prepared(plan: SandboxPlan, fds: ChildFds, init: int, *, joined: bool = False) -> None:
    """Finish entering the sandbox in a spare's function process (see
    ``prepare_spare``, whose plan must have had this plan's namespace fields):
    build the mount tree (and the Runtime API listener), report the pids, then
    become the function exactly as ``enter_sandbox`` does. ``joined``: the
    process is already in the cgroup the server made for the spare, and the
    plan's ``cgroup_procs`` descriptors are only closed. Returns only when the function is ready; a failure
    is reported on ``fds.status`` and ends the process (and with it the spare)."""
    step = _Step()
    try:
        gc.disable()
        # /proc is still the host's here: it names our pid, and our parent's (the
        # keeper, outside our PID namespace), as the host sees them.
        pid, keeper = _host_pids()
        if plan.uid_per_environment:  # as enter_sandbox's: the keeper's pid names it
            plan = dataclasses.replace(plan, uid=environment_uid(keeper))
        listener = _build_tree(plan, step)
        step.name = "report pid"
        # pidfds name processes in our PID namespace: we are 2 there, init is 1.
        _report_pids(fds.status, pid, init, listener, _pidfds(os.getpid(), 1))
        _become_function(plan, fds, step, joined=joined)
    except BaseException as exc:
        _fail(fds.status, step.name, exc)


def _host_pids() -> tuple[int, int]:
    """(our pid, our parent's pid) in the PID namespace of the mounted /proc."""
    with open(b"/proc/self/stat", "rb") as stat:
        pid, _, rest = stat.read().partition(b" (")
    return int(pid), int(rest.rpartition(b") ")[2].split()[1])


def rehearse(plan: SandboxPlan) -> None:
    """In a spare's function process, before its request: touch what
    ``enter_prepared`` will use on any plan, so the copy-on-write faults of
    those pages are taken now (see ``_zygote_main._rehearse``). No effect."""
    fds = ChildFds(-1, -1, (), -1, -1)
    _Step().name = str(len(fds.all()) + len(plan.binds))
    struct.pack(PIDS_FORMAT, 0, 0, 0)
    _host_pids()


def _fail(status_fd: int, step: str, exc: BaseException) -> None:
    code = exc.errno if isinstance(exc, OSError) and exc.errno else 0
    with contextlib.suppress(BaseException):
        os.write(status_fd, f"E{code} {step}: {exc}".encode(errors="replace")[:4000])
    os._exit(_FAILED)


def _become_keeper(plan: SandboxPlan, fds: ChildFds, step: _Step) -> int | None:
    """Everything up to the keeper's forks; returns the Runtime API listener, if any."""
    # From here on the keeper opens nothing that must outlive its fork (module docstring).
    _enter_namespaces(plan, {*fds.all(), *plan.pass_fds}, step)
    return _build_tree(plan, step)


def _enter_namespaces(plan: SandboxPlan, keep: set[int], step: _Step) -> None:
    """The keeper's own set-up and its unshare: what no function decides."""
    step.name = "descriptors"
    # The keeper is a copy of the server: it must not hold the server's sockets
    # (a listening port would outlive the server) or other environments' pipes.
    _close_all_except({0, 1, 2, *keep})
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
    # cgroup_fds were opened before the mounts and are written by the function
    # itself after the fork: the keeper stays outside (a cgroup kill must not kill
    # the process that reaps the function), and the tree, /sys/fs/cgroup
    # included, is read-only by then.
    step.name = "unshare"
    _linux.unshare(plan.unshare_flags)
    if plan.user_namespace:
        step.name = "user namespace maps"
        _write_file(b"/proc/self/setgroups", b"deny")
        _write_file(b"/proc/self/uid_map", f"{plan.uid} {plan.host_uid} 1".encode())
        _write_file(b"/proc/self/gid_map", f"{plan.gid} {plan.host_gid} 1".encode())


def _build_tree(plan: SandboxPlan, step: _Step) -> int | None:
    """The mount tree the function sees, in the new mount namespace; then, in a
    new network namespace, loopback up and the Runtime API listener (returned)."""
    if plan.netns_path:
        step.name = "join network namespace"
        netns = os.open(plan.netns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _linux.setns(netns, _linux.CLONE_NEWNET)
        finally:
            os.close(netns)
        step.name = "configure network"
        _configure_link(plan.netns_address, plan.netns_gateway)
    step.name = "mount propagation"
    _linux.mount(None, b"/", None, _linux.MS_REC | _linux.MS_PRIVATE, None)
    for source, target in plan.binds:
        step.name = f"bind {target.decode()}"
        _linux.mount(source, target, None, _linux.MS_BIND | _linux.MS_REC, None)
    if plan.overlay_opt is not None:
        step.name = "overlay /opt"
        _linux.mount(b"overlay", b"/opt", b"overlay", _linux.MS_NOSUID | _linux.MS_NODEV, plan.overlay_opt)
    if plan.private_covers:
        _share_through_covers(plan, step)
    for target in plan.empty_mounts:
        step.name = f"hide {target.decode()}"
        _linux.mount(b"tmpfs", target, b"tmpfs", _linux.MS_NOSUID | _linux.MS_NODEV, _EMPTY_TMPFS)
    step.name = "read-only tree"
    _linux.make_tree_readonly(b"/")
    tmp_sources = [
        (path, os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)) for path in plan.tmp_shared
    ]
    try:
        step.name = "tmpfs /tmp"
        _linux.mount(b"tmpfs", b"/tmp", b"tmpfs", _linux.MS_NOSUID | _linux.MS_NODEV, plan.tmp_options)
        for path, fd in tmp_sources:
            step.name = f"share {path.decode()} in /tmp"
            os.makedirs(path, mode=0o755, exist_ok=True)
            _linux.mount(f"/proc/self/fd/{fd}".encode(), path, None, _linux.MS_BIND | _linux.MS_REC, None)
            _linux.mount(None, path, None, _linux.MS_BIND | _linux.MS_REMOUNT | _linux.MS_RDONLY, None)
    finally:
        for _, fd in tmp_sources:
            os.close(fd)
    step.name = "tmpfs /dev/shm"
    _linux.mount(b"tmpfs", b"/dev/shm", b"tmpfs", _linux.MS_NOSUID | _linux.MS_NODEV, plan.shm_options)
    if plan.unshare_flags & _linux.CLONE_NEWNET:
        step.name = "loopback up"
        _loopback_up()
    return _listen_for_the_runtime(plan, step)


def _share_through_covers(plan: SandboxPlan, step: _Step) -> None:
    """Cover each private directory with a tmpfs and bind the shared paths back
    (module docstring). The O_PATH descriptors are closed before the fork."""
    sources: list[tuple[bytes, int]] = []
    try:
        for path in plan.shared_paths:
            step.name = f"share {path.decode()}"
            sources.append((path, os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)))
        for cover in plan.private_covers:
            step.name = f"cover {cover.decode()}"
            _linux.mount(b"tmpfs", cover, b"tmpfs", _linux.MS_NOSUID | _linux.MS_NODEV, _COVER_TMPFS)
        for path, fd in sources:
            step.name = f"share {path.decode()}"
            os.makedirs(path, mode=0o755, exist_ok=True)
            _linux.mount(f"/proc/self/fd/{fd}".encode(), path, None, _linux.MS_BIND | _linux.MS_REC, None)
    finally:
        for _, fd in sources:
            os.close(fd)


def _listen_for_the_runtime(plan: SandboxPlan, step: _Step) -> int | None:
    """The Runtime API's listening socket inside the new network namespace, or
    None when the plan asks for none. Made before the forks, so the runtime's
    first connection waits in its backlog however fast the runtime is; the
    keeper's children close their copy with every other descriptor."""
    if not plan.runtime_api_port or not (plan.unshare_flags & _linux.CLONE_NEWNET or plan.netns_path):
        return None
    step.name = "runtime api listener"
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A reused namespace (``netns``) may still hold the last environment's closing connections.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", plan.runtime_api_port))
    listener.listen(RUNTIME_API_BACKLOG)
    return listener.detach()


def _keep(pid: int, init: int, fds: ChildFds, step: _Step, listener: int | None) -> None:
    """The keeper's life after the forks: report, wait, end the namespace, mirror the exit."""
    step.name = "report pid"
    _report_pids(fds.status, pid, init, listener, _pidfds(pid, init))
    for fd in (fds.status, fds.output, *fds.cgroup_procs):
        os.close(fd)
    _mirror(pid, init)


def _pidfds(function: int, init: int) -> tuple[int, ...]:
    """pidfds of the function's process and init (pids in the caller's PID
    namespace), or none where the kernel has no pidfd_open (before 5.3)."""
    opened: list[int] = []
    try:
        for pid in (function, init):
            opened.append(os.pidfd_open(pid))
    except (OSError, AttributeError):
        for fd in opened:
            os.close(fd)
        return ()
    return tuple(opened)


def _report_pids(status_fd: int, pid: int, init: int, listener: int | None, pidfds: tuple[int, ...]) -> None:
    """Write the ``P`` record, with the ``pidfds`` of the function and init and
    the Runtime API ``listener`` of a function without network attached (all
    closed here). With pidfds the server signals exactly these processes: their
    pids may name others once they are gone (the host's pid_max can be 32768),
    and they are not its children, so it cannot tell when that happens."""
    record = b"P" + struct.pack(PIDS_FORMAT, pid, init, len(pidfds))
    attached = [*pidfds, *([] if listener is None else [listener])]
    try:
        if not attached:
            os.write(status_fd, record)
            return
        channel = socket.socket(fileno=status_fd)
        try:
            socket.send_fds(channel, [record], attached)
        finally:
            channel.detach()
    finally:
        for fd in attached:
            os.close(fd)


def _mirror(pid: int, init: int) -> None:
    """Wait for the function, end the namespace, and exit as the function did."""
    _linux.set_process_name(KEEPER_NAME)  # after the forks: the function keeps its name
    _, status = os.waitpid(pid, 0)
    with contextlib.suppress(OSError):
        os.kill(init, signal.SIGKILL)  # and with it whatever the function left running
    with contextlib.suppress(ChildProcessError):
        os.waitpid(init, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status) else _FAILED)


def _be_init(plan: SandboxPlan, lifeline_read: int) -> None:
    """pid 1 of the namespace: reap orphans until the keeper ends (EOF on
    ``lifeline_read``). Never returns; a failure ends it, and with it the
    namespace (the function's start fails)."""
    try:
        _linux.set_process_name(INIT_NAME)
        _close_all_except({lifeline_read})
        # The keeper forked us: made here, this pipe cannot collide with libuv's.
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        signal.signal(signal.SIGCHLD, _wake)
        signal.set_wakeup_fd(wake_write)
        if not plan.user_namespace:
            os.setgroups([])
        os.setgid(plan.gid)
        os.setuid(plan.uid)
        _linux.prctl(_linux.PR_SET_DUMPABLE, 0)  # not even the same uid may ptrace it
        _linux.prctl(_linux.PR_SET_NO_NEW_PRIVS, 1)
        while True:
            _reap_all()
            if lifeline_read in wait_readable((lifeline_read, wake_read), None):
                os._exit(0)
            with contextlib.suppress(BlockingIOError):
                os.read(wake_read, 4096)
    except BaseException:
        os._exit(_FAILED)


def wait_readable(fds: Iterable[int], timeout_s: float | None) -> set[int]:
    """Those of ``fds`` that are readable (or at EOF) within ``timeout_s``
    seconds (None: no limit). poll(2), not select(2): select cannot watch a
    descriptor numbered 1024 or more, and one inherited from a server that
    holds a thousand environments is. (That ended init at once, and with it
    the function, whenever the server passed 1024 descriptors.)"""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return {fd for fd, _ in poller.poll(None if timeout_s is None else timeout_s * 1000)}


def _wake(signum: int, frame: object) -> None:
    """SIGCHLD's handler in init: the wakeup descriptor does the work."""


def _reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _become_function(plan: SandboxPlan, fds: ChildFds, step: _Step, *, joined: bool = False) -> None:
    step.name = "join cgroup"
    cgroup_fds = fds.cgroup_procs
    for fd in cgroup_fds:
        if not joined:
            os.write(fd, b"0")  # 0: the writer itself (our pid here would be read in our namespace)
        os.close(fd)
    if cgroup_fds or joined:
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
    os.dup2(fds.output, 1)
    os.dup2(fds.output, 2)
    step.name = "descriptors"
    _close_all_except({0, 1, 2, fds.status, *plan.pass_fds})
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
        _link_up(sock.fileno(), b"lo")


def _link_up(fd: int, name: bytes) -> None:
    request = struct.pack("16sH22x", name, 0)
    flags = struct.unpack("16sH22x", fcntl.ioctl(fd, _SIOCGIFFLAGS, request))[1]
    fcntl.ioctl(fd, _SIOCSIFFLAGS, struct.pack("16sH22x", name, flags | _IFF_UP))


def _sockaddr(address: bytes) -> bytes:
    return struct.pack("=HH4s8x", socket.AF_INET, 0, socket.inet_aton(address.decode()))


def _configure_link(address: bytes, gateway: bytes) -> None:
    """In a namespace made by ``netns``: lo and eth0 up, eth0's ``address``/32,
    a route to ``gateway`` over eth0 and the default route through it. Done by
    the environment itself (ioctls, no process to start); a namespace reused
    from an earlier environment has them already (EEXIST)."""
    device = ctypes.create_string_buffer(_LINK)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fd = sock.fileno()
        _link_up(fd, b"lo")
        fcntl.ioctl(fd, _SIOCSIFADDR, struct.pack("16s16s8x", _LINK, _sockaddr(address)))
        fcntl.ioctl(fd, _SIOCSIFNETMASK, struct.pack("16s16s8x", _LINK, _sockaddr(b"255.255.255.255")))
        _link_up(fd, _LINK)
        anywhere = _sockaddr(b"0.0.0.0")
        routes = (
            (_sockaddr(gateway), anywhere, _sockaddr(b"255.255.255.255"), _RTF_UP | _RTF_HOST),
            (anywhere, _sockaddr(gateway), anywhere, _RTF_UP | _RTF_GATEWAY),
        )
        for destination, via, mask, flags in routes:
            entry = struct.pack(
                _RTENTRY, 0, destination, via, mask, flags, 0, 0, 0, 0, ctypes.addressof(device), 0, 0, 0
            )
            with contextlib.suppress(FileExistsError):
                fcntl.ioctl(fd, _SIOCADDRT, entry)


def spawn_function(
    plan: SandboxPlan, argv: tuple[bytes, ...], env: dict[bytes, bytes], fds: ChildFds
) -> None:
    """The spawn path in a freshly forked child: enter, then exec. Never returns."""
    try:
        enter_sandbox(plan, fds, execs=True)
        os.execve(argv[0], argv, env)
    except BaseException as exc:
        _fail(fds.status, "exec " + argv[0].decode(errors="replace"), exc)
    os._exit(_FAILED)
