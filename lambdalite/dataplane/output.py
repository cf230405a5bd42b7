"""Splitting a runtime's raw stdout/stderr into log events.

AWS turns each line a runtime writes into one log event; a line still without
its newline when an invocation ends is flushed as an event of its own.
"""

from __future__ import annotations

import fcntl
import os
import struct
import termios
import time


class OutputSplitter:
    """Reads a non-blocking pipe and yields complete lines as (timestamp_ms, text)."""

    __slots__ = ("_fd", "_partial")

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._partial = b""

    def read_available(self, *, readable: bool = False) -> tuple[list[tuple[int, str]], bool]:
        """Everything the pipe holds now, split into lines. Returns (events, eof).
        ``readable``: the event loop says the pipe is readable (data, or EOF),
        so it is read at once; otherwise it is asked first whether it holds
        anything, and EOF is not noticed."""
        if not readable:
            try:
                pending = struct.unpack("i", fcntl.ioctl(self._fd, termios.FIONREAD, b"\0\0\0\0"))[0]
            except OSError:
                pending = 1  # let the read below find out what happened
            if not pending:
                # Most invocations print nothing: asking costs a third of a read
                # that fails with EAGAIN. (EOF also shows as 0 here.)
                return [], False
        chunks: list[bytes] = []
        eof = False
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                eof = True
                break
            if not chunk:
                eof = True
                break
            chunks.append(chunk)
        if not chunks:
            return [], eof
        data = self._partial + b"".join(chunks)
        *lines, self._partial = data.split(b"\n")
        now = int(time.time() * 1000)
        return [(now, line.decode("utf-8", "replace")) for line in lines], eof

    def flush_partial(self) -> list[tuple[int, str]]:
        """The unterminated tail, as an event of its own (or nothing)."""
        if not self._partial:
            return []
        text, self._partial = self._partial.decode("utf-8", "replace"), b""
        return [(int(time.time() * 1000), text)]
