"""Routes every request on lambdalite's port to the surface that serves it.

Routing is a handful of prefix checks rather than a framework: Invoke is the
hot path and every microsecond spent matching routes is spent on every call.

    /2015-03-31/functions...        the Lambda API (``api.lambda_api``)
    POST / with X-Amz-Target Logs_* the CloudWatch Logs API (``api.logs_api``)
    /_lambdalite/code/<sha>.zip     code packages, for GetFunction's Code.Location

``Router.handle`` never raises: LambdaErrors become AWS-shaped responses
through ``wire.error_response``; anything else is logged and answered as a
ServiceException.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable

from lambdalite.api import logs_api
from lambdalite.api.http_server import HttpRequest
from lambdalite.api.lambda_api import (
    CODE_PATH,
    MAX_SYNC_PAYLOAD,
    ApiRequest,
    LambdaApi,
    parse_query,
    payload_too_large,
)
from lambdalite.api.wire import Response, error_response
from lambdalite.errors import LambdaError, RequestTooLarge, ServiceError, UnknownOperation
from lambdalite.observe.logs import LogStore
from lambdalite.store.code import CodeStore

log = logging.getLogger("lambdalite.api")

FUNCTIONS = "/2015-03-31/functions"
MAX_CONTROL_BODY = 69905067
"""AWS's request limit for CreateFunction/UpdateFunctionCode: a 50 MB zip, base64-encoded, in JSON."""
MAX_BODY = MAX_CONTROL_BODY
"""The most the HTTP server buffers for any request."""
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_LOGS_TARGET = b"Logs_20140328."

Handler = Callable[[ApiRequest], Awaitable[Response]]


class Router:
    """``await router.handle(request)`` -> Response, for every HTTP surface."""

    def __init__(self, api: LambdaApi, code: CodeStore, logs: LogStore, region: str, account_id: str) -> None:
        self._code = code
        self._logs = logs
        self._region = region
        self._account_id = account_id
        # (method, has function name, suffix) -> (operation, handler)
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
            ("POST", True, "versions"): ("PublishVersion", api.publish_version),
            ("GET", True, "versions"): ("ListVersionsByFunction", api.list_versions_by_function),
            ("POST", True, "aliases"): ("CreateAlias", api.create_alias),
            ("GET", True, "aliases"): ("ListAliases", api.list_aliases),
            ("GET", True, "aliases/"): ("GetAlias", api.get_alias),
            ("PUT", True, "aliases/"): ("UpdateAlias", api.update_alias),
            ("DELETE", True, "aliases/"): ("DeleteAlias", api.delete_alias),
        }

    async def handle(self, request: HttpRequest) -> Response:
        try:
            return await self._route(request)
        except LambdaError as error:
            return error_response(error)
        except Exception:
            log.exception("unhandled error serving %s %s", request.method, request.path)
            return error_response(ServiceError("An internal error occurred."))

    async def _route(self, request: HttpRequest) -> Response:
        path = request.path
        if path.startswith(FUNCTIONS):
            return await self._lambda(request, path[len(FUNCTIONS) :])
        target = request.headers.get(b"x-amz-target", b"")
        if target.startswith(_LOGS_TARGET) and request.method == "POST":
            if request.body_size > MAX_SYNC_PAYLOAD:
                raise payload_too_large()
            status, headers, payload = await logs_api.handle(
                target[len(_LOGS_TARGET) :].decode("latin-1"),
                request.body,
                self._logs,
                region=self._region,
                account_id=self._account_id,
            )
            return Response(status, payload, headers, content_type=b"application/x-amz-json-1.1")
        if path.startswith(CODE_PATH) and request.method == "GET":
            return await self._code_package(path[len(CODE_PATH) :])
        raise UnknownOperation("Unknown operation")

    async def _lambda(self, request: HttpRequest, rest: str) -> Response:
        # rest is "", "/", "/{name}", "/{name}/{suffix}" or "/{name}/aliases/{alias}"
        parts = [part for part in rest.split("/") if part]
        sub_name = None
        if len(parts) == 3 and parts[1] == "aliases":
            sub_name = parts.pop()
            parts[1] = "aliases/"
        if len(parts) > 2:
            raise UnknownOperation("Unknown operation")
        name = parts[0] if parts else None
        suffix = parts[1] if len(parts) == 2 else ""
        route = self._routes.get((request.method, name is not None, suffix))
        if route is None:
            raise UnknownOperation("Unknown operation")
        operation, handler = route
        if operation == "Invoke":
            if request.body_size > MAX_SYNC_PAYLOAD:
                raise payload_too_large()
        elif request.body_size > MAX_CONTROL_BODY:
            raise _control_too_large(operation)
        return await handler(
            ApiRequest(
                request.method, name, parse_query(request.query), request.headers, request.body, sub_name
            )
        )

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
