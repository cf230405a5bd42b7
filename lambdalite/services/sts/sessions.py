"""Temporary credentials (``sts:AssumeRole``, functions' execution roles): issued with
a session token and an expiry, held in memory for the verifier and durably (secret
sealed) so that they outlive a restart. ``Credentials`` is the verifier's one
``CredentialSource``: long-term access keys, then temporary credentials.

An expired credential is still recognised for a while (``FORGET_AFTER_S``), so that a
request signed with it is answered ExpiredTokenException rather than "invalid".
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from lambdalite.auth.credentials import Credential, CredentialSource, Principal
from lambdalite.auth.secrets import SecretBox
from lambdalite.store.iam import IamStore, StoredSession

FORGET_AFTER_S = 86_400.0
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@dataclass(frozen=True, slots=True)
class Session:
    """Credentials just issued: the only time the secret leaves the server."""

    credential: Credential
    role_id: str
    session_name: str

    @property
    def expires_at(self) -> float:
        assert self.credential.expires_at is not None
        return self.credential.expires_at


def session_arn(account_id: str, role_name: str, session_name: str) -> str:
    return f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}"


class Sessions:
    def __init__(
        self, store: IamStore, box: SecretBox, account_id: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._box = box
        self._account_id = account_id
        self._clock = clock
        self._active: dict[str, Credential] = {}
        store.delete_sessions_before(clock() - FORGET_AFTER_S)
        for stored in store.sessions():
            secret = box.unseal(stored.encrypted_secret, stored.access_key_id).decode("utf-8")
            self._remember(stored, secret)

    def credential(self, access_key_id: str) -> Credential | None:
        return self._active.get(access_key_id)

    def issue(self, role_name: str, role_id: str, session_name: str, duration_s: float) -> Session:
        """New credentials acting as ``role_name`` for ``duration_s``, stored before returned."""
        now = self._clock()
        self._forget_old(now)
        access_key_id = "ASIA" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))
        secret = secrets.token_urlsafe(30)
        stored = StoredSession(
            access_key_id,
            self._box.seal(secret.encode("utf-8"), access_key_id),
            secrets.token_urlsafe(96),
            session_arn(self._account_id, role_name, session_name),
            now + duration_s,
        )
        self._store.put_session(stored)
        return Session(self._remember(stored, secret), role_id, session_name)

    def _remember(self, stored: StoredSession, secret: str) -> Credential:
        principal = Principal(stored.principal_arn, self._account_id, stored.access_key_id)
        credential = Credential(
            stored.access_key_id, secret, principal, stored.session_token, stored.expires_at
        )
        self._active[stored.access_key_id] = credential
        return credential

    def _forget_old(self, now: float) -> None:
        cutoff = now - FORGET_AFTER_S
        old = [key for key, cred in self._active.items() if (cred.expires_at or now) < cutoff]
        if old:
            for key in old:
                del self._active[key]
            self._store.delete_sessions_before(cutoff)


class Credentials:
    """``CredentialSource`` over long-term keys and temporary credentials."""

    def __init__(self, keys: CredentialSource, sessions: Sessions) -> None:
        self._keys = keys
        self._sessions = sessions

    def credential(self, access_key_id: str) -> Credential | None:
        found = self._keys.credential(access_key_id)
        return found if found is not None else self._sessions.credential(access_key_id)
