"""A SnapStart snapshot: one initialised Python runtime that restored environments fork from.

Run inside a version's sandbox as ``<python3.12+> snapshot.py`` with the
version's environment and ``_LAMBDALITE_SNAPSHOT_FD`` naming a SOCK_SEQPACKET
socket to the platform (``lambdalite.sandbox.snapstart``). Standard library only.

Init, once: the handler's module is imported (its init code runs), then every
``snapshot_restore_py`` before-snapshot hook; the garbage collector is frozen,
so restored environments share the initialised objects' pages. It answers
``{"op": "ready", "init_ms": ...}``, or ``{"op": "failed", "error": <AWS's
error body>}`` and exits 1 (an init error, a failing hook, a Python older
than 3.12).

Then, one record at a time from the platform:

- ``{"op": "restore", "id": N, "env": {...}, "listen": bool, "pass_fds":
  [...]}`` with the environment's descriptors (its output, then those it must
  have at the numbers ``pass_fds`` lists): a child is forked for it. The
  platform hands most restores to a spare instead, a child forked ahead of
  need and announced as ``{"op": "spare", "pid"}`` with its channel, and then
  says ``{"op": "claimed", "pid"}`` (``_serve``). Either way the environment
  is a process of its own, used once, with its own session (killed with its
  process group), which dies with the snapshot. At its restore it takes the
  environment's variables (less the platform's own, which the snapshot's init
  consumed), re-seeds ``random`` (a restored environment must
  not repeat its siblings' numbers), makes its Runtime API listener when asked
  to (``_listen``), answers ``{"op": "restored", "id": N, "pid": <its pid>}``
  with its credentials (so the platform learns its host pid) and the listener,
  runs the after-restore hooks and then serves invocations exactly as the
  bootstrap does. A failing hook is reported as the environment's init error.
- the end of every child is reported as ``{"op": "exit", "pid", "returncode"}``
  (with ``id``, its restore's, for a child forked for one; pid 0 when that
  child could not be forked, and the restore fails).

EOF on the socket (the platform discarded the snapshot) ends it, and its
environments with it (their death signal).
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import fcntl
import gc
import importlib.util
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time
from types import ModuleType
from typing import Any

MAX_RECORD = 1 << 18
FD_VARIABLE = "_LAMBDALITE_SNAPSHOT_FD"
MIN_PYTHON = (3, 12)
_HERE = os.path.dirname(os.path.abspath(__file__))
_HOOKS_MODULE = "snapshot_restore_py"
_PR_SET_PDEATHSIG = 1
_LEVEL_VARIABLES = ("TMPDIR",)
MAX_FDS = 16
"""Descriptors a restore request may carry: its output and its ``pass_fds``."""
RUNTIME_API_BACKLOG = 16
"""As the platform's own Runtime API listeners (a runtime opens one or two connections)."""
SPARES = 1
"""Environments forked ahead of need (``_serve``). One: a version's restores come
one cold start at a time far more often than in bursts, and a spare is a process
that holds its copied pages for as long as it waits."""
SETTLE_WAIT_S = 0.05
"""How long the platform must have been quiet before a spare is forked: never
while a restore is starting (the fork would compete with it for the CPU)."""
_LIBC: list[Any] = []


def _send(
    sock: socket.socket, record: dict[str, Any], credentials: bool = False, fds: list[int] | None = None
) -> None:
    """One record; with ``credentials`` (this process's pid, which the platform reads
    as the host sees it) and ``fds`` as ancillary data."""
    data = json.dumps(record).encode()
    ancillary = []
    if credentials:
        creds = struct.pack("3i", os.getpid(), os.getuid(), os.getgid())
        ancillary.append((socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds))
    if fds:
        ancillary.append((socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes()))
    if ancillary:
        sock.sendmsg([data], ancillary)
    else:
        sock.send(data)


