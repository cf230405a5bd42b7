"""Where verification meets the rest: the router checks before dispatch and answers in each
protocol's shape, the keys admin surface, and the loopback rule for ``--auth none``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from botocore.loaders import Loader
from botocore.model import ServiceModel
from botocore.parsers import create_parser

from lambdalite.api.router import Router, ServiceRoute
from lambdalite.auth.admin_api import KeysService
from lambdalite.auth.errors import (
    InvalidSignature,
    MissingAuthenticationToken,
    UnrecognizedClient,
    failure_response,
)
from lambdalite.auth.exposure import check_exposure, is_loopback
from lambdalite.auth.keys import AccessKeys
from lambdalite.auth.secrets import SecretBox
from lambdalite.auth.sigv4 import Verifier
from lambdalite.config import Settings
from lambdalite.http import HttpRequest, Response
from lambdalite.store.access_keys import SqliteAccessKeyStore
from lambdalite.store.sqlite import SqliteDatabase
from tests.unit.sigv4_requests import KEY_ID, SECRET, SIGNED_AT, Case, generate


class Named:
    def __init__(self, name: str) -> None:
        self.name = name

    async def handle(self, request: HttpRequest) -> Response:
        return Response(200, self.name.encode())


class OneKey:
    def credential(self, access_key_id: str) -> Any:
        from lambdalite.auth.credentials import Credential, Principal

        principal = Principal("arn:aws:iam::0:user/admin", "0", KEY_ID)
        return Credential(KEY_ID, SECRET, principal) if access_key_id == KEY_ID else None


TABLE = (
    ServiceRoute("urls", lambda c: Named("urls"), own_paths=("url",), verify=False),
    ServiceRoute(
        "logs", lambda c: Named("logs"), signing_names=("logs",), targets=(b"Logs_20140328",), protocol="json"
    ),
    ServiceRoute("lambda", lambda c: Named("lambda"), signing_names=("lambda",), paths=("/2015-03-31/",)),
)


def router(verifier: Verifier | None) -> Router:
    api: Any = SimpleNamespace(registry=None, registries=SimpleNamespace(urls=None), settings=Settings())
    return Router(api, None, None, "us-east-1", "0", TABLE, verifier=verifier)  # type: ignore[arg-type]


def unsigned(path: str, **headers: str) -> HttpRequest:
    encoded = {name.replace("_", "-").encode(): value.encode() for name, value in headers.items()}
    return HttpRequest("POST", path, b"", encoded, b"", 0, raw_path=path.encode())


def answer(verifier: Verifier | None, request: HttpRequest) -> Response:
    return asyncio.run(router(verifier).handle(request))


def lambda_case(service: str = "lambda") -> Case:
    import random

    rng = random.Random(3)
    while True:
        case = generate(rng)
        if case.service == service and not case.presigned and case.token is None:
            return case


VERIFIER = Verifier(OneKey(), clock=SIGNED_AT.timestamp)


def test_without_a_verifier_nothing_is_checked() -> None:
    assert answer(None, unsigned("/2015-03-31/functions")).body == b"lambda"


def test_a_signed_request_reaches_its_service() -> None:
    case = lambda_case()
    request = case.request
    request.path = request.raw_path.decode()  # route by scope: the generated path is arbitrary
    assert answer(VERIFIER, request).body == b"lambda"


def test_refusals_in_the_services_protocol() -> None:
    lam = answer(VERIFIER, unsigned("/2015-03-31/functions"))
    assert (
        lam.status == 403 and dict(lam.headers)[b"x-amzn-errortype"] == b"MissingAuthenticationTokenException"
    )
    assert orjson.loads(lam.body) == {"message": "Missing Authentication Token"}
    logs = answer(VERIFIER, unsigned("/", x_amz_target="Logs_20140328.DescribeLogGroups"))
    assert logs.status == 400
    assert orjson.loads(logs.body) == {
        "__type": "MissingAuthenticationTokenException",
        "message": "Request is missing Authentication Token",
    }


def test_public_actions_are_served_unsigned_and_nothing_else() -> None:
    table = (
        ServiceRoute(
            "sns",
            lambda c: Named("sns"),
            signing_names=("sns",),
            actions=frozenset({"ConfirmSubscription", "Publish"}),
            protocol="query",
            public_actions=frozenset({"ConfirmSubscription"}),
        ),
    )
    api: Any = SimpleNamespace(registry=None, registries=SimpleNamespace(urls=None), settings=Settings())
    routed = Router(api, None, None, "us-east-1", "0", table, verifier=VERIFIER)  # type: ignore[arg-type]
    confirm = HttpRequest("GET", "/", b"Action=ConfirmSubscription&Token=t", {}, b"", 0)
    assert asyncio.run(routed.handle(confirm)).body == b"sns"
    for query in (b"Action=Publish", b"Action=ConfirmSubscription&Action=Publish"):
        refused = asyncio.run(routed.handle(HttpRequest("GET", "/", query, {}, b"", 0)))
        assert refused.status == 403 and b"<Code>MissingAuthenticationToken</Code>" in refused.body


def test_unverified_routes_and_unknown_paths() -> None:
    assert answer(VERIFIER, unsigned("/_lambdalite/url/abc/")).body == b"urls"
    unknown = answer(VERIFIER, unsigned("/nothing/here"))  # no hint of what exists to an unsigned caller
    assert unknown.status == 403 and b"Missing Authentication Token" in unknown.body
    assert answer(None, unsigned("/nothing/here")).status == 404


def _parsed(protocol: str, service: str, response: Response) -> dict[str, Any]:
    """The error as botocore's own parser for ``protocol`` reads it."""
    model = ServiceModel(Loader().load_service_model(service, "service-2"), service)
    parser = create_parser(protocol)
    headers = {name.decode(): value.decode() for name, value in response.headers}
    parsed = parser.parse(
        {"status_code": response.status, "headers": headers, "body": response.body},
        model.operation_model(next(iter(model.operation_names))).output_shape,
    )
    return dict(parsed["Error"])


