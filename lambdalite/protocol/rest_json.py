"""restJson1: operations addressed by HTTP method and URI template
(``POST /schedules/{Name}``), members bound to the path, the query string and
headers by their ``location``, the rest in a JSON body; errors named by the
``x-amzn-errortype`` header with ``{"Message": ...}`` bodies.

``RestJsonFront(model, handlers)`` is the front of one rest-json service, beside
``ProtocolFront`` (json and query): the same typed handlers (``async def
create_schedule(self, request: dict) -> dict``), the same ServiceFaults.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson
from botocore import xform_name
from botocore.model import OperationModel, ServiceModel, Shape, StructureShape

from lambdalite.http.message import HttpRequest, Response
from lambdalite.protocol import json as json_protocol
from lambdalite.protocol.errors import (
    MalformedInputFault,
    ServiceFault,
    UnknownOperationFault,
    internal_fault,
)
from lambdalite.protocol.front import Call, calling
from lambdalite.protocol.shapes import check_required, text_number

__all__ = ["RestJsonFront"]

log = logging.getLogger("lambdalite.protocol")

_CONTENT_TYPE = b"application/json"
_LABEL = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")


class _Route:
    __slots__ = ("body_members", "convert", "handler", "method", "operation", "pattern", "status")

    def __init__(self, operation: OperationModel, handler: Any) -> None:
        http = operation.http
        self.method = http["method"].encode()
        self.operation = operation
        self.handler = handler
        self.status = int(http.get("responseCode", 200))
        self.convert = json_protocol.compile_input(operation)
        shape = operation.input_shape
        self.body_members = frozenset(
            name
            for name, member in (shape.members.items() if isinstance(shape, StructureShape) else ())
            if member.serialization.get("location") is None
        )
        path = http["requestUri"].split("?", 1)[0]
        regex = ""
        position = 0
        for match in _LABEL.finditer(path):
            regex += re.escape(path[position : match.start()])
            regex += f"(?P<{match.group(1)}>.+)" if match.group(2) else f"(?P<{match.group(1)}>[^/]+)"
            position = match.end()
        regex += re.escape(path[position:])
        self.pattern = re.compile(f"^{regex}/?$")


class RestJsonFront:
    """``await front.handle(request)`` -> Response, for one rest-json service; never raises."""

    def __init__(self, model: ServiceModel, handlers: object, *, default_host: str = "localhost") -> None:
        self.model = model
        self._default_host = default_host
        self._routes: list[_Route] = []
        for name in model.operation_names:
            method = getattr(handlers, xform_name(name), None)
            if method is not None:
                self._routes.append(_Route(model.operation_model(name), method))
        # Literal paths before templated ones, longer before shorter.
        self._routes.sort(key=lambda route: (-len(route.pattern.pattern), route.pattern.pattern))

    async def handle(self, request: HttpRequest) -> Response:
        request_id = str(uuid.uuid4())
        headers = [(b"x-amzn-requestid", request_id.encode())]
        try:
            route, labels = self._route(request)
            parsed = self._parse(route, request, labels)
            host = request.headers.get(b"host")
            call = Call(
                route.operation.name,
                "rest-json",
                host.decode("latin-1") if host else self._default_host,
                request_id,
            )
            with calling(call):
                try:
                    result = await route.handler(parsed)
                except ServiceFault:
                    raise
                except Exception as exc:
                    log.exception("%s %s failed", self.model.service_name, route.operation.name)
                    raise internal_fault() from exc
            shape = route.operation.output_shape
            body = json_protocol.serialize(route.operation, result) if shape is not None else b"{}"
            return Response(route.status, body, headers, _CONTENT_TYPE)
        except ServiceFault as fault:
            headers.append((b"x-amzn-errortype", fault.fault_code.encode()))
            body = orjson.dumps({"Message": fault.message})
            return Response(fault.fault_status, body, headers, _CONTENT_TYPE)

    def _route(self, request: HttpRequest) -> tuple[_Route, dict[str, str]]:
        # The raw path: a label may hold an ARN whose escaped slashes must not split it.
        path = request.raw_path.decode("latin-1").split("?", 1)[0]
        method = request.method.encode()
        for route in self._routes:
            if route.method != method:
                continue
            match = route.pattern.match(path)
            if match is not None:
                return route, {key: unquote(value) for key, value in match.groupdict().items()}
        raise UnknownOperationFault(f"Unknown operation {request.method} {request.path}")

    @staticmethod
    def _parse(route: _Route, request: HttpRequest, labels: dict[str, str]) -> dict[str, Any]:
        shape = route.operation.input_shape
        if shape is None:
            return {}
        assert isinstance(shape, StructureShape)
        try:
            body = orjson.loads(request.body) if request.body and request.body.strip() else {}
        except orjson.JSONDecodeError as exc:
            raise MalformedInputFault("Unable to parse the request body as JSON.") from exc
        if not isinstance(body, dict):
            raise MalformedInputFault("The request body must be a JSON object.")
        pairs = (
            parse_qsl(request.query.decode("utf-8", "replace"), keep_blank_values=True)
            if request.query
            else []
        )
        query: dict[str, list[str]] = {}
        for key, value in pairs:
            query.setdefault(key, []).append(value)
        parsed: dict[str, Any] = route.convert(
            {name: value for name, value in body.items() if name in route.body_members}, shape.name
        )
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if location == "uri":
                if wire in labels:
                    parsed[name] = labels[wire]
            elif location == "querystring":
                if wire in query:
                    values = query[wire]
                    parsed[name] = values if member.type_name == "list" else _scalar(member, values[-1], wire)
            elif location == "header":
                header = request.headers.get(wire.lower().encode())
                if header is not None:
                    parsed[name] = _scalar(member, header.decode("latin-1"), wire)
        check_required(shape, parsed)
        return parsed


def _scalar(shape: Shape, raw: str, where: str) -> Any:
    number = text_number(shape, raw, lambda: MalformedInputFault(f"Value {raw} at {where} is not a number."))
    if number is not None:
        return number
    kind = shape.type_name
    if kind == "boolean":
        return raw.lower() == "true"
    return raw
