"""A request body consumed as it arrives, with backpressure."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable


class BodyStreamError(Exception):
    """The client went away before the body ended."""


class BodyStream:
    """``async for chunk in request.stream``: the body's chunks in order, each once.

    Contract with the connection: ``feed`` returns True while the buffer is below
    its bound (False asks the caller to stop reading); ``on_drained`` is called once
    the consumer has taken the buffer back below the bound; ``end`` and ``fail``
    finish the stream. Chunks that arrive after the consumer stopped (``discard``)
    are dropped, so an unread rest of a body costs no memory."""

    __slots__ = ("_chunks", "_discarding", "_ended", "_error", "_limit", "_on_drained", "_size", "_waiter")

    def __init__(self, limit: int, on_drained: Callable[[], None]) -> None:
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._limit = limit
        self._on_drained = on_drained
        self._ended = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._discarding = False

    @property
    def ended(self) -> bool:
        return self._ended

    def feed(self, chunk: bytes) -> bool:
        if self._discarding:
            return True
        self._chunks.append(chunk)
        self._size += len(chunk)
        self._wake()
        return self._size < self._limit

    def end(self) -> None:
        self._ended = True
        self._wake()

    def fail(self, error: BaseException) -> None:
        if not self._ended:
            self._error = error
            self._wake()

    def discard(self) -> None:
        """The consumer is done: drop what is buffered and whatever still comes."""
        if self._discarding:
            return
        self._discarding = True
        self._chunks.clear()
        if self._size >= self._limit:
            self._size = 0
            self._on_drained()
        self._size = 0

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> BodyStream:
        return self

    async def __anext__(self) -> bytes:
        while not self._chunks:
            if self._error is not None:
                raise BodyStreamError("the client closed the connection before the body ended") from (
                    self._error
                )
            if self._ended:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunk = self._chunks.popleft()
        was_full = self._size >= self._limit
        self._size -= len(chunk)
        if was_full and self._size < self._limit:
            self._on_drained()
        return chunk

    async def read(self) -> bytes:
        """The whole rest of the body (for small bodies only)."""
        return b"".join([chunk async for chunk in self])
