"""The bounds every connection of an HTTP server lives within."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Each bound, when passed, gets a clear HTTP answer and the connection is closed
    (an idle connection is closed without one). None turns a timeout off."""

    head_timeout_s: float | None = 10.0
    """A request head must arrive within this long of its first byte (else 408)."""
    idle_timeout_s: float | None = 60.0
    """A keep-alive connection with no request in progress or queued is closed after
    this long. A request parked on a long poll is in progress: not idle."""
    max_head_bytes: int = 64 * 1024
    """A longer request line + headers gets 431."""
    max_header_lines: int = 500
    """More header lines get 431."""
    max_connections: int = 10_000
    """Open connections beyond this are answered 503 and closed."""
    max_unsent_bytes: int = 64 * 1024
    """Stop reading a connection while more of its responses than this are unsent."""
    max_queued_requests: int = 100
    """Stop reading a connection while this many of its requests wait their turn."""
    stream_buffer_bytes: int = 256 * 1024
    """Stop reading a streamed request body while its consumer lags this far behind."""
    max_body: int = 6 * 1024 * 1024
    """A buffered body past this is counted but not kept (the handler answers 413)."""
