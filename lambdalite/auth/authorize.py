"""Authorization under ``--auth sigv4``: may this principal do this action on this
resource? ``Authorizer.check`` answers with policy evaluation (``auth.policy``) over the
principal's identity policies (``services.iam.directory``) and, when the resource has
one, its resource-based policy; a refusal is ``AccessDenied`` with AWS's words.

The principal a request was verified as is ``current_principal()`` while the request is
served (the front router sets it with ``acting_as``); the built-in administrator
(``user/admin``, the key lambdalite creates at first start) may do everything.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping

from lambdalite.auth.authorize_context import AccessDenied, acting_as, current_principal
from lambdalite.auth.credentials import Principal
from lambdalite.auth.policy import Decision, Policy, Request, evaluate
from lambdalite.auth.policy_conditions import ContextValue
from lambdalite.services.iam.directory import IamDirectory, owner_of

__all__ = ["AccessDenied", "Authorizer", "acting_as", "current_principal", "denied_message"]


def denied_message(principal_arn: str, action: str, resource: str, decision: Decision) -> str:
    """AWS's text for a refusal, saying which kind of policy refused."""
    head = f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource}"
    if decision is Decision.EXPLICIT_DENY:
        return f"{head} with an explicit deny in an identity-based policy"
    if decision is Decision.RESOURCE_DENY:
        return f"{head} with an explicit deny in a resource-based policy"
    return f"{head} because no identity-based policy allows the {action} action"


def principal_arn_key(principal: Principal) -> str:
    """``aws:PrincipalArn``: a role session's role ARN, else the principal's own ARN."""
    owner = owner_of(principal.arn)
    if owner is not None and owner[0] == "role" and ":sts:" in principal.arn:
        return f"arn:aws:iam::{principal.account_id}:role/{owner[1]}"
    return principal.arn


class Authorizer:
    def __init__(self, directory: IamDirectory, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self._clock = clock

    def context(
        self, principal: Principal, extra: Mapping[str, ContextValue] | None = None
    ) -> dict[str, ContextValue]:
        """The global condition keys of a request by ``principal``, with ``extra`` over them."""
        now = self._clock()
        keys: dict[str, ContextValue] = {
            "aws:principalarn": principal_arn_key(principal),
            "aws:principalaccount": principal.account_id,
            "aws:currenttime": dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aws:epochtime": str(int(now)),
            "aws:securetransport": "false",
        }
        owner = owner_of(principal.arn)
        if owner is not None and owner[0] == "user":
            keys["aws:username"] = owner[1]
        keys["aws:principaltype"] = "AssumedRole" if ":assumed-role/" in principal.arn else "User"
        for key, value in (extra or {}).items():
            keys[key.lower()] = value
        return keys

    def decide(
        self,
        principal: Principal,
        action: str,
        resource: str,
        context: Mapping[str, ContextValue] | None = None,
        resource_policy: Policy | None = None,
    ) -> Decision:
        if self.directory.is_admin(principal.arn):
            return Decision.ALLOW
        request = Request(
            action,
            resource,
            principal.arn,
            principal.account_id,
            context=self.context(principal, context),
        )
        return evaluate(self.directory.identity_policies(principal.arn), request, resource_policy)

    def check(
        self,
        principal: Principal,
        action: str,
        resource: str,
        context: Mapping[str, ContextValue] | None = None,
        resource_policy: Policy | None = None,
    ) -> None:
        """Return when ``principal`` may; raise AccessDenied with AWS's message otherwise."""
        decision = self.decide(principal, action, resource, context, resource_policy)
        if decision is not Decision.ALLOW:
            raise AccessDenied(denied_message(principal.arn, action, resource, decision))
