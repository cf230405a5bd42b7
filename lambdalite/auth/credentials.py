"""Who signs: the principal a verified request acts as, and where its secret comes from.

Verification (``sigv4.Verifier``) ends in a ``Principal``; an authorizer (IAM-style
policies, a later issue) decides what that principal may do from its ARN and account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Principal:
    """The identity a verified request acts as."""

    arn: str
    """``arn:aws:iam::ACCOUNT:user/NAME`` (or a role session's ARN for temporary credentials)."""
    account_id: str
    access_key_id: str


@dataclass(frozen=True, slots=True)
class Credential:
    """One access key as the verifier needs it: the secret itself (SigV4 is symmetric)."""

    access_key_id: str
    secret_access_key: str
    principal: Principal
    session_token: str | None = None
    """Set for temporary credentials: a request must carry exactly this ``X-Amz-Security-Token``."""
    expires_at: float | None = None
    """Epoch seconds after which temporary credentials are refused (ExpiredTokenException)."""


class CredentialSource(Protocol):
    def credential(self, access_key_id: str) -> Credential | None:
        """The active credential with this id, or None. Called on every verified request:
        must answer from memory."""
        ...
