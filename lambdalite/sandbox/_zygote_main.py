"""The zygote itself: a long-lived Python runtime process that forks environments.

Run by ``zygote.Zygote`` as ``<interpreter> _zygote_main.py <socket fd>
<bootstrap.py> <lambdalite's parent directory> <modules as JSON> [<cgroup
files as JSON>]`` with the server's end of a SOCK_SEQPACKET socketpair; it
first joins the cgroup of each file (``CgroupHost.starters_join_files``).
Runs on Python 3.10 and newer with the standard library and
``lambdalite.sandbox.enter`` only; importing this module has no side effects
(the server imports it for the wire codec).

Start-up: imports the bootstrap and every importable module of the list
(boto3, botocore, json, ...) (as root, at SCHED_IDLE priority, so the warm-up
never competes with serving), freezes the garbage collector (so children do
not copy-on-write the cached objects), then sends one ``ready`` record: its
version and the top-level names of every module it holds, which the server
uses to refuse functions that ship their own copies. A Python older than 3.10
answers ``unsupported`` instead and exits.

Then, one record at a time from the server (JSON, descriptors as SCM_RIGHTS):

- ``start``: fork. The parent answers ``started`` with the child's pid (or
  ``failed``); the child applies the level's isolation (``process``: its own
  session, the plan's rlimits and credentials, a scrubbed environment, cwd; ``namespace``:
  ``enter.enter_sandbox`` with the server's plan) and closes its status pipe,
  then runs ``bootstrap.main``. A setup failure is written to the status pipe
  as ``E<errno> <message>`` and the child exits 127, as the spawn path does.
- ``settled`` (pid): that start's first invocation has been answered (spares, below).
- every child's end is reported as ``exit`` with its pid and return code
  (negative signal number when killed), so the server sees exactly what a
  parent would.

Spares: forking this interpreter costs milliseconds (its page tables), and
the namespace level's keeper forks it twice more. So after a start, once no
record is waiting and the server has said that start is ``settled`` (its first
invocation answered; or ``SETTLE_WAIT_S`` later), the zygote forks ``SPARES``
spare children for the next requests of the same kind (level, and at
namespace level the same namespaces and ids),
which does ahead what no function decides (``enter.prepare_spare``: the
keeper, its namespaces, init and the function's process), rehearses the
rest of a start where that has no effect (``_rehearse``, and the bootstrap's
``rehearse()`` when it has one) so its copy-on-write faults come early, and
then waits. The next such request is handed to it (``started`` names the
spare's pid) instead of forking; what depends on the function (mounts,
cgroup, identity, the handler) is done after, exactly as for a forked child.

Children hold a death signal tied to the zygote: when the zygote dies, every
environment it forked dies with it (the server reports them killed). The
zygote dies with the server (death signal, and EOF on the socket).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import importlib
import importlib.util
import json
import os
import resource
import signal
import socket
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

MAX_RECORD = 1 << 18
MAX_FDS = 64
MAX_DESCRIPTORS = 1024
MIN_PYTHON = (3, 10)
SPARES = 2
"""Spares kept ready per kind: one for a request that comes while the other's
replacement is still being made after a start (``settled``)."""
SETTLE_WAIT_S = 0.05
"""After a start, spares are made once the server says it is ``settled`` (its
first invocation answered), or after this long: not during the start itself,
which they would slow down on a small host."""
_FAILED = 127
_OWN_PACKAGE = "lambdalite"
SDK_VARIABLE = "_LAMBDALITE_SDK_PYTHON"
"""The runtime's boto3 directory (``runtimes.sdk``), in the zygote's own environment."""
_BOOTSTRAP_NAME = "__lambdalite_bootstrap__"
_OWN_MODULES: list[str] = []
"""lambdalite's modules in sys.modules, listed once before serving (see ``_become_python``)."""
_RETIRED: list[ModuleType] = []
"""lambdalite's modules, out of a child's sys.modules (see ``_become_python``)."""


# -- wire codec (shared with the server) -------------------------------------


def encode(value: Any) -> Any:
    """JSON-ready form of plain data with bytes and tuples (a SandboxPlan's fields)."""
    if isinstance(value, bytes):
        return {"b": value.hex()}
    if isinstance(value, (tuple, list)):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    return value


