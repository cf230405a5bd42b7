"""The audit log: one durable record per control-plane call, bounded, queryable.

``AuditLog`` keeps records in ``audit.db`` in the data directory (SQLite, WAL, its
own file so that auditing never contends with the stores' writes). It holds at most
``max_records``: the oldest are removed in batches as new ones come. Records are
written before the next request is read, from the event loop's thread.

Invocations and other data-plane calls are not recorded (``observe.audit_ops``):
at thousands a second they would drown the log and cost the warm path a write each.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lambdalite.clock import Clock, SystemClock
from lambdalite.errors import StoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         REAL NOT NULL,
    principal  TEXT NOT NULL,
    operation  TEXT NOT NULL,
    resource   TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    status     INTEGER NOT NULL,
    error_code TEXT NOT NULL,
    source_ip  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
"""
ALLOWED, DENIED, ERROR = "allowed", "denied", "error"
DEFAULT_MAX_RECORDS = 100_000
PRUNE_EVERY = 1000
"""Inserts between two looks at the bound (so one insert costs one write, not two)."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: float
    """Seconds since the epoch, when the answer was given."""
    principal: str
    """The verified principal's ARN; ``anonymous`` under ``--auth none``; ``unverified:<key id>``
    or ``unsigned`` when the signature was refused."""
    operation: str
    """``service:Operation`` (``lambda:CreateFunction``)."""
    resource: str
    """The function, queue, topic... the call names ("" when it names none)."""
    outcome: str
    """``allowed`` (answered 2xx/3xx), ``denied`` (401/403) or ``error`` (any other answer)."""
    status: int
    error_code: str = ""
    source_ip: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def outcome_of(status: int) -> str:
    if status < 400:
        return ALLOWED
    return DENIED if status in (401, 403) else ERROR


class AuditLog:
    """``append`` records, ``query`` them newest first. Raises StoreError when the file fails."""

    def __init__(
        self,
        path: Path,
        max_records: int = DEFAULT_MAX_RECORDS,
        clock: Clock | None = None,
    ) -> None:
        self.max_records = max_records
        self.clock: Clock = clock or SystemClock()
        self._since_prune = 0
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the audit log at {path}: {exc}") from exc

    def append(self, record: AuditRecord) -> None:
        try:
            self._db.execute(
                "INSERT INTO audit (at, principal, operation, resource, outcome, status, error_code,"
                " source_ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.at,
                    record.principal,
                    record.operation,
                    record.resource,
                    record.outcome,
                    record.status,
                    record.error_code,
                    record.source_ip,
                ),
            )
            self._since_prune += 1
            if self._since_prune >= min(PRUNE_EVERY, self.max_records):
                self._since_prune = 0
                self._db.execute(
                    "DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?", (self.max_records,)
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write the audit log: {exc}") from exc

    def query(
        self,
        operation: str = "",
        principal: str = "",
        since: float | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """The newest ``limit`` records matching every filter given: ``operation`` is the
        whole ``service:Operation`` or the operation name alone; ``principal`` a substring."""
        clauses: list[str] = []
        parameters: list[object] = []
        if operation:
            clauses.append("(operation = ? OR operation LIKE ? ESCAPE '\\')")
            parameters += [operation, "%:" + _like(operation)]
        if principal:
            clauses.append("principal LIKE ? ESCAPE '\\'")
            parameters.append(f"%{_like(principal)}%")
        if since is not None:
            clauses.append("at >= ?")
            parameters.append(since)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        try:
            rows = self._db.execute(
                "SELECT at, principal, operation, resource, outcome, status, error_code, source_ip "
                f"FROM audit {where} ORDER BY id DESC LIMIT ?",  # the clauses are ours, values bound
                (*parameters, limit),
            ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the audit log: {exc}") from exc
        return [AuditRecord(*row) for row in rows]

    def close(self) -> None:
        self._db.close()


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
