"""SnapStart: environments of a published version restored from its snapshot.

``SnapStartSandbox(inner, logs)`` keeps the sandbox protocol. A spec whose
environment says ``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`` (the pool asks
so for a published version with ``SnapStart.ApplyOn: PublishedVersions``) is
restored from its version's ``Snapshot``; every other spec goes to ``inner``.

A ``Snapshot`` is one sandboxed process of the version
(``runtimes/python/snapshot.py``, started by ``inner`` with the first restored
environment's spec): it imports the handler and runs the before-snapshot hooks
once, then forks each restored environment, which runs the after-restore
hooks and serves invocations. Forking after a large init takes milliseconds,
so the snapshot forks spares ahead of need while it is idle and hands their
channels over (``{"op": "spare"}``): a restore goes straight to a spare when
one is there (``restore``), and to the snapshot, which forks, otherwise. A
spare is still a process of its own per environment, which takes its
variables, re-seeds and runs the after-restore hooks only when handed its
restore. A snapshot is made the first time its version
needs an environment (publishing the version starts one: ``pool.prepare``)
and lives until the version or the function is deleted (``forget``) or it dies.

What a restored environment shares, and what it does not: it is a fork of
the snapshot, so it runs in the snapshot's sandbox - the same uid, /tmp,
namespaces and cgroup, whose memory limit is ``SHARED_ENVIRONMENTS`` times the
function's MemorySize; each environment's own memory is held to MemorySize by
the data plane (``memory_limited`` is False), its output, Runtime API and
channel to the platform (passed with its restore, never to the snapshot) are
its own, and it is killed with its process group. A version whose snapshot
cannot be made (an init error, a failing hook, an interpreter older than 3.12)
is served by fresh environments instead, which report the same init error the
usual way; the reason is in the snapshot's log stream.

Network: the snapshot gets the network its spec asks for, and its restored
environments share it. Where environments get a network namespace of their
own (``sandbox.netns``), and for a function without network, the snapshot's
namespace is one such, shared by the version's environments (which already
share its uid and /tmp) and by nothing else: each environment makes its own
Runtime API listener inside it at its restore and hands it over with its
answer, as the level's keeper does for a fresh environment
(``SandboxedProcess.runtime_api_listener``). Elsewhere (process level, or no
network namespaces on this host) they have the host's network, as the
level's fresh environments do.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import os
import signal
import socket
import struct
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from lambdalite.sandbox.spec import CHANNEL_VARIABLE, NetworkFacts, Sandbox, SandboxedProcess, SandboxSpec
from lambdalite.sandbox.tree import MemoryMeter

log = logging.getLogger("lambdalite.snapstart")

SNAP_START = "snap-start"
"""AWS_LAMBDA_INITIALIZATION_TYPE of a restored environment."""
INITIALIZATION_TYPE = "AWS_LAMBDA_INITIALIZATION_TYPE"
SHARED_ENVIRONMENTS = 10
"""How many environments' MemorySize the snapshot's cgroup holds (they share it)."""
PROGRAM = "snapshot.py"
"""Beside the Python bootstrap (``runtimes/python``)."""
FD_VARIABLE = "_LAMBDALITE_SNAPSHOT_FD"
INIT_TIMEOUT_S = 900.0
"""A snapshot's init may take as long as a function may run (AWS allows 15 minutes)."""
RESTORE_TIMEOUT_S = 10.0
MAX_RECORD = 1 << 18
_CREDENTIALS = struct.calcsize("3i")
_ANCILLARY = socket.CMSG_SPACE(_CREDENTIALS) + socket.CMSG_SPACE(struct.calcsize("i"))
"""A record's credentials and one descriptor (a Runtime API listener, a spare's channel)."""


class LogSink(Protocol):
    def append(self, group: str, stream: str, events: list[tuple[int, str]]) -> None: ...


class SnapshotFailed(Exception):
    """The snapshot could not be made; the message says why (logged in its stream)."""


@dataclass(frozen=True, slots=True)
class _Restored:
    """A restored environment's answer."""

    inside_pid: int
    host_pid: int
    """From its credentials (0: none came)."""
    listener: socket.socket | None
    """Its Runtime API listener, when the restore asked it to make one."""