def decode(value: Any) -> Any:
    """The inverse of ``encode``; sequences come back as tuples."""
    if isinstance(value, dict):
        if set(value) == {"b"}:
            return bytes.fromhex(value["b"])
        return {key: decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return tuple(decode(item) for item in value)
    return value


def send(sock: socket.socket, record: dict[str, Any], fds: tuple[int, ...] = ()) -> None:
    data = json.dumps(record).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


# -- the zygote ---------------------------------------------------------------


def _load_bootstrap(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(_BOOTSTRAP_NAME, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_BOOTSTRAP_NAME] = module
    spec.loader.exec_module(module)
    return module


def _import_cache(modules: list[str]) -> None:
    for name in modules:
        # Whatever this interpreter cannot import is simply not cached.
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def _set_policy(policy: int) -> bool:
    try:
        os.sched_setscheduler(0, policy, os.sched_param(0))
    except OSError:
        return False
    return True


def _top_level_names() -> list[str]:
    own = {_OWN_PACKAGE, _BOOTSTRAP_NAME, "__main__"}
    return sorted({name.partition(".")[0] for name in sys.modules} - own)


def main(argv: list[str]) -> None:
    """The zygote's life; returns only in a forked child, after its setup, by
    running the bootstrap (so the child's exit is the interpreter's own)."""
    sock_fd, bootstrap_path, package_parent, modules = int(argv[1]), argv[2], argv[3], json.loads(argv[4])
    for join in json.loads(argv[5]) if len(argv) > 5 else ():
        # Best effort: without it, only the CPU is shared less fairly with the server.
        with contextlib.suppress(OSError), open(join, "wb", buffering=0) as cgroup:
            cgroup.write(b"0")  # ourselves, before any thread or child exists
    sock = socket.socket(fileno=sock_fd)
    if sys.version_info < MIN_PYTHON:  # enter.py's dataclasses need 3.10
        send(sock, {"op": "unsupported", "version": sys.version.split()[0]})
        os._exit(0)
    here = os.path.dirname(os.path.abspath(__file__))
    # Run as a script, our directory is first on sys.path: functions must not see it.
    base_path = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.path[:] = [package_parent, *base_path]
    enter = importlib.import_module("lambdalite.sandbox.enter")
    linux = importlib.import_module("lambdalite.sandbox._linux")
    sys.path[:] = base_path
    parent = os.getppid()
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)
    # The imports take a CPU-second or so, started when the server is busy
    # starting environments: do them at idle priority where we may come back.
    idle = os.geteuid() == 0 and _set_policy(os.SCHED_IDLE)
    bootstrap = _load_bootstrap(bootstrap_path)
    # The runtime's SDK last, as the bootstrap puts it for the function: the
    # boto3 cached here is the one the function would import.
    sdk = os.environ.pop(SDK_VARIABLE, "")
    sys.path[:] = [*base_path, sdk] if sdk else base_path
    _import_cache(modules)
    sys.path[:] = base_path
    importlib.invalidate_caches()
    gc.collect()
    gc.freeze()
    if idle and not _set_policy(os.SCHED_OTHER):
        os._exit(1)  # children must not inherit the idle class
    _OWN_MODULES.extend(name for name in sys.modules if _is_own(name))
    send(sock, {"op": "ready", "version": sys.version.split()[0], "modules": _top_level_names()})
    child = _serve(sock, enter)
    _run_child(child, bootstrap, base_path, enter)


_Child = tuple[dict[str, Any], list[int], int, bool]
"""What ``_serve`` returns in a child: its request, its descriptors, init's
host pid when it is a spare that ``enter.prepare_spare`` made (else 0), and
whether that spare has already joined a cgroup of its own (``join``)."""
_SPARE_FIELDS = (
    "unshare_flags",
    "uid",
    "uid_per_environment",
    "gid",
    "user_namespace",
    "host_uid",
    "host_gid",
)
"""The plan fields ``enter.prepare_spare`` uses: a spare serves only a request that has its values."""


class _Spare:
    """A child forked ahead of need, waiting on ``sock`` for its request."""

    __slots__ = ("joined", "key", "pid", "sock")

    def __init__(self, pid: int, sock: socket.socket, key: tuple[Any, ...]) -> None:
        self.pid = pid
        self.sock = sock
        self.key = key
        self.joined = False
        """Sent a ``join``: it is (about to be) in the cgroup the server made for it."""


def spare_key(request: dict[str, Any]) -> tuple[Any, ...]:
    """The kind of spare that can take ``request`` (the server computes it too)."""
    if request["level"] != "namespace":
        return (request["level"],)
    plan = request["plan"]
    return (request["level"], *(plan.get(name) for name in _SPARE_FIELDS))


def _serve(sock: socket.socket, enter: ModuleType) -> _Child:
    """Answer records until the server goes away (then exit). Returns only in a
    forked child (see ``_Child``).

    A fork of this interpreter costs milliseconds (page tables), and so do the
    keeper's two: after each start, when no request is waiting, ``SPARES``
    spare children are made ahead for requests of the same kind (level and
    namespaces), and the next such request is handed to one of them (one that
    has joined its cgroup first) instead of forking. They are made once the
    server says the start is over (``settled``, with the started pid) or
    ``SETTLE_WAIT_S`` after it: made during the start, they would take the CPU
    it needs on a small host; two of them keep one ready for a request that
    comes before the other is replaced. A spare that dies unclaimed is not
    replaced before the next request, so a spare that cannot start never loops.

    Each new spare is announced (``spare``); the server may answer with a
    ``join`` record carrying a cgroup's ``cgroup.procs`` descriptors, which is
    passed on to the spare, whose function process joins that cgroup while it
    waits: a cgroup migration can cost milliseconds (an RCU grace period), and
    then costs them before the request rather than after it. ``started`` says
    whether the spare that took a request had joined (``joined``)."""
    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wake_write)
    spares: list[_Spare] = []
    template: bytes | None = None  # the last request: the next spares' kind (None: none)
    template_level = ""
    starting: tuple[int, float] | None = None  # (pid, deadline): a start not yet ``settled``
    while True:
        reaped = _reap(sock)
        if any(spare.pid in reaped for spare in spares):
            for spare in [spare for spare in spares if spare.pid in reaped]:
                spare.sock.close()
                spares.remove(spare)
            template = None  # not replaced before the next request (docstring)
        wait: float | None = None
        if len(spares) < SPARES and template is not None:
            wait = 0.0 if starting is None else max(0.0, starting[1] - time.monotonic())
        try:
            ready = enter.wait_readable((sock.fileno(), wake_read), wait)
        except InterruptedError:
            continue
        if wake_read in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_read, 4096)
            continue
        if sock.fileno() not in ready:
            if wait is not None and template is not None:
                starting = None
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                try:
                    pid = _fork(template_level)
                except OSError:
                    ours.close()
                    theirs.close()
                    template = None
                    continue
                if pid == 0:
                    _leave_zygote(sock, wake_read, wake_write, ours.detach(), *_detach_all(spares))
                    return _wait_as_spare(template, theirs, enter)
                theirs.close()
                # Parsing the template now also takes, while idle, the copy-on-write
                # faults that parsing the next request would take after this fork.
                spares.append(_Spare(pid, ours, spare_key(json.loads(template))))
                send(sock, {"op": "spare", "pid": pid, "key": list(spares[-1].key)})
            continue
        data, fds, _, _ = socket.recv_fds(sock, MAX_RECORD, MAX_FDS)
        if not data:
            os._exit(0)  # the server is gone: our children follow by their death signal
        request = json.loads(data)
        op = request.get("op")
        if op in ("settled", "join"):
            if op == "settled" and starting is not None and starting[0] == request["pid"]:
                starting = None
            joining = next((spare for spare in spares if spare.pid == request.get("pid")), None)
            if op == "join" and joining is not None and not joining.joined:
                joining.joined = _hand_over(joining, data, fds)
            for fd in fds:
                os.close(fd)
            continue
        key = spare_key(request)
        for stale in [spare for spare in spares if spare.key != key]:
            _discard(stale)  # made for another kind of request: the template changes now
            spares.remove(stale)
        # A request without a cgroup of its own may only go to a spare that has one.
        spare_only = bool(request.get("spare_only"))
        candidates = sorted(spares, key=lambda spare: not spare.joined)  # joined ones first
        if spare_only:
            candidates = [spare for spare in candidates if spare.joined]
        if spare_only and not candidates:
            for fd in fds:
                os.close(fd)
            send(sock, {"op": "failed", "id": request["id"], "errno": errno.EAGAIN, "message": "no spare"})
            continue
        template, template_level = _template_of(request), request["level"]
        claimed = None
        for spare in candidates:
            spares.remove(spare)
            if _hand_over(spare, data, fds):
                claimed = spare
                spare.sock.close()
                break
            _discard(spare)
        if claimed is not None:
            for fd in fds:
                os.close(fd)
            send(sock, {"op": "started", "id": request["id"], "pid": claimed.pid, "joined": claimed.joined})
            starting = (claimed.pid, time.monotonic() + SETTLE_WAIT_S)
            continue
        if spare_only:  # its spare went away: never a fresh child without a cgroup
            for fd in fds:
                os.close(fd)
            send(sock, {"op": "failed", "id": request["id"], "errno": errno.EAGAIN, "message": "no spare"})
            continue
        try:
            pid = _fork(request["level"])
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            send(sock, {"op": "failed", "id": request["id"], "errno": exc.errno or 0, "message": str(exc)})
            continue
        if pid == 0:
            _leave_zygote(sock, wake_read, wake_write, *_detach_all(spares))
            return request, fds, 0, False
        for fd in fds:
            os.close(fd)
        send(sock, {"op": "started", "id": request["id"], "pid": pid})
        starting = (pid, time.monotonic() + SETTLE_WAIT_S)


