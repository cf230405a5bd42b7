"""Python zygotes: environments forked from a pre-initialised interpreter.

``ZygoteSandbox(inner, bootstrap=...)`` wraps the level's sandbox and keeps
its protocol, so the data plane does not change. It wraps any level that
answers ``ForkingLevel`` and never looks inside one: the level makes the
start request and its own resources (a cgroup, a scratch directory) in
``fork_from`` and forks through ``Zygote.start_child``. A spec whose argv is
``(<python interpreter>, <bootstrap>)`` is forked by that interpreter's
zygote (``_zygote_main``: the bootstrap, boto3/botocore, json, urllib,
http.client and the configured ``modules`` already imported); the child
enters exactly the isolation ``inner`` gives (namespace level: the same
``enter.enter_sandbox`` with ``inner``'s plan and cgroup; process level: its
own session, RLIMIT_NOFILE, a private TMPDIR, exactly ``spec.env``, cwd =
the task root), then runs ``bootstrap.main``, which imports the handler: its
module-level code runs once per environment, in the child, as on AWS.

Every other spec goes to ``inner.start``, and so does a Python spec when:

- the function or one of its layers ships a top-level module or package the
  zygote has imported (its own boto3, dateutil, ...): the function's copy
  must win, so it gets a fresh interpreter;
- its environment sets a ``PYTHON*`` variable (PYTHONPATH, ...), which only
  an interpreter's start-up honours;
- the zygote is not ready (it is started, in the background, by the first
  spec that names its interpreter), has died, or failed in any way: a broken
  zygote costs speed, never an environment. A dead zygote is started again,
  with a growing delay while it keeps failing before it gets ready; a Python
  older than 3.10 (which ``enter`` does not support) never gets one.

The returned process behaves like ``inner``'s: ``pid`` is the runtime's host
pid, the zygote reports its child's end (the runtime's exit status, or the
keeper's, which mirrors it) so ``returncode`` is the exit status or the
negative signal, ``kill_tree`` kills the process group (process level) or the
cgroup and PID namespace (namespace level). A zygote that dies takes the
environments it forked with it (their death signal); they are reported as
killed (-9).

Known differences from a fresh interpreter: every child of one zygote shares
its hash seed (PYTHONHASHSEED); at process level, /proc VmHWM of a child
counts the zygote's cached modules it shares (at namespace level the cgroup
charges only what the child itself touches).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import errno
import functools
import json
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lambdalite.runtimes import sdk
from lambdalite.sandbox import _zygote_main as wire
from lambdalite.sandbox import enter
from lambdalite.sandbox.cgroups import Cgroup, CgroupHost, CgroupLimits, limits_for, remove_cgroup
from lambdalite.sandbox.spec import NetworkFacts, Sandbox, SandboxedProcess, SandboxSpec
from lambdalite.sandbox.status import read_status, status_channel
from lambdalite.sandbox.tree import MemoryMeter, close_pidfds, kill_namespace_tree

log = logging.getLogger("lambdalite.zygote")

DEFAULT_MODULES: tuple[str, ...] = (
    # The bootstrap's first connect() encodes its host with the idna codec: a
    # lazy import (and unicodedata's .so) every child would load again.
    "encodings.idna",
    "boto3",
    "botocore",
    "botocore.session",
    "json",
    "urllib.request",
    "urllib.parse",
    "http.client",
    "decimal",
    "datetime",
    "uuid",
    "base64",
    "hashlib",
    "hmac",
    "logging",
    "email.utils",
    "dataclasses",
    "typing",
)
"""Imported by every zygote when this interpreter can (``modules`` replaces it)."""
_MAIN = Path(wire.__file__).resolve()
_PACKAGE_PARENT = _MAIN.parent.parent.parent
_RETRY_FIRST_S = 0.5
_RETRY_MAX_S = 60.0
_CLOSED = "closed"
_OPENED_FILE_SUFFIXES = (".py", ".pyc", ".so", ".pyd")


class ZygoteUnavailable(Exception):
    """The zygote cannot fork this start (dead, or died meanwhile)."""


class SpareGone(Exception):
    """A ``spare_only`` start found no spare waiting in a cgroup of its own."""


class OwnedTree(Protocol):
    """What a level keeps for a forked child besides a cgroup (the process
    level's ``ProcessTree``: scratch space, credentials, a storage watch)."""

    def watch(self, leader: int, output_fd: int | None = None) -> None:
        """The child ``leader`` started; ``output_fd`` is a write end of its output."""

    def kill(self) -> None:
        """SIGKILL everything the environment started."""

    async def release(self) -> None:
        """Free what it holds (after ``kill``). Idempotent."""


StatusCheck = Callable[["ZygoteProcess", bytes, list[int]], "OSError | None"]
"""A level's reading of its child's status record and the descriptors that came
with it (``sandbox.status``): fills in the process, returns the start's failure."""


class ForkingLevel(Sandbox, Protocol):
    """An isolation level whose Python environments a zygote can fork: the
    zygote asks it, never looks inside it."""

    @property
    def cgroups(self) -> CgroupHost | None:
        """Where spares get cgroups of their own ahead of need (None: the level has none)."""

    def python_code_roots(self, spec: SandboxSpec) -> tuple[Path, ...]:
        """The directories whose ``python`` subdirectories the function's own modules
        come from besides its task root (its layers, as the runtime sees them)."""

    def runnable(self, spec: SandboxSpec) -> SandboxSpec:
        """``spec`` with its program as this level runs it (its zygote is keyed by it)."""

    async def fork_from(self, zygote: Zygote, spec: SandboxSpec) -> SandboxedProcess:
        """Start ``spec`` as a child of ``zygote`` (``Zygote.start_child``) with this
        level's isolation. Raises as ``start`` does; nothing is left behind then."""


@dataclass(eq=False, slots=True)
class ZygoteProcess:
    """A runtime forked by a zygote (satisfies spec.SandboxedProcess)."""

    level: str
    child_pid: int
    """The zygote's child: the runtime itself (process level) or the keeper (namespace)."""
    output_fd: int
    exited: asyncio.Future[int]
    runtime_pid: int = 0
    init_pid: int = 0
    cgroup: Cgroup | None = None
    tree: OwnedTree | None = None
    """Process level: the environment's scratch directory, credentials and storage watch."""
    runtime_api_listener: socket.socket | None = None
    """As NamespaceProcess's: the Runtime API listener of a function without network."""
    sandbox_uid: int | None = None
    """The environment's own uid, if it has one (as NamespaceProcess's, or the process level's)."""
    pidfds: tuple[int, ...] = ()
    """Namespace level: as NamespaceProcess's (closed by ``stop``)."""
    on_settled: Callable[[], None] | None = None
    """Tells its zygote that this start is over (``start_settled``); None once called."""
    on_stopped: Callable[[], None] | None = None
    """Gives back what the level lent the environment (its network namespace) once it is gone."""
    _memory: MemoryMeter = field(init=False, repr=False)
    _stopped: bool = False

    def __post_init__(self) -> None:
        self._memory = MemoryMeter(self.cgroup)

    @property
    def pid(self) -> int:
        return self.runtime_pid or self.child_pid

    @property
    def memory_limited(self) -> bool:
        return self.cgroup is not None

    @property
    def returncode(self) -> int | None:
        if self.exited.done() and not self.exited.cancelled():
            return self.exited.result()
        return None

    async def wait(self) -> int:
        return await asyncio.shield(self.exited)

    def kill_tree(self) -> None:
        """Process level: SIGKILL the process group (``tree``). Namespace level: the
        runtime and its namespace, as NamespaceProcess does (``tree.kill_namespace_tree``).
        The memory figures are taken first."""
        if self.returncode is not None:
            return
        self._memory.sample(self.runtime_pid)
        if self.tree is not None:
            self.tree.kill()
            return
        # Before the runtime is known: the keeper, still the zygote's child until
        # the zygote reports its end (``exited``).
        kill_namespace_tree(self.child_pid, self.runtime_pid, self.init_pid, self.pidfds, self.cgroup)

    async def stop(self) -> int | None:
        self.kill_tree()
        returncode = await self.wait()
        close_pidfds(self.pidfds)
        self.pidfds = ()
        self._memory.release()
        if self.cgroup is not None:
            await remove_cgroup(self.cgroup)
        self._stopped = True
        if self.tree is not None:
            await self.tree.release()
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
        """Tell the zygote (once): it makes its next spare after this start, not during it."""
        notify, self.on_settled = self.on_settled, None
        if notify is not None:
            notify()


@dataclass(eq=False)
class Zygote:
    """One zygote process for one interpreter, as the server sees it."""

    interpreter: str
    bootstrap: Path
    modules: Sequence[str]
    version: str = ""
    cached: frozenset[str] = frozenset()
    """Top-level names of every module the zygote holds (its ``ready`` record)."""
    ready: bool = False
    dead: bool = False
    unsupported: bool = False
    popen: subprocess.Popen[bytes] | None = None
    _sock: socket.socket | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _next_id: int = 0
    cgroups: CgroupHost | None = None
    """Set (namespace level with cgroups): each spare gets a cgroup to join ahead of need."""
    _pending: dict[int, asyncio.Future[Started]] = field(default_factory=dict)
    _exits: dict[int, asyncio.Future[int]] = field(default_factory=dict)
    _children: dict[int, ZygoteProcess] = field(default_factory=dict)
    _spare_cgroups: dict[int, SpareCgroup] = field(default_factory=dict)
    """A spare's pid -> the cgroup it was offered (``_offer_cgroup``), with its kind."""
    _offering: set[int] = field(default_factory=set)
    """Spares whose cgroup is still being made (``_offer_cgroup``)."""
    _send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def spawn(self) -> None:
        """Start the zygote process; it reports ``ready`` when its imports are done."""
        self._loop = asyncio.get_running_loop()
        joins: tuple[bytes, ...] = ()
        if self.cgroups is not None:
            with contextlib.suppress(OSError):
                joins = self.cgroups.starters_join_files()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.popen = subprocess.Popen(
                [
                    self.interpreter,
                    str(_MAIN),
                    str(theirs.fileno()),
                    str(self.bootstrap),
                    str(_PACKAGE_PARENT),
                    json.dumps(list(self.modules)),
                    json.dumps([os.fsdecode(join) for join in joins]),
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env={
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "LANG": "en_US.UTF-8",
                    "TZ": ":UTC",
                    # The runtime's boto3 (runtimes.sdk), so the zygote caches the copy functions get.
                    wire.SDK_VARIABLE: sdk.python_sdk_path(),
                },
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        self._sock = ours
        self._loop.add_reader(ours.fileno(), self._readable)

    def has_spare_in_a_cgroup(self, kind: list[Any]) -> bool:
        """Is a spare of ``kind`` waiting in a cgroup of its own? (It may still
        go away: a ``spare_only`` request then fails with EAGAIN.)"""
        return any(spare.kind == kind for spare in self._spare_cgroups.values())

    def limit_spares(self, limits: CgroupLimits) -> None:
        """Give every spare's cgroup ``limits`` before a request is sent: the
        spare that takes it runs the function under them from its first step
        (one that does not take it is killed)."""
        if self.cgroups is not None:
            for spare in self._spare_cgroups.values():
                with contextlib.suppress(OSError):
                    self.cgroups.set_limits(spare.cgroup, limits)

    async def fork(self, request: dict[str, Any], fds: Sequence[int]) -> Started:
        """Ask for a child (``Started``). Raises ZygoteUnavailable when the
        zygote is (or goes) away."""
        if self.dead or self._sock is None or self._loop is None:
            raise ZygoteUnavailable(self.interpreter)
        self._next_id += 1
        request_id = self._next_id
        data = json.dumps({**request, "id": request_id}).encode()
        if len(data) > wire.MAX_RECORD:
            raise ZygoteUnavailable(f"{self.interpreter}: a {len(data)}-byte request is too large")
        answer: asyncio.Future[Started] = self._loop.create_future()
        self._pending[request_id] = answer
        try:
            await self._send(data, fds)
            return await answer
        finally:
            self._pending.pop(request_id, None)

    async def _send(self, data: bytes, fds: Sequence[int]) -> None:
        # One sender at a time: a full socket buffer is waited for with one
        # writer callback, and the loop keeps only one per descriptor.
        async with self._send_lock:
            await self._send_now(data, fds)

    async def _send_now(self, data: bytes, fds: Sequence[int]) -> None:
        assert self._sock is not None and self._loop is not None
        while True:
            try:
                self._sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, _fd_array(fds))])
                return
            except BlockingIOError:
                writable: asyncio.Future[None] = self._loop.create_future()
                fileno = self._sock.fileno()
                self._loop.add_writer(fileno, _resolve, writable)
                try:
                    await writable
                finally:
                    self._loop.remove_writer(fileno)
                if self.dead:
                    raise ZygoteUnavailable(self.interpreter) from None
            except OSError as exc:
                self.die(f"send failed: {exc}")
                raise ZygoteUnavailable(self.interpreter) from exc

    async def start_child(
        self,
        request: dict[str, Any],
        cgroup_fds: tuple[int, ...],
        spec: SandboxSpec,
        check: StatusCheck,
        *,
        lifeline: bool,
        cgroup: Cgroup | None = None,
        tree: OwnedTree | None = None,
    ) -> ZygoteProcess:
        """Fork a child for a level (``ForkingLevel.fork_from``): send ``request``
        with its descriptors, then wait for the child's setup and let the level
        ``check`` its status. The descriptors: output, status, [cgroup.procs...,
        lifeline, lifeline read] (``lifeline``: a namespace child's), pass_fds.
        ``cgroup``/``tree``: what the level made for this environment, now the
        process's (a spare that brings a cgroup of its own replaces ``cgroup``).
        Raises SpareGone when a ``spare_only`` request found no spare, OSError
        when the start failed; the child is ended then, and the level releases
        what it made."""
        opened = list(cgroup_fds)
        try:
            # A socket pair: a namespace child's status may carry the Runtime API listener.
            opened.extend(status_channel())
            for _ in range(2 if lifeline else 1):
                opened.extend(os.pipe())
            if lifeline:
                status_read, status_write, output_read, output_write, life_read, life_write = opened[-6:]
                child_fds = (output_write, status_write, *cgroup_fds, life_write, life_read)
            else:
                status_read, status_write, output_read, output_write = opened[-4:]
                child_fds = (output_write, status_write)
            try:
                started = await self.fork(request, (*child_fds, *spec.pass_fds))
            except OSError as exc:
                if request.get("spare_only") and exc.errno == errno.EAGAIN:
                    raise SpareGone from exc
                raise
        except BaseException:
            for fd in opened:
                os.close(fd)
            raise
        pid, exited = started.pid, started.exited
        if request.get("spare_only") and started.cgroup is None:  # never without a cgroup
            for fd in opened:
                os.close(fd)
            exited.add_done_callback(lambda _: None)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            raise OSError(errno.EPROTO, "zygote: a spare without its cgroup took a spare-only start")
        if started.cgroup is not None:  # a spare already in a cgroup of its own took it
            if cgroup is not None:
                self.release_cgroup(cgroup)  # never joined: empty
            cgroup = started.cgroup
        if tree is not None:
            tree.watch(pid, output_write)
        for fd in opened:
            if fd not in (output_read, status_read):
                os.close(fd)
        os.set_blocking(output_read, False)
        process = ZygoteProcess(request["level"], pid, output_read, exited, cgroup=cgroup, tree=tree)
        self.track(process)
        process.on_settled = functools.partial(self.settled, pid)
        try:
            status, passed = await read_status(status_read)
            error = check(process, status, passed)
        except BaseException:
            await _abandon(process, self, started.cgroup)
            raise
        if error is not None:
            await _abandon(process, self, started.cgroup)
            raise error
        return process

    def settled(self, pid: int) -> None:
        """Tell the zygote that the start of its child ``pid`` is done (``_zygote_main``).
        A hint: lost when the socket is full."""
        if self._sock is None or self.dead:
            return
        with contextlib.suppress(OSError):
            self._sock.send(json.dumps({"op": "settled", "pid": pid}).encode())

    def track(self, process: ZygoteProcess) -> None:
        """Report ``process`` killed if the zygote dies before it ends."""
        self._children[process.child_pid] = process
        process.exited.add_done_callback(lambda _: self._children.pop(process.child_pid, None))

    def _readable(self) -> None:
        assert self._sock is not None
        while not self.dead:
            try:
                data, fds, _, _ = socket.recv_fds(self._sock, wire.MAX_RECORD, 1)
            except BlockingIOError:
                return
            except OSError as exc:
                self.die(f"receive failed: {exc}")
                return
            for fd in fds:
                os.close(fd)
            if not data:
                self.die("it exited")
                return
            try:
                self._dispatch(json.loads(data))
            except (ValueError, KeyError, TypeError) as exc:
                self.die(f"bad record: {exc}")
                return

    def _dispatch(self, record: dict[str, Any]) -> None:
        assert self._loop is not None
        op = record["op"]
        if op == "ready":
            self.version = str(record["version"])
            self.cached = frozenset(record["modules"])
            self.ready = True
        elif op == "unsupported":
            self.unsupported = True
            self.die(f"Python {record['version']} is older than the zygote needs: fresh interpreters only")
        elif op == "started":
            pid = int(record["pid"])
            self._offering.discard(pid)  # claimed: a cgroup still being made is not sent
            exited: asyncio.Future[int] = self._loop.create_future()
            self._exits[pid] = exited
            offered = self._spare_cgroups.pop(pid, None)
            cgroup = offered.cgroup if offered is not None and record.get("joined") else None
            if offered is not None and cgroup is None:
                self.release_cgroup(offered.cgroup)
            answer = self._pending.get(int(record["id"]))
            if answer is not None and not answer.done():
                answer.set_result(Started(pid, exited, cgroup))
            elif cgroup is not None:
                self.release_cgroup(cgroup)
        elif op == "spare":
            self._offer_cgroup(int(record["pid"]), list(record["key"]))
        elif op == "failed":
            answer = self._pending.get(int(record["id"]))
            if answer is not None and not answer.done():
                answer.set_exception(OSError(int(record["errno"]), f"zygote: {record['message']}"))
        elif op == "exit":
            self._offering.discard(int(record["pid"]))
            unclaimed = self._spare_cgroups.pop(int(record["pid"]), None)
            if unclaimed is not None:
                self.release_cgroup(unclaimed.cgroup)
            ended = self._exits.pop(int(record["pid"]), None)
            if ended is not None and not ended.done():
                ended.set_result(int(record["returncode"]))
        else:
            raise ValueError(f"unknown record {op!r}")

    def _offer_cgroup(self, spare_pid: int, kind: list[Any]) -> None:
        """Make a cgroup for a new spare and send it a ``join`` (``_zygote_main``).
        Best effort: without it the spare joins the request's cgroup, later.

        The cgroup is made in a worker thread: its mkdirs and writes (half a
        millisecond, more while the kernel's cgroup lock is busy) would
        otherwise hold up the event loop, and with it every start in flight."""
        if self.cgroups is None or self._loop is None or self.dead:
            return
        self._offering.add(spare_pid)
        task = self._loop.create_task(self._send_cgroup(spare_pid, kind, self.cgroups))
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)

    async def _send_cgroup(self, spare_pid: int, kind: list[Any], cgroups: CgroupHost) -> None:
        try:
            name = f"spare-{self.pid}-{spare_pid}"
            cgroup, fds = await asyncio.to_thread(_make_spare_cgroup, cgroups, name)
        except OSError:
            self._offering.discard(spare_pid)
            return
        try:
            if spare_pid not in self._offering or self.dead or self._sock is None:
                self.release_cgroup(cgroup)  # claimed or gone while it was made
                return
            record = json.dumps({"op": "join", "pid": spare_pid}).encode()
            try:
                # Sent at once, not queued: ahead of any later request, or not at all.
                self._sock.sendmsg([record], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, _fd_array(fds))])
            except OSError:
                self.release_cgroup(cgroup)
                return
            self._spare_cgroups[spare_pid] = SpareCgroup(cgroup, kind)
        finally:
            self._offering.discard(spare_pid)
            for fd in fds:
                os.close(fd)

    def release_cgroup(self, cgroup: Cgroup) -> None:
        """Kill what is left in an unused spare cgroup and remove it, in the background."""
        cgroup.kill()
        if self._loop is not None:
            task = self._loop.create_task(remove_cgroup(cgroup))
            _BACKGROUND.add(task)
            task.add_done_callback(_BACKGROUND.discard)

    def die(self, why: str) -> None:
        """Forget the zygote: kill and reap it, fail its pending starts, and
        report its children killed (their death signal has ended them)."""
        if self.dead:
            return
        self.dead = True
        self.ready = False
        level = logging.DEBUG if why == _CLOSED else logging.WARNING
        log.log(level, "zygote for %s (pid %s) is gone: %s", self.interpreter, self.pid, why)
        if self._sock is not None:
            with contextlib.suppress(Exception):
                if self._loop is not None:
                    self._loop.remove_reader(self._sock.fileno())
                    self._loop.remove_writer(self._sock.fileno())
            self._sock.close()
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=1.0)
        for answer in self._pending.values():
            if not answer.done():
                answer.set_exception(ZygoteUnavailable(self.interpreter))
        for child in list(self._children.values()):
            child.kill_tree()
        for exited in self._exits.values():
            if not exited.done():
                exited.set_result(-signal.SIGKILL)
        self._exits.clear()
        for spare in self._spare_cgroups.values():
            self.release_cgroup(spare.cgroup)
        self._spare_cgroups.clear()

    def close(self) -> None:
        """Stop the zygote (and with it the environments it forked)."""
        self.die(_CLOSED)


