"""The protocol front of one service: picks the wire protocol of each request, parses
it into the operation's input, calls the typed handler and writes its answer or
its ServiceFault back in the same protocol.

A request is
- awsJson when it carries ``X-Amz-Target: <targetPrefix>.<Operation>``;
- awsQuery when its form parameters (a ``application/x-www-form-urlencoded`` POST
  body, or the query string) name an ``Action``.

Handlers are the methods of one object named as botocore names operations in Python
(``SendMessage`` -> ``send_message``): ``async def send_message(self, request: dict)
-> dict``. What a handler needs to know about the HTTP request (the Host it was sent
to, the request id) it reads from ``current_call()``.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from botocore import xform_name
from botocore.model import OperationModel, ServiceModel

from lambdalite.http.message import HttpRequest, Response
from lambdalite.protocol import json as json_protocol
from lambdalite.protocol import query as query_protocol
from lambdalite.protocol.errors import (
    MalformedInputFault,
    ServiceFault,
    UnknownOperationFault,
    internal_fault,
)
from lambdalite.protocol.model import operation

__all__ = ["Call", "ProtocolFront", "calling", "current_call"]

log = logging.getLogger("lambdalite.protocol")

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Authorize = Callable[[str, dict[str, Any]], None]
"""``authorize(operation, input)``: raises a ServiceFault when the caller may not."""

_FORM = b"application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Call:
    """The request behind the operation a handler is serving."""

    operation: str
    protocol: str
    """``json`` or ``query``."""
    host: str
    """The Host header as sent (``127.0.0.1:9001``): services build URLs from it."""
    request_id: str
    client: str = ""
    """The caller's address (``aws:SourceIp``); empty for a call made inside lambdalite."""


_CALL: contextvars.ContextVar[Call] = contextvars.ContextVar("lambdalite_protocol_call")


def current_call() -> Call:
    """The call being served; only inside a handler called by a ProtocolFront (or
    inside ``calling``)."""
    return _CALL.get()


@contextlib.contextmanager
def calling(call: Call) -> Iterator[None]:
    """Serve ``call`` in this block: how a front (or a test, or a poller calling a
    handler directly) tells handlers about the request."""
    token = _CALL.set(call)
    try:
        yield
    finally:
        _CALL.reset(token)


class ProtocolFront:
    """``await front.handle(request)`` -> Response, for one service; never raises."""

    def __init__(
        self,
        model: ServiceModel,
        handlers: object,
        *,
        default_host: str = "localhost",
        implied: Callable[[HttpRequest], dict[str, str]] | None = None,
        prefixed_errors: bool = True,
        authorize: Authorize | None = None,
    ) -> None:
        """``implied``: query parameters a request implies without sending them (SQS's
        queue URL as the request path); the parameters sent win. ``prefixed_errors``:
        see ``json.serialize_error``. ``authorize``: called with each parsed request
        before its handler (inside ``calling``); its ServiceFault is the answer."""
        self.model = model
        self._authorize = authorize
        self._prefixed_errors = prefixed_errors
        self._implied = implied
        self._handlers = handlers
        self._default_host = default_host
        self._target_prefix = (model.metadata.get("targetPrefix") or "").encode()
        self._json_type = json_protocol.content_type(model)
        self._ops: dict[str, tuple[OperationModel, Handler]] = {}
        self._json_inputs: dict[str, json_protocol.Converter] = {}
        for name in model.operation_names:
            method = getattr(handlers, xform_name(name), None)
            op = operation(model, name)
            if method is not None and op is not None:
                self._ops[name] = (op, method)
                self._json_inputs[name] = json_protocol.compile_input(op)

    def handles(self, request: HttpRequest) -> bool:
        """True when ``request`` is addressed to this service by target or by Action."""
        target = request.headers.get(b"x-amz-target")
        if target is not None:
            return target.startswith(self._target_prefix + b".")
        try:
            return "Action" in self._form(request)
        except ServiceFault:
            return False

    async def handle(self, request: HttpRequest) -> Response:
        request_id = str(uuid.uuid4())
        target = request.headers.get(b"x-amz-target")
        if target is not None:
            return await self._json(request, target.decode("latin-1"), request_id)
        return await self._query(request, request_id)

    async def _json(self, request: HttpRequest, target: str, request_id: str) -> Response:
        prefix, _, name = target.partition(".")
        try:
            if prefix.encode() != self._target_prefix or name not in self._ops:
                raise UnknownOperationFault(f"Unknown operation {target}")
            op, method = self._ops[name]
            parsed = json_protocol.parse(op, request.body, self._json_inputs[name])
            result = await self._call(
                method, parsed, Call(name, "json", self._host(request), request_id, request.client)
            )
            body = json_protocol.serialize(op, result)
            return Response(200, body, [(b"x-amzn-requestid", request_id.encode())], self._json_type)
        except ServiceFault as fault:
            status, headers, body = json_protocol.serialize_error(
                self.model, fault, prefixed=self._prefixed_errors
            )
            headers.append((b"x-amzn-requestid", request_id.encode()))
            return Response(status, body, headers, self._json_type)

    async def _query(self, request: HttpRequest, request_id: str) -> Response:
        try:
            params = self._form(request)
            if self._implied is not None:
                params = self._implied(request) | params
            name = params.get("Action", "")
            if name not in self._ops:
                message = (
                    f"The action {name} is not valid for this web service." if name else "No action specified"
                )
                raise UnknownOperationFault(message, query=True)
            op, method = self._ops[name]
            parsed = query_protocol.parse(op, params)
            result = await self._call(
                method, parsed, Call(name, "query", self._host(request), request_id, request.client)
            )
            body = query_protocol.serialize(self.model, op, result, request_id)
            return Response(
                200, body, [(b"x-amzn-requestid", request_id.encode())], query_protocol.CONTENT_TYPE
            )
        except ServiceFault as fault:
            status, body = query_protocol.serialize_error(fault, request_id)
            headers = [(b"x-amzn-requestid", request_id.encode())]
            return Response(status, body, headers, query_protocol.CONTENT_TYPE)

    async def _call(self, method: Handler, parsed: dict[str, Any], call: Call) -> dict[str, Any]:
        with calling(call):
            if self._authorize is not None:
                self._authorize(call.operation, parsed)
            try:
                return await method(parsed)
            except ServiceFault:
                raise
            except Exception as exc:
                log.exception("%s %s failed", self.model.service_name, call.operation)
                raise internal_fault() from exc

    def _host(self, request: HttpRequest) -> str:
        host = request.headers.get(b"host")
        return host.decode("latin-1") if host else self._default_host

    @staticmethod
    def _form(request: HttpRequest) -> dict[str, str]:
        """The form parameters: the query string's, then a form body's over them."""
        params: dict[str, str] = {}
        try:
            if request.query:
                params.update(parse_qsl(request.query.decode("utf-8"), keep_blank_values=True))
            content_type = request.headers.get(b"content-type", b"")
            if request.body and (content_type.startswith(_FORM) or not content_type):
                params.update(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError as exc:
            raise MalformedInputFault("The query string is not UTF-8", query=True) from exc
        return params
