"""Process-level isolation: the level that needs no privileges.

Every environment gets:

- its own session and process group, ``stdin`` from /dev/null and a scrubbed
  environment (exactly ``spec.env`` plus ``TMPDIR``);
- AWS's rlimits: 1024 descriptors, and no single file larger than its
  ephemeral storage (RLIMIT_FSIZE; SIGXFSZ stays ignored, so the write fails
  with EFBIG instead of killing the writer);
- a private scratch directory as its /tmp (``TMPDIR``), whose total size a
  ``ProcessTree`` checks every ``STORAGE_CHECK_S`` seconds: past
  ``spec.ephemeral_storage_mb`` the tree is killed, after one line in the
  function's log saying why (see "Differences from AWS");
- the memory limit enforced by the data plane watching the process tree,
  because RLIMIT_AS would break runtimes that reserve large address spaces
  (V8, Go).

When the server runs as root it also gives each environment a uid and gid of
its own (``UID_BASE`` + a slot), no supplementary groups but the group of its
code directory (``CODE_GID_BASE`` + n, mode 0750) and of its merged layers, and
at most ``MAX_PROCESSES`` processes (RLIMIT_NPROC counts per uid, so this is
exact). The platform's data directory (``spec.hidden_paths``) is closed to
other users except for the path down to what the function needs (0711
directories on the way, 0700/0600 for everything else: database, logs, code
archives). So a function cannot read /etc/shadow, another function's code or
/tmp, the database, or signal or trace the server or another environment, and
``kill_tree`` is exact: a helper with the environment's uid sends SIGKILL to
every process it may signal (``kill(-1)``), which no fork, setsid or double
fork escapes. An interpreter an unprivileged user cannot reach (pyenv under
/root) runs from a read-only bind of its install prefix (``interpreters``);
a start whose interpreter, code or runtime directory still cannot be reached
is refused with an error naming the path: a function never runs as root.

Not root: the function runs as the server's own user. It can then signal or
trace the server and read whatever that user can; ``kill_tree`` kills the
process group and every descendant still below the runtime (a child that
called setsid() included), but a process whose parent exited first (a double
fork) has been reparented away and survives. ``limits()`` lists what each
case does and does not protect; ``lambdalite doctor`` prints it.

Differences from AWS: /tmp is a directory on the host's disk, so a write past
its size cannot fail with ENOSPC. A single file stops at the size with EFBIG
("File too large"); the total is checked periodically, and a function over it
is stopped (the invocation fails with Runtime.ExitError, ``signal: killed``,
and the log says why), possibly after writing past the size for up to one
period. A file that is deleted while still open is not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import os
import random
import resource
import shutil
import signal
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdalite.sandbox.interpreters import MIRROR_ROOT, loader_argv, reachable_interpreter
from lambdalite.sandbox.spec import NetworkFacts, SandboxSpec, translate_argv
from lambdalite.sandbox.tree import MemoryMeter, kill_descendants
from lambdalite.sandbox.zygote import Zygote, ZygoteProcess

ISOLATION_LEVEL = "process"
MAX_DESCRIPTORS = 1024
"""AWS's per-environment limit on open file descriptors."""
MAX_PROCESSES = 1024
"""AWS's per-environment limit on processes and threads (exact only with a uid of its own)."""
NO_NETWORK_ISOLATION = "the host's (not isolated: functions reach its loopback services)"
UID_BASE = 1_900_000_000
"""Environments' uids (and their private gids) when the server is root: above
systemd's container range and below 2**31, where no distribution allocates."""
CODE_GID_BASE = UID_BASE + (1 << 20)
"""Groups that open one code or layers directory to the environments using it."""
SLOTS = 1 << 20
STORAGE_CHECK_S = 0.5
"""How often an environment's /tmp is measured: a write rate of 1 GB/s can pass
the size by at most this many gigabytes before the environment is stopped."""


