"""Asynchronous invocation on the Lambda API: Invoke with ``InvocationType=Event``,
the legacy InvokeAsync, the event invoke config operations (2019-09-25), and
lambdalite's own backlog view (``GET /_lambdalite/async``).

Invoke (Event) answers 202 with an empty body and ``x-amzn-RequestId`` once
the event is durable in the queue, never before; InvokeAsync answers 202 with
``{"Status": 202}``. Payload limits are AWS's: 1 MB (1048576 bytes) for an
Event invoke, 256 KB (262144 bytes) for InvokeAsync.
"""

from __future__ import annotations

from typing import Any

from lambdalite.api.async_accept import accept_event
from lambdalite.api.lambda_api import ApiRequest, LambdaApi, _decode_marker, _encode_marker
from lambdalite.api.wire import Response, json_response
from lambdalite.control import validation
from lambdalite.control.event_invoke_registry import EventInvokeRegistry
from lambdalite.errors import UnknownOperation
from lambdalite.events.dispatcher import AsyncInvocations
from lambdalite.http import HttpRequest

BACKLOG_PATH = "/_lambdalite/async"
_SHAPE = "FunctionName"


class EventInvokeApi:
    """Handlers of the event invoke config operations, InvokeAsync and the backlog view."""

    def __init__(self, api: LambdaApi, events: AsyncInvocations, configs: EventInvokeRegistry) -> None:
        self._api = api
        self._events = events
        self._configs = configs
        self._arn_prefix = api.settings.arn_prefix()

    def _target(self, request: ApiRequest) -> tuple[str, str | None]:
        return self._api.resolve_name(request, _SHAPE)

    async def put(self, request: ApiRequest) -> Response:
        body = validation.checked_body(request.json(), "PutFunctionEventInvokeConfig")
        name, qualifier = self._target(request)
        return json_response(200, self._configs.put(name, qualifier, body).body(self._arn_prefix))

    async def update(self, request: ApiRequest) -> Response:
        body = validation.checked_body(request.json(), "UpdateFunctionEventInvokeConfig")
        name, qualifier = self._target(request)
        return json_response(200, self._configs.update(name, qualifier, body).body(self._arn_prefix))

    async def get(self, request: ApiRequest) -> Response:
        name, qualifier = self._target(request)
        return json_response(200, self._configs.get(name, qualifier).body(self._arn_prefix))

    async def delete(self, request: ApiRequest) -> Response:
        name, qualifier = self._target(request)
        self._configs.delete(name, qualifier)
        return Response(204)

    async def list(self, request: ApiRequest) -> Response:
        if request.sub_name != "list":
            raise UnknownOperation("Unknown operation")
        name, _ = self._target(request)
        max_items, marker = validation.validate_list_functions(
            request.query_value("MaxItems"), request.query_value("Marker")
        )
        configs, next_marker = self._configs.list(name, _decode_marker(marker), max_items)
        body: dict[str, Any] = {"FunctionEventInvokeConfigs": [c.body(self._arn_prefix) for c in configs]}
        if next_marker is not None:
            body["NextMarker"] = _encode_marker(next_marker)
        return json_response(200, body)

    async def invoke_async(self, request: ApiRequest) -> Response:
        name, qualifier = self._api.resolve_name(request, "NamespacedFunctionName")
        self._api.registry.resolve(name, qualifier)
        payload = request.body or b"{}"
        request_id = await accept_event(self._events, name, qualifier, payload, "InvokeAsync")
        return json_response(202, {"Status": 202}, [(b"x-amzn-requestid", request_id.encode())])


class BacklogService:
    """``GET /_lambdalite/async[/NAME]``: the asynchronous backlog, per function
    (``{"Functions": {name: {"Waiting": n, "Retrying": n, "Running": n,
    "Delivered": n, "Failed": n, "DeadLettered": n, "DestinationErrors": n,
    "LastError": "..."}}}``)."""

    def __init__(self, api: LambdaApi) -> None:
        self._api = api

    async def handle(self, request: HttpRequest) -> Response:
        events = self._api.events
        rest = request.path[len(BACKLOG_PATH) :].strip("/")
        if request.method != "GET" or events is None or "/" in rest:
            raise UnknownOperation("Unknown operation")
        backlog = await events.backlog()
        if rest:
            backlog = {rest: backlog[rest]} if rest in backlog else {}
        return json_response(200, {"Functions": {name: b.body() for name, b in backlog.items()}})
