"""Queues and their messages: the ``QueueStore`` protocol and its SQLite implementation.

The store keeps what SQS keeps durably: each queue's record (attributes, tags,
timestamps) and each message with its visibility. It knows nothing of the wire or
of attribute validation (``services/sqs`` does that); it does the few steps that
must be atomic: take visible messages and hide them (``receive``), check a receipt
and delete or re-time a message, move a message to a dead-letter queue.

Times are seconds since the epoch as the caller's clock gives them; the store reads
no clock. A message is *visible* when ``visible_at <= now``: a delayed message and
a message in flight (received, not deleted) both wait for their ``visible_at``.
A poller (an event source mapping) uses the same ``receive``/``delete`` as the API.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from lambdalite.store.sqlite import SqliteDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sqs_queues (
    name        TEXT PRIMARY KEY,
    created     REAL NOT NULL,
    modified    REAL NOT NULL,
    attributes  BLOB NOT NULL,
    tags        BLOB NOT NULL,
    purged_at   REAL
);
CREATE TABLE IF NOT EXISTS sqs_deleted_queues (
    name        TEXT PRIMARY KEY,
    deleted_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sqs_messages (
    seq             INTEGER PRIMARY KEY,
    queue           TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    body            TEXT NOT NULL,
    attributes      BLOB,
    system          BLOB,
    sent_at         REAL NOT NULL,
    visible_at      REAL NOT NULL,
    receive_count   INTEGER NOT NULL DEFAULT 0,
    first_receive   REAL,
    receipt         TEXT,
    group_id        TEXT,
    dedup_id        TEXT,
    sequence_number TEXT
);
CREATE INDEX IF NOT EXISTS sqs_messages_visible ON sqs_messages (queue, visible_at, seq);
CREATE INDEX IF NOT EXISTS sqs_messages_order ON sqs_messages (queue, seq);
CREATE INDEX IF NOT EXISTS sqs_messages_age ON sqs_messages (queue, sent_at);
CREATE TABLE IF NOT EXISTS sqs_dedup (
    queue       TEXT NOT NULL,
    dedup_id    TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    sequence_number TEXT,
    expires_at  REAL NOT NULL,
    PRIMARY KEY (queue, dedup_id)
);
"""

_COLUMNS = (
    "seq, queue, message_id, body, attributes, system, sent_at, visible_at, receive_count, "
    "first_receive, receipt, group_id, dedup_id, sequence_number"
)


@dataclass(slots=True)
class QueueRecord:
    name: str
    created: float
    modified: float
    attributes: dict[str, str]
    """The settable attributes as SQS spells them (``VisibilityTimeout`` -> ``"30"``)."""
    tags: dict[str, str] = field(default_factory=dict)
    purged_at: float | None = None


@dataclass(frozen=True, slots=True)
class NewMessage:
    message_id: str
    body: str
    attributes: Mapping[str, Any] | None
    """Message attributes as the API takes them (``{"k": {"DataType":..., "StringValue":...}}``,
    binary values as bytes)."""
    system: Mapping[str, Any] | None
    """Message system attributes (``AWSTraceHeader``), same form."""
    sent_at: float
    visible_at: float
    group_id: str | None = None
    dedup_id: str | None = None
    sequence_number: str | None = None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    seq: int
    queue: str
    message_id: str
    body: str
    attributes: dict[str, Any] | None
    system: dict[str, Any] | None
    sent_at: float
    visible_at: float
    receive_count: int
    first_receive: float | None
    receipt: str | None
    """The token of the latest receive (None before the first)."""
    group_id: str | None
    dedup_id: str | None
    sequence_number: str | None


@dataclass(frozen=True, slots=True)
class QueueCounts:
    visible: int
    in_flight: int
    delayed: int


