"""Collecting code packages that nothing uses any more.

Every UpdateFunctionCode stores a new package (a zip and its unpacked tree); the
one it replaces stays on disk for as long as a published version, a layer
version or a running environment uses it, and after that is garbage.

The collector marks and sweeps, with two guards against taking a package that
is about to be used:

- mark: ``referenced()`` names every package in use (function versions,
  ``$LATEST`` included, layer versions, and the environments that are running
  or starting); it is called on the event loop, where the registry and the pool
  live, so the answer is one consistent snapshot.
- a package is removed only once it has been unreferenced at every mark for
  ``grace_s`` (so a start that resolved its configuration just before a change
  has long begun using its package, and is then counted as running), and only
  if it was last stored more than ``grace_s`` ago (a package uploaded but not
  yet committed to a function is fresh; ``CodeStore.remove`` checks that under
  the lock that ``put`` marks it under).

The sweep (directory listings, renames, deletions) runs in a worker thread,
never on the event loop. ``collect_once`` is one mark-and-sweep;
``run_forever`` repeats it every ``interval_s`` and is started with the server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lambdalite.store.code import CodePackages

log = logging.getLogger("lambdalite.code_gc")

DEFAULT_GRACE_S = 600.0
DEFAULT_INTERVAL_S = 300.0


@dataclass(frozen=True, slots=True)
class Collection:
    """What one mark-and-sweep did."""

    packages: int
    """Packages on disk before the sweep."""
    removed: int
    freed_bytes: int


class CodeCollector:
    def __init__(
        self,
        store: CodePackages,
        referenced: Callable[[], Iterable[str]],
        *,
        grace_s: float = DEFAULT_GRACE_S,
        now: Callable[[], float] = time.time,
    ) -> None:
        """``referenced`` returns the hex sha256 of every package in use; ``now`` is a
        wall clock (the store compares it with file modification times)."""
        self._store = store
        self._referenced = referenced
        self._grace_s = grace_s
        self._now = now
        self._unreferenced_since: dict[str, float] = {}

    async def collect_once(self) -> Collection:
        """Mark on the event loop, sweep in a worker thread (see the module docstring)."""
        present = await asyncio.to_thread(self._store.packages)
        in_use = set(self._referenced())
        now = self._now()
        self._unreferenced_since = {
            sha: self._unreferenced_since.get(sha, now) for sha in present if sha not in in_use
        }
        doomed = [sha for sha, since in self._unreferenced_since.items() if now - since >= self._grace_s]
        removed, freed = await asyncio.to_thread(self._store.remove, doomed, now - self._grace_s)
        for sha in doomed:
            # Gone, or spared as freshly stored: either way its grace starts again.
            self._unreferenced_since.pop(sha, None)
        return Collection(len(present), removed, freed)

    async def run_forever(self, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        """Collect now and then every ``interval_s`` until cancelled; a failed round is
        logged and the next one tries again."""
        while True:
            try:
                result = await self.collect_once()
            except Exception:  # a full disk or a vanished directory must not end collection
                log.exception("collecting unused code packages failed")
            else:
                if result.removed:
                    log.info("removed %d unused code packages (%d bytes)", result.removed, result.freed_bytes)
            await asyncio.sleep(interval_s)
