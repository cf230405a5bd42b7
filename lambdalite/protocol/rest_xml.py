"""rest-xml (S3): the operation is named by the method, the path's shape and the query
keys or headers it requires; its input comes from URI labels, headers, the query string
and an XML (or raw blob) payload; its output goes out as headers, a status and an XML
(or streamed) payload; errors are ``<Error><Code/><Message/>...</Error>``.

``RestRoutes(model, names)`` picks the operation of a request (``match``); ``parse``
builds its input; ``serialize`` writes its output; ``serialize_error`` writes a fault.
A streaming blob payload (PutObject's ``Body``) is never parsed here: the caller reads
the request's stream itself. A streaming output payload is handed back untouched (an
async iterable of chunks) for the caller to send as a streamed body.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

from lambdalite.protocol.errors import ServiceFault
from lambdalite.protocol.shapes import check_required, decode_blob, encode_blob, text_number
from lambdalite.protocol.xml_writer import XmlWriter, as_datetime, text

__all__ = [
    "CONTENT_TYPE",
    "MalformedXmlFault",
    "RestRoutes",
    "Serialized",
    "parse",
    "payload_member",
    "serialize",
    "serialize_error",
]

CONTENT_TYPE = b"application/xml"
# S3 writes milliseconds: ``2024-05-06T07:08:09.000Z``.
_WRITER = XmlWriter(fraction_digits=3)


class MalformedXmlFault(ServiceFault):
    def __init__(self) -> None:
        super().__init__(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
        )


@dataclass(frozen=True, slots=True)
class _Route:
    operation: OperationModel
    method: str
    labels: tuple[str, ...]
    """The URI's labels in order (``Bucket``, ``Key+``); empty for ``/``."""
    query: tuple[tuple[str, str | None], ...]
    """Query keys the request must carry (with the value, when the URI names one)."""
    headers: tuple[str, ...]
    """Headers (lower-cased) the request must carry: required header members."""

    @property
    def weight(self) -> int:
        return len(self.query) + len(self.headers)


class RestRoutes:
    """The operations of ``model`` named in ``names``, found by method, path and query."""

    def __init__(self, model: ServiceModel, names: Iterable[str]) -> None:
        self._routes: dict[tuple[str, int], list[_Route]] = {}
        for name in names:
            op = model.operation_model(name)
            route = _route(op)
            self._routes.setdefault((route.method, len(route.labels)), []).append(route)
        for routes in self._routes.values():
            routes.sort(key=lambda r: -r.weight)

    def match(
        self, method: str, segments: list[str], query: Mapping[str, str], headers: Mapping[bytes, bytes]
    ) -> tuple[OperationModel, dict[str, str]] | None:
        """The operation and its label values for a request whose decoded path is
        ``segments`` (``[]`` for ``/``, ``[bucket]``, or ``[bucket, key]``), or None."""
        for route in self._routes.get((method, len(segments)), ()):
            if all(
                key in query and (value is None or query[key] == value) for key, value in route.query
            ) and all(name.encode() in headers for name in route.headers):
                return route.operation, {
                    label.rstrip("+"): segment for label, segment in zip(route.labels, segments, strict=True)
                }
        return None


def _route(op: OperationModel) -> _Route:
    uri: str = op.http["requestUri"]
    path, _, query_part = uri.partition("?")
    labels = tuple(part[1:-1] for part in path.strip("/").split("/") if part.startswith("{"))
    query: list[tuple[str, str | None]] = []
    for item in filter(None, query_part.split("&")):
        key, eq, value = item.partition("=")
        if key != "x-id":
            query.append((key, value if eq else None))
    headers: list[str] = []
    shape = op.input_shape
    if shape is not None:
        for name in shape.required_members:
            member = shape.members[name]
            location = member.serialization.get("location")
            if location == "querystring":
                query.append((member.serialization["name"], None))
            elif location == "header":
                headers.append(member.serialization["name"].lower())
    return _Route(op, op.http["method"], labels, tuple(query), tuple(headers))


def payload_member(shape: Shape | None) -> tuple[str, Shape] | None:
    """The payload member of a structure (``Body``, ``CreateBucketConfiguration``), or None."""
    if shape is None:
        return None
    name = shape.serialization.get("payload")
    if name is None:
        return None
    return name, shape.members[name]  # type: ignore[attr-defined]


