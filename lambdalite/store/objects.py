"""Buckets and objects: the ``ObjectStore`` protocol and its SQLite + files implementation.

An object's bytes are one file under ``<root>/objects/``; its record (size, ETag,
headers, user metadata, checksums) is a row. A new object is written by the caller
to a file from ``temp_path()`` and handed to ``put_object``, which renames it into
``objects/`` and then commits the row that names it, replacing the previous row in
the same transaction; the file it replaced is removed after the commit. So a crash
(kill -9) at any point leaves either the old object or the new one visible, never a
partial one; what a crash can leave behind is a file no row names, and ``open``
removes those (and everything in ``tmp/``) before serving.

Multipart parts are files too (``parts/``), with rows per upload and part.
Times are seconds since the epoch as the caller's clock gives them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson

from lambdalite.store.sqlite import SqliteDatabase

__all__ = [
    "BucketRecord",
    "ObjectRecord",
    "ObjectStore",
    "Outbox",
    "PartRecord",
    "SqliteObjectStore",
    "UploadRecord",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS s3_buckets (
    name        TEXT PRIMARY KEY,
    created     REAL NOT NULL,
    region      TEXT NOT NULL,
    tags        BLOB,
    config      BLOB NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS s3_objects (
    bucket      TEXT NOT NULL,
    key         TEXT NOT NULL,
    file        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    etag        TEXT NOT NULL,
    modified    REAL NOT NULL,
    meta        BLOB NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE IF NOT EXISTS s3_uploads (
    upload_id   TEXT PRIMARY KEY,
    bucket      TEXT NOT NULL,
    key         TEXT NOT NULL,
    initiated   REAL NOT NULL,
    meta        BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS s3_uploads_bucket ON s3_uploads (bucket, key, initiated);
CREATE TABLE IF NOT EXISTS s3_outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    target      TEXT NOT NULL,
    body        BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS s3_parts (
    upload_id   TEXT NOT NULL,
    number      INTEGER NOT NULL,
    file        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    etag        TEXT NOT NULL,
    modified    REAL NOT NULL,
    meta        BLOB NOT NULL,
    PRIMARY KEY (upload_id, number)
);
"""


@dataclass(slots=True)
class BucketRecord:
    name: str
    created: float
    region: str
    tags: dict[str, str] | None = None
    """None: the bucket has no tag set (GetBucketTagging answers NoSuchTagSet)."""
    config: dict[str, Any] = field(default_factory=dict)
    """Further bucket configuration by name (``notification``), as the service writes it."""


@dataclass(slots=True)
class ObjectRecord:
    bucket: str
    key: str
    file: str
    """The file's name under ``objects/``."""
    size: int
    etag: str
    """Quoted, as S3 sends it: ``"<md5 hex>"`` or ``"<hex>-<parts>"``."""
    modified: float
    meta: dict[str, Any] = field(default_factory=dict)
    """Standard headers (``ContentType``...), ``Metadata`` (user metadata), ``Checksums``,
    ``Parts`` (the part count of a multipart object): as the service writes them."""


@dataclass(slots=True)
class UploadRecord:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class PartRecord:
    upload_id: str
    number: int
    file: str
    size: int
    etag: str
    modified: float
    meta: dict[str, Any] = field(default_factory=dict)


Outbox = Sequence[tuple[str, bytes]]
"""Notifications of one change: (target ARN, body) pairs."""


