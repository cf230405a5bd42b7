"""ListObjects pages: keys in UTF-8 byte order, common prefixes rolled up at the
delimiter, and continuation that never repeats or skips an entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdalite.services.s3.errors import S3Fault
from lambdalite.services.s3.listing import decode_token, encode_token, list_page
from lambdalite.store.objects import ObjectRecord, SqliteObjectStore
from lambdalite.store.sqlite import SqliteDatabase

KEYS = ["a/1", "a/2", "a/b/3", "b", "c/1", "c/2", "d", "z/é", "zz", "Ω/1"]


@pytest.fixture
def store(tmp_path: Path) -> SqliteObjectStore:
    objects = SqliteObjectStore(SqliteDatabase(tmp_path / "db"), tmp_path / "s3")
    for key in KEYS:
        temp = objects.temp_path()
        temp.write_bytes(b"x")
        objects.put_object(ObjectRecord("bk", key, "", 1, '"e"', 0.0), temp)
    return objects


def walk(store: SqliteObjectStore, prefix: str, delimiter: str, max_keys: int) -> list[str]:
    seen: list[str] = []
    cursor = ""
    while True:
        page = list_page(store, "bk", prefix, delimiter, cursor, max_keys)
        assert len(page.objects) + len(page.prefixes) <= max_keys
        entries = sorted([*(o.key for o in page.objects), *page.prefixes], key=str.encode)
        seen.extend(entries)
        if not page.truncated:
            return seen
        cursor = decode_token(encode_token(page.cursor))


@pytest.mark.parametrize("max_keys", [1, 2, 3, 1000])
def test_pages_with_a_delimiter_cover_every_entry_once(store: SqliteObjectStore, max_keys: int) -> None:
    assert walk(store, "", "/", max_keys) == ["a/", "b", "c/", "d", "z/", "zz", "Ω/"]
    assert walk(store, "a/", "/", max_keys) == ["a/1", "a/2", "a/b/"]
    assert walk(store, "", "", max_keys) == sorted(KEYS, key=str.encode)


def test_a_bad_continuation_token_is_invalid_argument() -> None:
    with pytest.raises(S3Fault) as err:
        decode_token("%%%")
    assert (err.value.fault_code, err.value.message) == (
        "InvalidArgument",
        "The continuation token provided is incorrect",
    )