class QueueStore(Protocol):
    """Durable queues and messages. Every method is atomic: a failure (StoreError)
    leaves the previous state intact. Nothing here validates SQS's rules."""

    def create_queue(self, record: QueueRecord) -> None:
        """Add a queue (the caller checked that none of that name exists)."""
        ...

    def get_queue(self, name: str) -> QueueRecord | None: ...

    def queue_names(self) -> list[str]:
        """Every queue's name, sorted."""
        ...

    def update_queue(self, record: QueueRecord) -> None:
        """Replace the queue's attributes, tags, modified time and purge time."""
        ...

    def delete_queue(self, name: str, now: float) -> None:
        """Remove the queue and its messages; remember when (``deleted_at``)."""
        ...

    def deleted_at(self, name: str) -> float | None:
        """When a queue of this name was last deleted, if it was."""
        ...

    def put_messages(
        self, queue: str, messages: Sequence[NewMessage], dedup_until: float | None = None
    ) -> None:
        """Store messages; with ``dedup_until``, remember each message's ``dedup_id``
        until then (FIFO queues)."""
        ...

    def find_duplicate(self, queue: str, dedup_id: str, now: float) -> tuple[str, str | None] | None:
        """(message id, sequence number) of a message sent with ``dedup_id`` whose
        deduplication interval has not ended at ``now``."""
        ...

    def receive(
        self,
        queue: str,
        now: float,
        limit: int,
        hide_until: float,
        *,
        fifo: bool,
        max_receives: int | None = None,
    ) -> tuple[list[StoredMessage], list[StoredMessage]]:
        """Take up to ``limit`` visible messages in send order and hide them until
        ``hide_until``, counting the receive and giving each a fresh receipt token.
        FIFO: skip every message group that has a message in flight.
        With ``max_receives``, a visible message already received that many times is
        not delivered: it is returned in the second list (still stored, for the caller
        to move to a dead-letter queue or drop)."""
        ...

    def get_message(self, queue: str, seq: int) -> StoredMessage | None: ...

    def delete_messages(self, queue: str, receipts: Sequence[tuple[int, str]]) -> int:
        """Delete each message ``(seq, receipt token)`` whose latest receipt token is the
        one given (one transaction); how many were deleted."""
        ...

    def set_visible_at(self, queue: str, seq: int, visible_at: float) -> None: ...

    def move_message(
        self, message: StoredMessage, to_queue: str, visible_at: float, system: Mapping[str, Any] | None
    ) -> None:
        """Move a message to another queue, unreceived, with new system attributes
        (a dead-letter queue's redrive)."""
        ...

    def purge(self, queue: str, now: float) -> None:
        """Delete every message of the queue and record the purge time."""
        ...

    def expire(self, queue: str, sent_before: float) -> int:
        """Delete the queue's messages sent before ``sent_before`` (retention); how many."""
        ...

    def counts(self, queue: str, now: float) -> QueueCounts: ...

    def next_visible_at(self, queue: str, now: float) -> float | None:
        """The earliest time after ``now`` at which a message of the queue becomes visible."""
        ...


def _row(row: Sequence[Any]) -> StoredMessage:
    return StoredMessage(
        seq=row[0],
        queue=row[1],
        message_id=row[2],
        body=row[3],
        attributes=_loads(row[4]),
        system=_loads(row[5]),
        sent_at=row[6],
        visible_at=row[7],
        receive_count=row[8],
        first_receive=row[9],
        receipt=row[10],
        group_id=row[11],
        dedup_id=row[12],
        sequence_number=row[13],
    )


def _dumps(value: Mapping[str, Any] | None) -> bytes | None:
    return orjson.dumps(_encode_bytes(value)) if value else None


