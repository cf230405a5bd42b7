"""IAM policy documents: parsed once (``parse_policy``), evaluated as AWS documents
its evaluation logic for requests within one account (``evaluate``):

1. an explicit Deny in any applicable policy (identity or resource) wins;
2. else an Allow in an identity policy, or in the resource's policy for this
   principal, allows;
3. else the request is implicitly denied.

A statement applies when its Action (or NotAction) matches the action, its Resource
(or NotResource) the resource, its Principal (resource policies only) the caller, and
its Condition holds. Actions match case-insensitively with ``*``/``?`` wildcards;
resources case-sensitively. Pure: no I/O, no clock (time-based keys come in the context).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from lambdalite.auth.policy_conditions import ConditionError, Context, check_block, conditions_hold, wildcard

__all__ = [
    "Decision",
    "Policy",
    "PolicyError",
    "Request",
    "Statement",
    "evaluate",
    "parse_policy",
]

VERSIONS = frozenset({"2012-10-17", "2008-10-17"})


class PolicyError(ValueError):
    """A document that is not a policy."""

    def __init__(self, message: str, aws_message: str = "Syntax errors in policy.") -> None:
        super().__init__(message)
        self.aws_message = aws_message
        """What IAM answers (MalformedPolicyDocument) for this document."""


class Decision(enum.Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    """Denied by a statement of an identity policy."""
    RESOURCE_DENY = "explicit deny in a resource policy"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True, slots=True)
class Principal:
    """A resource policy's Principal element: ``*`` or the ARNs/accounts/services named."""

    anyone: bool = False
    aws: tuple[str, ...] = ()
    services: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Statement:
    allow: bool
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] = ("*",)
    not_resources: tuple[str, ...] | None = None
    principal: Principal | None = None
    not_principal: Principal | None = None
    condition: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    sid: str = ""


@dataclass(frozen=True, slots=True)
class Policy:
    statements: tuple[Statement, ...]


@dataclass(frozen=True, slots=True)
class Request:
    """What a caller asks: ``action`` (``lambda:InvokeFunction``) on ``resource`` (an ARN)."""

    action: str
    resource: str
    principal_arn: str = ""
    """The caller's ARN (a role session's ``assumed-role`` ARN), empty for a service."""
    principal_account: str = ""
    service: str = ""
    """The calling service principal (``sns.amazonaws.com``), for resource policies."""
    context: Context = field(default_factory=dict)
    """Condition keys, lower-cased."""


def _strings(value: object, what: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) for item in items):
        raise PolicyError(f"{what} must be a string or a list of strings")
    return tuple(str(item) for item in items)


def _principal(value: object) -> Principal:
    if value == "*":
        return Principal(anyone=True)
    if not isinstance(value, dict) or not value:
        raise PolicyError('Principal must be "*" or an object')
    aws: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    for kind, names in value.items():
        if kind == "AWS":
            aws = _strings(names, "Principal.AWS")
        elif kind == "Service":
            services = _strings(names, "Principal.Service")
        elif kind not in ("Federated", "CanonicalUser"):
            raise PolicyError(f"unknown principal type {kind!r}")
    return Principal(anyone="*" in aws, aws=aws, services=services)


def _statement(raw: object, resource_policy: bool) -> Statement:
    if not isinstance(raw, dict):
        raise PolicyError("a Statement must be an object")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError("Effect must be Allow or Deny")
    if ("Action" in raw) == ("NotAction" in raw):
        raise PolicyError(
            "a Statement needs one of Action and NotAction", "Policy statement must contain actions."
        )
    has_resource = "Resource" in raw or "NotResource" in raw
    if "Resource" in raw and "NotResource" in raw:
        raise PolicyError("a Statement needs at most one of Resource and NotResource")
    if not has_resource and not resource_policy:
        raise PolicyError(
            "a Statement needs Resource or NotResource", "Policy statement must contain resources."
        )
    condition = raw.get("Condition", {})
    try:
        check_block(condition)
    except ConditionError as exc:
        raise PolicyError(str(exc)) from exc
    sid = raw.get("Sid", "")
    return Statement(
        allow=effect == "Allow",
        actions=_strings(raw["Action"], "Action") if "Action" in raw else (),
        not_actions=_strings(raw["NotAction"], "NotAction") if "NotAction" in raw else None,
        resources=_strings(raw["Resource"], "Resource") if "Resource" in raw else ("*",),
        not_resources=_strings(raw["NotResource"], "NotResource") if "NotResource" in raw else None,
        principal=_principal(raw["Principal"]) if "Principal" in raw else None,
        not_principal=_principal(raw["NotPrincipal"]) if "NotPrincipal" in raw else None,
        condition=condition,
        sid=sid if isinstance(sid, str) else "",
    )


