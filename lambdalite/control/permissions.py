"""AddPermission requests parsed at the edge, and the policy statements they become.

A function has one resource-based policy per qualifier: the unqualified
function's (kept under ``$LATEST``, which AddPermission refuses as an explicit
Qualifier, as AWS does), one per published version and one per alias. A
statement id is unique within one policy; the same id may exist in another
qualifier's policy.

Policies are **stored now and enforced later**: lambdalite does not check
signatures yet, so every caller may invoke every function whatever its policy
says. Once signature checking exists, Invoke will evaluate these statements.

Statements have the shape GetPolicy shows on AWS (member order Sid, Effect,
Principal, Action, Resource, Condition): a service principal becomes
``{"Service": ...}``, an account id ``{"AWS": "arn:aws:iam::ID:root"}``, an
IAM ARN ``{"AWS": ARN}``, ``*`` stays ``*``. Conditions: SourceAccount,
PrincipalOrgID, EventSourceToken and FunctionUrlAuthType as StringEquals,
SourceArn as ArnLike (AWS's recorded policies; LocalStack's parity snapshots
``test_lambda_api.snapshot.json``).

RevisionId: AWS bumps the function's (or alias's) RevisionId on every policy
change. lambdalite does not: a new ``$LATEST`` revision retires its warm
environments, and a permission is not a code or configuration change. The
policy has its own RevisionId instead (GetPolicy returns it); a RevisionId
precondition is checked against the policy's revision when the qualifier has a
policy, otherwise against the function's, version's or alias's RevisionId.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambdalite.control import validation
from lambdalite.errors import InvalidParameterValue

LATEST_POLICY = "We currently do not support adding policies for $LATEST."
NO_POLICY = "No policy is associated with the given resource."
POLICY_NOT_FOUND = "The resource you requested does not exist."
INVALID_PRINCIPAL = "The provided principal was invalid. Please check the principal and try again."

_ACCOUNT = re.compile(r"\d{12}", re.ASCII)
_IAM_ARN = re.compile(r"arn:aws[a-zA-Z-]*:iam:", re.ASCII)


def statement_exists(statement_id: str) -> str:
    return (
        f"The statement id ({statement_id}) provided already exists. "
        "Please provide a new statement id, or remove the existing statement."
    )


def statement_not_found(statement_id: str) -> str:
    return f"Statement {statement_id} is not found in resource policy."


def no_policy_for(function_arn: str) -> str:
    """RemovePermission on a function that does not exist."""
    return f"No policy found for: {function_arn}"


@dataclass(frozen=True, slots=True)
class PermissionInput:
    """AddPermission's body members; None means "not given"."""

    statement_id: str
    action: str
    principal: str
    source_arn: str | None = None
    source_account: str | None = None
    principal_org_id: str | None = None
    event_source_token: str | None = None
    function_url_auth_type: str | None = None
    invoked_via_function_url: bool | None = None
    revision_id: str | None = None


def parse_add_permission(body: Mapping[str, Any]) -> PermissionInput:
    """Gates 1 and 2 from the model (StatementId, Action, Principal, SourceAccount,
    PrincipalOrgID patterns, FunctionUrlAuthType's enum), then the principal's form."""
    request = validation.checked_body(body, "AddPermission")
    parsed = PermissionInput(
        statement_id=request["StatementId"],
        action=request["Action"],
        principal=request["Principal"],
        source_arn=request.get("SourceArn"),
        source_account=request.get("SourceAccount"),
        principal_org_id=request.get("PrincipalOrgID"),
        event_source_token=request.get("EventSourceToken"),
        function_url_auth_type=request.get("FunctionUrlAuthType"),
        invoked_via_function_url=request.get("InvokedViaFunctionUrl"),
        revision_id=request.get("RevisionId"),
    )
    _principal(parsed.principal)
    return parsed


def validate_statement_id(statement_id: str) -> None:
    """RemovePermission's StatementId path parameter."""
    validation.validate_value(statement_id, "NamespacedStatementId", "statementId")


def build_statement(request: PermissionInput, resource_arn: str) -> dict[str, Any]:
    """The policy statement AddPermission adds, in AWS's member order."""
    statement: dict[str, Any] = {
        "Sid": request.statement_id,
        "Effect": "Allow",
        "Principal": _principal(request.principal),
        "Action": request.action,
        "Resource": resource_arn,
    }
    # The order of AWS's recorded statement (TestLambdaPermissions::test_add_lambda_permission_fields).
    string_equals: dict[str, str] = {}
    if request.source_account is not None:
        string_equals["AWS:SourceAccount"] = request.source_account
    if request.function_url_auth_type is not None:
        string_equals["lambda:FunctionUrlAuthType"] = request.function_url_auth_type
    if request.principal_org_id is not None:
        string_equals["aws:PrincipalOrgID"] = request.principal_org_id
    if request.event_source_token is not None:
        string_equals["lambda:EventSourceToken"] = request.event_source_token
    condition: dict[str, Any] = {}
    if string_equals:
        condition["StringEquals"] = string_equals
    if request.invoked_via_function_url:
        # Not in a recorded AWS policy yet: the IAM condition key AWS documents for it.
        condition["Bool"] = {"lambda:InvokedViaFunctionUrl": "true"}
    if request.source_arn is not None:
        condition["ArnLike"] = {"AWS:SourceArn": request.source_arn}
    if condition:
        statement["Condition"] = condition
    return statement


def _principal(principal: str) -> str | dict[str, str]:
    if principal == "*":
        return "*"
    if principal.endswith(".amazonaws.com"):
        return {"Service": principal}
    if _ACCOUNT.fullmatch(principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if _IAM_ARN.match(principal):
        return {"AWS": principal}
    raise InvalidParameterValue(INVALID_PRINCIPAL)
