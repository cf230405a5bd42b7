"""Runtime hooks for SnapStart, under the name and API of AWS's ``snapshot_restore_py``.

A function registers callables to run before its version's snapshot is taken
and after each environment is restored from it::

    from snapshot_restore_py import register_after_restore, register_before_snapshot

    @register_before_snapshot
    def close_connections(): ...

    register_after_restore(reconnect, "db.example", port=5432)

lambdalite's own implementation (standard library only): lambdalite's Python
runtime puts it on the path after the function's code, so a function that
ships AWS's package uses that one. Hooks run in the order they were registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Hook = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]

_before_snapshot: list[Hook] = []
_after_restore: list[Hook] = []


def register_before_snapshot(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
    """Run ``func(*args, **kwargs)`` once, before the snapshot; returns ``func`` (a decorator)."""
    _before_snapshot.append((func, args, kwargs))
    return func


def register_after_restore(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
    """Run ``func(*args, **kwargs)`` in each restored environment; returns ``func``."""
    _after_restore.append((func, args, kwargs))
    return func


def get_before_snapshot() -> list[Hook]:
    return list(_before_snapshot)


def get_after_restore() -> list[Hook]:
    return list(_after_restore)
