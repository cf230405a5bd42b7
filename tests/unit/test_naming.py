"""Function names and ARNs split as AWS's pattern splits them; other regions and
accounts refused in AWS's words."""

from __future__ import annotations

import pytest

from lambdalite.control.naming import (
    FunctionRef,
    check_creatable,
    check_qualifier,
    check_reachable,
    parse_function_ref,
)
from lambdalite.errors import AccessDenied, InvalidParameterValue, ResourceNotFound

PREFIX = "arn:aws:lambda:us-east-1:000000000000:function:"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("fn", FunctionRef("fn", None, None, None)),
        ("fn:live", FunctionRef("fn", "live", None, None)),
        ("function:fn:$LATEST", FunctionRef("fn", "$LATEST", None, None)),
        ("000000000000:function:fn:3", FunctionRef("fn", "3", None, "000000000000")),
        (f"{PREFIX}fn", FunctionRef("fn", None, "us-east-1", "000000000000")),
        # Every part before the name is optional, so these name a function called "function".
        (
            "arn:aws:lambda:us-east-1:000000000000:function",
            FunctionRef("function", None, "us-east-1", "000000000000"),
        ),
        ("000000000000:function", FunctionRef("function", None, None, "000000000000")),
        (
            "arn:aws:lambda:us-gov-west-1:000000000000:function:fn",
            FunctionRef("fn", None, "us-gov-west-1", "000000000000"),
        ),
    ],
)
def test_names_split_as_awss_pattern_splits_them(raw: str, expected: FunctionRef) -> None:
    assert parse_function_ref(raw) == expected


def test_another_region_is_not_reachable_and_another_account_not_found() -> None:
    other_region = parse_function_ref("arn:aws:lambda:eu-west-1:000000000000:function:fn")
    with pytest.raises(ResourceNotFound) as err:
        check_reachable(other_region, "us-east-1", "000000000000", PREFIX)
    assert err.value.message == "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')"
    with pytest.raises(ResourceNotFound, match=f"^Function not found: {PREFIX}fn$"):
        check_reachable(parse_function_ref("111111111111:function:fn"), "us-east-1", "000000000000", PREFIX)
    check_reachable(parse_function_ref(f"{PREFIX}fn"), "us-east-1", "000000000000", PREFIX)


def test_create_with_another_accounts_arn_is_access_denied_without_a_message() -> None:
    with pytest.raises(AccessDenied) as err:
        check_creatable(
            parse_function_ref("arn:aws:lambda:us-east-1:111111111111:function:fn"), "us-east-1", "0" * 12
        )
    assert (err.value.status, err.value.body_message()) == (403, None)


def test_a_qualifier_in_the_name_must_match_the_query() -> None:
    ref = parse_function_ref("fn:1")
    assert check_qualifier(ref, None, PREFIX) == "1"
    assert check_qualifier(ref, "1", PREFIX) == "1"
    with pytest.raises(
        InvalidParameterValue, match=r"^The derived qualifier from the function name does not match"
    ):
        check_qualifier(ref, "2", PREFIX)
