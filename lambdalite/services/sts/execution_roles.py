"""Functions act with their execution role: each environment starts with temporary
credentials for the function's role (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``); with ``AWS_ENDPOINT_URL``, which the launch sets to lambdalite
as the environment reaches it (its own network namespace or the host's), unmodified SDK
code inside the function reaches lambdalite's services with exactly the role's rights.

A process's variables cannot be renewed, so credentials outlive the environment: they
are valid ``CREDENTIALS_S``, environments are recycled after ``MAX_ENVIRONMENT_S``
(``dataplane.pool``'s ``max_lifetime_s``), and one set is shared by the environments a
function starts while it has at least that much life left. A role that does not exist
(deleted since) still gets credentials, acting as a role with no policies: it can do nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from lambdalite.models import FunctionConfig
from lambdalite.services.iam.directory import IamDirectory, role_name_of
from lambdalite.services.sts.sessions import Session, Sessions

CREDENTIALS_S = 12 * 3600.0
MAX_ENVIRONMENT_S = 4 * 3600.0
"""An environment lives at most this long (plus its last invocation, at most 15 minutes)."""


class ExecutionRoles:
    def __init__(
        self,
        sessions: Sessions,
        directory: IamDirectory,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = sessions
        self._directory = directory
        self._clock = clock
        self._issued: dict[tuple[str, str], Session] = {}

    def variables(self, function: FunctionConfig) -> dict[str, str]:
        """The variables an environment of ``function`` starts with."""
        session = self._session(function)
        credential = session.credential
        return {
            "AWS_ACCESS_KEY_ID": credential.access_key_id,
            "AWS_SECRET_ACCESS_KEY": credential.secret_access_key,
            "AWS_SESSION_TOKEN": credential.session_token or "",
        }

    def _session(self, function: FunctionConfig) -> Session:
        key = (function.name, function.role)
        session = self._issued.get(key)
        if session is not None and session.expires_at - self._clock() > MAX_ENVIRONMENT_S + 900:
            return session
        role_name = role_name_of(function.role) or "unknown-role"
        record = self._directory.store.get_entity("role", role_name)
        role_id = str(record["RoleId"]) if record is not None else "AROA" + role_name.upper()[:17]
        # AWS names the session after the function.
        session = self._sessions.issue(role_name, role_id, function.name, CREDENTIALS_S)
        self._issued[key] = session
        return session
