"""The one table that turns lambdalite's errors into AWS's wire shape, and the
response value every HTTP surface returns.

AWS's rest-json error shape, as botocore parses it: the error code in the
``x-amzn-ErrorType`` header, ``{"Type": "User", "message": "..."}`` in the body
(plus members such as ``Reason``), and the status of the modelled exception.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from lambdalite.errors import LambdaError
from lambdalite.http.message import JSON, Headers, Response

__all__ = ["JSON", "Headers", "Response", "error_response", "json_response"]


def json_response(status: int, value: Any, headers: Headers | None = None) -> Response:
    return Response(status, orjson.dumps(value), headers or [])


def error_response(error: LambdaError, request_id: str | None = None) -> Response:
    """The AWS wire form of ``error``."""
    # An empty error_kind: AWS sends no Type for this error.
    body: dict[str, str] = {"Type": error.error_kind} if error.error_kind else {}
    body["message"] = error.message
    body.update(error.extra_body())
    headers: Headers = [(b"x-amzn-errortype", error.code.encode())]
    headers.extend((name.encode(), value.encode()) for name, value in error.extra_headers().items())
    headers.append((b"x-amzn-requestid", (request_id or str(uuid.uuid4())).encode()))
    return Response(error.status, orjson.dumps(body), headers)
