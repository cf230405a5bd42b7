"""What travels through lambdalite's HTTP layer: requests, responses, and their wire form.

A handler answers with one of:

``Response``           a buffered answer, written with one call;
``StreamingResponse``  a body from an async iterator (Content-Length when the
                       length is known, chunked transfer-encoding otherwise);
``Deferred``           an answer someone else gives later (a long poll): the
                       connection is busy, not idle, until ``Deferred.send``.
"""

from __future__ import annotations

import http
from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lambdalite.http.body import BodyStream
    from lambdalite.http.connection import HttpConnection

Headers = list[tuple[bytes, bytes]]

JSON = b"application/json"
REASONS = {status.value: status.phrase.encode() for status in http.HTTPStatus}
SMALL_BODY = 64 * 1024
"""Below this a response is joined into one buffer; above it, written as two
(copying megabytes to save one syscall is a bad trade)."""


@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str
    """Percent-decoded path, without the query string."""
    query: bytes
    headers: dict[bytes, bytes]
    """Lower-cased names; a repeated header keeps its last value."""
    body: bytes
    body_size: int
    """The size the client sent; ``body`` is empty when it passed the server's limit
    (and always for a streamed request: read ``stream`` instead)."""
    raw_path: bytes = b"/"
    """The path as sent, still percent-encoded."""
    repeated: list[tuple[bytes, bytes]] | None = None
    """The earlier values of headers sent more than once (lower-cased names, in
    order; ``headers`` has the last value), or None when no header repeated."""
    client: str = ""
    """The client's IP address."""
    keep_alive: bool = True
    """The connection may carry another request after this one."""
    stream: BodyStream | None = None
    """The body as it arrives, for a handler that consumes it as a stream."""
    route: object = None
    """What the server's router decided about this request when its head arrived
    (``StreamRoute``), kept for the layers above so that a request is routed once;
    None when nothing was decided then."""


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: Headers = field(default_factory=list)
    content_type: bytes = JSON
    raw_headers: bytes = b""
    """Complete ``Name: value\\r\\n`` lines written as they are (for callers that
    already hold them so: the Runtime API's event headers)."""
    encoded: bytes = b""
    """The whole keep-alive wire form, when it was prepared once (``prepared``) for an
    answer sent again and again; the fields above still describe it."""


@dataclass(slots=True)
class StreamingResponse:
    """A response whose body is produced while it is sent. The connection stops
    pulling chunks while the client is not reading (its unsent output passes the
    bound) and resumes when it drains."""

    status: int
    chunks: AsyncIterable[bytes]
    headers: Headers = field(default_factory=list)
    content_type: bytes = b"application/octet-stream"
    length: int | None = None
    """The body's exact length, or None to send it chunked."""


class Deferred:
    """An answer that is given later, by whoever holds this object: a long poll.
    The request stays in progress (the connection is not idle) until ``send``.

    ``carry``: answers this connection produced earlier in the same read wait and go
    out in one write with this one (the Runtime API's POST-response + GET-next pair)."""

    __slots__ = ("_connection", "carry", "response")

    def __init__(self, carry: bool = False) -> None:
        self.carry = carry
        self.response: Response | None = None
        self._connection: HttpConnection | None = None

    def attach(self, connection: HttpConnection) -> None:
        self._connection = connection

    def send(self, response: Response) -> bool:
        """Answer now. False when the connection is gone (or this was answered before)."""
        if self.response is not None:
            return False
        connection = self._connection
        if connection is None:
            # Answered before the handler returned it: the connection finds it set.
            self.response = response
            return True
        if not connection.open:
            return False
        self.response = response
        connection.finish_deferred(response)
        return True

    def close(self) -> None:
        """Close the connection waiting on this answer."""
        if self._connection is not None:
            self._connection.close()


def prepared(response: Response) -> Response:
    """``response`` with its keep-alive wire form encoded once, for a constant answer."""
    response.encoded = b"".join(encode_response(response, True))
    return response


def encode_head(status: int, content_type: bytes, framing: bytes, response_headers: Headers) -> bytes:
    lines = [b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%s" % (status, reason(status), content_type, framing)]
    lines.extend(b"%s: %s\r\n" % (name, value) for name, value in response_headers)
    return b"".join(lines)


def encode_response(response: Response, keep_alive: bool) -> list[bytes]:
    """The wire form of ``response`` as one or two buffers."""
    body = response.body
    status = response.status
    headers = response.headers
    # One formatting for the whole head (every += would copy it once more).
    head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%sContent-Length: %d\r\n%s%s" % (
        status,
        REASONS.get(status, b"Unknown"),
        response.content_type,
        response.raw_headers,
        len(body),
        b"".join([b"%s: %s\r\n" % (name, value) for name, value in headers]) if headers else b"",
        b"\r\n" if keep_alive else b"Connection: close\r\n\r\n",
    )
    if len(body) < SMALL_BODY:
        return [head + body]
    return [head, body]


def reason(status: int) -> bytes:
    return REASONS.get(status, b"Unknown")
