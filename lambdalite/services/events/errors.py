"""EventBridge's errors, as AWS answers them in the JSON protocol."""

from __future__ import annotations

from lambdalite.protocol.errors import ServiceFault


def validation(message: str) -> ServiceFault:
    return ServiceFault("ValidationException", message)


def not_found(message: str) -> ServiceFault:
    return ServiceFault("ResourceNotFoundException", message)


def rule_not_found(rule: str, bus: str) -> ServiceFault:
    return not_found(f"Rule {rule} does not exist on EventBus {bus}.")


def bus_not_found(bus: str) -> ServiceFault:
    return not_found(f"Event bus {bus} does not exist.")


def already_exists(message: str) -> ServiceFault:
    return ServiceFault("ResourceAlreadyExistsException", message)


def limit_exceeded(message: str) -> ServiceFault:
    return ServiceFault("LimitExceededException", message)


def invalid_pattern(reason: str) -> ServiceFault:
    return ServiceFault("InvalidEventPatternException", f"Event pattern is not valid. Reason: {reason}")
