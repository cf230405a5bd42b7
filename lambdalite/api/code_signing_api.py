"""The code signing API: configs (2020-04-22) and the config a function uses (2020-06-30).

    POST   /2020-04-22/code-signing-configs                         CreateCodeSigningConfig
    GET    /2020-04-22/code-signing-configs                         ListCodeSigningConfigs
    GET    /2020-04-22/code-signing-configs/<arn>                   GetCodeSigningConfig
    PUT    /2020-04-22/code-signing-configs/<arn>                   UpdateCodeSigningConfig
    DELETE /2020-04-22/code-signing-configs/<arn>                   DeleteCodeSigningConfig
    GET    /2020-04-22/code-signing-configs/<arn>/functions         ListFunctionsByCodeSigningConfig
    PUT    /2020-06-30/functions/<name>/code-signing-config         PutFunctionCodeSigningConfig
    GET    /2020-06-30/functions/<name>/code-signing-config         GetFunctionCodeSigningConfig
    DELETE /2020-06-30/functions/<name>/code-signing-config         DeleteFunctionCodeSigningConfig

``<arn>`` arrives percent-encoded (botocore quotes the colons); the registry decodes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from lambdalite.api.lambda_api import ApiRequest, LambdaApi
from lambdalite.api.wire import Response, json_response
from lambdalite.control import validation
from lambdalite.errors import InvalidParameterValue, UnknownOperation

CONFIGS = "/2020-04-22/code-signing-configs"
FUNCTIONS = "/2020-06-30/functions"
FUNCTION_SUFFIX = "code-signing-config"
PATHS = (CONFIGS, FUNCTIONS)
QUALIFIED = "Code signing configurations apply to a function, not to one of its versions or aliases."

SigningHandler = Callable[[ApiRequest, list[str]], Awaitable[Response]]


class CodeSigningApi:
    """Operation handlers over the code signing registry."""

    def __init__(self, api: LambdaApi) -> None:
        self._api = api
        self._signing = api.registries.code_signing

    def route(self, method: str, path: str) -> tuple[str, SigningHandler, list[str]]:
        """(operation, handler, path parameters) for a path below CONFIGS or FUNCTIONS;
        UnknownOperation for anything else."""
        routes: dict[tuple[str, ...], tuple[str, SigningHandler]]
        if path == CONFIGS or path.startswith(CONFIGS + "/"):
            parts = [part for part in path[len(CONFIGS) :].split("/") if part]
            routes = {
                ("POST",): ("CreateCodeSigningConfig", self.create),
                ("GET",): ("ListCodeSigningConfigs", self.list_configs),
                ("GET", "arn"): ("GetCodeSigningConfig", self.get),
                ("PUT", "arn"): ("UpdateCodeSigningConfig", self.update),
                ("DELETE", "arn"): ("DeleteCodeSigningConfig", self.delete),
                ("GET", "arn", "functions"): ("ListFunctionsByCodeSigningConfig", self.list_functions),
            }
            key: tuple[str, ...] = (method, *(["arn"] if parts else []), *parts[1:])
        else:
            parts = [part for part in path[len(FUNCTIONS) :].split("/") if part]
            routes = {
                ("PUT", FUNCTION_SUFFIX): ("PutFunctionCodeSigningConfig", self.put_function),
                ("GET", FUNCTION_SUFFIX): ("GetFunctionCodeSigningConfig", self.get_function),
                ("DELETE", FUNCTION_SUFFIX): ("DeleteFunctionCodeSigningConfig", self.delete_function),
            }
            key = (method, *parts[1:]) if len(parts) == 2 else (method, "")
        route = routes.get(key)
        if route is None:
            raise UnknownOperation("Unknown operation")
        operation, handler = route
        return operation, handler, parts

    # -- configs ------------------------------------------------------------------
    async def create(self, request: ApiRequest, parts: list[str]) -> Response:
        config = self._signing.create(request.json())
        return json_response(201, {"CodeSigningConfig": config.body()})

    async def get(self, request: ApiRequest, parts: list[str]) -> Response:
        return json_response(200, {"CodeSigningConfig": self._signing.get(parts[0]).body()})

    async def update(self, request: ApiRequest, parts: list[str]) -> Response:
        config = self._signing.update(parts[0], request.json())
        return json_response(200, {"CodeSigningConfig": config.body()})

    async def delete(self, request: ApiRequest, parts: list[str]) -> Response:
        self._signing.delete(parts[0])
        return Response(204)

    async def list_configs(self, request: ApiRequest, parts: list[str]) -> Response:
        max_items, marker = _paging(request)
        configs, next_marker = self._signing.list_configs(marker, max_items)
        body: dict[str, Any] = {"CodeSigningConfigs": [config.body() for config in configs]}
        if next_marker is not None:
            body["NextMarker"] = next_marker
        return json_response(200, body)

    async def list_functions(self, request: ApiRequest, parts: list[str]) -> Response:
        max_items, marker = _paging(request)
        arns, next_marker = self._signing.functions_using(parts[0], marker, max_items)
        body: dict[str, Any] = {"FunctionArns": arns}
        if next_marker is not None:
            body["NextMarker"] = next_marker
        return json_response(200, body)

    # -- a function's config ----------------------------------------------------------
    def _function(self, request: ApiRequest, parts: list[str]) -> str:
        request.path_name = parts[0]
        name, qualifier = self._api.resolve_name(request, "NamespacedFunctionName")
        if qualifier is not None:
            raise InvalidParameterValue(QUALIFIED)
        return name

    async def put_function(self, request: ApiRequest, parts: list[str]) -> Response:
        body = validation.checked_body(request.json(), "PutFunctionCodeSigningConfig")
        name = self._function(request, parts)
        config = self._signing.put_function_config(name, body["CodeSigningConfigArn"])
        return json_response(200, {"CodeSigningConfigArn": config.arn, "FunctionName": name})

    async def get_function(self, request: ApiRequest, parts: list[str]) -> Response:
        name = self._function(request, parts)
        config = self._signing.function_config(name)
        # AWS answers 200 with an empty body for a function without a config.
        body = {} if config is None else {"CodeSigningConfigArn": config.arn, "FunctionName": name}
        return json_response(200, body)

    async def delete_function(self, request: ApiRequest, parts: list[str]) -> Response:
        self._signing.delete_function_config(self._function(request, parts))
        return Response(204)


def _paging(request: ApiRequest) -> tuple[int, str | None]:
    return validation.validate_list_functions(request.query_value("MaxItems"), request.query_value("Marker"))
