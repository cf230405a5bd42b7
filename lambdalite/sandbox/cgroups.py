"""Per-environment cgroups on whichever hierarchy the host has (v2, else v1).

``CgroupHost.detect()`` finds the hierarchy and the controllers once; each
environment then gets ``<our own cgroup>/lambdalite/<env_id>`` (one directory
per v1 controller hierarchy), with AWS's limits: memory = MemorySize and no
swap, 1024 processes, CPU in proportion to memory (1,769 MB = one vCPU).
The sandboxed child joins it itself, before it forks anything, by writing its
pid into every ``procs_files`` entry; so nothing it starts escapes.

Cgroups are nested under the server's own cgroup rather than the root, so
that whatever limits the operator put on lambdalite cover its functions too.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import math
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

PIDS_MAX = 1024
"""AWS's per-environment process limit."""
MB_PER_VCPU = 1769
"""AWS gives one full vCPU at 1,769 MB and CPU in proportion below and above it."""
CPU_PERIOD_US = 100_000
_GROUP = "lambdalite"
_STARTERS = ".starters"
"""Beside the environments' cgroups: where zygotes run (a name no env_id can have)."""
_STALE_AFTER_S = 60.0
_REMOVE_TIMEOUT_S = 2.0
_V1_CONTROLLERS = ("memory", "pids", "cpu")


@dataclass(frozen=True, slots=True)
class CgroupLimits:
    memory_bytes: int
    pids_max: int
    cpu_quota_us: int | None
    """Per CPU_PERIOD_US; None: no cap, only the weight."""
    cpu_weight: int
    """cgroup v2 cpu.weight (1-10000, 100 = default); v1 shares are weight * 1024 / 100."""


def limits_for(memory_mb: int, cpu_limit: bool) -> CgroupLimits:
    vcpus = memory_mb / MB_PER_VCPU
    quota = max(1000, math.ceil(vcpus * CPU_PERIOD_US)) if cpu_limit else None
    if quota is not None and vcpus >= (os.cpu_count() or 1):
        quota = None  # more than the host has: a cap would only cost bookkeeping
    weight = min(10_000, max(1, round(100 * vcpus)))
    return CgroupLimits(memory_mb * 1024 * 1024, PIDS_MAX, quota, weight)


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(path: Path) -> str:
    with open(path, encoding="ascii") as file:
        return file.read()


def _kill_members(directory: Path) -> None:
    """SIGKILL every process listed in the cgroup, and only those: a listed pid
    may belong to another process by the time it is signalled (a member that
    just died, its pid taken again: pid_max can be 32768 and environments fork
    fast). So each is pinned with a pidfd first, and signalled only if that
    process is, at that point, in this cgroup (an environment's name is unique)."""
    try:
        members = _read(directory / "cgroup.procs").split()
    except OSError:
        return
    for member in members:
        try:
            pidfd = os.pidfd_open(int(member))
        except (OSError, ValueError):
            continue  # gone already
        try:
            if _is_member(int(member), directory.name):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        except OSError:
            pass  # it ended meanwhile: nothing to kill
        finally:
            os.close(pidfd)


def _is_member(pid: int, cgroup_name: str) -> bool:
    """Is ``pid`` in a cgroup named ``cgroup_name`` in some hierarchy? (The pid
    is pinned by the caller's pidfd: while that process lives, it is the one.)"""
    with open(f"/proc/{pid}/cgroup", encoding="utf-8") as memberships:
        return any(line.rstrip("\n").endswith("/" + cgroup_name) for line in memberships)


@dataclass(slots=True)
class Cgroup:
    """One environment's cgroup: a directory per hierarchy (one on v2)."""

    version: int
    dirs: tuple[Path, ...]
    memory_dir: Path | None

    @property
    def procs_files(self) -> tuple[bytes, ...]:
        """Files a single-threaded process writes ``0`` (itself) into to join, all of them.

        On v1 that is ``tasks``, not ``cgroup.procs``: moving a whole thread
        group write-locks the kernel's global cgroup_threadgroup_rwsem, which
        waits for an RCU grace period (measured: ~15 ms on an idle 2-core VM,
        unless the hierarchy is mounted with favordynmods), while moving the
        calling thread alone skips that lock (~0.3 ms). Every writer is a
        freshly forked, single-threaded process, so its one thread is all of it.
        v2 has no such file for a domain cgroup."""
        name = "cgroup.procs" if self.version == 2 else "tasks"
        return tuple(bytes(directory / name) for directory in self.dirs)

    def kill(self) -> None:
        """SIGKILL every member. v2 does it atomically (cgroup.kill, Linux 5.14+);
        v1 has no such file, and the PID namespace's init dying takes the rest."""
        for directory in self.dirs:
            if self.version == 2:
                try:
                    _write(directory / "cgroup.kill", "1")
                    continue
                except OSError:
                    pass
            _kill_members(directory)

    def is_empty(self) -> bool:
        for directory in self.dirs:
            with contextlib.suppress(FileNotFoundError):
                if _read(directory / "cgroup.procs").strip():
                    return False
        return True

    def remove(self) -> bool:
        """rmdir every directory; False while members are still dying (EBUSY)."""
        done = True
        for directory in self.dirs:
            try:
                directory.rmdir()
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    raise
                done = False
        return done

    def peak_memory_path(self) -> Path | None:
        """The file that holds the cgroup's peak memory in bytes (None: no memory controller)."""
        if self.memory_dir is None:
            return None
        return self.memory_dir / ("memory.peak" if self.version == 2 else "memory.max_usage_in_bytes")

    def oom_kills(self) -> int:
        """How many processes the cgroup's own memory limit killed."""
        if self.memory_dir is None:
            return 0
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            for line in _read(self.memory_dir / name).splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0


