"""The one ASGI application behind lambdalite's port.

Routing is a handful of prefix checks rather than a framework: Invoke is the
hot path and every microsecond spent matching routes is spent on every call.

    /2015-03-31/functions...        the Lambda API (``api.lambda_api``)
    POST / with X-Amz-Target Logs_* the CloudWatch Logs API (``api.logs_api``)
    /_lambdalite/code/<sha>.zip     code packages, for GetFunction's Code.Location
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable

from lambdalite.api import logs_api
from lambdalite.api.lambda_api import (
    CODE_PATH,
    MAX_SYNC_PAYLOAD,
    ApiRequest,
    LambdaApi,
    parse_query,
    payload_too_large,
)
from lambdalite.api.wire import Receive, Response, Scope, Send, error_response, read_body, send_response
from lambdalite.errors import LambdaError, RequestTooLarge, ServiceError, UnknownOperation
from lambdalite.observe.logs import LogStore
from lambdalite.store.code import CodeStore

log = logging.getLogger("lambdalite.api")

FUNCTIONS = "/2015-03-31/functions"
MAX_CONTROL_BODY = 69905067
"""AWS's request limit for CreateFunction/UpdateFunctionCode: a 50 MB zip, base64-encoded, in JSON."""
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")

Handler = Callable[[ApiRequest], Awaitable[Response]]


class LambdaliteApp:
    """Raw ASGI: ``await app(scope, receive, send)``."""

    def __init__(self, api: LambdaApi, code: CodeStore, logs: LogStore, region: str, account_id: str) -> None:
        self._api = api
        self._region = region
        self._account_id = account_id
        self._code = code
        self._logs = logs
        # (method, has function name, suffix) -> handler
        self._routes: dict[tuple[str, bool, str], tuple[str, Handler]] = {
            ("POST", False, ""): ("CreateFunction", api.create_function),
            ("GET", False, ""): ("ListFunctions", api.list_functions),
            ("GET", True, ""): ("GetFunction", api.get_function),
            ("DELETE", True, ""): ("DeleteFunction", api.delete_function),
            ("GET", True, "configuration"): ("GetFunctionConfiguration", api.get_function_configuration),
            ("PUT", True, "configuration"): (
                "UpdateFunctionConfiguration",
                api.update_function_configuration,
            ),
            ("PUT", True, "code"): ("UpdateFunctionCode", api.update_function_code),
            ("POST", True, "invocations"): ("Invoke", api.invoke),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            response = await self._handle(scope, receive)
        except LambdaError as error:
            response = error_response(error)
        except Exception:
            log.exception("unhandled error serving %s %s", scope.get("method"), scope.get("path"))
            response = error_response(ServiceError("An internal error occurred."))
        await send_response(send, response)

    async def _handle(self, scope: Scope, receive: Receive) -> Response:
        path: str = scope["path"]
        method: str = scope["method"]
        if path.startswith(FUNCTIONS):
            return await self._lambda(method, path[len(FUNCTIONS) :], scope, receive)
        headers = dict(scope["headers"])
        target = headers.get(b"x-amz-target", b"")
        if target.startswith(b"Logs_20140328.") and method == "POST":
            body = await read_body(receive, MAX_SYNC_PAYLOAD, payload_too_large)
            status, response_headers, payload = await logs_api.handle(
                target.split(b".", 1)[1].decode("latin-1"),
                body,
                self._logs,
                region=self._region,
                account_id=self._account_id,
            )
            return Response(status, payload, response_headers, content_type=b"application/x-amz-json-1.1")
        if path.startswith(CODE_PATH) and method == "GET":
            return await self._code_package(path[len(CODE_PATH) :])
        raise UnknownOperation("Unknown operation")

    async def _lambda(self, method: str, rest: str, scope: Scope, receive: Receive) -> Response:
        # rest is "", "/", "/{name}" or "/{name}/{suffix}"
        parts = [part for part in rest.split("/") if part]
        if len(parts) > 2:
            raise UnknownOperation("Unknown operation")
        name = parts[0] if parts else None
        suffix = parts[1] if len(parts) == 2 else ""
        route = self._routes.get((method, name is not None, suffix))
        if route is None:
            raise UnknownOperation("Unknown operation")
        operation, handler = route
        if operation == "Invoke":
            body = await read_body(receive, MAX_SYNC_PAYLOAD, payload_too_large)
        else:
            body = await read_body(receive, MAX_CONTROL_BODY, lambda: _control_too_large(operation))
        request = ApiRequest(
            method, name, parse_query(scope.get("query_string", b"")), dict(scope["headers"]), body
        )
        return await handler(request)

    async def _code_package(self, file_name: str) -> Response:
        sha = file_name.removesuffix(".zip")
        path = self._code.zip_path(sha) if _SHA256_HEX.match(sha) else None
        if path is None or not path.is_file():
            raise UnknownOperation("Unknown operation")
        data = await asyncio.to_thread(path.read_bytes)
        return Response(200, data, content_type=b"application/zip")


def _control_too_large(operation: str) -> RequestTooLarge:
    return RequestTooLarge(
        f"Request must be smaller than {MAX_CONTROL_BODY} bytes for the {operation} operation"
    )


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
