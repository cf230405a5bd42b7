"""Tagging requests' Resource ARN, parsed as AWS parses it (its recorded answers)."""

from __future__ import annotations

import pytest

from lambdalite.control import tags
from lambdalite.errors import InvalidParameterValue, ResourceNotFound, Validation

BASE = "arn:aws:lambda:us-east-1:000000000000:"
MAPPING = f"{BASE}event-source-mapping:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def test_a_function_arn_names_the_function_and_a_qualified_one_is_refused() -> None:
    assert tags.parse_resource(f"{BASE}function:f").name == "f"
    with pytest.raises(InvalidParameterValue) as err:
        tags.parse_resource(f"{BASE}function:f:live")
    assert err.value.message == tags.QUALIFIED_TAG_ARN


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        (MAPPING, f"Event source mapping not found: {MAPPING}"),
        (f"{BASE}capacity-provider:cp", f"Capacity provider not found: {BASE}capacity-provider:cp"),
        (f"{BASE}layer:l", "The resource you requested does not exist."),
    ],
)
def test_other_taggable_kinds_are_not_found_in_awss_words(resource: str, message: str) -> None:
    with pytest.raises(ResourceNotFound) as err:
        tags.parse_resource(resource)
    assert err.value.message == message


@pytest.mark.parametrize(
    "resource",
    [
        "arn:aws:something",
        f"{BASE}foobar:x",
        f"{BASE}capacity-provider:cp:alias",
        f"{BASE}network-connector:n",  # in botocore's pattern, not in AWS's recorded one
    ],
)
def test_anything_else_fails_awss_pattern(resource: str) -> None:
    with pytest.raises(Validation) as err:
        tags.parse_resource(resource)
    assert err.value.message == (
        f"1 validation error detected: Value '{resource}' at 'resource' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {tags.TAGGABLE_RESOURCE_PATTERN}"
    )
