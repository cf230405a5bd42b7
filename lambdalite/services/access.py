"""Access to a queue or a topic under ``--auth sigv4``: the caller's identity policies
and the resource's own policy (an SQS queue's or SNS topic's ``Policy``), combined as
AWS documents it for SQS and SNS:

- an explicit Deny in either policy refuses;
- a principal of the resource's own account is allowed when either policy allows;
- a principal of another account needs both to allow;
- a service principal (``sns.amazonaws.com`` delivering to a queue,
  ``events.amazonaws.com`` sending to a queue or publishing to a topic) needs the
  resource policy, which sees ``aws:SourceArn`` and ``aws:SourceAccount``; a service
  that acts with a role (Scheduler's target RoleArn) may be allowed by the role's
  policies instead, as the role's own request would be.

The refusal says which policy was missing or denied, in AWS's words
(``... because no identity-based policy allows the sqs:sendmessage action``); each
service wraps it in its own error (SQS's AccessDenied, SNS's AuthorizationError).
Policy evaluation itself is ``auth.policy.evaluate``.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from lambdalite.auth.authorize import Authorizer
from lambdalite.auth.authorize_context import ServiceCaller, current_principal, current_service
from lambdalite.auth.credentials import Principal
from lambdalite.auth.policy import Decision, Policy, PolicyError, Request, evaluate, parse_policy
from lambdalite.auth.policy_conditions import ContextValue
from lambdalite.protocol.front import current_call
from lambdalite.services.iam.directory import role_name_of

__all__ = [
    "LabelExists",
    "LabelMissing",
    "Reason",
    "Refusal",
    "ResourceAccess",
    "resource_policy",
    "with_statement",
    "without_statement",
]

log = logging.getLogger("lambdalite.access")


class Reason(enum.Enum):
    """How a refusal ends, in AWS's words (``{action}`` is the action as the service shows it)."""

    NO_IDENTITY_ALLOW = "because no identity-based policy allows the {action} action"
    NO_RESOURCE_ALLOW = "because no resource-based policy allows the {action} action"
    IDENTITY_DENY = "with an explicit deny in an identity-based policy"
    RESOURCE_DENY = "with an explicit deny in a resource-based policy"


@dataclass(frozen=True, slots=True)
class Refusal:
    who: str
    """The caller's ARN, or the service principal (``sns.amazonaws.com``)."""
    resource: str
    reason: Reason

    def message(self, action: str) -> str:
        """AWS's text, with ``action`` as the service spells it (SQS: ``sqs:sendmessage``)."""
        ending = self.reason.value.format(action=action)
        return (
            f"User: {self.who} is not authorized to perform: {action} on resource: {self.resource} {ending}"
        )


def resource_policy(document: str) -> Policy | None:
    """The resource policy in ``document`` (a queue's or topic's Policy attribute);
    None when it is empty. Raises PolicyError when it is not a policy."""
    if not document.strip():
        return None
    return parse_policy(document, resource_policy=True)


def _account_of(arn: str) -> str | None:
    parts = arn.split(":", 5)
    return parts[4] if len(parts) == 6 and parts[0] == "arn" else None