def _encode_bytes(value: Any) -> Any:
    # Binary attribute values are kept as {"$b": hex} inside the JSON document.
    if isinstance(value, bytes):
        return {"$b": value.hex()}
    if isinstance(value, Mapping):
        return {key: _encode_bytes(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_encode_bytes(item) for item in value]
    return value


def _decode_bytes(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and "$b" in value:
            return bytes.fromhex(value["$b"])
        return {key: _decode_bytes(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode_bytes(item) for item in value]
    return value


def _loads(raw: bytes | None) -> dict[str, Any] | None:
    return _decode_bytes(orjson.loads(raw)) if raw else None


class SqliteQueueStore:
    """``QueueStore`` in the tables ``sqs_queues``, ``sqs_messages``, ``sqs_dedup`` and
    ``sqs_deleted_queues``."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)

    def create_queue(self, record: QueueRecord) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO sqs_queues (name, created, modified, attributes, tags, purged_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.name,
                    record.created,
                    record.modified,
                    orjson.dumps(record.attributes),
                    orjson.dumps(record.tags),
                    record.purged_at,
                ),
            )
            db.execute("DELETE FROM sqs_deleted_queues WHERE name = ?", (record.name,))

    def get_queue(self, name: str) -> QueueRecord | None:
        rows = self._db.read(
            "SELECT name, created, modified, attributes, tags, purged_at FROM sqs_queues WHERE name = ?",
            (name,),
        )
        if not rows:
            return None
        row = rows[0]
        return QueueRecord(row[0], row[1], row[2], orjson.loads(row[3]), orjson.loads(row[4]), row[5])

    def queue_names(self) -> list[str]:
        return [str(row[0]) for row in self._db.read("SELECT name FROM sqs_queues ORDER BY name")]

    def update_queue(self, record: QueueRecord) -> None:
        with self._db.transaction() as db:
            db.execute(
                "UPDATE sqs_queues SET modified = ?, attributes = ?, tags = ?, purged_at = ? WHERE name = ?",
                (
                    record.modified,
                    orjson.dumps(record.attributes),
                    orjson.dumps(record.tags),
                    record.purged_at,
                    record.name,
                ),
            )

    def delete_queue(self, name: str, now: float) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM sqs_queues WHERE name = ?", (name,))
            db.execute("DELETE FROM sqs_messages WHERE queue = ?", (name,))
            db.execute("DELETE FROM sqs_dedup WHERE queue = ?", (name,))
            db.execute(
                "INSERT OR REPLACE INTO sqs_deleted_queues (name, deleted_at) VALUES (?, ?)", (name, now)
            )

    def deleted_at(self, name: str) -> float | None:
        rows = self._db.read("SELECT deleted_at FROM sqs_deleted_queues WHERE name = ?", (name,))
        return float(rows[0][0]) if rows else None

    def put_messages(
        self, queue: str, messages: Sequence[NewMessage], dedup_until: float | None = None
    ) -> None:
        with self._db.transaction() as db:
            db.executemany(
                "INSERT INTO sqs_messages (queue, message_id, body, attributes, system, sent_at, visible_at, "
                "group_id, dedup_id, sequence_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        queue,
                        m.message_id,
                        m.body,
                        _dumps(m.attributes),
                        _dumps(m.system),
                        m.sent_at,
                        m.visible_at,
                        m.group_id,
                        m.dedup_id,
                        m.sequence_number,
                    )
                    for m in messages
                ],
            )
            if dedup_until is not None:
                db.executemany(
                    "INSERT OR REPLACE INTO sqs_dedup "
                    "(queue, dedup_id, message_id, sequence_number, expires_at) VALUES (?, ?, ?, ?, ?)",
                    [(queue, m.dedup_id, m.message_id, m.sequence_number, dedup_until) for m in messages],
                )

    def find_duplicate(self, queue: str, dedup_id: str, now: float) -> tuple[str, str | None] | None:
        rows = self._db.read(
            "SELECT message_id, sequence_number FROM sqs_dedup "
            "WHERE queue = ? AND dedup_id = ? AND expires_at > ?",
            (queue, dedup_id, now),
        )
        return (str(rows[0][0]), rows[0][1]) if rows else None

    def receive(
        self,
        queue: str,
        now: float,
        limit: int,
        hide_until: float,
        *,
        fifo: bool,
        max_receives: int | None = None,
    ) -> tuple[list[StoredMessage], list[StoredMessage]]:
        delivered: list[StoredMessage] = []
        exhausted: list[StoredMessage] = []
        with self._db.transaction() as db:
            # FIFO: strictly in send order (the (queue, seq) index), leaving out every
            # group with a message in flight (in SQL: a long blocked group must not hide
            # the others behind it). Standard queues promise no order: oldest-visible
            # first, which the (queue, visible_at, seq) index gives without a sort.
            # Exhausted messages (redrive) are read beyond the limit and skipped.
            if fifo:
                sql = (
                    f"SELECT {_COLUMNS} FROM sqs_messages WHERE queue = ? AND visible_at <= ? "
                    "AND group_id NOT IN (SELECT group_id FROM sqs_messages "
                    "WHERE queue = ? AND visible_at > ? AND receive_count > 0) ORDER BY seq LIMIT ?"
                )
                parameters: tuple[Any, ...] = (queue, now, queue, now)
            else:
                sql = (
                    f"SELECT {_COLUMNS} FROM sqs_messages WHERE queue = ? AND visible_at <= ? "
                    "ORDER BY visible_at, seq LIMIT ?"
                )
                parameters = (queue, now)
            rows = db.execute(sql, (*parameters, limit * 4 + 16 if max_receives else limit)).fetchall()
            for row in rows:
                message = _row(row)
                if max_receives is not None and message.receive_count >= max_receives:
                    exhausted.append(message)
                    continue
                if len(delivered) >= limit:
                    break
                token = secrets.token_urlsafe(12)
                first = message.first_receive if message.first_receive is not None else now
                delivered.append(_received(message, hide_until, first, token))
            db.executemany(
                "UPDATE sqs_messages SET visible_at = ?, receive_count = receive_count + 1, "
                "first_receive = ?, receipt = ? WHERE seq = ?",
                [(hide_until, m.first_receive, m.receipt, m.seq) for m in delivered],
            )
        return delivered, exhausted

    def get_message(self, queue: str, seq: int) -> StoredMessage | None:
        rows = self._db.read(f"SELECT {_COLUMNS} FROM sqs_messages WHERE seq = ? AND queue = ?", (seq, queue))
        return _row(rows[0]) if rows else None

    def delete_messages(self, queue: str, receipts: Sequence[tuple[int, str]]) -> int:
        with self._db.transaction() as db:
            cursor = db.executemany(
                "DELETE FROM sqs_messages WHERE seq = ? AND queue = ? AND receipt = ?",
                [(seq, queue, receipt) for seq, receipt in receipts],
            )
            return cursor.rowcount

    def set_visible_at(self, queue: str, seq: int, visible_at: float) -> None:
        with self._db.transaction() as db:
            db.execute(
                "UPDATE sqs_messages SET visible_at = ? WHERE seq = ? AND queue = ?", (visible_at, seq, queue)
            )

    def move_message(
        self, message: StoredMessage, to_queue: str, visible_at: float, system: Mapping[str, Any] | None
    ) -> None:
        with self._db.transaction() as db:
            db.execute(
                "UPDATE sqs_messages SET queue = ?, visible_at = ?, receive_count = 0, first_receive = NULL, "
                "receipt = NULL, system = ? WHERE seq = ? AND queue = ?",
                (to_queue, visible_at, _dumps(system), message.seq, message.queue),
            )

    def purge(self, queue: str, now: float) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM sqs_messages WHERE queue = ?", (queue,))
            db.execute("UPDATE sqs_queues SET purged_at = ? WHERE name = ?", (now, queue))

    def expire(self, queue: str, sent_before: float) -> int:
        with self._db.transaction() as db:
            cursor = db.execute(
                "DELETE FROM sqs_messages WHERE queue = ? AND sent_at < ?", (queue, sent_before)
            )
            db.execute("DELETE FROM sqs_dedup WHERE queue = ? AND expires_at <= ?", (queue, sent_before))
            return cursor.rowcount

    def counts(self, queue: str, now: float) -> QueueCounts:
        row = self._db.read(
            "SELECT SUM(visible_at <= ?), SUM(visible_at > ? AND receive_count > 0), "
            "SUM(visible_at > ? AND receive_count = 0) FROM sqs_messages WHERE queue = ?",
            (now, now, now, queue),
        )[0]
        return QueueCounts(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))

    def next_visible_at(self, queue: str, now: float) -> float | None:
        rows = self._db.read(
            "SELECT MIN(visible_at) FROM sqs_messages WHERE queue = ? AND visible_at > ?", (queue, now)
        )
        return None if not rows or rows[0][0] is None else float(rows[0][0])


def _received(message: StoredMessage, hide_until: float, first: float, token: str) -> StoredMessage:
    return StoredMessage(
        seq=message.seq,
        queue=message.queue,
        message_id=message.message_id,
        body=message.body,
        attributes=message.attributes,
        system=message.system,
        sent_at=message.sent_at,
        visible_at=hide_until,
        receive_count=message.receive_count + 1,
        first_receive=first,
        receipt=token,
        group_id=message.group_id,
        dedup_id=message.dedup_id,
        sequence_number=message.sequence_number,
    )


__all__ = [
    "NewMessage",
    "QueueCounts",
    "QueueRecord",
    "QueueStore",
    "SqliteQueueStore",
    "StoredMessage",
]
