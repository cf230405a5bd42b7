"""What stream mappings share, whatever the stream: Kinesis's event shape and
Kinesis's way with a failing batch.

A record, as the function gets it (lambdalite's streams use Kinesis's shape so
that code written for Kinesis reads them unchanged; ``eventSource`` says which
stream it came from)::

    {"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "...",
                 "sequenceNumber": "<the stream's id>", "data": "<base64>",
                 "approximateArrivalTimestamp": 1700000000.123},
     "eventSource": "lambdalite:redis", "eventVersion": "1.0",
     "eventID": "shardId-000000000000:<sequence>", "eventName": "aws:kinesis:record",
     "invokeIdentityArn": "<the function's role>", "awsRegion": "...",
     "eventSourceARN": "..."}

``StreamBatches.process`` takes one batch of one shard to its end, in order (per
partition key, in ParallelizationFactor lanes at once):

- records older than MaximumRecordAgeInSeconds are not sent (they go to the
  OnFailure destination, condition ``RecordAgeExceeded``);
- a function error retries the batch (MaximumRetryAttempts, -1 for until the
  records expire), with BisectBatchOnFunctionError first halving it (halving
  does not count as a retry) until the failing record stands alone;
- with ReportBatchItemFailures the function names failed records by sequence
  number; the batch is retried from the first of them (AWS's checkpoint rule);
- a batch out of retries goes to the OnFailure destination (condition
  ``RetryAttemptsExhausted``) with its metadata (``KinesisBatchInfo``), and the
  stream goes on.
"""

from __future__ import annotations

import asyncio
import base64
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from lambdalite.clock import Clock
from lambdalite.esm.model import EventSourceMapping
from lambdalite.esm.sqs_records import failed_items
from lambdalite.models import InvocationResult, new_request_id

SHARD_ID = "shardId-000000000000"
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 5.0


@dataclass(frozen=True, slots=True)
class StreamRecord:
    sequence: str
    partition_key: str
    data: bytes
    arrival: float
    """Epoch seconds."""


def kinesis_record(
    record: StreamRecord, event_source: str, source_arn: str, region: str, role: str
) -> dict[str, Any]:
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record.partition_key,
            "sequenceNumber": record.sequence,
            "data": base64.b64encode(record.data).decode("ascii"),
            "approximateArrivalTimestamp": record.arrival,
        },
        "eventSource": event_source,
        "eventVersion": "1.0",
        "eventID": f"{SHARD_ID}:{record.sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": role,
        "awsRegion": region,
        "eventSourceARN": source_arn,
    }


def partition_lanes(batch: Sequence[StreamRecord], factor: int) -> list[list[StreamRecord]]:
    """``batch`` split into at most ``factor`` non-empty lanes by a stable hash of the
    partition key, each in the batch's order (Kinesis's ParallelizationFactor)."""
    if factor <= 1:
        return [list(batch)]
    lanes: dict[int, list[StreamRecord]] = {}
    for record in batch:
        lane = zlib.crc32(record.partition_key.encode()) % factor
        lanes.setdefault(lane, []).append(record)
    return [lanes[lane] for lane in sorted(lanes)]


Invoke = Callable[[Sequence[StreamRecord]], Awaitable[InvocationResult]]
"""Invoke the function on these records (raises when it could not run at all)."""
Discard = Callable[[bytes], Awaitable[None]]
"""Send an OnFailure record to the mapping's destination."""


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def failure_record(
    mapping: EventSourceMapping,
    records: Sequence[StreamRecord],
    condition: str,
    attempts: int,
    result: InvocationResult | None,
    now: float,
) -> bytes:
    """The OnFailure destination's record for a discarded batch (Kinesis's shape)."""
    body: dict[str, Any] = {
        "requestContext": {
            "requestId": new_request_id(),
            "functionArn": mapping.function_arn,
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
    }
    if result is not None:
        context: dict[str, Any] = {"statusCode": 200, "executedVersion": result.executed_version}
        if result.function_error:
            context["functionError"] = result.function_error
        body["responseContext"] = context
    body["version"] = "1.0"
    body["timestamp"] = _iso(now)
    body["KinesisBatchInfo"] = {
        "shardId": SHARD_ID,
        "startSequenceNumber": records[0].sequence,
        "endSequenceNumber": records[-1].sequence,
        "approximateArrivalOfFirstRecord": _iso(records[0].arrival),
        "approximateArrivalOfLastRecord": _iso(records[-1].arrival),
        "batchSize": len(records),
        "streamArn": mapping.source_arn,
    }
    return orjson.dumps(body)


class StreamBatches:
    """Kinesis's failure handling for one shard's batches (see the module docstring)."""

    def __init__(
        self,
        mapping: EventSourceMapping,
        invoke: Invoke,
        discard: Discard,
        clock: Clock,
        report: Callable[[str | None], None],
    ) -> None:
        self._mapping = mapping
        self._invoke = invoke
        self._discard = discard
        self._clock = clock
        self._report = report

    async def process(self, batch: Sequence[StreamRecord]) -> None:
        """Run ``batch`` to its end: every record succeeded or was discarded. With a
        ParallelizationFactor above 1 the batch is split into that many lanes by
        partition key, run at once; each key's records stay in order in one lane."""
        lanes = partition_lanes(batch, self._mapping.parallelization)
        if len(lanes) == 1:
            await self._process_lane(lanes[0])
        else:
            await asyncio.gather(*(self._process_lane(lane) for lane in lanes))

    async def _process_lane(self, batch: list[StreamRecord]) -> None:
        pending: list[list[StreamRecord]] = [list(batch)]
        while pending:
            part = pending.pop(0)
            halves = await self._run(part)
            pending[:0] = halves

    async def _run(self, part: list[StreamRecord]) -> list[list[StreamRecord]]:
        """Retry ``part`` until it succeeds or is discarded; the halves to run next
        when it was bisected instead."""
        mapping = self._mapping
        attempts = 0
        while part:
            part = await self._drop_expired(part, attempts)
            if not part:
                return []
            result: InvocationResult | None
            try:
                result = await self._invoke(part)
            except Exception as exc:  # throttled, or it could not run: retried like an error
                result = None
                self._report(f"PROBLEM: {exc}")
            attempts += 1
            if result is not None and result.function_error is None:
                if not mapping.report_item_failures:
                    return []
                failed = failed_items(result.payload, [r.sequence for r in part])
                if failed == set():
                    return []
                if failed is not None:
                    # AWS retries from the first failed record on.
                    first = min(i for i, r in enumerate(part) if r.sequence in failed)
                    part = part[first:]
            elif mapping.bisect and len(part) > 1:
                half = len(part) // 2
                return [part[:half], part[half:]]
            if mapping.max_retries != -1 and attempts > mapping.max_retries:
                await self._give_up(part, "RetryAttemptsExhausted", attempts, result)
                return []
            await self._clock.sleep_until(
                self._clock.now() + min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (attempts - 1))
            )
        return []

    async def _drop_expired(self, part: list[StreamRecord], attempts: int) -> list[StreamRecord]:
        max_age = self._mapping.max_age_s
        if max_age == -1:
            return part
        oldest = self._clock.now() - max_age
        expired = [r for r in part if r.arrival < oldest]
        if expired:
            await self._give_up(expired, "RecordAgeExceeded", attempts, None)
        return [r for r in part if r.arrival >= oldest]

    async def _give_up(
        self, records: list[StreamRecord], condition: str, attempts: int, result: InvocationResult | None
    ) -> None:
        if self._mapping.on_failure is not None:
            await self._discard(
                failure_record(self._mapping, records, condition, attempts, result, self._clock.now())
            )
