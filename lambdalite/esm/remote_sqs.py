"""Queues of another SQS endpoint (another lambdalite, or AWS itself) as event sources.

The server option ``LAMBDALITE_SQS_ENDPOINTS`` maps a queue ARN's account and
region to the endpoint that serves it, with optional credentials (else botocore's
own chain: environment, profile...)::

    111111111111:us-east-1=http://127.0.0.1:9002
    123456789012:eu-west-1=https://sqs.eu-west-1.amazonaws.com|AKIA...|secret

(entries separated by commas). A mapping of such a queue is checked as AWS
checks it (the queue exists, its visibility timeout is not shorter than the
function's timeout) and polled with ReceiveMessage long polls through botocore
on threads of its own (never the event loop's); succeeded messages are deleted
with DeleteMessageBatch. Records, batching, filters, ReportBatchItemFailures and
the visibility-timeout return are as for lambdalite's own queues (``esm.sqs``).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import botocore.session
import orjson
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lambdalite.clock import Clock
from lambdalite.control.registry import FunctionRegistry
from lambdalite.dataplane.invoker import Invoker
from lambdalite.dataplane.limiter import InvocationKind
from lambdalite.errors import InvalidParameterValue, LambdaError, TooManyRequests
from lambdalite.esm import filters
from lambdalite.esm.model import EventSourceMapping
from lambdalite.esm.requests import check_batching
from lambdalite.esm.sqs import DEFAULT_CONCURRENCY, FIFO_BATCH, NO_QUEUE, Backoff, visibility_message
from lambdalite.esm.sqs_records import failed_items
from lambdalite.models import FunctionConfig

log = logging.getLogger("lambdalite.esm")

MAX_RECEIVE = 10
POLL_WAIT_S = 1
OK = "OK"


@dataclass(frozen=True, slots=True)
class RemoteEndpoint:
    url: str
    access_key: str | None = None
    secret_key: str | None = None


def parse_endpoints(text: str) -> dict[tuple[str, str], RemoteEndpoint]:
    """``ACCOUNT:REGION=URL[|KEY|SECRET],...`` -> {(account, region): endpoint};
    SystemExit with the bad entry for anything else (a server option)."""
    endpoints: dict[tuple[str, str], RemoteEndpoint] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        scope, _, target = entry.partition("=")
        account, _, region = scope.partition(":")
        parts = target.split("|")
        if not (account.isdigit() and len(account) == 12 and region and parts[0].startswith("http")):
            raise SystemExit(
                f"LAMBDALITE_SQS_ENDPOINTS: cannot read {entry!r} (ACCOUNT:REGION=URL[|KEY|SECRET])"
            )
        if len(parts) not in (1, 3):
            raise SystemExit(f"LAMBDALITE_SQS_ENDPOINTS: {entry!r} needs both a key and a secret, or neither")
        endpoints[(account, region)] = RemoteEndpoint(parts[0], *parts[1:])
    return endpoints


def queue_parts(arn: str) -> tuple[str, str, str] | None:
    """(account, region, name) of an SQS queue ARN."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs" or not parts[5]:
        return None
    return parts[4], parts[3], parts[5]


