"""FilterCriteria: validated when a mapping is configured, applied to each record.

AWS validates every pattern when the mapping is created or updated (a pattern
that is not a JSON object is ``Invalid filter pattern definition.``) and, for a
queue, matches it against the record with ``body`` parsed when the body is JSON;
a message that matches no filter is deleted without invoking the function.

The pattern language is the one matcher ``events.patterns`` (EventBridge's
dialect). It is looked up when this module loads: where it is not installed yet
the patterns are still validated as JSON objects, and every record passes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from lambdalite.errors import InvalidParameterValue

INVALID_PATTERN = "Invalid filter pattern definition."

RecordFilter = Callable[[dict[str, Any]], bool]
"""Does this record (as the function would see it, body parsed) pass the filters?"""

try:
    _patterns: Any = importlib.import_module("lambdalite.events.patterns")
except ImportError:  # the matcher lands on main separately; validation still happens
    _patterns = None


def check_patterns(patterns: Sequence[str]) -> None:
    """Raise InvalidParameterValue (AWS's words) unless each pattern is valid."""
    for pattern in patterns:
        _compile(pattern)


def _compile(pattern: str) -> Any:
    try:
        value = orjson.loads(pattern)
    except orjson.JSONDecodeError as exc:
        raise InvalidParameterValue(INVALID_PATTERN) from exc
    if not isinstance(value, dict):
        raise InvalidParameterValue(INVALID_PATTERN)
    if _patterns is None:
        return None
    try:
        return _patterns.compile_pattern(value, _patterns.Dialect.EVENTS)
    except _patterns.PatternError as exc:
        raise InvalidParameterValue(INVALID_PATTERN) from exc


def record_filter(patterns: Sequence[str] | None) -> RecordFilter | None:
    """The filter of a mapping's patterns; None when every record passes."""
    if not patterns:
        return None
    compiled = [_compile(pattern) for pattern in patterns]
    if any(matcher is None for matcher in compiled):
        return None

    def passes(record: dict[str, Any]) -> bool:
        return any(matcher.matches(record) for matcher in compiled)

    return passes


def sqs_document(record: dict[str, Any]) -> dict[str, Any]:
    """The document an SQS record's filters see: its ``body`` parsed when it is
    a JSON object (AWS filters plain-text bodies only on the other fields)."""
    try:
        body = orjson.loads(record["body"])
    except orjson.JSONDecodeError:
        return record
    return {**record, "body": body}