@dataclass(frozen=True, slots=True)
class ChildPlan:
    """What the child applies before it becomes the runtime, in this order:
    rlimits, then (when ``uid`` is set) groups, gid, uid. The zygote's child
    gets it as ``to_wire()``; the spawn path passes the credentials to
    subprocess and sets the rlimits right after the start."""

    rlimits: tuple[tuple[int, int], ...]
    uid: int | None = None
    gid: int | None = None
    groups: tuple[int, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        return {
            "rlimits": [list(pair) for pair in self.rlimits],
            "uid": self.uid,
            "gid": self.gid,
            "groups": list(self.groups),
        }


class ProcessTree:
    """One environment's resources at this level: its scratch directory, its
    credentials and the processes it starts. Shared by the spawn path and the
    zygote's (``ZygoteProcess`` at process level holds one)."""

    def __init__(
        self, env_dir: Path, plan: ChildPlan, storage_limit_bytes: int, warnings: Sequence[str]
    ) -> None:
        self.env_dir = env_dir
        self.scratch = env_dir / "tmp"
        self.plan = plan
        self.storage_limit_bytes = storage_limit_bytes
        self.warnings = tuple(warnings)
        """Lines for the function's log (written by ``watch`` into the runtime's output)."""
        self.storage_exceeded = False
        self._leader = 0
        self._watcher: asyncio.Task[None] | None = None
        self._released = False

    @property
    def uid(self) -> int | None:
        return self.plan.uid

    def watch(self, leader: int, output_fd: int | None = None) -> None:
        """The runtime ``leader`` (its own process group) started: write the
        warnings into ``output_fd`` (a write end the caller keeps) and start
        checking the scratch directory's size."""
        self._leader = leader
        for line in self.warnings:
            if output_fd is not None:
                with contextlib.suppress(OSError):
                    os.write(output_fd, (line + "\n").encode())
        self._watcher = asyncio.ensure_future(self._watch_storage())

    async def _watch_storage(self) -> None:
        while True:
            await asyncio.sleep(STORAGE_CHECK_S)
            used = disk_usage(self.scratch)
            if used > self.storage_limit_bytes:
                self.storage_exceeded = True
                limit_mb = self.storage_limit_bytes // (1024 * 1024)
                _tell_runtime(
                    self._leader,
                    f"lambdalite: /tmp ({self.scratch}) holds {used / (1024 * 1024):.0f} MB, more than "
                    f"the function's ephemeral storage of {limit_mb} MB: the environment is stopped "
                    "(at process isolation level a write past the size cannot fail with ENOSPC)",
                )
                self.kill()
                return

    def kill(self) -> None:
        """SIGKILL everything the environment started (module docstring); harmless when gone."""
        if self._leader:
            kill_descendants(self._leader)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._leader, signal.SIGKILL)
        if self.plan.uid is not None:
            kill_uid(self.plan.uid)

    async def release(self) -> None:
        """Stop watching and remove the scratch directory (after ``kill``). Idempotent."""
        if self._watcher is not None and self._watcher is not asyncio.current_task():
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if not self._released:
            self._released = True
            shutil.rmtree(self.env_dir, ignore_errors=True)