def _discard(spare: _Spare) -> None:
    """End a spare that will not be used (its init and function follow it)."""
    spare.sock.close()
    with contextlib.suppress(ProcessLookupError):
        os.kill(spare.pid, signal.SIGKILL)


def _detach_all(spares: list[_Spare]) -> list[int]:
    """In a new child: the descriptors of the zygote's ends of its spares' sockets, to close."""
    return [spare.sock.detach() for spare in spares]


def _fork(level: str) -> int:
    """Fork a child for a request of ``level``. At namespace level the child is
    a keeper, which runs only sandbox code and forks the function's process
    with os.fork(): it skips the interpreter's after-fork work
    (``_linux.bare_fork``). At process level the child is the function."""
    if level != "namespace":
        return os.fork()
    linux = sys.modules["lambdalite.sandbox._linux"]
    pid: int = linux.bare_fork()
    return pid


def _leave_zygote(sock: socket.socket, *fds: int) -> None:
    """In a new child: drop the zygote's signal handling and descriptors."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in (*fds, sock.detach()):
        os.close(fd)


def _hand_over(spare: _Spare, data: bytes, fds: list[int]) -> bool:
    """Send a request to a spare; False when it cannot take it (gone, or too large)."""
    try:
        socket.send_fds(spare.sock, [data], fds)
    except OSError:
        return False
    return True


def _template_of(request: dict[str, Any]) -> bytes:
    """What a spare made after ``request`` is given: the request without its
    environment's names and values (only their number), which would otherwise
    stay in the zygote's memory, and be copied into every later child's."""
    return json.dumps({**request, "env": {str(index): "" for index in range(len(request["env"]))}}).encode()


def _wait_as_spare(template: bytes, control: socket.socket, enter: ModuleType) -> _Child:
    """A spare's life until its request: the namespace part that the
    ``template`` request's kind shares with every request of that kind
    (``enter.prepare_spare``), a rehearsal, then one request on ``control``,
    joining the cgroup of a ``join`` record that may come first (``_serve``).
    Ends when the zygote goes away first, or when it cannot join."""
    init = 0
    request = json.loads(template)
    if request["level"] == "namespace":
        plan = enter.SandboxPlan(**decode(request["plan"]))
        init = enter.prepare_spare(plan, control.fileno())
    else:
        zygote = os.getppid()
        linux = sys.modules["lambdalite.sandbox._linux"]
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != zygote:
            os._exit(0)
    _rehearse(request, enter)
    joined = False
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, MAX_RECORD, MAX_FDS)
        except OSError:
            os._exit(0)
        if not data:
            os._exit(0)
        record = json.loads(data)
        if record.get("op") != "join":
            break
        try:
            for fd in fds:
                os.write(fd, b"0")  # 0: the writer itself, as enter._become_function writes it
                os.close(fd)
        except OSError:
            os._exit(0)  # half in: the zygote forks the next start afresh
        joined = True
    control.close()
    return record, fds, init, joined


def _rehearse(request: dict[str, Any], enter: ModuleType) -> None:
    """Run, in a spare, the steps of a start that work the same on any data, so
    the copy-on-write page faults they take (several microseconds each, hundreds
    of them) are taken before the request rather than after it. The environment
    gets dummy variables, as many as the template had (``_template_of``)."""
    if request["level"] == "namespace":
        enter.rehearse(enter.SandboxPlan(**decode(request["plan"])))
    _place_fds([], ())
    os.environ.clear()
    os.environ.update({f"_{index}": "" for index in range(len(request["env"]))})
    os.environ.clear()
    time.tzset()
    rehearse = getattr(sys.modules.get(_BOOTSTRAP_NAME), "rehearse", None)
    if rehearse is not None:
        with contextlib.suppress(Exception):
            rehearse()


def _reap(sock: socket.socket) -> set[int]:
    """Report every ended child; returns their pids (a spare's is reported too:
    the server knows no such pid and ignores it)."""
    reaped: set[int] = set()
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.add(pid)
        send(sock, {"op": "exit", "pid": pid, "returncode": os.waitstatus_to_exitcode(status)})


def _place_fds(received: list[int], targets: tuple[int, ...]) -> list[int]:
    """Move the received descriptors above every target number, then put the
    last ``len(targets)`` of them at their target numbers (pass_fds keep their
    numbers). Returns the others' new numbers, in order."""
    floor = max((*targets, 2)) + 1
    moved = []
    for fd in received:
        moved.append(fcntl.fcntl(fd, fcntl.F_DUPFD, floor))
        os.close(fd)
    keep = moved[: len(moved) - len(targets)]
    for index, target in enumerate(targets):
        fd = moved[len(keep) + index]
        os.dup2(fd, target)
        os.close(fd)
    return keep


