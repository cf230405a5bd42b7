"""A Lambda API request whose body is not JSON is refused in AWS's words, not orjson's."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from tests.conftest import Server, create_function

VALUE = "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"


def post(server: Server, path: str, body: bytes, method: str = "POST") -> tuple[int, str, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(method, path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.headers["x-amzn-ErrorType"], json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/2015-03-31/functions"),
        ("PUT", "/2015-03-31/functions/anything/configuration"),
        ("PUT", "/2015-03-31/functions/anything/code"),
    ],
)
def test_a_malformed_body_is_invalid_request_content_with_jacksons_words(
    server: Server, method: str, path: str
) -> None:
    status, error_type, body = post(server, path, b'{"FunctionName": "x",}', method)
    assert (status, error_type) == (400, "InvalidRequestContentException")
    assert body["message"] == (
        "Could not parse request body into json: Unexpected character ('}' (code 125)): "
        "was expecting double-quote to start field name\n"
        ' at [Source: (byte[])"{"FunctionName": "x",}"; line: 1, column: 23]'
    )
    assert body["Type"] == "User"


def test_a_malformed_invoke_payload_names_the_payload(server: Server, lam: Any) -> None:
    create_function(lam, "json-words", {"app.py": "def handler(event, context):\n    return 1\n"})
    with pytest.raises(lam.exceptions.InvalidRequestContentException) as err:
        lam.invoke(FunctionName="json-words", Payload=b"hello")
    assert err.value.response["Error"]["Message"] == (
        "Could not parse request body into json: Could not parse payload into json: "
        f"Unrecognized token 'hello': was expecting {VALUE}\n"
        ' at [Source: (byte[])"hello"; line: 1, column: 6]'
    )
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
