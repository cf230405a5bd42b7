"""How the command line finds a running server without being told its endpoint.

``lambdalite serve`` records where it listens, once it is listening, in two
small files: ``server.json`` in its data directory, and the same in a per-user
runtime directory (``$XDG_RUNTIME_DIR/lambdalite/``, else
``/tmp/lambdalite-<uid>/``, made 0700). Each holds the endpoint, the server's pid
and that process's start time. A clean shutdown removes the files that still
name it; a file left by a killed server is recognised as stale (its pid is gone,
or now belongs to a process that started at another time) and ignored.

The CLI asks ``find`` when neither ``--endpoint`` nor ``LAMBDALITE_ENDPOINT`` is
given: the data directory's record first (``LAMBDALITE_DATA_DIR``, else
``./data``, as ``serve`` defaults), then the per-user one, then the default
endpoint.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

RECORD_NAME = "server.json"


@dataclass(frozen=True, slots=True)
class ServerRecord:
    endpoint: str
    pid: int
    started: str | None
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat``, field 22),
    which tells a live server from a new process that reuses its pid; None where unknown."""

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # exists, owned by someone else
        return self.started is None or self.started == process_start(self.pid)


def process_start(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot, or None if it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces; fields after it are plain.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def runtime_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user directory for the record: under XDG_RUNTIME_DIR when set, else in /tmp."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_RUNTIME_DIR")
    if base:
        return Path(base) / "lambdalite"
    return Path(tempfile.gettempdir()) / f"lambdalite-{os.getuid()}"


def client_endpoint(host: str, port: int) -> str:
    """The URL a local client uses for a server bound to ``host`` (a wildcard address
    is reached through loopback)."""
    if host in {"", "0.0.0.0"}:
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def publish(endpoint: str, data_dir: Path, environ: Mapping[str, str] | None = None) -> list[Path]:
    """Record this process as the server at ``endpoint``; return the files written (a
    place that cannot be written is skipped: finding the server is a convenience)."""
    record = ServerRecord(endpoint, os.getpid(), process_start(os.getpid()))
    data = orjson.dumps({"endpoint": record.endpoint, "pid": record.pid, "started": record.started})
    written = []
    for directory, shared in ((data_dir, False), (runtime_dir(environ), True)):
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if shared and not _private(directory):
                continue
            _write_atomically(directory / RECORD_NAME, data)
        except OSError:
            continue
        written.append(directory / RECORD_NAME)
    return written


def withdraw(paths: Sequence[Path]) -> None:
    """Remove the records in ``paths`` that still name this process (a newer server may
    have replaced the per-user one)."""
    for path in paths:
        record = read(path)
        if record is not None and record.pid == os.getpid():
            with contextlib.suppress(OSError):
                path.unlink()


def read(path: Path) -> ServerRecord | None:
    """The record at ``path``, or None when there is none or it is unreadable."""
    try:
        value = orjson.loads(path.read_bytes())
        endpoint, pid, started = value["endpoint"], value["pid"], value.get("started")
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if not isinstance(endpoint, str) or not isinstance(pid, int) or not isinstance(started, str | None):
        return None
    return ServerRecord(endpoint, pid, started)


def find(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> str | None:
    """The endpoint of a live local server, from the data directory's record, then the
    per-user one; None when neither names a live server."""
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("LAMBDALITE_DATA_DIR") or "data")
    if not data_dir.is_absolute():
        data_dir = (cwd or Path.cwd()) / data_dir
    shared = runtime_dir(env)
    for path in (data_dir / RECORD_NAME, shared / RECORD_NAME):
        if path.parent == shared and not _private(shared):
            continue
        record = read(path)
        if record is not None and record.alive():
            return record.endpoint
    return None


def _private(directory: Path) -> bool:
    """Whether ``directory`` is a real directory of ours that no one else may write: in
    /tmp another user could have made it first, to read or plant a record."""
    try:
        info = directory.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o022


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
