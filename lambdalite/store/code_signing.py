"""Code signing state: configs, which config each function uses, and the signing
profiles' public keys. The ``CodeSigningStore`` protocol and its SQLite implementation.

Profiles are written by ``lambdalite signing create-profile`` (another process,
through its own connection to the same database) and read by the server at each
deployment check, so a profile registered while the server runs counts at once.
"""

from __future__ import annotations

from typing import Protocol

from lambdalite.control.code_signing import CodeSigningConfig
from lambdalite.store.records import field_names, known_fields, to_record
from lambdalite.store.sqlite import SqliteDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS code_signing_configs (
    arn      TEXT PRIMARY KEY,
    record   BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS function_code_signing (
    name     TEXT PRIMARY KEY,
    csc_arn  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS signing_profiles (
    version_arn  TEXT PRIMARY KEY,
    public_key   BLOB NOT NULL
);
"""
_CONFIG_FIELDS = field_names(CodeSigningConfig)


class CodeSigningStore(Protocol):
    """Durable code signing state. Every write is atomic."""

    def put_config(self, config: CodeSigningConfig) -> None:
        """Insert or replace a config (by ARN)."""
        ...

    def delete_config(self, arn: str) -> None: ...

    def all_configs(self) -> list[CodeSigningConfig]:
        """Every config, in the order they were created."""
        ...

    def put_function_config(self, name: str, arn: str | None) -> None:
        """The config a function uses; None removes the association."""
        ...

    def function_configs(self) -> dict[str, str]:
        """Function name -> the ARN of the config it uses."""
        ...

    def put_profile(self, version_arn: str, public_key: bytes) -> None:
        """Register a signing profile version's raw Ed25519 public key."""
        ...

    def profile_key(self, version_arn: str) -> bytes | None:
        """A registered profile version's public key, None when it is unknown."""
        ...


class SqliteCodeSigningStore:
    """``CodeSigningStore`` in three tables of the shared database."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)

    def put_config(self, config: CodeSigningConfig) -> None:
        record = to_record(config, _CONFIG_FIELDS, tags=dict(config.tags))
        with self._db.transaction() as db:
            # An upsert keeps the row's rowid: configs are listed in the order they were created.
            db.execute(
                "INSERT INTO code_signing_configs (arn, record) VALUES (?, ?) "
                "ON CONFLICT (arn) DO UPDATE SET record = excluded.record",
                (config.arn, record),
            )

    def delete_config(self, arn: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM code_signing_configs WHERE arn = ?", (arn,))

    def all_configs(self) -> list[CodeSigningConfig]:
        configs = []
        for (raw,) in self._db.read("SELECT record FROM code_signing_configs ORDER BY rowid"):
            values = known_fields(raw, _CONFIG_FIELDS)
            values["allowed_profiles"] = tuple(values.get("allowed_profiles", ()))
            configs.append(CodeSigningConfig(**values))
        return configs

    def put_function_config(self, name: str, arn: str | None) -> None:
        with self._db.transaction() as db:
            if arn is None:
                db.execute("DELETE FROM function_code_signing WHERE name = ?", (name,))
            else:
                db.execute(
                    "INSERT OR REPLACE INTO function_code_signing (name, csc_arn) VALUES (?, ?)", (name, arn)
                )

    def function_configs(self) -> dict[str, str]:
        return {
            str(name): str(arn)
            for name, arn in self._db.read("SELECT name, csc_arn FROM function_code_signing")
        }

    def put_profile(self, version_arn: str, public_key: bytes) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO signing_profiles (version_arn, public_key) VALUES (?, ?)",
                (version_arn, public_key),
            )

    def profile_key(self, version_arn: str) -> bytes | None:
        rows = self._db.read("SELECT public_key FROM signing_profiles WHERE version_arn = ?", (version_arn,))
        return bytes(rows[0][0]) if rows else None
