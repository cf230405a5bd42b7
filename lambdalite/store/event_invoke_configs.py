"""Event invoke configs: the ``EventInvokeConfigStore`` protocol and its SQLite implementation.

One config per (function, qualifier) - ``$LATEST``, a version or an alias -
as PutFunctionEventInvokeConfig leaves it: retry attempts and event age (None:
not set, AWS's defaults apply) and the two destinations (None: none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from lambdalite.store.sqlite import SqliteDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS event_invoke_configs (
    name                 TEXT NOT NULL,
    qualifier            TEXT NOT NULL,
    max_retry_attempts   INTEGER,
    max_event_age_s      INTEGER,
    on_success           TEXT,
    on_failure           TEXT,
    last_modified        REAL NOT NULL,
    PRIMARY KEY (name, qualifier)
);
"""


@dataclass(frozen=True, slots=True)
class EventInvokeConfig:
    function_name: str
    qualifier: str
    """``$LATEST``, a version number or an alias name."""
    max_retry_attempts: int | None = None
    max_event_age_s: int | None = None
    on_success: str | None = None
    """The OnSuccess destination's ARN."""
    on_failure: str | None = None
    last_modified: float = 0.0
    """Epoch seconds (the API's LastModified timestamp)."""

    def body(self, arn_prefix: str) -> dict[str, Any]:
        """The FunctionEventInvokeConfig shape as the Lambda API returns it."""
        body: dict[str, Any] = {
            "LastModified": self.last_modified,
            "FunctionArn": f"{arn_prefix}{self.function_name}:{self.qualifier}",
            "DestinationConfig": {
                "OnSuccess": {} if self.on_success is None else {"Destination": self.on_success},
                "OnFailure": {} if self.on_failure is None else {"Destination": self.on_failure},
            },
        }
        if self.max_retry_attempts is not None:
            body["MaximumRetryAttempts"] = self.max_retry_attempts
        if self.max_event_age_s is not None:
            body["MaximumEventAgeInSeconds"] = self.max_event_age_s
        return body


class EventInvokeConfigStore(Protocol):
    """Durable event invoke configs. A write is atomic; a failed one leaves the previous rows."""

    def put(self, config: EventInvokeConfig) -> None:
        """Insert or replace the config of (function, qualifier)."""
        ...

    def delete(self, name: str, qualifier: str) -> None:
        """Remove one config (none is fine)."""
        ...

    def delete_function(self, name: str) -> None:
        """Remove every config of the function."""
        ...

    def all(self) -> list[EventInvokeConfig]:
        """Every config, ordered by function name then qualifier."""
        ...


class SqliteEventInvokeConfigStore:
    """``EventInvokeConfigStore`` in the table ``event_invoke_configs``."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)

    def put(self, config: EventInvokeConfig) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO event_invoke_configs (name, qualifier, max_retry_attempts, "
                "max_event_age_s, on_success, on_failure, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    config.function_name,
                    config.qualifier,
                    config.max_retry_attempts,
                    config.max_event_age_s,
                    config.on_success,
                    config.on_failure,
                    config.last_modified,
                ),
            )

    def delete(self, name: str, qualifier: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM event_invoke_configs WHERE name = ? AND qualifier = ?", (name, qualifier))

    def delete_function(self, name: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM event_invoke_configs WHERE name = ?", (name,))

    def all(self) -> list[EventInvokeConfig]:
        rows = self._db.read(
            "SELECT name, qualifier, max_retry_attempts, max_event_age_s, on_success, on_failure, "
            "last_modified FROM event_invoke_configs ORDER BY name, qualifier"
        )
        return [EventInvokeConfig(*row) for row in rows]
