"""OutputSplitter: a runtime's output pipe turned into log events."""

from __future__ import annotations

import os

from lambdalite.dataplane.output import OutputSplitter


def _pipe() -> tuple[int, int]:
    read, write = os.pipe()
    os.set_blocking(read, False)
    return read, write


def test_lines_become_events_and_a_partial_line_waits_for_its_end() -> None:
    read, write = _pipe()
    try:
        splitter = OutputSplitter(read)
        os.write(write, b"one\ntw")
        events, eof = splitter.read_available()
        assert [text for _, text in events] == ["one"] and not eof
        os.write(write, b"o\n")
        events, _ = splitter.read_available(readable=True)
        assert [text for _, text in events] == ["two"]
    finally:
        os.close(read)
        os.close(write)


def test_an_empty_pipe_is_not_read_unless_the_loop_says_it_is_readable() -> None:
    read, write = _pipe()
    try:
        splitter = OutputSplitter(read)
        assert splitter.read_available() == ([], False)
        assert splitter.read_available(readable=True) == ([], False)  # EAGAIN: not EOF
    finally:
        os.close(read)
        os.close(write)


def test_eof_is_seen_only_when_the_loop_says_the_pipe_is_readable() -> None:
    read, write = _pipe()
    try:
        splitter = OutputSplitter(read)
        os.write(write, b"last words")
        os.close(write)
        # Asked first, an ended pipe looks empty once drained: EOF goes unnoticed.
        events, eof = splitter.read_available()
        assert events == [] and eof  # the data and the EOF in one read loop
        assert splitter.read_available() == ([], False)
        assert splitter.read_available(readable=True) == ([], True)
        assert [text for _, text in splitter.flush_partial()] == ["last words"]
    finally:
        os.close(read)
