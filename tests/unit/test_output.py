"""OutputSplitter: a runtime's output pipe turned into log events."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

from lambdalite.dataplane.output import OutputSplitter


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
