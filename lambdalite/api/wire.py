"""The one table that turns lambdalite's errors into AWS's wire shape, and the
small ASGI helpers every HTTP surface shares.

AWS's rest-json error shape, as botocore parses it: the error code in the
``x-amzn-ErrorType`` header, ``{"Type": "User", "message": "..."}`` in the body
(plus members such as ``Reason``), and the status of the modelled exception.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from lambdalite.errors import LambdaError, RequestTooLarge

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON = b"application/json"


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: Headers = field(default_factory=list)
    content_type: bytes = JSON


def json_response(status: int, value: Any, headers: Headers | None = None) -> Response:
    return Response(status, orjson.dumps(value), headers or [])


def error_response(error: LambdaError, request_id: str | None = None) -> Response:
    """The AWS wire form of ``error``."""
    body: dict[str, str] = {"Type": error.error_kind, "message": error.message}
    body.update(error.extra_body())
    headers: Headers = [(b"x-amzn-errortype", error.code.encode())]
    headers.extend((name.encode(), value.encode()) for name, value in error.extra_headers().items())
    headers.append((b"x-amzn-requestid", (request_id or str(uuid.uuid4())).encode()))
    return Response(error.status, orjson.dumps(body), headers)


async def send_response(send: Send, response: Response) -> None:
    # An explicit length keeps uvicorn from chunking every response.
    headers = [
        (b"content-type", response.content_type),
        (b"content-length", str(len(response.body)).encode()),
        *response.headers,
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def read_body(receive: Receive, limit: int, too_large: Callable[[], RequestTooLarge]) -> bytes:
    """The whole request body, or ``too_large()`` raised once it passes
    ``limit`` bytes. Past the limit nothing more is buffered."""
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise too_large()
        return bytes(body)
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large()
        chunks.append(chunk)
    return b"".join(chunks)
