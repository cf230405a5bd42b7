"""The Lambda REST API (2015-03-31): control-plane operations and Invoke.

Handlers parse at the edge (``control.validation``) and raise ``LambdaError``;
they never build error JSON. Invoke is kept lean: it is the hot path.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson

from lambdalite.api.async_accept import accept_event
from lambdalite.api.code_links import CodeLinks
from lambdalite.api.json_errors import describe
from lambdalite.api.wire import Headers, Response, json_response
from lambdalite.config import Settings
from lambdalite.control import aliases, permissions, service_model, tags, validation
from lambdalite.control.layers import LayerRegistry
from lambdalite.control.naming import (
    FunctionRef,
    check_creatable,
    check_qualifier,
    check_reachable,
    check_region_and_account,
    parse_function_ref,
)
from lambdalite.control.registries import Registries
from lambdalite.control.registry import FunctionRegistry
from lambdalite.dataplane.invoker import Invoker
from lambdalite.dataplane.limiter import QUALIFIED_CONCURRENCY
from lambdalite.errors import (
    InvalidParameterValue,
    InvalidRequestContent,
    RequestTooLarge,
)
from lambdalite.events import lineage
from lambdalite.events.dispatcher import AsyncInvocations
from lambdalite.models import (
    LATEST,
    Alias,
    FunctionConfig,
    LayerRef,
    ProvisionedConfig,
    new_request_id,
)
from lambdalite.store.code import CodePackages

MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
"""AWS's limit on a synchronous invocation's request payload: 6291456 bytes."""
MAX_REMEMBERED_NAMES = 10_000
TOTAL_CODE_SIZE_LIMIT = 80_530_636_800
"""AWS's default storage quota for all deployment packages and layers: 75 GB."""
CODE_SIZE_UNZIPPED_LIMIT = 262_144_000
CODE_SIZE_ZIPPED_LIMIT = 52_428_800
_QUALIFIER_SHAPE = service_model.member_shape("GetFunctionRequest", "Qualifier").name


def payload_too_large() -> RequestTooLarge:
    return RequestTooLarge(
        f"Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for the InvokeFunction operation"
    )


@dataclass(slots=True)
class ApiRequest:
    method: str
    path_name: str | None
    """The FunctionName path parameter, as sent (name, ARN or partial ARN)."""
    query: dict[str, list[str]]
    headers: dict[bytes, bytes]
    body: bytes
    sub_name: str | None = None
    """The path parameter after the function's (an alias Name, a StatementId), if the route has one."""

    def query_value(self, key: str) -> str | None:
        values = self.query.get(key)
        return values[0] if values else None

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            value = orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequestContent(
                f"Could not parse request body into json: {describe(self.body)}"
            ) from exc
        if not isinstance(value, dict):
            raise InvalidRequestContent("Could not parse request body into json: expected a JSON object")
        return value


def parse_query(raw: bytes) -> dict[str, list[str]]:
    return parse_qs(raw.decode("latin-1"), keep_blank_values=True) if raw else {}