@dataclass(frozen=True, slots=True)
class CgroupHost:
    """The host's cgroup facts, and the parent directories environments go under."""

    version: int | None
    """2, 1, or None when no usable hierarchy was found."""
    reason: str
    controllers: tuple[str, ...]
    parents: tuple[tuple[str, Path], ...] = ()
    """(controller, parent dir); on v2 one entry named "unified"."""

    @classmethod
    def detect(cls) -> CgroupHost:
        """Find a writable hierarchy with the memory and pids controllers; prefer v2.
        Creates the ``lambdalite`` parent cgroup(s); never raises."""
        try:
            mounts = _read(Path("/proc/self/mounts")).splitlines()
            own = _own_cgroups(_read(Path("/proc/self/cgroup")))
        except OSError as exc:
            return cls(None, f"cannot read /proc: {exc}", ())
        v2_reason = "no cgroup2 mount"
        for line in mounts:
            fields = line.split()
            if len(fields) >= 3 and fields[2] == "cgroup2" and "" in own:
                host = _try_v2(Path(fields[1]), own[""])
                if host.version == 2:
                    return host
                v2_reason = host.reason
        v1 = _try_v1(mounts, own)
        if v1.version == 1:
            return v1
        return cls(None, f"v2: {v2_reason}; v1: {v1.reason}", ())

    def create(self, env_id: str, limits: CgroupLimits) -> Cgroup:
        """Make the environment's cgroup with ``limits``; raises OSError (nothing left behind)."""
        if self.version is None:
            raise OSError(errno.ENOTSUP, f"no usable cgroup hierarchy: {self.reason}")
        dirs: list[Path] = []
        memory_dir = None
        try:
            for controller, parent in self.parents:
                directory = parent / env_id
                directory.mkdir()
                dirs.append(directory)
                if self.version == 2 or controller == "memory":
                    memory_dir = directory
            cgroup = Cgroup(self.version, tuple(dirs), memory_dir)
            self.set_limits(cgroup, limits)
        except OSError:
            Cgroup(self.version, tuple(dirs), None).remove()
            raise
        return cgroup

    def starters_join_files(self) -> tuple[bytes, ...]:
        """Files a single-threaded process writes ``0`` into to join the
        starters' cgroup (made if need be): where zygotes run, and with them
        every keeper, init and function process until it joins its own cgroup.
        Beside the environments' cgroups, under the same parent, so that
        starting a hundred environments at once competes for the CPU as one
        group with the server, which must keep serving them, rather than as a
        hundred processes each as heavy as it. Only the CPU hierarchy on v1
        (the others need no such grouping); raises OSError."""
        if self.version is None:
            raise OSError(errno.ENOTSUP, f"no usable cgroup hierarchy: {self.reason}")
        files = []
        for controller, parent in self.parents:
            if self.version == 1 and controller != "cpu":
                continue
            directory = parent / _STARTERS
            directory.mkdir(exist_ok=True)
            files.append(bytes(directory / ("cgroup.procs" if self.version == 2 else "tasks")))
        return tuple(files)

    def set_limits(self, cgroup: Cgroup, limits: CgroupLimits) -> None:
        """Write ``limits`` into a cgroup this host made (raising or lowering them)."""
        for (controller, _), directory in zip(self.parents, cgroup.dirs, strict=True):
            if self.version == 2:
                _apply_v2(directory, limits, self.controllers)
            else:
                _apply_v1(controller, directory, limits)

    def clean_stale(self) -> None:
        """Remove the empty environment cgroups a previous server left behind.
        Never kills: the parent directory is shared by every lambdalite server in
        this cgroup, and a dead server's environments end by themselves (the
        keeper's death signal, then init's lifeline), so only empty ones are
        stale; rmdir refuses a live one (EBUSY). A young one may be another
        server's, created an instant before its runtime joins it: left alone."""
        cutoff = time.time() - _STALE_AFTER_S
        for _, parent in self.parents:
            with contextlib.suppress(OSError):
                for child in parent.iterdir():
                    with contextlib.suppress(OSError):
                        if child.is_dir() and child.stat().st_mtime < cutoff:
                            child.rmdir()


