"""Error bodies carry the members of each exception's shape in botocore's model,
so that boto3 shows ``e.response["Message"]``/``["message"]``/``["Type"]`` as AWS's do.

The last test walks every error AWS answered in the conformance suite's
recordings (``../shared/conformance``), when that directory is present.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.parsers
import botocore.session
import orjson
import pytest

from lambdalite.api.wire import error_response
from lambdalite.errors import (
    AwsError,
    InvalidParameterValue,
    PreconditionFailed,
    RequestTooLarge,
    ResourceConflict,
    ResourceNotFound,
    TooManyRequests,
    Validation,
)

SNAPSHOT = (
    Path(__file__).resolve().parents[3]
    / "shared/conformance/tests/aws/services/lambda_/test_lambda_api.snapshot.json"
)
_MODEL = botocore.session.get_session().get_service_model("lambda")


def as_boto3_sees_it(error: AwsError) -> dict[str, Any]:
    """The error as botocore's rest-json parser hands it to boto3 (what ``e.response`` holds)."""
    response = error_response(error)
    raw = {
        "status_code": response.status,
        "headers": {name.decode(): value.decode() for name, value in response.headers},
        "body": response.body,
    }
    parser = botocore.parsers.RestJSONParser()
    parsed: dict[str, Any] = parser.parse(raw, None)
    code = parsed["Error"]["Code"]
    shape = next((s for s in _MODEL.error_shapes if s.name == code), None)
    if shape is not None:
        # What botocore's client does for a modelled exception.
        parsed.update(parser.parse(raw, shape))
    parsed.pop("ResponseMetadata", None)
    return parsed


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ResourceNotFound("Function not found: x"), {"Type": "User", "Message": "Function not found: x"}),
        (InvalidParameterValue("bad"), {"Type": "User", "message": "bad"}),
        (InvalidParameterValue("bad").without_type(), {"message": "bad"}),
        (ResourceConflict("exists"), {"Type": "User", "message": "exists"}),
        (PreconditionFailed("revision"), {"Type": "User", "message": "revision"}),
        (Validation("1 validation error detected"), {"message": "1 validation error detected"}),
        (RequestTooLarge("too large"), {"message": "too large"}),
        (
            TooManyRequests("Rate exceeded", "ConcurrentInvocationLimitExceeded"),
            {"Type": "User", "message": "Rate exceeded", "Reason": "ConcurrentInvocationLimitExceeded"},
        ),
    ],
)
def test_the_body_has_the_members_of_the_exceptions_shape(error: AwsError, expected: dict[str, str]) -> None:
    assert orjson.loads(error_response(error).body) == expected


def test_boto3_sees_resource_not_found_with_a_capital_message() -> None:
    seen = as_boto3_sees_it(ResourceNotFound("Function not found: x"))
    assert seen == {
        "Error": {"Code": "ResourceNotFoundException", "Message": "Function not found: x"},
        "Type": "User",
        "Message": "Function not found: x",
    }


def recorded_errors() -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, recorded error) for every error response in the AWS recordings."""

    def walk(value: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(value, dict):
            error = value.get("Error")
            if isinstance(error, dict) and "Code" in error:
                yield where, value
            for key, item in value.items():
                yield from walk(item, f"{where}/{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from walk(item, f"{where}[{index}]")

    yield from walk(orjson.loads(SNAPSHOT.read_bytes()), "")


def _error_classes() -> dict[str, type[AwsError]]:
    found: dict[str, type[AwsError]] = {}
    pending: list[type[AwsError]] = [AwsError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        found.setdefault(cls.code, cls)
    return found


@pytest.mark.skipif(not SNAPSHOT.exists(), reason="../shared/conformance is not on this machine")
def test_every_recorded_error_has_the_members_aws_sent() -> None:
    """Each recorded error, rebuilt from its code, message and whether AWS sent a Type,
    reaches boto3 with exactly the members AWS's did."""
    classes = _error_classes()
    checked = 0
    for where, recorded in recorded_errors():
        code, message = recorded["Error"]["Code"], recorded["Error"]["Message"]
        cls = classes.get(code)
        if cls is None or cls is TooManyRequests:
            continue  # an error lambdalite never raises as such
        error = type("Recorded", (cls,), {"code": code})(message or "")
        if "Type" not in recorded:
            error.without_type()
        seen = as_boto3_sees_it(error)
        expected = {key: value for key, value in recorded.items() if key != "ResponseMetadata"}
        assert set(seen) == set(expected), where
        assert seen.get("Type") == expected.get("Type"), where
        checked += 1
    assert checked > 250
