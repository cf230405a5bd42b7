"""TagResource, UntagResource and ListTags requests parsed at the edge.

Tags belong to the function, never to a version or an alias: a qualified ARN
is refused with AWS's InvalidParameterValueException. The Resource path
parameter is checked against ``TAGGABLE_RESOURCE_PATTERN``, AWS's own pattern
(a full ARN, never a bare name; it differs from botocore's ``TaggableResource``),
tag keys and values against ``TagKey``/``TagValue``. A function holds at most
``MAX_TAGS`` tags, counted after the merge. Other taggable resources that
lambdalite does not have (event source mappings, capacity providers) are not
found, with AWS's message for each kind.

Texts are AWS's as its recorded answers have them (test_lambda_api.snapshot.json,
TestLambdaTag and TestLambdaTags).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from lambdalite.control import service_model, validation
from lambdalite.control.naming import FunctionRef, parse_function_ref
from lambdalite.errors import InvalidParameterValue, ResourceNotFound, Validation

MAX_TAGS = 50
"""AWS: 50 tags per resource."""
TOO_MANY_TAGS = "Number of tags exceeds resource tag limit."
QUALIFIED_TAG_ARN = "Tags on function aliases and versions are not supported. Please specify a function ARN."
NO_TAGS = "An error occurred and the request cannot be processed."
NULL_TAG_KEYS = (
    "1 validation error detected: "
    "Value null at 'tagKeys' failed to satisfy constraint: Member must not be null"
)
TAGGABLE_RESOURCE_PATTERN = (
    "arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:"
    "(function:[a-zA-Z0-9-_]+(:(\\$LATEST|[a-zA-Z0-9-_]+))?|layer:([a-zA-Z0-9-_]+)|"
    "code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-"
    "[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|capacity-provider:[a-zA-Z0-9-_]+)"
)
"""The pattern AWS checks a tagging request's Resource against, as its ValidationException words it."""
_TAGGABLE = re.compile(TAGGABLE_RESOURCE_PATTERN, re.ASCII)
_RESOURCE_TYPE = re.compile(r"arn:[^:]*:lambda:[^:]*:\d{12}:(?P<type>[a-z-]+):")
_NOT_FOUND_BY_TYPE = {
    "event-source-mapping": "Event source mapping not found: {arn}",
    "capacity-provider": "Capacity provider not found: {arn}",
}
"""AWS's not-found texts for the taggable resources lambdalite does not have."""


def parse_resource(resource: str) -> FunctionRef:
    """The function a taggable ARN names; Validation for anything that does not match
    AWS's pattern, InvalidParameterValue for a version or alias ARN, ResourceNotFound
    (AWS's text for its kind) for another kind of resource."""
    check_taggable(resource)
    kind = _RESOURCE_TYPE.match(resource)
    if kind is None or kind["type"] != "function":
        text = _NOT_FOUND_BY_TYPE.get(
            kind["type"] if kind else "", "The resource you requested does not exist."
        )
        raise ResourceNotFound(text.format(arn=resource))
    ref = parse_function_ref(resource)
    if ref.qualifier is not None:
        raise InvalidParameterValue(QUALIFIED_TAG_ARN)
    return ref


def check_taggable(resource: str) -> None:
    """Validation, worded as AWS words it, unless ``resource`` matches AWS's pattern."""
    shape = service_model.shape("TaggableResource")
    failures = []
    if shape.max is not None and len(resource) > shape.max:
        failures.append(f"Member must have length less than or equal to {shape.max}")
    if _TAGGABLE.fullmatch(resource) is None:
        failures.append(f"Member must satisfy regular expression pattern: {TAGGABLE_RESOURCE_PATTERN}")
    if failures:
        noun = "error" if len(failures) == 1 else "errors"
        raise Validation(
            f"{len(failures)} validation {noun} detected: "
            + "; ".join(
                f"Value '{resource}' at 'resource' failed to satisfy constraint: {f}" for f in failures
            )
        )


def parse_tags(body: Mapping[str, Any], operation: str = "TagResource") -> Mapping[str, str]:
    """The Tags member of a TagResource body (required, at least one tag)."""
    request = validation.checked_body(body, operation)
    tags = request.get("Tags") or {}
    if not tags:
        raise InvalidParameterValue(NO_TAGS)
    return MappingProxyType(dict(tags))


def parse_tag_keys(keys: Sequence[str] | None) -> tuple[str, ...]:
    """UntagResource's ``tagKeys`` query values (required)."""
    if not keys:
        raise Validation(NULL_TAG_KEYS)
    for key in keys:
        validation.validate_value(key, "TagKey", "tagKeys")
    return tuple(keys)


def check_count(tags: Mapping[str, str]) -> None:
    if len(tags) > MAX_TAGS:
        raise InvalidParameterValue(TOO_MANY_TAGS)
