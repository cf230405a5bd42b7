"""CreateAlias and UpdateAlias requests parsed at the edge, and alias routing.

Gates 1 and 2 (JSON types, model constraints) come from ``validation`` for
every member but RoutingConfig, whose ValidationException AWS words its own
way: it lists every constraint of the map's key or value shape, not only the
failed ones, and prints the whole map Java-style (``Value '{2=2.0}' at
'routingConfig.additionalVersionWeights' ...``). The rules that need the
function (versions that exist, ``$LATEST`` with routing, one extra version
at most) are the registry's.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from lambdalite.control import validation
from lambdalite.errors import InvalidParameterValue, InvalidRequestContent, Validation
from lambdalite.models import LATEST, Alias

_WEIGHTS_PATH = "routingConfig.additionalVersionWeights"
_KEY_CONSTRAINTS = (
    "Map keys must satisfy constraint: [Member must have length less than or equal to 1024, "
    "Member must have length greater than or equal to 1, "
    "Member must satisfy regular expression pattern: [0-9]+]"
)
_VALUE_CONSTRAINTS = (
    "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, "
    "Member must have value greater than or equal to 0.0, Member must not be null]"
)
_VERSION_NUMBER = re.compile(r"[0-9]{1,1024}", re.ASCII)
_NOT_JSON = "Could not parse request body into json: "

TOO_MANY_WEIGHTS = "Number of items in AdditionalVersionWeights cannot be greater than 1"
LATEST_WITH_ROUTING = "$LATEST is not supported for an alias pointing to more than 1 version"


@dataclass(frozen=True, slots=True)
class AliasInput:
    """CreateAlias/UpdateAlias members; None means "not given". ``routing`` is
    {} when the request clears the routing configuration."""

    name: str | None = None
    function_version: str | None = None
    description: str | None = None
    routing: Mapping[str, float] | None = None
    revision_id: str | None = None


def parse_create_alias(body: Mapping[str, Any]) -> AliasInput:
    request = validation.checked_body(_without_routing(body), "CreateAlias")
    return AliasInput(
        name=request["Name"],
        function_version=request["FunctionVersion"],
        description=request.get("Description"),
        routing=_routing(body),
        revision_id=None,
    )


def parse_update_alias(body: Mapping[str, Any]) -> AliasInput:
    request = validation.checked_body(_without_routing(body), "UpdateAlias")
    return AliasInput(
        function_version=request.get("FunctionVersion"),
        description=request.get("Description"),
        routing=_routing(body),
        revision_id=request.get("RevisionId"),
    )


def is_version_number(qualifier: str) -> bool:
    return _VERSION_NUMBER.fullmatch(qualifier) is not None


def check_routing(main_version: str, routing: Mapping[str, float]) -> None:
    """Lambda's own rules for a routing configuration that passed the model:
    one extra version at most, never the main version, never with ``$LATEST``.
    (Whether the extra version exists is checked by the registry.)"""
    if len(routing) > 1:
        raise InvalidParameterValue(TOO_MANY_WEIGHTS)
    for version in routing:
        if version == main_version:
            raise InvalidParameterValue(
                f"Invalid function version {main_version}. "
                f"Function version {main_version} is already included in routing configuration."
            )
        if main_version == LATEST:
            raise InvalidParameterValue(LATEST_WITH_ROUTING).without_type()  # as AWS answers it


def pick_version(alias: Alias) -> str:
    """The version one invocation through ``alias`` runs: the extra version with
    its weight, otherwise the main one."""
    for version, weight in alias.routing.items():
        if random.random() < weight:
            return version
    return alias.function_version


def _without_routing(body: Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(body, Mapping) or "RoutingConfig" not in body:
        return body
    return {key: value for key, value in body.items() if key != "RoutingConfig"}


def _routing(body: Mapping[str, Any]) -> Mapping[str, float] | None:
    config = body.get("RoutingConfig")
    if config is None:
        return None
    if not isinstance(config, Mapping):
        raise InvalidRequestContent(_NOT_JSON + "Value at 'routingConfig' must be an object")
    weights = config.get("AdditionalVersionWeights")
    if weights is None:
        return MappingProxyType({})
    if not isinstance(weights, Mapping):
        raise InvalidRequestContent(_NOT_JSON + f"Value at '{_WEIGHTS_PATH}' must be an object")
    for weight in weights.values():
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise InvalidRequestContent(_NOT_JSON + f"Value at '{_WEIGHTS_PATH}' must be a number")
    parsed = {str(version): float(weight) for version, weight in weights.items()}
    shown = "{" + ", ".join(f"{version}={_java_double(weight)}" for version, weight in parsed.items()) + "}"
    violations: list[str] = []
    if any(not is_version_number(version) for version in parsed):
        violations.append(_KEY_CONSTRAINTS)
    if any(not (math.isfinite(w) and 0.0 <= w <= 1.0) for w in parsed.values()):
        violations.append(_VALUE_CONSTRAINTS)
    if violations:
        count = len(violations)
        items = "; ".join(
            f"Value '{shown}' at '{_WEIGHTS_PATH}' failed to satisfy constraint: {text}"
            for text in violations
        )
        raise Validation(f"{count} validation error{'s' if count > 1 else ''} detected: {items}")
    return MappingProxyType(parsed)


def _java_double(value: float) -> str:
    """A double as Java prints it: ``2.0``, ``0.25``, ``1.0E-5``."""
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(value)
    mantissa, _, exponent = repr(value).partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}E{int(exponent)}"