class ObjectStore(Protocol):
    """Durable buckets, objects and multipart uploads (see the module docstring)."""

    def temp_path(self) -> Path:
        """A fresh path in the store's temporary directory, on the objects' filesystem."""
        ...

    def object_path(self, record: ObjectRecord) -> Path: ...

    def part_path(self, part: PartRecord) -> Path: ...

    # buckets
    def create_bucket(self, record: BucketRecord) -> bool:
        """False when a bucket of that name exists (nothing changes)."""
        ...

    def bucket(self, name: str) -> BucketRecord | None: ...

    def buckets(self) -> list[BucketRecord]: ...

    def update_bucket(self, record: BucketRecord) -> None: ...

    def delete_bucket(self, name: str) -> bool:
        """False when the bucket holds objects or uploads (nothing changes)."""
        ...

    # objects
    def put_object(self, record: ObjectRecord, temp: Path, outbox: Outbox = ()) -> None:
        """Make ``temp`` the bytes of ``record``'s key, atomically replacing what was there;
        ``outbox`` (notifications of the change) is written in the same transaction."""
        ...

    def get_object(self, bucket: str, key: str) -> ObjectRecord | None: ...

    def delete_object(self, bucket: str, key: str, outbox: Outbox = ()) -> bool:
        """False when there was no such object (and ``outbox`` is not written)."""
        ...

    def list_objects(self, bucket: str, prefix: str, after: str, limit: int) -> list[ObjectRecord]:
        """Up to ``limit`` objects whose key starts with ``prefix`` and sorts after
        ``after``, in S3's order (UTF-8 bytes)."""
        ...

    # multipart
    def create_upload(self, record: UploadRecord) -> None: ...

    def upload(self, upload_id: str) -> UploadRecord | None: ...

    def uploads(self, bucket: str) -> list[UploadRecord]: ...

    def put_part(self, part: PartRecord, temp: Path) -> bool:
        """Store a part (replacing one of the same number); False when the upload is gone."""
        ...

    def parts(self, upload_id: str) -> list[PartRecord]: ...

    def complete_upload(self, upload_id: str, record: ObjectRecord, temp: Path, outbox: Outbox = ()) -> bool:
        """Put the assembled object and drop the upload and its parts in one step;
        False when the upload is gone."""
        ...

    def abort_upload(self, upload_id: str) -> bool: ...

    # notifications written with the change they announce
    def pending_notifications(self, limit: int) -> list[tuple[int, str, bytes]]:
        """(sequence, target ARN, body) of notifications not yet delivered, oldest first."""
        ...

    def delivered(self, seq: int) -> None: ...


def _random_name() -> str:
    return secrets.token_hex(16)


