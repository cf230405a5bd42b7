"""An IAM-compatible service on lambdalite's port (the query protocol): users and
their access keys, roles, inline and managed policies (``service``), and what
authorization reads of them (``directory``).

``IamFront(directory, keys)`` is the front router's service.
"""

from __future__ import annotations

from lambdalite.auth.keys import AccessKeys
from lambdalite.http.message import HttpRequest, Response
from lambdalite.protocol.front import ProtocolFront
from lambdalite.protocol.model import load_model
from lambdalite.services.iam.directory import IamDirectory
from lambdalite.services.iam.service import IamService

SIGNING_NAME = "iam"

__all__ = ["SIGNING_NAME", "IamDirectory", "IamFront", "IamService"]


class IamFront:
    """The front router's IAM service: ``await front.handle(request)``; never raises."""

    def __init__(self, directory: IamDirectory, keys: AccessKeys | None) -> None:
        self.service = IamService(directory, keys)
        self._front = ProtocolFront(load_model("iam"), self.service)

    async def handle(self, request: HttpRequest) -> Response:
        return await self._front.handle(request)