@pytest.mark.parametrize(
    ("protocol", "service", "status", "code"),
    [
        ("rest-json", "lambda", 403, "UnrecognizedClientException"),
        ("json", "logs", 400, "UnrecognizedClientException"),
        ("query", "sts", 403, "InvalidClientTokenId"),
        ("query", "sqs", 403, "InvalidClientTokenId"),
    ],
)
def test_botocore_reads_each_protocols_refusal(protocol: str, service: str, status: int, code: str) -> None:
    response = failure_response(UnrecognizedClient(), protocol)
    assert response.status == status
    error = _parsed(protocol, service, response)
    assert (error["Code"], error["Message"]) == (
        code,
        "The security token included in the request is invalid.",
    )


def test_sqs_json_reports_the_query_code_as_botocore_reads_it() -> None:
    response = failure_response(InvalidSignature(), "json-query")
    assert response.status == 403
    model = ServiceModel(Loader().load_service_model("sqs", "service-2"), "sqs")
    headers = {name.decode(): value.decode() for name, value in response.headers}
    parsed = create_parser("json").parse(
        {"status_code": response.status, "headers": headers, "body": response.body},
        model.operation_model("ListQueues").output_shape,
    )
    assert parsed["Error"]["Code"] == "SignatureDoesNotMatch"
    assert parsed["Error"]["Message"].startswith("The request signature we calculated does not match")


def test_query_protocol_codes() -> None:
    assert (
        failure_response(InvalidSignature(), "query").body.count(b"<Code>SignatureDoesNotMatch</Code>") == 1
    )
    missing = failure_response(MissingAuthenticationToken(), "query")
    assert missing.status == 403 and b"<Code>MissingAuthenticationToken</Code>" in missing.body


# ---- the keys admin surface -----------------------------------------------------------


def keys_service(tmp_path: Path) -> tuple[KeysService, AccessKeys]:
    db = SqliteDatabase(tmp_path / "db")
    keys = AccessKeys(SqliteAccessKeyStore(db), SecretBox.open(tmp_path / "k"), "0")
    return KeysService(keys), keys


def call(service: KeysService, method: str, path: str, body: bytes = b"") -> Response:
    request = HttpRequest(method, path, b"", {}, body, len(body), raw_path=path.encode())
    return asyncio.run(router_for(service).handle(request))


def router_for(service: KeysService) -> Router:
    api: Any = SimpleNamespace(registry=None, registries=SimpleNamespace(urls=None), settings=Settings())
    table = (ServiceRoute("keys", lambda c: service, own_paths=("keys",)),)
    return Router(api, None, None, "us-east-1", "0", table)  # type: ignore[arg-type]


def error_of(response: Response) -> tuple[int, str, str]:
    return (
        response.status,
        dict(response.headers)[b"x-amzn-errortype"].decode(),
        orjson.loads(response.body)["message"],
    )


def test_keys_surface(tmp_path: Path) -> None:
    service, keys = keys_service(tmp_path)
    created = call(service, "POST", "/_lambdalite/keys", b'{"UserName": "bob"}')
    assert created.status == 201
    key = orjson.loads(created.body)["AccessKey"]
    assert key["UserName"] == "bob" and key["Status"] == "Active" and len(key["SecretAccessKey"]) == 40
    listed = orjson.loads(call(service, "GET", "/_lambdalite/keys").body)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["UserName"]) for k in listed] == [(key["AccessKeyId"], "bob")]
    assert "SecretAccessKey" not in listed[0]
    assert call(service, "DELETE", f"/_lambdalite/keys/{key['AccessKeyId']}").status == 204
    assert error_of(call(service, "DELETE", f"/_lambdalite/keys/{key['AccessKeyId']}")) == (
        404,
        "NoSuchEntity",
        f"The Access Key with id {key['AccessKeyId']} cannot be found.",
    )
    keys.add_environment_key("AKIAENV", "s")
    assert error_of(call(service, "DELETE", "/_lambdalite/keys/AKIAENV")) == (
        409,
        "DeleteConflict",
        "The access key AKIAENV is given by LAMBDALITE_ACCESS_KEY_ID and cannot be deleted.",
    )
    assert error_of(call(service, "POST", "/_lambdalite/keys", b'{"UserName": "no spaces"}')) == (
        400,
        "ValidationException",
        "1 validation error detected: Value 'no spaces' at 'userName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\w+=,.@-]+",
    )
    assert error_of(call(service, "POST", "/_lambdalite/keys", b"{nope")) == (
        400,
        "ValidationException",
        "The request body is not valid JSON.",
    )
    assert error_of(call(service, "PUT", "/_lambdalite/keys")) == (
        404,
        "UnknownOperationException",
        "Unknown operation",
    )


# ---- --auth none only on loopback -------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("no-such-host.invalid", False),
    ],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_check_exposure() -> None:
    check_exposure("none", "127.0.0.1")
    check_exposure("sigv4", "0.0.0.0")
    with pytest.raises(SystemExit, match=r"refusing to listen on 0\.0\.0\.0 with --auth none"):
        check_exposure("none", "0.0.0.0")
    with pytest.raises(SystemExit, match="unknown --auth 'basic': use sigv4 or none"):
        check_exposure("basic", "127.0.0.1")
