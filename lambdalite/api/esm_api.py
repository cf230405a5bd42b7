"""Event source mappings on the Lambda API (rest-json, 2015-03-31)::

    POST   /2015-03-31/event-source-mappings          CreateEventSourceMapping (202)
    GET    /2015-03-31/event-source-mappings          ListEventSourceMappings
    GET    /2015-03-31/event-source-mappings/{UUID}   GetEventSourceMapping
    PUT    /2015-03-31/event-source-mappings/{UUID}   UpdateEventSourceMapping (202)
    DELETE /2015-03-31/event-source-mappings/{UUID}   DeleteEventSourceMapping (202)

and TagResource/UntagResource/ListTags on an ``event-source-mapping`` ARN.
"""

from __future__ import annotations

from typing import Any

from lambdalite.api.lambda_api import ApiRequest, _decode_marker, _encode_marker
from lambdalite.api.wire import Response, json_response
from lambdalite.control import tags, validation
from lambdalite.errors import UnknownOperation
from lambdalite.esm import requests
from lambdalite.esm.registry import MappingRegistry

PREFIX = "/2015-03-31/event-source-mappings"
ARN_MARK = ":event-source-mapping:"
"""What tells a tagging request's resource ARN names a mapping."""


class EventSourceMappingApi:
    def __init__(self, registry: MappingRegistry) -> None:
        self._registry = registry

    async def handle(self, request: ApiRequest, rest: str) -> Response:
        """``rest`` is the path after PREFIX: ``""``, ``"/"`` or ``"/{UUID}"``."""
        uuid = rest.strip("/")
        if "/" in uuid:
            raise UnknownOperation("Unknown operation")
        method = request.method
        if not uuid:
            if method == "POST":
                return self._create(request)
            if method == "GET":
                return self._list(request)
        elif method == "GET":
            return json_response(200, self._registry.get(uuid).body())
        elif method == "PUT":
            stream = self._registry.get(uuid).is_stream
            function_name, settings = requests.parse_update(request.json(), stream=stream)
            return json_response(202, self._registry.update(uuid, function_name, settings).body())
        elif method == "DELETE":
            return json_response(202, self._registry.delete(uuid).body())
        raise UnknownOperation("Unknown operation")

    def _create(self, request: ApiRequest) -> Response:
        parsed = requests.parse_create(request.json())
        return json_response(202, self._registry.create(parsed).body())

    def _list(self, request: ApiRequest) -> Response:
        function_name = request.query_value("FunctionName")
        if function_name is not None:
            validation.validate_function_name(function_name, "NamespacedFunctionName")
        max_items, marker = validation.validate_list_functions(
            request.query_value("MaxItems"), request.query_value("Marker")
        )
        found, next_marker = self._registry.list(
            function_name, request.query_value("EventSourceArn"), _decode_marker(marker), max_items
        )
        body: dict[str, Any] = {"EventSourceMappings": [mapping.body() for mapping in found]}
        if next_marker is not None:
            body["NextMarker"] = _encode_marker(next_marker)
        return json_response(200, body)

    # -- tags on a mapping's ARN ----------------------------------------------
    async def tag_resource(self, request: ApiRequest) -> Response:
        self._registry.tag(self._resource(request), tags.parse_tags(request.json()))
        return Response(204)

    async def untag_resource(self, request: ApiRequest) -> Response:
        resource = self._resource(request)
        self._registry.untag(resource, tags.parse_tag_keys(request.query.get("tagKeys")))
        return Response(204)

    async def list_tags(self, request: ApiRequest) -> Response:
        return json_response(200, {"Tags": self._registry.tags(self._resource(request))})

    @staticmethod
    def _resource(request: ApiRequest) -> str:
        resource = request.path_name or ""
        tags.check_taggable(resource)
        return resource
