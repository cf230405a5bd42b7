"""The one table that turns lambdalite's errors into AWS's wire shape, and the
response value every HTTP surface returns.

AWS's rest-json error shape, as botocore parses it: the error code in the
``x-amzn-ErrorType`` header, the status of the modelled exception, and a body
whose members are the exception shape's own (``control.service_model.error_members``):
``{"Type": "User", "Message": ...}`` for ResourceNotFoundException,
``{"Type": "User", "message": ...}`` for InvalidParameterValueException,
``{"message": ...}`` for what the model does not describe (ValidationException),
plus members such as ``Reason``. botocore copies a modelled exception's members
to the top of ``error.response`` by these names, so they are part of the API.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from lambdalite.control.service_model import error_members
from lambdalite.errors import AwsError
from lambdalite.http.message import JSON, Headers, Response

__all__ = ["JSON", "Headers", "Response", "error_body", "error_response", "json_response"]


def json_response(status: int, value: Any, headers: Headers | None = None) -> Response:
    return Response(status, orjson.dumps(value), headers or [])


def error_body(code: str, message: str | None, kind: str | None) -> dict[str, Any]:
    """The body of error ``code``: its shape's members for ``kind`` (``User``/``Service``,
    None to leave it out) and ``message`` (None: sent as null, as AWS sends it)."""
    members = error_members(code)
    body: dict[str, Any] = {}
    if members.type is not None and kind is not None:
        body[members.type] = kind
    body[members.message] = message
    return body


def error_response(error: AwsError, request_id: str | None = None) -> Response:
    """The AWS wire form of ``error``."""
    body = error_body(error.code, error.body_message(), error.error_kind if error.sends_type else None)
    body.update(error.extra_body())
    headers: Headers = [(b"x-amzn-errortype", error.code.encode())]
    headers.extend((name.encode(), value.encode()) for name, value in error.extra_headers().items())
    headers.append((b"x-amzn-requestid", (request_id or str(uuid.uuid4())).encode()))
    return Response(error.status, orjson.dumps(body), headers)
