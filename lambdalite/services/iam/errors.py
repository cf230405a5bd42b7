"""IAM's errors as AWS answers them in the query protocol (code, HTTP status, text)."""

from __future__ import annotations

from lambdalite.protocol.errors import ServiceFault


def no_such_entity(message: str) -> ServiceFault:
    return ServiceFault("NoSuchEntity", message, 404)


def already_exists(message: str) -> ServiceFault:
    return ServiceFault("EntityAlreadyExists", message, 409)


def delete_conflict(message: str) -> ServiceFault:
    return ServiceFault("DeleteConflict", message, 409)


def malformed_policy(message: str) -> ServiceFault:
    return ServiceFault("MalformedPolicyDocument", message, 400)


def limit_exceeded(message: str) -> ServiceFault:
    return ServiceFault("LimitExceeded", message, 409)


def invalid_input(message: str) -> ServiceFault:
    return ServiceFault("InvalidInput", message, 400)


def validation(value: str, member: str, constraint: str) -> ServiceFault:
    return ServiceFault(
        "ValidationError",
        f"1 validation error detected: Value '{value}' at '{member}' "
        f"failed to satisfy constraint: {constraint}",
        400,
    )
