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
from collections.abc import Callable, Iterable, Mapping

from lambdalite.auth.authorize_context import AccessDenied, acting_as, current_principal
from lambdalite.auth.credentials import Principal
from lambdalite.auth.policy import Decision, Policy, Request, evaluate
from lambdalite.auth.policy_conditions import ContextValue
from lambdalite.services.iam.directory import IamDirectory, owner_of

__all__ = ["AccessDenied", "Authorizer", "acting_as", "condition_keys", "current_principal", "denied_message"]

_DecisionKey = tuple[str, str, str, str, tuple[tuple[str, str | tuple[str, ...]], ...]]
"""(principal ARN, its account, action, resource, the values of the condition keys read)."""


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


MAX_DECISIONS = 8192
"""Decisions remembered (a full cache is emptied: principals and resources are few)."""
TIME_KEYS = frozenset({"aws:currenttime", "aws:epochtime"})
"""Condition keys whose value changes with every request: a decision under a policy that
reads them is evaluated each time."""
_UNCACHEABLE: frozenset[str] = frozenset({"*"})
"""``condition_keys``' answer for policies whose decisions are not remembered."""


def condition_keys(policies: Iterable[Policy]) -> frozenset[str]:
    """The (lower-cased) condition keys the statements of ``policies`` read; ``{"*"}``
    when one of them reads the time, so that no decision under them is remembered."""
    keys = frozenset(
        key.lower()
        for policy in policies
        for statement in policy.statements
        for block in statement.condition.values()
        if isinstance(block, Mapping)
        for key in block
    )
    return _UNCACHEABLE if keys & TIME_KEYS else keys


class Authorizer:
    """Policy decisions, remembered: a decision is a pure function of the principal, the
    action, the resource, the policies that apply (the principal's identity policies and
    the resource's policy) and the condition keys those policies read. It is kept under
    (principal, action, resource, the values of the keys read) with the policy objects it
    was made with, and used again only while they are the same objects: the directory
    builds new ones on every IAM write (``IamDirectory.changed``: users, roles, their
    policies and attachments), a resource policy is parsed anew for each revision
    (AddPermission, RemovePermission), and a deleted key verifies nobody. A policy that
    reads the time (``aws:CurrentTime``, ``aws:EpochTime``) is evaluated every time."""

    def __init__(self, directory: IamDirectory, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self._clock = clock
        self._decisions: dict[_DecisionKey, tuple[tuple[Policy, ...], Policy | None, Decision]] = {}
        self._keys_read: dict[tuple[int, int], tuple[tuple[Policy, ...], Policy | None, frozenset[str]]] = {}
        """id() of (identity policies, resource policy) -> them, and the condition keys they read."""

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
        identity = self.directory.identity_policies(principal.arn)
        read = self._condition_keys(identity, resource_policy)
        key: _DecisionKey | None = None
        if read is not _UNCACHEABLE:
            values: tuple[tuple[str, str | tuple[str, ...]], ...] = ()
            if context and read:
                values = tuple(
                    sorted(
                        (name.lower(), value if isinstance(value, str) else tuple(value))
                        for name, value in context.items()
                        if name.lower() in read
                    )
                )
            key = (principal.arn, principal.account_id, action, resource, values)
            remembered = self._decisions.get(key)
            if remembered is not None and remembered[0] is identity and remembered[1] is resource_policy:
                return remembered[2]
        request = Request(
            action,
            resource,
            principal.arn,
            principal.account_id,
            context=self.context(principal, context),
        )
        decision = evaluate(identity, request, resource_policy)
        if key is not None:
            if len(self._decisions) >= MAX_DECISIONS:
                self._decisions.clear()
            self._decisions[key] = (identity, resource_policy, decision)
        return decision

    def _condition_keys(self, identity: tuple[Policy, ...], resource_policy: Policy | None) -> frozenset[str]:
        ids = (id(identity), id(resource_policy))
        known = self._keys_read.get(ids)
        if known is not None and known[0] is identity and known[1] is resource_policy:
            return known[2]
        keys = condition_keys((*identity, *((resource_policy,) if resource_policy is not None else ())))
        if len(self._keys_read) >= MAX_DECISIONS:
            self._keys_read.clear()
        # The objects are kept with their ids: an id is not reused while they are held.
        self._keys_read[ids] = (identity, resource_policy, keys)
        return keys

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
