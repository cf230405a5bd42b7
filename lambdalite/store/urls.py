"""Function URL configs: the ``UrlStore`` protocol and its SQLite implementation.

A function has one URL config per qualifier: the unqualified function's under
``$LATEST``, or an alias's (see ``control.function_urls``).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Protocol

from lambdalite.models import FunctionUrlConfig
from lambdalite.store.records import field_names, known_fields, to_record
from lambdalite.store.sqlite import SqliteDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS function_urls (
    name       TEXT NOT NULL,
    qualifier  TEXT NOT NULL,
    record     BLOB NOT NULL,
    PRIMARY KEY (name, qualifier)
);
"""
_URL_FIELDS = field_names(FunctionUrlConfig)


def url_to_record(config: FunctionUrlConfig) -> bytes:
    return to_record(config, _URL_FIELDS, cors=dict(config.cors))


def url_from_record(raw: bytes) -> FunctionUrlConfig:
    record = known_fields(raw, _URL_FIELDS)
    record["cors"] = MappingProxyType(dict(record.get("cors") or {}))
    return FunctionUrlConfig(**record)


class UrlStore(Protocol):
    """Durable function URL configs by (function name, qualifier). A write is
    atomic; a failed one leaves the previous configs intact."""

    def put_url(self, config: FunctionUrlConfig) -> None:
        """Insert or replace the qualifier's URL config."""
        ...

    def delete_urls(self, name: str, qualifier: str | None = None) -> None:
        """Remove one qualifier's URL config, or (no qualifier) every one of the function."""
        ...

    def all_urls(self) -> list[FunctionUrlConfig]:
        """Every URL config, ordered by function name then qualifier."""
        ...


class SqliteUrlStore:
    """``UrlStore`` in the table ``function_urls``."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)

    def put_url(self, config: FunctionUrlConfig) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO function_urls (name, qualifier, record) VALUES (?, ?, ?)",
                (config.function_name, config.qualifier, url_to_record(config)),
            )

    def delete_urls(self, name: str, qualifier: str | None = None) -> None:
        with self._db.transaction() as db:
            if qualifier is None:
                db.execute("DELETE FROM function_urls WHERE name = ?", (name,))
            else:
                db.execute("DELETE FROM function_urls WHERE name = ? AND qualifier = ?", (name, qualifier))

    def all_urls(self) -> list[FunctionUrlConfig]:
        rows = self._db.read("SELECT record FROM function_urls ORDER BY name, qualifier")
        return [url_from_record(row[0]) for row in rows]
