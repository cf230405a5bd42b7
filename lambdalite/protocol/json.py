"""awsJson 1.0 / 1.1: ``POST /`` with ``X-Amz-Target: <targetPrefix>.<Operation>`` and a
JSON body; JSON answers; errors as ``{"__type": ..., "message": ...}``.

For a service whose model says ``awsQueryCompatible`` (SQS), an error also carries
``x-amzn-query-error: <query code>;<Sender|Receiver>``: botocore then reports the
query protocol's code (``AWS.SimpleQueueService.NonExistentQueue``), as older SDKs did.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import orjson
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

from lambdalite.protocol.errors import MalformedInputFault, ServiceFault
from lambdalite.protocol.shapes import check_required, decode_blob, encode_blob, parse_timestamp

__all__ = ["Converter", "compile_input", "content_type", "parse", "serialize", "serialize_error"]


def content_type(model: ServiceModel) -> bytes:
    return b"application/x-amz-json-%s" % model.metadata.get("jsonVersion", "1.0").encode()


Converter = Callable[[Any, str], Any]
"""(a JSON value, where it is in the request) -> the handler's value; raises MalformedInputFault."""


def parse(operation: OperationModel, body: bytes, converter: Converter | None = None) -> dict[str, Any]:
    """The operation's input as the handler's plain values. Raises MalformedInputFault
    (not JSON, a member of the wrong type) or MissingParameterFault. ``converter``:
    ``compile_input(operation)``, made once per operation (made here when absent)."""
    try:
        value = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise MalformedInputFault("Start of structure or map found where not expected.") from exc
    shape = operation.input_shape
    if shape is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedInputFault("Start of structure or map found where not expected.")
    parsed: dict[str, Any] = (converter or compile_input(operation))(value, shape.name)
    check_required(shape, parsed)
    return parsed


def compile_input(operation: OperationModel) -> Converter:
    """A converter for the operation's input shape, built once: checking a request
    then costs a dict lookup and a type test per member, not a walk of the model."""
    shape = operation.input_shape
    if shape is None:
        return lambda value, where: {}
    return _compile(shape, {})


def _compile(shape: Shape, memo: dict[str, Converter]) -> Converter:
    known = memo.get(shape.name)
    if known is not None:
        return known
    if isinstance(shape, StructureShape):
        members: dict[str, Converter] = {}

        def structure(value: Any, where: str) -> Any:
            if type(value) is not dict:
                raise MalformedInputFault(f"{where} must be a structure")
            # Unknown members are ignored, as AWS's JSON services do.
            return {
                name: convert(item, f"{where}.{name}")
                for name, item in value.items()
                if item is not None and (convert := members.get(name)) is not None
            }

        memo[shape.name] = structure  # before the members: shapes may be recursive
        members.update({name: _compile(member, memo) for name, member in shape.members.items()})
        return structure
    if isinstance(shape, ListShape):
        element = _compile(shape.member, memo)

        def listing(value: Any, where: str) -> Any:
            if type(value) is not list:
                raise MalformedInputFault(f"{where} must be a list")
            return [element(item, where) for item in value]

        memo[shape.name] = listing
        return listing
    if isinstance(shape, MapShape):
        entry = _compile(shape.value, memo)

        def mapping(value: Any, where: str) -> Any:
            if type(value) is not dict:
                raise MalformedInputFault(f"{where} must be a map")
            return {str(key): entry(item, where) for key, item in value.items()}

        memo[shape.name] = mapping
        return mapping
    converter = _SCALARS.get(shape.type_name, _anything)
    memo[shape.name] = converter
    return converter


def _string(value: Any, where: str) -> Any:
    if type(value) is not str:
        raise MalformedInputFault(f"STRING_VALUE can not be converted to a String at {where}")
    return value


def _boolean(value: Any, where: str) -> Any:
    if type(value) is not bool:
        raise MalformedInputFault(f"{where} must be a Boolean")
    return value


def _integer(value: Any, where: str) -> Any:
    if type(value) is not int:
        raise MalformedInputFault(f"{where} must be an Integer")
    return value


def _number(value: Any, where: str) -> Any:
    if type(value) not in (int, float):
        raise MalformedInputFault(f"{where} must be a Number")
    return float(value)


def _blob(value: Any, where: str) -> Any:
    return decode_blob(value, where, query=False)


def _timestamp(value: Any, where: str) -> Any:
    return parse_timestamp(value, where, query=False)


def _anything(value: Any, where: str) -> Any:
    return value


_SCALARS: dict[str, Converter] = {
    "string": _string,
    "boolean": _boolean,
    "integer": _integer,
    "long": _integer,
    "float": _number,
    "double": _number,
    "blob": _blob,
    "timestamp": _timestamp,
}


def serialize(operation: OperationModel, result: dict[str, Any]) -> bytes:
    """The operation's output (the handler's plain values) as the JSON body.

    Handlers return only members of the output shape and leave absent members out
    (no None): the values go to orjson as they are, bytes as base64 and datetimes as
    epoch seconds, which is what awsJson makes of blobs and timestamps."""
    if operation.output_shape is None or not result:
        return b"{}"
    return orjson.dumps(result, default=_json_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return encode_blob(bytes(value))
    if isinstance(value, dt.datetime):
        return _epoch(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def _epoch(value: dt.datetime | float) -> float | int:
    seconds = value.timestamp() if isinstance(value, dt.datetime) else float(value)
    return int(seconds) if math.isclose(seconds, round(seconds)) else round(seconds, 3)


def serialize_error(
    model: ServiceModel, fault: ServiceFault, *, prefixed: bool = True
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, headers, body) of ``fault`` in the JSON protocol. ``prefixed``: ``__type``
    carries ``com.amazonaws.<service>#`` (CloudWatch Logs sends the bare code). An
    empty message is left out, as AWS leaves it out."""
    prefix = prefixed and model.metadata.get("targetPrefix") and f"com.amazonaws.{model.endpoint_prefix}#"
    body: dict[str, str] = {"__type": f"{prefix or ''}{fault.fault_code}"}
    if fault.message:
        body["message"] = fault.message
    headers: list[tuple[bytes, bytes]] = [(b"x-amzn-errortype", fault.fault_code.encode())]
    if "awsQueryCompatible" in model.metadata:
        kind = b"Sender" if fault.sender_fault else b"Receiver"
        headers.append((b"x-amzn-query-error", fault.query_code.encode() + b";" + kind))
    return fault.fault_status, headers, orjson.dumps(body)
