"""Function URLs through boto3 and plain HTTP, with AWS's exact errors.

Texts are AWS's as LocalStack's parity-tested provider reproduces them
(services/lambda_/provider.py, function URL section; its AWS-validated tests
tests/aws/services/lambda_/test_lambda_api.py::TestLambdaUrl and
test_lambda.py::TestLambdaURL record the 502 "Internal Server Error" of a
failing function and the 403 {"Message":null} of an unknown URL).
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lambdalite.api.url_base import URL_PATH, resolves
from tests.conftest import ARN_PREFIX, REGION, Server, create_function, error_of, start_server, stop_server

ECHO = {
    "app.py": (
        "import base64, json\n"
        "def handler(event, context):\n"
        "    path = event['rawPath']\n"
        "    if path == '/plain':\n"
        "        return {'statusCode': 201, 'headers': {'Content-Type': 'text/plain', 'X-A': '1'},\n"
        "                'cookies': ['a=1; Path=/', 'b=2'], 'body': 'hi there'}\n"
        "    if path == '/binary':\n"
        "        return {'statusCode': 200, 'headers': {'content-type': 'application/octet-stream'},\n"
        "                'body': base64.b64encode(bytes(range(256))).decode(), 'isBase64Encoded': True}\n"
        "    if path == '/list':\n"
        "        return [1, 'two']\n"
        "    if path == '/string':\n"
        "        return 'hello'\n"
        "    if path == '/nostatus':\n"
        "        return {'body': 'not mapped', 'a': 1}\n"
        "    if path == '/cors':\n"
        "        return {'statusCode': 200, 'headers': {'Access-Control-Allow-Origin': 'https://evil'}}\n"
        "    if path == '/error':\n"
        "        raise RuntimeError('boom')\n"
        "    return {'statusCode': 200, 'body': json.dumps(event)}\n"
    )
}
NOT_EXIST = "Function does not exist"
NO_CONFIG = "The resource you requested does not exist."
URL_ID = re.compile(r"^[a-z0-9]{32}$")


def url_id_of(function_url: str) -> str:
    """The url-id of a FunctionUrl in the host form or the path form."""
    if URL_PATH in function_url:
        return function_url.split(URL_PATH, 1)[1].split("/", 1)[0]
    return function_url.split("//", 1)[1].split(".", 1)[0]


def expected_url(server: Server, url_id: str) -> str:
    """The FunctionUrl `--url-base auto` gives on this machine: the *.localhost host form
    only where the system resolver answers for it."""
    if resolves(f"probe.lambda-url.{REGION}.localhost"):
        return f"http://{url_id}.lambda-url.{REGION}.localhost:{server.port}/"
    return f"http://127.0.0.1:{server.port}{URL_PATH}{url_id}/"


def request(
    server: Server,
    url_id: str,
    path: str = "/",
    method: str = "GET",
    body: bytes | None = None,
    headers: list[tuple[str, str]] | None = None,
    host_form: bool = False,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """(status, headers, body) of a request on a function URL, in the path or the Host form."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        if host_form:
            connection.putrequest(method, path, skip_host=True)
            connection.putheader("Host", f"{url_id}.lambda-url.{REGION}.localhost:{server.port}")
        else:
            connection.putrequest(method, f"/_lambdalite/url/{url_id}{path}")
        for name, value in headers or []:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def echo_url(lam: Any) -> str:
    create_function(lam, "fu-echo", ECHO)
    return str(lam.create_function_url_config(FunctionName="fu-echo", AuthType="NONE")["FunctionUrl"])


