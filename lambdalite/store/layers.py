"""Layer versions: the ``LayerStore`` protocol and its SQLite implementation.

A layer is a name with numbered, immutable versions (``LayerVersion``; only
its permission statements change); the number of the last version published
is kept apart, so a number is never given out twice, even after its version
was deleted.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Protocol

import orjson

from lambdalite.models import LayerVersion, aws_timestamp
from lambdalite.store.sqlite import SqliteDatabase

_SCHEMA = """
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
"""


def layer_to_record(layer: LayerVersion) -> bytes:
    return orjson.dumps(
        {
            "name": layer.name,
            "version": layer.version,
            "code_sha256": layer.code_sha256,
            "code_size": layer.code_size,
            "unzipped_size": layer.unzipped_size,
            "description": layer.description,
            "license_info": layer.license_info,
            "compatible_runtimes": _listed(layer.compatible_runtimes),
            "compatible_architectures": _listed(layer.compatible_architectures),
            "created": layer.created,
            "statements": [dict(s) for s in layer.statements],
            "policy_revision": layer.policy_revision,
        }
    )


def layer_from_record(raw: bytes) -> LayerVersion:
    record = orjson.loads(raw)
    return LayerVersion(
        name=str(record["name"]),
        version=int(record["version"]),
        code_sha256=str(record["code_sha256"]),
        code_size=int(record["code_size"]),
        unzipped_size=int(record.get("unzipped_size") or 0),
        description=str(record.get("description") or ""),
        license_info=record.get("license_info"),
        compatible_runtimes=_tupled(record.get("compatible_runtimes")),
        compatible_architectures=_tupled(record.get("compatible_architectures")),
        created=str(record.get("created") or aws_timestamp()),
        statements=tuple(MappingProxyType(dict(s)) for s in record.get("statements") or ()),
        policy_revision=str(record.get("policy_revision") or ""),
    )


class LayerStore(Protocol):
    """Durable layer versions and layer version counters. A write is atomic; a
    failed one leaves the previous versions and counters intact."""

    def put_layer_version(self, layer: LayerVersion, *, new: bool = False) -> None:
        """Insert or replace one layer version; ``new`` also makes its number the
        layer's last version number (never given out again), in the same write."""
        ...

    def delete_layer_version(self, name: str, version: int) -> None:
        """Remove one layer version (none is fine); its number stays used."""
        ...

    def all_layer_versions(self) -> list[LayerVersion]:
        """Every layer version, ordered by name then number."""
        ...

    def layer_counters(self) -> dict[str, int]:
        """Layer name -> number of the last version published."""
        ...


class SqliteLayerStore:
    """``LayerStore`` in the tables ``layer_versions`` and ``layer_counters``."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)

    def put_layer_version(self, layer: LayerVersion, *, new: bool = False) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO layer_versions (name, version, record) VALUES (?, ?, ?)",
                (layer.name, layer.version, layer_to_record(layer)),
            )
            if new:
                db.execute(
                    "INSERT OR REPLACE INTO layer_counters (name, last_version) VALUES (?, ?)",
                    (layer.name, layer.version),
                )

    def delete_layer_version(self, name: str, version: int) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM layer_versions WHERE name = ? AND version = ?", (name, version))

    def all_layer_versions(self) -> list[LayerVersion]:
        rows = self._db.read("SELECT record FROM layer_versions ORDER BY name, version")
        return [layer_from_record(row[0]) for row in rows]

    def layer_counters(self) -> dict[str, int]:
        return {
            str(name): int(last)
            for name, last in self._db.read("SELECT name, last_version FROM layer_counters")
        }


def _listed(values: tuple[str, ...] | None) -> list[str] | None:
    return None if values is None else list(values)


def _tupled(values: list[str] | None) -> tuple[str, ...] | None:
    """Rows written before a left-out list was told from an empty one hold []: read as given."""
    return None if values is None else tuple(values)
