"""Who is acting: the principal a request was verified as, while it is served, and
the refusal an authorization check raises. (A module of its own so that services can
ask ``current_principal()`` without importing the authorizer.)"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import ClassVar

from lambdalite.auth.credentials import Principal
from lambdalite.auth.errors import AuthFailure

__all__ = ["AccessDenied", "acting_as", "current_principal"]

_PRINCIPAL: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "lambdalite_principal", default=None
)


def current_principal() -> Principal | None:
    """The principal the request being served was verified as (None: not verified)."""
    return _PRINCIPAL.get()


@contextlib.contextmanager
def acting_as(principal: Principal | None) -> Iterator[None]:
    token = _PRINCIPAL.set(principal)
    try:
        yield
    finally:
        _PRINCIPAL.reset(token)


class AccessDenied(AuthFailure):
    """403 AccessDeniedException (the query protocol's AccessDenied)."""

    code = "AccessDeniedException"
    query_code: ClassVar[str] = "AccessDenied"
