"""Function states, applied after the answer as AWS applies them.

CreateFunction answers ``State: Pending`` and an update answers
``LastUpdateStatus: InProgress`` (``control.registry`` writes those snapshots);
this settler then prepares what an execution environment needs - the code
unpacked where environments find it, the layers merged - and only then tells
the registry to settle the snapshot: ``Active``/``Successful`` under a new
revision id, or ``Failed`` with the reason when preparing failed. boto3's
``function_active_v2`` and ``function_updated_v2`` waiters watch exactly this.

It hears the registry's ``LatestChanged`` and ``VersionPublished`` events on
the bus, and on start-up takes up the snapshots a previous run left unsettled.
``settle_s`` is the least time a snapshot stays Pending/InProgress (AWS takes
about a second; 0, the default, settles as soon as the code is prepared).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from lambdalite.control.bus import EventBus
from lambdalite.control.changes import LatestChanged, VersionPublished
from lambdalite.control.registry import FunctionRegistry
from lambdalite.models import FunctionConfig

log = logging.getLogger("lambdalite.states")

FAILURE_CODE = "InternalError"
"""The StateReasonCode of a function whose code could not be prepared."""

Prepare = Callable[[FunctionConfig], Awaitable[object]]
Sleep = Callable[[float], Awaitable[None]]


class StateSettler:
    """Settles every Pending or InProgress snapshot once its code is prepared.

    Built inside the server's event loop it takes up, at once, what the store
    holds unsettled; built outside one (unit tests of other parts) it does so
    when ``resume()`` is called."""

    def __init__(
        self,
        registry: FunctionRegistry,
        bus: EventBus,
        prepare: Prepare,
        settle_s: float = 0.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._registry = registry
        self._prepare = prepare
        self._settle_s = settle_s
        self._sleep = sleep
        self._tasks: set[asyncio.Task[None]] = set()
        bus.subscribe(LatestChanged, lambda event: self._later(event.config))
        bus.subscribe(VersionPublished, lambda event: self._later(event.config))
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self.resume()

    def resume(self) -> None:
        """Settle what the registry holds unsettled (a previous run stopped before it did)."""
        for config in self._registry.settling():
            self._later(config)

    async def drain(self) -> None:
        """Wait until every settling under way is done (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*tuple(self._tasks), return_exceptions=True)

    def _later(self, config: FunctionConfig) -> None:
        if not config.settling:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # resume() takes it up
        task = loop.create_task(self._settle(config))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self, config: FunctionConfig) -> None:
        failure: tuple[str, str] | None = None
        try:
            await self._prepare(config)
        except Exception as exc:
            log.exception("preparing %s:%s failed", config.name, config.version)
            failure = (FAILURE_CODE, f"Lambda could not prepare the function's code: {exc}")
        if self._settle_s > 0:
            await self._sleep(self._settle_s)
        self._registry.settle(config.name, config.version, config.revision_id, failure)
