"""A data directory written by the previous schema (one FunctionStore for every
table) opens with the split stores and registries, with every row in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson

from lambdalite.config import Settings
from lambdalite.control.layers import PublishInput
from lambdalite.control.registries import Registries
from lambdalite.control.validation import FunctionSettings
from lambdalite.models import LATEST
from lambdalite.store.code import StoredCode
from lambdalite.store.stores import open_sqlite
from tests.unit.control_plane import settle_at_once

PREVIOUS_SCHEMA = """
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
"""The tables as lambdalite created them before the stores were split (commit 38bf205)."""

PREFIX = "arn:aws:lambda:us-east-1:000000000000:function:"
LAYER = "arn:aws:lambda:us-east-1:000000000000:layer:deps"


def _function(version: str, revision: str) -> bytes:
    # Every field the previous FunctionStore wrote, plus one a later release may drop.
    return orjson.dumps(
        {
            "name": "fn",
            "runtime": "python3.11",
            "role": "arn:aws:iam::000000000000:role/r",
            "handler": "app.handler",
            "code_sha256": "aa" * 32,
            "code_size": 10,
            "description": "",
            "timeout_s": 3,
            "memory_mb": 128,
            "environment": {"A": "1"},
            "ephemeral_storage_mb": 512,
            "architectures": ["x86_64"],
            "version": version,
            "last_modified": "2024-01-01T00:00:00.000+0000",
            "revision_id": revision,
            "state": "Active",
            "last_update_status": "Successful",
            "layers": [{"arn": f"{LAYER}:1", "code_size": 5, "code_sha256": "bb" * 32, "unzipped_size": 9}],
            "published_from": "",
            "retired_field": True,
        }
    )


def write_previous_data_dir(db: Path) -> None:
    connection = sqlite3.connect(db)
    connection.executescript(PREVIOUS_SCHEMA)
    rows = {
        "function_versions": [("fn", LATEST, _function(LATEST, "r0")), ("fn", "1", _function("1", "r1"))],
        "aliases": [
            (
                "fn",
                "live",
                orjson.dumps(
                    {
                        "function_name": "fn",
                        "name": "live",
                        "function_version": "1",
                        "description": "",
                        "routing": {},
                        "revision_id": "ra",
                    }
                ),
            )
        ],
        "version_counters": [("fn", 2)],
        "function_tags": [("fn", orjson.dumps({"team": "a"}))],
        "function_policies": [
            (
                "fn",
                "live",
                orjson.dumps({"statements": [{"Sid": "s1", "Effect": "Allow"}], "revision_id": "rp"}),
            )
        ],
        "function_concurrency": [("fn", 7)],
        "function_urls": [
            (
                "fn",
                "live",
                orjson.dumps(
                    {
                        "function_name": "fn",
                        "qualifier": "live",
                        "url_id": "u" * 32,
                        "auth_type": "NONE",
                        "invoke_mode": "BUFFERED",
                        "cors": {"AllowOrigins": ["*"]},
                        "creation_time": "2024-01-01T00:00:00.000000Z",
                        "last_modified_time": "2024-01-01T00:00:00.000000Z",
                    }
                ),
            )
        ],
        "layer_versions": [
            (
                "deps",
                1,
                orjson.dumps(
                    {
                        "name": "deps",
                        "version": 1,
                        "code_sha256": "bb" * 32,
                        "code_size": 5,
                        "unzipped_size": 9,
                        "description": "",
                        "license_info": None,
                        "compatible_runtimes": ["python3.11"],
                        "compatible_architectures": [],
                        "created": "2024-01-01T00:00:00.000+0000",
                        "statements": [],
                        "policy_revision": "",
                    }
                ),
            )
        ],
        "layer_counters": [("deps", 3)],
        "provisioned_concurrency": [("fn", "live", 2, "2024-01-01T00:00:00.000+0000")],
    }
    for table, values in rows.items():
        for row in values:
            marks = ", ".join("?" for _ in row)
            connection.execute(f"INSERT INTO {table} VALUES ({marks})", row)
    connection.commit()
    connection.close()


def test_a_data_directory_of_the_previous_schema_opens_with_everything(tmp_path: Path) -> None:
    db = tmp_path / "lambdalite.db"
    write_previous_data_dir(db)
    stores = open_sqlite(db)
    registries = Registries.build(stores, Settings(data_dir=tmp_path))
    functions = registries.functions
    settle_at_once(functions, registries.bus)
    assert functions.get("fn").revision_id == "r0"
    assert functions.get("fn", "live").revision_id == "r1"
    assert dict(functions.get("fn").environment) == {"A": "1"}
    assert functions.get("fn").layers[0].arn == f"{LAYER}:1"
    assert dict(registries.tags.tags("fn")) == {"team": "a"}
    assert registries.policies.policy("fn", "live").revision_id == "rp"
    assert registries.urls.url_by_id("u" * 32) == registries.urls.url_config("fn", "live")
    assert registries.concurrency.reserved_concurrency("fn") == 7
    assert [c.requested for c, _ in registries.concurrency.provisioned_targets()] == [2]
    assert registries.layers.get("deps", 1).compatible_runtimes == ("python3.11",)
    # The counters came along: numbers are not given out again.
    functions.update_configuration("fn", FunctionSettings(timeout_s=9), None)
    assert functions.publish_version("fn").version == "3"
    code = StoredCode(sha256_hex="bb" * 32, size=5, unzipped_size=9)
    assert registries.layers.publish("deps", PublishInput(b"", "", None, (), ()), code).version == 4
    stores.close()
