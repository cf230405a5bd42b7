"""The Lambda layers API (2018-10-31): layer versions and their permissions.

    POST   /2018-10-31/layers/<name>/versions                      PublishLayerVersion
    GET    /2018-10-31/layers/<name>/versions                      ListLayerVersions
    GET    /2018-10-31/layers                                      ListLayers
    GET    /2018-10-31/layers?find=LayerVersion&Arn=<arn>          GetLayerVersionByArn
    GET    /2018-10-31/layers/<name>/versions/<n>                  GetLayerVersion
    DELETE /2018-10-31/layers/<name>/versions/<n>                  DeleteLayerVersion
    POST   /2018-10-31/layers/<name>/versions/<n>/policy           AddLayerVersionPermission
    GET    /2018-10-31/layers/<name>/versions/<n>/policy           GetLayerVersionPolicy
    DELETE /2018-10-31/layers/<name>/versions/<n>/policy/<sid>     RemoveLayerVersionPermission

``<name>`` is a layer name or a layer ARN. Content.Location is a signed link, like a
function's code (``api.code_links``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from lambdalite.api.lambda_api import ApiRequest, LambdaApi
from lambdalite.api.wire import Response, json_response
from lambdalite.control import layers as rules
from lambdalite.control import permissions
from lambdalite.errors import InvalidParameterValue, UnknownOperation, Validation
from lambdalite.models import LayerVersion

PREFIX = "/2018-10-31/layers"

LayerHandler = Callable[[ApiRequest, list[str]], Awaitable[Response]]


class LayersApi:
    """Operation handlers over the layer registry and the code store."""

    def __init__(self, api: LambdaApi) -> None:
        self._api = api
        self._layers = api.layers
        self._code = api.code
        settings = api.settings
        self._default_host = f"{settings.host}:{settings.port}"
        self._scheme = settings.scheme

    def route(self, method: str, rest: str) -> tuple[str, LayerHandler, list[str]]:
        """(operation, handler, path parameters) for a path below PREFIX; UnknownOperation else."""
        parts = [part for part in rest.split("/") if part]
        shape: tuple[str | int, ...] = (method, len(parts), *(parts[1:2]), *(parts[3:4]))
        routes: dict[tuple[str | int, ...], tuple[str, LayerHandler]] = {
            ("GET", 0): ("ListLayers", self.list_layers),
            ("POST", 2, "versions"): ("PublishLayerVersion", self.publish),
            ("GET", 2, "versions"): ("ListLayerVersions", self.list_versions),
            ("GET", 3, "versions"): ("GetLayerVersion", self.get),
            ("DELETE", 3, "versions"): ("DeleteLayerVersion", self.delete),
            ("POST", 4, "versions", "policy"): ("AddLayerVersionPermission", self.add_permission),
            ("GET", 4, "versions", "policy"): ("GetLayerVersionPolicy", self.get_policy),
            ("DELETE", 5, "versions", "policy"): ("RemoveLayerVersionPermission", self.remove_permission),
        }
        route = routes.get(shape)
        if route is None:
            raise UnknownOperation("Unknown operation")
        operation, handler = route
        return operation, handler, parts

    # -- helpers ------------------------------------------------------------
    def _location(self, request: ApiRequest, layer: LayerVersion) -> str:
        host = request.headers.get(b"host", b"").decode("latin-1") or self._default_host
        return self._api.code_links.url(f"{self._scheme}://{host}", layer.code_sha256)

    def _body(self, request: ApiRequest, layer: LayerVersion) -> dict[str, Any]:
        return layer.body(self._layers.layer_arn(layer.name), self._location(request, layer))

    def _name_and_version(self, parts: list[str]) -> tuple[str, int]:
        return self._layers.name_of(parts[0]), rules.parse_version_number(parts[2])

    # -- operations -----------------------------------------------------------
    async def publish(self, request: ApiRequest, parts: list[str]) -> Response:
        name = self._layers.name_of(parts[0])
        parsed = rules.parse_publish(request.json())
        stored = await asyncio.to_thread(self._code.put, parsed.zip_bytes, operation="PublishLayerVersion")
        layer = self._layers.publish(name, parsed, stored)
        return json_response(201, self._body(request, layer))

    async def get(self, request: ApiRequest, parts: list[str]) -> Response:
        name, version = self._name_and_version(parts)
        return json_response(200, self._body(request, self._layers.get(name, version)))

    async def get_by_arn(self, request: ApiRequest) -> Response:
        arn = request.query_value("Arn")
        if arn is None:
            raise Validation(
                "1 validation error detected: Value null at 'arn' failed to satisfy constraint: "
                "Member must not be null"
            )
        return json_response(200, self._body(request, self._layers.get_by_arn(arn)))

    async def delete(self, request: ApiRequest, parts: list[str]) -> Response:
        name, version = self._name_and_version(parts)
        self._layers.delete(name, version)
        return Response(204)

    async def list_layers(self, request: ApiRequest, parts: list[str]) -> Response:
        if request.query_value("find") == "LayerVersion":
            return await self.get_by_arn(request)
        runtime, architecture, max_items = rules.parse_filters(
            request.query_value("CompatibleRuntime"),
            request.query_value("CompatibleArchitecture"),
            request.query_value("MaxItems"),
        )
        found, next_marker = self._layers.list_layers(
            runtime, architecture, _decode_marker(request.query_value("Marker")), max_items
        )
        items = []
        for name, layer in found:
            layer_arn = self._layers.layer_arn(name)
            items.append(
                {"LayerName": name, "LayerArn": layer_arn, "LatestMatchingVersion": layer.summary(layer_arn)}
            )
        body: dict[str, Any] = {"Layers": items}
        if next_marker is not None:
            body["NextMarker"] = _encode_marker(next_marker)
        return json_response(200, body)

    async def list_versions(self, request: ApiRequest, parts: list[str]) -> Response:
        name = self._layers.name_of(parts[0])
        runtime, architecture, max_items = rules.parse_filters(
            request.query_value("CompatibleRuntime"),
            request.query_value("CompatibleArchitecture"),
            request.query_value("MaxItems"),
        )
        found, next_marker = self._layers.list_versions(
            name, runtime, architecture, _decode_marker(request.query_value("Marker")), max_items
        )
        layer_arn = self._layers.layer_arn(name)
        body: dict[str, Any] = {"LayerVersions": [layer.summary(layer_arn) for layer in found]}
        if next_marker is not None:
            body["NextMarker"] = _encode_marker(next_marker)
        return json_response(200, body)

    async def add_permission(self, request: ApiRequest, parts: list[str]) -> Response:
        name, version = self._name_and_version(parts)
        parsed = rules.parse_permission(request.json())
        statement, revision = self._layers.add_permission(
            name, version, parsed, request.query_value("RevisionId")
        )
        return json_response(201, {"Statement": orjson.dumps(statement).decode(), "RevisionId": revision})

    async def get_policy(self, request: ApiRequest, parts: list[str]) -> Response:
        name, version = self._name_and_version(parts)
        document, revision = self._layers.policy(name, version)
        return json_response(200, {"Policy": orjson.dumps(document).decode(), "RevisionId": revision})

    async def remove_permission(self, request: ApiRequest, parts: list[str]) -> Response:
        name, version = self._name_and_version(parts)
        statement_id = parts[4]
        permissions.validate_statement_id(statement_id)
        self._layers.remove_permission(name, version, statement_id, request.query_value("RevisionId"))
        return Response(204)


def _encode_marker(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode()).decode()


def _decode_marker(marker: str | None) -> str | None:
    if not marker:
        return None
    try:
        return base64.urlsafe_b64decode(marker.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidParameterValue("Invalid marker value.") from exc
