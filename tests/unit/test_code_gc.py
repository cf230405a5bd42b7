"""Disk hygiene of the code store: leftovers of interrupted uploads go at start, and
packages nothing uses go after a grace period, never one in use or being uploaded."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time
from pathlib import Path

from lambdalite.store.code import CodeStore
from lambdalite.store.code_gc import CodeCollector
from tests.unit.test_code_store import make_zip


def package(n: int) -> bytes:
    return make_zip(("app.py", f"def handler(e, c):\n    return {n}\n", stat.S_IFREG | 0o644))


def age(store: CodeStore, sha: str, seconds: float) -> None:
    """Make the package look stored ``seconds`` ago."""
    past = time.time() - seconds
    os.utime(store.zip_path(sha), (past, past))


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_opening_the_store_removes_what_interrupted_uploads_left(tmp_path: Path) -> None:
    store = CodeStore(tmp_path / "code")
    kept = store.put(package(1))
    (tmp_path / "code" / "tmp" / "unpack-abc").mkdir()
    (tmp_path / "code" / "tmp" / "unpack-abc" / "app.py").write_text("half")
    (tmp_path / "code" / "blobs" / f".{kept.sha256_hex}.x1y2").write_bytes(b"half a zip")
    reopened = CodeStore(tmp_path / "code")
    assert list((tmp_path / "code" / "tmp").iterdir()) == []
    assert [p.name for p in (tmp_path / "code" / "blobs").iterdir()] == [f"{kept.sha256_hex}.zip"]
    assert reopened.packages() == {kept.sha256_hex}
    assert (reopened.task_root(kept.sha256_hex) / "app.py").is_file()


def test_remove_takes_blob_and_tree_and_spares_freshly_stored_packages(tmp_path: Path) -> None:
    store = CodeStore(tmp_path / "code")
    old, fresh = store.put(package(1)), store.put(package(2))
    age(store, old.sha256_hex, 3600)
    removed, freed = store.remove([old.sha256_hex, fresh.sha256_hex], stored_before=time.time() - 60)
    assert removed == 1 and freed >= old.size + old.unzipped_size
    assert store.packages() == {fresh.sha256_hex}
    assert store.unpacked(old.sha256_hex) is None and not store.zip_path(old.sha256_hex).exists()
    assert list((tmp_path / "code" / "tmp").iterdir()) == []
    # Stored again after removal: whole again.
    again = store.put(package(1))
    assert (store.task_root(again.sha256_hex) / "app.py").is_file()


def test_putting_a_stored_package_again_marks_it_fresh(tmp_path: Path) -> None:
    store = CodeStore(tmp_path / "code")
    stored = store.put(package(1))
    age(store, stored.sha256_hex, 3600)
    store.put(package(1))  # an upload of the same zip, not yet committed to a function
    assert store.remove([stored.sha256_hex], stored_before=time.time() - 60) == (0, 0)
    assert store.packages() == {stored.sha256_hex}


def test_an_orphan_unpacked_tree_is_removed(tmp_path: Path) -> None:
    store = CodeStore(tmp_path / "code")
    stored = store.put(package(1))
    store.zip_path(stored.sha256_hex).unlink()
    assert store.packages() == {stored.sha256_hex}
    assert store.remove([stored.sha256_hex], stored_before=time.time())[0] == 1
    assert store.packages() == set()


def test_the_collector_waits_out_the_grace_and_never_takes_what_is_referenced(tmp_path: Path) -> None:
    store = CodeStore(tmp_path / "code")
    shas = [store.put(package(n)).sha256_hex for n in range(4)]
    for sha in shas:
        age(store, sha, 3600)
    in_use = {shas[0], shas[1]}
    clock = Clock()
    collector = CodeCollector(store, lambda: in_use, grace_s=60, now=clock)

    first = asyncio.run(collector.collect_once())
    assert (first.packages, first.removed) == (4, 0)  # unreferenced only since now
    clock.now += 30
    in_use.add(shas[2])  # used again within the grace (a new environment, a version)
    assert asyncio.run(collector.collect_once()).removed == 0
    clock.now += 31
    in_use.discard(shas[2])
    result = asyncio.run(collector.collect_once())
    assert result.removed == 1 and result.freed_bytes > 0
    assert store.packages() == {shas[0], shas[1], shas[2]}  # 2's grace started again
    clock.now += 61
    assert asyncio.run(collector.collect_once()).removed == 1
    assert store.packages() == {shas[0], shas[1]}


def test_the_collector_spares_an_upload_not_yet_committed(tmp_path: Path) -> None:
    store = CodeStore(tmp_path / "code")
    sha = store.put(package(1)).sha256_hex
    clock = Clock()
    clock.now -= 120  # first seen unreferenced two minutes ago ...
    collector = CodeCollector(store, set, grace_s=60, now=clock)
    asyncio.run(collector.collect_once())
    clock.now += 120  # ... so unreferenced for longer than the grace, but stored just now
    assert asyncio.run(collector.collect_once()).removed == 0
    assert store.packages() == {sha}


def test_removal_racing_puts_of_the_same_package_never_breaks_a_put(tmp_path: Path) -> None:
    store = CodeStore(tmp_path / "code")
    zip_bytes = package(7)
    sha = store.put(zip_bytes).sha256_hex
    stop = threading.Event()
    failures: list[BaseException] = []

    def remover() -> None:
        while not stop.is_set():
            store.remove([sha], stored_before=time.time() + 1)  # as if every put were old

    thread = threading.Thread(target=remover)
    thread.start()
    try:
        for _ in range(200):
            try:
                assert store.put(zip_bytes).sha256_hex == sha
            except BaseException as exc:
                failures.append(exc)
    finally:
        stop.set()
        thread.join()
    assert failures == []
    store.put(zip_bytes)
    assert store.zip_path(sha).read_bytes() == zip_bytes
    assert (store.task_root(sha) / "app.py").is_file()
    assert [p.name for p in (tmp_path / "code" / "tmp").iterdir()] == []


def test_run_forever_collects_at_start_and_again(tmp_path: Path) -> None:
    interval = 0.01
    store = CodeStore(tmp_path / "code")
    sha = store.put(package(1)).sha256_hex
    age(store, sha, 3600)
    collector = CodeCollector(store, set, grace_s=0)

    async def run() -> None:
        task = asyncio.ensure_future(collector.run_forever(interval))
        for _ in range(200):
            await asyncio.sleep(interval)
            if not store.packages():
                break
        task.cancel()

    asyncio.run(run())
    assert store.packages() == set()
