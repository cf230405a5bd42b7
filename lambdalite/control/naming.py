"""Function names as the Lambda API accepts them in a path.

Accepted forms, each optionally followed by ``:QUALIFIER``, split as AWS's own
pattern splits them (every part before the name is optional)::

    my-function
    function:my-function
    123456789012:function:my-function
    arn:aws:lambda:us-east-1:123456789012:function:my-function

so ``arn:aws:lambda:us-east-1:123456789012:function`` names a function called
``function``, as it does on AWS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambdalite.errors import AccessDenied, InvalidParameterValue, ResourceNotFound

_ARN = re.compile(
    r"^(?:arn:(?P<partition>aws[a-zA-Z-]*)?:lambda:)?"
    r"(?:(?P<region>(?:eusc-)?[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?"
    r"(?:function:)?"
    r"(?P<name>[a-zA-Z0-9_.-]+)"
    r"(?::(?P<qualifier>\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9_-]+))?$"
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


def check_reachable(ref: FunctionRef, region: str, account: str, arn_prefix: str) -> None:
    """A function ARN of another region is refused in AWS's words ("Functions from 'X'
    are not reachable in this region ('Y')"); another account's is not found here."""
    if ref.region and ref.region != region:
        raise ResourceNotFound(f"Functions from '{ref.region}' are not reachable in this region ('{region}')")
    check_region_and_account(ref, region, account, arn_prefix)


def check_creatable(ref: FunctionRef, region: str, account: str) -> None:
    """CreateFunction with an ARN: another region's is unreachable, another account's
    refused (403 AccessDeniedException with no message, as AWS answers)."""
    if ref.region and ref.region != region:
        raise ResourceNotFound(f"Functions from '{ref.region}' are not reachable in this region ('{region}')")
    if ref.account and ref.account != account:
        raise AccessDenied()
