"""Splitting a runtime's raw stdout/stderr into log events.

AWS turns each line a runtime writes into one log event; a line still without
its newline when an invocation ends is flushed as an event of its own.

A runtime's own log records (a traceback, a logger's record) are one event
each however many lines they hold: AWS's runtimes write them framed to a
telemetry descriptor. Ours write them framed into the same pipe (see the
bootstraps' docstrings and ``runtime_env.LOG_FRAMES_VARIABLE``)::

    RECORD_MARK | length (4 bytes, big-endian) | UTF-8 text

A record between the halves of an unfinished printed line leaves that line
whole: the text after the record continues it, as two separate streams would.
"""

from __future__ import annotations

import fcntl
import os
import struct
import termios
import time

RECORD_MARK = b"\x1e\x00LR"
"""Starts a framed record: ASCII record separator and NUL, which text output does not hold."""
_HEADER = len(RECORD_MARK) + 4

Events = list[tuple[int, str]]


class OutputSplitter:
    """Reads a non-blocking pipe and yields complete lines and records as (timestamp_ms, text)."""

    __slots__ = ("_fd", "_partial", "_pending")

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._partial = b""
        """The printed line still without its newline."""
        self._pending = b""
        """Bytes that may start a record or are part of an unfinished one."""

    def read_available(self, *, readable: bool = False) -> tuple[Events, bool]:
        """Everything the pipe holds now, split into events. Returns (events, eof).
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
        return self.split(self._pending + b"".join(chunks)), eof

    def split(self, data: bytes) -> Events:
        """The events in ``data`` (what follows everything split before); keeps
        an unfinished line or record for the next call."""
        events: Events = []
        now = int(time.time() * 1000)
        position = 0
        while True:
            mark = data.find(RECORD_MARK, position)
            if mark < 0:
                keep = _mark_prefix(data, position)
                self._lines(data[position : len(data) - keep], events, now)
                self._pending = data[len(data) - keep :]
                return events
            self._lines(data[position:mark], events, now)
            end = mark + _HEADER
            if end <= len(data):
                end += int.from_bytes(data[mark + len(RECORD_MARK) : end], "big")
            if end > len(data):
                self._pending = data[mark:]
                return events
            events.append((now, _text(data[mark + _HEADER : end])))
            position = end

    def _lines(self, data: bytes, events: Events, now: int) -> None:
        if not data:
            return
        *lines, self._partial = (self._partial + data).split(b"\n")
        events.extend((now, line.decode("utf-8", "replace")) for line in lines)

    def flush_partial(self, *, final: bool = False) -> Events:
        """The unterminated line, as an event of its own (or nothing). ``final``:
        the pipe is at its end, so an unfinished record is shown as far as it came."""
        if not self._partial and not (final and self._pending):
            return []  # almost always, once per invocation: no clock, no list to fill
        now = int(time.time() * 1000)
        events: Events = []
        if final and self._pending:
            pending, self._pending = self._pending, b""
            text = _text(pending[_HEADER:]) if pending.startswith(RECORD_MARK) else _text(pending)
            if text:
                events.append((now, text))
        if self._partial:
            text, self._partial = self._partial.decode("utf-8", "replace"), b""
            events.insert(0, (now, text))
        return events


def _text(payload: bytes) -> str:
    text = payload.decode("utf-8", "replace")
    return text[:-1] if text.endswith("\n") else text


def _mark_prefix(data: bytes, start: int) -> int:
    """How many bytes at the end of ``data[start:]`` could begin a RECORD_MARK."""
    if RECORD_MARK[0] not in data[max(start, len(data) - len(RECORD_MARK) + 1) :]:
        return 0  # almost always: a scan of three bytes
    for size in range(min(len(RECORD_MARK) - 1, len(data) - start), 0, -1):
        if data.endswith(RECORD_MARK[:size]):
            return size
    return 0
