"""Process-level isolation: the level that needs no privileges.

Each environment runs in its own session and process group (so a timeout or
stop() can kill everything it forked), with a scrubbed environment, a private
scratch directory for /tmp, and AWS's per-environment descriptor limit. The
memory limit is enforced by the data plane watching the process tree, because
RLIMIT_AS would break runtimes that reserve large address spaces (V8, Go).

Namespaces and cgroups are a stronger level that a later layer adds; this
module is the floor every host can run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdalite.sandbox.spec import SandboxSpec, translate_argv

ISOLATION_LEVEL = "process"
MAX_DESCRIPTORS = 1024
"""AWS's per-environment limit on open file descriptors."""


@dataclass(slots=True)
class SandboxedProcess:
    """A started runtime process. ``output_fd`` carries its merged stdout/stderr."""

    process: asyncio.subprocess.Process
    scratch_dir: Path
    output_fd: int
    """Non-blocking read end of the runtime's stdout+stderr pipe; owned by the caller."""

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    @property
    def runtime_api_listener(self) -> None:
        """Always None: this level cannot make a network namespace."""
        return None

    @property
    def sandbox_uid(self) -> None:
        """Always None: the runtime runs as the server's own user at this level."""
        return None

    async def wait(self) -> int:
        return await self.process.wait()

    def peak_memory_bytes(self) -> int | None:
        """Not measured at this level: the data plane reads /proc (VmHWM)."""
        return None

    def out_of_memory(self) -> bool:
        """Never: at this level the data plane's watcher enforces memory."""
        return False

    def kill_tree(self) -> None:
        """SIGKILL the process group: the runtime and everything it forked.
        Harmless when the group is already gone."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    async def stop(self) -> int | None:
        """Kill the whole tree, reap the runtime and remove the scratch directory.
        Calling it twice is harmless. Returns the runtime's return code."""
        self.kill_tree()
        with contextlib.suppress(ProcessLookupError):
            await self.process.wait()
        shutil.rmtree(self.scratch_dir, ignore_errors=True)
        return self.process.returncode


class ProcessSandbox:
    """Starts runtime processes at process level under ``root`` (DATA/sandboxes)."""

    level = ISOLATION_LEVEL

    def __init__(self, root: Path) -> None:
        self._root = root
        shutil.rmtree(root, ignore_errors=True)  # scratch space of a previous run is garbage
        root.mkdir(parents=True, exist_ok=True)

    def inside_paths(self, spec: SandboxSpec) -> tuple[str, str]:
        """The host paths themselves: nothing is moved at this level."""
        return str(spec.task_root), str(spec.runtime_dir)

    async def start(self, spec: SandboxSpec) -> SandboxedProcess:
        """Start argv with exactly ``env`` (plus TMPDIR) in its own process group,
        cwd = the task root. stdout and stderr are merged into one pipe, as on AWS."""
        inside_task, inside_runtime = self.inside_paths(spec)
        return await self._start(
            spec.env_id,
            translate_argv(spec, inside_task, inside_runtime),
            spec.env,
            spec.task_root,
            spec.pass_fds,
        )

    def make_scratch(self, env_id: str) -> Path:
        """Create the environment's private /tmp (its TMPDIR); removing its parent
        directory releases it."""
        scratch = self._root / env_id / "tmp"
        scratch.mkdir(parents=True, mode=0o700)
        return scratch

    async def _start(
        self, env_id: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path, pass_fds: Sequence[int]
    ) -> SandboxedProcess:
        scratch = self.make_scratch(env_id)
        full_env = {**env, "TMPDIR": str(scratch)}
        # Our own pipe rather than asyncio's StreamReader: the data plane must be
        # able to drain it synchronously the moment a response arrives, so that
        # every line written before the response is attributed to its invocation.
        read_fd, write_fd = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=str(cwd),
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=write_fd,
                stderr=write_fd,
                start_new_session=True,
                pass_fds=tuple(pass_fds),
            )
        except BaseException:
            os.close(read_fd)
            shutil.rmtree(scratch.parent, ignore_errors=True)
            raise
        finally:
            os.close(write_fd)
        os.set_blocking(read_fd, False)
        # Set after the fact: a preexec_fn would force the slow fork+exec path
        # on every start, and the runtime does not open descriptors this early.
        with contextlib.suppress(OSError):
            resource.prlimit(process.pid, resource.RLIMIT_NOFILE, (MAX_DESCRIPTORS, MAX_DESCRIPTORS))
        return SandboxedProcess(process, scratch.parent, read_fd)
