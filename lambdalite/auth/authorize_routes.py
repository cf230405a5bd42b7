"""The authorization hooks of the front router's services, under ``--auth sigv4``: each
names a request's IAM action and resource and asks the ``Authorizer``.

- ``LambdaAuthorization``: every Lambda API operation (``lambda:InvokeFunction`` for
  Invoke, ``lambda:<Operation>`` for the rest) on the function's ARN (qualified when
  the request names a qualifier), with the function's resource-based policy for the
  operations AddPermission can grant; Function URLs with AuthType AWS_IAM
  (``lambda:InvokeFunctionUrl``, ``lambda:FunctionUrlAuthType``).
- ``authorize_service_request``: the query/json services (``sqs:SendMessage`` on the
  queue's ARN, ``sns:Publish`` on the topic's, ``iam:CreateRole`` on the role's...).
  STS authorizes itself (AssumeRole's trust policy; GetCallerIdentity needs no permission),
  and so do SQS and SNS (their queue and topic policies count: ``services.access``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

import orjson

from lambdalite.auth.authorize import Authorizer
from lambdalite.auth.authorize_context import AccessDenied, current_principal, current_service
from lambdalite.auth.authorize_s3 import s3_action_and_resource
from lambdalite.auth.credentials import Principal
from lambdalite.auth.policy import Decision, Policy, PolicyError, Request, evaluate, parse_policy
from lambdalite.errors import InvalidParameterValue
from lambdalite.http.message import HttpRequest
from lambdalite.models import ResourcePolicy
from lambdalite.protocol.model import load_model
from lambdalite.services.iam.directory import role_name_of

__all__ = ["LambdaAuthorization", "authorize_service_request", "lambda_action"]

LATEST = "$LATEST"
RESOURCE_POLICY_ACTIONS = frozenset(
    {
        "lambda:InvokeFunction",
        "lambda:InvokeFunctionUrl",
        "lambda:InvokeAsync",
        "lambda:GetFunction",
        "lambda:GetFunctionConfiguration",
    }
)
"""The actions a function's policy (AddPermission) may grant another principal."""
ROLE_OPERATIONS = frozenset({"CreateFunction", "UpdateFunctionConfiguration"})
"""Operations that name an execution role."""
ROLE_CANNOT_BE_ASSUMED = "The role defined for the function cannot be assumed by Lambda."
UNAUTHORIZED_SERVICES = frozenset({"sts", "sqs", "sns"})
"""Services that authorize their own requests."""
OWN_SURFACES: dict[str, dict[str, str]] = {
    "keys": {"GET": "iam:ListAccessKeys", "POST": "iam:CreateAccessKey", "DELETE": "iam:DeleteAccessKey"},
    "async-backlog": {"GET": "lambdalite:GetAsyncBacklog"},
}
"""lambdalite's own surfaces (by route name): the action each method needs."""
_FORM = b"application/x-www-form-urlencoded"


def lambda_action(operation: str) -> str:
    """The IAM action of a Lambda API operation (Invoke's is ``lambda:InvokeFunction``)."""
    return "lambda:InvokeFunction" if operation == "Invoke" else f"lambda:{operation}"


def split_function(name: str) -> tuple[str, str | None]:
    """(function name, qualifier in the name) of a name, partial ARN or ARN."""
    parts = name.split(":")
    if name.startswith("arn:") and len(parts) >= 7:
        return parts[6], parts[7] if len(parts) > 7 else None
    if len(parts) >= 3 and parts[1] == "function":  # ACCOUNT:function:NAME[:QUALIFIER]
        return parts[2], parts[3] if len(parts) > 3 else None
    if len(parts) == 2:
        return parts[0], parts[1]
    return name, None