@dataclass(slots=True)
class SpawnedProcess:
    """A runtime this level started by exec (satisfies spec.SandboxedProcess).
    ``output_fd`` carries its merged stdout/stderr."""

    process: asyncio.subprocess.Process
    tree: ProcessTree
    output_fd: int
    """Non-blocking read end of the runtime's stdout+stderr pipe; owned by the caller."""
    _stopped: bool = field(default=False, repr=False)
    _memory: MemoryMeter = field(default_factory=lambda: MemoryMeter(None), repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def scratch_dir(self) -> Path:
        return self.tree.env_dir

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    @property
    def runtime_api_listener(self) -> None:
        """Always None: this level cannot make a network namespace."""
        return None

    @property
    def sandbox_uid(self) -> int | None:
        """The environment's own uid (root), or None: the server's own user."""
        return self.tree.plan.uid

    @property
    def memory_limited(self) -> bool:
        """Never: the data plane's watcher enforces memory at this level."""
        return False

    async def wait(self) -> int:
        return await self.process.wait()

    def peak_memory_bytes(self) -> int | None:
        """The larger of the runtime's peak resident memory and the tree's resident memory seen."""
        return self._memory.peak_bytes(self.pid if self.returncode is None else 0)

    def memory_bytes(self) -> int:
        return self._memory.current_bytes(self.pid if self.returncode is None else 0)

    def out_of_memory(self) -> bool:
        """Never: at this level the data plane's watcher enforces memory."""
        return False

    def start_settled(self) -> None:
        """Nothing to do: the spawn path has no background work."""

    def kill_tree(self) -> None:
        """SIGKILL the runtime and everything it started (``ProcessTree.kill``),
        its memory figures taken first."""
        if not self._stopped:
            if self.returncode is None:
                self._memory.sample(self.pid)
            self.tree.kill()

    async def stop(self) -> int | None:
        """Kill the whole tree, reap the runtime and remove the scratch directory.
        Calling it twice is harmless. Returns the runtime's return code."""
        self.kill_tree()
        with contextlib.suppress(ProcessLookupError):
            await self.process.wait()
        self._stopped = True
        self._memory.release()
        await self.tree.release()
        return self.process.returncode


class ProcessSandbox:
    """Starts runtime processes at process level under ``root`` (DATA/sandboxes)."""

    level = ISOLATION_LEVEL

    def __init__(self, root: Path, *, drop_privileges: bool | None = None) -> None:
        """``drop_privileges``: give environments uids of their own (module
        docstring); by default exactly when the server runs as root."""
        self._root = root
        self.drop_privileges = os.geteuid() == 0 if drop_privileges is None else drop_privileges
        shutil.rmtree(root, ignore_errors=True)  # scratch space of a previous run is garbage
        root.mkdir(parents=True, exist_ok=True)
        # A random start: uids a crashed earlier run left processes under are unlikely to recur.
        self._next_slot = random.randrange(SLOTS)
        self._next_group = random.randrange(SLOTS)
        self._groups: dict[Path, int] = {}
        self._ways: set[Path] = set()
        """Directories above what functions need in the hidden paths (0711)."""
        self._leaves: set[Path] = set()
        self._code_parents: set[Path] = set()
        self._scanned: dict[Path, int] = {}
        self._runtime_dirs: dict[Path, Path] = {}
        """A runtime directory -> the one environments use (``inside_paths``)."""
        self._reachable: dict[Path, bool] = {}
        self._programs: dict[str, str] = {}
        """A program -> the path environments run it from (``runnable``)."""

    def inside_paths(self, spec: SandboxSpec) -> tuple[str, str]:
        """The host paths themselves, except a runtime directory that others
        cannot reach (lambdalite installed under a private home, or in a
        ``mktemp -d``): environments with uids of their own use a copy of it."""
        return str(spec.task_root), str(self._reachable_runtime_dir(spec.runtime_dir))

    def _reachable_runtime_dir(self, runtime_dir: Path) -> Path:
        """``runtime_dir``, or (once per directory) a copy that others may read
        under the sandbox root, which stays reachable (``_close_hidden``)."""
        if not self.drop_privileges:
            return runtime_dir
        reachable = self._runtime_dirs.get(runtime_dir)
        if reachable is None:
            reachable = runtime_dir
            if not _reachable_by_others(runtime_dir):
                # Not an env_id ([A-Za-z0-9_-]): a dot keeps them apart.
                reachable = self._root / f".runtime-{len(self._runtime_dirs)}"
                shutil.copytree(runtime_dir, reachable, ignore=shutil.ignore_patterns("__pycache__"))
                _open_to_others(reachable)
            self._runtime_dirs[runtime_dir] = reachable
        return reachable

    @property
    def network(self) -> NetworkFacts:
        """Not isolated: environments share the host's network."""
        return NetworkFacts(False, None, NO_NETWORK_ISOLATION)

    def runnable(self, spec: SandboxSpec) -> SandboxSpec:
        """``spec`` with an interpreter that environments' own uids cannot reach
        replaced by its mirrored path (``interpreters``), once per program."""
        if not self.drop_privileges:
            return spec
        program = spec.argv[0]
        mapped = self._programs.get(program)
        if mapped is None:
            mapped = program
            resolved = program if "/" in program else shutil.which(program, path=spec.env.get("PATH"))
            if resolved and not _reachable_by_others(Path(os.path.realpath(resolved))):
                mapped = reachable_interpreter(resolved) or program
            self._programs[program] = mapped
        return spec if mapped == program else dataclasses.replace(spec, argv=(mapped, *spec.argv[1:]))

    async def start(self, spec: SandboxSpec) -> SpawnedProcess:
        """Start argv with exactly ``env`` (plus TMPDIR) in its own process group,
        cwd = the task root. stdout and stderr are merged into one pipe, as on AWS."""
        spec = self.runnable(spec)
        inside_task, inside_runtime = self.inside_paths(spec)
        argv = translate_argv(spec, inside_task, inside_runtime)
        tree = self.prepare(spec, spawned=True)
        plan = tree.plan
        if plan.uid is not None:
            # Credentials and rlimits are applied by setpriv(1) and prlimit(1) in the
            # process itself before they exec the runtime: uvloop's spawn takes no
            # user/group, and without CAP_SYS_RESOURCE (containers often drop it)
            # root may not set another uid's limits from outside.
            _check_executable(argv[0], spec.env.get("PATH"))
            argv = (*_drop_argv(plan), *loader_argv(argv[0]), *argv)
        # Our own pipe rather than asyncio's StreamReader: the data plane must be
        # able to drain it synchronously the moment a response arrives, so that
        # every line written before the response is attributed to its invocation.
        read_fd, write_fd = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=str(spec.task_root),
                env={**spec.env, "TMPDIR": str(tree.scratch)},
                stdin=subprocess.DEVNULL,
                stdout=write_fd,
                stderr=write_fd,
                start_new_session=True,
                pass_fds=tuple(spec.pass_fds),
                # Keeps SIGXFSZ (and SIGPIPE) ignored where the loop honours it (asyncio's;
                # uvloop resets every disposition): a write past RLIMIT_FSIZE then fails
                # with EFBIG. Python ignores SIGXFSZ itself either way.
                restore_signals=False,
            )
            # Set after the fact: a preexec_fn is not safe in a threaded server. The
            # runtime has not started its own code (let alone forked) by now.
            for limit, value in plan.rlimits if plan.uid is None else ():
                with contextlib.suppress(OSError):
                    resource.prlimit(process.pid, limit, (value, value))
            tree.watch(process.pid, write_fd)
        except BaseException:
            os.close(read_fd)
            await tree.release()
            raise
        finally:
            os.close(write_fd)
        os.set_blocking(read_fd, False)
        return SpawnedProcess(process, tree, read_fd)

    # -- as a zygote's level (``zygote.ForkingLevel``) --------------------------
    @property
    def cgroups(self) -> None:
        """None: this level has no cgroups."""
        return None

    def python_code_roots(self, spec: SandboxSpec) -> tuple[Path, ...]:
        """The merged layers, and the host's /opt, whose ``python`` the bootstrap
        puts on sys.path at this level."""
        return (*spec.layers, Path("/opt"))

    async def fork_from(self, zygote: Zygote, spec: SandboxSpec) -> ZygoteProcess:
        """Start ``spec`` as ``zygote``'s child with this level's isolation (its
        own session, rlimits, credentials, a private TMPDIR, exactly ``spec.env``)."""
        task, runtime = self.inside_paths(spec)
        argv = translate_argv(spec, task, runtime)
        tree = self.prepare(spec)
        request = {
            "level": ISOLATION_LEVEL,
            "env": {**spec.env, "TMPDIR": str(tree.scratch)},
            "argv1": argv[1],
            "cwd": str(spec.task_root),
            "pass_fds": list(spec.pass_fds),
            "plan": tree.plan.to_wire(),
        }

        def check(process: ZygoteProcess, status: bytes, passed: list[int]) -> OSError | None:
            for fd in passed:
                os.close(fd)
            process.runtime_pid = process.child_pid
            process.sandbox_uid = tree.plan.uid
            return _forked_error(status)

        try:
            return await zygote.start_child(request, (), spec, check, lifeline=False, tree=tree)
        except BaseException:
            await tree.release()
            raise

    async def close(self) -> None:
        """Nothing to release: each environment's scratch space goes with it."""

    def prepare(self, spec: SandboxSpec, *, spawned: bool = False) -> ProcessTree:
        """The environment's scratch directory, credentials and limits; the
        caller starts the process (``spawned``: by exec, which needs prlimit(1)
        to drop privileges) and calls ``tree.watch``. Raises OSError."""
        env_dir = self._root / spec.env_id
        scratch = env_dir / "tmp"
        scratch.mkdir(parents=True, mode=0o700)
        try:
            storage = spec.ephemeral_storage_mb * 1024 * 1024
            # Never above the server's own hard limit: an unprivileged uid may not raise it.
            descriptors = min(MAX_DESCRIPTORS, _hard_limit(resource.RLIMIT_NOFILE))
            rlimits = [(resource.RLIMIT_NOFILE, descriptors), (resource.RLIMIT_FSIZE, storage)]
            warnings: list[str] = []
            if not self.drop_privileges:
                return ProcessTree(env_dir, ChildPlan(tuple(rlimits)), storage, warnings)
            unreachable = self._unreachable(spec)
            for tool in (_SETPRIV, _PRLIMIT) if spawned and unreachable is None else ():
                if not os.access(tool, os.X_OK):
                    unreachable = f"{tool} (util-linux) is missing, and"
            if unreachable is not None:
                # Never the server's own (root) uid instead: refused, naming the path.
                raise PermissionError(errno.EACCES, unreachable_message(unreachable))
            uid = UID_BASE + self._next_slot
            self._next_slot = (self._next_slot + 1) % SLOTS
            self._close_hidden(spec)
            groups = tuple(self._code_group(path) for path in dict.fromkeys((spec.task_root, *spec.layers)))
            os.chmod(env_dir, 0o711)
            os.chown(scratch, uid, uid)
            rlimits.append((resource.RLIMIT_NPROC, MAX_PROCESSES))
            return ProcessTree(env_dir, ChildPlan(tuple(rlimits), uid, uid, groups), storage, warnings)
        except BaseException:
            shutil.rmtree(env_dir, ignore_errors=True)
            raise

    # -- privileges (root only) ---------------------------------------------
    def _unreachable(self, spec: SandboxSpec) -> str | None:
        """The first path the environment needs that "others" cannot reach."""
        program = spec.argv[0]
        if "/" not in program:
            program = shutil.which(program, path=spec.env.get("PATH")) or program
        runtime_dir = Path(self.inside_paths(spec)[1])
        candidates = [Path(os.path.realpath(program)), runtime_dir, self._root]
        for path in candidates:
            cached = self._reachable.get(path)
            if cached is None:
                cached = self._reachable[path] = _reachable_by_others(path)
            if not cached:
                return str(path)
        # The code and layers get a group of their own; only the way there must be open.
        for path in (spec.task_root, *spec.layers):
            if not any(path.is_relative_to(hidden) for hidden in spec.hidden_paths):
                if not _reachable_by_others(path):
                    return str(path)
            elif not _reachable_by_others(spec.hidden_paths[0].parent):
                return str(spec.hidden_paths[0])
        return None

    def _code_group(self, path: Path) -> int:
        """The group that opens ``path`` (a code or layers directory) to its environments."""
        gid = self._groups.get(path)
        if gid is None:
            gid = self._groups[path] = CODE_GID_BASE + self._next_group
            self._next_group = (self._next_group + 1) % SLOTS
        # Every time: another run (or another level) may have changed it since.
        os.chown(path, -1, gid)
        os.chmod(path, 0o750)
        return gid

    def _close_hidden(self, spec: SandboxSpec) -> None:
        """Close the hidden directories to other users, except for the way down
        to what this spec (or an earlier one) needs (module docstring)."""
        code = [p for p in (spec.task_root, *spec.layers) if p.is_absolute()]
        for hidden in spec.hidden_paths:
            for leaf in (*code, self._root):
                if leaf.is_relative_to(hidden) and leaf != hidden:
                    self._ways.update(p for p in leaf.parents if p.is_relative_to(hidden))
                    self._leaves.add(leaf)
            self._code_parents.update(p.parent for p in code if p.is_relative_to(hidden))
        for way in sorted(self._ways):
            # Rescanned only when an entry was added or removed (its mtime changed).
            try:
                mtime = os.stat(way).st_mtime_ns
            except OSError:
                continue
            if self._scanned.get(way) != mtime:
                _close_directory(way, self._ways | self._leaves, code=way in self._code_parents)
                self._scanned[way] = mtime
        with contextlib.suppress(OSError):
            os.chmod(self._root, 0o711)


