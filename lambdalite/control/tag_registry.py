"""The tag registry: every function's tags, in memory and written through to a ``TagStore``.

Tags belong to the function (see ``control.tags`` for the request rules) and
are not part of a snapshot, but changing them gives ``$LATEST`` a new RevisionId,
as AWS does (TagResource/UntagResource precede a conditional update the same
way a configuration change does). They go with their function (``FunctionDeleted``). Tags of a
function that does not exist (left by a crash between the function's deletion
and theirs, or between writing a new function's tags and the function) are
removed when the registry is built.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import MappingProxyType

from lambdalite.control import tags as tag_rules
from lambdalite.control.bus import EventBus
from lambdalite.control.changes import FunctionDeleted
from lambdalite.control.registry import FunctionRegistry
from lambdalite.store.tags import TagStore

_NO_TAGS: Mapping[str, str] = MappingProxyType({})


class TagRegistry:
    def __init__(self, store: TagStore, functions: FunctionRegistry, bus: EventBus) -> None:
        self._store = store
        self._functions = functions
        self._tags: dict[str, Mapping[str, str]] = {}
        for name, tags in store.all_tags().items():
            if functions.exists(name):
                self._tags[name] = MappingProxyType(tags)
            else:
                store.put_tags(name, {})
        bus.subscribe(FunctionDeleted, self._function_deleted)

    def tags(self, name: str) -> Mapping[str, str]:
        """The function's tags ({} when it has none); ResourceNotFound if it does not exist."""
        self._functions.require(name)
        return self._tags.get(name, _NO_TAGS)

    def tag(self, name: str, tags: Mapping[str, str]) -> None:
        """Add or overwrite ``tags``; at most MAX_TAGS in all. The function gets a new RevisionId."""
        merged = {**self.tags(name), **tags}
        tag_rules.check_count(merged)
        self._put(name, merged)
        self._functions.renew_revision(name)

    def untag(self, name: str, keys: Sequence[str]) -> None:
        """Remove ``keys`` (keys the function does not have are ignored). The function
        gets a new RevisionId whether or not a key was removed."""
        self._put(name, {key: value for key, value in self.tags(name).items() if key not in keys})
        self._functions.renew_revision(name)

    @contextmanager
    def tagging_new(self, name: str, tags: Mapping[str, str] | None) -> Iterator[None]:
        """The tags of a function the block creates (CreateFunction's Tags; checked
        against MAX_TAGS first). They are stored before the block runs, so a crash
        in between leaves orphan tags (removed at the next start), never a new
        function without its tags; if the block raises, they are removed again."""
        if not tags:
            yield
            return
        tag_rules.check_count(tags)
        self._put(name, tags)
        try:
            yield
        except BaseException:
            self._put(name, {})
            raise

    def _put(self, name: str, tags: Mapping[str, str]) -> None:
        self._store.put_tags(name, tags)
        if tags:
            self._tags[name] = MappingProxyType(dict(tags))
        else:
            self._tags.pop(name, None)

    def _function_deleted(self, event: FunctionDeleted) -> None:
        # Forget first: if the store write fails, the orphan row goes at the next start.
        if self._tags.pop(event.name, None) is not None:
            self._store.put_tags(event.name, {})
