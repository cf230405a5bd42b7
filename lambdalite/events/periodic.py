"""A loop that runs one pass after another on the running event loop: each pass
says how long to sleep before the next, on a ``Clock`` (so tests step it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from lambdalite.clock import Clock

log = logging.getLogger("lambdalite.events")


class Periodic:
    """Runs ``one_pass`` (do what is due; return seconds until the next pass) until
    closed; a pass that raises is logged and the next comes after ``fallback_s``."""

    def __init__(
        self, clock: Clock, one_pass: Callable[[], Awaitable[float]], name: str, fallback_s: float = 1.0
    ) -> None:
        self._clock = clock
        self._pass = one_pass
        self._name = name
        self._fallback = fallback_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                delay = await self._pass()
            except Exception:
                log.exception("%s: a pass failed", self._name)
                delay = self._fallback
            await self._clock.sleep(delay)
