"""Function versions, aliases and version counters: the ``FunctionStore`` protocol
and its SQLite implementation.

A function is its ``$LATEST`` snapshot and its published versions
(``FunctionConfig``), its aliases (``Alias``) and the number of the last version
published (so a version number is never given out twice, even after that
version was deleted). What else belongs to a function (tags, policies, URL
configs, concurrency settings) lives in stores of its own, keyed by the
function's name: this store is the authority on which functions, versions and
aliases exist, and the other stores' rows for a function that is not here are
orphans their registries remove.

Only the function registry writes through it, from the event loop's thread.

Environment variables are secrets (API keys, passwords): given a ``SecretBox``, the
SQLite store keeps them only as AES-GCM ciphertext bound to the row's function and
version, so the database file alone never shows them. Rows written without a box
(older data directories) are still read, and are sealed when the store opens.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from types import MappingProxyType
from typing import Any, Protocol

import orjson

from lambdalite.auth.secrets import SecretBox, SecretBoxError
from lambdalite.models import Alias, FunctionConfig, LayerRef
from lambdalite.store.records import field_names, known_fields, to_record
from lambdalite.store.sqlite import SqliteDatabase

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
"""
_FIELDS = field_names(FunctionConfig)
_ALIAS_FIELDS = field_names(Alias)


_SEALED = "sealed_environment"
"""The record member holding the sealed variables (base64 of nonce + ciphertext)."""


class SealedEnvironmentError(Exception):
    """A row's sealed variables cannot be opened (no key, or another key)."""


def _context(name: str, version: str) -> str:
    # Binds each ciphertext to its row: a sealed value copied to another function does not open.
    return f"function-environment:{name}:{version}"


def config_to_record(config: FunctionConfig, box: SecretBox | None = None) -> bytes:
    """The record of ``config``; with ``box`` its variables are sealed, never in the clear."""
    if box is None or not config.environment:
        return to_record(config, _FIELDS, environment=dict(config.environment))
    sealed = box.seal(orjson.dumps(dict(config.environment)), _context(config.name, config.version))
    return to_record(config, _FIELDS, environment={}, **{_SEALED: base64.b64encode(sealed).decode()})


def config_from_record(raw: bytes, box: SecretBox | None = None) -> FunctionConfig:
    """The config a record holds, its sealed variables opened with ``box``.
    Raises SealedEnvironmentError when they cannot be."""
    loaded: dict[str, Any] = orjson.loads(raw)
    record = {key: value for key, value in loaded.items() if key in _FIELDS}
    environment = record.get("environment") or {}
    if _SEALED in loaded:
        environment = _unseal(loaded, box)
    record["environment"] = MappingProxyType(dict(environment))
    record["architectures"] = tuple(record.get("architectures") or ("x86_64",))
    record["layers"] = tuple(LayerRef(**layer) for layer in record.get("layers") or ())
    return FunctionConfig(**record)


def _unseal(record: dict[str, Any], box: SecretBox | None) -> dict[str, str]:
    name, version = str(record.get("name")), str(record.get("version"))
    if box is None:
        raise SealedEnvironmentError(f"the variables of {name}:{version} are sealed and no key was given")
    try:
        sealed = base64.b64decode(record[_SEALED])
        opened: dict[str, str] = orjson.loads(box.unseal(sealed, _context(name, version)))
    except (SecretBoxError, ValueError) as exc:
        raise SealedEnvironmentError(
            f"the variables of {name}:{version} do not decrypt with this data directory's key"
        ) from exc
    return opened


def is_sealed(raw: bytes) -> bool:
    """Does this record keep its variables sealed (or have none to keep)?"""
    record = orjson.loads(raw)
    return _SEALED in record or not record.get("environment")


def alias_to_record(alias: Alias) -> bytes:
    return to_record(alias, _ALIAS_FIELDS, routing=dict(alias.routing))


