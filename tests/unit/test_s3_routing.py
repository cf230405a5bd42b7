"""S3 on the front router: by SigV4 scope, by a bucket's Host, and as the fallback
for unsigned requests that no other service claims (never the Lambda API's paths,
never an unsigned query Action)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from lambdalite.api.router import SERVICES, Router, ServiceRoute
from lambdalite.config import Settings
from lambdalite.http import HttpRequest
from tests.unit.test_front_router import TABLE, Named, request, signed


@pytest.fixture
def routed() -> Router:
    s3_route = next(route for route in SERVICES if route.name == "s3")
    table = (*TABLE, ServiceRoute("s3", lambda c: Named("s3"), **_marks(s3_route)))
    api: Any = SimpleNamespace(registry=None, registries=SimpleNamespace(urls=None), settings=Settings())
    return Router(api, code=None, logs=None, region="us-east-1", account_id="0", services=table)  # type: ignore[arg-type]


def _marks(route: ServiceRoute) -> dict[str, Any]:
    return {"signing_names": route.signing_names, "hosts": route.hosts, "fallback": route.fallback}


def name(router: Router, req: HttpRequest) -> str:
    return str(router.service_for(req).name)  # type: ignore[attr-defined]


def test_s3_is_picked_by_scope_host_and_as_the_unsigned_fallback(routed: Router) -> None:
    assert name(routed, request("/bucket/key", authorization=signed("s3"))) == "s3"
    assert name(routed, request("/key", host="photos.s3.localhost:9001")) == "s3"
    assert name(routed, request("/bucket/key")) == "s3"
    assert name(routed, request("/2015-03-31/functions")) == "lambda"
    form = "application/x-www-form-urlencoded"
    assert name(routed, request("/", body=b"Action=SendMessage", content_type=form)) == "sqs"


def test_only_s3_bodies_are_streamed(routed: Router) -> None:
    streaming = Named("s3")
    streaming.streams_body = True  # type: ignore[attr-defined]
    routed._fallback = streaming
    routed._signed["s3"] = streaming
    assert routed.stream_route(request("/bucket/key", authorization=signed("s3"))) is not None
    assert routed.stream_route(request("/bucket/key")) is not None
    assert routed.stream_route(request("/2015-03-31/functions")) is None
    # An unsigned form post names its Action in the body: it is buffered, then routed.
    form = request("/", content_type="application/x-www-form-urlencoded")
    assert routed.stream_route(form) is None
