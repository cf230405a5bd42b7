"""Function names as the Lambda API accepts them in a path.

Accepted forms, each optionally followed by ``:QUALIFIER``::

    my-function
    123456789012:function:my-function
    arn:aws:lambda:us-east-1:123456789012:function:my-function
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambdalite.errors import InvalidParameterValue, ResourceNotFound

_ARN = re.compile(
    r"^(?:arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d):)?"
    r"(?:(?P<account>\d{12}):function:)?"
    r"(?P<name>[a-zA-Z0-9_-]{1,64})"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]{1,128}))?$"
)


@dataclass(frozen=True, slots=True)
class FunctionRef:
    name: str
    qualifier: str | None
    region: str | None
    account: str | None


def parse_function_ref(raw: str) -> FunctionRef:
    """Split a path's FunctionName into name and qualifier. The caller has
    already validated the length and pattern against the service model."""
    match = _ARN.match(raw)
    if match is None:
        raise InvalidParameterValue(f"Invalid function name: {raw}")
    return FunctionRef(match["name"], match["qualifier"], match["region"], match["account"])


def check_qualifier(ref: FunctionRef, query_qualifier: str | None, arn_prefix: str) -> str | None:
    """Reconcile a qualifier in the name with one in the query string, as AWS does."""
    if ref.qualifier and query_qualifier and ref.qualifier != query_qualifier:
        raise InvalidParameterValue(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    return query_qualifier or ref.qualifier


def check_region_and_account(ref: FunctionRef, region: str, account: str, arn_prefix: str) -> None:
    """A full ARN naming another region or account cannot name one of our functions."""
    if (ref.region and ref.region != region) or (ref.account and ref.account != account):
        raise ResourceNotFound(f"Function not found: {arn_prefix}{ref.name}")