def _listen(request: dict[str, Any]) -> socket.socket | None:
    """With ``listen`` in the restore request (the snapshot's network namespace is the
    version's own: ``lambdalite.sandbox.snapstart``): this environment's Runtime API
    listener, on a port of its own in it (its siblings share the namespace), named in
    ``AWS_LAMBDA_RUNTIME_API``. None otherwise: the platform's listener is on the
    host's loopback, at the address the environment's variables already give."""
    if not request.get("listen"):
        return None
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(RUNTIME_API_BACKLOG)
    os.environ["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{listener.getsockname()[1]}"
    return listener


def _load_bootstrap() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "__lambdalite_bootstrap__", os.path.join(_HERE, "bootstrap.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _run_hooks(kind: str) -> None:
    """Run the registered hooks of ``kind`` (``before_snapshot``/``after_restore``),
    if the function imported the hooks module at all."""
    hooks = sys.modules.get(_HOOKS_MODULE)
    if hooks is None:
        return
    for func, args, kwargs in getattr(hooks, f"get_{kind}")():
        func(*args, **kwargs)


def _fail(
    sock: socket.socket, bootstrap: ModuleType, error_type: str, message: str, trace: list[str]
) -> None:
    error = bootstrap._error_body(error_type, message, "", trace)
    bootstrap._log_error(error, os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON")
    bootstrap._flush()
    with contextlib.suppress(OSError):
        _send(sock, {"op": "failed", "error": error})
    sys.exit(1)


def _initialise(sock: socket.socket, bootstrap: ModuleType) -> Any:
    """Import the handler and run the before-snapshot hooks; the handler, or exit."""
    environ = os.environ
    bootstrap._set_sys_path(environ.get("LAMBDA_TASK_ROOT") or os.getcwd())
    bootstrap._setup_logging(environ)
    try:
        handler = bootstrap.load_handler(environ.get("_HANDLER", ""))
    except bootstrap.FaultError as fault:
        _fail(sock, bootstrap, fault.error_type, fault.message, fault.stack_trace or [])
    except Exception as exc:
        _fail(sock, bootstrap, type(exc).__name__, str(exc), bootstrap._user_frames(exc.__traceback__))
    try:
        _run_hooks("before_snapshot")
    except Exception as exc:
        _fail(sock, bootstrap, "Runtime.BeforeSnapshotError", f"{type(exc).__name__}: {exc}", [])
    return handler


def main() -> None:
    started = time.perf_counter()
    sock = socket.socket(fileno=int(os.environ.pop(FD_VARIABLE)))
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    bootstrap = _load_bootstrap()
    if sys.version_info < MIN_PYTHON:
        version = "{}.{}".format(*sys.version_info[:2])
        _fail(
            sock,
            bootstrap,
            "Runtime.SnapStartUnavailable",
            f"SnapStart needs Python 3.12 or newer, and this host runs the function on Python {version}",
            [],
        )
    handler = _initialise(sock, bootstrap)
    _LIBC.append(ctypes.CDLL(None, use_errno=True))  # loaded once, not in every environment
    _prepare_connect()
    # Frozen for good: a restored environment's collections never walk (and copy)
    # the snapshot's objects, as a zygote's children do not.
    gc.collect()
    gc.freeze()
    sys.stdout.flush()
    sys.stderr.flush()
    _send(sock, {"op": "ready", "init_ms": (time.perf_counter() - started) * 1000})
    child = _serve(sock, bootstrap)
    _restore(child, sock, bootstrap, handler)


def _prepare_connect() -> None:
    """What every environment's first connect to its Runtime API loads, loaded once
    here: the ``idna`` codec (``socket.create_connection`` encodes its host with it)
    and the C library's resolver state (its configuration, read at the first
    ``getaddrinfo`` of a process). Each restored environment would otherwise pay
    them, about 3 ms, between its restore and its first ``GET .../next``. A
    numeric loopback address: nothing is sent anywhere."""
    import encodings.idna  # noqa: F401  (the import is the point)

    with contextlib.suppress(OSError):
        socket.getaddrinfo("127.0.0.1", 9, socket.AF_UNSPEC, socket.SOCK_STREAM)


def _serve(sock: socket.socket, bootstrap: ModuleType) -> tuple[dict[str, Any], list[int]]:
    """Make environments until the platform goes away; returns in a child only (the
    environment, with its restore request and descriptors: ``_restore``).

    Forking this process copies its page tables (they grow with what the init
    imported) and each page the child then writes: milliseconds, which a restore
    should not wait for. So once the platform has been quiet for SETTLE_WAIT_S,
    ``SPARES`` children are forked ahead (``_wait_as_spare``). Each is announced
    to the platform as ``{"op": "spare", "pid"}`` with its end of the spare's
    channel, which the snapshot gives away: the platform hands a restore to a
    spare itself (one wake-up fewer than through here) and says so
    (``{"op": "claimed", "pid"}``), and sends here only the restores it had no
    spare for, which get a child forked for them. Either way the environment is
    a process of its own, used once, that takes its variables, re-seeds and
    runs the after-restore hooks at its restore (``_restore``)."""
    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wake_write)
    spares: set[int] = set()
    """The spares not claimed yet."""
    restoring: dict[int, int] = {}
    """Pid of a child forked here -> the id of its restore (its exit fails a restore it never answered)."""
    wanted = True
    """False once a spare could not be made or died unclaimed: no other is made before
    the next restore, so a spare that cannot live never becomes a loop of forks."""
    while True:
        if _reap(sock, spares, restoring):
            wanted = False
        timeout = SETTLE_WAIT_S if wanted and len(spares) < SPARES else None
        try:
            ready, _, _ = select.select([sock.fileno(), wake_read], [], [], timeout)
        except InterruptedError:
            continue
        if not ready:
            try:
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            except OSError:
                wanted = False
                continue
            try:
                pid = os.fork()
            except OSError:  # out of processes or memory: restores fork for themselves
                ours.close()
                theirs.close()
                wanted = False
                continue
            if pid == 0:
                ours.close()
                _leave_snapshot(wake_read, wake_write)
                return _wait_as_spare(theirs, bootstrap)
            theirs.close()
            try:
                _send(sock, {"op": "spare", "pid": pid}, fds=[ours.fileno()])
            finally:
                ours.close()
            spares.add(pid)
            continue
        if wake_read in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_read, 4096)
        if sock.fileno() not in ready:
            continue
        data, fds, _, _ = socket.recv_fds(sock, MAX_RECORD, MAX_FDS)
        if not data:
            os._exit(0)  # discarded: the environments and spares follow by their death signal
        request = json.loads(data)
        if request.get("op") == "claimed":
            spares.discard(int(request["pid"]))
        wanted = True  # a restore, or a spare claimed: the next may be needed soon
        if request.get("op") != "restore" or not _complete(request, fds):
            for fd in fds:
                os.close(fd)
            continue
        try:
            pid = os.fork()
        except OSError as exc:
            pid = -1
            _send(sock, {"op": "exit", "pid": 0, "returncode": -(exc.errno or 1), "id": request["id"]})
        if pid == 0:
            _leave_snapshot(wake_read, wake_write)
            return request, fds
        for fd in fds:
            os.close(fd)
        if pid > 0:
            restoring[pid] = int(request["id"])


def _complete(request: dict[str, Any], fds: list[int]) -> bool:
    """Did a restore request come with its descriptors: the output, then its ``pass_fds``?"""
    return len(fds) == 1 + len(request.get("pass_fds", ()))


def _leave_snapshot(wake_read: int, wake_write: int) -> None:
    """In a new child: what is the snapshot's alone is let go, and the child becomes
    an environment-to-be: its own session (the platform kills an environment by its
    process group) and the snapshot's death as its own."""
    snapshot = os.getppid()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.close(wake_read)
    os.close(wake_write)
    os.setsid()
    _LIBC[0].prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != snapshot:
        os._exit(1)  # the snapshot ended before the death signal was set


def _wait_as_spare(channel: socket.socket, bootstrap: ModuleType) -> tuple[dict[str, Any], list[int]]:
    """A spare: take ahead the page copies a restore would take, then wait for one.
    Returns the restore request and its descriptors; exits when the channel closes
    without one."""
    _rehearse(bootstrap)
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(channel, MAX_RECORD, MAX_FDS)
            break
        except InterruptedError:
            continue
    channel.close()
    request = json.loads(data) if data else {}
    if not data or not _complete(request, fds):
        os._exit(0)
    return request, fds


def _rehearse(bootstrap: ModuleType) -> None:
    """Run the parts of a restore that work the same on any data, without their
    effects, so that the pages they write are copied now rather than at the restore:
    the environment's variables replaced (by the same ones), a record encoded and
    decoded, and the bootstrap's own rehearsal (its per-invocation path, a socket)."""
    variables = dict(os.environ)
    os.environ.clear()
    os.environ.update(variables)
    time.tzset()
    json.loads(json.dumps({"op": "restored", "id": 0, "pid": os.getpid(), "env": variables}))
    rehearse = getattr(bootstrap, "rehearse", None)
    if rehearse is not None:
        with contextlib.suppress(Exception):
            rehearse()


def _reap(sock: socket.socket, spares: set[int], restoring: dict[int, int]) -> bool:
    """Report the end of every child, spares included (the platform holds their
    channels); ``id``: the restore a child forked here was made for. True when a
    spare ended unclaimed."""
    spare_ended = False
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return spare_ended
        if pid == 0:
            return spare_ended
        if pid in spares:
            spares.discard(pid)
            spare_ended = True
        record = {"op": "exit", "pid": pid, "returncode": os.waitstatus_to_exitcode(status)}
        if pid in restoring:
            record["id"] = restoring.pop(pid)
        _send(sock, record)


def _inherit(targets: list[int], fds: list[int], sock: socket.socket) -> socket.socket:
    """Put each descriptor of ``fds`` at the number of ``targets`` (``pass_fds``: the
    sandbox contract is that they are inherited with the same numbers) and return
    ``sock``, moved if it held one of those numbers. Exits 1 when a number is taken
    by a descriptor the function's init opened: its restore then fails (the platform
    hears of this process's end) rather than the function losing that descriptor."""
    if not targets:
        return sock
    floor = max(targets) + 1
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor) for fd in fds]
    for fd in fds:
        os.close(fd)
    if sock.fileno() in targets:
        sock, old = socket.socket(fileno=fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD_CLOEXEC, floor)), sock
        old.close()
    for target, fd in zip(targets, moved, strict=True):
        try:
            os.fstat(target)
        except OSError:
            os.dup2(fd, target, inheritable=True)
            os.close(fd)
            continue
        os.write(2, f"lambdalite snapshot: descriptor {target} is the function's own\n".encode())
        os._exit(1)
    return sock