class RemoteQueues:
    """botocore clients of the configured endpoints, and the thread pool their calls run on."""

    def __init__(self, endpoints: Mapping[tuple[str, str], RemoteEndpoint], threads: int = 8) -> None:
        self._endpoints = dict(endpoints)
        self._clients: dict[tuple[str, str], Any] = {}
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="remote-sqs")

    def serves(self, arn: str) -> bool:
        parts = queue_parts(arn)
        return parts is not None and (parts[0], parts[1]) in self._endpoints

    def client(self, arn: str) -> Any:
        account, region, _ = queue_parts(arn) or ("", "", "")
        key = (account, region)
        client = self._clients.get(key)
        if client is None:
            endpoint = self._endpoints[key]
            client = botocore.session.get_session().create_client(
                "sqs",
                region_name=region,
                endpoint_url=endpoint.url,
                aws_access_key_id=endpoint.access_key,
                aws_secret_access_key=endpoint.secret_key,
                config=Config(
                    retries={"mode": "standard", "total_max_attempts": 1},
                    connect_timeout=2,
                    read_timeout=30,
                    max_pool_connections=16,
                ),
            )
            self._clients[key] = client
        return client

    def queue_url(self, arn: str) -> str:
        account, _, name = queue_parts(arn) or ("", "", "")
        answer = self.client(arn).get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
        return str(answer["QueueUrl"])

    def attributes(self, arn: str) -> dict[str, str]:
        """The queue's VisibilityTimeout and FifoQueue (blocking: a configuration check)."""
        try:
            url = self.queue_url(arn)
            answer = self.client(arn).get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        except ClientError as exc:
            raise InvalidParameterValue(NO_QUEUE) from exc
        except BotoCoreError as exc:
            # Not AWS's case (its queues are always reachable): say why this endpoint is not.
            raise InvalidParameterValue(f"Error occurred while GetQueueAttributes: {exc}") from exc
        return dict(answer.get("Attributes") or {})

    async def call(self, function: Callable[..., Any], **kwargs: Any) -> Any:
        """One blocking botocore call on the pool's threads."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: function(**kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class RemoteSqsSources:
    """The source check of a queue on another endpoint (AWS's rules, as for ours)."""

    def __init__(self, remote: RemoteQueues) -> None:
        self._remote = remote

    def serves(self, arn: str) -> bool:
        return self._remote.serves(arn)

    def __call__(self, source_arn: str, function: FunctionConfig, mapping: EventSourceMapping) -> None:
        check_batching(mapping.batch_size, mapping.window_s)
        attributes = self._remote.attributes(source_arn)
        if attributes.get("FifoQueue") == "true" and mapping.batch_size > 10:
            raise InvalidParameterValue(FIFO_BATCH)
        visibility = int(attributes.get("VisibilityTimeout", "30"))
        if visibility < function.timeout_s:
            raise InvalidParameterValue(visibility_message(visibility, function.timeout_s))


def remote_record(message: Mapping[str, Any], source_arn: str, region: str) -> dict[str, Any]:
    """AWS's ``aws:sqs`` record of a message ReceiveMessage returned."""
    attributes = {
        name: value
        for name, value in (message.get("Attributes") or {}).items()
        if name != "DeadLetterQueueSourceArn"
    }
    shaped: dict[str, Any] = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        item: dict[str, Any] = {}
        if value.get("StringValue") is not None:
            item["stringValue"] = value["StringValue"]
        if value.get("BinaryValue") is not None:
            item["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
        item["stringListValues"] = list(value.get("StringListValues") or [])
        item["binaryListValues"] = [
            base64.b64encode(v).decode("ascii") for v in value.get("BinaryListValues") or []
        ]
        item["dataType"] = value.get("DataType", "String")
        shaped[name] = item
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": shaped,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record["md5OfBody"] = message["MD5OfBody"]
    record["eventSource"] = "aws:sqs"
    record["eventSourceARN"] = source_arn
    record["awsRegion"] = region
    return record


class RemoteSqsPoller:
    """Feeds one enabled mapping's function from a queue of another endpoint until
    cancelled: up to ``MaximumConcurrency`` (at most 5) workers, each a long poll and
    its batch at a time."""

    def __init__(
        self,
        mapping: EventSourceMapping,
        remote: RemoteQueues,
        functions: FunctionRegistry,
        invoker: Invoker,
        report: Callable[[str | None], None],
        clock: Clock,
    ) -> None:
        self.mapping = mapping
        self._remote = remote
        self._functions = functions
        self._invoker = invoker
        self._report = report
        self._clock = clock
        self._region = (queue_parts(mapping.source_arn) or ("", "", ""))[1]
        self._filter = filters.record_filter(mapping.filters)
        self._backoff = Backoff()

    async def run(self) -> None:
        workers = [
            self._worker()
            for _ in range(min(self.mapping.max_concurrency or DEFAULT_CONCURRENCY, DEFAULT_CONCURRENCY))
        ]
        await asyncio.gather(*workers)

    async def drain(self) -> None:
        """Batches run inside the poll loop: cancelling it ends them (their messages return)."""

    def cancel_batches(self) -> None:
        pass

    async def _worker(self) -> None:
        url: str | None = None
        while True:
            try:
                if url is None:
                    url = await self._remote.call(self._remote.queue_url, arn=self.mapping.source_arn)
                batch = await self._collect(url)
                if batch:
                    await self._process(url, batch)
            except (ClientError, BotoCoreError) as exc:
                url = None
                self._report(f"PROBLEM: {exc}")
                await self._clock.sleep_until(self._clock.now() + self._backoff.next())

    async def _collect(self, url: str) -> list[dict[str, Any]]:
        mapping = self.mapping
        client = self._remote.client(mapping.source_arn)
        batch: list[dict[str, Any]] = []
        deadline: float | None = None
        while len(batch) < mapping.batch_size:
            wait = POLL_WAIT_S
            if deadline is not None:
                left = deadline - self._clock.now()
                if left <= 0:
                    break
                wait = max(0, min(20, int(left)))
            answer = await self._remote.call(
                client.receive_message,
                QueueUrl=url,
                MaxNumberOfMessages=min(MAX_RECEIVE, mapping.batch_size - len(batch)),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            batch.extend(answer.get("Messages") or [])
            if not batch:
                return []
            if deadline is None:
                deadline = self._clock.now() + mapping.window_s
        return batch

    async def _process(self, url: str, batch: list[dict[str, Any]]) -> None:
        mapping = self.mapping
        try:
            function = self._functions.resolve(mapping.function_name, mapping.qualifier)
        except LambdaError:
            self._report("PROBLEM: Function not found.")
            await self._clock.sleep_until(self._clock.now() + self._backoff.next())
            return
        records = [remote_record(m, mapping.source_arn, self._region) for m in batch]
        if self._filter is not None:
            passing = [r for r in records if self._filter(filters.sqs_document(r))]
            await self._delete(url, [r for r in records if r not in passing])
            records = passing
            if not records:
                return
        payload = {"Records": records}
        try:
            result = await self._invoker.invoke(
                function,
                orjson.dumps(payload),
                invoked_arn=mapping.function_arn,
                kind=InvocationKind.ASYNC,
            )
        except TooManyRequests:
            self._report("PROBLEM: Function call failed because of throttling.")
            return
        if result.function_error is not None:
            return
        failed: set[str] | None = set()
        if mapping.report_item_failures:
            failed = failed_items(result.payload, [r["messageId"] for r in records])
        if failed is None:
            return
        await self._delete(url, [r for r in records if r["messageId"] not in failed])
        self._backoff.reset()
        self._report(OK)

    async def _delete(self, url: str, records: list[dict[str, Any]]) -> None:
        client = self._remote.client(self.mapping.source_arn)
        for start in range(0, len(records), MAX_RECEIVE):
            chunk = records[start : start + MAX_RECEIVE]
            entries = [{"Id": str(n), "ReceiptHandle": r["receiptHandle"]} for n, r in enumerate(chunk)]
            await self._remote.call(client.delete_message_batch, QueueUrl=url, Entries=entries)