class LambdaAuthorization:
    """``check(operation, name, request)`` before each Lambda API operation."""

    def __init__(
        self,
        authorizer: Authorizer,
        region: str,
        account_id: str,
        resource_policy: Callable[[str, str], ResourcePolicy | None],
    ) -> None:
        """``resource_policy(name, qualifier)``: the function's policy for the qualifier, or None."""
        self._authorizer = authorizer
        self._admin_arn = authorizer.directory.admin_arn
        self._prefix = f"arn:aws:lambda:{region}:{account_id}:"
        self._resource_policy = resource_policy
        self._parsed: dict[tuple[str, str, str], Policy | None] = {}

    def resource(self, operation: str, name: str | None, request: HttpRequest) -> str:
        """The ARN the operation acts on (``*`` for account-wide operations)."""
        if operation.startswith(("ListFunctions", "GetAccountSettings", "ListLayers", "ListEventSource")):
            return "*"
        if name is None:
            if operation == "CreateFunction":
                body = _json(request.body)
                function = body.get("FunctionName") if isinstance(body, dict) else None
                return f"{self._prefix}function:{split_function(str(function))[0]}" if function else "*"
            return "*"
        if name.startswith("arn:aws:lambda:"):  # tags are addressed by ARN
            return name
        function, qualifier = split_function(name)
        if qualifier is None:
            for key, value in parse_qsl(request.query.decode("latin-1")):
                if key == "Qualifier":
                    qualifier = value
        arn = f"{self._prefix}function:{function}"
        return f"{arn}:{qualifier}" if qualifier and qualifier != LATEST else arn

    def check(self, operation: str, name: str | None, request: HttpRequest) -> None:
        principal = current_principal()
        if principal is None:
            return
        if operation in ROLE_OPERATIONS:  # the administrator too must name a role that exists
            body = _json(request.body)
            role = body.get("Role") if isinstance(body, dict) else None
            if isinstance(role, str):
                self.check_role(principal, role)
        if principal.arn == self._admin_arn:
            return  # the warm path of the administrator's invokes: nothing to evaluate
        action = lambda_action(operation)
        resource = self.resource(operation, name, request)
        context = {"lambda:FunctionArn": resource, "aws:SourceIp": request.client}
        self.check_function(principal, action, resource, context)

    def check_role(self, principal: Principal, role_arn: str) -> None:
        """The execution role exists and the caller may pass it (``iam:PassRole``)."""
        name = role_name_of(role_arn)
        directory = self._authorizer.directory
        if name is None or directory.role_arn(name) != role_arn:
            raise InvalidParameterValue(ROLE_CANNOT_BE_ASSUMED)
        self._authorizer.check(principal, "iam:PassRole", role_arn)

    def check_mapping(self, method: str, uuid: str) -> None:
        """An event source mapping operation (``/2015-03-31/event-source-mappings[/UUID]``)."""
        principal = current_principal()
        if principal is None:
            return
        if uuid:
            verb = {"GET": "Get", "PUT": "Update", "DELETE": "Delete"}.get(method, "Get")
            resource = f"{self._prefix}event-source-mapping:{uuid}"
        else:
            verb, resource = ("Create" if method == "POST" else "List"), "*"
        operation = f"{verb}EventSourceMapping" + ("s" if verb == "List" else "")
        self._authorizer.check(principal, f"lambda:{operation}", resource)

    def check_layer(self, operation: str, name: str | None) -> None:
        principal = current_principal()
        if principal is None:
            return
        resource = f"{self._prefix}layer:{split_function(name)[0]}" if name else "*"
        self._authorizer.check(principal, f"lambda:{operation}", resource)

    def check_function(
        self, principal: Principal, action: str, resource: str, context: dict[str, Any]
    ) -> None:
        policy = None
        if action in RESOURCE_POLICY_ACTIONS and resource.startswith(self._prefix + "function:"):
            pieces = resource[len(self._prefix) :].split(":")
            policy = self._policy(pieces[1], pieces[2] if len(pieces) > 2 else LATEST)
        self._authorizer.check(principal, action, resource, context, policy)

    def _policy(self, name: str, qualifier: str) -> Policy | None:
        found = self._resource_policy(name, qualifier)
        if found is None:
            return None
        key = (name, qualifier, found.revision_id)
        if key not in self._parsed:
            if len(self._parsed) > 1024:
                self._parsed.clear()
            document = {"Version": "2012-10-17", "Statement": [dict(s) for s in found.statements]}
            try:
                self._parsed[key] = parse_policy(document, resource_policy=True)
            except PolicyError:
                self._parsed[key] = None
        return self._parsed[key]

    def check_service_invoke(self, name: str, qualifier: str | None) -> None:
        """When a service is invoking (``current_service()``), its principal must be allowed
        ``lambda:InvokeFunction`` by the function's resource policy, with its
        ``aws:SourceArn``/``aws:SourceAccount``; AccessDenied otherwise. Nothing else is asked."""
        caller = current_service()
        if caller is None:
            return
        arn = f"{self._prefix}function:{name}"
        resource = f"{arn}:{qualifier}" if qualifier and qualifier != LATEST else arn
        policy = self._policy(name, qualifier or LATEST)
        context = {"aws:sourcearn": caller.source_arn, "aws:sourceaccount": caller.source_account}
        request = Request("lambda:InvokeFunction", resource, service=caller.principal, context=context)
        decision = evaluate((), request, policy)
        if decision is Decision.IMPLICIT_DENY and caller.role_arn:
            # A service that acts with a role (Scheduler) may be allowed by the role's policies.
            role = role_name_of(caller.role_arn)
            if role is not None:
                session = Principal(
                    f"arn:aws:sts::{caller.source_account}:assumed-role/{role}/{role}",
                    caller.source_account,
                    "",
                )
                decision = self._authorizer.decide(session, "lambda:InvokeFunction", resource, None, policy)
        if decision is not Decision.ALLOW:
            raise AccessDenied(
                f"{caller.principal} is not authorized to perform: lambda:InvokeFunction on resource: "
                f"{resource} for {caller.source_arn}: the function's resource-based policy does not allow it"
            )

    def check_url(self, principal: Principal, function_arn: str) -> None:
        """A Function URL with AuthType AWS_IAM, signed by ``principal``."""
        context = {"lambda:FunctionUrlAuthType": "AWS_IAM", "lambda:FunctionArn": function_arn}
        self.check_function(principal, "lambda:InvokeFunctionUrl", function_arn, context)


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return {}