def _close_directory(directory: Path, needed: set[Path], *, code: bool) -> None:
    """``directory`` 0711 (searchable, not listable); everything in it that is
    not ``needed`` loses its other bits, and its group bits too unless ``code``
    (other functions' code: their own groups open them, see ``_code_group``)."""
    with contextlib.suppress(OSError):
        os.chmod(directory, 0o711)
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    keep = 0o770 if code else 0o700
    for entry in entries:
        if Path(entry.path) in needed:
            continue
        with contextlib.suppress(OSError):
            mode = entry.stat(follow_symlinks=False).st_mode
            if (stat.S_ISDIR(mode) or stat.S_ISREG(mode)) and mode & ~keep & 0o777:
                os.chmod(entry.path, mode & keep)


_PRLIMIT = "/usr/bin/prlimit"
_SETPRIV = "/usr/bin/setpriv"
_RLIMIT_NAMES = {
    resource.RLIMIT_NOFILE: "nofile",
    resource.RLIMIT_FSIZE: "fsize",
    resource.RLIMIT_NPROC: "nproc",
}


def _drop_argv(plan: ChildPlan) -> tuple[str, ...]:
    """The argv prefix that applies ``plan`` and then execs the rest."""
    groups = ("--groups", ",".join(map(str, plan.groups))) if plan.groups else ("--clear-groups",)
    limits = (f"--{_RLIMIT_NAMES[limit]}={value}:{value}" for limit, value in plan.rlimits)
    return (
        _SETPRIV,
        f"--reuid={plan.uid}",
        f"--regid={plan.gid}",
        *groups,
        "--no-new-privs",
        "--",
        _PRLIMIT,
        *limits,
        "--",
    )