def _own_cgroups(text: str) -> dict[str, str]:
    """controller -> our cgroup path; "" is the v2 (unified) entry."""
    own: dict[str, str] = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            own[controller] = path
    return own


def _try_v2(mount: Path, own: str) -> CgroupHost:
    base = mount / own.lstrip("/")
    try:
        available = _read(base / "cgroup.controllers").split()
    except OSError as exc:
        return CgroupHost(None, f"cannot read {base}/cgroup.controllers: {exc.strerror}", ())
    missing = [c for c in ("memory", "pids") if c not in available]
    if missing:
        return CgroupHost(None, f"controllers {', '.join(missing)} not available in {base}", ())
    wanted = [c for c in ("memory", "pids", "cpu") if c in available]
    parent = base / _GROUP
    try:
        # Fails with EBUSY when our own cgroup holds processes (the no-internal-
        # processes rule) unless it is the root: run lambdalite in a delegated cgroup.
        _write(base / "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))
        parent.mkdir(exist_ok=True)
        _write(parent / "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))
    except OSError as exc:
        return CgroupHost(None, f"cannot enable {', '.join(wanted)} under {base}: {exc.strerror}", ())
    return CgroupHost(2, f"cgroup v2 at {parent}", tuple(wanted), (("unified", parent),))


def _try_v1(mounts: list[str], own: dict[str, str]) -> CgroupHost:
    parents: list[tuple[str, Path]] = []
    for controller in _V1_CONTROLLERS:
        mount = next(
            (
                Path(fields[1])
                for fields in (line.split() for line in mounts)
                if len(fields) >= 4 and fields[2] == "cgroup" and controller in fields[3].split(",")
            ),
            None,
        )
        if mount is None or controller not in own:
            if controller == "cpu":
                continue  # optional: without it only the CPU share is missing
            return CgroupHost(None, f"no v1 {controller} hierarchy", ())
        parent = mount / own[controller].lstrip("/") / _GROUP
        try:
            parent.mkdir(exist_ok=True)
        except OSError as exc:
            return CgroupHost(None, f"cannot create {parent}: {exc.strerror}", ())
        parents.append((controller, parent))
    controllers = tuple(controller for controller, _ in parents)
    where = ", ".join(str(parent) for _, parent in parents)
    return CgroupHost(1, f"cgroup v1 at {where}", controllers, tuple(parents))


def _apply_v2(directory: Path, limits: CgroupLimits, controllers: tuple[str, ...]) -> None:
    _write(directory / "memory.max", str(limits.memory_bytes))
    with contextlib.suppress(FileNotFoundError):  # absent when swap accounting is off
        _write(directory / "memory.swap.max", "0")
    _write(directory / "pids.max", str(limits.pids_max))
    if "cpu" in controllers:
        _write(directory / "cpu.weight", str(limits.cpu_weight))
        if limits.cpu_quota_us is not None:
            _write(directory / "cpu.max", f"{limits.cpu_quota_us} {CPU_PERIOD_US}")


def _apply_v1(controller: str, directory: Path, limits: CgroupLimits) -> None:
    if controller == "memory":
        memory = str(limits.memory_bytes)
        try:
            _write(directory / "memory.limit_in_bytes", memory)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            # Raising it above memory+swap's limit is refused: that one goes first.
            _write(directory / "memory.memsw.limit_in_bytes", memory)
            _write(directory / "memory.limit_in_bytes", memory)
        with contextlib.suppress(FileNotFoundError):  # memsw exists only with swap accounting
            _write(directory / "memory.memsw.limit_in_bytes", memory)
    elif controller == "pids":
        _write(directory / "pids.max", str(limits.pids_max))
    elif controller == "cpu":
        _write(directory / "cpu.shares", str(max(2, limits.cpu_weight * 1024 // 100)))
        if limits.cpu_quota_us is not None:
            _write(directory / "cpu.cfs_period_us", str(CPU_PERIOD_US))
            _write(directory / "cpu.cfs_quota_us", str(limits.cpu_quota_us))


async def remove_cgroup(cgroup: Cgroup) -> None:
    """rmdir the cgroup, retrying while its last members finish dying."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _REMOVE_TIMEOUT_S
    delay = 0.001
    while not cgroup.remove():
        if loop.time() > deadline:
            cgroup.kill()
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
