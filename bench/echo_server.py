"""The baselines: a bare echo server on an HTTP stack lambdalite can run on.

It answers every request with the request body (``{}`` in the benchmark) as
JSON, so the gap between it and lambdalite is what lambdalite's own code costs
per invoke. Two stacks, both on uvloop and httptools:

``--stack uvicorn`` (default)
    a raw ASGI app (no framework) served by uvicorn, access log off, the same
    keep-alive and backlog settings lambdalite used with uvicorn;
``--stack lambdalite``
    lambdalite's own HTTP layer (``lambdalite.http.HttpServer``)
    with a handler that returns the body: exactly the stack ``lambdalite
    serve`` runs on, minus lambdalite.

    .venv/bin/python bench/echo_server.py --port 9100 [--stack lambdalite]

It prints ``echo listening on http://HOST:PORT`` once the socket accepts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
import uvloop

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

READY_LINE = "echo listening on"
JSON_HEADER = (b"content-type", b"application/json")


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    headers = [JSON_HEADER, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def serve_uvicorn(host: str, port: int) -> None:
    config = uvicorn.Config(
        echo_app,
        host=host,
        port=port,
        loop="none",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=75,
        backlog=4096,
    )
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve())
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if server.started:
        print(f"{READY_LINE} http://{host}:{port}", flush=True)
    await serving


async def serve_lambdalite(host: str, port: int) -> None:
    # Imported here: the uvicorn baseline must not depend on lambdalite's internals.
    from lambdalite.http import HttpRequest, HttpServer, Response

    async def echo(request: HttpRequest) -> Response:
        return Response(200, request.body)

    server = HttpServer(echo)
    await server.start(host, port)
    print(f"{READY_LINE} http://{host}:{port}", flush=True)
    await asyncio.Event().wait()  # until SIGINT/SIGTERM


STACKS = {"uvicorn": serve_uvicorn, "lambdalite": serve_lambdalite}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stack", choices=sorted(STACKS), default="uvicorn")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(STACKS[args.stack](args.host, args.port))


if __name__ == "__main__":
    main()
