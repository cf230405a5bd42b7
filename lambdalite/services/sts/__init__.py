"""An STS-compatible service on lambdalite's port (the query protocol):
GetCallerIdentity and AssumeRole (``service``), and the temporary credentials it
issues (``sessions``), which the SigV4 verifier accepts with their session token.
"""

from __future__ import annotations

from dataclasses import dataclass

from lambdalite.auth.authorize import Authorizer
from lambdalite.http.message import HttpRequest, Response
from lambdalite.protocol.front import ProtocolFront
from lambdalite.protocol.model import load_model
from lambdalite.services.iam.directory import IamDirectory
from lambdalite.services.sts.service import StsService
from lambdalite.services.sts.sessions import Credentials, Sessions

SIGNING_NAME = "sts"

__all__ = ["SIGNING_NAME", "Credentials", "Security", "Sessions", "StsFront", "StsService"]


@dataclass(frozen=True, slots=True)
class Security:
    """IAM's state, the temporary credentials and (under ``--auth sigv4``) the authorizer:
    what the IAM and STS services and every authorization hook share."""

    directory: IamDirectory
    sessions: Sessions
    authorizer: Authorizer | None
    """None under ``--auth none``: nothing is authorized."""
    duration_scale: float = 1.0
    """Scales temporary credentials' lifetimes (tests make them short)."""


class StsFront:
    """The front router's STS service: ``await front.handle(request)``; never raises."""

    def __init__(self, security: Security) -> None:
        self.service = StsService(
            security.directory, security.sessions, security.authorizer, security.duration_scale
        )
        self._front = ProtocolFront(load_model("sts"), self.service)

    async def handle(self, request: HttpRequest) -> Response:
        return await self._front.handle(request)
