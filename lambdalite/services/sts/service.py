"""The STS operations lambdalite serves: GetCallerIdentity and AssumeRole (query protocol).

Under ``--auth sigv4`` AssumeRole needs the role's trust policy to allow the caller
(``sts:AssumeRole``), and, when the trust policy names the caller only through its
account, the caller's own policies to allow it too (AWS's same-account rule). Under
``--auth none`` any existing role may be assumed. Durations are AWS's (900 s to the
role's MaxSessionDuration), scaled by ``duration_scale`` (tests make them short).
"""

from __future__ import annotations

import re
from typing import Any

from lambdalite.auth.authorize import Authorizer, current_principal, denied_message
from lambdalite.auth.credentials import Principal
from lambdalite.auth.policy import Decision, Request, evaluate
from lambdalite.protocol.errors import ServiceFault
from lambdalite.services.iam.directory import IamDirectory, owner_of, role_name_of
from lambdalite.services.sts.sessions import Sessions, session_arn

Result = dict[str, Any]

MIN_DURATION_S = 900
DEFAULT_DURATION_S = 3600
SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")


def _denied(message: str) -> ServiceFault:
    return ServiceFault("AccessDenied", message, 403)


def _validation(message: str) -> ServiceFault:
    return ServiceFault("ValidationError", message, 400)


class StsService:
    def __init__(
        self,
        directory: IamDirectory,
        sessions: Sessions,
        authorizer: Authorizer | None,
        duration_scale: float = 1.0,
    ) -> None:
        self._directory = directory
        self._sessions = sessions
        self._authorizer = authorizer
        self._scale = duration_scale

    def _caller(self) -> Principal:
        principal = current_principal()
        if principal is not None:
            return principal
        account = self._directory.account_id  # --auth none: the account itself
        return Principal(f"arn:aws:iam::{account}:root", account, "")

    async def get_caller_identity(self, request: dict[str, Any]) -> Result:
        caller = self._caller()
        owner = owner_of(caller.arn)
        user_id, arn = caller.account_id, caller.arn
        if owner is not None:
            kind, name = owner
            record = self._directory.store.get_entity(kind, name)
            if kind == "role":
                role_id = str(record["RoleId"]) if record else "AROA" + name.upper()
                user_id = f"{role_id}:{caller.arn.rsplit('/', 1)[1]}"
            elif record is not None:
                user_id, arn = str(record["UserId"]), str(record["Arn"])  # with its path
            else:
                user_id = "AIDA" + caller.access_key_id[4:]
        return {"UserId": user_id, "Account": caller.account_id, "Arn": arn}

    async def assume_role(self, request: dict[str, Any]) -> Result:
        role_arn = request["RoleArn"]
        session_name = request["RoleSessionName"]
        if not SESSION_NAME.match(session_name):
            raise _validation(
                f"1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy "
                "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
            )
        duration = int(request.get("DurationSeconds") or DEFAULT_DURATION_S)
        if duration < MIN_DURATION_S:
            raise _validation(
                f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy "
                f"constraint: Member must have value greater than or equal to {MIN_DURATION_S}"
            )
        caller = self._caller()
        name = role_name_of(role_arn)
        record = self._directory.store.get_entity("role", name) if name else None
        if record is None or record["Arn"] != role_arn:
            raise _denied(denied_message(caller.arn, "sts:AssumeRole", role_arn, Decision.IMPLICIT_DENY))
        if self._authorizer is not None:
            self._check_trust(caller, str(record["RoleName"]), role_arn)
        if duration > int(record.get("MaxSessionDuration", DEFAULT_DURATION_S)):
            raise _validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
            )
        session = self._sessions.issue(
            str(record["RoleName"]), str(record["RoleId"]), session_name, duration * self._scale
        )
        credential = session.credential
        return {
            "Credentials": {
                "AccessKeyId": credential.access_key_id,
                "SecretAccessKey": credential.secret_access_key,
                "SessionToken": credential.session_token,
                "Expiration": session.expires_at,
            },
            "AssumedRoleUser": {
                "AssumedRoleId": f"{record['RoleId']}:{session_name}",
                "Arn": session_arn(caller.account_id, str(record["RoleName"]), session_name),
            },
            "PackedPolicySize": 0,
        }

    def _check_trust(self, caller: Principal, role_name: str, role_arn: str) -> None:
        assert self._authorizer is not None
        trust = self._directory.trust_policy(role_name)
        authorizer = self._authorizer
        context = authorizer.context(caller)
        request = Request("sts:AssumeRole", role_arn, caller.arn, caller.account_id, context=context)
        by_trust = evaluate((), request, trust) if trust is not None else Decision.IMPLICIT_DENY
        if by_trust is Decision.ALLOW and not _names_caller_only_by_account(trust, caller):
            return
        if (
            by_trust is Decision.ALLOW
            and authorizer.decide(caller, "sts:AssumeRole", role_arn) is Decision.ALLOW
        ):
            return
        decision = Decision.RESOURCE_DENY if by_trust is Decision.RESOURCE_DENY else Decision.IMPLICIT_DENY
        raise _denied(denied_message(caller.arn, "sts:AssumeRole", role_arn, decision))


def _names_caller_only_by_account(trust: Any, caller: Principal) -> bool:
    """Does the trust policy name the caller's account (root, id, ``*``) rather than the caller?
    Then the caller's own policies must allow sts:AssumeRole too (the administrator's do)."""
    for statement in trust.statements:
        principal = statement.principal
        if principal is None or not statement.allow:
            continue
        for name in principal.aws:
            if name == caller.arn or (
                role_name_of(name)
                and caller.arn.startswith("arn:aws:sts")
                and owner_of(caller.arn) == owner_of(name)
            ):
                return False
    return True
