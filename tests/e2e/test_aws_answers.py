"""Answers as AWS answers them, through boto3 on a real server: the members of error
bodies, function states and revision ids, names and ARNs parsed as AWS parses them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ARN_PREFIX, create_function

HELLO = {"app.py": "def handler(event, context):\n    return {'hello': 'world'}\n"}


def error_of(call: Any, **kwargs: Any) -> dict[str, Any]:
    """``e.response`` of the ClientError ``call`` raises, without its metadata."""
    with pytest.raises(Exception) as err:
        call(**kwargs)
    response: dict[str, Any] = dict(err.value.response)  # type: ignore[attr-defined]
    response.pop("ResponseMetadata", None)
    return response


def test_resource_not_found_carries_type_and_a_capital_message(lam: Any) -> None:
    assert error_of(lam.get_function, FunctionName="shape-missing") == {
        "Error": {
            "Code": "ResourceNotFoundException",
            "Message": f"Function not found: {ARN_PREFIX}shape-missing",
        },
        "Type": "User",
        "Message": f"Function not found: {ARN_PREFIX}shape-missing",
    }


def test_invalid_parameter_and_conflict_carry_type_and_a_lowercase_message(lam: Any) -> None:
    create_function(lam, "shape-fn", HELLO)
    message = "$LATEST version cannot be deleted without deleting the function."
    assert error_of(lam.delete_function, FunctionName="shape-fn", Qualifier="$LATEST") == {
        "Error": {"Code": "InvalidParameterValueException", "Message": message},
        "Type": "User",
        "message": message,
    }
    conflict = error_of(create_function, lam=lam, name="shape-fn", files=HELLO)
    assert conflict["Type"] == "User"
    assert conflict["message"] == conflict["Error"]["Message"] == "Function already exist: shape-fn"


def test_validation_exception_carries_only_its_message(lam: Any) -> None:
    response = error_of(lam.get_function, FunctionName="a" * 200)
    assert set(response) == {"Error"}
    assert response["Error"]["Code"] == "ValidationException"
