"""A test-only server: lambdalite's HTTP layer with one streaming handler.

    python tests/http_sink.py PORT

``PUT /sink`` consumes its body as a stream (never holding it) and answers with
the number of bytes it read; every other request gets 404. It prints
``sink listening`` once it accepts connections. The streaming-upload test runs it
in a subprocess so that the server's memory can be measured on its own.
"""

from __future__ import annotations

import asyncio
import sys

import uvloop

from lambdalite.http import Handler, HttpRequest, HttpServer, Response


async def sink(request: HttpRequest) -> Response:
    assert request.stream is not None
    size = 0
    async for chunk in request.stream:
        size += len(chunk)
    return Response(200, b"%d" % size)


def not_found(request: HttpRequest) -> Response:
    return Response(404)


def streams(request: HttpRequest) -> Handler | None:
    return sink if request.method == "PUT" and request.path == "/sink" else None


async def main(port: int) -> None:
    server = HttpServer(not_found, stream_route=streams)
    await server.start("127.0.0.1", port)
    print("sink listening", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
