"""A request's payload as S3 reads it: plain, or ``aws-chunked`` (what current SDKs
send: ``<hex size>[;chunk-signature=...]\\r\\n<data>\\r\\n ... 0\\r\\n<trailers>\\r\\n\\r\\n``,
with the checksum in a trailer), decoded as it streams in.

``Payload`` is an async iterable of the decoded bytes; once it is exhausted,
``trailers`` holds the trailing headers (lower-cased names).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping

from lambdalite.protocol.errors import ServiceFault

__all__ = ["Payload", "is_aws_chunked"]

_MAX_LINE = 4096


def is_aws_chunked(headers: Mapping[bytes, bytes]) -> bool:
    encoding = headers.get(b"content-encoding", b"")
    sha = headers.get(b"x-amz-content-sha256", b"")
    return b"aws-chunked" in encoding or sha.startswith(b"STREAMING-")


def _incomplete() -> ServiceFault:
    return ServiceFault("IncompleteBody", "The request body terminated unexpectedly", 400)


class Payload:
    """The decoded body of one request (see the module docstring)."""

    def __init__(self, source: AsyncIterable[bytes], chunked: bool, declared: str = "") -> None:
        self._source = source
        self._chunked = chunked
        self.declared = declared
        """The request's ``x-amz-trailer`` header: the trailers it promises."""
        self.trailers: dict[str, str] = {}

    def __aiter__(self) -> AsyncIterator[bytes]:
        if not self._chunked:
            return self._plain()
        return self._decoded()

    async def _plain(self) -> AsyncIterator[bytes]:
        async for chunk in self._source:
            if chunk:
                yield chunk

    async def _decoded(self) -> AsyncIterator[bytes]:
        buffer = bytearray()
        source = self._source.__aiter__()
        ended = False

        async def more() -> bool:
            nonlocal ended
            if ended:
                return False
            try:
                buffer.extend(await source.__anext__())
            except StopAsyncIteration:
                ended = True
                return False
            return True

        async def line() -> bytes:
            while True:
                at = buffer.find(b"\r\n")
                if at >= 0:
                    text = bytes(buffer[:at])
                    del buffer[: at + 2]
                    return text
                if len(buffer) > _MAX_LINE or not await more():
                    raise _incomplete()

        while True:
            header = await line()
            try:
                size = int(header.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise _incomplete() from exc
            if size == 0:
                break
            remaining = size
            while remaining:
                if not buffer and not await more():
                    raise _incomplete()
                take = min(remaining, len(buffer))
                # Hand over the buffer itself when it is all data (no copy).
                if take == len(buffer):
                    piece = bytes(buffer)
                    buffer.clear()
                else:
                    piece = bytes(buffer[:take])
                    del buffer[:take]
                remaining -= take
                yield piece
            if await line() != b"":
                raise _incomplete()
        while True:
            trailer = await line() if (buffer or not ended) else b""
            if not trailer:
                break
            name, _, value = trailer.decode("latin-1").partition(":")
            self.trailers[name.strip().lower()] = value.strip()
        async for _ in source:
            pass
