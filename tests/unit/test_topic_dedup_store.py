"""FIFO deduplication ids in the topic store: kept for their interval across a
reopened database, forgotten once it has passed."""

from __future__ import annotations

from pathlib import Path

from lambdalite.store.sqlite import SqliteDatabase
from lambdalite.store.topics import SqliteTopicStore

TOPIC = "arn:aws:sns:us-east-1:000000000000:t.fifo"


def test_a_dedup_id_is_kept_across_a_reopen_until_its_interval_ends(tmp_path: Path) -> None:
    store = SqliteTopicStore(SqliteDatabase(tmp_path / "db"))
    store.remember_dedup(TOPIC, "d1", 1300.0, "m-1", "00000000000000000001", 1000.0)
    reopened = SqliteTopicStore(SqliteDatabase(tmp_path / "db"))
    assert reopened.seen_dedup(TOPIC, "d1", 1299.0) == ("m-1", "00000000000000000001")
    assert reopened.seen_dedup(TOPIC, "d1", 1300.0) is None
    assert reopened.seen_dedup("arn:aws:sns:us-east-1:000000000000:other.fifo", "d1", 1000.0) is None


def test_expired_ids_are_pruned_on_the_next_write(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "db")
    store = SqliteTopicStore(db)
    store.remember_dedup(TOPIC, "old", 1300.0, "m-1", "1", 1000.0)
    store.remember_dedup(TOPIC, "new", 1700.0, "m-2", "2", 1400.0)
    assert [row[0] for row in db.read("SELECT dedup_id FROM sns_dedup")] == ["new"]