def parse_policy(document: str | bytes | Mapping[str, Any], *, resource_policy: bool = False) -> Policy:
    """The policy in ``document`` (JSON text or already decoded); PolicyError when it is
    not one. ``resource_policy``: statements may omit Resource and name a Principal."""
    if isinstance(document, str | bytes):
        try:
            decoded = orjson.loads(document)
        except orjson.JSONDecodeError:
            raise PolicyError("invalid JSON", "This policy contains invalid Json") from None
    else:
        decoded = document
    if not isinstance(decoded, dict):
        raise PolicyError("a policy must be a JSON object")
    version = decoded.get("Version", "2008-10-17")
    if version not in VERSIONS:
        raise PolicyError(f"unknown policy Version {version!r}")
    raw = decoded.get("Statement")
    if raw is None:
        raise PolicyError("a policy needs a Statement")
    items = raw if isinstance(raw, list) else [raw]
    statements = tuple(_statement(item, resource_policy) for item in items)
    if not resource_policy and any(s.principal or s.not_principal for s in statements):
        raise PolicyError(
            "a Principal in an identity policy", "Policy document should not specify a principal."
        )
    return Policy(statements)


def _any(patterns: Iterable[str], value: str, ignore_case: bool) -> bool:
    return any(wildcard(pattern, ignore_case).match(value) is not None for pattern in patterns)


def _principal_matches(principal: Principal, request: Request) -> bool:
    if principal.anyone:
        return True
    if request.service:
        return request.service in principal.services
    account = request.principal_account
    for name in principal.aws:
        # An account id, or the account's root ARN, names every principal of that account.
        if name == account or name == f"arn:aws:iam::{account}:root":
            return True
        if wildcard(name).match(request.principal_arn) is not None:
            return True
        role = _role_of_session(request.principal_arn)
        if role is not None and name == role:
            return True
    return False


def _role_of_session(arn: str) -> str | None:
    """``arn:aws:sts::A:assumed-role/R/S`` -> ``arn:aws:iam::A:role/R``."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role = parts[5].split("/")[1]
        return f"arn:aws:iam::{parts[4]}:role/{role}"
    return None


def applies(statement: Statement, request: Request, *, resource_policy: bool = False) -> bool:
    """Does ``statement`` speak about ``request``?"""
    if statement.not_actions is not None:
        if _any(statement.not_actions, request.action, True):
            return False
    elif not _any(statement.actions, request.action, True):
        return False
    if statement.not_resources is not None:
        if _any(statement.not_resources, request.resource, False):
            return False
    elif not _any(statement.resources, request.resource, False):
        return False
    if resource_policy:
        if statement.principal is not None and not _principal_matches(statement.principal, request):
            return False
        if statement.not_principal is not None and _principal_matches(statement.not_principal, request):
            return False
    return conditions_hold(statement.condition, request.context) if statement.condition else True


def evaluate(identity: Sequence[Policy], request: Request, resource: Policy | None = None) -> Decision:
    """The decision for ``request`` under the caller's identity policies and the
    resource's own policy (same-account evaluation: either may allow; any Deny wins)."""
    allowed = False
    for policy in identity:
        for statement in policy.statements:
            if applies(statement, request):
                if not statement.allow:
                    return Decision.EXPLICIT_DENY
                allowed = True
    if resource is not None:
        for statement in resource.statements:
            if applies(statement, request, resource_policy=True):
                if not statement.allow:
                    return Decision.RESOURCE_DENY
                allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY
