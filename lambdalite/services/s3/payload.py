"""A request's payload as S3 reads it: plain, or ``aws-chunked`` (what current SDKs
send: ``<hex size>[;chunk-signature=...]\\r\\n<data>\\r\\n ... 0\\r\\n<trailers>\\r\\n\\r\\n``,
with the checksum in a trailer), decoded as it streams in.

``Payload`` is an async iterable of the decoded bytes; once it is exhausted,
``trailers`` holds the trailing headers (lower-cased names).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterable, AsyncIterator, Mapping

from lambdalite.protocol.errors import ServiceFault

__all__ = ["Payload", "is_aws_chunked"]

_MAX_LINE = 4096
_HEX64 = re.compile(r"[0-9a-f]{64}")


def is_aws_chunked(headers: Mapping[bytes, bytes]) -> bool:
    encoding = headers.get(b"content-encoding", b"")
    sha = headers.get(b"x-amz-content-sha256", b"")
    return b"aws-chunked" in encoding or sha.startswith(b"STREAMING-")


def _incomplete() -> ServiceFault:
    return ServiceFault("IncompleteBody", "The request body terminated unexpectedly", 400)


class Payload:
    """The decoded body of one request (see the module docstring)."""

    def __init__(
        self, source: AsyncIterable[bytes], chunked: bool, declared: str = "", content_sha256: str = ""
    ) -> None:
        self._source = source
        self._chunked = chunked
        self.declared = declared
        """The request's ``x-amz-trailer`` header: the trailers it promises."""
        self.content_sha256 = content_sha256 if _HEX64.fullmatch(content_sha256) else ""
        """The body's SHA-256 as the client signed it (``x-amz-content-sha256``), when it
        is a hash and not ``UNSIGNED-PAYLOAD``/``STREAMING-...``: checked at the end."""
        self.trailers: dict[str, str] = {}

    def __aiter__(self) -> AsyncIterator[bytes]:
        body = self._decoded() if self._chunked else self._plain()
        return self._checked(body) if self.content_sha256 else body

    async def _checked(self, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        digest = hashlib.sha256()
        async for chunk in body:
            digest.update(chunk)
            yield chunk
        if digest.hexdigest() != self.content_sha256:
            raise ServiceFault(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                400,
            )

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