@dataclass(frozen=True, slots=True)
class _SpareChannel:
    """A spare environment (``runtimes/python/snapshot.py``): a restore sent on
    ``channel`` is its own to serve."""

    pid: int
    """As the snapshot sees it (its PID namespace)."""
    channel: socket.socket


@dataclass(eq=False, slots=True)
class RestoredProcess:
    """A restored environment (satisfies spec.SandboxedProcess)."""

    pid: int
    """Host pid (from the credentials it sent)."""
    inside_pid: int
    output_fd: int
    exited: asyncio.Future[int]
    sandbox_uid: int | None
    snapshot_ms: float = 0.0
    """How long this start waited for the snapshot to be made (0: it existed). Not
    part of the restore: the environment's Restore Duration leaves it out."""
    runtime_api_listener: socket.socket | None = None
    _meter: MemoryMeter = field(default_factory=lambda: MemoryMeter(None))

    @property
    def memory_limited(self) -> bool:
        return False  # the snapshot's cgroup is shared: the data plane watches each one

    @property
    def returncode(self) -> int | None:
        if self.exited.done() and not self.exited.cancelled():
            return self.exited.result()
        return None

    async def wait(self) -> int:
        return await asyncio.shield(self.exited)

    def kill_tree(self) -> None:
        if self.returncode is not None:
            return
        self._meter.sample(self.pid)
        # Its own session: the process group is the environment and what it started.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    async def stop(self) -> int | None:
        self.kill_tree()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wait(), RESTORE_TIMEOUT_S)
        self._meter.release()
        return self.returncode

    def peak_memory_bytes(self) -> int | None:
        return self._meter.peak_bytes(self.pid if self.returncode is None else 0)

    def memory_bytes(self) -> int:
        return self._meter.current_bytes(self.pid if self.returncode is None else 0)

    def out_of_memory(self) -> bool:
        return False

    def start_settled(self) -> None:
        pass


