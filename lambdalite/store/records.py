"""Frozen values as JSON records: how the SQLite stores keep a value in one column.

A record holds a value's fields by name, so a field added later is read back
with its default from an older record, and a field removed later is ignored.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import orjson


def field_names(value_type: type[Any]) -> set[str]:
    return {field.name for field in fields(value_type)}


def to_record(value: Any, names: set[str], **plain: object) -> bytes:
    """A frozen value's fields as JSON; ``plain`` replaces fields JSON cannot
    encode as they are (read-only mappings)."""
    return orjson.dumps({**{name: getattr(value, name) for name in names}, **plain})


def known_fields(raw: bytes, names: set[str]) -> dict[str, Any]:
    """A record's fields that the value still has (older records may carry more)."""
    return {key: value for key, value in orjson.loads(raw).items() if key in names}