def alias_from_record(raw: bytes) -> Alias:
    record = known_fields(raw, _ALIAS_FIELDS)
    record["routing"] = MappingProxyType({str(k): float(v) for k, v in (record.get("routing") or {}).items()})
    return Alias(**record)


class FunctionStore(Protocol):
    """Durable function versions, aliases and version counters.

    Every write is atomic: after a crash or a failed write the store holds
    either all of it or none of it, and the rows it had before are intact.
    Reads return what the last completed write left, in a stable order."""

    def save(
        self,
        configs: Iterable[FunctionConfig] = (),
        aliases: Iterable[Alias] = (),
        last_version: tuple[str, int] | None = None,
    ) -> None:
        """Insert or replace snapshots (by name and version) and aliases (by
        function and alias name), and set a function's version counter to
        ``last_version`` = (name, number), all in one atomic write."""
        ...

    def delete_version(self, name: str, version: str) -> None:
        """Remove one published version (none is fine)."""
        ...

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove one alias (none is fine)."""
        ...

    def delete_function(self, name: str) -> None:
        """Remove every version and alias of a function and its version counter, atomically."""
        ...

    def all_versions(self) -> list[FunctionConfig]:
        """Every snapshot (``$LATEST`` and published), ordered by name then version."""
        ...

    def all_aliases(self) -> list[Alias]:
        """Every alias, ordered by function name then alias name."""
        ...

    def version_counters(self) -> dict[str, int]:
        """Function name -> number of the last version published."""
        ...


class SqliteFunctionStore:
    """``FunctionStore`` in the tables ``function_versions``, ``aliases`` and ``version_counters``;
    with ``box``, every row's variables are sealed (plaintext rows are sealed on opening)."""

    def __init__(self, db: SqliteDatabase, box: SecretBox | None = None) -> None:
        self._db = db
        self._box = box
        db.ensure_schema(_SCHEMA)
        if box is not None:
            self._seal_plaintext_rows()

    def _seal_plaintext_rows(self) -> None:
        """Rewrite rows an older lambdalite wrote with variables in the clear, in one transaction."""
        rows = self._db.read("SELECT config FROM function_versions")
        plain = [config_from_record(row[0]) for row in rows if not is_sealed(row[0])]
        if plain:
            self.save(configs=plain)
            # The replaced rows' bytes may linger in free pages and the WAL: rewrite the file
            # without them, so the clear text is gone from disk, not only from the table.
            self._db.read("VACUUM")
            self._db.read("PRAGMA wal_checkpoint(TRUNCATE)")

    def save(
        self,
        configs: Iterable[FunctionConfig] = (),
        aliases: Iterable[Alias] = (),
        last_version: tuple[str, int] | None = None,
    ) -> None:
        with self._db.transaction() as db:
            for config in configs:
                db.execute(
                    "INSERT OR REPLACE INTO function_versions (name, version, config) VALUES (?, ?, ?)",
                    (config.name, config.version, config_to_record(config, self._box)),
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
        with self._db.transaction() as db:
            db.execute("DELETE FROM function_versions WHERE name = ? AND version = ?", (name, version))

    def delete_alias(self, name: str, alias: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM aliases WHERE name = ? AND alias = ?", (name, alias))

    def delete_function(self, name: str) -> None:
        with self._db.transaction() as db:
            for table in ("function_versions", "aliases", "version_counters"):
                db.execute(f"DELETE FROM {table} WHERE name = ?", (name,))  # the names are ours, not input

    def all_versions(self) -> list[FunctionConfig]:
        rows = self._db.read("SELECT config FROM function_versions ORDER BY name, version")
        return [config_from_record(row[0], self._box) for row in rows]

    def all_aliases(self) -> list[Alias]:
        rows = self._db.read("SELECT record FROM aliases ORDER BY name, alias")
        return [alias_from_record(row[0]) for row in rows]

    def version_counters(self) -> dict[str, int]:
        return {
            str(name): int(last)
            for name, last in self._db.read("SELECT name, last_version FROM version_counters")
        }
