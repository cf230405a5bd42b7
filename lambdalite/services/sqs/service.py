"""The SQS operations: typed handlers on the protocol layer (``async def
send_message(self, request) -> dict``), over a ``QueueStore`` and a ``Clock``.

Semantics as AWS documents them: a received message is hidden for the visibility
timeout and comes back unless deleted; delays (queue and message) hide a new
message; retention drops old messages; a RedrivePolicy moves a message received
``maxReceiveCount`` times to its dead-letter queue on the next receive; FIFO queues
deliver each message group in order, one batch in flight per group, and drop a
message whose deduplication id was seen in the last 5 minutes.

Long polls (``WaitTimeSeconds``) wait on the queue's wake-up event (set by every
send and by visibility changes) or until the next message becomes visible.
Retention is applied (at most once a second per queue) when a queue is sent to,
received from or described.

A poller (an event source mapping) drives a queue through ``poll`` and ``settle``,
the same steps ReceiveMessage and DeleteMessage take, and finds a queue by ARN
with ``queue_by_arn``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from lambdalite.clock import Clock
from lambdalite.events import lineage
from lambdalite.protocol.errors import ServiceFault
from lambdalite.protocol.front import current_call
from lambdalite.services.access import LabelExists, LabelMissing, with_statement, without_statement
from lambdalite.services.sqs import attributes as attrs
from lambdalite.services.sqs import errors
from lambdalite.services.sqs.batches import MAX_BATCH, attributes_size, check_batch, each, failure
from lambdalite.services.sqs.md5 import md5_of_attributes, md5_of_body
from lambdalite.services.sqs.messages import (
    SYSTEM_NAMES,
    check_attributes,
    check_body,
    clean_attributes,
    to_wire,
)
from lambdalite.services.sqs.permissions import ACTION_NAMES, QueueGate
from lambdalite.services.sqs.queue import Queue, message_id, parse_receipt, receipt_handle
from lambdalite.store.queues import NewMessage, QueueRecord, QueueStore, StoredMessage

Request = dict[str, Any]
Result = dict[str, Any]

DEDUP_INTERVAL_S = 300.0
DELETED_RECENTLY_S = 60.0
PURGE_INTERVAL_S = 60.0
MAX_TAGS = 50
_EXPIRE_EVERY_S = 1.0
_LABEL = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


class SqsService:
    """Every SQS operation lambdalite serves. Runs on the event loop's thread."""

    def __init__(self, store: QueueStore, clock: Clock, region: str, account_id: str) -> None:
        self._store = store
        self._clock = clock
        self._region = region
        self._account = account_id
        self._queues: dict[str, Queue] = {}
        self._wakeups: dict[str, asyncio.Event] = {}
        self._expired_at: dict[str, float] = {}
        self._sequence = 0
        self._quiescing = False
        self.gate: QueueGate | None = None
        """Under ``--auth sigv4``: checks the sends of sibling services (``SqsFront`` sets it)."""
        for name in store.queue_names():
            record = store.get_queue(name)
            if record is not None:
                self._queues[name] = Queue(record, region, account_id)

    # -- naming -------------------------------------------------------------

    def arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self._region}:{self._account}:{name}"

    def url(self, name: str) -> str:
        return f"http://{current_call().host}/{self._account}/{name}"

    def _queue(self, url: str) -> Queue:
        """The queue a QueueUrl names (``http://host/<account>/<name>``, or a bare name)."""
        parts = url.rstrip("/").split("/")
        name = parts[-1]
        if len(parts) >= 2 and "://" in url and parts[-2] != self._account:
            raise errors.queue_does_not_exist()
        queue = self._queues.get(name)
        if queue is None:
            raise errors.queue_does_not_exist()
        return queue

    def queue_named(self, name: str) -> Queue | None:
        return self._queues.get(name)

    def queue_by_arn(self, arn: str) -> Queue | None:
        """The queue of ``arn``, for pollers and destinations; None when there is none."""
        prefix = self.arn("")
        return self._queues.get(arn[len(prefix) :]) if arn.startswith(prefix) else None

    # -- queues -------------------------------------------------------------

    async def create_queue(self, request: Request) -> Result:
        name: str = request["QueueName"]
        given: dict[str, str] = dict(request.get("Attributes") or {})
        # Without FifoQueue=true a queue is a standard one, whose name cannot end in .fifo.
        fifo = given.get("FifoQueue", "false").lower() == "true"
        attrs.check_name(name, fifo)
        values = attrs.validated(given, fifo=fifo, creating=True)
        tags = dict(request.get("tags") or {})
        self._check_tags(name, tags)
        existing = self._queues.get(name)
        if existing is not None:
            current = existing.record.attributes | {"FifoQueue": "true" if existing.fifo else "false"}
            effective = attrs.defaults(existing.fifo) | current
            for key, value in values.items():
                if effective.get(key, "false" if key == "FifoQueue" else "") != value:
                    raise errors.queue_name_exists(key)
            return {"QueueUrl": self.url(name)}
        now = self._clock.now()
        deleted = self._store.deleted_at(name)
        if deleted is not None and now - deleted < DELETED_RECENTLY_S:
            raise errors.queue_deleted_recently()
        values.pop("FifoQueue", None)
        record_attributes = attrs.defaults(fifo) | values
        self._check_redrive(record_attributes.get("RedrivePolicy", ""), fifo)
        record = QueueRecord(name, now, now, record_attributes, tags)
        self._store.create_queue(record)
        self._queues[name] = Queue(record, self._region, self._account)
        return {"QueueUrl": self.url(name)}

    def _check_redrive(self, policy: str, fifo: bool) -> None:
        redrive = attrs.parse_redrive(policy, self._region, self._account)
        if redrive is None:
            return
        target = self._queues.get(redrive.target_name)
        if target is None:
            raise errors.parameter_out_of_range("RedrivePolicy", policy, "Dead letter target does not exist.")
        if target.fifo != fifo:
            raise errors.parameter_out_of_range(
                "RedrivePolicy", policy, "Dead-letter queue must be same type of queue as the source."
            )

    def _check_tags(self, name: str, tags: Mapping[str, str]) -> None:
        if len(tags) > MAX_TAGS:
            raise errors.invalid_parameter(f"Too many tags added for queue {name}.")

    async def get_queue_url(self, request: Request) -> Result:
        owner = request.get("QueueOwnerAWSAccountId")
        if owner is not None and owner != self._account:
            raise errors.queue_does_not_exist()
        name = request["QueueName"]
        if name not in self._queues:
            raise errors.queue_does_not_exist()
        return {"QueueUrl": self.url(name)}

    async def list_queues(self, request: Request) -> Result:
        prefix = request.get("QueueNamePrefix") or ""
        names = [name for name in sorted(self._queues) if name.startswith(prefix)]
        return self._page(names, request, "QueueUrls")

    def _page(self, names: list[str], request: Request, key: str) -> Result:
        limit = request.get("MaxResults")
        token = request.get("NextToken")
        start = 0
        if token is not None:
            try:
                start = int(base64.b64decode(token, validate=True).decode())
            except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
                raise errors.invalid_parameter("Invalid NextToken value.") from exc
        if limit is not None and not 1 <= limit <= 1000:
            raise errors.parameter_out_of_range(
                "MaxResults", limit, "Must be between 1 and 1000, if provided."
            )
        end = len(names) if limit is None else start + limit
        result: Result = {}
        if names[start:end]:
            result[key] = [self.url(name) for name in names[start:end]]
        if limit is not None and end < len(names):
            result["NextToken"] = base64.b64encode(str(end).encode()).decode()
        return result

    async def list_dead_letter_source_queues(self, request: Request) -> Result:
        queue = self._queue(request["QueueUrl"])
        arn = self.arn(queue.name)
        names = [
            name
            for name, source in sorted(self._queues.items())
            if source.redrive is not None and source.redrive.target_arn == arn
        ]
        if "queueUrls" not in (result := self._page(names, request, "queueUrls")):
            result["queueUrls"] = []
        return result

    async def get_queue_attributes(self, request: Request) -> Result:
        queue = self._queue(request["QueueUrl"])
        wanted = list(request.get("AttributeNames") or [])
        for name in wanted:
            if name != "All" and name not in attrs.ALL_NAMES:
                raise errors.invalid_attribute_name(name)
        if not wanted:
            return {}
        everything = self._attributes(queue)
        if "All" in wanted:
            return {"Attributes": everything}
        selected = {name: everything[name] for name in wanted if name in everything}
        return {"Attributes": selected} if selected else {}

    def _attributes(self, queue: Queue) -> dict[str, str]:
        now = self._clock.now()
        self._expire(queue, now)
        counts = self._store.counts(queue.name, now)
        record = queue.record
        result = {
            "QueueArn": self.arn(queue.name),
            "ApproximateNumberOfMessages": str(counts.visible),
            "ApproximateNumberOfMessagesNotVisible": str(counts.in_flight),
            "ApproximateNumberOfMessagesDelayed": str(counts.delayed),
            "CreatedTimestamp": str(int(record.created)),
            "LastModifiedTimestamp": str(int(record.modified)),
        }
        result.update({key: value for key, value in record.attributes.items() if value != ""})
        return result

    async def set_queue_attributes(self, request: Request) -> Result:
        queue = self._queue(request["QueueUrl"])
        values = attrs.validated(dict(request.get("Attributes") or {}), fifo=queue.fifo, creating=False)
        if "RedrivePolicy" in values:
            self._check_redrive(values["RedrivePolicy"], queue.fifo)
        self._set_attributes(queue, values)
        return {}

    def _set_attributes(self, queue: Queue, values: Mapping[str, str]) -> None:
        record = queue.record
        updated = QueueRecord(
            record.name,
            record.created,
            self._clock.now(),
            record.attributes | dict(values),
            record.tags,
            record.purged_at,
        )
        self._store.update_queue(updated)
        self._queues[queue.name] = Queue(updated, self._region, self._account)

    async def add_permission(self, request: Request) -> Result:
        """A statement in the queue's Policy: ``Label`` as its Sid, the accounts' roots
        allowed ``Actions`` (SQS actions, or ``*``) on the queue. Only the actions a queue
        policy can grant (``permissions.GRANTABLE``) are then allowed by it."""
        queue = self._queue(request["QueueUrl"])
        label: str = request["Label"]
        if not _LABEL.match(label):
            raise errors.parameter_out_of_range(
                "Label",
                label,
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
            )
        accounts: list[str] = request["AWSAccountIds"]
        actions: list[str] = request["Actions"]
        if not accounts:
            raise errors.missing_parameter("AWSAccountIds")
        if not actions:
            raise errors.missing_parameter("Actions")
        for action in actions:
            if action != "*" and action not in ACTION_NAMES:
                raise errors.parameter_out_of_range(
                    "ActionName",
                    f"SQS:{action}",
                    "Please refer to the appropriate WSDL for a list of valid actions.",
                )
        arn = self.arn(queue.name)
        try:
            policy = with_statement(
                queue.record.attributes.get("Policy", ""),
                label,
                accounts,
                [f"SQS:{action}" for action in actions],
                arn,
                f"{arn}/SQSDefaultPolicy",
            )
        except LabelExists as exc:
            raise errors.parameter_out_of_range("Label", label, "Already exists.") from exc
        self._set_attributes(queue, {"Policy": policy})
        return {}

    async def remove_permission(self, request: Request) -> Result:
        queue = self._queue(request["QueueUrl"])
        label: str = request["Label"]
        try:
            policy = without_statement(queue.record.attributes.get("Policy", ""), label)
        except LabelMissing as exc:
            raise errors.parameter_out_of_range(
                "Label", label, "can't find label on existing policy."
            ) from exc
        self._set_attributes(queue, {"Policy": policy})
        return {}

    async def delete_queue(self, request: Request) -> Result:
        queue = self._queue(request["QueueUrl"])
        self._store.delete_queue(queue.name, self._clock.now())
        del self._queues[queue.name]
        self._wake(queue.name)
        return {}

    async def purge_queue(self, request: Request) -> Result:
        queue = self._queue(request["QueueUrl"])
        now = self._clock.now()
        purged = queue.record.purged_at
        if purged is not None and now - purged < PURGE_INTERVAL_S:
            raise errors.purge_in_progress(queue.name)
        self._store.purge(queue.name, now)
        queue.record.purged_at = now
        return {}

    async def tag_queue(self, request: Request) -> Result:
        queue = self._queue(request["QueueUrl"])
        if not request["Tags"]:
            raise errors.missing_parameter("Tags")
        tags = queue.record.tags | dict(request["Tags"])
        self._check_tags(queue.name, tags)
        queue.record.tags = tags
        self._store.update_queue(queue.record)
        return {}

    async def untag_queue(self, request: Request) -> Result:
        queue = self._queue(request["QueueUrl"])
        remove = set(request["TagKeys"])
        queue.record.tags = {key: value for key, value in queue.record.tags.items() if key not in remove}
        self._store.update_queue(queue.record)
        return {}

    async def list_queue_tags(self, request: Request) -> Result:
        queue = self._queue(request["QueueUrl"])
        return {"Tags": dict(queue.record.tags)} if queue.record.tags else {}

    # -- sending ------------------------------------------------------------

    async def send_message(self, request: Request) -> Result:
        queue = self._queue(request["QueueUrl"])
        if self.gate is not None:
            self.gate.check_sibling(queue)
        now = self._clock.now()
        self._expire(queue, now)
        prepared = self._prepare(queue, request, now)
        if isinstance(prepared, dict):
            return prepared
        self._store.put_messages(queue.name, [prepared], now + DEDUP_INTERVAL_S if queue.fifo else None)
        self._wake(queue.name)
        return self._sent(prepared)

    async def send_message_batch(self, request: Request) -> Result:
        queue = self._queue(request["QueueUrl"])
        if self.gate is not None:
            self.gate.check_sibling(queue)
        entries: list[dict[str, Any]] = request["Entries"]
        check_batch(entries, "SendMessageBatchRequestEntry")
        size = sum(
            len(entry.get("MessageBody", "").encode()) + attributes_size(entry.get("MessageAttributes"))
            for entry in entries
        )
        if size > attrs.MAX_MESSAGE_SIZE:
            raise errors.batch_too_long(size, attrs.MAX_MESSAGE_SIZE)
        now = self._clock.now()
        self._expire(queue, now)
        successful: list[Result] = []
        failed: list[Result] = []
        new: list[NewMessage] = []
        for entry in entries:
            try:
                prepared = self._prepare(queue, entry, now)
            except ServiceFault as fault:
                failed.append(failure(entry["Id"], fault))
                continue
            if isinstance(prepared, dict):
                successful.append({"Id": entry["Id"], **prepared})
                continue
            new.append(prepared)
            successful.append({"Id": entry["Id"], **self._sent(prepared)})
        if new:
            self._store.put_messages(queue.name, new, now + DEDUP_INTERVAL_S if queue.fifo else None)
            self._wake(queue.name)
        return {"Successful": successful, "Failed": failed}

    def _prepare(self, queue: Queue, request: Request, now: float) -> NewMessage | Result:
        """The message to store for one SendMessage(Batch) entry; or, for a FIFO
        duplicate, the answer the first send got. Raises the entry's error."""
        body: str = request.get("MessageBody") or ""
        check_body(body)
        user = request.get("MessageAttributes") or {}
        system = request.get("MessageSystemAttributes") or {}
        size = len(body.encode()) + check_attributes(user)
        check_attributes(system, system=True)
        system = lineage.with_trace_header(system)
        if size > queue.max_size:
            raise errors.invalid_parameter(
                "One or more parameters are invalid. "
                f"Reason: Message must be shorter than {queue.max_size} bytes."
            )
        delay = request.get("DelaySeconds")
        if delay is not None:
            if not 0 <= delay <= 900:
                raise errors.parameter_out_of_range(
                    "DelaySeconds", delay, "Must be >= 0 and <= 900, if provided."
                )
            if queue.fifo:
                raise errors.parameter_out_of_range(
                    "DelaySeconds",
                    delay,
                    "The request include parameter that is not valid for this queue type.",
                )
        group = request.get("MessageGroupId")
        dedup = request.get("MessageDeduplicationId")
        sequence: str | None = None
        if queue.fifo:
            if group is None:
                raise errors.missing_parameter("MessageGroupId")
            if dedup is None:
                if not queue.content_dedup:
                    raise errors.invalid_parameter(
                        "The queue should either have ContentBasedDeduplication enabled or "
                        "MessageDeduplicationId provided explicitly"
                    )
                dedup = hashlib.sha256(body.encode()).hexdigest()
            scope_key = (
                f"{group}\x00{dedup}"
                if queue.record.attributes.get("DeduplicationScope") == "messageGroup"
                else dedup
            )
            duplicate = self._store.find_duplicate(queue.name, scope_key, now)
            if duplicate is not None:
                answer: Result = {"MessageId": duplicate[0], "MD5OfMessageBody": md5_of_body(body)}
                if user:
                    answer["MD5OfMessageAttributes"] = md5_of_attributes(user)
                if duplicate[1] is not None:
                    answer["SequenceNumber"] = duplicate[1]
                return answer
            dedup_key: str | None = scope_key
            sequence = self._next_sequence(now)
        else:
            if group is not None or dedup is not None:
                name = "MessageGroupId" if group is not None else "MessageDeduplicationId"
                raise errors.invalid_parameter(
                    f"The request include parameter {name} which is not valid for this queue type"
                )
            dedup_key = None
        delay_s = queue.delay if delay is None else delay
        return NewMessage(
            message_id=message_id(),
            body=body,
            attributes=clean_attributes(user) if user else None,
            system=clean_attributes(system) if system else None,
            sent_at=now,
            visible_at=now + delay_s,
            group_id=group,
            dedup_id=dedup_key,
            sequence_number=sequence,
        )

    def _next_sequence(self, now: float) -> str:
        # 20 digits, increasing within a queue: microseconds, bumped past the last one.
        self._sequence = max(self._sequence + 1, int(now * 1_000_000) * 1000)
        return f"{self._sequence:020d}"

    def _sent(self, message: NewMessage) -> Result:
        result: Result = {"MessageId": message.message_id, "MD5OfMessageBody": md5_of_body(message.body)}
        if message.attributes:
            result["MD5OfMessageAttributes"] = md5_of_attributes(message.attributes)
        if message.system:
            result["MD5OfMessageSystemAttributes"] = md5_of_attributes(message.system)
        if message.sequence_number is not None:
            result["SequenceNumber"] = message.sequence_number
        return result

    # -- receiving ----------------------------------------------------------

    async def receive_message(self, request: Request) -> Result:
        queue = self._queue(request["QueueUrl"])
        limit = request.get("MaxNumberOfMessages", 1)
        if not 1 <= limit <= MAX_BATCH:
            raise errors.parameter_out_of_range(
                "MaxNumberOfMessages", limit, "Must be between 1 and 10, if provided."
            )
        visibility = request.get("VisibilityTimeout")
        if visibility is not None and not 0 <= visibility <= 43_200:
            raise errors.parameter_out_of_range(
                "VisibilityTimeout", visibility, "Must be >= 0 and <= 43200, if provided."
            )
        wait = request.get("WaitTimeSeconds")
        if wait is not None and not 0 <= wait <= 20:
            raise errors.parameter_out_of_range(
                "WaitTimeSeconds", wait, "Must be >= 0 and <= 20, if provided."
            )
        names = set(request.get("AttributeNames") or []) | set(
            request.get("MessageSystemAttributeNames") or []
        )
        for name in names:
            if name != "All" and name not in SYSTEM_NAMES and name not in attrs.ALL_NAMES:
                raise errors.invalid_attribute_name(name)
        attribute_names = list(request.get("MessageAttributeNames") or [])
        taken = await self.poll(queue.name, limit, visibility, queue.wait if wait is None else wait)
        messages = [
            to_wire(message, receipt_handle(message), names, attribute_names, self._account)
            for message in taken
        ]
        return {"Messages": messages} if messages else {}

    async def poll(self, name: str, limit: int, visibility: int | None, wait_s: float) -> list[StoredMessage]:
        """Receive up to ``limit`` messages of queue ``name``, waiting up to ``wait_s``
        seconds for the first (a long poll; a poller's loop). Empty when the time runs
        out or the queue is deleted. ``visibility`` None: the queue's own timeout."""
        deadline = self._clock.now() + wait_s
        while True:
            now = self._clock.now()
            taken = self.take(name, limit, visibility, now)
            if taken or now >= deadline or name not in self._queues or self._quiescing:
                return taken
            wake_at = self._store.next_visible_at(name, now)
            await self._sleep_until(name, deadline if wake_at is None else min(deadline, wake_at))

    def settle(self, name: str, messages: list[StoredMessage]) -> None:
        """Delete messages this node received (a poller's successful batch), by their
        latest receipts: one whose visibility ran out and was received again stays."""
        receipts = [(m.seq, m.receipt) for m in messages if m.receipt is not None]
        if receipts and name in self._queues:
            self._store.delete_messages(name, receipts)

    def take(self, name: str, limit: int, visibility: int | None, now: float) -> list[StoredMessage]:
        """Receive up to ``limit`` visible messages of queue ``name`` now (no waiting):
        the step ReceiveMessage repeats and a poller calls. Redrives exhausted ones."""
        queue = self._queues.get(name)
        if queue is None:
            return []
        self._expire(queue, now)
        hide = queue.visibility if visibility is None else visibility
        redrive = queue.redrive
        target = self._queues.get(redrive.target_name) if redrive is not None else None
        delivered, exhausted = self._store.receive(
            name,
            now,
            limit,
            now + hide,
            fifo=queue.fifo,
            max_receives=redrive.max_receives if target is not None and redrive is not None else None,
        )
        if target is not None:
            source = {"DeadLetterQueueSourceArn": {"StringValue": self.arn(name), "DataType": "String"}}
            for message in exhausted:
                self._store.move_message(message, target.name, now, (message.system or {}) | source)
            if exhausted:
                self._wake(target.name)
        return delivered

    def _expire(self, queue: Queue, now: float) -> None:
        if now - self._expired_at.get(queue.name, 0.0) >= _EXPIRE_EVERY_S:
            self._expired_at[queue.name] = now
            self._store.expire(queue.name, now - queue.retention)

    async def _sleep_until(self, name: str, until: float) -> None:
        event = self._wakeups.setdefault(name, asyncio.Event())
        sleeper = asyncio.ensure_future(self._clock.sleep(until - self._clock.now()))
        waiter = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waiter.cancel()

    def quiesce(self) -> None:
        """End every long poll now (they answer what they have: nothing); later polls
        do not wait. For a server that is stopping."""
        self._quiescing = True
        for name in list(self._wakeups):
            self._wake(name)

    def _wake(self, name: str) -> None:
        event = self._wakeups.pop(name, None)
        if event is not None:
            event.set()

    # -- after receiving ----------------------------------------------------

    async def delete_message(self, request: Request) -> Result:
        queue = self._queue(request["QueueUrl"])
        # A handle of an earlier receive deletes nothing, and is not an error (AWS).
        self._store.delete_messages(queue.name, [parse_receipt(queue, request["ReceiptHandle"])])
        return {}

    async def delete_message_batch(self, request: Request) -> Result:
        queue = self._queue(request["QueueUrl"])
        entries: list[dict[str, Any]] = request["Entries"]
        check_batch(entries, "DeleteMessageBatchRequestEntry")
        receipts: list[tuple[int, str]] = []
        result = each(entries, lambda entry: receipts.append(parse_receipt(queue, entry["ReceiptHandle"])))
        if receipts:
            self._store.delete_messages(queue.name, receipts)
        return result

    async def change_message_visibility(self, request: Request) -> Result:
        queue = self._queue(request["QueueUrl"])
        self._change(queue, request["ReceiptHandle"], request["VisibilityTimeout"])
        return {}

    def _change(self, queue: Queue, handle: str, timeout: int) -> None:
        seq, token = parse_receipt(queue, handle)
        if not 0 <= timeout <= 43_200:
            raise errors.parameter_out_of_range(
                "VisibilityTimeout", timeout, "Must be between 0 and 43200, if provided."
            )
        message = self._store.get_message(queue.name, seq)
        now = self._clock.now()
        if message is None or message.receipt != token:
            raise errors.parameter_out_of_range(
                "ReceiptHandle",
                handle,
                "Message does not exist or is not available for visibility timeout change.",
            )
        if message.visible_at <= now:
            raise errors.message_not_inflight()
        self._store.set_visible_at(queue.name, seq, now + timeout)
        if timeout == 0:
            self._wake(queue.name)

    async def change_message_visibility_batch(self, request: Request) -> Result:
        queue = self._queue(request["QueueUrl"])
        entries: list[dict[str, Any]] = request["Entries"]
        check_batch(entries, "ChangeMessageVisibilityBatchRequestEntry")
        return each(
            entries,
            lambda entry: self._change(queue, entry["ReceiptHandle"], entry.get("VisibilityTimeout", 0)),
        )