def _run_child(child: _Child, bootstrap: ModuleType, base_path: list[str], enter: ModuleType) -> None:
    request, received, init, joined = child
    status = -1
    try:
        targets = tuple(request["pass_fds"])
        fds = _place_fds(received, targets)
        status = fds[1]
        if request["level"] == "namespace":
            _enter_namespace(request, fds, init, joined, enter)
        else:
            _enter_process(request, fds, targets, enter)
        _become_python(request, base_path, bootstrap)
        os.close(status)
    except BaseException as exc:
        code = exc.errno if isinstance(exc, OSError) and exc.errno else 0
        with contextlib.suppress(BaseException):
            os.write(status, f"E{code} zygote child: {exc}".encode(errors="replace")[:4000])
        os._exit(_FAILED)
    # From here on this is the runtime, exactly as a fresh interpreter running the bootstrap.
    main: Callable[[Any], None] = bootstrap.main
    del child, request, received, fds
    main(os.environ)


def _enter_namespace(request: dict[str, Any], fds: list[int], init: int, joined: bool, enter: Any) -> None:
    """``init``: a spare's init pid (the spare's pipes stand in for the lifeline
    descriptors, which ``enter_prepared`` closes with every other one);
    ``joined``: the spare is already in its own cgroup (the request's are not joined)."""
    fields = decode(request["plan"])
    plan = enter.SandboxPlan(**fields)
    output, status, *rest = fds
    cgroup_fds, (lifeline, lifeline_read) = tuple(rest[:-2]), rest[-2:]
    child_fds = enter.ChildFds(output, status, cgroup_fds, lifeline, lifeline_read)
    if init:
        enter.enter_prepared(plan, child_fds, init, joined=joined)
    else:
        enter.enter_sandbox(plan, child_fds)


