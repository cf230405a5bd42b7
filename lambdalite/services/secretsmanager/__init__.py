"""A Secrets Manager subset on lambdalite's port (awsJson 1.1): CreateSecret,
GetSecretValue, PutSecretValue, DeleteSecret, ListSecrets, DescribeSecret, over a
``SecretStore`` that seals the values with the data directory's key.

``SecretsManagerFront(store, region, account)`` is the front router's service; its
``service`` attribute (``SecretsService``) is what an event source mapping asks
for a BASIC_AUTH secret (``secret_string``).
"""

from __future__ import annotations

from lambdalite.clock import Clock, SystemClock
from lambdalite.http.message import HttpRequest, Response
from lambdalite.protocol.front import ProtocolFront
from lambdalite.protocol.model import load_model
from lambdalite.services.secretsmanager.service import SecretsService
from lambdalite.store.secrets import SecretStore

__all__ = ["SecretsManagerFront", "SecretsService"]


class SecretsManagerFront:
    """The front router's Secrets Manager: ``await front.handle(request)``; never raises."""

    def __init__(self, store: SecretStore, region: str, account_id: str, clock: Clock | None = None) -> None:
        self.service = SecretsService(store, clock or SystemClock(), region, account_id)
        self._front = ProtocolFront(load_model("secretsmanager"), self.service)

    async def handle(self, request: HttpRequest) -> Response:
        return await self._front.handle(request)
