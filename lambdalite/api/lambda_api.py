"""The Lambda REST API (2015-03-31): control-plane operations and Invoke.

Handlers parse at the edge (``control.validation``) and raise ``LambdaError``;
they never build error JSON. Invoke is kept lean: it is the hot path.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson

from lambdalite.api.wire import Headers, Response, json_response
from lambdalite.config import Settings
from lambdalite.control import validation
from lambdalite.control.naming import (
    FunctionRef,
    check_qualifier,
    check_region_and_account,
    parse_function_ref,
)
from lambdalite.control.registry import FunctionRegistry
from lambdalite.dataplane.environment import EnvState
from lambdalite.dataplane.pool import EnvironmentPool
from lambdalite.errors import (
    InvalidParameterValue,
    InvalidRequestContent,
    RequestTooLarge,
)
from lambdalite.models import FunctionConfig, Invocation, InvocationResult, new_request_id
from lambdalite.store.code import CodeStore

MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
"""AWS's limit on a synchronous invocation's request payload: 6291456 bytes."""
CODE_PATH = "/_lambdalite/code/"
MAX_REMEMBERED_NAMES = 10_000


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

    def query_value(self, key: str) -> str | None:
        values = self.query.get(key)
        return values[0] if values else None

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            value = orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from exc
        if not isinstance(value, dict):
            raise InvalidRequestContent("Could not parse request body into json: expected a JSON object")
        return value


def parse_query(raw: bytes) -> dict[str, list[str]]:
    return parse_qs(raw.decode("latin-1"), keep_blank_values=True) if raw else {}


class LambdaApi:
    """Operation handlers over the registry, the code store and the pool."""

    def __init__(
        self, settings: Settings, registry: FunctionRegistry, code: CodeStore, pool: EnvironmentPool
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._code = code
        self._pool = pool
        self._arn_prefix = settings.arn_prefix()
        self._refs: dict[tuple[str, str], FunctionRef] = {}

    # -- naming -------------------------------------------------------------
    def _resolve(self, request: ApiRequest, shape: str = "NamespacedFunctionName") -> tuple[str, str | None]:
        """(name, qualifier) from the path; ``shape`` is the operation's
        FunctionName shape in the service model."""
        raw = request.path_name or ""
        key = (raw, shape)
        ref = self._refs.get(key)
        if ref is None:
            validation.validate_function_name(raw, shape)
            ref = parse_function_ref(raw)
            check_region_and_account(ref, self._settings.region, self._settings.account_id, self._arn_prefix)
            # Names that passed are remembered: Invoke resolves the same few names
            # thousands of times a second, and the checks are pure.
            if len(self._refs) >= MAX_REMEMBERED_NAMES:
                self._refs.clear()
            self._refs[key] = ref
        qualifier = check_qualifier(ref, request.query_value("Qualifier"), self._arn_prefix)
        return ref.name, qualifier

    def _config(self, config: FunctionConfig) -> dict[str, Any]:
        return config.configuration(self._arn_prefix)

    # -- control plane ------------------------------------------------------
    async def create_function(self, request: ApiRequest) -> Response:
        parsed = validation.parse_create_function(request.json())
        self._registry.ensure_absent(parsed.name)
        stored = await asyncio.to_thread(self._code.put, parsed.zip_bytes)
        config = self._registry.create(parsed.name, parsed.settings, stored)
        return json_response(201, self._config(config))

    async def get_function(self, request: ApiRequest) -> Response:
        name, qualifier = self._resolve(request)
        config = self._registry.get(name, qualifier)
        host = (
            request.headers.get(b"host", b"").decode("latin-1")
            or f"{self._settings.host}:{self._settings.port}"
        )
        location = f"http://{host}{CODE_PATH}{config.code_sha256}.zip"
        return json_response(
            200,
            {"Configuration": self._config(config), "Code": {"RepositoryType": "S3", "Location": location}},
        )

    async def get_function_configuration(self, request: ApiRequest) -> Response:
        name, qualifier = self._resolve(request)
        return json_response(200, self._config(self._registry.get(name, qualifier)))

    async def list_functions(self, request: ApiRequest) -> Response:
        max_items, marker = validation.validate_list_functions(
            request.query_value("MaxItems"), request.query_value("Marker")
        )
        functions, next_marker = self._registry.list(_decode_marker(marker), max_items)
        body: dict[str, Any] = {"Functions": [self._config(config) for config in functions]}
        if next_marker is not None:
            body["NextMarker"] = base64.urlsafe_b64encode(next_marker.encode()).decode()
        return json_response(200, body)

    async def update_function_code(self, request: ApiRequest) -> Response:
        name, _ = self._resolve(request, "FunctionName")
        parsed = validation.parse_update_function_code(request.json())
        self._registry.get(name)
        stored = await asyncio.to_thread(self._code.put, parsed.zip_bytes, operation="UpdateFunctionCode")
        return json_response(200, self._config(self._registry.update_code(name, stored, parsed.revision_id)))

    async def update_function_configuration(self, request: ApiRequest) -> Response:
        name, _ = self._resolve(request, "FunctionName")
        parsed = validation.parse_update_function_configuration(request.json())
        config = self._registry.update_configuration(name, parsed.settings, parsed.revision_id)
        return json_response(200, self._config(config))

    async def delete_function(self, request: ApiRequest) -> Response:
        name, qualifier = self._resolve(request)
        if qualifier is not None:
            self._registry.get(name, qualifier)  # versions arrive with a later issue
        self._registry.delete(name)
        return Response(204)

    # -- invoke -------------------------------------------------------------
    async def invoke(self, request: ApiRequest) -> Response:
        name, qualifier = self._resolve(request)
        function = self._registry.get(name, qualifier)
        headers = request.headers
        invocation_type = headers.get(b"x-amz-invocation-type", b"RequestResponse")
        payload = request.body or b"{}"
        try:
            orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequestContent(
                f"Could not parse request body into json: Could not parse payload into json: {exc}"
            ) from exc
        if invocation_type == b"DryRun":
            return Response(204)
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
        invocation = Invocation(
            request_id=new_request_id(),
            payload=payload,
            function=function,
            invoked_arn=self._arn_prefix + name + (f":{qualifier}" if qualifier else ""),
            client_context=_decode_client_context(client_context) if client_context else None,
        )
        result = await self.run(invocation)
        response_headers: Headers = [
            (b"x-amzn-requestid", invocation.request_id.encode()),
            (b"x-amz-executed-version", result.executed_version.encode()),
        ]
        if result.function_error:
            response_headers.append((b"x-amz-function-error", result.function_error.encode()))
        if headers.get(b"x-amz-log-type") == b"Tail":
            response_headers.append((b"x-amz-log-result", base64.b64encode(result.log_tail().encode())))
        return Response(200, result.payload, response_headers)

    async def run(self, invocation: Invocation) -> InvocationResult:
        """Run one invocation in a leased environment."""
        async with self._pool.environment(invocation.function) as env:
            if env.state is not EnvState.READY:
                return env.fail_invocation(invocation)
            return await env.invoke(invocation)


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