def _enter_process(request: dict[str, Any], fds: list[int], targets: tuple[int, ...], enter: Any) -> None:
    output, status = fds
    zygote = os.getppid()
    os.setsid()
    # process.ChildPlan: rlimits, then the environment's own credentials (root only).
    plan = request["plan"]
    for limit, value in plan["rlimits"]:
        resource.setrlimit(limit, (value, value))
    os.chdir(request["cwd"])
    if plan["uid"] is not None:
        os.setgroups(plan["groups"])
        os.setresgid(plan["gid"], plan["gid"], plan["gid"])
        os.setresuid(plan["uid"], plan["uid"], plan["uid"])
    linux = sys.modules["lambdalite.sandbox._linux"]
    # After the credentials: changing them clears the death signal.
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != zygote:
        os._exit(_FAILED)
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    enter._close_all_except({0, 1, 2, status, *targets})
    for fd in targets:
        os.set_inheritable(fd, True)


def _is_own(name: str) -> bool:
    return name == _OWN_PACKAGE or name.startswith(_OWN_PACKAGE + ".")


def _become_python(request: dict[str, Any], base_path: list[str], bootstrap: ModuleType) -> None:
    """What a fresh ``python bootstrap.py`` would have: its environment, argv,
    path, signal dispositions, a running garbage collector, no lambdalite."""
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    sys.argv[:] = [request["argv1"]]
    sys.path[:] = base_path
    # By the names listed in the zygote: going through sys.modules would write the
    # reference count of every module's name, each a page to copy from the zygote.
    # Kept alive, not freed, for the same reason; nothing the function imports reaches them.
    _RETIRED.extend(sys.modules.pop(name) for name in _OWN_MODULES if name in sys.modules)
    sys.modules["__main__"] = bootstrap
    # No importlib.invalidate_caches(): it would list every stdlib directory
    # again, and a path finder notices a changed directory by its mtime anyway.
    # Python's own start-up dispositions (enter_sandbox set the exec defaults).
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    gc.enable()


if __name__ == "__main__":
    main(sys.argv)
