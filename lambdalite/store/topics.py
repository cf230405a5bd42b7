"""Topics and their subscriptions: the ``TopicStore`` protocol and its SQLite implementation.

The store keeps what SNS keeps durably: each topic's record (attributes, tags) and
each subscription (protocol, endpoint, attributes, and the confirmation token of
one still pending). It validates nothing (``services/sns`` does); every write is
one transaction, so a topic deleted with its subscriptions is deleted whole.
It also keeps each FIFO topic's deduplication ids for their 5-minute interval
(with the message id and sequence number they were first published as), so a
retried publish after a restart is still recognised as a duplicate. And it keeps
each HTTP(S) delivery until it succeeded or gave up (the attempts made, the next
one's time), so a restart resumes its retries instead of forgetting them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol

import orjson

from lambdalite.store.sqlite import SqliteDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sns_topics (
    arn         TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created     REAL NOT NULL,
    attributes  BLOB NOT NULL,
    tags        BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS sns_subscriptions (
    arn         TEXT PRIMARY KEY,
    topic_arn   TEXT NOT NULL,
    protocol    TEXT NOT NULL,
    endpoint    TEXT NOT NULL,
    attributes  BLOB NOT NULL,
    token       TEXT,
    created     REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sns_subscriptions_topic ON sns_subscriptions (topic_arn);
CREATE TABLE IF NOT EXISTS sns_dedup (
    topic_arn   TEXT NOT NULL,
    dedup_id    TEXT NOT NULL,
    until       REAL NOT NULL,
    message_id  TEXT NOT NULL,
    sequence    TEXT NOT NULL,
    PRIMARY KEY (topic_arn, dedup_id)
);
CREATE INDEX IF NOT EXISTS sns_dedup_until ON sns_dedup (until);
CREATE TABLE IF NOT EXISTS sns_http_deliveries (
    id          TEXT PRIMARY KEY,
    document    BLOB NOT NULL
);
"""


@dataclass(slots=True)
class TopicRecord:
    arn: str
    name: str
    created: float
    attributes: dict[str, str]
    """The settable attributes as SNS spells them (``DisplayName``, ``FifoTopic``...)."""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class SubscriptionRecord:
    arn: str
    topic_arn: str
    protocol: str
    endpoint: str
    attributes: dict[str, str]
    """The settable attributes (``RawMessageDelivery``, ``FilterPolicy``...)."""
    token: str | None
    """The confirmation token while the subscription is pending; None once confirmed."""
    created: float

    @property
    def pending(self) -> bool:
        return self.token is not None


@dataclass(slots=True)
class HttpDelivery:
    id: str
    endpoint: str
    body: str
    headers: dict[str, str]
    attempts: int
    """POSTs made so far."""
    due_at: float
    """When the next POST is due."""


class HttpDeliveryStore(Protocol):
    def http_deliveries(self) -> list[HttpDelivery]:
        """Every HTTP(S) delivery not yet done, the earliest due first."""
        ...

    def put_http_delivery(self, delivery: HttpDelivery) -> None: ...

    def delete_http_delivery(self, delivery_id: str) -> None: ...


class TopicStore(HttpDeliveryStore, Protocol):
    def topics(self) -> list[TopicRecord]:
        """Every topic, in creation order."""
        ...

    def subscriptions(self) -> list[SubscriptionRecord]:
        """Every subscription, in creation order."""
        ...

    def put_topic(self, topic: TopicRecord) -> None:
        """Create or replace the topic ``topic.arn``."""
        ...

    def delete_topic(self, arn: str) -> None:
        """Delete the topic and its subscriptions (nothing when it does not exist)."""
        ...

    def put_subscription(self, subscription: SubscriptionRecord) -> None:
        """Create or replace the subscription ``subscription.arn``."""
        ...

    def delete_subscription(self, arn: str) -> None: ...

    def seen_dedup(self, topic_arn: str, dedup_id: str, now: float) -> tuple[str, str] | None:
        """The (message id, sequence number) a FIFO publish with ``dedup_id`` was
        accepted as, when its interval runs past ``now``; else None."""
        ...

    def remember_dedup(
        self, topic_arn: str, dedup_id: str, until: float, message_id: str, sequence: str, now: float
    ) -> None:
        """Keep ``dedup_id`` until ``until`` (and forget the ids expired at ``now``)."""
        ...


class SqliteTopicStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)

    def topics(self) -> list[TopicRecord]:
        rows = self._db.read(
            "SELECT arn, name, created, attributes, tags FROM sns_topics ORDER BY created, arn"
        )
        return [
            TopicRecord(arn, name, created, orjson.loads(a), orjson.loads(t))
            for arn, name, created, a, t in rows
        ]

    def subscriptions(self) -> list[SubscriptionRecord]:
        rows = self._db.read(
            "SELECT arn, topic_arn, protocol, endpoint, attributes, token, created "
            "FROM sns_subscriptions ORDER BY created, arn"
        )
        return [
            SubscriptionRecord(arn, topic, protocol, endpoint, orjson.loads(a), token, created)
            for arn, topic, protocol, endpoint, a, token, created in rows
        ]

    def put_topic(self, topic: TopicRecord) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO sns_topics VALUES (?, ?, ?, ?, ?)",
                (
                    topic.arn,
                    topic.name,
                    topic.created,
                    orjson.dumps(topic.attributes),
                    orjson.dumps(topic.tags),
                ),
            )

    def delete_topic(self, arn: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM sns_subscriptions WHERE topic_arn = ?", (arn,))
            db.execute("DELETE FROM sns_topics WHERE arn = ?", (arn,))

    def put_subscription(self, subscription: SubscriptionRecord) -> None:
        s = subscription
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO sns_subscriptions VALUES (?, ?, ?, ?, ?, ?, ?)",
                (s.arn, s.topic_arn, s.protocol, s.endpoint, orjson.dumps(s.attributes), s.token, s.created),
            )

    def delete_subscription(self, arn: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM sns_subscriptions WHERE arn = ?", (arn,))

    def seen_dedup(self, topic_arn: str, dedup_id: str, now: float) -> tuple[str, str] | None:
        rows = self._db.read(
            "SELECT message_id, sequence FROM sns_dedup WHERE topic_arn = ? AND dedup_id = ? AND until > ?",
            (topic_arn, dedup_id, now),
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def remember_dedup(
        self, topic_arn: str, dedup_id: str, until: float, message_id: str, sequence: str, now: float
    ) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM sns_dedup WHERE until <= ?", (now,))
            db.execute(
                "INSERT OR REPLACE INTO sns_dedup VALUES (?, ?, ?, ?, ?)",
                (topic_arn, dedup_id, until, message_id, sequence),
            )

    def http_deliveries(self) -> list[HttpDelivery]:
        rows = self._db.read("SELECT document FROM sns_http_deliveries")
        found = [HttpDelivery(**orjson.loads(doc)) for (doc,) in rows]
        return sorted(found, key=lambda d: d.due_at)

    def put_http_delivery(self, delivery: HttpDelivery) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO sns_http_deliveries VALUES (?, ?)",
                (delivery.id, orjson.dumps(asdict(delivery))),
            )

    def delete_http_delivery(self, delivery_id: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM sns_http_deliveries WHERE id = ?", (delivery_id,))
