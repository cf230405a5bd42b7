"""One event source mapping as lambdalite keeps it, and its states.

States and their transitions are AWS's::

    Creating -> Enabled | Disabled  (or changed again before it settled)
    Enabled  -> Updating | Disabling | Deleting
    Disabled -> Updating | Enabling | Deleting
    Updating -> Enabled | Disabled
    Enabling -> Enabled          Disabling -> Disabled
    Deleting -> (gone)

The transitional states (Creating, Updating, Enabling, Disabling, Deleting) last
until the poller manager has applied the change (milliseconds here).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any

from lambdalite.errors import InvalidTransition


class MappingState(enum.Enum):
    CREATING = "Creating"
    ENABLING = "Enabling"
    ENABLED = "Enabled"
    DISABLING = "Disabling"
    DISABLED = "Disabled"
    UPDATING = "Updating"
    DELETING = "Deleting"


_S = MappingState
_NEXT: dict[MappingState, frozenset[MappingState]] = {
    _S.CREATING: frozenset({_S.ENABLED, _S.DISABLED, _S.UPDATING, _S.ENABLING, _S.DISABLING, _S.DELETING}),
    _S.ENABLED: frozenset({_S.UPDATING, _S.DISABLING, _S.DELETING}),
    _S.DISABLED: frozenset({_S.UPDATING, _S.ENABLING, _S.DELETING}),
    _S.UPDATING: frozenset({_S.ENABLED, _S.DISABLED, _S.UPDATING, _S.DISABLING, _S.ENABLING, _S.DELETING}),
    _S.ENABLING: frozenset({_S.ENABLED, _S.UPDATING, _S.DISABLING, _S.DELETING}),
    _S.DISABLING: frozenset({_S.DISABLED, _S.UPDATING, _S.ENABLING, _S.DELETING}),
    _S.DELETING: frozenset(),
}
SETTLED = frozenset({_S.ENABLED, _S.DISABLED})
USER_INITIATED = "USER_INITIATED"
"""AWS's StateTransitionReason for a change a caller asked for."""


@dataclass(frozen=True, slots=True)
class EventSourceMapping:
    uuid: str
    arn: str
    """``arn:aws:lambda:REGION:ACCOUNT:event-source-mapping:UUID``."""
    source_arn: str
    function_name: str
    qualifier: str | None
    function_arn: str
    """The FunctionArn AWS reports: qualified exactly as the caller named it."""
    enabled: bool
    state: MappingState
    reason: str
    last_modified: float
    batch_size: int
    window_s: int
    filters: tuple[str, ...] | None = None
    """FilterCriteria's patterns (JSON text) as given; None when there is no FilterCriteria."""
    report_item_failures: bool = False
    max_concurrency: int | None = None
    last_result: str | None = None
    """LastProcessingResult, once the poller has something to say."""
    starting_position: str | None = None
    """A stream mapping's StartingPosition (None: a queue mapping)."""
    starting_timestamp: float | None = None
    """Where LATEST and AT_TIMESTAMP start (epoch seconds)."""
    bisect: bool = False
    max_retries: int = -1
    max_age_s: int = -1
    parallelization: int = 1
    on_failure: str | None = None
    """A stream mapping's OnFailure destination ARN."""
    queues: tuple[str, ...] | None = None
    """An Amazon MQ mapping's Queues."""
    source_access: tuple[tuple[str, str], ...] | None = None
    """An Amazon MQ mapping's SourceAccessConfigurations, as (Type, URI)."""

    @property
    def is_stream(self) -> bool:
        return self.starting_position is not None

    def moved(self, to: MappingState, now: float, reason: str = USER_INITIATED) -> EventSourceMapping:
        """This mapping in state ``to``; InvalidTransition when AWS has no such step."""
        if to not in _NEXT[self.state]:
            raise InvalidTransition(f"event source mapping {self.uuid}: {self.state.value} -> {to.value}")
        return dataclasses.replace(self, state=to, reason=reason, last_modified=now)

    def body(self) -> dict[str, Any]:
        """The EventSourceMappingConfiguration shape."""
        body: dict[str, Any] = {
            "UUID": self.uuid,
            "BatchSize": self.batch_size,
            "MaximumBatchingWindowInSeconds": self.window_s,
            "EventSourceArn": self.source_arn,
            "FunctionArn": self.function_arn,
            "LastModified": self.last_modified,
            "State": self.state.value,
            "StateTransitionReason": self.reason,
            "FunctionResponseTypes": ["ReportBatchItemFailures"] if self.report_item_failures else [],
            "EventSourceMappingArn": self.arn,
        }
        if self.filters is not None:
            body["FilterCriteria"] = {"Filters": [{"Pattern": pattern} for pattern in self.filters]}
        if self.max_concurrency is not None:
            body["ScalingConfig"] = {"MaximumConcurrency": self.max_concurrency}
        if self.last_result is not None:
            body["LastProcessingResult"] = self.last_result
        if self.queues is not None:
            body["Queues"] = list(self.queues)
        if self.source_access is not None:
            body["SourceAccessConfigurations"] = [{"Type": t, "URI": u} for t, u in self.source_access]
        if self.is_stream:
            body.update(
                StartingPosition=self.starting_position,
                ParallelizationFactor=self.parallelization,
                MaximumRecordAgeInSeconds=self.max_age_s,
                BisectBatchOnFunctionError=self.bisect,
                MaximumRetryAttempts=self.max_retries,
                TumblingWindowInSeconds=0,
                DestinationConfig={"OnFailure": {"Destination": self.on_failure} if self.on_failure else {}},
            )
            body.setdefault("LastProcessingResult", "No records processed")
            if self.starting_position == "AT_TIMESTAMP":
                body["StartingPositionTimestamp"] = self.starting_timestamp
        return body

    def to_document(self) -> dict[str, Any]:
        document = dataclasses.asdict(self)
        document["state"] = self.state.value
        document["filters"] = None if self.filters is None else list(self.filters)
        document["queues"] = None if self.queues is None else list(self.queues)
        document["source_access"] = (
            None if self.source_access is None else [list(a) for a in self.source_access]
        )
        return document

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> EventSourceMapping:
        values = dict(document)
        values["state"] = MappingState(values["state"])
        filters = values.get("filters")
        values["filters"] = None if filters is None else tuple(filters)
        if values.get("queues") is not None:
            values["queues"] = tuple(values["queues"])
        if values.get("source_access") is not None:
            values["source_access"] = tuple((t, u) for t, u in values["source_access"])
        return cls(**values)