@dataclass(eq=False)
class Snapshot:
    """One version's snapshot process, as the server sees it (module docstring)."""

    key: tuple[str, str]
    process: SandboxedProcess
    sock: socket.socket
    log_group: str
    log_stream: str
    logs: LogSink | None
    dead: bool = False
    ready: asyncio.Future[float] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _restoring: dict[int, asyncio.Future[_Restored]] = field(default_factory=dict)
    _children: dict[int, RestoredProcess] = field(default_factory=dict)
    _pending_exits: dict[int, int] = field(default_factory=dict)
    _spares: list[_SpareChannel] = field(default_factory=list)
    """Environments the snapshot forked ahead of need, oldest first (``restore``)."""
    _handed: dict[int, int] = field(default_factory=dict)
    """Pid of a spare that was handed a restore -> that restore's id (until it ends)."""
    _lost_spares: set[int] = field(default_factory=set)
    """Spares found dead when handed a restore, until their exit is reported."""
    _partial: bytes = b""

    @classmethod
    async def create(cls, inner: Sandbox, spec: SandboxSpec, logs: LogSink | None) -> Snapshot:
        """Start the snapshot for ``spec``'s version and wait until it is initialised.
        Raises SnapshotFailed (the process is stopped then)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        # The first environment's channel is its own (spec.py, "Passing descriptors"): its
        # variable names descriptors the snapshot does not get.
        env = {name: value for name, value in spec.env.items() if name != CHANNEL_VARIABLE}
        env[FD_VARIABLE] = str(theirs.fileno())
        snapshot_spec = dataclasses.replace(
            spec,
            env_id=f"snapshot-{spec.env_id}",
            argv=(spec.argv[0], str(Path(spec.argv[1]).with_name(PROGRAM))),
            env=env,
            # Only its socket: an environment's own descriptors come with its restore.
            pass_fds=(theirs.fileno(),),
            memory_mb=spec.memory_mb * SHARED_ENVIRONMENTS,
        )
        try:
            process = await inner.start(snapshot_spec)
        except OSError as exc:
            ours.close()
            raise SnapshotFailed(f"the snapshot could not start: {exc}") from exc
        finally:
            theirs.close()
        version = spec.env.get("AWS_LAMBDA_FUNCTION_VERSION", "")
        stream = datetime.now(UTC).strftime("%Y/%m/%d/") + f"[{version}]snapshot{spec.env_id}"
        key = (spec.env.get("AWS_LAMBDA_FUNCTION_NAME", ""), version)
        snapshot = cls(key, process, ours, spec.env.get("AWS_LAMBDA_LOG_GROUP_NAME", ""), stream, logs)
        # The snapshot's own Runtime API listener would serve nobody: each environment makes its own.
        listener = process.runtime_api_listener
        if listener is not None:
            listener.close()
        snapshot._watch()
        try:
            if listens_inside(spec) and listener is None:
                raise SnapshotFailed(f"the {inner.level} level gave the snapshot no network namespace")
            await asyncio.wait_for(asyncio.shield(snapshot.ready), INIT_TIMEOUT_S)
        except BaseException as exc:
            await snapshot.stop()
            if isinstance(exc, TimeoutError):
                raise SnapshotFailed(f"the snapshot's init timed out after {INIT_TIMEOUT_S:.0f} s") from exc
            raise
        process.start_settled()  # what its level makes ahead for the next start (a namespace) it may make now
        return snapshot

    def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        self.sock.setblocking(False)
        loop.add_reader(self.sock.fileno(), self._readable)
        os.set_blocking(self.process.output_fd, False)
        loop.add_reader(self.process.output_fd, self._output)
        waiter = asyncio.ensure_future(self.process.wait())
        waiter.add_done_callback(lambda _: self._die("the snapshot process exited"))

    def _output(self) -> None:
        """The snapshot's own output (its init's logs) goes to its log stream."""
        try:
            data = os.read(self.process.output_fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.process.output_fd)
            data = b"\n" if self._partial else b""
        text = self._partial + data
        *lines, self._partial = text.split(b"\n")
        if lines and self.logs is not None:
            now = int(time.time() * 1000)
            events = [(now, line.decode("utf-8", "replace")) for line in lines if line.strip(b"\x00")]
            self.logs.append(self.log_group, self.log_stream, events)

    def _readable(self) -> None:
        while not self.dead:
            try:
                data, ancillary, _, _ = self.sock.recvmsg(MAX_RECORD, _ANCILLARY)
            except BlockingIOError:
                return
            except OSError as exc:
                self._die(f"receive failed: {exc}")
                return
            if not data:
                self._die("the snapshot closed its socket")
                return
            host_pid = 0
            fds: list[int] = []
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    host_pid = struct.unpack("3i", value[:_CREDENTIALS])[0]
                elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.extend(array.array("i", value[: len(value) - len(value) % 4]))
            attached = socket.socket(fileno=fds.pop(0)) if fds else None
            for fd in fds:
                os.close(fd)
            try:
                attached = self._dispatch(json.loads(data), host_pid, attached)
            except (ValueError, KeyError, TypeError) as exc:
                self._die(f"bad record: {exc}")
                return
            finally:
                if attached is not None:  # nothing took it
                    attached.close()

    def _dispatch(
        self, record: dict[str, Any], host_pid: int, attached: socket.socket | None
    ) -> socket.socket | None:
        """Act on one record; returns ``attached`` (the socket it came with: a restored
        environment's listener, a spare's channel) unless the record's action kept it."""
        op = record["op"]
        if op == "ready":
            if not self.ready.done():
                self.ready.set_result(float(record["init_ms"]))
        elif op == "failed":
            error = record["error"]
            if not self.ready.done():
                self.ready.set_exception(SnapshotFailed(f"{error['errorType']}: {error['errorMessage']}"))
        elif op == "restored":
            answer = self._restoring.get(int(record["id"]))
            if answer is not None and not answer.done():
                answer.set_result(_Restored(int(record["pid"]), host_pid, attached))
                return None
        elif op == "spare":
            if attached is not None:
                attached.setblocking(False)  # a record always fits: sending never waits
                self._spares.append(_SpareChannel(int(record["pid"]), attached))
                return None
        elif op == "exit":
            pid, returncode = int(record["pid"]), int(record["returncode"])
            spare = next((spare for spare in self._spares if spare.pid == pid), None)
            if spare is not None:  # it ended unclaimed
                self._spares.remove(spare)
                spare.channel.close()
                return attached
            if pid in self._lost_spares:
                self._lost_spares.discard(pid)
                return attached
            child = self._children.pop(pid, None)
            unanswered = self._restoring.get(int(record.get("id", self._handed.pop(pid, -1))))
            if child is None and unanswered is not None and not unanswered.done():
                # It ended before it could answer its restore: that start fails now, not at its timeout.
                unanswered.set_exception(OSError(f"the restored environment ended at once ({returncode})"))
            elif child is None:
                self._pending_exits[pid] = returncode  # ended before its start was answered
            elif not child.exited.done():
                child.exited.set_result(returncode)
        else:
            raise ValueError(f"unknown record {op!r}")
        return attached

    async def restore(self, spec: SandboxSpec, snapshot_ms: float = 0.0) -> RestoredProcess:
        """Restore one environment for ``spec`` (a spare, or a child the snapshot forks
        now): its variables, its own output, its ``pass_fds`` at their numbers and, with
        ``listens_inside(spec)``, its own Runtime API listener in the snapshot's network
        namespace. Raises OSError when the snapshot cannot (dead, or no answer in time)."""
        if self.dead:
            raise OSError(f"the snapshot of {self.key} is gone")
        loop = asyncio.get_running_loop()
        request_id = next(self._ids)
        answer: asyncio.Future[_Restored] = loop.create_future()
        self._restoring[request_id] = answer
        output_read, output_write = os.pipe()
        try:
            listen = listens_inside(spec)
            record = json.dumps(
                {
                    "op": "restore",
                    "id": request_id,
                    "env": dict(spec.env),
                    "listen": listen,
                    "pass_fds": list(spec.pass_fds),
                }
            ).encode()
            try:
                fds = [output_write, *spec.pass_fds]
                if not self._hand_to_spare(request_id, record, fds):
                    socket.send_fds(self.sock, [record], fds)
            except OSError as exc:
                self._die(f"send failed: {exc}")
                raise
            finally:
                os.close(output_write)
            restored = await asyncio.wait_for(answer, RESTORE_TIMEOUT_S)
        except BaseException:
            os.close(output_read)
            raise
        finally:
            self._restoring.pop(request_id, None)
        inside_pid, listener = restored.inside_pid, restored.listener
        if listen and listener is None:
            os.close(output_read)
            raise OSError(f"a restored environment of {self.key} sent no Runtime API listener")
        if listener is not None:
            listener.setblocking(False)
        os.set_blocking(output_read, False)
        process = RestoredProcess(
            pid=restored.host_pid or inside_pid,
            inside_pid=inside_pid,
            output_fd=output_read,
            exited=loop.create_future(),
            sandbox_uid=self.process.sandbox_uid,
            snapshot_ms=snapshot_ms,
            runtime_api_listener=listener,
        )
        ended = self._pending_exits.pop(inside_pid, None)
        if ended is not None:
            process.exited.set_result(ended)
        else:
            self._children[inside_pid] = process
        return process

    def _hand_to_spare(self, request_id: int, record: bytes, fds: list[int]) -> bool:
        """Give the restore straight to a spare, if one is alive, and tell the snapshot
        it is claimed; False when none took it (the snapshot then forks a child for it).
        Raises OSError when the snapshot cannot be told."""
        while self._spares:
            spare = self._spares.pop(0)
            try:
                socket.send_fds(spare.channel, [record], fds)
            except OSError:
                self._lost_spares.add(spare.pid)  # it died unclaimed: its exit is on its way
                continue
            finally:
                spare.channel.close()
            self._handed[spare.pid] = request_id
            self.sock.send(json.dumps({"op": "claimed", "pid": spare.pid}).encode())
            return True
        return False

    def _die(self, why: str) -> None:
        """Forget the snapshot: its environments die with it (their death signal)."""
        if self.dead:
            return
        self.dead = True
        log.debug("snapshot of %s is gone: %s", self.key, why)
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            loop.remove_reader(self.sock.fileno())
        self.sock.close()
        if not self.ready.done():
            self.ready.set_exception(SnapshotFailed(f"the snapshot ended during its init ({why})"))
        for answer in self._restoring.values():
            if not answer.done():
                answer.set_exception(OSError(f"the snapshot of {self.key} is gone"))
        for spare in self._spares:
            spare.channel.close()
        self._spares.clear()
        for child in self._children.values():
            child.kill_tree()
            if not child.exited.done():
                child.exited.set_result(-signal.SIGKILL)
        self._children.clear()

    async def stop(self) -> None:
        self._die("stopped")
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self.process.output_fd)
        await self.process.stop()
        with contextlib.suppress(OSError):
            os.close(self.process.output_fd)


