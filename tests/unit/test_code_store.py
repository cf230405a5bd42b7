"""The code store: validation, unpacking and content addressing of deployment packages."""

from __future__ import annotations

import io
import os
import shutil
import stat
import struct
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lambdalite.errors import InvalidParameterValue, RequestTooLarge, StoreError
from lambdalite.store.code import CodeStore, StoredCode

UNZIP_FAILED = "Could not unzip uploaded file. Please check your file, then try to upload again."


def make_zip(*entries: tuple[str, bytes | str, int]) -> bytes:
    """A zip of (name, data, unix mode) entries; mode 0 leaves the attributes alone."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if mode:
                info.create_system = 3
                info.external_attr = mode << 16
            archive.writestr(info, data)
    return buf.getvalue()


def symlink(name: str, target: str) -> tuple[str, str, int]:
    return (name, target, stat.S_IFLNK | 0o777)


HELLO = make_zip(("index.py", "def handler(event, context):\n    return 1\n", stat.S_IFREG | 0o644))


def leftovers(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.parent != root)


@pytest.fixture
def store(tmp_path: Path) -> CodeStore:
    return CodeStore(tmp_path / "code", max_zipped=64 * 1024, max_unzipped=1024 * 1024)


def test_put_unpacks_and_keeps_the_zip(store: CodeStore, tmp_path: Path) -> None:
    stored = store.put(HELLO)
    assert stored == StoredCode(
        stored.sha256_hex, len(HELLO), len("def handler(event, context):\n    return 1\n")
    )
    assert store.zip_path(stored.sha256_hex).read_bytes() == HELLO
    root = store.task_root(stored.sha256_hex)
    assert root == tmp_path / "code" / "unpacked" / stored.sha256_hex
    assert (root / "index.py").read_text().startswith("def handler")
    assert stat.S_IMODE(root.stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "index.py").stat().st_mode) == 0o644
    assert list((tmp_path / "code" / "tmp").iterdir()) == []


def test_exec_bits_are_kept_and_other_bits_normalised(store: CodeStore) -> None:
    package = make_zip(
        ("bootstrap", "#!/bin/sh\n", stat.S_IFREG | 0o700),
        ("lib/data.txt", "x", stat.S_IFREG | 0o600),
        ("windows.txt", "x", 0),
    )
    root = store.task_root(store.put(package).sha256_hex)
    assert stat.S_IMODE((root / "bootstrap").stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "lib").stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "lib" / "data.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((root / "windows.txt").stat().st_mode) == 0o644


def test_symlinks_inside_the_package_are_kept(store: CodeStore) -> None:
    package = make_zip(
        ("lib/libc-2.23.so", "elf", stat.S_IFREG | 0o755),
        symlink("lib/libc.so.6", "libc-2.23.so"),
        symlink("current", "lib"),
    )
    root = store.task_root(store.put(package).sha256_hex)
    assert os.readlink(root / "lib" / "libc.so.6") == "libc-2.23.so"
    assert (root / "current" / "libc.so.6").read_text() == "elf"


def test_same_zip_twice_is_one_blob_and_one_tree(store: CodeStore, tmp_path: Path) -> None:
    first = store.put(HELLO)
    second = store.put(HELLO)
    assert first == second
    assert [p.name for p in (tmp_path / "code" / "blobs").iterdir()] == [f"{first.sha256_hex}.zip"]
    assert [p.name for p in (tmp_path / "code" / "unpacked").iterdir()] == [first.sha256_hex]


def test_concurrent_puts_of_one_zip_are_safe(store: CodeStore, tmp_path: Path) -> None:
    package = make_zip(*((f"module{i}.py", f"x = {i}\n" * 200, stat.S_IFREG | 0o644) for i in range(50)))
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: store.put(package), range(16)))
    assert len(set(results)) == 1
    sha = results[0].sha256_hex
    assert [p.name for p in (tmp_path / "code" / "blobs").iterdir()] == [f"{sha}.zip"]
    assert [p.name for p in (tmp_path / "code" / "unpacked").iterdir()] == [sha]
    assert list((tmp_path / "code" / "tmp").iterdir()) == []
    assert len(list(store.task_root(sha).iterdir())) == 50


def test_task_root_unpacks_again_when_the_tree_is_gone(store: CodeStore) -> None:
    sha = store.put(HELLO).sha256_hex
    shutil.rmtree(store.task_root(sha))
    root = store.task_root(sha)
    assert (root / "index.py").is_file()


def test_unpacked_names_the_tree_only_while_it_exists(store: CodeStore) -> None:
    sha = store.put(HELLO).sha256_hex
    assert store.unpacked(sha) == store.task_root(sha)
    shutil.rmtree(store.task_root(sha))
    assert store.unpacked(sha) is None
    assert store.unpacked("0" * 64) is None


def test_task_root_of_an_unknown_package_is_a_store_error(store: CodeStore) -> None:
    with pytest.raises(StoreError):
        store.task_root("0" * 64)
    with pytest.raises(ValueError):
        store.task_root("../../etc")


def test_not_a_zip_is_refused_with_awss_message(store: CodeStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterValue) as err:
        store.put(b"def handler(event, context): pass")
    assert err.value.message == UNZIP_FAILED
    assert leftovers(tmp_path / "code") == []


def test_a_corrupt_entry_is_refused_and_leaves_nothing(store: CodeStore, tmp_path: Path) -> None:
    package = bytearray(make_zip(("a.txt", "hello world " * 100, stat.S_IFREG | 0o644)))
    package[40:60] = b"\xff" * 20  # inside the compressed data of the only entry
    with pytest.raises(InvalidParameterValue) as err:
        store.put(bytes(package))
    assert err.value.message == UNZIP_FAILED
    assert leftovers(tmp_path / "code") == []


def test_a_zip_over_the_zipped_limit_is_413_with_awss_text(tmp_path: Path) -> None:
    store = CodeStore(tmp_path / "code", max_zipped=300)
    package = make_zip(("a.bin", os.urandom(400), stat.S_IFREG | 0o644))
    with pytest.raises(RequestTooLarge) as err:
        store.put(package, operation="UpdateFunctionCode")
    assert err.value.message == "Zipped size must be smaller than 300 bytes"


def test_the_default_zipped_limit_is_awss_50_mb(tmp_path: Path) -> None:
    with pytest.raises(RequestTooLarge) as err:
        CodeStore(tmp_path / "code").put(b"\0" * (52428800 + 1))
    assert err.value.message == "Zipped size must be smaller than 52428800 bytes"
    assert leftovers(tmp_path / "code") == []


def test_zip_bomb_is_stopped_at_the_unzipped_limit(store: CodeStore, tmp_path: Path) -> None:
    bomb = make_zip(("zeros.bin", b"\0" * (8 * 1024 * 1024), stat.S_IFREG | 0o644))
    assert len(bomb) < 64 * 1024
    with pytest.raises(InvalidParameterValue) as err:
        store.put(bomb)
    assert err.value.message == "Unzipped size must be smaller than 1048576 bytes"
    assert leftovers(tmp_path / "code") == []


def test_zip_bomb_with_lying_headers_never_writes_past_the_limit(store: CodeStore, tmp_path: Path) -> None:
    bomb = bytearray(make_zip(("zeros.bin", b"\0" * (8 * 1024 * 1024), stat.S_IFREG | 0o644)))
    # Claim 10 bytes in both the local header and the central directory.
    struct.pack_into("<I", bomb, 22, 10)
    central = bomb.index(b"PK\x01\x02")
    struct.pack_into("<I", bomb, central + 24, 10)
    with pytest.raises(InvalidParameterValue):
        store.put(bytes(bomb))
    assert leftovers(tmp_path / "code") == []


def test_many_small_entries_count_toward_the_unzipped_limit(store: CodeStore, tmp_path: Path) -> None:
    package = make_zip(*((f"f{i}", b"\0" * 200 * 1024, stat.S_IFREG | 0o644) for i in range(6)))
    with pytest.raises(InvalidParameterValue) as err:
        store.put(package)
    assert err.value.message == "Unzipped size must be smaller than 1048576 bytes"
    assert leftovers(tmp_path / "code") == []


def test_layers_count_toward_the_unzipped_limit(store: CodeStore) -> None:
    package = make_zip(("a.bin", b"\0" * 600 * 1024, stat.S_IFREG | 0o644))
    assert store.put(package).unzipped_size == 600 * 1024
    with pytest.raises(InvalidParameterValue) as err:
        store.put(package, extra_unzipped=500 * 1024)  # stored already: checked without unpacking
    assert err.value.message == "Unzipped size must be smaller than 1048576 bytes"


@pytest.mark.parametrize(
    ("entries", "culprit"),
    [
        ((("../evil.py", "x", stat.S_IFREG | 0o644),), "../evil.py"),
        ((("a/../../evil.py", "x", stat.S_IFREG | 0o644),), "a/../../evil.py"),
        ((("/etc/evil.py", "x", stat.S_IFREG | 0o644),), "/etc/evil.py"),
        ((symlink("etc", "/etc"),), "etc"),
        ((symlink("up", "../.."),), "up"),
        ((("dir/x", "x", stat.S_IFREG | 0o644), symlink("dir/up", "../..")), "dir/up"),
        # Each link looks harmless alone; together x/p resolves to x/q/../.. = above the root.
        ((symlink("x/p", "q/../.."), symlink("x/q", ".")), "x/p"),
    ],
)
def test_entries_leaving_the_package_are_refused_and_leave_nothing(
    store: CodeStore, tmp_path: Path, entries: tuple[tuple[str, str, int], ...], culprit: str
) -> None:
    with pytest.raises(InvalidParameterValue) as err:
        store.put(make_zip(*entries))
    assert err.value.message == (
        f"Could not unzip uploaded file. The entry '{culprit}' points outside the deployment package. "
        "Please check your file, then try to upload again."
    )
    assert leftovers(tmp_path / "code") == []


def test_an_entry_under_a_file_is_refused_as_unzippable(store: CodeStore, tmp_path: Path) -> None:
    package = make_zip(("a", "file", stat.S_IFREG | 0o644), ("a/b", "x", stat.S_IFREG | 0o644))
    with pytest.raises(InvalidParameterValue) as err:
        store.put(package)
    assert err.value.message == UNZIP_FAILED
    assert leftovers(tmp_path / "code") == []


def test_a_link_over_a_directory_is_refused_rather_than_written_through(
    store: CodeStore, tmp_path: Path
) -> None:
    package = make_zip(symlink("lib", "other"), ("lib/x.py", "x", stat.S_IFREG | 0o644))
    with pytest.raises(InvalidParameterValue) as err:
        store.put(package)
    assert err.value.message == UNZIP_FAILED
    assert leftovers(tmp_path / "code") == []


def test_disk_failure_is_a_store_error(store: CodeStore, tmp_path: Path) -> None:
    work = tmp_path / "code" / "tmp"
    work.rmdir()
    work.write_text("not a directory")
    with pytest.raises(StoreError) as err:
        store.put(HELLO)
    assert isinstance(err.value.__cause__, OSError)
