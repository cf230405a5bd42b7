"""Lambda code read from the object store: AWS's GetObject errors, and the limits
that apply to such a package (the unzipped one only)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from lambdalite.errors import InvalidParameterValue, RequestTooLarge
from lambdalite.services.s3.code_source import code_reader
from lambdalite.store.code import CodeStore, ObjectStoreZip
from lambdalite.store.objects import BucketRecord, ObjectRecord, SqliteObjectStore
from lambdalite.store.sqlite import SqliteDatabase


def package(size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("app.py", b"#" * size)
    return buffer.getvalue()


def test_missing_bucket_and_key_are_awss_get_object_errors(tmp_path: Path) -> None:
    store = SqliteObjectStore(SqliteDatabase(tmp_path / "db"), tmp_path / "s3")
    read = code_reader(store)
    with pytest.raises(InvalidParameterValue) as err:
        read("nope", "k.zip", None)
    assert err.value.message == (
        "Error occurred while GetObject. S3 Error Code: NoSuchBucket. "
        "S3 Error Message: The specified bucket does not exist"
    )
    store.create_bucket(BucketRecord("code", 0.0, "us-east-1"))
    with pytest.raises(InvalidParameterValue) as err:
        read("code", "k.zip", None)
    assert err.value.message.endswith(
        "S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist."
    )
    temp = store.temp_path()
    temp.write_bytes(package(10))
    store.put_object(ObjectRecord("code", "k.zip", "", 0, '"e"', 0.0), temp)
    body = read("code", "k.zip", None)
    assert isinstance(body, ObjectStoreZip) and body == package(10)


def test_only_the_unzipped_limit_applies_and_the_limit_itself_is_refused(tmp_path: Path) -> None:
    store = CodeStore(tmp_path / "code", max_zipped=1024, max_unzipped=4096)
    with pytest.raises(RequestTooLarge):
        store.put(package(2048))  # uploaded: the zipped limit applies
    assert store.put(ObjectStoreZip(package(4095))).unzipped_size == 4095
    with pytest.raises(InvalidParameterValue) as err:
        store.put(ObjectStoreZip(package(4096)))
    assert err.value.message == "Unzipped size must be smaller than 4096 bytes"