def _restore(
    child: tuple[dict[str, Any], list[int]], sock: socket.socket, bootstrap: ModuleType, handler: Any
) -> None:
    """Become one restored environment (see the module docstring); never returns."""
    request, fds = child
    output = fds[0]
    sock = _inherit([int(fd) for fd in request.get("pass_fds", ())], fds[1:], sock)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    # The sandbox level's own variables (TMPDIR at process level) stay the snapshot's.
    level_variables = {name: os.environ[name] for name in _LEVEL_VARIABLES if name in os.environ}
    os.environ.clear()
    os.environ.update({**request["env"], **level_variables})
    # The platform's variables that the bootstrap reads and removes while it starts
    # (the snapshot did, in its init): the function sees AWS's variables and its own.
    # Its channel's is removed when the runtime takes the channel (``Runtime``).
    for name in (bootstrap._FRAMES_VARIABLE, bootstrap._SDK_VARIABLE):
        os.environ.pop(name, None)
    time.tzset()
    # The snapshot's random state is every restored environment's: re-seed from the OS.
    random.seed()
    listener = _listen(request)
    _send(
        sock,
        {"op": "restored", "id": request["id"], "pid": os.getpid()},
        credentials=True,
        fds=[] if listener is None else [listener.fileno()],
    )
    if listener is not None:
        listener.close()  # the platform's now: the function cannot accept on it
    sock.close()
    runtime = bootstrap.Runtime(os.environ)
    try:
        _run_hooks("after_restore")
    except Exception as exc:
        error = bootstrap._error_body(
            "Runtime.AfterRestoreError",
            f"{type(exc).__name__}: {exc}",
            "",
            bootstrap._user_frames(exc.__traceback__),
        )
        runtime.report_init_error(error)  # over the platform's channel or the Runtime API
        sys.exit(1)
    runtime.warm_up()
    try:
        runtime.serve(handler)
    except bootstrap.RuntimeApiGone as exc:
        sys.stderr.write(f"lambdalite runtime: the Runtime API went away ({exc})\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
