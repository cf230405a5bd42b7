"""Queue attributes: which exist, their defaults, AWS's limits, and the checks a
CreateQueue or SetQueueAttributes request passes before anything is stored."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson

from lambdalite.protocol.errors import ServiceFault
from lambdalite.services.access import resource_policy
from lambdalite.services.sqs import errors

MAX_MESSAGE_SIZE = 1_048_576
"""SQS's largest message (1 MiB), also the largest batch request."""

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_FIFO_NAME = re.compile(r"^[A-Za-z0-9_-]{1,75}\.fifo$")
_ARN = re.compile(r"^arn:aws:sqs:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_.-]{1,80})$")


def _integer(low: int, high: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not re.fullmatch(r"\d+", value.strip()) or not low <= int(value) <= high:
            raise ValueError
        return str(int(value))

    return check


def _boolean(value: str) -> str:
    if value.lower() not in ("true", "false"):
        raise ValueError
    return value.lower()


def _one_of(*choices: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in choices:
            raise ValueError
        return value

    return check


def _json_or_empty(value: str) -> str:
    if value:
        orjson.loads(value)
    return value


def _policy(value: str) -> str:
    # AWS refuses a document that is not a queue policy (a PolicyError is a ValueError).
    resource_policy(value)
    return value


def _any(value: str) -> str:
    return value


@dataclass(frozen=True, slots=True)
class _Spec:
    check: Callable[[str], str]
    default: str | None = None
    fifo_only: bool = False
    create_only: bool = False


SETTABLE: dict[str, _Spec] = {
    "DelaySeconds": _Spec(_integer(0, 900), "0"),
    "MaximumMessageSize": _Spec(_integer(1024, MAX_MESSAGE_SIZE), str(MAX_MESSAGE_SIZE)),
    "MessageRetentionPeriod": _Spec(_integer(60, 1_209_600), "345600"),
    "ReceiveMessageWaitTimeSeconds": _Spec(_integer(0, 20), "0"),
    "VisibilityTimeout": _Spec(_integer(0, 43_200), "30"),
    "Policy": _Spec(_policy),
    "RedrivePolicy": _Spec(_any),
    "RedriveAllowPolicy": _Spec(_json_or_empty),
    "KmsMasterKeyId": _Spec(_any),
    "KmsDataKeyReusePeriodSeconds": _Spec(_integer(60, 86_400)),
    "SqsManagedSseEnabled": _Spec(_boolean, "true"),
    "FifoQueue": _Spec(_boolean, create_only=True),
    "ContentBasedDeduplication": _Spec(_boolean, "false", fifo_only=True),
    "DeduplicationScope": _Spec(_one_of("messageGroup", "queue"), "queue", fifo_only=True),
    "FifoThroughputLimit": _Spec(_one_of("perQueue", "perMessageGroupId"), "perQueue", fifo_only=True),
}

COMPUTED = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
)
ALL_NAMES = frozenset(SETTABLE) | frozenset(COMPUTED)


@dataclass(frozen=True, slots=True)
class Redrive:
    target_name: str
    target_arn: str
    max_receives: int


def check_name(name: str, fifo: bool) -> None:
    if fifo and not _FIFO_NAME.match(name):
        raise errors.invalid_parameter(
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, "
            "must end with .fifo suffix and be 1 to 80 in length."
        )
    if not fifo and not _NAME.match(name):
        raise errors.invalid_parameter(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
        )


def defaults(fifo: bool) -> dict[str, str]:
    return {
        name: spec.default
        for name, spec in SETTABLE.items()
        if spec.default is not None and (fifo or not spec.fifo_only)
    } | ({"FifoQueue": "true"} if fifo else {})


def validated(given: Mapping[str, str], *, fifo: bool, creating: bool) -> dict[str, str]:
    """``given`` checked and normalised (``"030"`` -> ``"30"``); raises the error AWS
    answers for an unknown, misplaced or out-of-range attribute. RedrivePolicy's
    target is checked by the caller (it needs the store)."""
    result: dict[str, str] = {}
    for name, value in given.items():
        spec = SETTABLE.get(name)
        if spec is None or (spec.create_only and not creating):
            raise errors.invalid_attribute_name(name)
        if spec.fifo_only and not fifo:
            raise errors.invalid_attribute_name(name)
        try:
            result[name] = spec.check(value)
        except (ValueError, orjson.JSONDecodeError) as exc:
            raise errors.invalid_attribute_value(name) from exc
    return result


def parse_redrive(value: str, region: str, account: str) -> Redrive | None:
    """The RedrivePolicy ``value`` (JSON), or None for an empty one (no redrive)."""
    if not value:
        return None

    def invalid(reason: str) -> ServiceFault:
        return errors.parameter_out_of_range("RedrivePolicy", value, reason)

    try:
        policy = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise invalid("Redrive policy is not a valid JSON map.") from exc
    if not isinstance(policy, dict):
        raise invalid("Redrive policy is not a valid JSON map.")
    arn = policy.get("deadLetterTargetArn")
    if not isinstance(arn, str):
        raise invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
    if "maxReceiveCount" not in policy:
        raise invalid("Redrive policy does not contain mandatory attribute: maxReceiveCount.")
    raw = policy["maxReceiveCount"]
    try:
        count = int(raw)
    except (TypeError, ValueError):
        count = 0
    if not 1 <= count <= 1000:
        raise invalid(
            f"Invalid value for maxReceiveCount: {raw}, valid values are from 1 to 1000 both inclusive."
        )
    match = _ARN.match(arn)
    if match is None or match.group(1) != region or match.group(2) != account:
        raise invalid("Dead letter target does not exist.")
    return Redrive(match.group(3), arn, count)