# -- requests -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Member:
    name: str
    location: str | None
    wire: str
    """The serialized name (header names lower-cased; the prefix for ``headers``)."""
    key: bytes
    """``wire`` as a request header key (lower-cased bytes)."""
    shape: Shape


@functools.cache
def _plan(shape: StructureShape) -> tuple[_Member, ...]:
    """The members of ``shape`` with where each travels, worked out once per shape."""
    members = []
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        members.append(_Member(name, location, wire, wire.lower().encode("latin-1"), member))
    return tuple(members)


def parse(
    op: OperationModel,
    labels: Mapping[str, str],
    headers: Mapping[bytes, bytes],
    query: Mapping[str, str],
    body: bytes | None,
) -> dict[str, Any]:
    """The operation's input. ``body`` is the payload for a structure payload (or a
    non-streaming blob); None when the caller streams it. Raises ServiceFaults."""
    shape = op.input_shape
    if shape is None:
        return {}
    result: dict[str, Any] = {}
    for member in _plan(shape):
        location = member.location
        if location == "header":
            raw = headers.get(member.key)
            if raw is not None:
                result[member.name] = _header_value(member.shape, raw.decode("utf-8", "replace"), member.wire)
        elif location == "uri":
            if member.name in labels:
                result[member.name] = labels[member.name]
        elif location == "querystring":
            if not isinstance(member.shape, MapShape) and member.wire in query:
                result[member.name] = _text_value(member.shape, query[member.wire], member.wire)
        elif location == "headers":
            prefix = member.key
            found = {
                key[len(prefix) :].decode("latin-1"): value.decode("utf-8", "replace")
                for key, value in headers.items()
                if key.startswith(prefix)
            }
            if found:
                result[member.name] = found
    payload = payload_member(shape)
    if payload is not None and body is not None:
        name, payload_shape = payload
        if isinstance(payload_shape, StructureShape):
            if body.strip():
                result[name] = _parse_xml(payload_shape, body)
        elif not payload_shape.serialization.get("streaming"):
            result[name] = body
    check_required(shape, result)
    return result


def _parse_xml(shape: StructureShape, body: bytes) -> dict[str, Any]:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise MalformedXmlFault() from exc
    value = _xml_structure(shape, root)
    check_required(shape, value)
    return value


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_structure(shape: StructureShape, node: ElementTree.Element) -> dict[str, Any]:
    children: dict[str, list[ElementTree.Element]] = {}
    for child in node:
        children.setdefault(_local(child.tag), []).append(child)
    result: dict[str, Any] = {}
    for name, member in shape.members.items():
        wire = member.serialization.get("name", name)
        if isinstance(member, ListShape) and member.serialization.get("flattened"):
            items = children.get(member.member.serialization.get("name", wire), []) or children.get(wire, [])
            if items:
                result[name] = [_xml_value(member.member, item) for item in items]
            continue
        found = children.get(wire)
        if found:
            result[name] = _xml_value(member, found[0])
    return result


def _xml_value(shape: Shape, node: ElementTree.Element) -> Any:
    if isinstance(shape, StructureShape):
        return _xml_structure(shape, node)
    if isinstance(shape, ListShape):
        element = shape.member.serialization.get("name", "member")
        return [_xml_value(shape.member, child) for child in node if _local(child.tag) == element]
    if isinstance(shape, MapShape):
        result: dict[str, Any] = {}
        for entry in node:
            key = entry.find("key") if entry.find("key") is not None else entry.find("{*}key")
            value = entry.find("value") if entry.find("value") is not None else entry.find("{*}value")
            if key is not None and value is not None:
                result[key.text or ""] = _xml_value(shape.value, value)
        return result
    return _text_value(shape, node.text or "", _local(node.tag))


def _text_value(shape: Shape, raw: str, where: str) -> Any:
    number = text_number(
        shape, raw, lambda: ServiceFault("InvalidArgument", f"Invalid value for {where}: {raw}")
    )
    if number is not None:
        return number
    kind = shape.type_name
    if kind == "boolean":
        return raw.strip().lower() == "true"
    if kind == "timestamp":
        return _timestamp(raw, where)
    if kind == "blob":
        return decode_blob(raw, where, query=False)
    return raw


