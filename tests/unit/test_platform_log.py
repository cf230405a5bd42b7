"""PlatformLog: the platform's events in Text or JSON, and the level filters."""

from __future__ import annotations

import json

import orjson

from lambdalite.models import FunctionConfig
from lambdalite.observe.billing import bill
from lambdalite.observe.platform_log import PlatformLog, iso_ms, record_level
from lambdalite.observe.report import RuntimeVersion

VERSION = RuntimeVersion("python:3.12.v3", "arn:aws:lambda:eu-west-1::runtime:ab")


def function(**kw: object) -> FunctionConfig:
    return FunctionConfig(
        name="f",
        runtime="python3.12",
        role="r",
        handler="a.h",
        code_sha256="0" * 64,
        code_size=1,
        **kw,  # type: ignore[arg-type]
    )


def test_text_keeps_awss_lines_and_every_output_line() -> None:
    text = PlatformLog.for_function(function())
    assert text.start(1, "id", "$LATEST") == [(1, "START RequestId: id Version: $LATEST")]
    assert text.end(1, "id", bill(1.0), None, 0) == [(1, "END RequestId: id")]
    events = [(1, '{"level": "DEBUG"}'), (1, "plain")]
    assert text.application(events) is events


def test_json_platform_events_carry_awss_records() -> None:
    policy = PlatformLog.for_function(function(log_format="JSON"))
    ((_, start),) = policy.start(1_700_000_000_123, "id", "3")
    assert json.loads(start) == {
        "time": "2023-11-14T22:13:20.123Z",
        "type": "platform.start",
        "record": {"requestId": "id", "version": "3"},
    }
    ((_, report),) = policy.report(
        5,
        "id",
        bill(2.5),
        memory_size_mb=128,
        max_memory_used_mb=500,
        init_ms=10.0,
        status="error",
        error_type="E",
    )
    record = json.loads(report)["record"]
    assert record["metrics"] == {
        "durationMs": 2.5,
        "billedDurationMs": 3,
        "memorySizeMB": 128,
        "maxMemoryUsedMB": 128,
        "initDurationMs": 10.0,
    }
    assert (record["status"], record["errorType"]) == ("error", "E")
    ((_, init),) = policy.init_start(5, VERSION, function(), "on-demand")
    assert json.loads(init)["record"]["runtimeVersion"] == "python:3.12.v3"
    assert policy.timeout(5, "iso", "id", 3) == []


def test_system_level_hides_what_is_below_it() -> None:
    info = PlatformLog.for_function(function(log_format="JSON"))
    assert info.end(1, "id", bill(1.0), None, 2) == []  # runtimeDone is DEBUG
    debug = PlatformLog.for_function(function(log_format="JSON", system_log_level="DEBUG"))
    ((_, done),) = debug.end(1, "id", bill(1.0), None, 2)
    assert json.loads(done)["record"] == {
        "requestId": "id",
        "status": "success",
        "metrics": {"durationMs": 1.0, "producedBytes": 2},
    }
    warn = PlatformLog.for_function(function(log_format="JSON", system_log_level="WARN"))
    assert warn.start(1, "id", "1") == [] and warn.init_start(1, VERSION, function(), "on-demand") == []


def test_application_level_reads_json_levels_and_counts_the_rest_as_info() -> None:
    policy = PlatformLog.for_function(function(log_format="JSON", application_log_level="WARN"))
    events = [
        (1, '{"level": "WARNING", "message": "w"}'),
        (1, '{"level": "info"}'),
        (1, "plain"),
        (1, '{"level": "fatal"}'),
        (1, '{"no": "level"}'),
        (1, "{not json"),
    ]
    assert policy.application(events) == [events[0], events[3]]
    assert record_level("[1, 2]") == record_level("x") == record_level('{"level": 5}')


def test_iso_ms_is_utc_with_milliseconds() -> None:
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"


def warm_events(request_id: str = "id-1", output: list[tuple[int, str]] | None = None) -> object:
    policy = PlatformLog.for_function(function())
    return policy.invocation(
        1_700_000_000_100,
        1_700_000_000_105,
        request_id,
        "$LATEST",
        list(output or []),
        bill(0.2134),
        memory_size_mb=128,
        max_memory_used_mb=300,
        timeout_s=3,
        produced_bytes=12,
    )


def test_a_warm_invocations_events_are_awss_text_lines_around_its_output() -> None:
    output = [(1_700_000_000_102, "hello")]
    events = warm_events(output=output)
    assert len(events) == 4  # type: ignore[arg-type]
    assert list(events) == [  # type: ignore[call-overload]
        (1_700_000_000_100, "START RequestId: id-1 Version: $LATEST"),
        (1_700_000_000_102, "hello"),
        (1_700_000_000_105, "END RequestId: id-1"),
        (
            1_700_000_000_105,
            "REPORT RequestId: id-1\tDuration: 0.21 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\t"
            "Max Memory Used: 128 MB",
        ),
    ]


def test_a_warm_invocation_encodes_the_lines_orjson_would_write() -> None:
    # A request id and output that need escaping, and non-ASCII: byte for byte what the
    # log store writes for any other events ([timestamp, ingestion, message] per line).
    output = [(1_700_000_000_099, 'say "hi"\tnow\\ \u00e9\u2603'), (1_700_000_000_107, "\x01")]
    events = warm_events('a"b\\c\u00e9', output)
    encoded, low, high = events.json_lines(42)  # type: ignore[attr-defined]
    expected = b"".join(
        orjson.dumps([ts, 42, message], option=orjson.OPT_APPEND_NEWLINE)
        for ts, message in list(events)  # type: ignore[call-overload]
    )
    assert encoded == expected
    assert (low, high) == (1_700_000_000_099, 1_700_000_000_107)
