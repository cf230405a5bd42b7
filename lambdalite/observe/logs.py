"""Function logs on disk: one log group per function, log streams inside it.

Layout under ``root`` (``DATA/logs``)::

    root/<encoded group>/<encoded stream>.log

Names are percent-encoded into single path components (``/aws/lambda/hello`` ->
``%2Faws%2Flambda%2Fhello``), so no group or stream name can escape ``root``;
a name whose encoding is too long for a file name is stored under a hash with a
``.name`` sidecar holding the real name.

Each line of a stream file is one event, framed as an orjson array
``[timestamp_ms, ingestion_ms, message]``: a message may contain newlines (a
traceback is one event), and JSON escapes them. A torn last line (a crash in the
middle of a write) is skipped by readers and fenced off by the next writer.

Writes are on the invoke hot path, so ``append`` only notes the events (with
their ingestion time) in a list; ``flush``, which the server calls every ~200
ms and every read calls first, formats them, writes each stream's batch into
its open, buffered handle (an LRU of them) and pushes the buffers to the OS.
Batching makes the per-stream work (finding the handle, the write, the
statistics) once per stream per flush rather than once per invocation, and
takes the formatting off the path that answers the caller. Nothing
fsyncs: a power cut may lose the last fraction of a second of logs, never the
consistency of a file. Logs are kept across restarts and after DeleteFunction,
as AWS keeps them; there is no retention yet.

Thread-safety: ``append`` runs on the event loop; reads may run in a worker
thread. One lock guards the pending events, the handles and the per-stream
statistics; ``append`` holds it for a list append, ``flush`` for the batch.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

import orjson

from lambdalite.observe.filter_pattern import FilterPattern

_SUFFIX = ".log"
_NAME_SIDECAR = ".name"
_MAX_COMPONENT = 200
"""Longest encoded name we use as a file name (most file systems allow 255 bytes)."""
_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_WRITE_BUFFER = 64 * 1024
_MAX_PENDING = 4096
"""Appends held before ``append`` writes them itself: bounds the memory of a store
whose owner flushes rarely (the server flushes every ~200 ms, far below this)."""


class SelfEncoding(Protocol):
    """Events that ``append`` may be given which write their own lines (a warm invocation's:
    ``platform_log.WarmInvocationEvents``): exactly the bytes the store would write."""

    def json_lines(self, ingestion_ms: int) -> tuple[bytes, int, int]:
        """(the lines, the lowest and the highest timestamp of the events)."""
        ...


class LogNotFound(KeyError):
    """A log group or stream does not exist. ``str()`` is AWS's message."""

    message = "The specified resource does not exist."

    def __str__(self) -> str:
        return self.message


class LogGroupNotFound(LogNotFound):
    message = "The specified log group does not exist."


class LogStreamNotFound(LogNotFound):
    message = "The specified log stream does not exist."


@dataclass(frozen=True, slots=True)
class LogEvent:
    timestamp_ms: int
    message: str
    ingestion_ms: int


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """An event as a read across streams returns it. ``index`` is its position in
    its stream file, so (timestamp, stream, index) orders events totally."""

    stream: str
    index: int
    event: LogEvent

    @property
    def cursor(self) -> EventCursor:
        return EventCursor(self.event.timestamp_ms, self.stream, self.index)


@dataclass(frozen=True, slots=True, order=True)
class EventCursor:
    """A position in the time-ordered merge of a group's streams; a page continues
    with the events strictly after it."""

    timestamp_ms: int
    stream: str
    index: int


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[StreamEvent]
    next: EventCursor | None
    """Where the next page starts, or None when this page reached the end."""


@dataclass(frozen=True, slots=True)
class StreamInfo:
    name: str
    creation_ms: int
    first_event_ms: int | None
    last_event_ms: int | None
    last_ingestion_ms: int | None
    stored_bytes: int


@dataclass(frozen=True, slots=True)
class GroupInfo:
    name: str
    creation_ms: int
    stored_bytes: int


