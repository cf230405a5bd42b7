"""Where finished asynchronous invocations go: one ``Target`` interface for
destinations (OnSuccess/OnFailure) and dead-letter queues alike.

A target kind is registered per ARN service (``lambda`` now; ``sqs``, ``sns``
and ``events`` when those services exist): given an ARN it returns a Target,
or None when nothing it serves has that ARN. Configuration asks ``check``
first, so an ARN lambdalite cannot deliver to is refused with AWS's error when
it is configured, never silently dropped later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from lambdalite.errors import InvalidParameterValue

DESTINATION_SERVICES = frozenset({"lambda", "sqs", "sns", "events", "s3"})
"""The ARN services AWS accepts as asynchronous-invocation destinations."""
SELF_DESTINATION = "You can't specify the function as a destination for itself."

Attributes = Mapping[str, tuple[str, str]]
"""Message attribute name -> (DataType, StringValue)."""


class DeliveryError(Exception):
    """A target could not take a message (it is gone, or refused it)."""


class Target(Protocol):
    arn: str

    async def send(self, body: bytes, attributes: Attributes) -> None:
        """Deliver one message durably (with message attributes where the target has
        them); raise DeliveryError when it cannot be delivered."""
        ...


TargetKind = Callable[[str], Target | None]
"""ARN -> the Target it names, or None when nothing has that ARN."""


@dataclass(frozen=True, slots=True)
class Arn:
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, arn: str) -> Arn | None:
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            return None
        return cls(parts[2], parts[3], parts[4], parts[5])


class Targets:
    """The registered target kinds, by ARN service."""

    def __init__(self) -> None:
        self._kinds: dict[str, TargetKind] = {}

    def register(self, service: str, kind: TargetKind) -> None:
        self._kinds[service] = kind

    def check_destination(self, arn: str, function_name: str, config_text: str) -> None:
        """Refuse, with AWS's InvalidParameterValueException, a destination ARN of a
        service AWS does not deliver to (``config_text`` is AWS's rendering of the
        whole DestinationConfig), the function itself, or an ARN nothing here has."""
        parsed = Arn.parse(arn)
        if parsed is None or parsed.service not in DESTINATION_SERVICES:
            raise InvalidParameterValue(f"The provided destination config {config_text} is invalid.")
        if parsed.service == "sqs" and parsed.resource.endswith(".fifo"):
            # AWS delivers records to standard queues only: a FIFO queue is refused up front.
            raise InvalidParameterValue(f"The provided destination config {config_text} is invalid.")
        if parsed.service == "lambda" and _function_of(parsed) == function_name:
            raise InvalidParameterValue(SELF_DESTINATION)
        if self.find(arn) is None:
            raise InvalidParameterValue(f"The destination ARN {arn} is invalid.")

    def find(self, arn: str) -> Target | None:
        parsed = Arn.parse(arn)
        kind = None if parsed is None else self._kinds.get(parsed.service)
        return None if kind is None else kind(arn)

    def target(self, arn: str) -> Target:
        """The target of ``arn``; DeliveryError when it is gone (or was never here)."""
        found = self.find(arn)
        if found is None:
            raise DeliveryError(f"no destination {arn} exists")
        return found


def _function_of(arn: Arn) -> str:
    """The function name of a Lambda ARN's resource (``function:NAME[:QUALIFIER]``)."""
    parts = arn.resource.split(":")
    return parts[1] if len(parts) >= 2 and parts[0] == "function" else ""


def function_target_ref(arn: str, region: str, account: str) -> tuple[str, str | None] | None:
    """(name, qualifier) of a function ARN of this region and account, else None."""
    parsed = Arn.parse(arn)
    if parsed is None or parsed.service != "lambda" or (parsed.region, parsed.account) != (region, account):
        return None
    parts = parsed.resource.split(":")
    if parts[0] != "function" or len(parts) not in (2, 3) or not parts[1]:
        return None
    return parts[1], parts[2] if len(parts) == 3 else None


class FunctionTarget:
    """A Lambda function as a destination: the record is its event, invoked asynchronously."""

    def __init__(self, arn: str, name: str, qualifier: str | None, accept: AcceptEvent) -> None:
        self.arn = arn
        self._name = name
        self._qualifier = qualifier
        self._accept = accept

    async def send(self, body: bytes, attributes: Attributes) -> None:
        try:
            await self._accept(self._name, self._qualifier, body)
        except Exception as exc:
            raise DeliveryError(f"cannot invoke {self.arn}: {exc}") from exc


class AcceptEvent(Protocol):
    async def __call__(self, name: str, qualifier: str | None, payload: bytes) -> str:
        """Accept an asynchronous invocation durably; return its request id."""
        ...


def config_text(destination_config: Mapping[str, object] | None) -> str:
    """AWS's rendering of a DestinationConfig in its error message, e.g.
    ``DestinationConfig(onSuccess=OnSuccess(destination=ARN), onFailure=null)``."""
    config = destination_config or {}

    def part(key: str) -> str:
        value = config.get(key)
        if not isinstance(value, Mapping):
            return "null"
        destination = value.get("Destination")
        return f"{key}(destination={'null' if destination is None else destination})"

    return f"DestinationConfig(onSuccess={part('OnSuccess')}, onFailure={part('OnFailure')})"


def function_targets(
    exists: Callable[[str, str | None], bool], region: str, account: str, accept: AcceptEvent
) -> TargetKind:
    """The ``lambda`` target kind: an existing function (or version, alias) of this node."""

    def kind(arn: str) -> Target | None:
        ref = function_target_ref(arn, region, account)
        if ref is None or not exists(*ref):
            return None
        return FunctionTarget(arn, ref[0], ref[1], accept)

    return kind
