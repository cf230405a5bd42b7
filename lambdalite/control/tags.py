"""TagResource, UntagResource and ListTags requests parsed at the edge.

Tags belong to the function, never to a version or an alias: a qualified ARN
is refused with AWS's InvalidParameterValueException. The Resource path
parameter is checked against the model's ``TaggableResource`` pattern (a full
ARN, never a bare name), tag keys and values against ``TagKey``/``TagValue``.
A function holds at most ``MAX_TAGS`` tags, counted after the merge.

Texts are AWS's as LocalStack's parity-tested provider reproduces them
(``services/lambda_/provider.py``, tagging section).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from lambdalite.control import validation
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
_FUNCTION_PART = ":function:"


def parse_resource(resource: str) -> FunctionRef:
    """The function a taggable ARN names; Validation for anything that is not a
    Lambda ARN, InvalidParameterValue for a version or alias ARN."""
    validation.validate_value(resource, "TaggableResource", "resource")
    if _FUNCTION_PART not in resource:
        # Code signing configs, event source mappings, ...: lambdalite has none of them.
        raise ResourceNotFound("The resource you requested does not exist.")
    ref = parse_function_ref(resource)
    if ref.qualifier is not None:
        raise InvalidParameterValue(QUALIFIED_TAG_ARN)
    return ref


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
