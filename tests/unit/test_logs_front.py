"""The Logs API on the protocol layer: what the layer answers for it (bare ``__type``,
model types checked) and what the handlers still answer themselves."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from lambdalite.api.logs_api import handle
from lambdalite.observe.logs import LogStore


def call(tmp_path: Path, operation: str, body: bytes) -> tuple[int, object]:
    store = LogStore(tmp_path / "logs")
    try:
        status, _, response = asyncio.run(handle(operation, body, store))
    finally:
        store.close()
    return status, orjson.loads(response)


def test_a_member_of_the_wrong_type_is_the_protocol_layers_serialization_error(tmp_path: Path) -> None:
    assert call(tmp_path, "GetLogEvents", b'{"logGroupName": "g", "limit": "x"}') == (
        400,
        {"__type": "SerializationException", "message": "GetLogEventsRequest.limit must be an Integer"},
    )
    assert call(tmp_path, "DescribeLogGroups", b"[1]") == (
        400,
        {
            "__type": "SerializationException",
            "message": "Start of structure or map found where not expected.",
        },
    )


def test_a_missing_required_member_keeps_logs_validation_words(tmp_path: Path) -> None:
    assert call(tmp_path, "GetLogEvents", b'{"logGroupName": "g"}') == (
        400,
        {
            "__type": "InvalidParameterException",
            "message": "1 validation error detected: Value null at 'logStreamName' failed to satisfy "
            "constraint: Member must not be null",
        },
    )