class SnapStartSandbox:
    """``inner``, with SnapStart specs restored from their version's snapshot (module docstring)."""

    def __init__(self, inner: Sandbox, logs: LogSink | None = None) -> None:
        self._inner = inner
        self.level = inner.level
        self._logs = logs
        self._snapshots: dict[tuple[str, str], Snapshot] = {}
        self._making: dict[tuple[str, str], asyncio.Future[Snapshot]] = {}
        self._failed: dict[tuple[str, str], str] = {}
        """Versions whose snapshot failed: served fresh, not tried again until forgotten."""

    @property
    def inner(self) -> Sandbox:
        return self._inner

    def inside_paths(self, spec: SandboxSpec) -> tuple[str, str]:
        return self._inner.inside_paths(spec)

    @property
    def network(self) -> NetworkFacts:
        return self._inner.network

    async def start(self, spec: SandboxSpec) -> SandboxedProcess:
        if spec.env.get(INITIALIZATION_TYPE) != SNAP_START:
            return await self._inner.start(spec)
        key = (spec.env.get("AWS_LAMBDA_FUNCTION_NAME", ""), spec.env.get("AWS_LAMBDA_FUNCTION_VERSION", ""))
        if len(spec.argv) != 2 or Path(spec.argv[1]).name != "bootstrap.py":
            return await self._fresh(spec)
        if key in self._failed:
            return await self._fresh(spec)
        started = time.perf_counter()
        try:
            snapshot, made = await self._snapshot(key, spec)
        except SnapshotFailed as exc:
            self._failed[key] = str(exc)
            log.warning("SnapStart for %s:%s: %s; starting fresh environments", *key, exc)
            return await self._fresh(spec)
        made_ms = (time.perf_counter() - started) * 1000 if made else 0.0
        return await snapshot.restore(spec, made_ms)

    async def _fresh(self, spec: SandboxSpec) -> SandboxedProcess:
        """An environment that is not restored after all: it initialises on demand."""
        return await self._inner.start(
            dataclasses.replace(spec, env={**spec.env, INITIALIZATION_TYPE: "on-demand"})
        )

    async def _snapshot(self, key: tuple[str, str], spec: SandboxSpec) -> tuple[Snapshot, bool]:
        """The version's live snapshot, made now if need be (True: this call waited for it
        to be made, by itself or by another start)."""
        snapshot = self._snapshots.get(key)
        if snapshot is not None and not snapshot.dead:
            return snapshot, False
        making = self._making.get(key)
        if making is not None:
            return await asyncio.shield(making), True
        making = asyncio.ensure_future(Snapshot.create(self._inner, spec, self._logs))
        self._making[key] = making
        try:
            snapshot = await asyncio.shield(making)
        finally:
            self._making.pop(key, None)
        self._snapshots[key] = snapshot
        return snapshot, True

    def forget(self, function_name: str, version: str | None = None) -> None:
        """A version (None: every version of the function) is gone: so are its snapshots."""
        for key in [key for key in (*self._snapshots, *self._failed) if key[0] == function_name]:
            if version is None or key[1] == version:
                self._failed.pop(key, None)
                snapshot = self._snapshots.pop(key, None)
                if snapshot is not None:
                    task = asyncio.ensure_future(snapshot.stop())
                    _BACKGROUND.add(task)
                    task.add_done_callback(_BACKGROUND.discard)

    async def close(self) -> None:
        snapshots, self._snapshots = list(self._snapshots.values()), {}
        await asyncio.gather(*(snapshot.stop() for snapshot in snapshots), return_exceptions=True)
        if _BACKGROUND:
            await asyncio.wait(set(_BACKGROUND), timeout=RESTORE_TIMEOUT_S)
        await self._inner.close()


def listens_inside(spec: SandboxSpec) -> bool:
    """Is ``spec``'s Runtime API served inside its network namespace (no network, or
    one of its own: ``spec`` module docstring), not on the host's loopback?"""
    return not spec.network or spec.own_network


_BACKGROUND: set[asyncio.Task[None]] = set()