def _make_spare_cgroup(cgroups: CgroupHost, name: str) -> tuple[Cgroup, tuple[int, ...]]:
    """A spare's cgroup and its opened join files (any thread); nothing left on failure."""
    cgroup = cgroups.create(name, _SPARE_LIMITS)
    try:
        return cgroup, enter.open_cgroup_procs(cgroup.procs_files)
    except OSError:
        cgroup.remove()
        raise


@dataclass(frozen=True, slots=True)
class Started:
    """A zygote's answer to a start."""

    pid: int
    exited: asyncio.Future[int]
    """The child's return code, when the zygote reports its end."""
    cgroup: Cgroup | None = None
    """The cgroup a spare joined ahead of need, now the environment's (else None:
    the child joins the request's own)."""


@dataclass(frozen=True, slots=True)
class SpareCgroup:
    """The cgroup a spare was offered, and the spare's kind (``_zygote_main.spare_key``)."""

    cgroup: Cgroup
    kind: list[Any]


_SPARE_LIMITS = limits_for(128, cpu_limit=False)
"""A waiting spare's limits (AWS's smallest function); a request's replace them first."""
_BACKGROUND: set[asyncio.Task[None]] = set()
"""Spare cgroups being removed (their members may take a moment to die)."""
_CGROUP_CLOSE_TIMEOUT_S = 3.0


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _fd_array(fds: Sequence[int]) -> bytes:
    return array.array("i", fds).tobytes()


