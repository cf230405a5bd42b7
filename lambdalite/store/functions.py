"""Functions in SQLite (WAL): one row per function version, one per alias,
each function's version counter, its tags, its resource policies (one per
qualifier), its reserved concurrency and its function URL configs (one per
qualifier: the unqualified function's under ``$LATEST``, or an alias's).

The store is small on purpose: it persists ``FunctionConfig`` snapshots,
``Alias`` values, the number of the last version published (so a version
number is never given out twice, even after that version was deleted), and the
function-level settings that are not part of a snapshot (tags, policies,
reserved concurrency): changing those must not create a new revision.
Only the registry writes through it, from the event loop's thread; every
write is one transaction, so a rejected or failed request leaves the previous
rows intact.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson

from lambdalite.errors import StoreError
from lambdalite.models import Alias, FunctionConfig, FunctionUrlConfig, LayerRef, ResourcePolicy

_SCHEMA = """
CREATE TABLE IF NOT EXISTS function_versions (
    name     TEXT NOT NULL,
    version  TEXT NOT NULL,
    config   BLOB NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS aliases (
    name     TEXT NOT NULL,
    alias    TEXT NOT NULL,
    record   BLOB NOT NULL,
    PRIMARY KEY (name, alias)
);
CREATE TABLE IF NOT EXISTS version_counters (
    name          TEXT PRIMARY KEY,
    last_version  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS function_tags (
    name     TEXT PRIMARY KEY,
    tags     BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS function_policies (
    name       TEXT NOT NULL,
    qualifier  TEXT NOT NULL,
    record     BLOB NOT NULL,
    PRIMARY KEY (name, qualifier)
);
CREATE TABLE IF NOT EXISTS function_concurrency (
    name      TEXT PRIMARY KEY,
    reserved  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS function_urls (
    name       TEXT NOT NULL,
    qualifier  TEXT NOT NULL,
    record     BLOB NOT NULL,
    PRIMARY KEY (name, qualifier)
);
CREATE TABLE IF NOT EXISTS layer_versions (
    name     TEXT NOT NULL,
    version  INTEGER NOT NULL,
    record   BLOB NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS layer_counters (
    name          TEXT PRIMARY KEY,
    last_version  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS provisioned_concurrency (
    name           TEXT NOT NULL,
    qualifier      TEXT NOT NULL,
    requested      INTEGER NOT NULL,
    last_modified  TEXT NOT NULL,
    PRIMARY KEY (name, qualifier)
);
"""
_PER_FUNCTION_TABLES = (
    "function_versions",
    "aliases",
    "version_counters",
    "function_tags",
    "function_policies",
    "function_concurrency",
    "function_urls",
    "provisioned_concurrency",
)
_FIELDS = {field.name for field in fields(FunctionConfig)}
_ALIAS_FIELDS = {field.name for field in fields(Alias)}
_URL_FIELDS = {field.name for field in fields(FunctionUrlConfig)}


def _record(value: Any, names: set[str], **plain: object) -> bytes:
    """A frozen value's fields as JSON; ``plain`` replaces fields JSON cannot
    encode as they are (read-only mappings)."""
    return orjson.dumps({**{name: getattr(value, name) for name in names}, **plain})


def _known_fields(raw: bytes, names: set[str]) -> dict[str, Any]:
    """A record's fields that the value still has (older records may carry more)."""
    return {key: value for key, value in orjson.loads(raw).items() if key in names}


def config_to_record(config: FunctionConfig) -> bytes:
    return _record(config, _FIELDS, environment=dict(config.environment))


def config_from_record(raw: bytes) -> FunctionConfig:
    record = _known_fields(raw, _FIELDS)
    record["environment"] = MappingProxyType(dict(record.get("environment") or {}))
    record["architectures"] = tuple(record.get("architectures") or ("x86_64",))
    record["layers"] = tuple(LayerRef(**layer) for layer in record.get("layers") or ())
    return FunctionConfig(**record)


def alias_to_record(alias: Alias) -> bytes:
    return _record(alias, _ALIAS_FIELDS, routing=dict(alias.routing))


def alias_from_record(raw: bytes) -> Alias:
    record = _known_fields(raw, _ALIAS_FIELDS)
    record["routing"] = MappingProxyType({str(k): float(v) for k, v in (record.get("routing") or {}).items()})
    return Alias(**record)


def policy_to_record(policy: ResourcePolicy) -> bytes:
    return orjson.dumps(
        {"statements": [dict(s) for s in policy.statements], "revision_id": policy.revision_id}
    )


def policy_from_record(name: str, qualifier: str, raw: bytes) -> ResourcePolicy:
    record = orjson.loads(raw)
    statements = tuple(MappingProxyType(dict(s)) for s in record.get("statements") or ())
    return ResourcePolicy(name, qualifier, statements, str(record["revision_id"]))


def url_to_record(config: FunctionUrlConfig) -> bytes:
    return _record(config, _URL_FIELDS, cors=dict(config.cors))


def url_from_record(raw: bytes) -> FunctionUrlConfig:
    record = _known_fields(raw, _URL_FIELDS)
    record["cors"] = MappingProxyType(dict(record.get("cors") or {}))
    return FunctionUrlConfig(**record)


class FunctionStore:
    """SQLite-backed persistence of function versions, aliases, version counters,
    tags, resource policies and reserved concurrency."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL under WAL: a crash may lose the last commit but never corrupts the database.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the function database at {path}: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"function database write failed: {exc}") from exc

    def put(self, config: FunctionConfig) -> None:
        """Insert or replace one version's snapshot."""
        self.save(configs=(config,))

    def save(
        self,
        configs: Iterable[FunctionConfig] = (),
        aliases: Iterable[Alias] = (),
        last_version: tuple[str, int] | None = None,
        tags: tuple[str, Mapping[str, str]] | None = None,
    ) -> None:
        """Insert or replace snapshots and aliases, set a function's version
        counter to ``last_version`` = (name, number) and its ``tags`` = (name,
        tags), all in one transaction."""
        with self._transaction() as db:
            if tags is not None:
                self._write_tags(db, *tags)
            for config in configs:
                db.execute(
                    "INSERT OR REPLACE INTO function_versions (name, version, config) VALUES (?, ?, ?)",
                    (config.name, config.version, config_to_record(config)),
                )
            for alias in aliases:
                db.execute(
                    "INSERT OR REPLACE INTO aliases (name, alias, record) VALUES (?, ?, ?)",
                    (alias.function_name, alias.name, alias_to_record(alias)),
                )
            if last_version is not None:
                db.execute(
                    "INSERT OR REPLACE INTO version_counters (name, last_version) VALUES (?, ?)",
                    last_version,
                )

    def delete_version(self, name: str, version: str) -> None:
        """Remove one published version, its resource policy and its provisioned concurrency."""
        with self._transaction() as db:
            db.execute("DELETE FROM function_versions WHERE name = ? AND version = ?", (name, version))
            db.execute("DELETE FROM function_policies WHERE name = ? AND qualifier = ?", (name, version))
            db.execute(
                "DELETE FROM provisioned_concurrency WHERE name = ? AND qualifier = ?", (name, version)
            )

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove one alias, its resource policy, its function URL config and its
        provisioned concurrency."""
        with self._transaction() as db:
            db.execute("DELETE FROM aliases WHERE name = ? AND alias = ?", (name, alias))
            db.execute("DELETE FROM function_policies WHERE name = ? AND qualifier = ?", (name, alias))
            db.execute("DELETE FROM function_urls WHERE name = ? AND qualifier = ?", (name, alias))
            db.execute("DELETE FROM provisioned_concurrency WHERE name = ? AND qualifier = ?", (name, alias))

    def put_url(self, config: FunctionUrlConfig) -> None:
        """Insert or replace one qualifier's function URL config."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO function_urls (name, qualifier, record) VALUES (?, ?, ?)",
                (config.function_name, config.qualifier, url_to_record(config)),
            )

    def delete_url(self, name: str, qualifier: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM function_urls WHERE name = ? AND qualifier = ?", (name, qualifier))

    def all_urls(self) -> list[FunctionUrlConfig]:
        rows = self._read("SELECT record FROM function_urls ORDER BY name, qualifier")
        return [url_from_record(row[0]) for row in rows]

    def delete_function(self, name: str) -> None:
        """Remove every version and alias of a function, its version counter, its
        tags, its resource policies, its reserved concurrency and its URL configs."""
        with self._transaction() as db:
            for table in _PER_FUNCTION_TABLES:
                db.execute(f"DELETE FROM {table} WHERE name = ?", (name,))  # the names are ours, not input

    def put_tags(self, name: str, tags: Mapping[str, str]) -> None:
        """Replace a function's tags (no tags removes the row)."""
        with self._transaction() as db:
            self._write_tags(db, name, tags)

    @staticmethod
    def _write_tags(db: sqlite3.Connection, name: str, tags: Mapping[str, str]) -> None:
        if tags:
            db.execute(
                "INSERT OR REPLACE INTO function_tags (name, tags) VALUES (?, ?)",
                (name, orjson.dumps(dict(tags))),
            )
        else:
            db.execute("DELETE FROM function_tags WHERE name = ?", (name,))

    def put_policy(self, policy: ResourcePolicy) -> None:
        """Replace one qualifier's policy; a policy without statements is removed."""
        with self._transaction() as db:
            if policy.statements:
                db.execute(
                    "INSERT OR REPLACE INTO function_policies (name, qualifier, record) VALUES (?, ?, ?)",
                    (policy.function_name, policy.qualifier, policy_to_record(policy)),
                )
            else:
                db.execute(
                    "DELETE FROM function_policies WHERE name = ? AND qualifier = ?",
                    (policy.function_name, policy.qualifier),
                )

    def put_reserved_concurrency(self, name: str, reserved: int | None) -> None:
        """Set (or with None, remove) a function's reserved concurrency."""
        with self._transaction() as db:
            if reserved is None:
                db.execute("DELETE FROM function_concurrency WHERE name = ?", (name,))
            else:
                db.execute(
                    "INSERT OR REPLACE INTO function_concurrency (name, reserved) VALUES (?, ?)",
                    (name, reserved),
                )

    def put_provisioned(
        self, name: str, qualifier: str, requested: int | None, last_modified: str = ""
    ) -> None:
        """Set (or with None, remove) one version's or alias's provisioned concurrency."""
        with self._transaction() as db:
            if requested is None:
                db.execute(
                    "DELETE FROM provisioned_concurrency WHERE name = ? AND qualifier = ?", (name, qualifier)
                )
            else:
                db.execute(
                    "INSERT OR REPLACE INTO provisioned_concurrency "
                    "(name, qualifier, requested, last_modified) VALUES (?, ?, ?, ?)",
                    (name, qualifier, requested, last_modified),
                )

    def all_provisioned(self) -> list[tuple[str, str, int, str]]:
        """(name, qualifier, requested, last modified) of every provisioned concurrency config."""
        rows = self._read(
            "SELECT name, qualifier, requested, last_modified "
            "FROM provisioned_concurrency ORDER BY name, qualifier"
        )
        return [(str(n), str(q), int(r), str(m)) for n, q, r, m in rows]

    def all_tags(self) -> dict[str, dict[str, str]]:
        return {
            str(name): dict(orjson.loads(raw))
            for name, raw in self._read("SELECT name, tags FROM function_tags")
        }

    def all_policies(self) -> list[ResourcePolicy]:
        rows = self._read("SELECT name, qualifier, record FROM function_policies ORDER BY name, qualifier")
        return [policy_from_record(str(name), str(qualifier), raw) for name, qualifier, raw in rows]

    def reserved_concurrency(self) -> dict[str, int]:
        """Function name -> reserved concurrent executions."""
        return {
            str(name): int(n) for name, n in self._read("SELECT name, reserved FROM function_concurrency")
        }

    def all_versions(self) -> list[FunctionConfig]:
        rows = self._read("SELECT config FROM function_versions ORDER BY name, version")
        return [config_from_record(row[0]) for row in rows]

    def all_aliases(self) -> list[Alias]:
        rows = self._read("SELECT record FROM aliases ORDER BY name, alias")
        return [alias_from_record(row[0]) for row in rows]

    def version_counters(self) -> dict[str, int]:
        """Function name -> number of the last version published."""
        return {
            str(name): int(last)
            for name, last in self._read("SELECT name, last_version FROM version_counters")
        }

    # -- layers: records are opaque here (``control.layers`` encodes them) --------
    def put_layer_version(self, name: str, version: int, record: bytes, *, new: bool = False) -> None:
        """Insert or replace one layer version's record; ``new`` also makes ``version``
        the layer's last version number (never given out again)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO layer_versions (name, version, record) VALUES (?, ?, ?)",
                (name, version, record),
            )
            if new:
                db.execute(
                    "INSERT OR REPLACE INTO layer_counters (name, last_version) VALUES (?, ?)",
                    (name, version),
                )

    def delete_layer_version(self, name: str, version: int) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM layer_versions WHERE name = ? AND version = ?", (name, version))

    def all_layer_versions(self) -> list[bytes]:
        return [row[0] for row in self._read("SELECT record FROM layer_versions ORDER BY name, version")]

    def layer_counters(self) -> dict[str, int]:
        """Layer name -> number of the last version published."""
        return {
            str(name): int(last) for name, last in self._read("SELECT name, last_version FROM layer_counters")
        }

    def _read(self, query: str) -> list[Any]:
        try:
            return self._db.execute(query).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"function database read failed: {exc}") from exc

    def close(self) -> None:
        self._db.close()
