"""Ending and measuring one environment's process tree, at any level.

Shared by the levels' own processes and the zygote's: the kills (a
namespace-level tree through its pidfds, its PID namespace's init and its
cgroup; a process-level tree through /proc's children lists) and the memory
figures REPORT shows (``MemoryMeter``).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable

from lambdalite.sandbox.cgroups import Cgroup

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
HWM_EVERY = 20
"""Every HWM_EVERY-th sample reads the runtime's VmHWM whatever the cheap figures say
(``MemoryMeter._runtime_peak``): about once a second at the data plane's pace."""


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


def kill_namespace_tree(
    starter_pid: int, runtime_pid: int, init_pid: int, pidfds: tuple[int, ...], cgroup: Cgroup | None
) -> None:
    """SIGKILL a namespace-level environment: its runtime and its PID namespace's
    init (which takes the whole namespace with it), then its cgroup's stragglers.
    Before the runtime is known (``runtime_pid`` 0: the start failed early) the
    ``starter`` (the keeper, our or the zygote's child) is killed instead.
    The starter is otherwise left to reap them and exit with the runtime's
    SIGKILL: killing it too would leave them zombies for the host's init."""
    if runtime_pid:
        kill_processes(pidfds, (runtime_pid, init_pid))
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(starter_pid, signal.SIGKILL)
    if cgroup is not None:
        cgroup.kill()  # init's end took its namespace: this finds any straggler


def kill_descendants(pid: int) -> None:
    """SIGKILL every living descendant of ``pid`` (found through
    /proc/<pid>/task/*/children), stopping them first so none forks meanwhile."""
    stopped: set[int] = set()
    for _ in range(64):
        found = set(descendants(pid)) - stopped
        if not found:
            break
        for child in found:
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGSTOP)
        stopped |= found
    for child in stopped:
        with contextlib.suppress(OSError):
            os.kill(child, signal.SIGKILL)


def descendants(pid: int) -> Iterable[int]:
    """Every living descendant of ``pid``, found through /proc/<pid>/task/*/children."""
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children", "rb") as file:
                    children = [int(child) for child in file.read().split()]
            except (OSError, ValueError):
                continue
            pending.extend(children)
            yield from children


def _vm_hwm(status_fd: int) -> int | None:
    """VmHWM in bytes from an open /proc/PID/status (read from its start: the
    kernel writes the file anew for each read at offset 0)."""
    try:
        status = os.pread(status_fd, 8192, 0)
        start = status.index(b"VmHWM:") + 6
        return int(status[start : status.index(b"kB", start)]) * 1024
    except (OSError, ValueError):
        return None


def _resident(statm_fd: int) -> int | None:
    """Resident bytes now from an open /proc/PID/statm (None once the process is gone)."""
    try:
        return int(os.pread(statm_fd, 256, 0).split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None


def resident_bytes(pid: int) -> int:
    """The process's resident memory now (0 when gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


def proportional_bytes(pid: int) -> int:
    """The process's proportional set size (Pss: each page it shares counted
    as its share), or 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            text = rollup.read()
        start = text.index(b"\nPss:") + 5
        return int(text[start : text.index(b"kB", start)]) * 1024
    except (OSError, ValueError):
        return 0


def tree_resident_bytes(pid: int) -> int:
    """The memory of ``pid`` and all its descendants now: the runtime's resident
    set, or, when it has children, the larger of that and the tree's summed
    proportional set sizes (a forked child's resident set holds the pages it
    shares with its parent: summing those would count them once per child)."""
    own = resident_bytes(pid)
    children = list(descendants(pid))
    if not children:
        return own  # the usual case: no smaps_rollup to read (about 0.2 ms each)
    return max(own, proportional_bytes(pid) + sum(proportional_bytes(child) for child in children))