@dataclass(slots=True)
class _Stats:
    """What DescribeLogStreams needs, kept up to date as appends are written, without reading files."""

    creation_ms: int
    first_event_ms: int | None = None
    last_event_ms: int | None = None
    last_ingestion_ms: int | None = None
    stored_bytes: int = 0

    def add(self, low: int, high: int, ingestion_ms: int, size: int) -> None:
        """Count events with timestamps from ``low`` to ``high``, the last ingested at
        ``ingestion_ms``, stored in ``size`` bytes."""
        first, last = self.first_event_ms, self.last_event_ms
        self.first_event_ms = low if first is None or low < first else first
        self.last_event_ms = high if last is None or high > last else last
        self.last_ingestion_ms = ingestion_ms
        self.stored_bytes += size

    def info(self, name: str) -> StreamInfo:
        return StreamInfo(
            name,
            self.creation_ms,
            self.first_event_ms,
            self.last_event_ms,
            self.last_ingestion_ms,
            self.stored_bytes,
        )


@dataclass(slots=True)
class _Group:
    path: Path
    loaded: bool = False
    """True once every stream file on disk has its statistics in ``streams``."""
    streams: dict[str, _Stats] = field(default_factory=dict)


def encode_name(name: str) -> str:
    """A single, reversible path component for a group or stream name: every byte
    outside ``[A-Za-z0-9_-]`` becomes ``%XX``, so ``/``, ``.`` and ``..`` cannot
    form a path."""
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in name.encode("utf-8"))


