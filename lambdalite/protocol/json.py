"""awsJson 1.0 / 1.1: ``POST /`` with ``X-Amz-Target: <targetPrefix>.<Operation>`` and a
JSON body; JSON answers; errors as ``{"__type": ..., "message": ...}``.

For a service whose model says ``awsQueryCompatible`` (SQS), an error also carries
``x-amzn-query-error: <query code>;<Sender|Receiver>``: botocore then reports the
query protocol's code (``AWS.SimpleQueueService.NonExistentQueue``), as older SDKs did.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import orjson
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

from lambdalite.protocol.errors import MalformedInputFault, ServiceFault
from lambdalite.protocol.shapes import check_required, decode_blob, encode_blob, parse_timestamp

__all__ = ["content_type", "parse", "serialize", "serialize_error"]


def content_type(model: ServiceModel) -> bytes:
    return b"application/x-amz-json-%s" % model.metadata.get("jsonVersion", "1.0").encode()


def parse(operation: OperationModel, body: bytes) -> dict[str, Any]:
    """The operation's input as the handler's plain values. Raises MalformedInputFault
    (not JSON, a member of the wrong type) or MissingParameterFault."""
    try:
        value = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise MalformedInputFault("Start of structure or map found where not expected.") from exc
    shape = operation.input_shape
    if shape is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedInputFault("Start of structure or map found where not expected.")
    parsed: dict[str, Any] = _parse(shape, value, shape.name)
    check_required(shape, parsed)
    return parsed


def _parse(shape: Shape, value: Any, where: str) -> Any:
    if value is None:
        return None
    kind = shape.type_name
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            raise MalformedInputFault(f"{where} must be a structure")
        members = shape.members
        # Unknown members are ignored, as AWS's JSON services do.
        return {
            name: _parse(members[name], item, f"{where}.{name}")
            for name, item in value.items()
            if name in members and item is not None
        }
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            raise MalformedInputFault(f"{where} must be a list")
        return [_parse(shape.member, item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            raise MalformedInputFault(f"{where} must be a map")
        return {str(key): _parse(shape.value, item, f"{where}[{key}]") for key, item in value.items()}
    return _scalar(kind, value, where)


def _scalar(kind: str, value: Any, where: str) -> Any:
    if kind == "string":
        if not isinstance(value, str):
            raise MalformedInputFault(f"STRING_VALUE can not be converted to a String at {where}")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise MalformedInputFault(f"{where} must be a Boolean")
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise MalformedInputFault(f"{where} must be an Integer")
        return value
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MalformedInputFault(f"{where} must be a Number")
        return float(value)
    if kind == "blob":
        return decode_blob(value, where, query=False)
    if kind == "timestamp":
        return parse_timestamp(value, where, query=False)
    return value


def serialize(operation: OperationModel, result: dict[str, Any]) -> bytes:
    """The operation's output (the handler's plain values) as the JSON body."""
    shape = operation.output_shape
    if shape is None or not result:
        return b"{}"
    return orjson.dumps(_out(shape, result))


def _out(shape: Shape, value: Any) -> Any:
    if isinstance(shape, StructureShape):
        members = shape.members
        return {
            name: _out(members[name], item)
            for name, item in value.items()
            if item is not None and name in members
        }
    if isinstance(shape, ListShape):
        return [_out(shape.member, item) for item in value]
    if isinstance(shape, MapShape):
        return {key: _out(shape.value, item) for key, item in value.items()}
    kind = shape.type_name
    if kind == "blob":
        return encode_blob(value)
    if kind == "timestamp":
        return _epoch(value)
    return value


def _epoch(value: dt.datetime | float) -> float | int:
    seconds = value.timestamp() if isinstance(value, dt.datetime) else float(value)
    return int(seconds) if math.isclose(seconds, round(seconds)) else round(seconds, 3)


def serialize_error(model: ServiceModel, fault: ServiceFault) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, headers, body) of ``fault`` in the JSON protocol."""
    prefix = model.metadata.get("targetPrefix") and f"com.amazonaws.{model.endpoint_prefix}#"
    body: dict[str, str] = {"__type": f"{prefix or ''}{fault.fault_code}", "message": fault.message}
    headers: list[tuple[bytes, bytes]] = [(b"x-amzn-errortype", fault.fault_code.encode())]
    if "awsQueryCompatible" in model.metadata:
        kind = b"Sender" if fault.sender_fault else b"Receiver"
        headers.append((b"x-amzn-query-error", fault.query_code.encode() + b";" + kind))
    return fault.fault_status, headers, orjson.dumps(body)
