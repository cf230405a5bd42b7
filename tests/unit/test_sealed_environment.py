"""The function store seals environment variables with a SecretBox, bound to the row."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

import pytest

from lambdalite.auth.secrets import SecretBox, SecretBoxError
from lambdalite.models import FunctionConfig
from lambdalite.store.functions import (
    SealedEnvironmentError,
    SqliteFunctionStore,
    config_from_record,
    config_to_record,
    is_sealed,
)
from lambdalite.store.sqlite import SqliteDatabase

CONFIG = FunctionConfig(
    name="f",
    runtime="python3.12",
    role="arn:aws:iam::000000000000:role/r",
    handler="app.handler",
    code_sha256="00" * 32,
    code_size=1,
    environment=MappingProxyType({"PASSWORD": "s3cret-value"}),
    environment_given=True,
)


def test_a_sealed_record_holds_no_variable_and_opens_with_its_key() -> None:
    box = SecretBox(b"k" * 32)
    raw = config_to_record(CONFIG, box)
    assert b"s3cret-value" not in raw and b"PASSWORD" not in raw
    assert is_sealed(raw)
    assert config_from_record(raw, box) == CONFIG


def test_another_key_or_no_key_or_another_row_does_not_open_it() -> None:
    raw = config_to_record(CONFIG, SecretBox(b"k" * 32))
    with pytest.raises(SealedEnvironmentError, match="do not decrypt with this data directory's key"):
        config_from_record(raw, SecretBox(b"o" * 32))
    with pytest.raises(SealedEnvironmentError, match="are sealed and no key was given"):
        config_from_record(raw)
    forged = raw.replace(b'"name":"f"', b'"name":"g"')  # the same ciphertext on another row
    assert forged != raw
    with pytest.raises(SealedEnvironmentError):
        config_from_record(forged, SecretBox(b"k" * 32))


def test_plaintext_rows_are_read_and_sealed_when_the_store_opens(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "db.sqlite")
    SqliteFunctionStore(db).save(configs=(CONFIG,))
    assert not is_sealed(db.read("SELECT config FROM function_versions")[0][0])
    box = SecretBox(b"k" * 32)
    store = SqliteFunctionStore(db, box)
    assert store.all_versions() == [CONFIG]
    assert is_sealed(db.read("SELECT config FROM function_versions")[0][0])
    db.close()
    assert b"s3cret-value" not in (tmp_path / "db.sqlite").read_bytes()


def test_no_variables_need_no_sealing() -> None:
    empty = dataclasses.replace(CONFIG, environment=MappingProxyType({}))
    raw = config_to_record(empty, SecretBox(b"k" * 32))
    assert is_sealed(raw)
    assert config_from_record(raw) == empty


def test_an_operator_key_is_base64_or_hex_of_32_bytes() -> None:
    assert (
        SecretBox.from_text("ab" * 32).unseal(SecretBox(bytes.fromhex("ab" * 32)).seal(b"x", "c"), "c")
        == b"x"
    )
    with pytest.raises(SecretBoxError, match="neither base64 nor hex"):
        SecretBox.from_text("not a key!")
    with pytest.raises(SecretBoxError, match="must be 32 bytes, not 3"):
        SecretBox.from_text("YWJj")
