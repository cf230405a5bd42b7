"""Paging of the List operations: ordered keys, a marker, a page size."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from lambdalite.models import LATEST

_T = TypeVar("_T")


def page(
    keys: list[str], marker: str | None, max_items: int, value: Callable[[str], _T]
) -> tuple[list[_T], str | None]:
    """One page of ``keys`` (already in order) after ``marker`` (a key of the
    previous page's end); returns the values and the next marker, if any."""
    if marker is not None:
        keys = keys[keys.index(marker) + 1 :] if marker in keys else [k for k in keys if _after(k, marker)]
    found = keys[:max_items]
    next_marker = found[-1] if len(keys) > max_items else None
    return [value(key) for key in found], next_marker


def _after(key: str, marker: str) -> bool:
    """Order of a key against a marker that is no longer a key (it was deleted):
    numbers numerically (``$LATEST`` first), names alphabetically."""
    if key.isdigit() and marker.isdigit():
        return int(key) > int(marker)
    if marker == LATEST:
        return True
    return key > marker