class MemoryMeter:
    """One environment's memory as its level can measure it, the last figures
    kept once the tree is gone (a stopped environment still reports its peak
    and its OOM kill).

    With a cgroup (namespace level): the cgroup's own peak (memory.peak, or v1's
    memory.max_usage_in_bytes) and OOM kills. Without (process level): the
    process tree's resident memory, as often as it is asked. Either way also the
    runtime's own peak resident memory (VmHWM): a runtime forked from a zygote
    shares most of its pages with it, and its cgroup is charged only the pages
    it copies after joining (1 MB for a hello function), while what AWS reports
    is a function's whole interpreter."""

    __slots__ = ("_cgroup", "_cgroup_peak_fd", "_hwm", "_oom", "_peak", "_released", "_samples", "_status")

    def __init__(self, cgroup: Cgroup | None) -> None:
        self._cgroup = cgroup
        self._peak: int | None = None
        self._oom = False
        self._released = False
        # Both files stay open from the first sample to release(): an environment
        # is sampled many times a second under load, and opening a cgroup file
        # costs ten times what reading it does.
        self._cgroup_peak_fd: int | None = None
        self._status: tuple[int, int, int] | None = None
        """(pid, descriptors of its /proc/PID/status and /proc/PID/statm)."""
        self._hwm: tuple[int, int | None] | None = None
        """(the runtime's VmHWM, the cgroup's peak when it was read)."""
        self._samples = 0

    def sample(self, runtime_pid: int) -> None:
        """Take the figures now (``runtime_pid`` still running: 0 when unknown)."""
        if self._released:
            return
        figures = [self._peak]
        cgroup_peak = None
        if self._cgroup is not None:
            cgroup_peak = self._cgroup_peak()
            figures.append(cgroup_peak)
        if runtime_pid:
            figures.append(self._runtime_peak(runtime_pid, cgroup_peak))
            if self._cgroup is None:
                figures.append(tree_resident_bytes(runtime_pid))
        self._peak = max((figure for figure in figures if figure is not None), default=None)

    def _cgroup_peak(self) -> int | None:
        assert self._cgroup is not None
        if self._cgroup_peak_fd is None:
            path = self._cgroup.peak_memory_path()
            if path is None:
                return None
            try:
                self._cgroup_peak_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return None
        try:
            return int(os.pread(self._cgroup_peak_fd, 64, 0))
        except (OSError, ValueError):
            return None

    def _runtime_peak(self, pid: int, cgroup_peak: int | None) -> int | None:
        """The runtime's VmHWM. /proc/PID/status costs ten times what statm does (the
        kernel formats some fifty fields), so it is read again only when the figure
        may have moved: the runtime's resident memory (statm) is above the last
        VmHWM, or the cgroup's peak moved (the runtime's new pages are charged
        there), or HWM_EVERY samples went by (a spike of pages its cgroup is not
        charged for, come and gone between two samples)."""
        if self._status is None or self._status[0] != pid:
            self._close_status()
            try:
                status = os.open(f"/proc/{pid}/status", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return None
            try:
                statm = os.open(f"/proc/{pid}/statm", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                os.close(status)
                return None
            self._status = (pid, status, statm)
        self._samples += 1
        known = self._hwm
        if known is not None and known[1] == cgroup_peak and self._samples % HWM_EVERY:
            resident = _resident(self._status[2])
            if resident is not None and resident <= known[0]:
                return known[0]
        # A descriptor names its process, not its number: once that process is
        # reaped, reads fail (ESRCH) rather than show another's figures.
        hwm = _vm_hwm(self._status[1])
        self._hwm = None if hwm is None else (hwm, cgroup_peak)
        return hwm

    def _close_status(self) -> None:
        if self._status is not None:
            os.close(self._status[1])
            os.close(self._status[2])
            self._status = None
            self._hwm = None

    def peak_bytes(self, runtime_pid: int) -> int | None:
        """The peak so far (``sample`` first; ``runtime_pid`` 0 once it has ended)."""
        self.sample(runtime_pid)
        return self._peak

    def current_bytes(self, runtime_pid: int) -> int:
        """The tree's resident memory now (0 when gone)."""
        return tree_resident_bytes(runtime_pid) if runtime_pid and not self._released else 0

    def out_of_memory(self) -> bool:
        """The cgroup's own limit killed something in the tree (never without a cgroup)."""
        if self._cgroup is not None and not self._released:
            self._oom = self._oom or self._cgroup.oom_kills() > 0
        return self._oom

    def release(self) -> None:
        """Record the last figures; later questions get them. Idempotent. (The
        caller removes the cgroup.)"""
        if not self._released:
            self.sample(0)
            self.out_of_memory()
            self._released = True
            self._close_status()
            if self._cgroup_peak_fd is not None:
                os.close(self._cgroup_peak_fd)
                self._cgroup_peak_fd = None
