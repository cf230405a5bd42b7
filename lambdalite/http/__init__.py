"""lambdalite's one HTTP/1.1 layer (httptools): every surface it serves stands on it.

message     HttpRequest, Response, StreamingResponse, Deferred; the wire form
body        BodyStream: a request body consumed as it arrives
limits      Limits: timeouts, head size, connections, flow-control bounds
connection  HttpConnection: one client, requests served in order
server      HttpServer: the listener, the connection bound, the timeout sweep
"""

from lambdalite.http.body import BodyStream, BodyStreamError
from lambdalite.http.connection import ErrorAnswer, Handler, HttpConnection, StreamRoute
from lambdalite.http.limits import Limits
from lambdalite.http.message import (
    Deferred,
    Headers,
    HttpRequest,
    Response,
    StreamingResponse,
    encode_response,
    prepared,
)
from lambdalite.http.server import HttpServer, plain_error

__all__ = [
    "BodyStream",
    "BodyStreamError",
    "Deferred",
    "ErrorAnswer",
    "Handler",
    "Headers",
    "HttpConnection",
    "HttpRequest",
    "HttpServer",
    "Limits",
    "Response",
    "StreamRoute",
    "StreamingResponse",
    "encode_response",
    "plain_error",
    "prepared",
]