def _header_value(shape: Shape, raw: str, where: str) -> Any:
    if shape.type_name == "timestamp":
        return _timestamp(raw, where)
    if shape.type_name == "blob":
        return raw.encode()
    return _text_value(shape, raw, where)


def _timestamp(raw: str, where: str) -> dt.datetime:
    try:
        return email.utils.parsedate_to_datetime(raw).astimezone(dt.UTC)
    except (TypeError, ValueError):
        pass
    try:
        parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise ServiceFault("InvalidArgument", f"Invalid date for {where}: {raw}") from exc


def split_path(raw_path: bytes) -> list[str]:
    """``/bucket/a%2Fb/c`` -> ``["bucket", "a/b/c"]``: the bucket segment and the greedy
    rest (the key), each percent-decoded; ``[]`` for ``/``."""
    path = raw_path.decode("latin-1")
    if path.startswith("/"):
        path = path[1:]
    bucket, slash, key = path.partition("/")
    if not bucket:
        return []
    segments = [unquote(bucket)]
    if slash and key:
        segments.append(unquote(key))
    return segments


# -- responses ----------------------------------------------------------------


@dataclass(slots=True)
class Serialized:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    stream: Any = None
    """A streaming payload (an async iterable of chunks), when the output has one."""


def serialize(
    model: ServiceModel, op: OperationModel, result: Mapping[str, Any], root: str | None = None
) -> Serialized:
    """The answer of ``op`` with the handler's ``result``. ``root`` names the XML root
    element of an output with no payload member (S3's model does not say it)."""
    shape = op.output_shape
    out = Serialized(200, [], b"")
    if shape is None:
        return out
    body_members: dict[str, Shape] = {}
    for member in _plan(shape):
        location = member.location
        if location is None:
            body_members[member.name] = member.shape
            continue
        value = result.get(member.name)
        if value is None:
            continue
        if location == "header":
            out.headers.append((member.wire.encode(), _header_text(member.shape, value).encode("utf-8")))
        elif location == "statusCode":
            out.status = int(value)
        elif location == "headers":
            for key, item in value.items():
                out.headers.append(
                    (f"{member.wire}{key}".encode("latin-1", "replace"), str(item).encode("utf-8"))
                )
    payload = payload_member(shape)
    namespace = model.metadata.get("xmlNamespace", {}).get("uri") or "http://s3.amazonaws.com/doc/2006-03-01/"
    if payload is not None:
        name, payload_shape = payload
        value = result.get(name)
        if value is None:
            return out
        if isinstance(payload_shape, StructureShape):
            tag = payload_shape.serialization.get("name", name)
            parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<{tag} xmlns="{namespace}">']
            _WRITER.members(payload_shape, value, parts)
            parts.append(f"</{tag}>")
            out.body = "".join(parts).encode()
        elif isinstance(value, bytes | str):
            out.body = value.encode() if isinstance(value, str) else value
        else:
            out.stream = value
        return out
    if root is not None:
        parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{namespace}">']
        for name, body_shape in body_members.items():
            item = result.get(name)
            if item is not None:
                _WRITER.element(body_shape, body_shape.serialization.get("name", name), item, parts)
        parts.append(f"</{root}>")
        out.body = "".join(parts).encode()
    return out


def _header_text(shape: Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "timestamp":
        return email.utils.format_datetime(as_datetime(value), usegmt=True)
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "blob":
        return encode_blob(value)
    return str(value)


def serialize_error(fault: ServiceFault, request_id: str, details: Mapping[str, str] = {}) -> bytes:
    """The ``<Error>`` body of ``fault``; ``details`` are further elements AWS adds
    (``BucketName``, ``Key``, ``Resource``...), in order."""
    extra = "".join(f"<{name}>{text(value)}</{name}>" for name, value in details.items())
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{text(fault.fault_code)}</Code>'
        f"<Message>{text(fault.message)}</Message>{extra}<RequestId>{request_id}</RequestId>"
        f"<HostId>{request_id}</HostId></Error>"
    ).encode()
