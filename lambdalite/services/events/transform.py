"""What a rule's target receives: the whole event, a constant ``Input``, the part
of the event an ``InputPath`` names, or an ``InputTransformer``'s template filled
from ``InputPathsMap``.

Paths are the JSONPath subset EventBridge takes: ``$``, ``$.a.b``, ``$.a[0]``,
``$.detail['key with spaces']``. In a template, ``<name>`` inside a JSON string is
replaced by the value's text (a string as is, escaped for JSON; anything else as
JSON); outside a string by the value as JSON. A path that finds nothing gives
``null`` (or nothing, inside a string). The predefined names
``aws.events.rule-arn``, ``aws.events.rule-name``, ``aws.events.event``,
``aws.events.event.json`` and ``aws.events.event.ingestion-time`` are always there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["PathError", "extract", "fill_template", "parse_path"]

_STEP = re.compile(r"\.([A-Za-z0-9_\-$@]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
MISSING = object()


class PathError(ValueError):
    pass


def parse_path(path: str) -> list[str | int]:
    """The steps of a JSONPath; PathError when it is not one EventBridge takes."""
    if not path.startswith("$"):
        raise PathError(path)
    steps: list[str | int] = []
    position = 1
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            raise PathError(path)
        name, index, quoted, double = match.groups()
        steps.append(int(index) if index is not None else (name or quoted or double or ""))
        position = match.end()
    return steps


def extract(document: Any, steps: list[str | int]) -> Any:
    """The value at ``steps`` in ``document``, or MISSING."""
    value = document
    for step in steps:
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return MISSING
        elif not isinstance(value, dict) or step not in value:
            return MISSING
        value = value[step]
    return value


def fill_template(template: str, values: Mapping[str, Any]) -> str:
    """``template`` with each ``<name>`` of ``values`` replaced (see the module docstring)."""
    out: list[str] = []
    in_string = False
    position = 0
    length = len(template)
    while position < length:
        char = template[position]
        if char == "\\" and in_string:
            out.append(template[position : position + 2])
            position += 2
            continue
        if char == '"':
            in_string = not in_string
            out.append(char)
            position += 1
            continue
        if char == "<":
            match = _PLACEHOLDER.match(template, position)
            if match is not None and match.group(1) in values:
                out.append(_render(values[match.group(1)], in_string))
                position = match.end()
                continue
        out.append(char)
        position += 1
    return "".join(out)


def _render(value: Any, in_string: bool) -> str:
    if value is MISSING:
        return "" if in_string else "null"
    if in_string:
        if isinstance(value, str):
            return orjson.dumps(value).decode()[1:-1]
        return orjson.dumps(value).decode().replace("\\", "\\\\").replace('"', '\\"')
    return orjson.dumps(value).decode()