class ZygoteSandbox:
    """``inner``'s level, with Python environments forked from zygotes (module docstring)."""

    def __init__(
        self,
        inner: ForkingLevel,
        *,
        bootstrap: Path,
        modules: Sequence[str] = DEFAULT_MODULES,
        prestart: Sequence[str] = (),
    ) -> None:
        """``bootstrap``: the Python bootstrap's host path (argv[1] of the specs to fork).
        ``prestart``: interpreters whose zygotes start with the first ``start`` call."""
        self._inner = inner
        self.level = inner.level
        self._bootstrap = bootstrap
        self._modules = tuple(modules)
        self._zygotes: dict[str, Zygote] = {}
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}
        self._prestart = tuple(prestart)

    @property
    def inner(self) -> ForkingLevel:
        return self._inner

    def inside_paths(self, spec: SandboxSpec) -> tuple[str, str]:
        return self._inner.inside_paths(spec)

    @property
    def network(self) -> NetworkFacts:
        return self._inner.network

    def zygote(self, interpreter: str) -> Zygote | None:
        """The zygote for ``interpreter`` (started if need be); None while it cannot serve."""
        zygote = self._zygotes.get(interpreter)
        if zygote is not None and zygote.dead:
            if zygote.unsupported:
                self._retry_at[interpreter] = float("inf")
            elif zygote.version == "":  # it never got ready: back off
                failures = self._failures.get(interpreter, 0) + 1
                self._failures[interpreter] = failures
                delay = min(_RETRY_MAX_S, _RETRY_FIRST_S * 2 ** (failures - 1))
                self._retry_at[interpreter] = time.monotonic() + delay
            else:
                self._failures.pop(interpreter, None)
            del self._zygotes[interpreter]
            zygote = None
        if zygote is None:
            if time.monotonic() < self._retry_at.get(interpreter, 0.0):
                return None
            # A level with cgroups: each spare joins one of its own ahead of need.
            zygote = Zygote(interpreter, self._bootstrap, self._modules, cgroups=self._inner.cgroups)
            try:
                zygote.spawn()
            except OSError as exc:
                log.warning("cannot start a zygote for %s: %s", interpreter, exc)
                zygote.dead = True
            self._zygotes[interpreter] = zygote
        return zygote if zygote.ready else None

    async def start(self, spec: SandboxSpec) -> SandboxedProcess:
        for interpreter in self._prestart:
            self.zygote(interpreter)
        self._prestart = ()
        spec = self._inner.runnable(spec)
        zygote = self._eligible(spec)
        if zygote is not None:
            try:
                return await self._inner.fork_from(zygote, spec)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("zygote start failed, starting a fresh interpreter: %s", exc)
        return await self._inner.start(spec)

    async def close(self) -> None:
        """Stop every zygote (the server's death ends them too), and remove the
        cgroups their spares were waiting in."""
        for zygote in self._zygotes.values():
            zygote.close()
        self._zygotes.clear()
        if _BACKGROUND:
            await asyncio.wait(set(_BACKGROUND), timeout=_CGROUP_CLOSE_TIMEOUT_S)
        await self._inner.close()

    # -- choosing -----------------------------------------------------------
    def _eligible(self, spec: SandboxSpec) -> Zygote | None:
        if len(spec.argv) != 2 or spec.argv[1] != str(self._bootstrap):
            return None
        if any(name.startswith("PYTHON") for name in spec.env):
            return None
        zygote = self.zygote(spec.argv[0])
        if zygote is None:
            return None
        if shipped_modules(self._code_dirs(spec, zygote.version)) & zygote.cached:
            return None
        return zygote

    def _code_dirs(self, spec: SandboxSpec, version: str) -> list[Path]:
        """Where the function's own modules come before the zygote's: the task
        root, and /opt/python (plus its site-packages) of the merged layers."""
        short = "python" + ".".join(version.split(".")[:2])
        dirs = [spec.task_root]
        for opt in self._inner.python_code_roots(spec):
            dirs += [opt / "python", opt / "python" / "lib" / short / "site-packages"]
        return dirs


async def _abandon(process: ZygoteProcess, zygote: Zygote, spare_cgroup: Cgroup | None) -> None:
    """End a child whose setup failed. The request's cgroup and scratch space
    are the caller's to release; the cgroup a spare brought is released here."""
    os.close(process.output_fd)
    process.kill_tree()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(process.wait(), 5.0)
    close_pidfds(process.pidfds)
    process.pidfds = ()
    if spare_cgroup is not None:
        zygote.release_cgroup(spare_cgroup)


def shipped_modules(directories: Iterable[Path]) -> set[str]:
    """Top-level module and package names these directories provide (any
    directory counts: a namespace portion can merge with a cached package)."""
    names: set[str] = set()
    for directory in directories:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if is_dir:
                names.add(name)
            elif name.endswith(_OPENED_FILE_SUFFIXES):
                names.add(name.partition(".")[0])
    return names
