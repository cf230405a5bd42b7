"""Environment variables are sealed at rest (AES-GCM with the data directory's key):
the database file never holds them in the clear, a restart reads them back, and a
data directory an older lambdalite wrote in the clear still works (and is sealed)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from lambdalite.auth.secrets import SecretBox
from lambdalite.store.functions import config_to_record
from lambdalite.store.sqlite import SqliteDatabase
from lambdalite.store.stores import open_sqlite
from tests.conftest import create_function, start_server, stop_server

HANDLER = {"app.py": "import os\ndef handler(event, context):\n    return os.environ.get('SECRET_TOKEN')\n"}
KMS = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _disk_bytes(data_dir: Path) -> bytes:
    """Everything SQLite keeps on disk for the database: the file, its WAL and shared memory."""
    return b"".join(path.read_bytes() for path in data_dir.glob("lambdalite.db*") if path.is_file())


def _invoke(lam: Any, name: str) -> Any:
    return json.loads(lam.invoke(FunctionName=name)["Payload"].read())


def test_variables_are_sealed_on_disk_and_read_back_after_a_restart(tmp_path: Path) -> None:
    secret = f"hunter2-{uuid.uuid4().hex}"
    server = start_server(tmp_path / "data")
    try:
        lam = server.client()
        created = create_function(
            lam, "sealed", HANDLER, Environment={"Variables": {"SECRET_TOKEN": secret}}, KMSKeyArn=KMS
        )
        assert created["KMSKeyArn"] == KMS
        assert _invoke(lam, "sealed") == secret
        lam.publish_version(FunctionName="sealed")
        assert secret.encode() not in _disk_bytes(tmp_path / "data")
    finally:
        stop_server(server)
    assert secret.encode() not in _disk_bytes(tmp_path / "data")
    key = tmp_path / "data" / "secrets.key"
    assert key.stat().st_mode & 0o077 == 0
    server = start_server(tmp_path / "data")
    try:
        lam = server.client()
        config = lam.get_function_configuration(FunctionName="sealed", Qualifier="1")
        assert config["Environment"]["Variables"] == {"SECRET_TOKEN": secret}
        assert config["KMSKeyArn"] == KMS
        assert _invoke(lam, "sealed") == secret
        # KMSKeyArn "" clears it, as on AWS.
        updated = lam.update_function_configuration(FunctionName="sealed", KMSKeyArn="")
        assert "KMSKeyArn" not in updated
    finally:
        stop_server(server)


def test_a_data_directory_written_in_the_clear_still_works_and_is_sealed(tmp_path: Path) -> None:
    secret = f"plain-{uuid.uuid4().hex}"
    data = tmp_path / "data"
    server = start_server(data)
    try:
        create_function(
            server.client(), "legacy", HANDLER, Environment={"Variables": {"SECRET_TOKEN": secret}}
        )
    finally:
        stop_server(server)
    # Rewrite the rows the way lambdalite wrote them before variables were sealed.
    stores = open_sqlite(data / "lambdalite.db", SecretBox.open(data / "secrets.key"))
    configs = stores.functions.all_versions()
    stores.close()
    db = SqliteDatabase(data / "lambdalite.db")
    with db.transaction() as sql:
        for config in configs:
            sql.execute(
                "UPDATE function_versions SET config = ? WHERE name = ? AND version = ?",
                (config_to_record(config), config.name, config.version),
            )
    db.close()
    assert secret.encode() in _disk_bytes(data)
    server = start_server(data)
    try:
        lam = server.client()
        assert lam.get_function_configuration(FunctionName="legacy")["Environment"]["Variables"] == {
            "SECRET_TOKEN": secret
        }
        assert _invoke(lam, "legacy") == secret
        assert secret.encode() not in _disk_bytes(data)
    finally:
        stop_server(server)


def test_an_operator_key_is_used_instead_of_the_key_file(tmp_path: Path) -> None:
    key = "ab" * 32
    server = start_server(tmp_path / "data", env={"LAMBDALITE_DATA_KEY": key})
    try:
        create_function(
            server.client(), "operator", HANDLER, Environment={"Variables": {"SECRET_TOKEN": "x" * 20}}
        )
    finally:
        stop_server(server)
    # Without the operator's key the sealed variables cannot be opened: the server says so.
    with pytest.raises(RuntimeError, match="do not decrypt with this data directory's key"):
        start_server(tmp_path / "data")
