"""Who is acting: the principal a request was verified as, while it is served, and
the refusal an authorization check raises. (A module of its own so that services can
ask ``current_principal()`` without importing the authorizer.)"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from lambdalite.auth.credentials import Principal
from lambdalite.auth.errors import AuthFailure

__all__ = [
    "AccessDenied",
    "ServiceCaller",
    "acting_as",
    "begin_acting",
    "current_principal",
    "current_service",
    "end_acting",
    "invoking_as_service",
]

_PRINCIPAL: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "lambdalite_principal", default=None
)


current_principal: Callable[[], Principal | None] = _PRINCIPAL.get
"""``current_principal()``: the principal the request being served was verified as (None:
not verified). The context variable's own ``get``, so that the hot path (every Lambda API
call asks) pays no Python call."""


@contextlib.contextmanager
def acting_as(principal: Principal | None) -> Iterator[None]:
    token = _PRINCIPAL.set(principal)
    try:
        yield
    finally:
        _PRINCIPAL.reset(token)


begin_acting: Callable[[Principal | None], contextvars.Token[Principal | None]] = _PRINCIPAL.set
"""``acting_as`` for the hot path, without a generator or a Python call: act as
``principal`` until ``end_acting`` is given the token back (in a ``finally``)."""
end_acting: Callable[[contextvars.Token[Principal | None]], None] = _PRINCIPAL.reset


class AccessDenied(AuthFailure):
    """403 AccessDeniedException (the query protocol's AccessDenied)."""

    code = "AccessDeniedException"
    query_code: ClassVar[str] = "AccessDenied"


@dataclass(frozen=True, slots=True)
class ServiceCaller:
    """A service invoking a function on its own behalf (an SNS delivery, an EventBridge
    rule's target): judged by the function's resource policy for its service principal."""

    principal: str
    """``sns.amazonaws.com``, ``events.amazonaws.com``..."""
    source_arn: str
    source_account: str
    role_arn: str | None = None
    """A role the service acts with (Scheduler's target RoleArn): its policies may allow instead."""


_SERVICE: contextvars.ContextVar[ServiceCaller | None] = contextvars.ContextVar(
    "lambdalite_service_caller", default=None
)


def current_service() -> ServiceCaller | None:
    """The service on whose behalf a function is being invoked (None: not a service)."""
    return _SERVICE.get()


@contextlib.contextmanager
def invoking_as_service(
    principal: str, source_arn: str, source_account: str, role_arn: str | None = None
) -> Iterator[None]:
    """Invoke functions in this block as the service ``principal`` for ``source_arn``."""
    token = _SERVICE.set(ServiceCaller(principal, source_arn, source_account, role_arn))
    try:
        yield
    finally:
        _SERVICE.reset(token)