def decode_name(component: str) -> str:
    raw = bytearray()
    i = 0
    while i < len(component):
        if component[i] == "%":
            raw.append(int(component[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.append(ord(component[i]))
            i += 1
    return raw.decode("utf-8")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class LogStore:
    """Log groups and streams under ``root``; see the module docstring for the format."""

    def __init__(self, root: Path, max_open: int = 256) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._max_open = max_open
        self._handles: OrderedDict[tuple[str, str], tuple[BinaryIO, _Stats]] = OrderedDict()
        """Open streams, least recently appended first, each with its statistics."""
        self._groups: dict[str, _Group] = {}
        self._pending: list[tuple[str, str, int, Sequence[tuple[int, str]]]] = []
        """Appends not written yet: (group, stream, ingestion_ms, events), in order."""
        self._lock = threading.Lock()
        self._closed = False

    # ---- writing -----------------------------------------------------------------

    def append(self, group: str, stream: str, events: Sequence[tuple[int, str]]) -> None:
        """Add ``(timestamp_ms, message)`` events (int milliseconds) to a stream, creating the group and
        the stream on first use, ingested now. Deferred: written, and visible to
        readers (which flush first), at the next ``flush()``; ``events`` is kept
        until then, so the caller must not change it afterwards."""
        if not events:
            return
        ingestion_ms = time.time_ns() // 1_000_000  # _now_ms(), without the call: once per invoke
        with self._lock:
            if self._closed:
                raise ValueError("LogStore is closed")
            pending = self._pending
            pending.append((group, stream, ingestion_ms, events))
            if len(pending) >= _MAX_PENDING:
                self._write_pending()

    def prepare(self, group: str, stream: str) -> None:
        """Create the group and the (empty) stream now, so that writing its first
        appends does no file system work: a caller with idle time (an environment
        waiting for its runtime) takes it off the path that follows."""
        with self._lock:
            if self._closed:
                raise ValueError("LogStore is closed")
            self._open(group, stream)

    def flush(self) -> None:
        """Write every appended event and hand them to the OS (no fsync), so reads see them."""
        with self._lock:
            self._write_pending()
            for handle, _ in self._handles.values():
                handle.flush()

    def close(self) -> None:
        """Flush and close every handle. Further appends raise; reads still work."""
        with self._lock:
            self._closed = True
            self._write_pending()
            while self._handles:
                _, (handle, _) = self._handles.popitem()
                handle.close()

    def _write_pending(self) -> None:
        # Called with the lock held: each stream's appends, in order, as one write.
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        batches: dict[tuple[str, str], list[tuple[int, Sequence[tuple[int, str]]]]] = {}
        for group, stream, ingestion_ms, events in pending:
            batch = batches.get((group, stream))
            if batch is None:
                batches[(group, stream)] = [(ingestion_ms, events)]
            else:
                batch.append((ingestion_ms, events))
        dumps = orjson.dumps
        for (group, stream), batch in batches.items():
            # The line orjson would write for [ts, ingestion_ms, message], with orjson
            # encoding only the message: each of its results is dropped at once. (Kept
            # alive, a batch of them cost about five times as much: each result is
            # allocated at orjson's initial buffer size, then shrunk.)
            lines: list[bytes] = []
            line = lines.append
            low = high = None
            for ingestion_ms, events in batch:
                json_lines = getattr(events, "json_lines", None)
                if json_lines is not None:  # events that encode themselves (SelfEncoding)
                    encoded, first, last = json_lines(ingestion_ms)
                    line(encoded)
                else:
                    stamps = []
                    for ts, message in events:
                        line(b"[%d,%d,%b]\n" % (ts, ingestion_ms, dumps(message)))
                        stamps.append(ts)
                    first, last = min(stamps), max(stamps)
                low = first if low is None or first < low else low
                high = last if high is None or last > high else high
            data = b"".join(lines)
            handle, stats = self._open(group, stream)
            handle.write(data)
            assert low is not None and high is not None  # a batch holds one append at least
            stats.add(low, high, batch[-1][0], len(data))

    def _open(self, group: str, stream: str) -> tuple[BinaryIO, _Stats]:
        # Called with the lock held.
        key = (group, stream)
        entry = self._handles.get(key)
        if entry is not None:
            self._handles.move_to_end(key)
            return entry  # the stream's statistics object is never replaced
        info = self._group(group, create=True)
        path = _component_path(info.path, stream, _SUFFIX)
        stats = info.streams.get(stream)
        if stats is None:
            # A stream we have not seen in this process may already have a file
            # (restart): learn its statistics once, before adding to them.
            stats = _scan(path) if path.exists() else _Stats(creation_ms=_now_ms())
            info.streams[stream] = stats
        _write_sidecar(path, stream)
        handle = open(path, "ab", buffering=_WRITE_BUFFER)  # noqa: SIM115 - kept open in the LRU
        if handle.tell() > 0 and not _ends_with_newline(path):
            handle.write(b"\n")  # fence off a torn line left by a crash
        self._handles[key] = (handle, stats)
        if len(self._handles) > self._max_open:
            _, (oldest, _) = self._handles.popitem(last=False)
            oldest.close()  # flushes; the stream reopens on its next append
        return handle, stats

    def _group(self, group: str, create: bool) -> _Group:
        # Called with the lock held.
        info = self._groups.get(group)
        if info is None:
            path = _component_path(self.root, group, "")
            if not path.is_dir():
                if not create:
                    raise LogGroupNotFound(group)
                path.mkdir(parents=True, exist_ok=True)
                _write_sidecar(path, group)
            info = self._groups[group] = _Group(path)
        return info

    # ---- reading -----------------------------------------------------------------

    def groups(self, prefix: str | None = None) -> list[GroupInfo]:
        """Every log group whose name starts with ``prefix``, sorted by name."""
        self.flush()
        result = []
        with self._lock:
            names = [_component_name(path) for path in self.root.iterdir() if path.is_dir()]
            for name in sorted(names):
                if prefix and not name.startswith(prefix):
                    continue
                streams = self._loaded(name).streams.values()
                creation = min((s.creation_ms for s in streams), default=_mtime_ms(self._groups[name].path))
                result.append(GroupInfo(name, creation, sum(s.stored_bytes for s in streams)))
        return result

    def streams(
        self,
        group: str,
        prefix: str | None = None,
        descending: bool = False,
        order_by: str = "LogStreamName",
    ) -> list[StreamInfo]:
        """The group's streams, by name or (``order_by="LastEventTime"``) by last event
        time. Raises LogGroupNotFound."""
        self.flush()
        with self._lock:
            infos = [
                stats.info(name)
                for name, stats in self._loaded(group).streams.items()
                if not prefix or name.startswith(prefix)
            ]
        if order_by == "LastEventTime":
            infos.sort(key=lambda s: (s.last_event_ms or 0, s.name), reverse=descending)
        else:
            infos.sort(key=lambda s: s.name, reverse=descending)
        return infos

    def stream_events(
        self, group: str, stream: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> list[LogEvent]:
        """One stream's events in the order they were appended, ``start_ms <= t < end_ms``.
        Raises LogGroupNotFound or LogStreamNotFound."""
        self.flush()
        with self._lock:
            info = self._loaded(group)
            if stream not in info.streams:
                raise LogStreamNotFound(stream)
            path = _component_path(info.path, stream, _SUFFIX)
        return [event for _, event in _read(path) if _in_range(event.timestamp_ms, start_ms, end_ms)]

    def events(
        self,
        group: str,
        streams: Sequence[str] | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        pattern: str | None = None,
        limit: int = 10_000,
        after: EventCursor | None = None,
        stream_prefix: str | None = None,
    ) -> EventPage:
        """Events of the given streams (all when None; or those named ``stream_prefix*``)
        with ``start_ms <= t < end_ms`` that match the filter ``pattern`` (see
        ``filter_pattern``), ordered by time, then stream, then position; at most ``limit``
        of them, starting after ``after``. Raises LogGroupNotFound, and InvalidFilterPattern
        (a ValueError) for a pattern that cannot be read."""
        matcher = FilterPattern(pattern or "")
        wanted = None if streams is None else set(streams)
        self.flush()
        with self._lock:
            info = self._loaded(group)
            chosen = [
                (name, _component_path(info.path, name, _SUFFIX))
                for name, stats in info.streams.items()
                if (wanted is None or name in wanted)
                and (not stream_prefix or name.startswith(stream_prefix))
                and _overlaps(stats, start_ms, end_ms, after)
            ]
        found: list[StreamEvent] = []
        for name, path in chosen:
            for index, event in _read(path):
                if not _in_range(event.timestamp_ms, start_ms, end_ms):
                    continue
                item = StreamEvent(name, index, event)
                if after is not None and item.cursor <= after:
                    continue
                if matcher.matches(event.message):
                    found.append(item)
        found.sort(key=lambda item: item.cursor)
        page = found[:limit]
        return EventPage(page, page[-1].cursor if len(found) > limit else None)

    def _loaded(self, group: str) -> _Group:
        # Called with the lock held: statistics for every stream file of the group.
        info = self._group(group, create=False)
        if not info.loaded:
            for path in info.path.iterdir():
                if path.name.endswith(_SUFFIX):
                    name = _component_name(path, _SUFFIX)
                    if name not in info.streams:
                        info.streams[name] = _scan(path)
            info.loaded = True
        return info


def _in_range(ts: int, start_ms: int | None, end_ms: int | None) -> bool:
    return (start_ms is None or ts >= start_ms) and (end_ms is None or ts < end_ms)


def _overlaps(stats: _Stats, start_ms: int | None, end_ms: int | None, after: EventCursor | None) -> bool:
    """Whether a stream can hold an event in range: skip files a follow poll cannot use."""
    if stats.first_event_ms is None or stats.last_event_ms is None:
        return False
    low = max(start_ms or 0, after.timestamp_ms if after else 0)
    return stats.last_event_ms >= low and (end_ms is None or stats.first_event_ms < end_ms)


def _read(path: Path) -> Iterator[tuple[int, LogEvent]]:
    """(index, event) for every complete, well-formed line of a stream file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    lines = data.split(b"\n")
    # The part after the last newline is a write in progress (or torn): not an event yet.
    for index, line in enumerate(lines[:-1]):
        event = _parse(line)
        if event is not None:
            yield index, event


def _parse(line: bytes) -> LogEvent | None:
    try:
        ts, ingestion, message = orjson.loads(line)
    except (orjson.JSONDecodeError, ValueError, TypeError):
        return None
    return LogEvent(int(ts), str(message), int(ingestion))


def _scan(path: Path) -> _Stats:
    stats = _Stats(creation_ms=_mtime_ms(path))
    first = True
    for _, event in _read(path):
        if first:
            stats.creation_ms, first = event.ingestion_ms, False
        stats.add(event.timestamp_ms, event.timestamp_ms, event.ingestion_ms, 0)
    stats.stored_bytes = path.stat().st_size
    return stats


def _component_path(parent: Path, name: str, suffix: str) -> Path:
    encoded = encode_name(name)
    if len(encoded) + len(suffix) > _MAX_COMPONENT:
        # '~' never appears in an encoded name, so hashed names cannot collide with them.
        encoded = "~" + hashlib.sha256(name.encode("utf-8")).hexdigest()
    return parent / (encoded + suffix)


def _component_name(path: Path, suffix: str = "") -> str:
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    if stem.startswith("~"):
        sidecar = path / _NAME_SIDECAR if path.is_dir() else path.with_name(path.name + _NAME_SIDECAR)
        return sidecar.read_text("utf-8")
    return decode_name(stem)


def _write_sidecar(path: Path, name: str) -> None:
    if not path.name.startswith("~"):
        return
    sidecar = path / _NAME_SIDECAR if path.is_dir() else path.with_name(path.name + _NAME_SIDECAR)
    if not sidecar.exists():
        sidecar.write_text(name, "utf-8")


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


def _mtime_ms(path: Path) -> int:
    return int(path.stat().st_mtime * 1000)