class SqliteObjectStore:
    """Rows in the shared database; bytes in ``root`` (``objects/``, ``parts/``, ``tmp/``)."""

    def __init__(self, db: SqliteDatabase, root: Path) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)
        self._objects = root / "objects"
        self._parts = root / "parts"
        self._tmp = root / "tmp"
        for directory in (self._objects, self._parts, self._tmp):
            directory.mkdir(parents=True, exist_ok=True)
        self._clean_orphans()

    def _clean_orphans(self) -> None:
        """Remove temporary files and every file no row names (what a crash left)."""
        for path in self._tmp.iterdir():
            with contextlib.suppress(OSError):
                path.unlink()
        named = {row[0] for row in self._db.read("SELECT file FROM s3_objects")}
        for path in self._objects.iterdir():
            if path.name not in named:
                with contextlib.suppress(OSError):
                    path.unlink()
        named_parts = {row[0] for row in self._db.read("SELECT file FROM s3_parts")}
        for path in self._parts.iterdir():
            if path.name not in named_parts:
                with contextlib.suppress(OSError):
                    path.unlink()

    def temp_path(self) -> Path:
        return self._tmp / _random_name()

    def object_path(self, record: ObjectRecord) -> Path:
        return self._objects / record.file

    def part_path(self, part: PartRecord) -> Path:
        return self._parts / part.file

    # -- buckets -------------------------------------------------------------
    def create_bucket(self, record: BucketRecord) -> bool:
        with self._db.transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO s3_buckets (name, created, region, tags, config) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    record.name,
                    record.created,
                    record.region,
                    None if record.tags is None else orjson.dumps(record.tags),
                    orjson.dumps(record.config),
                ),
            )
            return cursor.rowcount == 1

    def bucket(self, name: str) -> BucketRecord | None:
        rows = self._db.read(
            "SELECT name, created, region, tags, config FROM s3_buckets WHERE name = ?", (name,)
        )
        return _bucket(rows[0]) if rows else None

    def buckets(self) -> list[BucketRecord]:
        rows = self._db.read("SELECT name, created, region, tags, config FROM s3_buckets ORDER BY name")
        return [_bucket(row) for row in rows]

    def update_bucket(self, record: BucketRecord) -> None:
        with self._db.transaction() as db:
            db.execute(
                "UPDATE s3_buckets SET tags = ?, config = ? WHERE name = ?",
                (
                    None if record.tags is None else orjson.dumps(record.tags),
                    orjson.dumps(record.config),
                    record.name,
                ),
            )

    def delete_bucket(self, name: str) -> bool:
        with self._db.transaction() as db:
            if db.execute("SELECT 1 FROM s3_objects WHERE bucket = ? LIMIT 1", (name,)).fetchone():
                return False
            uploads = [
                row[0] for row in db.execute("SELECT upload_id FROM s3_uploads WHERE bucket = ?", (name,))
            ]
            files = self._drop_uploads(db, uploads)
            db.execute("DELETE FROM s3_buckets WHERE name = ?", (name,))
        self._unlink(self._parts, files)
        return True

    # -- objects ---------------------------------------------------------------
    def put_object(self, record: ObjectRecord, temp: Path, outbox: Outbox = ()) -> None:
        old = self._install(record, temp, outbox=outbox)
        if old is not None:
            self._unlink(self._objects, [old])

    def _install(self, record: ObjectRecord, temp: Path, db: Any = None, outbox: Outbox = ()) -> str | None:
        record.file = _random_name()
        os.replace(temp, self._objects / record.file)
        try:
            with self._db.transaction() if db is None else contextlib.nullcontext(db) as tx:
                row = tx.execute(
                    "SELECT file FROM s3_objects WHERE bucket = ? AND key = ?", (record.bucket, record.key)
                ).fetchone()
                tx.execute(
                    "INSERT OR REPLACE INTO s3_objects (bucket, key, file, size, etag, modified, meta) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.bucket,
                        record.key,
                        record.file,
                        record.size,
                        record.etag,
                        record.modified,
                        orjson.dumps(record.meta),
                    ),
                )
                _write_outbox(tx, outbox)
        except BaseException:
            self._unlink(self._objects, [record.file])
            raise
        return row[0] if row else None

    def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        rows = self._db.read(
            "SELECT bucket, key, file, size, etag, modified, meta FROM s3_objects "
            "WHERE bucket = ? AND key = ?",
            (bucket, key),
        )
        return _object(rows[0]) if rows else None

    def delete_object(self, bucket: str, key: str, outbox: Outbox = ()) -> bool:
        with self._db.transaction() as db:
            row = db.execute(
                "SELECT file FROM s3_objects WHERE bucket = ? AND key = ?", (bucket, key)
            ).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM s3_objects WHERE bucket = ? AND key = ?", (bucket, key))
            _write_outbox(db, outbox)
        self._unlink(self._objects, [row[0]])
        return True

    def list_objects(self, bucket: str, prefix: str, after: str, limit: int) -> list[ObjectRecord]:
        rows = self._db.read(
            "SELECT bucket, key, file, size, etag, modified, meta FROM s3_objects "
            "WHERE bucket = ? AND key > ? AND substr(key, 1, ?) = ? ORDER BY key LIMIT ?",
            (bucket, after, len(prefix), prefix, limit),
        )
        return [_object(row) for row in rows]

    # -- multipart ---------------------------------------------------------------
    def create_upload(self, record: UploadRecord) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO s3_uploads (upload_id, bucket, key, initiated, meta) VALUES (?, ?, ?, ?, ?)",
                (record.upload_id, record.bucket, record.key, record.initiated, orjson.dumps(record.meta)),
            )

    def upload(self, upload_id: str) -> UploadRecord | None:
        rows = self._db.read(
            "SELECT upload_id, bucket, key, initiated, meta FROM s3_uploads WHERE upload_id = ?", (upload_id,)
        )
        return _upload(rows[0]) if rows else None

    def uploads(self, bucket: str) -> list[UploadRecord]:
        rows = self._db.read(
            "SELECT upload_id, bucket, key, initiated, meta FROM s3_uploads WHERE bucket = ? "
            "ORDER BY key, initiated",
            (bucket,),
        )
        return [_upload(row) for row in rows]

    def put_part(self, part: PartRecord, temp: Path) -> bool:
        part.file = _random_name()
        os.replace(temp, self._parts / part.file)
        old = None
        with self._db.transaction() as db:
            if (
                db.execute("SELECT 1 FROM s3_uploads WHERE upload_id = ?", (part.upload_id,)).fetchone()
                is None
            ):
                db.execute("SELECT 1")  # keep the transaction shape; nothing to write
                found = False
            else:
                found = True
                row = db.execute(
                    "SELECT file FROM s3_parts WHERE upload_id = ? AND number = ?",
                    (part.upload_id, part.number),
                ).fetchone()
                old = row[0] if row else None
                db.execute(
                    "INSERT OR REPLACE INTO s3_parts (upload_id, number, file, size, etag, modified, meta) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        part.upload_id,
                        part.number,
                        part.file,
                        part.size,
                        part.etag,
                        part.modified,
                        orjson.dumps(part.meta),
                    ),
                )
        self._unlink(self._parts, [part.file] if not found else [old] if old else [])
        return found

    def parts(self, upload_id: str) -> list[PartRecord]:
        rows = self._db.read(
            "SELECT upload_id, number, file, size, etag, modified, meta FROM s3_parts WHERE upload_id = ? "
            "ORDER BY number",
            (upload_id,),
        )
        return [PartRecord(r[0], r[1], r[2], r[3], r[4], r[5], orjson.loads(r[6])) for r in rows]

    def complete_upload(self, upload_id: str, record: ObjectRecord, temp: Path, outbox: Outbox = ()) -> bool:
        with self._db.transaction() as db:
            if db.execute("SELECT 1 FROM s3_uploads WHERE upload_id = ?", (upload_id,)).fetchone() is None:
                found = False
            else:
                found = True
                old = self._install(record, temp, db, outbox)
                files = self._drop_uploads(db, [upload_id])
        if not found:
            with contextlib.suppress(OSError):
                temp.unlink()
            return False
        self._unlink(self._parts, files)
        if old is not None:
            self._unlink(self._objects, [old])
        return True

    def abort_upload(self, upload_id: str) -> bool:
        with self._db.transaction() as db:
            if db.execute("SELECT 1 FROM s3_uploads WHERE upload_id = ?", (upload_id,)).fetchone() is None:
                return False
            files = self._drop_uploads(db, [upload_id])
        self._unlink(self._parts, files)
        return True

    def pending_notifications(self, limit: int) -> list[tuple[int, str, bytes]]:
        rows = self._db.read("SELECT seq, target, body FROM s3_outbox ORDER BY seq LIMIT ?", (limit,))
        return [(row[0], row[1], bytes(row[2])) for row in rows]

    def delivered(self, seq: int) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM s3_outbox WHERE seq = ?", (seq,))

    @staticmethod
    def _drop_uploads(db: Any, upload_ids: Sequence[str]) -> list[str]:
        files: list[str] = []
        for upload_id in upload_ids:
            files.extend(
                row[0] for row in db.execute("SELECT file FROM s3_parts WHERE upload_id = ?", (upload_id,))
            )
            db.execute("DELETE FROM s3_parts WHERE upload_id = ?", (upload_id,))
            db.execute("DELETE FROM s3_uploads WHERE upload_id = ?", (upload_id,))
        return files

    @staticmethod
    def _unlink(directory: Path, names: Sequence[str]) -> None:
        for name in names:
            with contextlib.suppress(OSError):
                (directory / name).unlink()


def _write_outbox(db: Any, outbox: Outbox) -> None:
    if outbox:
        db.executemany("INSERT INTO s3_outbox (target, body) VALUES (?, ?)", list(outbox))


def _bucket(row: Any) -> BucketRecord:
    return BucketRecord(
        row[0], row[1], row[2], None if row[3] is None else orjson.loads(row[3]), orjson.loads(row[4])
    )


def _object(row: Any) -> ObjectRecord:
    return ObjectRecord(row[0], row[1], row[2], row[3], row[4], row[5], orjson.loads(row[6]))


def _upload(row: Any) -> UploadRecord:
    return UploadRecord(row[0], row[1], row[2], row[3], orjson.loads(row[4]))
