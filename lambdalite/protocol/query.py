"""awsQuery: ``Action=<Operation>&Version=...&Member.1.Name=...`` form parameters (a
POST body, or a GET query string); XML answers wrapped in ``<OpResponse><OpResult>``
with ``<ResponseMetadata><RequestId>``; errors as ``<ErrorResponse><Error>``.

Parameter names follow botocore's query serializer: a structure member is
``Prefix.Name`` (its ``locationName`` when it has one); a list is ``Prefix.member.N``,
or ``Prefix.N`` when flattened (``Name.N`` when its element has a ``locationName``); a
map is ``Prefix.entry.N.key``/``.value`` (flattened: ``Prefix.N.<key name>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

from lambdalite.protocol.errors import MalformedInputFault, ServiceFault
from lambdalite.protocol.shapes import check_required, decode_blob, parse_timestamp, text_number
from lambdalite.protocol.xml_writer import XmlWriter, text

__all__ = ["CONTENT_TYPE", "parse", "serialize", "serialize_error"]

CONTENT_TYPE = b"text/xml"
# Our query answers have always carried microseconds; botocore reads any precision.
_WRITER = XmlWriter(fraction_digits=6)


class _Params:
    """The form's parameters, with every dotted prefix of their names indexed."""

    __slots__ = ("prefixes", "values")

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values
        self.prefixes: set[str] = set()
        for key in values:
            parts = key.split(".")
            for end in range(1, len(parts) + 1):
                self.prefixes.add(".".join(parts[:end]))


def parse(operation: OperationModel, params: Mapping[str, str]) -> dict[str, Any]:
    """The operation's input from the form ``params`` (``Action``/``Version`` ignored).
    Raises MalformedInputFault or MissingParameterFault."""
    shape = operation.input_shape
    if shape is None:
        return {}
    index = _Params(params)
    parsed: dict[str, Any] = _structure(shape, index, "")
    check_required(shape, parsed)
    return parsed


def _name(shape: Shape, default: str) -> str:
    name: str = shape.serialization.get("name", default)
    return name


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _value(shape: Shape, index: _Params, key: str) -> Any:
    if isinstance(shape, StructureShape):
        return _structure(shape, index, key) if key in index.prefixes else None
    if isinstance(shape, ListShape):
        return _list(shape, index, key)
    if isinstance(shape, MapShape):
        return _map(shape, index, key)
    raw = index.values.get(key)
    return None if raw is None else _scalar(shape, raw, key)


def _structure(shape: StructureShape, index: _Params, prefix: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, member in shape.members.items():
        serialized = _name(member, name)
        value = _value(member, index, _join(prefix, serialized))
        if value is None and serialized != name:
            # Some SDKs send a member under its own name (the Java SDK's ``Tags.1.Key``
            # for SQS's ``Tag.1.Key``): accepted as well.
            value = _value(member, index, _join(prefix, name))
        if value is not None:
            result[name] = value
    return result


def _list(shape: ListShape, index: _Params, key: str) -> list[Any] | None:
    if shape.serialization.get("flattened"):
        element_name = shape.member.serialization.get("name")
        base = ".".join([*key.split(".")[:-1], element_name]) if element_name else key
    else:
        base = f"{key}.{_name(shape.member, 'member')}"
    items: list[Any] = []
    position = 1
    while f"{base}.{position}" in index.prefixes:
        items.append(_value(shape.member, index, f"{base}.{position}"))
        position += 1
    if not items:
        # An empty list is sent as ``Name=`` (an explicitly empty value).
        return [] if index.values.get(key) == "" else None
    return items


def _map(shape: MapShape, index: _Params, key: str) -> dict[str, Any] | None:
    # A flattened map's entries carry the member's own name: ``Attribute.N.Name``.
    base = key if shape.serialization.get("flattened") else f"{key}.entry"
    key_name = _name(shape.key, "key")
    value_name = _name(shape.value, "value")
    result: dict[str, Any] = {}
    position = 1
    while f"{base}.{position}" in index.prefixes:
        entry = f"{base}.{position}"
        map_key = index.values.get(f"{entry}.{key_name}")
        if map_key is None:
            raise MalformedInputFault(f"{entry}.{key_name} is missing", query=True)
        result[map_key] = _value(shape.value, index, f"{entry}.{value_name}")
        position += 1
    return result or None


def _scalar(shape: Shape, raw: str, key: str) -> Any:
    number = text_number(
        shape, raw, lambda: MalformedInputFault(f"Value ({raw}) for parameter {key} is invalid.", query=True)
    )
    if number is not None:
        return number
    kind = shape.type_name
    if kind == "boolean":
        if raw.lower() not in ("true", "false"):
            raise MalformedInputFault(f"Value ({raw}) for parameter {key} is invalid.", query=True)
        return raw.lower() == "true"
    if kind == "blob":
        return decode_blob(raw, key, query=True)
    if kind == "timestamp":
        return parse_timestamp(raw, key, query=True)
    return raw


def serialize(
    model: ServiceModel, operation: OperationModel, result: dict[str, Any], request_id: str
) -> bytes:
    """The XML answer of ``operation`` with the handler's ``result``."""
    name = operation.name
    parts = [f'<?xml version="1.0"?><{name}Response xmlns="{_namespace(model)}">']
    shape = operation.output_shape
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper") or f"{name}Result"
        parts.append(f"<{wrapper}>")
        if result:
            _WRITER.members(shape, result, parts)
        parts.append(f"</{wrapper}>")
    parts.append(f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{name}Response>")
    return "".join(parts).encode()


def _namespace(model: ServiceModel) -> str:
    namespace: str | None = model.metadata.get("xmlNamespace")
    return namespace or f"http://{model.endpoint_prefix}.amazonaws.com/doc/{model.api_version}/"


def serialize_error(fault: ServiceFault, request_id: str) -> tuple[int, bytes]:
    """(status, body) of ``fault`` in the query protocol."""
    kind = "Sender" if fault.sender_fault else "Receiver"
    body = (
        f'<?xml version="1.0"?><ErrorResponse><Error><Type>{kind}</Type>'
        f"<Code>{text(fault.query_code)}</Code><Message>{text(fault.message)}</Message>"
        f"<Detail/></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return fault.fault_status, body.encode()