def event_of(server: Server, url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    status, _, body = request(server, url_id_of(url), *args, **kwargs)
    assert status == 200, body
    return dict(json.loads(body))


# --- config operations ------------------------------------------------------------------------------


def test_url_config_lifecycle(lam: Any, server: Server) -> None:
    create_function(lam, "fu-life", ECHO)
    created = lam.create_function_url_config(FunctionName="fu-life", AuthType="NONE")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    url = created["FunctionUrl"]
    assert URL_ID.match(url_id_of(url))
    assert url == expected_url(server, url_id_of(url))
    assert created["FunctionArn"] == f"{ARN_PREFIX}fu-life"
    assert created["AuthType"] == "NONE"
    # AWS's recorded answers: Create and Update echo InvokeMode only when it was given.
    assert "InvokeMode" not in created
    assert "Cors" not in created

    assert error_of(
        "ResourceConflictException",
        lambda: lam.create_function_url_config(FunctionName="fu-life", AuthType="NONE"),
    ) == (
        409,
        f"Failed to create function url config for [functionArn = {ARN_PREFIX}fu-life]. "
        "Error message:  FunctionUrlConfig exists for this Lambda function",
    )

    got = lam.get_function_url_config(FunctionName="fu-life")
    assert got["FunctionUrl"] == url
    assert got["InvokeMode"] == "BUFFERED"
    assert got["CreationTime"] == created["CreationTime"]
    assert got["LastModifiedTime"]

    cors = {"AllowOrigins": ["https://example.com"], "AllowMethods": ["GET"], "MaxAge": 60}
    updated = lam.update_function_url_config(FunctionName="fu-life", AuthType="AWS_IAM", Cors=cors)
    assert updated["AuthType"] == "AWS_IAM"
    assert updated["Cors"] == cors
    assert updated["FunctionUrl"] == url
    # Leaving members out keeps them.
    again = lam.update_function_url_config(FunctionName="fu-life")
    assert (again["AuthType"], again["Cors"]) == ("AWS_IAM", cors)
    assert "InvokeMode" not in again
    buffered = lam.update_function_url_config(FunctionName="fu-life", InvokeMode="BUFFERED")
    assert buffered["InvokeMode"] == "BUFFERED"

    listed = lam.list_function_url_configs(FunctionName="fu-life")["FunctionUrlConfigs"]
    assert [item["FunctionUrl"] for item in listed] == [url]

    response = lam.delete_function_url_config(FunctionName="fu-life")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert error_of(
        "ResourceNotFoundException", lambda: lam.get_function_url_config(FunctionName="fu-life")
    ) == (
        404,
        NO_CONFIG,
    )
    assert lam.list_function_url_configs(FunctionName="fu-life")["FunctionUrlConfigs"] == []
    # A new URL is a new address.
    recreated = lam.create_function_url_config(FunctionName="fu-life", AuthType="NONE")
    assert recreated["FunctionUrl"] != url


def test_url_configs_on_aliases_are_listed_and_go_with_the_alias(lam: Any, server: Server) -> None:
    create_function(lam, "fu-alias", ECHO, Publish=True)
    lam.create_alias(FunctionName="fu-alias", Name="live", FunctionVersion="1")
    unqualified = lam.create_function_url_config(FunctionName="fu-alias", AuthType="NONE")
    aliased = lam.create_function_url_config(FunctionName="fu-alias", Qualifier="live", AuthType="NONE")
    assert aliased["FunctionArn"] == f"{ARN_PREFIX}fu-alias:live"
    by_arn = lam.get_function_url_config(FunctionName=f"{ARN_PREFIX}fu-alias:live")
    assert by_arn["FunctionUrl"] == aliased["FunctionUrl"]

    listed = lam.list_function_url_configs(FunctionName="fu-alias")["FunctionUrlConfigs"]
    assert {item["FunctionArn"] for item in listed} == {f"{ARN_PREFIX}fu-alias", f"{ARN_PREFIX}fu-alias:live"}
    first = lam.list_function_url_configs(FunctionName="fu-alias", MaxItems=1)
    second = lam.list_function_url_configs(FunctionName="fu-alias", MaxItems=1, Marker=first["NextMarker"])
    assert len(first["FunctionUrlConfigs"]) == len(second["FunctionUrlConfigs"]) == 1
    assert first["FunctionUrlConfigs"][0] != second["FunctionUrlConfigs"][0]
    assert "NextMarker" not in second

    event = event_of(server, aliased["FunctionUrl"], "/x")
    assert event["requestContext"]["apiId"] == url_id_of(aliased["FunctionUrl"])

    lam.delete_alias(FunctionName="fu-alias", Name="live")
    listed = lam.list_function_url_configs(FunctionName="fu-alias")["FunctionUrlConfigs"]
    assert [item["FunctionUrl"] for item in listed] == [unqualified["FunctionUrl"]]
    assert request(server, url_id_of(aliased["FunctionUrl"]))[0] == 403

    lam.delete_function(FunctionName="fu-alias")
    assert request(server, url_id_of(unqualified["FunctionUrl"]))[0] == 403


def test_url_config_errors_name_and_qualifier(lam: Any) -> None:
    create_function(lam, "fu-errors", ECHO, Publish=True)
    latest = (
        "1 validation error detected: Value '$LATEST' at 'qualifier' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)"
    )
    version = (
        "1 validation error detected: Value '1' at 'qualifier' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)"
    )
    operations: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
        "create": (lam.create_function_url_config, {"AuthType": "NONE"}),
        "get": (lam.get_function_url_config, {}),
        "update": (lam.update_function_url_config, {"AuthType": "AWS_IAM"}),
        "delete": (lam.delete_function_url_config, {}),
    }
    for operation, (call, extra) in operations.items():
        for qualifier, message in (("1", version), ("$LATEST", latest)):
            assert error_of(
                "ValidationException",
                lambda c=call, e=extra, q=qualifier: c(FunctionName="fu-errors", Qualifier=q, **e),
            ) == (400, message), operation
        assert error_of(
            "ValidationException",
            lambda c=call, e=extra: c(FunctionName="doesnotexist", Qualifier="1", **e),
        ) == (400, version)
        missing_function = NOT_EXIST if operation in ("create", "update") else NO_CONFIG
        for name in ("doesnotexist", f"{ARN_PREFIX}doesnotexist"):
            assert error_of(
                "ResourceNotFoundException", lambda c=call, e=extra, n=name: c(FunctionName=n, **e)
            ) == (404, missing_function), operation
        missing_alias = NOT_EXIST if operation in ("create", "update") else NO_CONFIG
        assert error_of(
            "ResourceNotFoundException",
            lambda c=call, e=extra: c(FunctionName="fu-errors", Qualifier="v1", **e),
        ) == (404, missing_alias), operation
        if operation != "create":
            assert error_of(
                "ResourceNotFoundException", lambda c=call, e=extra: c(FunctionName="fu-errors", **e)
            ) == (404, NO_CONFIG), operation
    assert error_of(
        "ResourceNotFoundException", lambda: lam.list_function_url_configs(FunctionName="doesnotexist")
    ) == (404, NOT_EXIST)