def _operation_and_params(request: HttpRequest) -> tuple[str, dict[str, Any]]:
    target = request.headers.get(b"x-amz-target")
    if target is not None:
        params = _json(request.body)
        return target.decode("latin-1").rpartition(".")[2], params if isinstance(params, dict) else {}
    form: dict[str, Any] = {}
    try:
        if request.query:
            form.update(parse_qsl(request.query.decode("utf-8")))
        if request.body and request.headers.get(b"content-type", _FORM).startswith(_FORM):
            form.update(parse_qsl(request.body.decode("utf-8")))
    except UnicodeDecodeError:
        return "", {}
    return str(form.get("Action", "")), form


def _service_resource(service: str, operation: str, params: dict[str, Any], region: str, account: str) -> str:
    if service == "sqs":
        url = params.get("QueueUrl")
        name = str(url).rstrip("/").rsplit("/", 1)[-1] if url else params.get("QueueName")
        return f"arn:aws:sqs:{region}:{account}:{name}" if name else "*"
    if service == "sns":
        arn = params.get("TopicArn") or params.get("TargetArn") or params.get("ResourceArn")
        if arn:
            return str(arn)
        return (
            f"arn:aws:sns:{region}:{account}:{params['Name']}"
            if operation == "CreateTopic" and params.get("Name")
            else "*"
        )
    if service == "iam":
        if params.get("RoleName"):
            return f"arn:aws:iam::{account}:role/{params['RoleName']}"
        if params.get("UserName"):
            return f"arn:aws:iam::{account}:user/{params['UserName']}"
        return str(params.get("PolicyArn") or "*")
    return "*"


def authorize_service_request(
    authorizer: Authorizer, service: str, request: HttpRequest, region: str, account: str
) -> None:
    """Authorize a query- or json-protocol request to ``service`` (its route name);
    raise AccessDenied when the caller's policies do not allow it. A request that names
    no operation is left to the service (it answers the protocol's own error)."""
    principal = current_principal()
    if principal is None or service in UNAUTHORIZED_SERVICES:
        return
    own = OWN_SURFACES.get(service)
    if own is not None:  # lambdalite's own surfaces: keys are IAM's access keys
        action = own.get(request.method, f"lambdalite:{request.method.title()}{service.title()}")
        authorizer.check(principal, action, "*")
        return
    if service == "s3":
        action, resource = s3_action_and_resource(request)
        if action:
            authorizer.check(principal, action, resource, {"aws:SourceIp": request.client})
        return
    if service in REST_SERVICES:
        operation, resource = _rest_operation(service, request, region, account)
    else:
        operation, params = _operation_and_params(request)
        resource = _service_resource(service, operation, params, region, account)
    if not operation:
        return
    authorizer.check(principal, f"{service}:{operation}", resource, {"aws:SourceIp": request.client})


REST_SERVICES = frozenset({"scheduler"})
"""Services whose operation is named by the method and path (rest-json), from botocore's model."""


@lru_cache(maxsize=8)
def _rest_routes(service: str) -> tuple[tuple[str, re.Pattern[str], str], ...]:
    """(method, path pattern, operation) of each operation of the service's model."""
    model = load_model(service)
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri = http["requestUri"].split("?", 1)[0]
        # {Name+} and ARNs (which hold slashes) match any run; other labels one segment.
        pattern = re.sub(r"\\{[^}]+(\\\+|Arn)\\}", ".+", re.escape(uri))
        pattern = re.sub(r"\\{[^}]+\\}", "[^/]+", pattern)
        routes.append((http["method"], re.compile(f"^{pattern}/?$"), name))
    return tuple(routes)


def _rest_operation(service: str, request: HttpRequest, region: str, account: str) -> tuple[str, str]:
    """(operation, resource ARN) of a rest-json request; ("", "") when none matches."""
    for method, pattern, name in _rest_routes(service):
        if method == request.method and pattern.match(request.path):
            if service == "scheduler" and request.path.startswith("/schedules/"):
                group = "default"
                for key, value in parse_qsl(request.query.decode("latin-1")):
                    if key == "groupName":
                        group = value
                schedule = request.path.rsplit("/", 1)[1]
                return name, f"arn:aws:scheduler:{region}:{account}:schedule/{group}/{schedule}"
            return name, "*"
    return "", ""