def _forked_error(status: bytes) -> OSError | None:
    """The failure a zygote's child reported on its status channel, or None."""
    if not status:
        return None
    if status.startswith(b"E"):
        code, _, message = status[1:].decode(errors="replace").partition(" ")
        return OSError(int(code) if code.isdigit() else 0, f"sandbox: {message}")
    return OSError(0, "sandbox: unexpected status from the zygote's child")


def _check_executable(program: str, path: str | None) -> None:
    """Raise OSError as exec would for a missing or non-executable ``program``
    (prlimit(1) would only exit with an error)."""
    found = shutil.which(program, path=path) if "/" not in program else program
    if found is None or not os.path.exists(found):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
    mode = os.stat(found).st_mode
    if stat.S_ISDIR(mode) or not mode & stat.S_IXOTH:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)


def _open_to_others(tree: Path) -> None:
    """Directories 0755 and files readable by all (executable ones stay so)."""
    tree.chmod(0o755)
    for directory, subdirectories, files in os.walk(tree):
        for name in subdirectories:
            os.chmod(os.path.join(directory, name), 0o755)
        for name in files:
            path = os.path.join(directory, name)
            os.chmod(path, os.stat(path).st_mode | 0o444)


def _reachable_by_others(path: Path) -> bool:
    """Every directory above ``path`` is searchable by others, and ``path``
    itself readable (and searchable or executable) by them."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    if not (mode & stat.S_IROTH and mode & stat.S_IXOTH):
        return False
    for parent in Path(os.path.realpath(path)).parents:
        try:
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def kill_uid(uid: int) -> None:
    """SIGKILL every process running as ``uid`` (root only). A forked helper
    takes the uid and calls kill(-1): the kernel signals every process it may
    in one pass under the task list lock, so no fork escapes it."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only makes two system calls
        try:
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            with contextlib.suppress(OSError):
                os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _tell_runtime(pid: int, line: str) -> None:
    """Write ``line`` into the runtime's stdout (the function's log), if it can
    be done without blocking; the runtime may have closed or redirected it."""
    if not pid:
        return
    try:
        fd = os.open(f"/proc/{pid}/fd/1", os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, (line + "\n").encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def disk_usage(path: Path) -> int:
    """Bytes allocated by the files under ``path`` (each inode once; symlinks not followed)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    pending = [str(path)]
    while pending:
        try:
            entries = os.scandir(pending.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if info.st_nlink > 1:
                    key = (info.st_dev, info.st_ino)
                    if key in seen:
                        continue
                    seen.add(key)
                total += info.st_blocks * 512
                if stat.S_ISDIR(info.st_mode):
                    pending.append(entry.path)
    return total


def _hard_limit(limit: int) -> int:
    hard = resource.getrlimit(limit)[1]
    return hard if hard != resource.RLIM_INFINITY else 1 << 62


def unreachable_message(path: str) -> str:
    """The start error of a function whose ``path`` no unprivileged uid can reach."""
    return (
        f"lambdalite: {path} is not reachable by an unprivileged user, and the process level "
        "never runs a function as root: make the path readable by others, or use the namespace level"
    )


def limits(*, root: bool) -> list[str]:
    """What the process level protects against, and what not, as ``doctor`` prints it."""
    common = [
        "process level protects: own session and process group, 1024 descriptors, a private /tmp "
        "(TMPDIR) whose size is checked every 0.5 s (files past EphemeralStorage fail with EFBIG, "
        "a total past it stops the environment), memory watched per process, a scrubbed environment",
    ]
    if root:
        return [
            *common,
            "process level as root: each environment has its own uid, 1024 processes, and no access "
            "to /etc/shadow, the data directory, other functions' code and /tmp; it cannot signal "
            "or trace the server or other environments, nor use the API or another Runtime API; "
            "a timeout kills every process of its uid",
            "process level runs no function as root: an interpreter below an owner-only directory "
            f"(pyenv under /root) runs from a read-only bind of its prefix under {MIRROR_ROOT}; a "
            "function whose interpreter or code still cannot be reached is refused",
            "process level does not protect: the host's file system outside these is visible read-only "
            "as to any user; the network cannot be isolated: functions share the host's network and "
            "reach its loopback services (no LAMBDALITE_NETWORK=none, no opened-ports model)",
        ]
    return [
        *common,
        "process level not as root: functions run as the server's user (uid "
        f"{os.geteuid()}): they can read and write what it can (the data directory included), signal "
        "or trace the server, use the API, and a process they orphan (double fork) survives a timeout; "
        "no process limit; the network cannot be isolated: functions share the host's network and "
        "reach its loopback services; run as root or use the namespace level to close these",
    ]