class ResourceAccess:
    """Decides requests on queues and topics (see the module docstring). Holds the
    parsed policy of each resource, re-parsed when its text changes."""

    def __init__(self, authorizer: Authorizer) -> None:
        self._authorizer = authorizer
        self._parsed: dict[str, tuple[str, Policy | None]] = {}

    def policy(self, arn: str, document: str) -> Policy | None:
        """The parsed policy of resource ``arn`` whose Policy attribute is ``document``.
        A stored document that is not a policy (written before policies were checked)
        allows nothing: None."""
        cached = self._parsed.get(arn)
        if cached is not None and cached[0] == document:
            return cached[1]
        try:
            parsed = resource_policy(document)
        except PolicyError as exc:
            log.warning("the policy of %s is not a policy (%s): it allows nothing", arn, exc)
            parsed = None
        if len(self._parsed) > 4096:
            self._parsed.clear()
        self._parsed[arn] = (document, parsed)
        return parsed

    def check_caller(self, action: str, resource: str, document: str | None) -> Refusal | None:
        """The refusal of the verified caller (``current_principal()``) of the call being
        served (``aws:SourceIp`` is its client), with the resource's Policy ``document``
        (None: it has none that counts for this action); None when it may, or when no
        caller was verified (``--auth none``, an unsigned public action)."""
        principal = current_principal()
        if principal is None or self._authorizer.directory.is_admin(principal.arn):
            return None  # the administrator's requests (the warm path) evaluate nothing
        policy = None if document is None else self.policy(resource, document)
        try:
            client = current_call().client
        except LookupError:  # asked outside a protocol call: no address to tell
            client = ""
        context = {"aws:SourceIp": client} if client else None
        return self.decide(principal, action, resource, policy, context)

    def decide(
        self,
        principal: Principal,
        action: str,
        resource: str,
        policy: Policy | None,
        context: Mapping[str, ContextValue] | None = None,
    ) -> Refusal | None:
        """``principal``'s refusal for ``action`` on ``resource`` whose policy is
        ``policy`` (None: it has none, or it cannot grant this action), or None."""
        directory = self._authorizer.directory
        if directory.is_admin(principal.arn):
            return None
        request = Request(
            action,
            resource,
            principal.arn,
            principal.account_id,
            context=self._authorizer.context(principal, context),
        )
        identity = evaluate(directory.identity_policies(principal.arn), request)
        if identity is Decision.EXPLICIT_DENY:
            return Refusal(principal.arn, resource, Reason.IDENTITY_DENY)
        granted = Decision.IMPLICIT_DENY if policy is None else evaluate((), request, policy)
        if granted is Decision.RESOURCE_DENY:
            return Refusal(principal.arn, resource, Reason.RESOURCE_DENY)
        owner = _account_of(resource)
        if owner is None or owner == principal.account_id:
            if identity is Decision.ALLOW or granted is Decision.ALLOW:
                return None
            return Refusal(principal.arn, resource, Reason.NO_IDENTITY_ALLOW)
        # Another account's resource: its owner must grant it, and the caller's own account too.
        if identity is not Decision.ALLOW:
            return Refusal(principal.arn, resource, Reason.NO_IDENTITY_ALLOW)
        if granted is not Decision.ALLOW:
            return Refusal(principal.arn, resource, Reason.NO_RESOURCE_ALLOW)
        return None

    def check_service(self, action: str, resource: str, document: str) -> Refusal | None:
        """The refusal of the service acting on its own behalf (``current_service()``: a
        topic's delivery, a rule's target) under the resource's Policy ``document``; None
        when it may or no service is acting."""
        caller = current_service()
        if caller is None:
            return None
        return self.decide_service(caller, action, resource, self.policy(resource, document))

    def decide_service(
        self, caller: ServiceCaller, action: str, resource: str, policy: Policy | None
    ) -> Refusal | None:
        context: dict[str, ContextValue] = {
            "aws:sourcearn": caller.source_arn,
            "aws:sourceaccount": caller.source_account,
        }
        request = Request(action, resource, service=caller.principal, context=context)
        decision = Decision.IMPLICIT_DENY if policy is None else evaluate((), request, policy)
        if decision is Decision.ALLOW:
            return None
        if decision is Decision.IMPLICIT_DENY and caller.role_arn:
            role = role_name_of(caller.role_arn)
            if role is not None:
                # The service's request with the role is the role session's own request.
                account = _account_of(caller.role_arn) or caller.source_account
                session = Principal(f"arn:aws:sts::{account}:assumed-role/{role}/{role}", account, "")
                return self.decide(session, action, resource, policy)
        reason = Reason.RESOURCE_DENY if decision is Decision.RESOURCE_DENY else Reason.NO_RESOURCE_ALLOW
        return Refusal(caller.principal, resource, reason)


class LabelExists(ValueError):
    """AddPermission named a label the policy already has."""


class LabelMissing(ValueError):
    """RemovePermission named a label the policy does not have."""


def with_statement(
    document: str,
    label: str,
    accounts: list[str],
    actions: list[str],
    resource: str,
    policy_id: str,
) -> str:
    """``document`` (a Policy attribute, "" for none) with AddPermission's statement:
    Sid ``label``, allowing the root of each of ``accounts`` ``actions`` (spelled as the
    service spells them: ``SQS:SendMessage``) on ``resource``. Raises LabelExists."""
    policy = _decoded(document, policy_id)
    statements: list[dict[str, object]] = policy["Statement"]
    if any(statement.get("Sid") == label for statement in statements):
        raise LabelExists(label)
    principals = [f"arn:aws:iam::{account}:root" for account in accounts]
    statements.append(
        {
            "Sid": label,
            "Effect": "Allow",
            "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
            "Action": actions[0] if len(actions) == 1 else actions,
            "Resource": resource,
        }
    )
    return orjson.dumps(policy).decode()


def without_statement(document: str, label: str) -> str:
    """``document`` without the statement whose Sid is ``label`` ("" when none is left).
    Raises LabelMissing."""
    policy = _decoded(document, "")
    statements = policy["Statement"]
    kept = [statement for statement in statements if statement.get("Sid") != label]
    if len(kept) == len(statements):
        raise LabelMissing(label)
    if not kept:
        return ""
    policy["Statement"] = kept
    return orjson.dumps(policy).decode()


def _decoded(document: str, policy_id: str) -> dict[str, Any]:
    try:
        policy = orjson.loads(document) if document.strip() else None
    except orjson.JSONDecodeError:
        policy = None
    if not isinstance(policy, dict):
        policy = {"Version": "2012-10-17", "Id": policy_id, "Statement": []}
    statements = policy.get("Statement")
    if not isinstance(statements, list):
        policy["Statement"] = [statements] if isinstance(statements, dict) else []
    policy["Statement"] = [s for s in policy["Statement"] if isinstance(s, dict)]
    return policy
