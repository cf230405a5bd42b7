"""A sandboxed child's status channel: how a start tells its outcome.

The child (a namespace level's keeper, or a zygote's child) writes one record
to a Unix socket pair and closes it: ``P`` + the runtime's and init's pids and
how many pidfds come along (``enter.PIDS_FORMAT``), then nothing when the exec
succeeded or ``E<errno> <message>`` when a step failed. Descriptors travel with
the record: the pidfds, then (without network) the Runtime API's listener.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from dataclasses import dataclass
from typing import Protocol

from lambdalite.sandbox import enter
from lambdalite.sandbox.spec import SandboxSpec

_MAX_PASSED_FDS = 4


def parse_status(status: bytes) -> tuple[int, int, OSError | None]:
    """(runtime pid or 0, init pid or 0, the failure or None) from the child's status record."""
    runtime_pid, init_pid, _, error = _parse_status(status)
    return runtime_pid, init_pid, error


def _parse_status(status: bytes) -> tuple[int, int, int, OSError | None]:
    runtime_pid = init_pid = pidfds = 0
    size = struct.calcsize(enter.PIDS_FORMAT)
    if status.startswith(b"P") and len(status) >= 1 + size:
        runtime_pid, init_pid, pidfds = struct.unpack(enter.PIDS_FORMAT, status[1 : 1 + size])
        status = status[1 + size :]
    if not status and runtime_pid:
        return runtime_pid, init_pid, pidfds, None
    if status.startswith(b"E"):
        code, _, message = status[1:].decode(errors="replace").partition(" ")
        errno = int(code) if code.isdigit() else 0
        return runtime_pid, init_pid, pidfds, OSError(errno, f"sandbox: {message}")
    return runtime_pid, init_pid, pidfds, OSError(0, "sandbox: the child ended before starting the runtime")


@dataclass(frozen=True, slots=True)
class StatusReport:
    """What a sandboxed child reported on its status channel (``read_status``)."""

    runtime_pid: int
    init_pid: int
    pidfds: tuple[int, ...]
    """pidfds of the runtime and init (or none: an old kernel); the caller closes them."""
    runtime_api_listener: socket.socket | None
    error: OSError | None

    def fill(self, process: Reported) -> OSError | None:
        """Give ``process`` its pids, pidfds and listener; the start's failure, or None."""
        process.runtime_pid, process.init_pid = self.runtime_pid, self.init_pid
        process.pidfds, process.runtime_api_listener = self.pidfds, self.runtime_api_listener
        return self.error


class Reported(Protocol):
    """A namespace-level process, which a status report fills in."""

    runtime_pid: int
    init_pid: int
    pidfds: tuple[int, ...]
    runtime_api_listener: socket.socket | None


def parse_report(spec: SandboxSpec, status: bytes, passed: list[int]) -> StatusReport:
    """The status record and the descriptors that came with it (all now the
    caller's: in the result, or closed). A Runtime API listener that was due
    and did not come is an error."""
    runtime_pid, init_pid, count, error = _parse_status(status)
    pidfds, rest = tuple(passed[:count]), passed[count:]
    listener = None
    if error is not None:
        for fd in rest:
            os.close(fd)
    else:
        try:
            listener = runtime_api_listener(spec, rest)
        except OSError as exc:
            error = exc
    return StatusReport(runtime_pid, init_pid, pidfds, listener, error)


def status_channel() -> tuple[int, int]:
    """(read end, write end) of a child's status channel: a Unix socket pair
    rather than a pipe, so that the keeper's record can carry a descriptor."""
    reader, writer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return reader.detach(), writer.detach()


def runtime_api_listener(spec: SandboxSpec, passed: list[int]) -> socket.socket | None:
    """The listener the keeper sent for a function without network (None with
    network). Raises OSError when one was due and none came; closes the rest."""
    listener = socket.socket(fileno=passed.pop(0)) if passed else None
    for fd in passed:
        os.close(fd)
    if listener is None and not spec.network:
        raise OSError(0, "sandbox: no Runtime API listener came from the network namespace")
    return listener


async def read_status(fd: int) -> tuple[bytes, list[int]]:
    """Everything written to the status channel ``fd`` until its last writer
    closes it, and the descriptors sent along (the caller owns them); closes ``fd``."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    chunks: list[bytes] = []
    passed: list[int] = []
    channel = socket.socket(fileno=fd)
    channel.setblocking(False)

    def readable() -> None:
        try:
            while True:
                chunk, fds, _, _ = socket.recv_fds(channel, 4096, _MAX_PASSED_FDS, socket.MSG_CMSG_CLOEXEC)
                passed.extend(fds)
                if not chunk:
                    break
                chunks.append(chunk)
        except BlockingIOError:
            return
        except OSError as exc:
            if not done.done():
                done.set_exception(exc)
            return
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await done
    except BaseException:
        for passed_fd in passed:
            os.close(passed_fd)
        raise
    finally:
        loop.remove_reader(fd)
        channel.close()
    return b"".join(chunks), passed