class LambdaApi:
    """Operation handlers over the registry, the code store and the invoker."""

    def __init__(
        self,
        settings: Settings,
        registries: Registries,
        code: CodePackages,
        invoker: Invoker,
        events: AsyncInvocations | None = None,
        code_links: CodeLinks | None = None,
    ) -> None:
        """``events``: the asynchronous invocation service (None: Event invokes are refused).
        ``code_links``: how Code.Location links are signed (None: plain, unsigned links)."""
        self._settings = settings
        self.code_links = code_links or CodeLinks(None)
        self.events = events
        self._registries = registries
        self._registry = registries.functions
        self._code = code
        self._invoker = invoker
        self._layers = registries.layers
        self._tags = registries.tags
        self._policies = registries.policies
        self._concurrency = registries.concurrency
        self._arn_prefix = settings.arn_prefix()
        self._refs: dict[tuple[str, str, str | None], tuple[str, str | None]] = {}
        """(path name, shape, query Qualifier) -> (name, qualifier), for names that passed."""

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def registries(self) -> Registries:
        return self._registries

    @property
    def registry(self) -> FunctionRegistry:
        return self._registry

    @property
    def invoker(self) -> Invoker:
        """The one way to run a function (function URLs share it)."""
        return self._invoker

    @property
    def layers(self) -> LayerRegistry:
        return self._layers

    @property
    def code(self) -> CodePackages:
        return self._code

    def resolve_name(self, request: ApiRequest, shape: str) -> tuple[str, str | None]:
        """(name, qualifier) from the path, for handlers outside this class (function URLs)."""
        return self._resolve(request, shape)

    # -- naming -------------------------------------------------------------
    def _resolve(self, request: ApiRequest, shape: str = "NamespacedFunctionName") -> tuple[str, str | None]:
        """(name, qualifier) from the path; ``shape`` is the operation's
        FunctionName shape in the service model."""
        raw = request.path_name or ""
        query_qualifier = request.query_value("Qualifier")
        key = (raw, shape, query_qualifier)
        resolved = self._refs.get(key)
        if resolved is None:
            # AWS reports a bad qualifier and a bad name together, in one ValidationException.
            validation.validate_function_name(raw, shape, query_qualifier, _QUALIFIER_SHAPE)
            ref = parse_function_ref(raw)
            check_reachable(ref, self._settings.region, self._settings.account_id, self._arn_prefix)
            resolved = (ref.name, check_qualifier(ref, query_qualifier, self._arn_prefix))
            # Names that passed are remembered: Invoke resolves the same few names
            # thousands of times a second, and the checks are pure.
            if len(self._refs) >= MAX_REMEMBERED_NAMES:
                self._refs.clear()
            self._refs[key] = resolved
        return resolved

    def _alias_name(self, request: ApiRequest) -> str:
        name = request.sub_name or ""
        validation.validate_value(name, "Alias", "name")
        return name

    def _config(self, config: FunctionConfig, qualifier: str | None = None) -> dict[str, Any]:
        return config.configuration(self._arn_prefix, qualifier)

    def _alias(self, alias: Alias) -> dict[str, Any]:
        return alias.configuration(self._arn_prefix)

    # -- control plane ------------------------------------------------------
    async def create_function(self, request: ApiRequest) -> Response:
        body = request.json()
        parsed = validation.parse_create_function(body)
        check_creatable(
            FunctionRef(parsed.name, None, parsed.region, parsed.account),
            self._settings.region,
            self._settings.account_id,
        )
        settings = parsed.settings
        if parsed.layer_arns:
            settings = dataclasses.replace(
                settings, layers=self._layers.resolve_for_function(parsed.layer_arns)
            )
        self._registry.ensure_absent(parsed.name)
        tags.check_count(parsed.tags)
        signing = self._registries.code_signing
        signing_config = signing.deployment_config(parsed.name, body.get("CodeSigningConfigArn"))
        await asyncio.to_thread(signing.check_package, parsed.name, parsed.zip_bytes, signing_config)
        stored = await asyncio.to_thread(self._code.put, parsed.zip_bytes, _unzipped(settings.layers))
        # Checked again after the await: another request may have created it meanwhile,
        # and its tags must not be overwritten by ours.
        self._registry.ensure_absent(parsed.name)
        with self._tags.tagging_new(parsed.name, parsed.tags):
            # With Publish, AWS answers with version 1's configuration under the unqualified ARN.
            config = self._registry.create(parsed.name, settings, stored, publish=parsed.publish)
        signing.attach_new(parsed.name, signing_config)
        return json_response(201, self._config(config))

    async def get_function(self, request: ApiRequest) -> Response:
        name, qualifier = self._resolve(request)
        config = self._registry.get(name, qualifier)
        host = (
            request.headers.get(b"host", b"").decode("latin-1")
            or f"{self._settings.host}:{self._settings.port}"
        )
        location = self.code_links.url(f"{self._settings.scheme}://{host}", config.code_sha256)
        body: dict[str, Any] = {
            "Configuration": self._config(config, qualifier),
            "Code": {"RepositoryType": "S3", "Location": location},
        }
        function_tags = self._tags.tags(name)
        if function_tags:
            body["Tags"] = dict(function_tags)
        reserved = self._concurrency.reserved_concurrency(name)
        if reserved is not None:
            body["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
        return json_response(200, body)

    async def get_function_configuration(self, request: ApiRequest) -> Response:
        name, qualifier = self._resolve(request)
        return json_response(200, self._config(self._registry.get(name, qualifier), qualifier))

    async def list_functions(self, request: ApiRequest) -> Response:
        max_items, marker = validation.validate_list_functions(
            request.query_value("MaxItems"), request.query_value("Marker")
        )
        function_version = request.query_value("FunctionVersion")
        if function_version is not None:
            validation.validate_value(function_version, "FunctionVersion", "functionVersion")
            # ALL: every version, each under its qualified ARN ($LATEST included).
            functions, next_marker = self._registry.list_all_versions(_decode_marker(marker), max_items)
            items = [
                config.configuration(self._arn_prefix, config.version, listed=True) for config in functions
            ]
        else:
            functions, next_marker = self._registry.list(_decode_marker(marker), max_items)
            items = [config.configuration(self._arn_prefix, listed=True) for config in functions]
        body: dict[str, Any] = {"Functions": items}
        if next_marker is not None:
            body["NextMarker"] = _encode_marker(next_marker)
        return json_response(200, body)

    async def update_function_code(self, request: ApiRequest) -> Response:
        name, _ = self._resolve(request, "FunctionName")
        parsed = validation.parse_update_function_code(request.json())
        current = self._registry.get(name)
        signing = self._registries.code_signing
        await asyncio.to_thread(
            signing.check_package, name, parsed.zip_bytes, signing.deployment_config(name)
        )
        stored = await asyncio.to_thread(
            self._code.put, parsed.zip_bytes, _unzipped(current.layers), operation="UpdateFunctionCode"
        )
        config = self._registry.update_code(name, stored, parsed.revision_id, publish=parsed.publish)
        return json_response(200, self._config(config, None if config.version == LATEST else config.version))

    async def update_function_configuration(self, request: ApiRequest) -> Response:
        name, _ = self._resolve(request, "FunctionName")
        parsed = validation.parse_update_function_configuration(request.json())
        settings = parsed.settings
        if parsed.layer_arns is not None:
            layers = self._layers.resolve_for_function(parsed.layer_arns)
            current = self._registry.get(name)
            if layers and current.layers != layers:
                # The 250 MB unzipped limit counts the function's code and all its layers.
                zip_bytes = await asyncio.to_thread(self._code.zip_path(current.code_sha256).read_bytes)
                await asyncio.to_thread(
                    self._code.put, zip_bytes, _unzipped(layers), operation="UpdateFunctionConfiguration"
                )
            settings = dataclasses.replace(settings, layers=layers)
        config = self._registry.update_configuration(name, settings, parsed.revision_id)
        return json_response(200, self._config(config))

    async def delete_function(self, request: ApiRequest) -> Response:
        name, qualifier = self._resolve(request)
        self._registry.delete(name, qualifier)
        return Response(204)

    # -- versions -----------------------------------------------------------
    async def publish_version(self, request: ApiRequest) -> Response:
        name, _ = self._resolve(request, "FunctionName")
        body = validation.checked_body(request.json(), "PublishVersion")
        if "PublishTo" in body:
            raise InvalidParameterValue(
                "PublishTo is not supported by lambdalite: it applies to Lambda Managed Instances only."
            )
        version = self._registry.publish_version(
            name, body.get("CodeSha256"), body.get("Description"), body.get("RevisionId")
        )
        return json_response(201, self._config(version, version.version))

    async def list_versions_by_function(self, request: ApiRequest) -> Response:
        name, _ = self._resolve(request)
        max_items, marker = validation.validate_list_functions(
            request.query_value("MaxItems"), request.query_value("Marker")
        )
        versions, next_marker = self._registry.list_versions(name, _decode_marker(marker), max_items)
        body: dict[str, Any] = {
            "Versions": [
                config.configuration(self._arn_prefix, config.version, listed=True) for config in versions
            ]
        }
        if next_marker is not None:
            body["NextMarker"] = _encode_marker(next_marker)
        return json_response(200, body)

    # -- aliases ------------------------------------------------------------
    async def create_alias(self, request: ApiRequest) -> Response:
        name, _ = self._resolve(request, "FunctionName")
        parsed = aliases.parse_create_alias(request.json())
        return json_response(201, self._alias(self._registry.create_alias(name, parsed)))

    async def get_alias(self, request: ApiRequest) -> Response:
        name, _ = self._resolve(request, "FunctionName")
        return json_response(200, self._alias(self._registry.get_alias(name, self._alias_name(request))))

    async def update_alias(self, request: ApiRequest) -> Response:
        name, _ = self._resolve(request, "FunctionName")
        alias_name = self._alias_name(request)
        parsed = aliases.parse_update_alias(request.json())
        return json_response(200, self._alias(self._registry.update_alias(name, alias_name, parsed)))

    async def delete_alias(self, request: ApiRequest) -> Response:
        name, _ = self._resolve(request, "FunctionName")
        self._registry.delete_alias(name, self._alias_name(request))
        return Response(204)

    async def list_aliases(self, request: ApiRequest) -> Response:
        name, _ = self._resolve(request, "FunctionName")
        function_version = request.query_value("FunctionVersion")
        if function_version is not None:
            validation.validate_value(function_version, "VersionWithLatestPublished", "functionVersion")
        max_items, marker = validation.validate_list_functions(
            request.query_value("MaxItems"), request.query_value("Marker")
        )
        found, next_marker = self._registry.list_aliases(
            name, function_version, _decode_marker(marker), max_items
        )
        body: dict[str, Any] = {"Aliases": [self._alias(alias) for alias in found]}
        if next_marker is not None:
            body["NextMarker"] = _encode_marker(next_marker)
        return json_response(200, body)

    # -- tags ---------------------------------------------------------------
    def _tagged_function(self, request: ApiRequest) -> str:
        """The function a tagging request's Resource ARN names."""
        ref = tags.parse_resource(request.path_name or "")
        check_region_and_account(ref, self._settings.region, self._settings.account_id, self._arn_prefix)
        return ref.name

    async def tag_resource(self, request: ApiRequest) -> Response:
        name = self._tagged_function(request)
        self._tags.tag(name, tags.parse_tags(request.json()))
        return Response(204)

    async def untag_resource(self, request: ApiRequest) -> Response:
        name = self._tagged_function(request)
        self._tags.untag(name, tags.parse_tag_keys(request.query.get("tagKeys")))
        return Response(204)

    async def list_tags(self, request: ApiRequest) -> Response:
        name = self._tagged_function(request)
        return json_response(200, {"Tags": dict(self._tags.tags(name))})

    # -- permissions --------------------------------------------------------
    async def add_permission(self, request: ApiRequest) -> Response:
        name, qualifier = self._resolve(request)
        parsed = permissions.parse_add_permission(request.json())
        statement = self._policies.add_permission(name, qualifier, parsed)
        return json_response(201, {"Statement": orjson.dumps(statement).decode()})

    async def remove_permission(self, request: ApiRequest) -> Response:
        name, qualifier = self._resolve(request)
        statement_id = request.sub_name or ""
        permissions.validate_statement_id(statement_id)
        self._policies.remove_permission(name, qualifier, statement_id, request.query_value("RevisionId"))
        return Response(204)

    async def get_policy(self, request: ApiRequest) -> Response:
        name, qualifier = self._resolve(request)
        policy = self._policies.policy(name, qualifier)
        return json_response(
            200, {"Policy": orjson.dumps(policy.document()).decode(), "RevisionId": policy.revision_id}
        )

    # -- concurrency --------------------------------------------------------
    def _unqualified(self, request: ApiRequest) -> str:
        """The function of a function-level operation; a version or alias is refused."""
        name, qualifier = self._resolve(request, "FunctionName")
        if qualifier is not None:
            raise InvalidParameterValue(QUALIFIED_CONCURRENCY)
        return name

    async def put_function_concurrency(self, request: ApiRequest) -> Response:
        name = self._unqualified(request)
        body = validation.checked_body(request.json(), "PutFunctionConcurrency")
        reserved = self._concurrency.put_reserved_concurrency(name, body["ReservedConcurrentExecutions"])
        return json_response(200, {"ReservedConcurrentExecutions": reserved})

    async def get_function_concurrency(self, request: ApiRequest) -> Response:
        reserved = self._concurrency.reserved_concurrency(self._unqualified(request))
        return json_response(200, {} if reserved is None else {"ReservedConcurrentExecutions": reserved})

    async def delete_function_concurrency(self, request: ApiRequest) -> Response:
        self._concurrency.delete_reserved_concurrency(self._unqualified(request))
        return Response(204)

    # -- provisioned concurrency ---------------------------------------------
    def _provisioned_body(self, config: ProvisionedConfig) -> dict[str, Any]:
        return self._invoker.provisioned_state(config.key).body(config)

    async def put_provisioned_concurrency_config(self, request: ApiRequest) -> Response:
        name, qualifier = self._resolve(request, "FunctionName")
        body = validation.checked_body(request.json(), "PutProvisionedConcurrencyConfig")
        requested = body["ProvisionedConcurrentExecutions"]
        config, _ = self._concurrency.put_provisioned(name, qualifier, requested)
        return json_response(202, self._provisioned_body(config))

    async def get_provisioned_concurrency_config(self, request: ApiRequest) -> Response:
        if request.query_value("List") == "ALL":
            return await self.list_provisioned_concurrency_configs(request)
        name, qualifier = self._resolve(request, "FunctionName")
        config = self._concurrency.provisioned_config(name, qualifier)
        return json_response(200, self._provisioned_body(config))

    async def list_provisioned_concurrency_configs(self, request: ApiRequest) -> Response:
        name, _ = self._resolve(request, "FunctionName")
        max_items, marker = validation.validate_list_functions(
            request.query_value("MaxItems"), request.query_value("Marker")
        )
        configs, next_marker = self._concurrency.list_provisioned(name, _decode_marker(marker), max_items)
        items = [
            {"FunctionArn": f"{self._arn_prefix}{name}:{config.qualifier}", **self._provisioned_body(config)}
            for config in configs
        ]
        body: dict[str, Any] = {"ProvisionedConcurrencyConfigs": items}
        if next_marker is not None:
            body["NextMarker"] = _encode_marker(next_marker)
        return json_response(200, body)

    async def delete_provisioned_concurrency_config(self, request: ApiRequest) -> Response:
        name, qualifier = self._resolve(request, "FunctionName")
        self._concurrency.delete_provisioned(name, qualifier)
        return Response(204)

    def _layers_code_size(self) -> int:
        """The bytes of every stored layer version (AWS's TotalCodeSize counts them too)."""
        everything = sys.maxsize
        layers, _ = self._layers.list_layers(None, None, None, everything)
        return sum(
            version.code_size
            for name, _ in layers
            for version in self._layers.list_versions(name, None, None, None, everything)[0]
        )

    # -- recursion -----------------------------------------------------------
    async def put_function_recursion_config(self, request: ApiRequest) -> Response:
        name, _ = self._resolve(request, "UnqualifiedFunctionName")
        body = validation.checked_body(request.json(), "PutFunctionRecursionConfig")  # RecursiveLoop required
        return json_response(
            200, {"RecursiveLoop": self._registry.put_recursion(name, body["RecursiveLoop"])}
        )

    async def get_function_recursion_config(self, request: ApiRequest) -> Response:
        name, _ = self._resolve(request, "UnqualifiedFunctionName")
        return json_response(200, {"RecursiveLoop": self._registry.require(name).recursive_loop})

    async def get_account_settings(self, request: ApiRequest) -> Response:
        limit, unreserved = self._concurrency.account_concurrency()
        function_count, code_size = self._registry.account_usage()
        code_size += self._layers_code_size()
        return json_response(
            200,
            {
                "AccountLimit": {
                    "TotalCodeSize": TOTAL_CODE_SIZE_LIMIT,
                    "CodeSizeUnzipped": CODE_SIZE_UNZIPPED_LIMIT,
                    "CodeSizeZipped": CODE_SIZE_ZIPPED_LIMIT,
                    "ConcurrentExecutions": limit,
                    "UnreservedConcurrentExecutions": unreserved,
                },
                "AccountUsage": {"TotalCodeSize": code_size, "FunctionCount": function_count},
            },
        )

    # -- invoke -------------------------------------------------------------
    async def invoke(self, request: ApiRequest) -> Response:
        name, qualifier = self._resolve(request)
        function = self._registry.resolve(name, qualifier)
        headers = request.headers
        invocation_type = headers.get(b"x-amz-invocation-type", b"RequestResponse")
        payload = request.body or b"{}"
        try:
            orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequestContent(
                "Could not parse request body into json: Could not parse payload into json: "
                + describe(payload)
            ) from exc
        if invocation_type == b"DryRun":
            return Response(204)
        if invocation_type == b"Event" and self.events is not None:
            request_id = await accept_event(self.events, name, qualifier, payload)
            return Response(202, b"", [(b"x-amzn-requestid", request_id.encode())])
        if invocation_type != b"RequestResponse":
            if invocation_type == b"Event":
                raise InvalidParameterValue(
                    "InvocationType Event is not supported by lambdalite yet; use RequestResponse."
                )
            raise InvalidParameterValue(
                f"1 validation error detected: Value '{invocation_type.decode('latin-1')}' at "
                "'invocationType' failed to satisfy constraint: "
                "Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
            )
        client_context = headers.get(b"x-amz-client-context")
        request_id = new_request_id()
        result = await self._invoker.invoke(
            function,
            payload,
            invoked_arn=self._arn_prefix + name + (f":{qualifier}" if qualifier else ""),
            request_id=request_id,
            client_context=_decode_client_context(client_context) if client_context else None,
            trace_header=lineage.incoming.get(),
        )
        response_headers: Headers = [
            (b"x-amzn-requestid", request_id.encode()),
            (b"x-amz-executed-version", result.executed_version.encode()),
        ]
        if result.function_error:
            response_headers.append((b"x-amz-function-error", result.function_error.encode()))
        if headers.get(b"x-amz-log-type") == b"Tail":
            response_headers.append((b"x-amz-log-result", base64.b64encode(result.log_tail().encode())))
        return Response(200, result.payload, response_headers)


def _unzipped(layers: tuple[LayerRef, ...] | None) -> int:
    """What a function's layers add to its unzipped size."""
    return sum(layer.unzipped_size for layer in layers or ())


def _encode_marker(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode()).decode()


def _decode_marker(marker: str | None) -> str | None:
    if marker is None:
        return None
    try:
        return base64.urlsafe_b64decode(marker.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidParameterValue("Invalid marker value.") from exc


def _decode_client_context(raw: bytes) -> str:
    """X-Amz-Client-Context is base64 JSON; the runtime receives the JSON."""
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidRequestContent("Client context must be a valid Base64-encoded JSON object.") from exc
