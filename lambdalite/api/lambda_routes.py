"""The Lambda API's REST routes (rest-json, as botocore's model says):

    /2015-03-31/functions...        the Lambda API (``api.lambda_api``), and the
    /2017-10-31/functions/...       operations AWS serves under other API versions:
    /2019-09-30/functions/...       reserved and provisioned concurrency, tags, GetAccountSettings
    /2017-03-31/tags/<arn>
    /2016-08-19/account-settings
    /2018-10-31/layers...           layer versions and their permissions (``api.layers_api``)
    /2021-10-31/functions/<name>/url[s] function URL configs (``api.function_urls``)
    /2020-04-22/code-signing-configs... code signing configs and the config a function
    /2020-06-30/functions/<name>/code-signing-config  uses (``api.code_signing_api``)
    /2019-09-25/functions/<name>/event-invoke-config[/list]  event invoke configs,
    /2014-11-13/functions/<name>/invoke-async  and InvokeAsync (``api.event_invoke_api``)
    /2024-08-31/functions/<name>/recursion-config  recursive loop detection
    /2015-03-31/event-source-mappings[/<UUID>]  event source mappings (``api.esm_api``)

Routing is a handful of prefix checks and one dict lookup rather than a
framework: Invoke is the hot path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from lambdalite.api import code_signing_api
from lambdalite.api.code_signing_api import CodeSigningApi
from lambdalite.api.esm_api import ARN_MARK as ESM_ARN_MARK
from lambdalite.api.esm_api import PREFIX as EVENT_SOURCE_MAPPINGS
from lambdalite.api.esm_api import EventSourceMappingApi
from lambdalite.api.event_invoke_api import EventInvokeApi
from lambdalite.api.function_urls import FunctionUrlApi
from lambdalite.api.lambda_api import (
    MAX_SYNC_PAYLOAD,
    ApiRequest,
    LambdaApi,
    parse_query,
    payload_too_large,
)
from lambdalite.api.layers_api import PREFIX as LAYERS
from lambdalite.api.layers_api import LayersApi
from lambdalite.api.wire import Response
from lambdalite.auth.authorize_routes import LambdaAuthorization
from lambdalite.errors import RequestTooLarge, UnknownOperation
from lambdalite.http import HttpRequest

FUNCTIONS = "/2015-03-31/functions"
TAGS = "/2017-03-31/tags/"
ACCOUNT_SETTINGS = "/2016-08-19/account-settings"
_FUNCTION_VERSIONS = {
    "/2017-10-31/functions": "2017-10-31",
    "/2019-09-30/functions": "2019-09-30",
    "/2021-10-31/functions": "2021-10-31",
    "/2019-09-25/functions": "2019-09-25",
    "/2014-11-13/functions": "2014-11-13",
    "/2024-08-31/functions": "2024-08-31",
}
"""The other API versions with function paths (reserved concurrency, function URL
configs): prefix -> version."""
_SUB_NAMED = frozenset({"aliases", "policy", "event-invoke-config"})
"""Suffixes followed by one more path parameter (an alias Name, a StatementId; ``list``)."""
MAX_CONTROL_BODY = 70167211
"""AWS's request limit for CreateFunction/UpdateFunctionCode, as it words it in its recordings
(a 50 MB zip, base64-encoded, in JSON, with some room; the zip itself is checked against 50 MB)."""
MAX_BODY = MAX_CONTROL_BODY
"""The most the HTTP server buffers for any request."""

Handler = Callable[[ApiRequest], Awaitable[Response]]
_Parsed = tuple[str, Handler, str | None, str | None]
MAX_REMEMBERED_PATHS = 10_000


PATHS = (
    FUNCTIONS,
    EVENT_SOURCE_MAPPINGS,
    *_FUNCTION_VERSIONS,
    TAGS,
    ACCOUNT_SETTINGS,
    LAYERS,
    *code_signing_api.PATHS,
)
"""The path prefixes of the Lambda API (for a request that is not signed)."""


class LambdaService:
    """The Lambda API's REST routes: ``await service.handle(request)`` -> Response;
    raises LambdaError for the front router's one error table."""

    def __init__(self, api: LambdaApi, urls: FunctionUrlApi) -> None:
        self._api = api
        self._urls = urls
        self.authorization: LambdaAuthorization | None = None
        """Under ``--auth sigv4``: checks each operation's action and resource first."""
        self._layers = LayersApi(api)
        self._code_signing = CodeSigningApi(api)
        self._mappings = EventSourceMappingApi(api.registries.mappings)
        self._parsed: dict[tuple[str, str, str], _Parsed] = {}
        """(API version, method, path after the version's prefix) -> its parse."""
        # (API version, method, has function name, suffix) -> (operation, handler)
        self._routes: dict[tuple[str, str, bool, str], tuple[str, Handler]] = {
            ("2015-03-31", *key): route for key, route in self._functions_routes(api).items()
        }
        self._routes.update(
            {
                ("2017-10-31", "PUT", True, "concurrency"): (
                    "PutFunctionConcurrency",
                    api.put_function_concurrency,
                ),
                ("2017-10-31", "DELETE", True, "concurrency"): (
                    "DeleteFunctionConcurrency",
                    api.delete_function_concurrency,
                ),
                ("2019-09-30", "GET", True, "concurrency"): (
                    "GetFunctionConcurrency",
                    api.get_function_concurrency,
                ),
                ("2019-09-30", "PUT", True, "provisioned-concurrency"): (
                    "PutProvisionedConcurrencyConfig",
                    api.put_provisioned_concurrency_config,
                ),
                # ListProvisionedConcurrencyConfigs is the same GET with ?List=ALL.
                ("2019-09-30", "GET", True, "provisioned-concurrency"): (
                    "GetProvisionedConcurrencyConfig",
                    api.get_provisioned_concurrency_config,
                ),
                ("2019-09-30", "DELETE", True, "provisioned-concurrency"): (
                    "DeleteProvisionedConcurrencyConfig",
                    api.delete_provisioned_concurrency_config,
                ),
                ("2021-10-31", "POST", True, "url"): ("CreateFunctionUrlConfig", self._urls.create),
                ("2021-10-31", "GET", True, "url"): ("GetFunctionUrlConfig", self._urls.get),
                ("2021-10-31", "PUT", True, "url"): ("UpdateFunctionUrlConfig", self._urls.update),
                ("2021-10-31", "DELETE", True, "url"): ("DeleteFunctionUrlConfig", self._urls.delete),
                ("2021-10-31", "GET", True, "urls"): ("ListFunctionUrlConfigs", self._urls.list),
                ("2024-08-31", "PUT", True, "recursion-config"): (
                    "PutFunctionRecursionConfig",
                    api.put_function_recursion_config,
                ),
                ("2024-08-31", "GET", True, "recursion-config"): (
                    "GetFunctionRecursionConfig",
                    api.get_function_recursion_config,
                ),
            }
        )
        if api.events is not None:
            self._routes.update(
                self._async_routes(EventInvokeApi(api, api.events, api.registries.event_invoke))
            )
        self._tag_routes: dict[str, tuple[str, Handler]] = {
            "POST": ("TagResource", api.tag_resource),
            "DELETE": ("UntagResource", api.untag_resource),
            "GET": ("ListTags", api.list_tags),
        }
        self._mapping_tag_routes: dict[str, tuple[str, Handler]] = {
            "POST": ("TagResource", self._mappings.tag_resource),
            "DELETE": ("UntagResource", self._mappings.untag_resource),
            "GET": ("ListTags", self._mappings.list_tags),
        }

    @staticmethod
    def _async_routes(events: EventInvokeApi) -> dict[tuple[str, str, bool, str], tuple[str, Handler]]:
        """Event invoke configs (2019-09-25) and InvokeAsync (2014-11-13)."""
        suffix = "event-invoke-config"
        return {
            ("2019-09-25", "PUT", True, suffix): ("PutFunctionEventInvokeConfig", events.put),
            ("2019-09-25", "POST", True, suffix): ("UpdateFunctionEventInvokeConfig", events.update),
            ("2019-09-25", "GET", True, suffix): ("GetFunctionEventInvokeConfig", events.get),
            ("2019-09-25", "DELETE", True, suffix): ("DeleteFunctionEventInvokeConfig", events.delete),
            ("2019-09-25", "GET", True, suffix + "/"): ("ListFunctionEventInvokeConfigs", events.list),
            ("2014-11-13", "POST", True, "invoke-async"): ("InvokeAsync", events.invoke_async),
        }

    @staticmethod
    def _functions_routes(api: LambdaApi) -> dict[tuple[str, bool, str], tuple[str, Handler]]:
        """The 2015-03-31 routes: (method, has function name, suffix) -> (operation, handler)."""
        return {
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
            ("POST", True, "policy"): ("AddPermission", api.add_permission),
            ("GET", True, "policy"): ("GetPolicy", api.get_policy),
            ("DELETE", True, "policy/"): ("RemovePermission", api.remove_permission),
        }

    def handle(self, request: HttpRequest) -> Awaitable[Response]:
        """The operation's answer, to await. Routing, authorization and the size checks
        run at the call (they raise LambdaError there); only the operation itself is
        awaited, so that Invoke's path has no coroutine of this class's own."""
        path = request.path
        if path.startswith(FUNCTIONS):
            return self._lambda(request, "2015-03-31", path[len(FUNCTIONS) :])
        for prefix, version in _FUNCTION_VERSIONS.items():
            if path.startswith(prefix):
                return self._lambda(request, version, path[len(prefix) :])
        if path.startswith(TAGS):
            return self._tags(request, path[len(TAGS) :])
        if path.startswith(EVENT_SOURCE_MAPPINGS):
            if request.body_size > MAX_CONTROL_BODY:
                raise _control_too_large("EventSourceMapping")
            rest = path[len(EVENT_SOURCE_MAPPINGS) :]
            if self.authorization is not None:
                self.authorization.check_mapping(request.method, rest.strip("/"))
            return self._mappings.handle(self._api_request(request, None), rest)
        if path == LAYERS or path.startswith(LAYERS + "/"):
            return self._layer(request, path[len(LAYERS) :])
        if path.startswith(code_signing_api.PATHS):
            return self._signing(request)
        if path.rstrip("/") == ACCOUNT_SETTINGS and request.method == "GET":
            if self.authorization is not None:
                self.authorization.check("GetAccountSettings", None, request)
            return self._api.get_account_settings(self._api_request(request, None))
        raise UnknownOperation("Unknown operation")

    def _lambda(self, request: HttpRequest, version: str, rest: str) -> Awaitable[Response]:
        key = (version, request.method, rest)
        found = self._parsed.get(key)
        if found is None:
            found = self._parse(key)
            if len(self._parsed) >= MAX_REMEMBERED_PATHS:
                self._parsed.clear()  # names are the caller's: bounded, and a full clear is rare
            self._parsed[key] = found
        operation, handler, name, sub_name = found
        if self.authorization is not None:
            self.authorization.check(operation, name, request)
        if operation == "Invoke":
            if request.body_size > MAX_SYNC_PAYLOAD:
                raise payload_too_large()
        elif request.body_size > MAX_CONTROL_BODY:
            raise _control_too_large(operation)
        return handler(self._api_request(request, name, sub_name))

    def _parse(self, key: tuple[str, str, str]) -> _Parsed:
        """(operation, handler, function name, sub-name) of a function path, or raise
        UnknownOperation. Pure, so ``_lambda`` remembers it: Invoke names the same few
        paths thousands of times a second."""
        version, method, rest = key
        # rest is "", "/", "/{name}", "/{name}/{suffix}", "/{name}/aliases/{alias}"
        # or "/{name}/policy/{statement id}"
        parts = [part for part in rest.split("/") if part]
        sub_name = None
        if len(parts) == 3 and parts[1] in _SUB_NAMED:
            sub_name = parts.pop()
            parts[1] += "/"
        if len(parts) > 2:
            raise UnknownOperation("Unknown operation")
        name = parts[0] if parts else None
        suffix = parts[1] if len(parts) == 2 else ""
        route = self._routes.get((version, method, name is not None, suffix))
        if route is None:
            raise UnknownOperation("Unknown operation")
        return route[0], route[1], name, sub_name

    async def _layer(self, request: HttpRequest, rest: str) -> Response:
        operation, handler, parts = self._layers.route(request.method, rest)
        if self.authorization is not None:
            self.authorization.check_layer(operation, parts[0] if parts else None)
        if request.body_size > MAX_CONTROL_BODY:
            raise _control_too_large(operation)
        return await handler(self._api_request(request, parts[0] if parts else None), parts)

    async def _signing(self, request: HttpRequest) -> Response:
        operation, handler, parts = self._code_signing.route(request.method, request.path)
        if self.authorization is not None:
            self.authorization.check(operation, None, request)
        if request.body_size > MAX_CONTROL_BODY:
            raise _control_too_large(operation)
        return await handler(self._api_request(request, None), parts)

    async def _tags(self, request: HttpRequest, resource: str) -> Response:
        route = self._tag_routes.get(request.method)
        if ESM_ARN_MARK in resource:
            route = self._mapping_tag_routes.get(request.method)
        if route is None or not resource:
            raise UnknownOperation("Unknown operation")
        operation, handler = route
        if self.authorization is not None:
            self.authorization.check(operation, resource, request)
        if request.body_size > MAX_CONTROL_BODY:
            raise _control_too_large(operation)
        return await handler(self._api_request(request, resource))

    @staticmethod
    def _api_request(request: HttpRequest, name: str | None, sub_name: str | None = None) -> ApiRequest:
        return ApiRequest(
            request.method, name, parse_query(request.query), request.headers, request.body, sub_name
        )


def _control_too_large(operation: str) -> RequestTooLarge:
    return RequestTooLarge(
        f"Request must be smaller than {MAX_CONTROL_BODY} bytes for the {operation} operation"
    )
