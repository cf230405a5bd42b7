"""OutputSplitter: a runtime's output pipe turned into log events."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

from lambdalite.dataplane.output import RECORD_MARK, OutputSplitter


@pytest.fixture
def pipe() -> Iterator[tuple[OutputSplitter, int]]:
    """(a splitter on a non-blocking pipe's read end, the write end); the test may close the write end."""
    read, write = os.pipe()
    os.set_blocking(read, False)
    yield OutputSplitter(read), write
    os.close(read)
    with contextlib.suppress(OSError):  # the test ended the pipe itself
        os.close(write)


def test_lines_become_events_and_a_partial_line_waits_for_its_end(pipe) -> None:
    splitter, write = pipe
    os.write(write, b"one\ntw")
    events, eof = splitter.read_available()
    assert [text for _, text in events] == ["one"] and not eof
    os.write(write, b"o\n")
    events, _ = splitter.read_available(readable=True)
    assert [text for _, text in events] == ["two"]


def test_an_empty_pipe_is_not_read_unless_the_loop_says_it_is_readable(pipe) -> None:
    splitter, _ = pipe
    assert splitter.read_available() == ([], False)
    assert splitter.read_available(readable=True) == ([], False)  # EAGAIN: not EOF


def test_eof_is_seen_only_when_the_loop_says_the_pipe_is_readable(pipe) -> None:
    splitter, write = pipe
    os.write(write, b"last words")
    os.close(write)
    # The data and the EOF come in one read loop; asked first, an ended and
    # drained pipe looks empty: EOF goes unnoticed.
    events, eof = splitter.read_available()
    assert events == [] and eof
    assert splitter.read_available() == ([], False)
    assert splitter.read_available(readable=True) == ([], True)
    assert [text for _, text in splitter.flush_partial()] == ["last words"]


def record(text: str) -> bytes:
    """A framed log record as our bootstraps write it."""
    payload = text.encode()
    return RECORD_MARK + len(payload).to_bytes(4, "big") + payload


def test_a_framed_record_is_one_event_however_many_lines_it_holds(pipe) -> None:
    splitter, write = pipe
    traceback = '[ERROR] ValueError: boom\nTraceback (most recent call last):\n  File "/var/task/app.py"'
    os.write(write, b"printed\n" + record(traceback) + b"a\nb\n")
    events, _ = splitter.read_available()
    assert [text for _, text in events] == ["printed", traceback, "a", "b"]


def test_a_record_split_across_reads_waits_for_its_end(pipe) -> None:
    splitter, write = pipe
    framed = record("one\ntwo")
    for cut in range(1, len(framed)):  # the mark, the length and the text cut anywhere
        os.write(write, framed[:cut])
        first, _ = splitter.read_available()
        os.write(write, framed[cut:] + b"after\n")
        rest, _ = splitter.read_available()
        assert [text for _, text in first + rest] == ["one\ntwo", "after"], cut


def test_a_record_inside_an_unfinished_line_leaves_the_line_whole(pipe) -> None:
    splitter, write = pipe
    os.write(write, b"half a " + record("rec\nord") + b"line\n")
    events, _ = splitter.read_available()
    assert [text for _, text in events] == ["rec\nord", "half a line"]


def test_text_that_merely_resembles_a_mark_stays_text(pipe) -> None:
    splitter, write = pipe
    os.write(write, b"sep \x1e")
    first, _ = splitter.read_available()
    os.write(write, b"\x00L here\n")
    rest, _ = splitter.read_available()
    assert [text for _, text in first + rest] == ["sep \x1e\x00L here"]


def test_an_unfinished_record_at_the_end_of_the_pipe_is_shown_as_far_as_it_came(pipe) -> None:
    splitter, write = pipe
    os.write(write, b"partial" + record("cut short")[:-5])
    os.close(write)
    events, eof = splitter.read_available(readable=True)
    assert events == [] and eof
    assert [text for _, text in splitter.flush_partial()] == ["partial"]
    assert [text for _, text in splitter.flush_partial(final=True)] == ["cut "]
