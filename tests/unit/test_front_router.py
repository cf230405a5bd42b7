"""The front router picks the service from the request, as AWS's endpoints would."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from lambdalite.api.router import Router, ServiceRoute, signing_service
from lambdalite.config import Settings
from lambdalite.http import HttpRequest, Response


class Named:
    def __init__(self, name: str) -> None:
        self.name = name

    async def handle(self, request: HttpRequest) -> Response:
        return Response(200, self.name.encode())


TABLE = (
    ServiceRoute("urls", lambda c: Named("urls"), hosts=(b".lambda-url.",), own_paths=("url",)),
    ServiceRoute("logs", lambda c: Named("logs"), signing_names=("logs",), targets=(b"Logs_20140328",)),
    ServiceRoute("lambda", lambda c: Named("lambda"), signing_names=("lambda",), paths=("/2015-03-31/",)),
    ServiceRoute(
        "sqs",
        lambda c: Named("sqs"),
        signing_names=("sqs",),
        targets=(b"AmazonSQS",),
        actions=frozenset({"SendMessage"}),
    ),
)


def router() -> Router:
    api: Any = SimpleNamespace(registry=None, registries=SimpleNamespace(urls=None), settings=Settings())
    return Router(api, code=None, logs=None, region="us-east-1", account_id="0", services=TABLE)  # type: ignore[arg-type]


def request(path: str = "/", query: bytes = b"", body: bytes = b"", **headers: str) -> HttpRequest:
    return HttpRequest(
        method="POST",
        path=path,
        query=query,
        headers={name.replace("_", "-").encode(): value.encode() for name, value in headers.items()},
        body=body,
        body_size=len(body),
    )


def signed(service: str) -> str:
    return (
        f"AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/{service}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=abc"
    )


def served_by(req: HttpRequest) -> str:
    response = asyncio.run(router().handle(req))
    if response.status != 200:
        return f"{response.status} {dict(response.headers)[b'x-amzn-errortype'].decode()}"
    return response.body.decode()


@pytest.mark.parametrize(
    ("req", "service"),
    [
        (request("/2015-03-31/functions/f/invocations", authorization=signed("lambda")), "lambda"),
        (request("/", authorization=signed("sqs")), "sqs"),
        (request("/", x_amz_target="AmazonSQS.SendMessage"), "sqs"),
        (request("/", x_amz_target="Logs_20140328.PutLogEvents", authorization=signed("logs")), "logs"),
        (
            request(
                "/anything", host="abc.lambda-url.us-east-1.localhost:9001", authorization=signed("lambda")
            ),
            "urls",
        ),
        (request("/_lambdalite/url/abc/x", authorization=signed("lambda")), "urls"),
        (request("/2015-03-31/functions"), "lambda"),
        (request("/", query=b"X-Amz-Credential=test%2F20240101%2Fus-east-1%2Fsqs%2Faws4_request"), "sqs"),
        (
            request(
                "/000000000000/q",
                body=b"Action=SendMessage&MessageBody=x",
                content_type="application/x-www-form-urlencoded",
            ),
            "sqs",
        ),
        (request("/", query=b"Action=SendMessage&QueueUrl=x"), "sqs"),
    ],
    ids=[
        "scope",
        "scope-only",
        "target",
        "target+scope",
        "host",
        "own-path",
        "unsigned-path",
        "presigned",
        "unsigned-form",
        "unsigned-query-string",
    ],
)
def test_the_service_is_picked_from_the_request(req: HttpRequest, service: str) -> None:
    assert served_by(req) == service


def test_an_unknown_service_is_an_aws_shaped_404_not_a_5xx() -> None:
    response = asyncio.run(router().handle(request("/", authorization=signed("sns"))))
    assert response.status == 404
    assert dict(response.headers)[b"x-amzn-errortype"] == b"UnknownOperationException"
    assert orjson.loads(response.body)["message"] == "Unknown service: sns"
    assert served_by(request("/nowhere")) == "404 UnknownOperationException"
    assert served_by(request("/", query=b"Action=Unclaimed")) == "404 UnknownOperationException"


def test_the_signing_service_is_read_from_the_credential_scope() -> None:
    assert signing_service(request(authorization=signed("s3"))) == "s3"
    assert signing_service(request(authorization="Bearer x")) is None
    assert signing_service(request(authorization="AWS4-HMAC-SHA256 Credential=short/x")) is None
    assert signing_service(request()) is None