def test_url_config_errors_in_the_body(lam: Any) -> None:
    create_function(lam, "fu-body", ECHO)
    assert error_of(
        "ValidationException", lambda: lam.create_function_url_config(FunctionName="fu-body", AuthType="OPEN")
    ) == (
        400,
        "1 validation error detected: Value 'OPEN' at 'authType' failed to satisfy constraint: "
        "Member must satisfy enum value set: [NONE, AWS_IAM]",
    )
    assert error_of(
        "ValidationException",
        lambda: lam.create_function_url_config(FunctionName="fu-body", AuthType="NONE", InvokeMode="UNKNOWN"),
    ) == (
        400,
        "1 validation error detected: Value 'UNKNOWN' at 'invokeMode' failed to satisfy constraint: "
        "Member must satisfy enum value set: [RESPONSE_STREAM, BUFFERED]",
    )
    assert error_of(
        "InvalidParameterValueException",
        lambda: lam.create_function_url_config(
            FunctionName="fu-body", AuthType="NONE", InvokeMode="RESPONSE_STREAM"
        ),
    ) == (400, "InvokeMode RESPONSE_STREAM is not supported by lambdalite yet; use BUFFERED.")
    assert error_of(
        "ValidationException",
        lambda: lam.create_function_url_config(
            FunctionName="fu-body", AuthType="NONE", Cors={"AllowMethods": ["OPTIONS1"], "MaxAge": 90000}
        ),
    ) == (
        400,
        "2 validation errors detected: "
        "Value '[OPTIONS1]' at 'cors.allowMethods' failed to satisfy constraint: "
        "Member must satisfy constraint: [Member must have length less than or equal to 6]; "
        "Value '90000' at 'cors.maxAge' failed to satisfy constraint: "
        "Member must have value less than or equal to 86400",
    )
    # Nothing was created by the refused requests.
    assert lam.list_function_url_configs(FunctionName="fu-body")["FunctionUrlConfigs"] == []
    lam.create_function_url_config(FunctionName="fu-body", AuthType="NONE", InvokeMode="BUFFERED")
    assert error_of(
        "InvalidParameterValueException",
        lambda: lam.update_function_url_config(FunctionName="fu-body", InvokeMode="RESPONSE_STREAM"),
    ) == (400, "InvokeMode RESPONSE_STREAM is not supported by lambdalite yet; use BUFFERED.")


