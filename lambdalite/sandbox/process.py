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

    async def start(
        self, env_id: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path
    ) -> SandboxedProcess:
        """Start argv with exactly ``env`` (plus TMPDIR) in its own process group.
        stdout and stderr are merged into one pipe, as on AWS."""
        scratch = self._root / env_id / "tmp"
        scratch.mkdir(parents=True, mode=0o700)
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
