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

- ``{"op": "restore", "id": N, "env": {...}}`` with one descriptor (the
  environment's output), or three (then the read and write ends of its channel
  to the platform, which it finds under the bootstrap's channel variable):
  fork. The child is the environment: its own session
  (killed with its process group), dies with the snapshot, takes the
  environment's variables, re-seeds ``random`` (a restored environment must
  not repeat its siblings' numbers), answers ``{"op": "restored", "id": N,
  "pid": <its pid>}`` with its credentials (so the platform learns its host
  pid), runs the after-restore hooks and then serves invocations exactly as
  the bootstrap does. A failing hook is reported as the environment's init
  error.
- the end of each child is reported as ``{"op": "exit", "pid", "returncode"}``.

EOF on the socket (the platform discarded the snapshot) ends it, and its
environments with it (their death signal).
"""

from __future__ import annotations

import contextlib
import ctypes
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
_LIBC: list[Any] = []


def _send(sock: socket.socket, record: dict[str, Any], credentials: bool = False) -> None:
    data = json.dumps(record).encode()
    if credentials:
        creds = struct.pack("3i", os.getpid(), os.getuid(), os.getgid())
        sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds)])
    else:
        sock.send(data)


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
    # Frozen for good: a restored environment's collections never walk (and copy)
    # the snapshot's objects, as a zygote's children do not.
    gc.collect()
    gc.freeze()
    sys.stdout.flush()
    sys.stderr.flush()
    _send(sock, {"op": "ready", "init_ms": (time.perf_counter() - started) * 1000})
    child = _serve(sock)
    _restore(child, sock, bootstrap, handler)


def _serve(sock: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """Fork environments until the platform goes away; returns in a child only."""
    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wake_write)
    while True:
        _reap(sock)
        try:
            ready, _, _ = select.select([sock.fileno(), wake_read], [], [])
        except InterruptedError:
            continue
        if wake_read in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_read, 4096)
        if sock.fileno() not in ready:
            continue
        data, fds, _, _ = socket.recv_fds(sock, MAX_RECORD, 4)
        if not data:
            os._exit(0)  # discarded: the environments follow by their death signal
        request = json.loads(data)
        if request.get("op") != "restore" or len(fds) not in (1, 3):
            for fd in fds:
                os.close(fd)
            continue
        pid = os.fork()
        if pid == 0:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.close(wake_read)
            os.close(wake_write)
            return request, fds
        for fd in fds:
            os.close(fd)


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(sock, {"op": "exit", "pid": pid, "returncode": os.waitstatus_to_exitcode(status)})


def _restore(
    child: tuple[dict[str, Any], list[int]], sock: socket.socket, bootstrap: ModuleType, handler: Any
) -> None:
    """Become one restored environment (see the module docstring); never returns."""
    request, (output, *channel) = child
    snapshot = os.getppid()
    os.setsid()
    _LIBC[0].prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != snapshot:
        os._exit(1)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    # The sandbox level's own variables (TMPDIR at process level) stay the snapshot's.
    level_variables = {name: os.environ[name] for name in _LEVEL_VARIABLES if name in os.environ}
    os.environ.clear()
    os.environ.update({**request["env"], **level_variables})
    if channel:
        os.environ[bootstrap._CHANNEL_VARIABLE] = "{},{}".format(*channel)
    time.tzset()
    # The snapshot's random state is every restored environment's: re-seed from the OS.
    random.seed()
    _send(sock, {"op": "restored", "id": request["id"], "pid": os.getpid()}, credentials=True)
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
        runtime.report_init_error(error)
        sys.exit(1)
    runtime.warm_up()
    try:
        runtime.serve(handler)
    except bootstrap.RuntimeApiGone as exc:
        sys.stderr.write(f"lambdalite runtime: the Runtime API went away ({exc})\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
