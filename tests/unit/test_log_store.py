"""LogStore: function logs on disk, written on the invoke hot path, read by the Logs API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdalite.models import FunctionConfig
from lambdalite.observe import logs as logs_module
from lambdalite.observe.billing import bill
from lambdalite.observe.logs import (
    FilterPattern,
    LogGroupNotFound,
    LogStore,
    LogStreamNotFound,
    decode_name,
    encode_name,
)
from lambdalite.observe.platform_log import PlatformLog

GROUP = "/aws/lambda/hello"
STREAM_A = "2024/01/31/[$LATEST]" + "a" * 32
STREAM_B = "2024/01/31/[$LATEST]" + "b" * 32


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LogStore]:
    logs = LogStore(tmp_path / "logs")
    yield logs
    logs.close()


def messages(store: LogStore, group: str = GROUP, **kwargs: object) -> list[str]:
    return [item.event.message for item in store.events(group, **kwargs).events]  # type: ignore[arg-type]


def test_events_come_back_in_time_order_across_streams(store: LogStore) -> None:
    store.append(GROUP, STREAM_A, [(1000, "a1"), (3000, "a3")])
    store.append(GROUP, STREAM_B, [(2000, "b2"), (4000, "b4")])
    page = store.events(GROUP)
    assert [(i.stream, i.event.message) for i in page.events] == [
        (STREAM_A, "a1"),
        (STREAM_B, "b2"),
        (STREAM_A, "a3"),
        (STREAM_B, "b4"),
    ]
    assert page.next is None
    assert all(i.event.ingestion_ms > 1_600_000_000_000 for i in page.events)


def test_a_message_with_newlines_stays_one_event(store: LogStore) -> None:
    traceback = 'Traceback (most recent call last):\n  File "app.py", line 3\nValueError: boom\n'
    store.append(GROUP, STREAM_A, [(1, traceback), (2, "after")])
    assert messages(store) == [traceback, "after"]
    assert [e.message for e in store.stream_events(GROUP, STREAM_A)] == [traceback, "after"]


def test_names_map_to_one_path_component_inside_root(store: LogStore, tmp_path: Path) -> None:
    store.append(GROUP, STREAM_A, [(1, "x")])
    store.append("../../escape", "../../../etc/passwd", [(1, "y")])
    store.flush()
    files = sorted(p.relative_to(tmp_path / "logs") for p in (tmp_path / "logs").rglob("*") if p.is_file())
    assert all(len(f.parts) == 2 for f in files)
    assert not (tmp_path / "etc").exists()
    assert [g.name for g in store.groups()] == ["../../escape", GROUP]
    assert decode_name(encode_name(STREAM_A)) == STREAM_A
    assert "/" not in encode_name("..") and encode_name("..") != ".."


def test_names_too_long_for_a_file_name_still_work(store: LogStore) -> None:
    group, stream = "/g/" + "x" * 500, "s" + "é" * 300
    store.append(group, stream, [(5, "long")])
    assert [g.name for g in store.groups()] == [group]
    assert [s.name for s in store.streams(group)] == [stream]
    assert messages(store, group) == ["long"]


def test_append_defers_until_flush(store: LogStore, tmp_path: Path) -> None:
    store.append(GROUP, STREAM_A, [(1, "deferred")])
    assert list((tmp_path / "logs").rglob("*.log")) == []  # nothing written on the hot path
    store.flush()
    (path,) = (tmp_path / "logs").rglob("*.log")
    assert path.stat().st_size > 0


def test_interleaved_appends_keep_each_streams_order_and_statistics(store: LogStore) -> None:
    store.append(GROUP, STREAM_A, [(5000, "a5"), (1000, "a1")])
    store.append(GROUP, STREAM_B, [(2000, "b2")])
    store.append(GROUP, STREAM_A, [(3000, "a3")])
    assert [e.message for e in store.stream_events(GROUP, STREAM_A)] == ["a5", "a1", "a3"]
    first, second = store.streams(GROUP)
    assert (first.name, first.first_event_ms, first.last_event_ms) == (STREAM_A, 1000, 5000)
    assert (second.name, second.first_event_ms, second.last_event_ms) == (STREAM_B, 2000, 2000)
    events = store.stream_events(GROUP, STREAM_A)
    assert first.last_ingestion_ms == max(e.ingestion_ms for e in events)
    assert first.stored_bytes == sum(len(line) + 1 for line in _lines(store, STREAM_A))


def test_appends_past_the_pending_bound_are_written_without_a_flush(store: LogStore, tmp_path: Path) -> None:
    for n in range(logs_module._MAX_PENDING):
        store.append(GROUP, STREAM_A, [(n, "x")])
    (path,) = (tmp_path / "logs").rglob("*.log")
    store._handles[(GROUP, STREAM_A)][0].flush()  # only the handle's own buffer: no store.flush()
    assert path.read_bytes().count(b"\n") == logs_module._MAX_PENDING


def test_close_writes_what_was_appended(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs")
    store.append(GROUP, STREAM_A, [(1, "last words")])
    store.close()
    assert [e.message for e in LogStore(tmp_path / "logs").stream_events(GROUP, STREAM_A)] == ["last words"]


def _lines(store: LogStore, stream: str) -> list[bytes]:
    (path,) = [p for p in store.root.rglob("*.log") if stream.endswith(p.name[-len(".log") - 32 : -4])]
    return path.read_bytes().splitlines()


def test_a_prepared_stream_exists_empty_and_takes_appends(store: LogStore) -> None:
    store.prepare(GROUP, STREAM_A)
    assert [s.name for s in store.streams(GROUP)] == [STREAM_A]
    assert messages(store) == []
    store.append(GROUP, STREAM_A, [(1, "after")])
    assert messages(store) == ["after"]


def test_open_handles_are_bounded_and_evicted_streams_reopen(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs", max_open=2)
    for round_ in range(2):
        for n in range(5):
            store.append(GROUP, f"s{n}", [(round_ * 10 + n, f"{round_}-{n}")])
            assert len(store._handles) <= 2
    assert len(messages(store)) == 10
    store.close()


def test_restart_keeps_groups_streams_and_statistics(tmp_path: Path) -> None:
    first = LogStore(tmp_path / "logs")
    first.append(GROUP, STREAM_A, [(1000, "before"), (2000, "restart")])
    first.close()
    second = LogStore(tmp_path / "logs")
    (info,) = second.streams(GROUP)
    assert (info.first_event_ms, info.last_event_ms) == (1000, 2000)
    second.append(GROUP, STREAM_A, [(3000, "after")])
    (info,) = second.streams(GROUP)
    assert info.last_event_ms == 3000
    assert messages(second) == ["before", "restart", "after"]
    second.close()


def test_a_torn_last_line_is_skipped_and_fenced_off(tmp_path: Path) -> None:
    first = LogStore(tmp_path / "logs")
    first.append(GROUP, STREAM_A, [(1, "whole")])
    first.close()
    (path,) = (tmp_path / "logs").rglob("*.log")
    with open(path, "ab") as file:
        file.write(b'[2,2,"torn')  # a crash in the middle of a write
    second = LogStore(tmp_path / "logs")
    assert messages(second) == ["whole"]
    second.append(GROUP, STREAM_A, [(3, "next")])
    assert messages(second) == ["whole", "next"]
    second.close()


def test_streams_order_and_prefix(store: LogStore) -> None:
    store.append(GROUP, "b", [(100, "x")])
    store.append(GROUP, "a", [(300, "x")])
    store.append(GROUP, "c", [(200, "x")])
    assert [s.name for s in store.streams(GROUP)] == ["a", "b", "c"]
    assert [s.name for s in store.streams(GROUP, descending=True)] == ["c", "b", "a"]
    by_time = store.streams(GROUP, order_by="LastEventTime", descending=True)
    assert [s.name for s in by_time] == ["a", "c", "b"]
    assert [s.name for s in store.streams(GROUP, prefix="b")] == ["b"]


def test_missing_group_and_stream_raise_with_awss_words(store: LogStore) -> None:
    with pytest.raises(LogGroupNotFound) as group_err:
        store.streams("/aws/lambda/nope")
    assert str(group_err.value) == "The specified log group does not exist."
    assert isinstance(group_err.value, KeyError)
    store.append(GROUP, STREAM_A, [(1, "x")])
    with pytest.raises(LogStreamNotFound) as stream_err:
        store.stream_events(GROUP, "nope")
    assert str(stream_err.value) == "The specified log stream does not exist."


def test_events_filter_by_time_stream_and_pattern(store: LogStore) -> None:
    store.append(GROUP, STREAM_A, [(1000, "START RequestId: 1"), (2000, "ERROR boom"), (3000, "END")])
    store.append(GROUP, STREAM_B, [(1500, "ERROR other"), (2500, "fine")])
    assert messages(store, start_ms=1500, end_ms=3000) == ["ERROR other", "ERROR boom", "fine"]
    assert messages(store, pattern="ERROR") == ["ERROR other", "ERROR boom"]
    assert messages(store, streams=[STREAM_B]) == ["ERROR other", "fine"]
    assert messages(store, stream_prefix="2024/01/31/[$LATEST]a") == [
        "START RequestId: 1",
        "ERROR boom",
        "END",
    ]


def test_paging_with_a_cursor_loses_and_repeats_nothing(store: LogStore) -> None:
    # Same timestamps in two streams: the cursor must still be exact.
    store.append(GROUP, STREAM_A, [(t // 2, f"a{t}") for t in range(10)])
    store.append(GROUP, STREAM_B, [(t // 2, f"b{t}") for t in range(10)])
    seen, after = [], None
    while True:
        page = store.events(GROUP, limit=3, after=after)
        seen += [i.event.message for i in page.events]
        if page.next is None:
            break
        after = page.next
    assert sorted(seen) == sorted(messages(store)) and len(seen) == 20


def test_close_refuses_further_appends(store: LogStore) -> None:
    store.close()
    with pytest.raises(ValueError):
        store.append(GROUP, STREAM_A, [(1, "late")])


def test_an_unreadable_filter_pattern_is_refused_not_misread() -> None:
    with pytest.raises(ValueError):
        FilterPattern('{ $.level = "error"')


def test_a_warm_invocations_events_are_stored_as_any_others(tmp_path: Path) -> None:
    # WarmInvocationEvents encode themselves (SelfEncoding): same file, same statistics.
    policy = PlatformLog.for_function(
        FunctionConfig(
            name="f", runtime="python3.12", role="r", handler="a.h", code_sha256="0" * 64, code_size=1
        )
    )
    stores = [LogStore(tmp_path / "warm"), LogStore(tmp_path / "plain")]
    for output in ([], [(5, 'out "1"')]):
        events = policy.invocation(
            3,
            9,
            "rid",
            "$LATEST",
            output,
            bill(1.5),
            memory_size_mb=128,
            max_memory_used_mb=7,
            timeout_s=3,
            produced_bytes=2,
        )
        stores[0].append(GROUP, STREAM_A, events)
        stores[1].append(GROUP, STREAM_A, list(events))
    for store in stores:
        store.flush()
    warm, plain = (
        (store.root / encode_name(GROUP) / f"{encode_name(STREAM_A)}.log").read_bytes() for store in stores
    )
    assert warm == plain and warm.count(b"\n") == 7
    assert stores[0].streams(GROUP)[0].stored_bytes == len(warm)
    assert [
        (info.first_event_ms, info.last_event_ms, info.stored_bytes)
        for info in (store.streams(GROUP)[0] for store in stores)
    ] == [(3, 9, len(warm))] * 2
    for store in stores:
        store.close()