# --- serving ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("host_form", [False, True], ids=["path", "host"])
def test_get_with_query_cookies_and_repeated_headers(server: Server, echo_url: str, host_form: bool) -> None:
    event = event_of(
        server,
        echo_url,
        "/some/path?a=1&b=x%20y&a=2&empty=",
        headers=[
            ("Cookie", "c1=v1; c2=v2"),
            ("X-Multi", "one"),
            ("x-multi", "two"),
            ("User-Agent", "fu-test/1.0"),
        ],
        host_form=host_form,
    )
    url_id = url_id_of(echo_url)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/some/path"
    assert event["rawQueryString"] == "a=1&b=x%20y&a=2&empty="
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y", "empty": ""}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "one,two"
    assert event["headers"]["user-agent"] == "fu-test/1.0"
    # What AWS's front end adds: the forwarded headers and an X-Ray trace header.
    assert event["headers"]["x-forwarded-port"] == str(server.port)
    assert event["headers"]["x-forwarded-proto"] == "http"
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1"
    trace = re.fullmatch(r"Root=1-([0-9a-f]{8})-[0-9a-f]{24}", event["headers"]["x-amzn-trace-id"])
    assert trace is not None and abs(int(trace.group(1), 16) - time.time()) < 60
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    context = event["requestContext"]
    assert context["accountId"] == "anonymous"
    assert context["apiId"] == context["domainPrefix"] == url_id
    assert context["domainName"] == f"{url_id}.lambda-url.{REGION}.localhost"
    assert context["http"] == {
        "method": "GET",
        "path": "/some/path",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "fu-test/1.0",
    }
    assert (context["routeKey"], context["stage"]) == ("$default", "$default")
    assert re.match(r"^\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000$", context["time"])
    assert isinstance(context["timeEpoch"], int)
    assert re.match(r"^[0-9a-f-]{36}$", context["requestId"])


def test_post_json_body_and_binary_body(server: Server, echo_url: str) -> None:
    event = event_of(
        server,
        echo_url,
        "/",
        "POST",
        b'{"k": "v"}',
        [("Content-Type", "application/json")],
    )
    assert event["requestContext"]["http"]["method"] == "POST"
    assert (event["body"], event["isBase64Encoded"]) == ('{"k": "v"}', False)

    binary = bytes(range(256))
    event = event_of(server, echo_url, "/bin", "PUT", binary, [("Content-Type", "application/octet-stream")])
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == binary


def test_urllib_reaches_the_url_in_the_path_form(server: Server, echo_url: str) -> None:
    target = f"http://127.0.0.1:{server.port}/_lambdalite/url/{url_id_of(echo_url)}/u?q=1"
    with urllib.request.urlopen(urllib.request.Request(target, data=b"plain", method="POST")) as response:
        event = json.loads(response.read())
    assert event["rawPath"] == "/u"
    assert event["queryStringParameters"] == {"q": "1"}
    # urllib sends application/x-www-form-urlencoded: AWS passes form bodies base64-encoded.
    assert (base64.b64decode(event["body"]), event["isBase64Encoded"]) == (b"plain", True)


def test_the_returned_function_url_works_as_given_from_urllib(lam: Any, server: Server) -> None:
    # Issue 11: urllib, requests and Node's fetch use the system resolver, which here may not
    # answer for *.localhost; the FunctionUrl the API returns must work with them unchanged.
    create_function(lam, "fu-asis", ECHO)
    url = lam.create_function_url_config(FunctionName="fu-asis", AuthType="NONE")["FunctionUrl"]
    assert url.endswith("/")
    with urllib.request.urlopen(url + "plain", timeout=60) as response:
        assert (response.status, response.read()) == (201, b"hi there")
    with urllib.request.urlopen(url + "some/where?k=v", timeout=60) as response:
        event = json.loads(response.read())
    assert (event["rawPath"], event["rawQueryString"]) == ("/some/where", "k=v")
    assert event["requestContext"]["apiId"] == url_id_of(url)


