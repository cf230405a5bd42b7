"""Create/UpdateEventSourceMapping bodies parsed at the edge into typed settings.

Order of the checks is AWS's as the recorded answers show it: the body against
the model (ValidationException), then the event source (``Unrecognized event
source.``), then parameters the source's kind does not take, then the function,
then the source itself (``esm.sources``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambdalite.control import validation
from lambdalite.errors import InvalidParameterValue
from lambdalite.esm import filters

UNRECOGNIZED_SOURCE = "Unrecognized event source."
BATCH_WINDOW_NEEDED = (
    "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"
)
DEFAULT_BATCH_SIZE = 10
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
_STREAM_ONLY = (
    "DestinationConfig",
    "StartingPosition",
    "StartingPositionTimestamp",
    "ParallelizationFactor",
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "TumblingWindowInSeconds",
)
"""Parameters of stream mappings that a queue mapping refuses."""


def unsupported(parameter: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Unsupported {parameter} parameter for given event source mapping type.")


@dataclass(frozen=True, slots=True)
class MappingSettings:
    """The settings a Create or Update request gives (None: not given)."""

    enabled: bool | None = None
    batch_size: int | None = None
    window_s: int | None = None
    filters: tuple[str, ...] | None = None
    report_item_failures: bool | None = None
    max_concurrency: int | None = None
    bisect: bool | None = None
    max_retries: int | None = None
    max_age_s: int | None = None
    parallelization: int | None = None
    on_failure: str | None = None


STREAM_SERVICES = frozenset({"redis", "nats"})
"""ARN services of lambdalite's stream sources (``arn:aws:redis:REGION:ACCOUNT:stream/KEY``,
``arn:aws:nats:REGION:ACCOUNT:stream/NAME``)."""
BROKER_SERVICES = frozenset({"mq"})
"""Amazon MQ (RabbitMQ) brokers: ``arn:aws:mq:REGION:ACCOUNT:broker:NAME:ID``."""
DEFAULT_BROKER_BATCH_SIZE = 100
SOURCE_SERVICES = frozenset({"sqs"}) | STREAM_SERVICES | BROKER_SERVICES
NO_STARTING_POSITION = (
    "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: "
    "Member must not be null."
)
DEFAULT_STREAM_BATCH_SIZE = 100
_QUEUE_ONLY = ("ScalingConfig",)


@dataclass(frozen=True, slots=True)
class CreateRequest:
    function_name: str
    source_arn: str
    settings: MappingSettings
    tags: Mapping[str, str]
    starting_position: str | None = None
    """Streams only (required there)."""
    starting_timestamp: float | None = None
    queues: tuple[str, ...] | None = None
    """Amazon MQ only."""
    source_access: tuple[tuple[str, str], ...] | None = None


def parse_create(body: Mapping[str, Any]) -> CreateRequest:
    request = validation.checked_body(body, "CreateEventSourceMapping")
    source = request.get("EventSourceArn")
    service = source_service(source) if source else None
    if not source or service not in SOURCE_SERVICES:
        raise InvalidParameterValue(UNRECOGNIZED_SOURCE)
    settings = _settings(request)
    tags = dict(request.get("Tags") or {})
    if service in BROKER_SERVICES:
        refuse_stream_parameters(request)
        queues = tuple(request.get("Queues") or ())
        configs = tuple(
            (c.get("Type", ""), c.get("URI", "")) for c in request.get("SourceAccessConfigurations") or ()
        )
        return CreateRequest(
            request["FunctionName"], source, settings, tags, queues=queues, source_access=configs
        )
    if service not in STREAM_SERVICES:
        refuse_stream_parameters(request)
        return CreateRequest(request["FunctionName"], source, settings, tags)
    refuse_queue_parameters(request)
    position = request.get("StartingPosition")
    if position is None:
        raise InvalidParameterValue(NO_STARTING_POSITION)
    stamp = request.get("StartingPositionTimestamp")
    timestamp = float(stamp) if isinstance(stamp, int | float) else None
    return CreateRequest(request["FunctionName"], source, settings, tags, position, timestamp)


def parse_update(body: Mapping[str, Any], *, stream: bool) -> tuple[str | None, MappingSettings]:
    """(FunctionName if given, the settings given) for a queue or a stream mapping."""
    request = validation.checked_body(body, "UpdateEventSourceMapping")
    if stream:
        refuse_queue_parameters(request)
    else:
        refuse_stream_parameters(request)
    return request.get("FunctionName"), _settings(request)


def refuse_stream_parameters(request: Mapping[str, Any]) -> None:
    for parameter in _STREAM_ONLY:
        if parameter in request:
            raise unsupported(parameter)


def refuse_queue_parameters(request: Mapping[str, Any]) -> None:
    """What a stream mapping does not take: queue scaling, tumbling windows, OnSuccess."""
    for parameter in _QUEUE_ONLY:
        if parameter in request:
            raise unsupported(parameter)
    if request.get("TumblingWindowInSeconds"):
        raise unsupported("TumblingWindowInSeconds")
    if (request.get("DestinationConfig") or {}).get("OnSuccess"):
        raise unsupported("DestinationConfig")


def source_service(arn: str) -> str | None:
    parts = arn.split(":", 5)
    return parts[2] if len(parts) == 6 and parts[0] == "arn" else None


def _settings(request: Mapping[str, Any]) -> MappingSettings:
    criteria = request.get("FilterCriteria")
    patterns: tuple[str, ...] | None = None
    if criteria is not None:
        patterns = tuple(item.get("Pattern", "") for item in criteria.get("Filters") or [])
        filters.check_patterns(patterns)
    scaling = request.get("ScalingConfig")
    response_types = request.get("FunctionResponseTypes")
    return MappingSettings(
        enabled=request.get("Enabled"),
        batch_size=request.get("BatchSize"),
        window_s=request.get("MaximumBatchingWindowInSeconds"),
        filters=patterns,
        report_item_failures=None if response_types is None else REPORT_BATCH_ITEM_FAILURES in response_types,
        max_concurrency=None if scaling is None else scaling.get("MaximumConcurrency"),
        bisect=request.get("BisectBatchOnFunctionError"),
        max_retries=request.get("MaximumRetryAttempts"),
        max_age_s=request.get("MaximumRecordAgeInSeconds"),
        parallelization=request.get("ParallelizationFactor"),
        on_failure=((request.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"),
    )


def check_batching(batch_size: int, window_s: int) -> None:
    """AWS: a queue mapping batches more than 10 messages only with a batching window."""
    if batch_size > DEFAULT_BATCH_SIZE and window_s == 0:
        raise InvalidParameterValue(BATCH_WINDOW_NEEDED)
