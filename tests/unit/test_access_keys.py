"""Access keys: stored with their secrets sealed (AES-GCM, owner-only key file), served
from memory, and the administrator key made on first start."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lambdalite.auth.errors import UnrecognizedClient
from lambdalite.auth.keys import (
    ADMIN_KEY_FILE,
    ENV_KEY_ID,
    ENV_SECRET,
    AccessKeys,
    KeyNotDeletable,
    KeyNotFound,
    ensure_admin_key,
    read_key_file,
)
from lambdalite.auth.secrets import SecretBox, SecretBoxError
from lambdalite.auth.sigv4 import Verifier
from lambdalite.store.access_keys import SqliteAccessKeyStore
from lambdalite.store.sqlite import SqliteDatabase
from tests.unit.sigv4_requests import as_received


def keys_in(data: Path) -> tuple[AccessKeys, SqliteDatabase]:
    db = SqliteDatabase(data / "lambdalite.db")
    return AccessKeys(SqliteAccessKeyStore(db), SecretBox.open(data / "secrets.key"), "123456789012"), db


def test_a_created_key_is_stored_sealed_and_survives_a_restart(tmp_path: Path) -> None:
    keys, db = keys_in(tmp_path)
    new = keys.create("alice")
    assert new.access_key_id.startswith("AKIA") and len(new.access_key_id) == 20
    credential = keys.credential(new.access_key_id)
    assert credential is not None and credential.secret_access_key == new.secret_access_key
    assert credential.principal.arn == "arn:aws:iam::123456789012:user/alice"
    assert credential.principal.account_id == "123456789012"
    db.close()
    for name in os.listdir(tmp_path):  # the secret is nowhere in the clear
        assert new.secret_access_key.encode() not in (tmp_path / name).read_bytes()
    assert stat.S_IMODE((tmp_path / "secrets.key").stat().st_mode) == 0o600
    again, db = keys_in(tmp_path)
    restored = again.credential(new.access_key_id)
    assert restored is not None and restored.secret_access_key == new.secret_access_key
    assert [(info.access_key_id, info.user_name) for info in again.list()] == [(new.access_key_id, "alice")]
    again.delete(new.access_key_id)
    assert again.credential(new.access_key_id) is None
    with pytest.raises(KeyNotFound):
        again.delete(new.access_key_id)
    db.close()
    third, db = keys_in(tmp_path)
    assert third.list() == []
    db.close()


def test_invalid_user_name(tmp_path: Path) -> None:
    keys, db = keys_in(tmp_path)
    with pytest.raises(ValueError, match="invalid user name"):
        keys.create("no spaces allowed")
    db.close()


def test_sealed_secrets_are_bound_to_their_key_and_context(tmp_path: Path) -> None:
    box = SecretBox.open(tmp_path / "a.key")
    sealed = box.seal(b"secret", "AKIA1")
    assert box.unseal(sealed, "AKIA1") == b"secret"
    with pytest.raises(SecretBoxError):
        box.unseal(sealed, "AKIA2")
    with pytest.raises(SecretBoxError):
        SecretBox.open(tmp_path / "b.key").unseal(sealed, "AKIA1")


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    SecretBox.open(tmp_path / "secrets.key")
    (tmp_path / "secrets.key").chmod(0o644)
    with pytest.raises(SecretBoxError, match="readable or writable by others"):
        SecretBox.open(tmp_path / "secrets.key")


def test_admin_key_is_created_once_and_written_owner_only(tmp_path: Path) -> None:
    keys, db = keys_in(tmp_path)
    line = ensure_admin_key(keys, tmp_path, {})
    path = tmp_path / ADMIN_KEY_FILE
    assert line.startswith("created an admin access key ") and str(path) in line
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key_id, secret = read_key_file(path) or ("", "")
    credential = keys.credential(key_id)
    assert credential is not None and credential.secret_access_key == secret
    assert orjson.loads(path.read_bytes())["UserName"] == "admin"
    assert ensure_admin_key(keys, tmp_path, {}) == f"admin access key: {key_id} (in {path})"
    assert len(keys.list()) == 1
    keys.delete(key_id)  # deleted: the next start makes a new one
    assert ensure_admin_key(keys, tmp_path, {}).startswith("created an admin access key ")
    db.close()


def test_admin_key_from_the_environment_is_held_in_memory_only(tmp_path: Path) -> None:
    keys, db = keys_in(tmp_path)
    line = ensure_admin_key(keys, tmp_path, {ENV_KEY_ID: "AKIAFROMENV", ENV_SECRET: "s3cret"})
    assert line == f"admin access key: AKIAFROMENV (from {ENV_KEY_ID})"
    credential = keys.credential("AKIAFROMENV")
    assert credential is not None and credential.secret_access_key == "s3cret"
    assert not (tmp_path / ADMIN_KEY_FILE).exists()
    with pytest.raises(KeyNotDeletable):
        keys.delete("AKIAFROMENV")
    db.close()
    again, db = keys_in(tmp_path)
    assert again.credential("AKIAFROMENV") is None
    db.close()


def test_a_deleted_key_verifies_nobody_from_its_next_request(tmp_path: Path) -> None:
    """The verifier keeps what it derived from a key between requests; deleting the key
    still refuses the very next request signed with it."""
    keys, db = keys_in(tmp_path)
    new = keys.create("alice")
    url = "http://127.0.0.1:9001/2015-03-31/functions/f/invocations"
    sent = AWSRequest(method="POST", url=url, data=b"{}")
    SigV4Auth(Credentials(new.access_key_id, new.secret_access_key), "lambda", "us-east-1").add_auth(sent)
    request = as_received(sent)
    verifier = Verifier(keys)
    for _ in range(2):  # the second takes the warm path
        assert verifier.verify(request, ("lambda",)).arn == "arn:aws:iam::123456789012:user/alice"
    keys.delete(new.access_key_id)
    with pytest.raises(UnrecognizedClient):
        verifier.verify(request, ("lambda",))
    db.close()