def test_an_operators_wildcard_domain_is_the_url_base(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--url-base", "https://fns.example.test:8443")
    try:
        lam = server.client()
        create_function(lam, "fu-domain", ECHO)
        url = lam.create_function_url_config(FunctionName="fu-domain", AuthType="NONE")["FunctionUrl"]
        url_id = url_id_of(url)
        assert url == f"https://{url_id}.fns.example.test:8443/"
        # The server says at start-up which form it hands out.
        assert "function URLs: https://<url-id>.fns.example.test:8443/" in server.log_path.read_text()
        assert lam.get_function_url_config(FunctionName="fu-domain")["FunctionUrl"] == url
        # What a proxy for *.fns.example.test forwards: the Host names the URL.
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            connection.request("GET", "/plain", headers={"Host": f"{url_id}.fns.example.test:8443"})
            response = connection.getresponse()
            assert (response.status, response.read()) == (201, b"hi there")
        finally:
            connection.close()
        # The path form keeps working beside it.
        status, _, body = request(server, url_id, "/plain")
        assert (status, body) == (201, b"hi there")
    finally:
        stop_server(server)


def test_response_mapping(server: Server, echo_url: str) -> None:
    url_id = url_id_of(echo_url)
    status, headers, body = request(server, url_id, "/plain")
    assert (status, body) == (201, b"hi there")
    assert headers["Content-Type"] == "text/plain"
    assert headers["X-A"] == "1"
    assert headers.get_all("Set-Cookie") == ["a=1; Path=/", "b=2"]
    assert headers["x-amzn-RequestId"]

    status, headers, body = request(server, url_id, "/binary")
    assert (status, body, headers["Content-Type"]) == (200, bytes(range(256)), "application/octet-stream")

    for path, expected in (
        ("/list", [1, "two"]),
        ("/string", "hello"),
        ("/nostatus", {"body": "not mapped", "a": 1}),
    ):
        status, headers, body = request(server, url_id, path)
        assert (status, headers["Content-Type"], json.loads(body)) == (200, "application/json", expected)

    status, headers, body = request(server, url_id, "/error")
    assert (status, body) == (502, b"Internal Server Error")


def test_an_unknown_url_is_403_with_awss_body(server: Server) -> None:
    for host_form in (False, True):
        status, headers, body = request(server, "0123456789abcdefghijklmnopqrstuv", host_form=host_form)
        assert (status, body) == (403, b'{"Message":null}')
        assert headers["Content-Type"] == "application/json"
        assert headers["x-amzn-ErrorType"] == "AccessDeniedException"


def test_cors_preflight_and_response_headers(lam: Any, server: Server) -> None:
    create_function(lam, "fu-cors", ECHO)
    cors = {
        "AllowOrigins": ["https://app.example.com"],
        "AllowMethods": ["GET", "POST"],
        "AllowHeaders": ["x-custom", "content-type"],
        "ExposeHeaders": ["x-a"],
        "MaxAge": 300,
        "AllowCredentials": True,
    }
    url = lam.create_function_url_config(FunctionName="fu-cors", AuthType="NONE", Cors=cors)["FunctionUrl"]
    url_id = url_id_of(url)
    preflight = [("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "POST")]
    status, headers, body = request(server, url_id, "/error", "OPTIONS", headers=preflight)
    # Answered without invoking the function (which would have failed on /error).
    assert (status, body) == (200, b"")
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert headers["Access-Control-Allow-Methods"] == "GET,POST"
    assert headers["Access-Control-Allow-Headers"] == "x-custom,content-type"
    assert headers["Access-Control-Max-Age"] == "300"
    assert headers["Access-Control-Allow-Credentials"] == "true"

    status, headers, _ = request(
        server, url_id, "/", "OPTIONS", headers=[("Origin", "https://other.example.com"), preflight[1]]
    )
    assert status == 200
    assert "Access-Control-Allow-Origin" not in headers

    status, headers, _ = request(server, url_id, "/cors", headers=[("Origin", "https://app.example.com")])
    assert status == 200
    # The config's headers replace those the function set.
    assert headers.get_all("Access-Control-Allow-Origin") == ["https://app.example.com"]
    assert headers["Access-Control-Expose-Headers"] == "x-a"
    assert headers["Access-Control-Allow-Credentials"] == "true"

    lam.update_function_url_config(FunctionName="fu-cors", Cors={"AllowOrigins": ["*"]})
    status, headers, _ = request(server, url_id, "/plain", headers=[("Origin", "https://any.example")])
    assert (status, headers["Access-Control-Allow-Origin"]) == (201, "*")


def test_url_configs_survive_a_restart(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        lam = server.client()
        create_function(lam, "fu-persist", ECHO)
        created = lam.create_function_url_config(
            FunctionName="fu-persist", AuthType="AWS_IAM", Cors={"AllowOrigins": ["*"]}
        )
    finally:
        stop_server(server)
    server = start_server(tmp_path / "data")
    try:
        lam = server.client()
        got = lam.get_function_url_config(FunctionName="fu-persist")
        assert got["FunctionUrl"].split(":")[:2] == created["FunctionUrl"].split(":")[:2]
        assert (got["AuthType"], got["Cors"], got["CreationTime"]) == (
            "AWS_IAM",
            {"AllowOrigins": ["*"]},
            created["CreationTime"],
        )
        status, _, body = request(server, url_id_of(created["FunctionUrl"]), "/plain")
        assert (status, body) == (201, b"hi there")
    finally:
        stop_server(server)


def test_urlopen_error_status_is_visible(server: Server, echo_url: str) -> None:
    target = f"http://127.0.0.1:{server.port}/_lambdalite/url/{url_id_of(echo_url)}/error"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(target)
    assert err.value.code == 502
    assert err.value.read() == b"Internal Server Error"
